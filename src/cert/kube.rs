//! The Kubernetes side of a CSR: a `certificates.k8s.io/v1`
//! `CertificateSigningRequest` manifest, ready for `kubectl apply -f`.
//!
//! `spec.request` is the PEM CSR, base64-encoded once more (the API's byte
//! fields are base64 in YAML and JSON). Every scalar is written as a JSON
//! string, which YAML reads as a double-quoted scalar, so no value can break
//! the document; the name and signer are still checked against the API's
//! rules so `kubectl apply` does not refuse them.

use anyhow::{Result, bail};
use base64::Engine;

use super::keys::KeyType;
use super::profile::LeafRole;

/// The `usages` Kubernetes expects for this role and key, in its words.
pub fn kubernetes_usages(role: LeafRole, key: KeyType) -> Vec<&'static str> {
    let mut usages = vec!["digital signature"];
    if key.is_rsa() {
        usages.push("key encipherment");
    }
    usages.push(match role {
        LeafRole::Server => "server auth",
        LeafRole::Client => "client auth",
    });
    usages
}

/// The manifest for `csr_pem`, named `name`, for the signer `signer`.
pub fn kubernetes_csr(
    name: &str,
    signer: &str,
    csr_pem: &str,
    role: LeafRole,
    key: KeyType,
) -> Result<String> {
    check_object_name(name)?;
    check_signer_name(signer)?;
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let request = base64::engine::general_purpose::STANDARD.encode(csr_pem);
    let mut yaml = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {}\nspec:\n  request: {}\n  signerName: {}\n  usages:\n",
        quote(name),
        quote(&request),
        quote(signer),
    );
    for usage in kubernetes_usages(role, key) {
        yaml.push_str("    - ");
        yaml.push_str(&quote(usage));
        yaml.push('\n');
    }
    Ok(yaml)
}

/// An object name: a DNS subdomain (lower-case letters, digits, `-`, `.`;
/// alphanumeric at both ends; at most 253 characters).
pub fn check_object_name(name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty()
        || name.len() > 253
        || !name.chars().all(ok_char)
        || !ends_ok(name.chars().next())
        || !ends_ok(name.chars().last())
        || name.split('.').any(str::is_empty)
    {
        bail!(
            "{name:?} is not a Kubernetes object name (lower-case letters, digits, '-' and '.', at most 253, e.g. registry-server)"
        );
    }
    Ok(())
}

/// A signer name: `DOMAIN/PATH`, e.g. `example.com/registry` or
/// `kubernetes.io/kube-apiserver-client`.
pub fn check_signer_name(signer: &str) -> Result<()> {
    let bad = || {
        anyhow::anyhow!(
            "{signer:?} is not a signer name: give DOMAIN/NAME, e.g. example.com/registry-ca"
        )
    };
    let (domain, path) = signer.split_once('/').ok_or_else(bad)?;
    let path_ok = |c: char| c.is_ascii_alphanumeric() || "-_./".contains(c);
    if signer.len() > 571 || !domain.contains('.') || path.is_empty() || !path.chars().all(path_ok)
    {
        return Err(bad());
    }
    check_object_name(domain).map_err(|_| bad())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn usages_follow_role_and_key() {
        assert_eq!(
            kubernetes_usages(LeafRole::Server, KeyType::Rsa3072),
            ["digital signature", "key encipherment", "server auth"]
        );
        assert_eq!(
            kubernetes_usages(LeafRole::Client, KeyType::EcdsaP256),
            ["digital signature", "client auth"]
        );
    }

    #[test]
    fn names_and_signers_are_checked() {
        for good in ["reg", "registry-server", "a.b-c.d1"] {
            check_object_name(good).unwrap();
        }
        for bad in [
            "",
            "Reg",
            "-reg",
            "reg-",
            "a..b",
            "a_b",
            "reg\"x",
            &"a".repeat(254),
        ] {
            assert!(check_object_name(bad).is_err(), "{bad:?}");
        }
        for good in [
            "example.com/registry",
            "kubernetes.io/kube-apiserver-client",
        ] {
            check_signer_name(good).unwrap();
        }
        for bad in [
            "registry",
            "example/registry",
            "example.com/",
            "Example.com/x",
            "a.b/x y",
        ] {
            assert!(check_signer_name(bad).is_err(), "{bad:?}");
        }
        let err = kubernetes_csr(
            "Bad",
            "example.com/x",
            "",
            LeafRole::Server,
            KeyType::Ed25519,
        );
        assert!(err.is_err());
    }
}

//! Certificates for private registries, made so Go (and so containerd) accepts
//! them: the one module that knows X.509. rcgen in, PEM strings out; nothing
//! here touches the file system, so `plan`/`apply` can put the results into a
//! plan and `cert ...` can write them.
//!
//! - [`new_ca`]: a CA (CA:TRUE, pathlen 0) to sign registry and client certs.
//! - [`server_cert`]: a registry's server certificate, signed by a
//!   [`CaSigner`] or self-signed (then the certificate is its own `ca`).
//! - [`client_cert`]: a client certificate for mTLS.
//! - [`inspect_pem`], [`check_pair`]: reading back what is on disk.
//! - [`new_csr`], [`kubernetes_csr`]: a key and a CSR for a CA certsd does
//!   not hold; [`sign_csr`]: signing someone's CSR; [`inspect_csr`].

mod ca;
mod csr;
mod inspect;
mod keys;
mod kube;
mod names;
mod profile;
mod request;
mod sign;

use anyhow::{Result, anyhow, bail};
use rcgen::KeyPair;

pub use ca::CaSigner;
pub use csr::new_csr;
pub use inspect::{CertInfo, inspect_der, inspect_pem};
pub use keys::{KeyType, load_private_key, matches_public_key};
pub use kube::{check_object_name, check_signer_name, kubernetes_csr};
pub use names::San;
pub use profile::LeafRole;
pub use request::{CsrInfo, inspect_csr, is_pem_csr};
pub use sign::sign_csr;

/// Default validity of a CA, in days (about ten years).
pub const CA_DAYS: u32 = 3650;
/// Default validity of a server or client certificate, in days.
pub const LEAF_DAYS: u32 = 365;
/// The longest validity accepted, in days (about 100 years): anything longer
/// is a typo, and past 9999 the dates cannot be encoded.
pub const MAX_DAYS: u32 = 36500;

/// A certificate and its private key, both PEM. The key is PKCS#8.
#[derive(Clone)]
pub struct Issued {
    /// One `CERTIFICATE` block.
    pub cert_pem: String,
    /// One `PRIVATE KEY` block: write it with mode 0600, never print it.
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[elided]")
            .finish()
    }
}

/// Checks a validity period: 1 to [`MAX_DAYS`].
pub fn check_days(days: u32) -> Result<()> {
    if days == 0 || days > MAX_DAYS {
        bail!("a validity must be between 1 and {MAX_DAYS} days, not {days}");
    }
    Ok(())
}

/// Makes a new self-signed CA named `name` (its CN).
pub fn new_ca(name: &str, days: u32, key: KeyType) -> Result<Issued> {
    check_days(days)?;
    check_common_name(name)?;
    let key_pair = key.generate()?;
    let cert = profile::ca_params(name, days)?
        .self_signed(&key_pair)
        .map_err(|err| anyhow!("signing the CA certificate: {err}"))?;
    Ok(issued(&cert, &key_pair))
}

/// Makes a server certificate for `sans` (at least one), signed by `signer`,
/// or self-signed when `signer` is `None`. The CN is the first SAN (Go ignores it).
pub fn server_cert(
    signer: Option<&CaSigner>,
    sans: &[San],
    days: u32,
    key: KeyType,
) -> Result<Issued> {
    check_days(days)?;
    let Some(first) = sans.first() else {
        bail!("a server certificate needs at least one DNS name or IP address");
    };
    leaf(
        LeafRole::Server,
        signer,
        &server_cn(first, sans),
        sans,
        days,
        key,
    )
}

/// The CN of a server certificate: the first SAN that fits the 64-character
/// bound. Go ignores it; people reading `openssl x509 -text` do not.
fn server_cn(first: &San, sans: &[San]) -> String {
    let text = |san: &San| match san {
        San::Dns(name) => name.clone(),
        San::Ip(ip) => ip.to_string(),
    };
    sans.iter()
        .map(text)
        .find(|t| t.len() <= 64)
        .unwrap_or_else(|| text(first).chars().take(64).collect())
}

/// Makes a client certificate with common name `cn`, signed by `signer`.
pub fn client_cert(signer: &CaSigner, cn: &str, days: u32, key: KeyType) -> Result<Issued> {
    check_days(days)?;
    check_common_name(cn)?;
    leaf(LeafRole::Client, Some(signer), cn, &[], days, key)
}

/// Checks that `key_pem` is the private key of the first certificate in `cert_pem`.
pub fn check_pair(cert_pem: &str, key_pem: &str) -> Result<()> {
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
        .map_err(|err| anyhow!("no PEM certificate found ({err})"))?;
    let der: rustls_pki_types::CertificateDer<'_> = der;
    let (_, x509) = x509_parser::parse_x509_certificate(&der)
        .map_err(|err| anyhow!("not a valid X.509 certificate ({err})"))?;
    let key = keys::load_private_key(key_pem)?;
    if !keys::matches_public_key(&key, &x509.public_key().subject_public_key.data) {
        bail!("the private key does not match the certificate");
    }
    Ok(())
}

fn leaf(
    role: LeafRole,
    signer: Option<&CaSigner>,
    cn: &str,
    sans: &[San],
    days: u32,
    key: KeyType,
) -> Result<Issued> {
    let key_pair = key.generate()?;
    let mut params = profile::leaf_params(role, cn, sans, days, key.is_rsa())?;
    if let Some(ca) = signer {
        clip_to_ca(&mut params, ca);
    }
    let result = match signer {
        Some(ca) => params.signed_by(&key_pair, &ca.issuer),
        None => params.self_signed(&key_pair),
    };
    let cert = result.map_err(|err| anyhow!("signing the certificate: {err}"))?;
    if let Some(ca) = signer {
        check_issuer_name(&cert, &ca.subject_der)?;
    }
    Ok(issued(&cert, &key_pair))
}

/// A leaf signed by `ca` ends no later than `ca` itself: past that its chain
/// no longer verifies, so a later date would only mislead.
fn clip_to_ca(params: &mut rcgen::CertificateParams, ca: &CaSigner) {
    params.not_after = params.not_after.min(ca.not_after);
}

/// Go finds a leaf's CA by comparing names byte for byte: refuse to hand out
/// a leaf whose issuer name differs from the CA's subject as encoded.
fn check_issuer_name(cert: &rcgen::Certificate, ca_subject: &[u8]) -> Result<()> {
    let (_, x509) = x509_parser::parse_x509_certificate(cert.der())
        .map_err(|err| anyhow!("re-reading the issued certificate: {err}"))?;
    if x509.issuer().as_raw() != ca_subject {
        bail!(
            "the CA's subject name uses an encoding certsd cannot reproduce exactly; issue with openssl instead"
        );
    }
    Ok(())
}

/// Checks a CA or client name (CN): not blank, at most 64 characters
/// (the X.509 upper bound), no control characters.
pub fn check_common_name(cn: &str) -> Result<()> {
    if cn.trim().is_empty() {
        bail!("the name (CN) must not be empty");
    }
    if cn.len() > 64 {
        bail!("the name (CN) {cn:?} is longer than 64 characters");
    }
    if cn.chars().any(char::is_control) {
        bail!("the name (CN) {cn:?} contains control characters");
    }
    Ok(())
}

fn issued(cert: &rcgen::Certificate, key: &KeyPair) -> Issued {
    Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn days_are_bounded() {
        assert!(check_days(0).is_err());
        assert!(check_days(MAX_DAYS + 1).is_err());
        assert!(check_days(1).is_ok() && check_days(MAX_DAYS).is_ok());
        assert!(new_ca("x", 0, KeyType::EcdsaP256).is_err());
    }

    #[test]
    fn issued_certificates_read_back() {
        let ca = new_ca("Test CA", 30, KeyType::EcdsaP384).unwrap();
        check_pair(&ca.cert_pem, &ca.key_pem).unwrap();
        assert!(!ca.cert_pem.contains("PRIVATE KEY"));
        let info = &inspect_pem(&ca.cert_pem).unwrap()[0];
        assert!(info.is_ca && info.self_signed);
        assert_eq!(
            (info.path_len, info.key_type.as_str()),
            (Some(0), "ecdsa-p384")
        );
        assert_eq!(info.signature_algorithm, "ecdsa-with-SHA384");
        assert!((29..=30).contains(&info.days_left()));

        let signer =
            CaSigner::from_pem(&ca.cert_pem, &ca.key_pem, std::path::Path::new("mem")).unwrap();
        let sans = [
            San::dns("*.reg.example").unwrap(),
            San::ip("10.0.0.7").unwrap(),
        ];
        let leaf = server_cert(Some(&signer), &sans, 10, KeyType::Ed25519).unwrap();
        let info = &inspect_pem(&leaf.cert_pem).unwrap()[0];
        assert_eq!(info.issuer, "CN=Test CA");
        assert_eq!(info.extended_key_usage, vec!["serverAuth"]);
        assert!(info.covers(&[
            San::dns("a.reg.example").unwrap(),
            San::ip("10.0.0.7").unwrap()
        ]));
        assert!(!info.covers(&[San::dns("reg.example").unwrap()]));
        assert!(check_pair(&leaf.cert_pem, &ca.key_pem).is_err());
    }

    #[test]
    fn server_cn_is_the_first_san_that_fits() {
        let long = San::dns(&format!("{}.example.com", "a".repeat(60))).unwrap();
        let short = San::ip("10.0.0.1").unwrap();
        assert_eq!(server_cn(&long, &[long.clone(), short.clone()]), "10.0.0.1");
        assert_eq!(server_cn(&long, std::slice::from_ref(&long)).len(), 64);
    }

    #[test]
    fn server_needs_a_name_and_client_a_cn() {
        assert!(server_cert(None, &[], 1, KeyType::EcdsaP256).is_err());
        let ca = new_ca("CA", 1, KeyType::EcdsaP256).unwrap();
        let signer =
            CaSigner::from_pem(&ca.cert_pem, &ca.key_pem, std::path::Path::new("m")).unwrap();
        assert!(client_cert(&signer, " ", 1, KeyType::EcdsaP256).is_err());
        assert!(new_ca(&"x".repeat(65), 1, KeyType::EcdsaP256).is_err());
    }
}

//! Making a key and a certificate signing request (PKCS#10) for a registry
//! server or an mTLS client, for a CA certsd does not hold (a company CA, a
//! Kubernetes signer). The request asks for what certsd's own profile gives a
//! leaf ([`profile::request_params`]): the SANs, digitalSignature (plus
//! keyEncipherment for RSA) and the EKU Go checks.

use anyhow::{Result, anyhow, bail};

use super::keys::KeyType;
use super::names::San;
use super::profile::{self, LeafRole};

/// A new private key and the CSR for it, both PEM.
#[derive(Clone)]
pub struct NewCsr {
    /// One `CERTIFICATE REQUEST` block.
    pub csr_pem: String,
    /// One PKCS#8 `PRIVATE KEY` block: write it with mode 0600, never print it.
    pub key_pem: String,
}

impl std::fmt::Debug for NewCsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCsr")
            .field("csr_pem", &self.csr_pem)
            .field("key_pem", &"[elided]")
            .finish()
    }
}

/// Makes a key of type `key` and a CSR for `role`. A server request needs at
/// least one SAN and takes its CN from `name` or the first SAN; a client
/// request needs `name`, and SANs are optional.
pub fn new_csr(role: LeafRole, name: Option<&str>, sans: &[San], key: KeyType) -> Result<NewCsr> {
    let cn = request_cn(role, name, sans)?;
    let key_pair = key.generate()?;
    let csr = profile::request_params(role, &cn, sans, key.is_rsa())?
        .serialize_request(&key_pair)
        .map_err(|err| anyhow!("making the certificate signing request: {err}"))?;
    let csr_pem = csr
        .pem()
        .map_err(|err| anyhow!("encoding the certificate signing request: {err}"))?;
    Ok(NewCsr {
        csr_pem,
        key_pem: key_pair.serialize_pem(),
    })
}

fn request_cn(role: LeafRole, name: Option<&str>, sans: &[San]) -> Result<String> {
    if role == LeafRole::Server && sans.is_empty() {
        bail!("a server CSR needs at least one DNS name or IP address (Go matches SANs only)");
    }
    match (name, sans.first()) {
        (Some(name), _) => {
            super::check_common_name(name)?;
            Ok(name.to_string())
        }
        (None, Some(first)) if role == LeafRole::Server => Ok(super::server_cn(first, sans)),
        (None, _) => bail!("a client CSR needs a name (CN)"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::cert::inspect_csr;

    #[test]
    fn server_requests_carry_sans_usages_and_a_cn() {
        let sans = [San::dns("reg.test").unwrap(), San::ip("10.0.0.1").unwrap()];
        let csr = new_csr(LeafRole::Server, None, &sans, KeyType::Rsa2048).unwrap();
        assert!(!csr.csr_pem.contains("PRIVATE") && format!("{csr:?}").contains("[elided]"));
        let info = inspect_csr(csr.csr_pem.as_bytes()).unwrap();
        assert_eq!(info.common_name.as_deref(), Some("reg.test"));
        assert_eq!((info.dns_names.len(), info.ip_addresses.len()), (1, 1));
        assert_eq!(info.key_usage, ["digitalSignature", "keyEncipherment"]);
        assert_eq!(info.extended_key_usage, ["serverAuth"]);
        assert!(info.signature_valid && !info.requests_ca);
        assert!(info.other_extensions.is_empty(), "{info:?}");
    }

    #[test]
    fn client_requests_need_a_name_and_servers_a_san() {
        assert!(new_csr(LeafRole::Client, None, &[], KeyType::Ed25519).is_err());
        assert!(new_csr(LeafRole::Server, Some("reg"), &[], KeyType::Ed25519).is_err());
        assert!(new_csr(LeafRole::Client, Some(" "), &[], KeyType::Ed25519).is_err());
        let csr = new_csr(LeafRole::Client, Some("node-1"), &[], KeyType::Ed25519).unwrap();
        let info = inspect_csr(csr.csr_pem.as_bytes()).unwrap();
        assert_eq!(info.subject, "CN=node-1");
        assert_eq!(info.extended_key_usage, ["clientAuth"]);
        assert_eq!(info.key_usage, ["digitalSignature"]);
    }
}

//! Signing someone else's CSR with a CA certsd holds ([`sign_csr`]).
//!
//! The CSR supplies only its public key, its SANs and its CN; everything
//! else comes from certsd's leaf profile (CA:FALSE, key usage, the EKU of the
//! role, a random serial, a validity clipped to the CA's own). What the CSR
//! asks for beyond that (codeSigning, other subject attributes, email SANs,
//! other extensions) is not copied, and [`Signed::not_copied`] says so.

use anyhow::{Result, anyhow, bail};

use super::ca::CaSigner;
use super::names::San;
use super::profile::{self, LeafRole};
use super::request::{CsrInfo, Request};

/// A certificate issued from a CSR, and what was and was not taken from it.
#[derive(Debug, Clone)]
pub struct Signed {
    /// One `CERTIFICATE` block.
    pub cert_pem: String,
    /// What the CSR held.
    pub request: CsrInfo,
    /// What the CSR asked for that the certificate does not carry.
    pub not_copied: Vec<String>,
}

/// Checks and signs the CSR in `csr` (PEM or DER) as a `role` leaf valid for
/// `days` (at most until the CA expires).
pub fn sign_csr(signer: &CaSigner, csr: &[u8], role: LeafRole, days: u32) -> Result<Signed> {
    super::check_days(days)?;
    let request = Request::parse(csr)?;
    let key = request.check_signable()?;
    check_role(&request.info, role)?;
    let sans = request_sans(&request.info)?;
    if role == LeafRole::Server && sans.is_empty() {
        bail!(
            "it has no DNS or IP subjectAltName, and Go ignores the CN: make the CSR with SANs (openssl req ... -addext subjectAltName=DNS:NAME)"
        );
    }
    let cn = subject_cn(&request.info, role, &sans)?;
    let rsa = request.info.key_type == "rsa";
    let mut params = profile::leaf_params(role, &cn, &sans, days, rsa)?;
    super::clip_to_ca(&mut params, signer);
    let cert = params
        .signed_by(&key, &signer.issuer)
        .map_err(|err| anyhow!("signing the certificate: {err}"))?;
    super::check_issuer_name(&cert, &signer.subject_der)?;
    check_same_key(&cert, &request.spki_der)?;
    Ok(Signed {
        cert_pem: cert.pem(),
        not_copied: not_copied(&request.info, role, &cn),
        request: request.info,
    })
}

/// A CSR that asks only for the other TLS role was most likely meant for it.
fn check_role(info: &CsrInfo, role: LeafRole) -> Result<()> {
    let asks = |eku: &str| info.extended_key_usage.iter().any(|e| e == eku);
    match role {
        LeafRole::Server if asks("clientAuth") && !asks("serverAuth") => {
            bail!("it asks for a client certificate (EKU clientAuth): sign it with --client")
        }
        LeafRole::Client if asks("serverAuth") && !asks("clientAuth") => {
            bail!("it asks for a server certificate (EKU serverAuth): sign it without --client")
        }
        _ => Ok(()),
    }
}

fn request_sans(info: &CsrInfo) -> Result<Vec<San>> {
    let mut sans = Vec::new();
    for name in &info.dns_names {
        let san = San::dns(name).map_err(|err| anyhow!("its subjectAltName: {err}"))?;
        sans.push(san);
    }
    sans.extend(info.ip_addresses.iter().copied().map(San::Ip));
    Ok(sans)
}

/// The CSR's CN, or for a server without one the first SAN (as `cert server` does).
fn subject_cn(info: &CsrInfo, role: LeafRole, sans: &[San]) -> Result<String> {
    match (&info.common_name, sans.first()) {
        (Some(cn), _) => {
            super::check_common_name(cn).map_err(|err| anyhow!("its subject: {err}"))?;
            Ok(cn.clone())
        }
        (None, Some(first)) if role == LeafRole::Server => Ok(super::server_cn(first, sans)),
        (None, _) => bail!("it has no common name (CN): a client certificate is known by it"),
    }
}

/// The certificate must certify exactly the key the CSR holds.
fn check_same_key(cert: &rcgen::Certificate, spki_der: &[u8]) -> Result<()> {
    let (_, x509) = x509_parser::parse_x509_certificate(cert.der())
        .map_err(|err| anyhow!("re-reading the issued certificate: {err}"))?;
    if x509.public_key().raw != spki_der {
        bail!(
            "the issued certificate would not carry the CSR's public key exactly; sign it with openssl instead"
        );
    }
    Ok(())
}

fn not_copied(info: &CsrInfo, role: LeafRole, cn: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !info.subject.is_empty() && info.subject != format!("CN={cn}") {
        out.push(format!(
            "subject {} (the certificate's is CN={cn})",
            info.subject
        ));
    }
    let profile_ku = ["digitalSignature", "keyEncipherment"];
    for ku in info
        .key_usage
        .iter()
        .filter(|ku| !profile_ku.contains(&ku.as_str()))
    {
        out.push(format!("keyUsage {ku}"));
    }
    let role_eku = match role {
        LeafRole::Server => "serverAuth",
        LeafRole::Client => "clientAuth",
    };
    for eku in info.extended_key_usage.iter().filter(|e| *e != role_eku) {
        out.push(format!("extendedKeyUsage {eku}"));
    }
    out.extend(info.other_extensions.iter().cloned());
    out
}

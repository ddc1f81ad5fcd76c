//! The certificate profiles: which fields and extensions a CA, a server leaf
//! and a client leaf get, as rcgen `CertificateParams`.
//!
//! rcgen's own defaults are not usable as they are (validity 1975–4096, a
//! serial derived from the public key), so every field that matters is set
//! here: a random 127-bit serial, not-before five minutes in the past (clock
//! skew between the machine that issues and the node that verifies), and the
//! extensions Go's verifier looks at.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::names::San;

/// How far back not-before is set, to absorb clock skew.
const BACKDATE: Duration = Duration::minutes(5);

/// What a leaf certificate is for: decides its extended key usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafRole {
    /// A registry's TLS server certificate (EKU serverAuth).
    Server,
    /// A client certificate for mTLS (EKU clientAuth).
    Client,
}

/// A CA: CA:TRUE with pathlen 0 (it signs leaves only), keyCertSign + cRLSign,
/// a subject key identifier.
pub fn ca_params(common_name: &str, days: u32) -> Result<CertificateParams> {
    let mut params = base_params(common_name, days)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

/// A leaf: CA:FALSE, digitalSignature (+ keyEncipherment for RSA keys, which
/// TLS 1.2 RSA key exchange needs), the role's EKU, SANs, subject and
/// authority key identifiers.
pub fn leaf_params(
    role: LeafRole,
    common_name: &str,
    sans: &[San],
    days: u32,
    rsa_key: bool,
) -> Result<CertificateParams> {
    let mut params = base_params(common_name, days)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if rsa_key {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = vec![match role {
        LeafRole::Server => ExtendedKeyUsagePurpose::ServerAuth,
        LeafRole::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    params.use_authority_key_identifier_extension = true;
    params.subject_alt_names = sans.iter().map(san_type).collect::<Result<_>>()?;
    Ok(params)
}

/// What a CSR asks for: the leaf profile without what only its issuer sets
/// (serial, validity, authority key identifier), so a certificate signed from
/// it carries the same usages and names as one certsd issues directly.
pub fn request_params(
    role: LeafRole,
    common_name: &str,
    sans: &[San],
    rsa_key: bool,
) -> Result<CertificateParams> {
    let mut params = leaf_params(role, common_name, sans, 1, rsa_key)?;
    params.serial_number = None;
    params.use_authority_key_identifier_extension = false;
    Ok(params)
}

/// Subject, validity and serial, common to every profile.
fn base_params(common_name: &str, days: u32) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(i64::from(days));
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

/// 16 random bytes with the top bit cleared (so the DER INTEGER stays
/// positive and at most 16 bytes) and never zero.
pub fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
    bytes[0] &= 0x7f;
    if bytes.iter().all(|b| *b == 0) {
        bytes[15] = 1;
    }
    Ok(SerialNumber::from_slice(&bytes))
}

fn san_type(san: &San) -> Result<SanType> {
    Ok(match san {
        San::Ip(ip) => SanType::IpAddress(*ip),
        San::Dns(name) => SanType::DnsName(
            name.clone()
                .try_into()
                .with_context(|| format!("{name:?} cannot be encoded as a DNS name"))?,
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn serials_are_random_positive_and_nonzero() {
        let a = random_serial().unwrap().to_bytes();
        let b = random_serial().unwrap().to_bytes();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a[0] < 0x80);
        assert!(a.iter().any(|x| *x != 0));
    }

    #[test]
    fn validity_is_backdated_and_sized() {
        let p = ca_params("x", 10).unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(p.not_before < now - Duration::minutes(4));
        assert!(p.not_before > now - Duration::minutes(6));
        let span = p.not_after - p.not_before;
        assert_eq!(span.whole_minutes(), 10 * 24 * 60 + 5);
    }

    #[test]
    fn leaf_profiles_differ_by_role_and_key() {
        let sans = [San::dns("reg.local").unwrap(), San::ip("10.1.2.3").unwrap()];
        let server = leaf_params(LeafRole::Server, "reg.local", &sans, 1, true).unwrap();
        assert_eq!(
            server.extended_key_usages,
            vec![ExtendedKeyUsagePurpose::ServerAuth]
        );
        assert!(
            server
                .key_usages
                .contains(&KeyUsagePurpose::KeyEncipherment)
        );
        assert_eq!(server.subject_alt_names.len(), 2);
        assert_eq!(server.is_ca, IsCa::ExplicitNoCa);
        let client = leaf_params(LeafRole::Client, "node-1", &[], 1, false).unwrap();
        assert_eq!(
            client.extended_key_usages,
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        );
        assert_eq!(client.key_usages, vec![KeyUsagePurpose::DigitalSignature]);
    }
}

//! Reading certificates back: every PEM certificate in a file parsed with
//! x509-parser into a [`CertInfo`] that `cert inspect` prints (text or JSON)
//! and that renew-before decisions use ([`CertInfo::days_left`],
//! [`CertInfo::covers`]).

use std::net::IpAddr;

use anyhow::{Context, Result, anyhow, bail};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{ExtendedKeyUsage, GeneralName, KeyUsage};
use x509_parser::oid_registry::{self as oids, Oid};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::names::San;

/// What `cert inspect` reports about one certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    /// The subject DN, RFC 4514 style (`CN=registry.local`).
    pub subject: String,
    /// The issuer DN.
    pub issuer: String,
    /// DNS subject alternative names, as written.
    pub dns_names: Vec<String>,
    /// IP address subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// `ecdsa-p256`, `ecdsa-p384`, `rsa`, `ed25519`, or the algorithm's name.
    pub key_type: String,
    /// Key size in bits (256 for Ed25519).
    pub key_bits: usize,
    /// The signature algorithm (`ecdsa-with-SHA256`, `sha256WithRSAEncryption`, ...).
    pub signature_algorithm: String,
    /// The serial number in lower-case hex.
    pub serial: String,
    /// Validity start, RFC 3339 UTC.
    pub not_before: String,
    /// Validity end, RFC 3339 UTC.
    pub not_after: String,
    /// Whole days until not-after, rounded down (negative once expired).
    pub days_left: i64,
    /// basicConstraints CA:TRUE.
    pub is_ca: bool,
    /// The pathlen constraint of a CA, when set.
    pub path_len: Option<u32>,
    /// Subject and issuer are the same name (a root CA or a self-signed leaf).
    pub self_signed: bool,
    /// keyUsage bits by their RFC 5280 names.
    pub key_usage: Vec<String>,
    /// extendedKeyUsage purposes (`serverAuth`, `clientAuth`, or OIDs).
    pub extended_key_usage: Vec<String>,
    /// SHA-256 of the DER certificate, colon-separated upper-case hex (as openssl prints it).
    pub sha256_fingerprint: String,
    #[serde(skip)]
    not_after_time: OffsetDateTime,
}

impl CertInfo {
    /// Whole days from `now` until not-after, rounded down: negative as soon
    /// as it has expired (an hour past not-after is -1, not 0).
    pub fn days_left_at(&self, now: OffsetDateTime) -> i64 {
        floor_days(self.not_after_time - now)
    }

    /// Whole days from now until not-after.
    pub fn days_left(&self) -> i64 {
        self.days_left_at(OffsetDateTime::now_utc())
    }

    /// Whether every wanted name is matched by one of the certificate's SANs,
    /// with Go's rules (wildcards cover one label; the CN does not count).
    pub fn covers(&self, wanted: &[San]) -> bool {
        let have: Vec<San> = self
            .dns_names
            .iter()
            .map(|d| San::Dns(d.to_ascii_lowercase()))
            .chain(self.ip_addresses.iter().map(|ip| San::Ip(*ip)))
            .collect();
        wanted.iter().all(|w| have.iter().any(|h| h.matches(w)))
    }
}

/// Parses every `CERTIFICATE` block in `pem`; an input with none is an error.
pub fn inspect_pem(pem: &str) -> Result<Vec<CertInfo>> {
    let mut infos = Vec::new();
    for (i, der) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        let der = der.map_err(|err| anyhow!("certificate {}: bad PEM ({err})", i + 1))?;
        infos.push(inspect_der(&der).with_context(|| format!("certificate {}", i + 1))?);
    }
    if infos.is_empty() {
        bail!("no PEM certificate found");
    }
    Ok(infos)
}

/// Parses one DER certificate.
pub fn inspect_der(der: &[u8]) -> Result<CertInfo> {
    let (_, x509) = x509_parser::parse_x509_certificate(der)
        .map_err(|err| anyhow!("not a valid X.509 certificate ({err})"))?;
    let (dns_names, ip_addresses) = sans(&x509)?;
    let (key_type, key_bits) = key_type(&x509);
    let constraints = x509
        .basic_constraints()
        .ok()
        .flatten()
        .map(|bc| bc.value.clone());
    let not_after_time = x509.validity().not_after.to_datetime();
    Ok(CertInfo {
        subject: x509.subject().to_string(),
        issuer: x509.issuer().to_string(),
        dns_names,
        ip_addresses,
        key_type,
        key_bits,
        signature_algorithm: oid_name(&x509.signature_algorithm.algorithm),
        serial: hex(x509.raw_serial(), ""),
        not_before: rfc3339(x509.validity().not_before.to_datetime()),
        not_after: rfc3339(not_after_time),
        days_left: floor_days(not_after_time - OffsetDateTime::now_utc()),
        is_ca: constraints.as_ref().is_some_and(|bc| bc.ca),
        path_len: constraints.and_then(|bc| bc.path_len_constraint),
        self_signed: x509.subject().as_raw() == x509.issuer().as_raw(),
        key_usage: key_usage(&x509),
        extended_key_usage: extended_key_usage(&x509),
        sha256_fingerprint: hex(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref(),
            ":",
        )
        .to_ascii_uppercase(),
        not_after_time,
    })
}

fn sans(x509: &X509Certificate<'_>) -> Result<(Vec<String>, Vec<IpAddr>)> {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    let ext = x509
        .subject_alternative_name()
        .map_err(|err| anyhow!("bad subjectAltName extension ({err})"))?;
    for name in ext.iter().flat_map(|e| e.value.general_names.iter()) {
        match name {
            GeneralName::DNSName(d) => dns.push((*d).to_string()),
            GeneralName::IPAddress(bytes) => ips.push(ip_from_bytes(bytes)?),
            _ => {}
        }
    }
    Ok((dns, ips))
}

pub(crate) fn ip_from_bytes(bytes: &[u8]) -> Result<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Ok(IpAddr::from(v4));
    }
    if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        return Ok(IpAddr::from(v6));
    }
    bail!("an IP address SAN has {} bytes", bytes.len())
}

fn key_type(x509: &X509Certificate<'_>) -> (String, usize) {
    spki_key_type(x509.public_key())
}

/// The key type name and size of a public key (shared with CSR reading).
pub(crate) fn spki_key_type(spki: &SubjectPublicKeyInfo<'_>) -> (String, usize) {
    let alg = &spki.algorithm.algorithm;
    let bits = spki.parsed().map_or(0, |k| k.key_size());
    if *alg == oids::OID_PKCS1_RSAENCRYPTION {
        return ("rsa".into(), bits);
    }
    if *alg == oids::OID_SIG_ED25519 {
        return ("ed25519".into(), 256);
    }
    if *alg == oids::OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == oids::OID_EC_P256 => ("ecdsa-p256".into(), 256),
            Some(c) if c == oids::OID_NIST_EC_P384 => ("ecdsa-p384".into(), 384),
            Some(c) if c == oids::OID_NIST_EC_P521 => ("ecdsa-p521".into(), 521),
            // secp256k1 (Bitcoin's curve): not in the registry, and Go refuses it.
            Some(c) if c.to_id_string() == "1.3.132.0.10" => ("ecdsa-secp256k1".into(), 256),
            Some(c) => (format!("ecdsa-{}", oid_name(&c)), bits),
            None => ("ecdsa".into(), bits),
        };
    }
    (oid_name(alg), bits)
}

fn key_usage(x509: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ku)) = x509.key_usage() else {
        return Vec::new();
    };
    key_usage_names(*ku.value)
}

/// keyUsage bits by their RFC 5280 names.
pub(crate) fn key_usage_names(ku: KeyUsage) -> Vec<String> {
    let bits = [
        (ku.digital_signature(), "digitalSignature"),
        (ku.non_repudiation(), "nonRepudiation"),
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
        (ku.encipher_only(), "encipherOnly"),
        (ku.decipher_only(), "decipherOnly"),
    ];
    bits.iter()
        .filter(|(set, _)| *set)
        .map(|(_, n)| (*n).to_string())
        .collect()
}

fn extended_key_usage(x509: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(eku)) = x509.extended_key_usage() else {
        return Vec::new();
    };
    eku_names(eku.value)
}

/// extendedKeyUsage purposes by name (`serverAuth`), unknown ones as OIDs.
pub(crate) fn eku_names(eku: &ExtendedKeyUsage<'_>) -> Vec<String> {
    let known = [
        (eku.any, "anyExtendedKeyUsage"),
        (eku.server_auth, "serverAuth"),
        (eku.client_auth, "clientAuth"),
        (eku.code_signing, "codeSigning"),
        (eku.email_protection, "emailProtection"),
        (eku.time_stamping, "timeStamping"),
        (eku.ocsp_signing, "OCSPSigning"),
    ];
    let mut out: Vec<String> = known
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, n)| (*n).to_string())
        .collect();
    out.extend(eku.other.iter().map(ToString::to_string));
    out
}

fn oid_name(oid: &Oid<'_>) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map_or_else(|_| oid.to_id_string(), ToString::to_string)
}

fn floor_days(span: time::Duration) -> i64 {
    span.whole_seconds().div_euclid(86_400)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn hex(bytes: &[u8], sep: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use rcgen::{CertificateParams, KeyPair, SanType};
    use time::Duration;

    use super::*;

    fn cert(sans: Vec<SanType>, until: OffsetDateTime) -> String {
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        params.not_before = until - Duration::days(10);
        params.not_after = until;
        params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .pem()
    }

    #[test]
    fn expired_certificates_have_negative_days_left() {
        let now = OffsetDateTime::now_utc();
        let info =
            &inspect_pem(&cert(vec![], now - Duration::days(3) - Duration::hours(1))).unwrap()[0];
        assert_eq!(info.days_left, -4);
        assert_eq!(info.days_left_at(now + Duration::days(1)), -5);
        assert_eq!(
            info.days_left_at(now - Duration::days(3)),
            -1,
            "an hour past expiry"
        );
        assert_eq!(
            info.days_left_at(now - Duration::days(4)),
            0,
            "23 hours left"
        );
        assert!(!info.is_ca && info.key_usage.is_empty() && info.extended_key_usage.is_empty());
    }

    #[test]
    fn covers_needs_every_name_and_ignores_the_cn() {
        let sans = vec![
            SanType::DnsName("Reg.Test".try_into().unwrap()),
            SanType::IpAddress("10.0.0.1".parse().unwrap()),
        ];
        let info =
            &inspect_pem(&cert(sans, OffsetDateTime::now_utc() + Duration::days(5))).unwrap()[0];
        assert_eq!(info.subject, "CN=rcgen self signed cert");
        assert!(info.covers(&[San::dns("reg.test").unwrap(), San::ip("10.0.0.1").unwrap()]));
        assert!(!info.covers(&[San::dns("reg.test").unwrap(), San::ip("10.0.0.2").unwrap()]));
        assert!(!info.covers(&[San::dns("rcgen.test").unwrap()]));
        assert!(info.covers(&[]));
    }

    #[test]
    fn several_certificates_in_one_file_and_none() {
        let until = OffsetDateTime::now_utc() + Duration::days(5);
        let two = cert(vec![], until) + &cert(vec![], until);
        assert_eq!(inspect_pem(&two).unwrap().len(), 2);
        let err = inspect_pem("no pem here").unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
        let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = format!("{:#}", inspect_pem(bad).unwrap_err());
        assert!(
            err.contains("certificate 1") && err.contains("not a valid X.509"),
            "{err}"
        );
    }
}

//! Reading a certificate signing request (PKCS#10), PEM or DER, into a
//! [`CsrInfo`] that `cert inspect` prints and `cert sign` judges, and into the
//! crate-internal [`Request`] that `sign` issues from.
//!
//! Reading never fails on what a CSR asks for: a bad signature, an
//! unsupported key or a CA request is reported in [`CsrInfo`], and
//! [`Request::check_signable`] is where `sign` turns those into errors.

use std::net::IpAddr;

use anyhow::{Result, anyhow, bail};
use rcgen::{PublicKeyData, SignatureAlgorithm};
use rustls_pki_types::CertificateSigningRequestDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension, X509Extension};
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// What `cert inspect` reports about a CSR, and what `cert sign` signed.
#[derive(Debug, Clone, Serialize)]
pub struct CsrInfo {
    /// The subject DN, RFC 4514 style (`CN=registry.local`).
    pub subject: String,
    /// The subject's first common name, if any.
    pub common_name: Option<String>,
    /// DNS subject alternative names asked for.
    pub dns_names: Vec<String>,
    /// IP address subject alternative names asked for.
    pub ip_addresses: Vec<IpAddr>,
    /// `ecdsa-p256`, `ecdsa-p384`, `rsa`, `ed25519`, or the algorithm's name.
    pub key_type: String,
    /// Key size in bits (256 for Ed25519).
    pub key_bits: usize,
    /// The algorithm the request is signed with.
    pub signature_algorithm: String,
    /// Whether the request's signature verifies with its own public key.
    pub signature_valid: bool,
    /// basicConstraints CA:TRUE is asked for.
    pub requests_ca: bool,
    /// keyUsage bits asked for.
    pub key_usage: Vec<String>,
    /// extendedKeyUsage purposes asked for.
    pub extended_key_usage: Vec<String>,
    /// Other requested extensions, and SAN kinds other than DNS and IP, by name.
    pub other_extensions: Vec<String>,
}

/// A parsed CSR: what it says, and the public key to certify.
pub(crate) struct Request {
    pub info: CsrInfo,
    /// The subjectPublicKey BIT STRING contents.
    key_bits: Vec<u8>,
    /// The whole `SubjectPublicKeyInfo`, DER, to check the issued certificate against.
    pub spki_der: Vec<u8>,
    /// The key's rcgen algorithm, `None` when certsd does not support the key.
    alg: Option<&'static SignatureAlgorithm>,
}

/// Reads a CSR in PEM (`CERTIFICATE REQUEST`) or DER form.
pub fn inspect_csr(bytes: &[u8]) -> Result<CsrInfo> {
    Ok(Request::parse(bytes)?.info)
}

/// Whether `bytes` look like a PEM CSR, so `inspect` knows which reader to use.
pub fn is_pem_csr(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.contains("-----BEGIN CERTIFICATE REQUEST-----")
        || text.contains("-----BEGIN NEW CERTIFICATE REQUEST-----")
}

impl Request {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Request> {
        let der = csr_der(bytes)?;
        let (rest, csr) = X509CertificationRequest::from_der(&der)
            .map_err(|err| anyhow!("not a valid certificate signing request ({err})"))?;
        if !rest.is_empty() {
            bail!(
                "not a valid certificate signing request ({} bytes after its end)",
                rest.len()
            );
        }
        let spki = &csr.certification_request_info.subject_pki;
        let (key_type, key_bits) = key_type(spki);
        let mut info = empty_info(&csr, key_type, key_bits);
        for ext in requested(&csr) {
            add_extension(&mut info, ext)?;
        }
        Ok(Request {
            info,
            key_bits: spki.subject_public_key.data.to_vec(),
            spki_der: spki.raw.to_vec(),
            alg: supported_alg(spki),
        })
    }

    /// What makes certsd refuse to sign: an unsupported key, a signature
    /// that fails, a request for a CA. Each message says what to do. Gives
    /// the key to certify.
    pub(crate) fn check_signable(&self) -> Result<SubjectKey<'_>> {
        let info = &self.info;
        let Some(alg) = self.alg else {
            bail!(
                "its key is {} ({} bits), which certsd does not sign: make the CSR with an ECDSA P-256 or P-384, RSA 2048 to 8192 bit, or Ed25519 key",
                info.key_type,
                info.key_bits
            );
        };
        if !info.signature_valid {
            bail!(
                "its signature does not verify: the file was changed after it was made, or it is damaged; make a new CSR"
            );
        }
        if info.requests_ca {
            bail!(
                "it asks for a CA certificate (basicConstraints CA:TRUE); certsd signs leaves only"
            );
        }
        Ok(SubjectKey {
            bits: &self.key_bits,
            alg,
        })
    }
}

/// The public key of a CSR that passed [`Request::check_signable`].
pub(crate) struct SubjectKey<'a> {
    bits: &'a [u8],
    alg: &'static SignatureAlgorithm,
}

impl PublicKeyData for SubjectKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.bits
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

/// The DER of the first CSR in PEM text, or `bytes` themselves when they are not PEM.
fn csr_der(bytes: &[u8]) -> Result<Vec<u8>> {
    if !String::from_utf8_lossy(bytes).contains("-----BEGIN") {
        return Ok(bytes.to_vec());
    }
    let text =
        String::from_utf8_lossy(bytes).replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST");
    CertificateSigningRequestDer::from_pem_slice(text.as_bytes())
        .map(|der| der.as_ref().to_vec())
        .map_err(|_| {
            anyhow!("no PEM CERTIFICATE REQUEST block found (is it a certificate or a key?)")
        })
}

/// The extensions of the request's extensionRequest attribute.
fn requested<'a>(csr: &'a X509CertificationRequest<'a>) -> Vec<&'a X509Extension<'a>> {
    csr.certification_request_info
        .iter_attributes()
        .filter_map(|attr| match attr.parsed_attribute() {
            ParsedCriAttribute::ExtensionRequest(req) => Some(&req.extensions),
            _ => None,
        })
        .flatten()
        .collect()
}

fn empty_info(csr: &X509CertificationRequest<'_>, key_type: String, key_bits: usize) -> CsrInfo {
    let subject = &csr.certification_request_info.subject;
    CsrInfo {
        subject: subject.to_string(),
        common_name: subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string),
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        key_type,
        key_bits,
        signature_algorithm: oid_name(&csr.signature_algorithm.algorithm),
        signature_valid: csr.verify_signature().is_ok(),
        requests_ca: false,
        key_usage: Vec::new(),
        extended_key_usage: Vec::new(),
        other_extensions: Vec::new(),
    }
}

fn add_extension(info: &mut CsrInfo, ext: &X509Extension<'_>) -> Result<()> {
    match ext.parsed_extension() {
        ParsedExtension::SubjectAlternativeName(san) => {
            for name in &san.general_names {
                add_name(info, name)?;
            }
        }
        ParsedExtension::BasicConstraints(bc) => info.requests_ca |= bc.ca,
        ParsedExtension::KeyUsage(ku) => info.key_usage = super::inspect::key_usage_names(*ku),
        ParsedExtension::ExtendedKeyUsage(eku) => {
            info.extended_key_usage = super::inspect::eku_names(eku);
        }
        ParsedExtension::ParseError { error } => {
            bail!(
                "its requested extension {} is malformed ({error})",
                oid_name(&ext.oid)
            );
        }
        _ => info.other_extensions.push(oid_name(&ext.oid)),
    }
    Ok(())
}

fn add_name(info: &mut CsrInfo, name: &GeneralName<'_>) -> Result<()> {
    match name {
        GeneralName::DNSName(d) => info.dns_names.push((*d).to_string()),
        GeneralName::IPAddress(bytes) => info
            .ip_addresses
            .push(super::inspect::ip_from_bytes(bytes)?),
        other => info
            .other_extensions
            .push(format!("subjectAltName {other}")),
    }
    Ok(())
}

/// The rcgen algorithm that encodes this public key in a certificate, for
/// the keys Go and certsd support; `None` for any other.
fn supported_alg(spki: &SubjectPublicKeyInfo<'_>) -> Option<&'static SignatureAlgorithm> {
    let (key_type, bits) = key_type(spki);
    match key_type.as_str() {
        "rsa" if (2048..=8192).contains(&bits) => Some(&rcgen::PKCS_RSA_SHA256),
        "ecdsa-p256" => Some(&rcgen::PKCS_ECDSA_P256_SHA256),
        "ecdsa-p384" => Some(&rcgen::PKCS_ECDSA_P384_SHA384),
        "ed25519" => Some(&rcgen::PKCS_ED25519),
        _ => None,
    }
}

fn key_type(spki: &SubjectPublicKeyInfo<'_>) -> (String, usize) {
    super::inspect::spki_key_type(spki)
}

fn oid_name(oid: &Oid<'_>) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map_or_else(|_| oid.to_id_string(), ToString::to_string)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::cert::{KeyType, LeafRole, San, new_csr};

    fn der() -> Vec<u8> {
        let sans = [San::dns("reg.test").unwrap()];
        let csr = new_csr(LeafRole::Server, None, &sans, KeyType::EcdsaP256).unwrap();
        csr_der(csr.csr_pem.as_bytes()).unwrap()
    }

    #[test]
    fn truncated_and_bit_flipped_csrs_are_refused_without_panic() {
        let der = der();
        Request::parse(&der).unwrap().check_signable().unwrap();
        for len in 0..der.len() {
            assert!(
                Request::parse(&der[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
        // Every bit of the signed part counts; a flip outside it (in the
        // encoding of the signature algorithm, say) may be read leniently.
        let (_, parsed) = X509CertificationRequest::from_der(&der).unwrap();
        let info = parsed.certification_request_info.raw;
        let start = der.windows(info.len()).position(|w| w == info).unwrap();
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0x01;
            let signable = Request::parse(&bad).and_then(|r| r.check_signable().map(|_| ()));
            let signed_part = (start..start + info.len()).contains(&i);
            assert!(
                signable.is_err() || !signed_part,
                "bit flipped at byte {i} still signable"
            );
        }
    }

    #[test]
    fn legacy_pem_der_and_garbage() {
        let sans = [San::ip("10.0.0.1").unwrap()];
        let csr = new_csr(LeafRole::Server, None, &sans, KeyType::Ed25519).unwrap();
        let legacy = csr
            .csr_pem
            .replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
        assert!(is_pem_csr(legacy.as_bytes()));
        let info = inspect_csr(legacy.as_bytes()).unwrap();
        assert_eq!(
            (info.key_type.as_str(), info.signature_valid),
            ("ed25519", true)
        );
        let der = der();
        assert!(Request::parse(b"").is_err());
        let err = Request::parse(b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("no PEM CERTIFICATE REQUEST"),
            "{err}"
        );
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(Request::parse(&trailing).is_err());
    }
}

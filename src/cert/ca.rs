//! An existing CA loaded for signing ([`CaSigner`]), checked before it signs
//! anything: it must be a CA, be valid now, and its key must match its
//! certificate.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use rcgen::{Issuer, KeyPair};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use super::keys;

/// A CA certificate and its private key, ready to sign leaves.
pub struct CaSigner {
    pub(crate) issuer: Issuer<'static, KeyPair>,
    /// The CA's subject, DER, to check that issued leaves name it exactly.
    pub(crate) subject_der: Vec<u8>,
    /// The CA's own expiry: no leaf it signs outlives it.
    pub(crate) not_after: OffsetDateTime,
}

impl std::fmt::Debug for CaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaSigner")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl CaSigner {
    /// Loads the first certificate of `cert_pem` and the private key in
    /// `key_pem` (PKCS#8, SEC1 or PKCS#1). `origin` (the CA directory or file)
    /// only names the source in error messages.
    pub fn from_pem(cert_pem: &str, key_pem: &str, origin: &Path) -> Result<CaSigner> {
        let at = origin.display();
        let der = first_certificate(cert_pem).with_context(|| format!("CA certificate in {at}"))?;
        let (_, x509) = x509_parser::parse_x509_certificate(&der).map_err(|err| {
            anyhow!("CA certificate in {at}: not a valid X.509 certificate ({err})")
        })?;
        check_is_ca(&x509).with_context(|| format!("CA certificate in {at}"))?;
        check_valid_now(&x509, OffsetDateTime::now_utc())
            .with_context(|| format!("CA certificate in {at}"))?;
        check_single_valued_names(&x509).with_context(|| format!("CA certificate in {at}"))?;
        let key = keys::load_private_key(key_pem).with_context(|| format!("CA key in {at}"))?;
        if !keys::matches_public_key(&key, &x509.public_key().subject_public_key.data) {
            bail!(
                "CA in {at}: the key does not match the certificate (ca.key is not the private key of ca.crt)"
            );
        }
        let subject_der = x509.subject().as_raw().to_vec();
        let not_after = x509.validity().not_after.to_datetime();
        let issuer = Issuer::from_ca_cert_der(&der, key)
            .map_err(|err| anyhow!("CA certificate in {at}: cannot be used for signing ({err})"))?;
        Ok(CaSigner {
            issuer,
            subject_der,
            not_after,
        })
    }
}

fn first_certificate(pem: &str) -> Result<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| anyhow!("no PEM certificate found"))?
        .map_err(|err| anyhow!("bad PEM ({err})"))
}

fn check_is_ca(x509: &X509Certificate<'_>) -> Result<()> {
    let bc = x509
        .basic_constraints()
        .map_err(|err| anyhow!("bad basicConstraints ({err})"))?;
    if !bc.is_some_and(|bc| bc.value.ca) {
        bail!("not a CA certificate (basicConstraints CA:TRUE is missing)");
    }
    if let Ok(Some(ku)) = x509.key_usage()
        && !ku.value.key_cert_sign()
    {
        bail!("not a CA certificate (keyUsage lacks keyCertSign)");
    }
    Ok(())
}

fn check_valid_now(x509: &X509Certificate<'_>, now: OffsetDateTime) -> Result<()> {
    let validity = x509.validity();
    let (from, until) = (
        validity.not_before.to_datetime(),
        validity.not_after.to_datetime(),
    );
    if now > until {
        bail!("expired on {until}");
    }
    if now < from {
        bail!("not valid before {from}");
    }
    Ok(())
}

/// rcgen re-encodes the CA's subject as the leaves' issuer; names with
/// multi-valued or empty RDNs cannot be rebuilt, so they are refused here
/// (a mismatching issuer name would break chain building in Go).
fn check_single_valued_names(x509: &X509Certificate<'_>) -> Result<()> {
    let subject = x509.subject();
    if subject.iter().any(|rdn| rdn.iter().count() != 1) {
        bail!(
            "its subject has a multi-valued or empty RDN, which certsd cannot reproduce as an issuer name"
        );
    }
    let mut seen = Vec::new();
    for attr in subject.iter_attributes() {
        let oid = attr.attr_type().to_id_string();
        if seen.contains(&oid) {
            bail!(
                "its subject repeats the attribute {oid}, which certsd cannot reproduce as an issuer name"
            );
        }
        seen.push(oid);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use std::path::Path;
    use std::process::Command;

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    use time::{Duration, OffsetDateTime};

    use super::*;

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// An openssl CA whose key is in the given key file (any of the 3 forms).
    fn openssl_ca(dir: &Path, keygen: &[&str]) -> (String, String) {
        openssl(dir, keygen);
        let ext = [
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ];
        let mut req = vec![
            "req",
            "-x509",
            "-new",
            "-key",
            "k.pem",
            "-out",
            "c.pem",
            "-days",
            "2",
            "-subj",
            "/O=Test Org/CN=Test CA",
        ];
        req.extend(ext);
        openssl(dir, &req);
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        (read("c.pem"), read("k.pem"))
    }

    #[test]
    fn loads_openssl_cas_with_keys_in_all_three_forms() {
        let keygens: [&[&str]; 3] = [
            &["genrsa", "-traditional", "-out", "k.pem", "2048"],
            &[
                "ecparam",
                "-genkey",
                "-name",
                "prime256v1",
                "-noout",
                "-out",
                "k.pem",
            ],
            &["genpkey", "-algorithm", "ed25519", "-out", "k.pem"],
        ];
        for keygen in keygens {
            let dir = tempfile::tempdir().unwrap();
            let (crt, key) = openssl_ca(dir.path(), keygen);
            let signer = CaSigner::from_pem(&crt, &key, dir.path()).unwrap();
            let sans = [crate::cert::San::dns("reg.local").unwrap()];
            let leaf =
                crate::cert::server_cert(Some(&signer), &sans, 1, crate::cert::KeyType::EcdsaP256)
                    .unwrap();
            std::fs::write(dir.path().join("leaf.pem"), leaf.cert_pem).unwrap();
            openssl(dir.path(), &["verify", "-CAfile", "c.pem", "leaf.pem"]);
        }
    }

    #[test]
    fn refuses_a_key_that_is_not_the_cas() {
        let dir = tempfile::tempdir().unwrap();
        let (crt, _) = openssl_ca(
            dir.path(),
            &["genrsa", "-traditional", "-out", "k.pem", "2048"],
        );
        let other = KeyPair::generate().unwrap().serialize_pem();
        let err = format!(
            "{:#}",
            CaSigner::from_pem(&crt, &other, dir.path()).unwrap_err()
        );
        assert!(err.contains("does not match"), "{err}");
    }

    fn rcgen_cert(is_ca: IsCa, from: OffsetDateTime, until: OffsetDateTime) -> (String, String) {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "x");
        params.is_ca = is_ca;
        params.not_before = from;
        params.not_after = until;
        let key = KeyPair::generate().unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn refuses_leaves_expired_and_future_cas() {
        let now = OffsetDateTime::now_utc();
        let ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cases = [
            (
                rcgen_cert(
                    IsCa::ExplicitNoCa,
                    now - Duration::days(1),
                    now + Duration::days(1),
                ),
                "not a CA",
            ),
            (
                rcgen_cert(IsCa::NoCa, now - Duration::days(1), now + Duration::days(1)),
                "not a CA",
            ),
            (
                rcgen_cert(ca, now - Duration::days(3), now - Duration::days(1)),
                "expired on",
            ),
            (
                rcgen_cert(ca, now + Duration::days(1), now + Duration::days(3)),
                "not valid before",
            ),
        ];
        for ((crt, key), why) in cases {
            let err = format!(
                "{:#}",
                CaSigner::from_pem(&crt, &key, Path::new("cadir")).unwrap_err()
            );
            assert!(err.contains(why) && err.contains("cadir"), "{why}: {err}");
        }
    }

    #[test]
    fn refuses_missing_pem_blocks() {
        let err = format!(
            "{:#}",
            CaSigner::from_pem("", "", Path::new("d")).unwrap_err()
        );
        assert!(err.contains("no PEM certificate"), "{err}");
        let (crt, _) = rcgen_cert(
            IsCa::Ca(BasicConstraints::Unconstrained),
            OffsetDateTime::now_utc() - Duration::days(1),
            OffsetDateTime::now_utc() + Duration::days(1),
        );
        let err = format!(
            "{:#}",
            CaSigner::from_pem(&crt, "nothing", Path::new("d")).unwrap_err()
        );
        assert!(err.contains("no PEM private key"), "{err}");
    }
}

//! Unit tests for the PEM checks, on certificates made with rcgen.

use super::*;

fn self_signed() -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["r.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn p(name: &str) -> &Path {
    Path::new(name)
}

#[test]
fn a_certificate_file_is_accepted() {
    let (cert, _) = self_signed();
    assert!(check_ca(p("ca.crt"), cert.as_bytes()).unwrap().is_empty());
}

#[test]
fn a_key_inside_the_ca_file_is_refused_and_explained() {
    let (cert, key) = self_signed();
    let bundle = format!("{cert}{key}");
    let err = check_ca(p("domain.pem"), bundle.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("domain.pem") && err.contains("PRIVATE KEY") && err.contains("impersonate"),
        "{err}"
    );
}

#[test]
fn non_pem_and_certificate_less_files_are_refused() {
    let err = check_ca(p("x"), b"hello").unwrap_err().to_string();
    assert!(err.contains("not a PEM file"), "{err}");
    let pubkey = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    let err = check_ca(p("x"), pubkey.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("no certificate"), "{err}");
    let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(check_ca(p("x"), junk.as_bytes()).is_err());
}

#[test]
fn client_pair_must_match() {
    let (cert, key) = self_signed();
    assert!(check_client_pair(p("c.crt"), cert.as_bytes(), p("c.key"), key.as_bytes()).is_ok());
    let (_, other) = self_signed();
    let err = check_client_pair(p("c.crt"), cert.as_bytes(), p("o.key"), other.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("do not match"), "{err}");
}

#[test]
fn encrypted_and_missing_keys_are_refused() {
    let (cert, _) = self_signed();
    let enc = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let err = check_client_pair(p("c.crt"), cert.as_bytes(), p("k"), enc.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("encrypted"), "{err}");
    let err = check_client_pair(p("c.crt"), cert.as_bytes(), p("k"), cert.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("exactly one PRIVATE KEY"), "{err}");
}

mod envelope {
    use base64::Engine as _;
    use proptest::prelude::*;

    use super::super::{Depth, ca_problems_read};
    use super::*;

    /// The DER of each certificate in testdata/pki (a CA, a client
    /// certificate, the domain bundle's).
    fn ders() -> Vec<Vec<u8>> {
        ["ca.crt", "client.crt", "domain.pem"]
            .iter()
            .flat_map(|name| {
                let bytes = std::fs::read(format!("testdata/pki/{name}")).unwrap();
                x509_parser::pem::Pem::iter_from_buffer(&bytes)
                    .map(Result::unwrap)
                    .filter(|b| b.label == "CERTIFICATE")
                    .map(|b| b.contents)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn pem_of(der: &[u8]) -> String {
        let text = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = text
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    /// A certificate with DER bytes replaced: most land inside the
    /// extensions (a third to half of a certificate), the rest anywhere.
    fn damaged() -> impl Strategy<Value = Vec<u8>> {
        let ders = ders();
        let count = ders.len();
        (
            0..count,
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        )
            .prop_map(move |(which, edits)| {
                let mut der = ders[which].clone();
                for (at, byte) in edits {
                    let i = at.index(der.len());
                    der[i] = byte;
                }
                der
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

        /// Leaving a CA's extensions unparsed changes no verdict and no
        /// message: damage inside an extension fails neither way.
        #[test]
        fn a_ca_checked_without_its_extensions_gets_the_same_verdict(der in damaged()) {
            let pem = pem_of(&der);
            let file = p("ca.crt");
            prop_assert_eq!(
                ca_problems_read(file, pem.as_bytes(), Depth::Envelope),
                ca_problems_read(file, pem.as_bytes(), Depth::Extensions)
            );
        }
    }

    #[test]
    fn damage_inside_an_extension_leaves_the_ca_readable_both_ways() {
        // The sample must reach the case the property is about.
        let der = ders().remove(0);
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let ext = cert
            .extensions()
            .first()
            .expect("the test CA has extensions");
        let start = ext.value.as_ptr() as usize - der.as_ptr() as usize;
        let mut broken = der.clone();
        broken[start] ^= 0xff;
        let pem = pem_of(&broken);
        let deep = ca_problems_read(p("ca.crt"), pem.as_bytes(), Depth::Extensions);
        assert!(deep.iter().all(|p| !p.fatal), "{deep:?}");
        assert_eq!(
            deep,
            ca_problems_read(p("ca.crt"), pem.as_bytes(), Depth::Envelope)
        );
        let (_, reread) = x509_parser::parse_x509_certificate(&broken).unwrap();
        assert!(
            reread.extensions().iter().any(|e| matches!(
                e.parsed_extension(),
                x509_parser::extensions::ParsedExtension::ParseError { .. }
                    | x509_parser::extensions::ParsedExtension::UnsupportedExtension { .. }
            )) || reread.extensions()[0].value != ext.value
        );
    }
}

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

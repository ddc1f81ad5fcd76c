//! `certsd cert ...` end to end: the built binary writes files in a temp dir,
//! and openssl (an independent implementation) judges them. `tls` runs real
//! handshakes with rustls/webpki, whose rules are Go's (SANs only, EKU).

mod bad_input;
mod csr;
mod csr_bad;
mod tls;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use crate::support::{certsd_in_dir as certsd, openssl, openssl_ok};

/// Runs certsd in `dir` and insists it succeeds; returns stdout.
pub fn certsd_ok(dir: &Path, args: &[&str]) -> String {
    crate::support::ok(&certsd(dir, args), &format!("certsd {args:?}"))
}

/// A CA, a server cert (two DNS names, two IPs) and a client cert, all of `key_type`.
pub fn issue_all(dir: &Path, key_type: &str) {
    certsd_ok(
        dir,
        &[
            "cert",
            "ca",
            "--out",
            "ca",
            "--name",
            "Test CA",
            "--key-type",
            key_type,
        ],
    );
    let server = [
        "cert",
        "server",
        "--out",
        "srv",
        "--ca-dir",
        "ca",
        "--key-type",
        key_type,
        "--dns",
        "reg.test",
        "--dns",
        "*.wild.test",
        "--ip",
        "127.0.0.1",
        "--ip",
        "::1",
    ];
    certsd_ok(dir, &server);
    let client = [
        "cert",
        "client",
        "--out",
        "cli",
        "--ca-dir",
        "ca",
        "--name",
        "node-1",
        "--key-type",
        key_type,
    ];
    certsd_ok(dir, &client);
}

fn mode(path: &Path) -> u32 {
    crate::support::mode(path) & 0o777
}

/// Seconds since the epoch of an openssl date line value (`Nov 23 15:51:37 2026 GMT`).
fn epoch(date: &str) -> i64 {
    let out = Command::new("date")
        .args(["-u", "-d", date, "+%s"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// notBefore is in the past (by about five minutes) and notAfter is `days` ahead.
fn check_dates(dir: &Path, cert: &str, days: i64) {
    let text = openssl_ok(dir, &["x509", "-in", cert, "-noout", "-dates"]);
    let field = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        epoch(&line[name.len() + 1..])
    };
    let (from, until, now) = (field("notBefore"), field("notAfter"), now());
    assert!(
        from < now - 200 && from > now - 400,
        "{cert}: notBefore {from}, now {now}"
    );
    let expected = now + days * 86_400;
    assert!(
        (until - expected).abs() < 120,
        "{cert}: notAfter {until}, expected about {expected}"
    );
}

fn signature_name(key_type: &str) -> &'static str {
    match key_type {
        "ecdsa-p384" => "ecdsa-with-SHA384",
        "ed25519" => "ED25519",
        t if t.starts_with("rsa") => "sha256WithRSAEncryption",
        _ => "ecdsa-with-SHA256",
    }
}

/// The public key of a cert and of a key file, as openssl prints them.
fn same_public_key(dir: &Path, cert: &str, key: &str) -> bool {
    let from_cert = openssl_ok(dir, &["x509", "-in", cert, "-noout", "-pubkey"]);
    let from_key = openssl_ok(dir, &["pkey", "-in", key, "-pubout"]);
    from_cert == from_key
}

fn check_ca(dir: &Path, key_type: &str) {
    let text = openssl_ok(dir, &["x509", "-in", "ca/ca.crt", "-noout", "-text"]);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    assert!(text.contains("Subject Key Identifier"), "{text}");
    assert!(
        text.contains(&format!(
            "Signature Algorithm: {}",
            signature_name(key_type)
        )),
        "{text}"
    );
    let pem = std::fs::read_to_string(dir.join("ca/ca.crt")).unwrap();
    assert!(
        !pem.contains("PRIVATE KEY"),
        "the CA file holds only the certificate"
    );
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 1);
    check_dates(dir, "ca/ca.crt", 3650);
}

fn check_leaf(dir: &Path, key_type: &str, cert: &str, purpose: &str, eku: &str) {
    let verify = openssl_ok(
        dir,
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-CAfile",
            "ca/ca.crt",
            cert,
        ],
    );
    assert!(verify.contains(": OK"), "{verify}");
    let text = openssl_ok(dir, &["x509", "-in", cert, "-noout", "-text"]);
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains(eku), "{text}");
    assert!(text.contains("Authority Key Identifier"), "{text}");
    let usage = if key_type.starts_with("rsa") {
        "Digital Signature, Key Encipherment"
    } else {
        "Digital Signature\n"
    };
    assert!(text.contains(usage), "{key_type}: {text}");
    assert!(
        text.contains(&format!(
            "Signature Algorithm: {}",
            signature_name(key_type)
        )),
        "{text}"
    );
    check_dates(dir, cert, 365);
}

fn check_everything(key_type: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue_all(dir, key_type);
    check_ca(dir, key_type);
    check_leaf(
        dir,
        key_type,
        "srv/server.crt",
        "sslserver",
        "TLS Web Server Authentication",
    );
    check_leaf(
        dir,
        key_type,
        "cli/client.crt",
        "sslclient",
        "TLS Web Client Authentication",
    );
    let text = openssl_ok(
        dir,
        &[
            "x509",
            "-in",
            "srv/server.crt",
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    for san in [
        "DNS:reg.test",
        "DNS:*.wild.test",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
    ] {
        assert!(text.contains(san), "{san} missing: {text}");
    }
    // A server certificate is not a client certificate, and the reverse: EKU is enforced.
    assert!(
        !openssl(
            dir,
            &[
                "verify",
                "-purpose",
                "sslclient",
                "-CAfile",
                "ca/ca.crt",
                "srv/server.crt"
            ]
        )
        .0
    );
    assert!(
        !openssl(
            dir,
            &[
                "verify",
                "-purpose",
                "sslserver",
                "-CAfile",
                "ca/ca.crt",
                "cli/client.crt"
            ]
        )
        .0
    );
    for (crt, key) in [
        ("ca/ca.crt", "ca/ca.key"),
        ("srv/server.crt", "srv/server.key"),
        ("cli/client.crt", "cli/client.key"),
    ] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
        assert_eq!(mode(&dir.join(crt)), 0o644, "{crt}");
        assert!(
            same_public_key(dir, crt, key),
            "{key} is not the key of {crt}"
        );
    }
    tls::handshakes(dir, key_type);
}

#[test]
fn ecdsa_p256_everything() {
    check_everything("ecdsa-p256");
}

#[test]
fn ecdsa_p384_everything() {
    check_everything("ecdsa-p384");
}

#[test]
fn rsa_2048_everything() {
    check_everything("rsa-2048");
}

#[test]
fn rsa_3072_everything() {
    check_everything("rsa-3072");
}

#[test]
fn rsa_4096_everything() {
    check_everything("rsa-4096");
}

#[test]
fn ed25519_everything() {
    check_everything("ed25519");
}

#[test]
fn default_key_type_is_p256_and_serials_differ() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certsd_ok(dir, &["cert", "ca", "--out", "a"]);
    certsd_ok(dir, &["cert", "ca", "--out", "b"]);
    let text = openssl_ok(dir, &["x509", "-in", "a/ca.crt", "-noout", "-text"]);
    assert!(
        text.contains("ASN1 OID: prime256v1") && text.contains("CN = certsd CA"),
        "{text}"
    );
    let serial = |f: &str| openssl_ok(dir, &["x509", "-in", f, "-noout", "-serial"]);
    assert_ne!(serial("a/ca.crt"), serial("b/ca.crt"));
}

#[test]
fn self_signed_server_is_its_own_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let args = [
        "cert",
        "server",
        "--self-signed",
        "--out",
        "ss",
        "--dns",
        "reg.test",
        "--ip",
        "127.0.0.1",
        "--days",
        "30",
    ];
    certsd_ok(dir, &args);
    let verify = openssl_ok(
        dir,
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            "ss/server.crt",
            "ss/server.crt",
        ],
    );
    assert!(verify.contains(": OK"), "{verify}");
    let text = openssl_ok(dir, &["x509", "-in", "ss/server.crt", "-noout", "-text"]);
    assert!(
        text.contains("CA:FALSE") && text.contains("DNS:reg.test"),
        "{text}"
    );
    check_dates(dir, "ss/server.crt", 30);
    assert_eq!(mode(&dir.join("ss/server.key")), 0o600);
    tls::self_signed_handshake(dir);
}

#[test]
fn stderr_names_the_files_and_never_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = certsd(tmp.path(), &["cert", "ca", "--out", "ca"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && out.stdout.is_empty());
    assert!(
        stderr.contains("ca/ca.crt") && stderr.contains("ca/ca.key"),
        "{stderr}"
    );
    // Another test's cert command may hold the lock for a while (the
    // crash sweeps do): the waiting line is not about these files.
    let lines = stderr
        .lines()
        .filter(|l| !l.starts_with("certsd: waiting for"));
    assert_eq!(lines.count(), 2, "{stderr}");
    assert!(!stderr.contains("PRIVATE"), "{stderr}");
}

#[test]
fn json_output_names_files_and_the_certificate_not_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "cert",
        "server",
        "--self-signed",
        "--out",
        "s",
        "--ip",
        "10.9.8.7",
        "--output",
        "json",
    ];
    let json = certsd_ok(tmp.path(), &args);
    assert!(!json.contains("PRIVATE"), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["files"][0]["path"], "s/server.crt");
    assert_eq!(v["files"][1]["mode"], "0600");
    assert_eq!(
        v["certificate"]["ip_addresses"],
        serde_json::json!(["10.9.8.7"])
    );
    assert_eq!(v["certificate"]["subject"], "CN=10.9.8.7");
}

#[test]
fn force_replaces_existing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certsd_ok(dir, &["cert", "ca", "--out", "ca"]);
    let before = std::fs::read_to_string(dir.join("ca/ca.crt")).unwrap();
    certsd_ok(
        dir,
        &[
            "cert",
            "ca",
            "--out",
            "ca",
            "--force",
            "--key-type",
            "ed25519",
        ],
    );
    let after = std::fs::read_to_string(dir.join("ca/ca.crt")).unwrap();
    assert_ne!(before, after);
    assert_eq!(mode(&dir.join("ca/ca.key")), 0o600);
    let leftovers: Vec<PathBuf> = std::fs::read_dir(dir.join("ca"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with(".certsd-history"))
        .collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
    // The replaced key is kept for `rollback --dir`, 0600 like the key.
    assert_eq!(mode(&dir.join("ca/.certsd-history/000002/1-ca.key")), 0o600);
}

#[test]
fn inspect_reports_what_openssl_sees() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue_all(dir, "ecdsa-p256");
    let json = certsd_ok(
        dir,
        &[
            "cert",
            "inspect",
            "--output",
            "json",
            "ca/ca.crt",
            "srv/server.crt",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let ca = &v["files"][0]["certificates"][0];
    let srv = &v["files"][1]["certificates"][0];
    assert_eq!(
        (ca["is_ca"].as_bool(), ca["path_len"].as_u64()),
        (Some(true), Some(0))
    );
    assert_eq!(srv["is_ca"], false);
    assert_eq!(
        srv["dns_names"],
        serde_json::json!(["reg.test", "*.wild.test"])
    );
    assert_eq!(srv["ip_addresses"], serde_json::json!(["127.0.0.1", "::1"]));
    assert_eq!(srv["extended_key_usage"], serde_json::json!(["serverAuth"]));
    assert_eq!(srv["key_type"], "ecdsa-p256");
    assert_eq!(srv["key_bits"], 256);
    assert_eq!(srv["issuer"], "CN=Test CA");
    assert!(
        (363..=365).contains(&srv["days_left"].as_i64().unwrap()),
        "{srv}"
    );
    let fp = openssl_ok(
        dir,
        &[
            "x509",
            "-in",
            "srv/server.crt",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    assert_eq!(
        fp.trim().rsplit('=').next().unwrap(),
        srv["sha256_fingerprint"].as_str().unwrap()
    );
    let serial = openssl_ok(dir, &["x509", "-in", "srv/server.crt", "-noout", "-serial"]);
    assert_eq!(
        serial.trim().trim_start_matches("serial=").to_lowercase(),
        srv["serial"].as_str().unwrap()
    );

    let text = certsd_ok(dir, &["cert", "inspect", "srv/server.crt"]);
    for want in [
        "CN=reg.test",
        "DNS:*.wild.test",
        "IP:::1",
        "serverAuth",
        "leaf",
        "days left",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}

#[test]
fn inspect_flags_a_key_inside_a_certificate_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certsd_ok(
        dir,
        &[
            "cert",
            "server",
            "--self-signed",
            "--out",
            "s",
            "--dns",
            "reg.test",
        ],
    );
    let both = std::fs::read_to_string(dir.join("s/server.crt")).unwrap()
        + &std::fs::read_to_string(dir.join("s/server.key")).unwrap();
    std::fs::write(dir.join("domain.pem"), both).unwrap();
    let text = certsd_ok(dir, &["cert", "inspect", "domain.pem"]);
    assert!(
        text.contains("PRIVATE KEY") && text.contains("never use it as a `ca`"),
        "{text}"
    );
    assert!(
        !text.contains("BEGIN"),
        "the key itself is never printed: {text}"
    );
}

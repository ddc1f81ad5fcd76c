//! `cert csr` and `cert sign`, judged by openssl (`req -verify`, `verify
//! -x509_strict -purpose`) and by real TLS handshakes: certsd's CSRs signed by
//! openssl, openssl's CSRs signed by certsd, and certsd on both sides, for
//! every key type. Also the Kubernetes manifest and `inspect` of a CSR.

use std::path::Path;

use base64::Engine;

use super::{certsd, certsd_ok, check_leaf, mode, openssl_ok, tls};

/// The names `tls::handshakes` expects the server certificate to cover.
const SERVER_NAMES: [&str; 8] = [
    "--dns",
    "reg.test",
    "--dns",
    "*.wild.test",
    "--ip",
    "127.0.0.1",
    "--ip",
    "::1",
];

fn args<'a>(fixed: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    fixed.iter().chain(more).copied().collect()
}

/// `openssl req -verify -text` accepts the CSR; returns the text.
fn req_verified(dir: &Path, csr: &str) -> String {
    let text = openssl_ok(dir, &["req", "-verify", "-noout", "-text", "-in", csr]);
    assert!(
        text.contains("verify OK") || text.contains("signature ok"),
        "{text}"
    );
    text
}

/// certsd makes both CSRs (server in req/, client in creq/) with keys of `key_type`.
fn certsd_csrs(dir: &Path, key_type: &str) {
    let kt = ["--key-type", key_type];
    certsd_ok(
        dir,
        &args(&["cert", "csr", "--out", "req"], &args(&SERVER_NAMES, &kt)),
    );
    let client = [
        "cert", "csr", "--client", "--name", "node-1", "--out", "creq",
    ];
    certsd_ok(dir, &args(&client, &kt));
    let server = req_verified(dir, "req/server.csr");
    for want in [
        "DNS:reg.test",
        "DNS:*.wild.test",
        "IP Address:127.0.0.1",
        "TLS Web Server",
    ] {
        assert!(server.contains(want), "{want}: {server}");
    }
    let usage = if key_type.starts_with("rsa") {
        "Digital Signature, Key Encipherment"
    } else {
        "Digital Signature\n"
    };
    assert!(server.contains(usage), "{key_type}: {server}");
    let client = req_verified(dir, "creq/client.csr");
    assert!(
        client.contains("CN = node-1") && client.contains("TLS Web Client"),
        "{client}"
    );
    assert_eq!(mode(&dir.join("req/server.key")), 0o600);
    assert_eq!(mode(&dir.join("creq/client.key")), 0o600);
}

/// openssl makes both CSRs, with the same names, asking also for codeSigning.
fn openssl_csrs(dir: &Path, newkey: &[&str]) {
    std::fs::create_dir_all(dir.join("req")).unwrap();
    std::fs::create_dir_all(dir.join("creq")).unwrap();
    let new = args(&["req", "-new", "-nodes", "-newkey"], newkey);
    let sans = "subjectAltName=DNS:reg.test,DNS:*.wild.test,IP:127.0.0.1,IP:::1";
    let server = [
        "-keyout",
        "req/server.key",
        "-out",
        "req/server.csr",
        "-subj",
        "/O=Acme/CN=reg.test",
    ];
    let extra = [
        "-addext",
        sans,
        "-addext",
        "extendedKeyUsage=serverAuth,codeSigning",
    ];
    openssl_ok(dir, &args(&new, &args(&server, &extra)));
    let client = [
        "-keyout",
        "creq/client.key",
        "-out",
        "creq/client.csr",
        "-subj",
        "/CN=node-1",
    ];
    openssl_ok(dir, &args(&new, &client));
}

/// certsd signs req/ into srv/ and creq/ into cli/; the keys move along.
fn certsd_signs(dir: &Path) {
    certsd_ok(
        dir,
        &[
            "cert",
            "sign",
            "--csr",
            "req/server.csr",
            "--ca-dir",
            "ca",
            "--out",
            "srv",
        ],
    );
    let client = [
        "cert",
        "sign",
        "--client",
        "--csr",
        "creq/client.csr",
        "--ca-dir",
        "ca",
    ];
    certsd_ok(dir, &args(&client, &["--out", "cli"]));
    move_keys(dir);
}

/// openssl signs them, copying the extensions the CSR asks for.
fn openssl_signs(dir: &Path) {
    for (csr, out) in [("req/server.csr", "srv"), ("creq/client.csr", "cli")] {
        std::fs::create_dir_all(dir.join(out)).unwrap();
        let crt = format!(
            "{out}/{}.crt",
            if out == "srv" { "server" } else { "client" }
        );
        let sign = [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            "ca/ca.crt",
            "-CAkey",
            "ca/ca.key",
        ];
        openssl_ok(
            dir,
            &args(
                &sign,
                &["-copy_extensions", "copyall", "-days", "365", "-out", &crt],
            ),
        );
    }
    move_keys(dir);
}

fn move_keys(dir: &Path) {
    std::fs::copy(dir.join("req/server.key"), dir.join("srv/server.key")).unwrap();
    std::fs::copy(dir.join("creq/client.key"), dir.join("cli/client.key")).unwrap();
}

fn new_ca(dir: &Path, key_type: &str) {
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
}

/// certsd on both sides: openssl accepts every CSR and certificate, and Go-like TLS works.
fn csr_and_sign(key_type: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    new_ca(dir, key_type);
    certsd_csrs(dir, key_type);
    certsd_signs(dir);
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
    assert!(
        !dir.join("ca/server.crt").exists()
            && std::fs::read_dir(dir.join("ca"))
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name() != ".certsd-history")
                .count()
                == 2
    );
    tls::handshakes(dir, key_type);
}

#[test]
fn ecdsa_p256_csr_and_sign() {
    csr_and_sign("ecdsa-p256");
}

#[test]
fn ecdsa_p384_csr_and_sign() {
    csr_and_sign("ecdsa-p384");
}

#[test]
fn rsa_2048_csr_and_sign() {
    csr_and_sign("rsa-2048");
}

#[test]
fn rsa_3072_csr_and_sign() {
    csr_and_sign("rsa-3072");
}

#[test]
fn rsa_4096_csr_and_sign() {
    csr_and_sign("rsa-4096");
}

#[test]
fn ed25519_csr_and_sign() {
    csr_and_sign("ed25519");
}

#[test]
fn certsd_csrs_signed_by_openssl_serve_tls() {
    for key_type in ["ecdsa-p256", "rsa-2048", "ed25519"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        new_ca(dir, "ecdsa-p256");
        certsd_csrs(dir, key_type);
        openssl_signs(dir);
        for (crt, purpose) in [
            ("srv/server.crt", "sslserver"),
            ("cli/client.crt", "sslclient"),
        ] {
            let verify = [
                "verify",
                "-x509_strict",
                "-purpose",
                purpose,
                "-CAfile",
                "ca/ca.crt",
                crt,
            ];
            assert!(
                openssl_ok(dir, &verify).contains(": OK"),
                "{key_type} {crt}"
            );
        }
        tls::handshakes(dir, key_type);
    }
}

#[test]
fn openssl_csrs_signed_by_certsd_serve_tls() {
    let p384 = ["ec", "-pkeyopt", "ec_paramgen_curve:P-384"];
    let newkeys: [(&[&str], &str); 3] = [
        (&["rsa:2048"], "rsa-2048"),
        (&p384, "ecdsa-p384"),
        (&["ed25519"], "ed25519"),
    ];
    for (newkey, key_type) in newkeys {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        new_ca(dir, key_type);
        openssl_csrs(dir, newkey);
        certsd_signs(dir);
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
        let text = openssl_ok(dir, &["x509", "-in", "srv/server.crt", "-noout", "-text"]);
        assert!(
            !text.contains("Code Signing"),
            "codeSigning is not copied: {text}"
        );
        assert!(
            text.contains("Subject: CN = reg.test") && !text.contains("O = Acme"),
            "{text}"
        );
        tls::handshakes(dir, key_type);
    }
}

/// The manifest parses as YAML, says what Kubernetes needs, and its request
/// decodes back to the CSR file byte for byte.
fn check_manifest(dir: &Path, path: &str, csr: &str, usages: &[&str]) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(path)).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(doc["apiVersion"], "certificates.k8s.io/v1", "{text}");
    assert_eq!(doc["kind"], "CertificateSigningRequest", "{text}");
    assert_eq!(doc["spec"]["usages"], serde_json::json!(usages), "{text}");
    let request = doc["spec"]["request"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(request)
        .unwrap();
    assert_eq!(
        decoded,
        std::fs::read(dir.join(csr)).unwrap(),
        "request is not {csr}"
    );
    doc
}

#[test]
fn kubernetes_manifests_carry_the_csr_and_usages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = [
        "cert",
        "csr",
        "--out",
        "k",
        "--dns",
        "reg.test",
        "--key-type",
        "rsa-2048",
    ];
    let kube = [
        "--kubernetes",
        "registry-server",
        "--signer",
        "example.com/registry-ca",
    ];
    certsd_ok(dir, &args(&server, &kube));
    let doc = check_manifest(
        dir,
        "k/registry-server.csr.yaml",
        "k/server.csr",
        &["digital signature", "key encipherment", "server auth"],
    );
    assert_eq!(doc["metadata"]["name"], "registry-server");
    assert_eq!(doc["spec"]["signerName"], "example.com/registry-ca");
    let client = ["cert", "csr", "--client", "--name", "node-1", "--out", "c"];
    let kube = [
        "--kubernetes",
        "node-1",
        "--signer",
        "kubernetes.io/kube-apiserver-client",
    ];
    certsd_ok(dir, &args(&client, &kube));
    let doc = check_manifest(
        dir,
        "c/node-1.csr.yaml",
        "c/client.csr",
        &["digital signature", "client auth"],
    );
    assert_eq!(
        doc["spec"]["signerName"],
        "kubernetes.io/kube-apiserver-client"
    );
    assert_eq!(mode(&dir.join("c/client.key")), 0o600);
    assert!(
        !std::fs::read_to_string(dir.join("c/node-1.csr.yaml"))
            .unwrap()
            .contains("PRIVATE")
    );
}

#[test]
fn inspect_reads_csrs_in_pem_and_der() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certsd_ok(
        dir,
        &[
            "cert", "csr", "--out", "r", "--dns", "reg.test", "--ip", "10.0.0.5",
        ],
    );
    openssl_ok(
        dir,
        &[
            "req",
            "-in",
            "r/server.csr",
            "-outform",
            "der",
            "-out",
            "r/server.der",
        ],
    );
    let json = certsd_ok(
        dir,
        &[
            "cert",
            "inspect",
            "--output",
            "json",
            "r/server.csr",
            "r/server.der",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for file in [&v["files"][0], &v["files"][1]] {
        let req = &file["certificate_request"];
        assert_eq!(req["subject"], "CN=reg.test", "{json}");
        assert_eq!(req["dns_names"], serde_json::json!(["reg.test"]));
        assert_eq!(req["ip_addresses"], serde_json::json!(["10.0.0.5"]));
        assert_eq!(
            (req["key_type"].as_str(), req["signature_valid"].as_bool()),
            (Some("ecdsa-p256"), Some(true))
        );
        assert_eq!(file["certificates"], serde_json::json!([]));
    }
    let text = certsd_ok(dir, &["cert", "inspect", "r/server.csr"]);
    for want in [
        "certificate request",
        "DNS:reg.test",
        "IP:10.0.0.5",
        "ecdsa-p256 (256 bits)",
        "(valid)",
        "serverAuth",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert!(!text.contains("BEGIN"), "{text}");
}

/// A CSR whose subject was changed after signing: it parses, its signature fails.
pub fn tampered_csr(dir: &Path) -> Vec<u8> {
    certsd_ok(dir, &["cert", "csr", "--out", "t", "--dns", "reg.test"]);
    openssl_ok(
        dir,
        &[
            "req",
            "-in",
            "t/server.csr",
            "-outform",
            "der",
            "-out",
            "t/server.der",
        ],
    );
    let mut der = std::fs::read(dir.join("t/server.der")).unwrap();
    let at = der.windows(8).position(|w| w == b"reg.test").unwrap();
    der[at] = b'e';
    der
}

#[test]
fn inspect_says_when_a_csr_signature_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("bad.der"), tampered_csr(dir)).unwrap();
    let text = certsd_ok(dir, &["cert", "inspect", "bad.der"]);
    assert!(
        text.contains("DOES NOT VERIFY") && text.contains("CN=eeg.test"),
        "{text}"
    );
    let json = certsd_ok(dir, &["cert", "inspect", "--output", "json", "bad.der"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["files"][0]["certificate_request"]["signature_valid"],
        false
    );
}

/// Seconds since the epoch of a certificate's notAfter, as openssl reads it.
fn not_after(dir: &Path, crt: &str) -> i64 {
    let text = openssl_ok(dir, &["x509", "-in", crt, "-noout", "-enddate"]);
    super::epoch(text.trim().trim_start_matches("notAfter="))
}

#[test]
fn leaves_never_outlive_their_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certsd_ok(dir, &["cert", "ca", "--out", "ca", "--days", "10"]);
    certsd_ok(dir, &["cert", "csr", "--out", "req", "--dns", "reg.test"]);
    let json = certsd_ok(
        dir,
        &[
            "cert",
            "sign",
            "--csr",
            "req/server.csr",
            "--ca-dir",
            "ca",
            "--out",
            "s",
            "--days",
            "365",
            "--output",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["files"][0]["path"], "s/server.crt");
    assert!(
        v["certificate"]["days_left"].as_i64().unwrap() <= 10,
        "{json}"
    );
    certsd_ok(
        dir,
        &[
            "cert", "server", "--out", "d", "--ca-dir", "ca", "--dns", "reg.test",
        ],
    );
    certsd_ok(
        dir,
        &[
            "cert", "client", "--out", "c", "--ca-dir", "ca", "--name", "n",
        ],
    );
    let ca = not_after(dir, "ca/ca.crt");
    for crt in ["s/server.crt", "d/server.crt", "c/client.crt"] {
        assert_eq!(not_after(dir, crt), ca, "{crt} ends with its CA");
    }
    certsd_ok(
        dir,
        &[
            "cert", "server", "--out", "short", "--ca-dir", "ca", "--dns", "r.test", "--days", "2",
        ],
    );
    assert!(
        not_after(dir, "short/server.crt") < ca - 86_400 * 7,
        "a shorter --days is kept"
    );
}

#[test]
fn sign_prints_what_it_signed_and_what_it_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    new_ca(dir, "ecdsa-p256");
    openssl_csrs(dir, &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let out = certsd(
        dir,
        &[
            "cert",
            "sign",
            "--csr",
            "req/server.csr",
            "--ca-dir",
            "ca",
            "--out",
            "srv",
        ],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    for want in [
        "signed req/server.csr",
        "CN=reg.test",
        "DNS:*.wild.test",
        "IP:::1",
        "CN=Test CA",
        "extendedKeyUsage codeSigning",
        "subject O=Acme",
    ] {
        assert!(stdout.contains(want), "{want}: {stdout}");
    }
    assert!(
        stderr.contains("wrote srv/server.crt (0644)") && !stdout.contains("BEGIN"),
        "{stderr}"
    );
}

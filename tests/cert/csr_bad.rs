//! Bad input to `cert csr` and `cert sign`: a clear message naming the file
//! or flag, a non-zero exit, no panic, and nothing written.

use std::path::Path;

use base64::Engine;

use super::bad_input::refused;
use super::csr::tampered_csr;
use super::{certsd, certsd_ok, openssl_ok};

fn v<'a>(fixed: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    fixed.iter().chain(more).copied().collect()
}

#[test]
fn bad_csr_flags_exit_64_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let csr = ["cert", "csr", "--out", "out"];
    let kube = |name: &'static str, signer: &'static str| {
        v(
            &csr,
            &["--dns", "r.test", "--kubernetes", name, "--signer", signer],
        )
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            csr.to_vec(),
            "a server CSR needs at least one --dns NAME or --ip IP",
        ),
        (v(&csr, &["--client"]), "--name"),
        (v(&csr, &["--client", "--name", ""]), "must not be empty"),
        (v(&csr, &["--dns", "bad_name.test"]), "'_' is not allowed"),
        (v(&csr, &["--ip", "10.0.0"]), "is not an IP address"),
        (
            v(&csr, &["--dns", "r.test", "--key-type", "dsa"]),
            "unknown key type",
        ),
        (
            v(&csr, &["--dns", "r.test", "--kubernetes", "reg"]),
            "--signer",
        ),
        (
            v(&csr, &["--dns", "r.test", "--signer", "a.b/c"]),
            "--kubernetes",
        ),
        (kube("Reg", "example.com/x"), "not a Kubernetes object name"),
        (kube("reg", "registry-ca"), "not a signer name"),
    ];
    for (args, why) in cases {
        refused(dir, &args, 64, why);
    }
}

/// A CA in ca/, a second one in ca2/, a CA dir mixing them, and CSRs of all kinds.
fn setup(dir: &Path) {
    certsd_ok(dir, &["cert", "ca", "--out", "ca"]);
    certsd_ok(dir, &["cert", "ca", "--out", "ca2"]);
    std::fs::create_dir(dir.join("mixed")).unwrap();
    std::fs::copy(dir.join("ca/ca.crt"), dir.join("mixed/ca.crt")).unwrap();
    std::fs::copy(dir.join("ca2/ca.key"), dir.join("mixed/ca.key")).unwrap();
    certsd_ok(dir, &["cert", "csr", "--out", "good", "--dns", "reg.test"]);
    certsd_ok(
        dir,
        &["cert", "csr", "--out", "cli", "--client", "--name", "n"],
    );
    let der = tampered_csr(dir);
    std::fs::write(dir.join("tampered.der"), &der).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let pem =
        format!("-----BEGIN CERTIFICATE REQUEST-----\n{b64}\n-----END CERTIFICATE REQUEST-----\n");
    std::fs::write(dir.join("tampered.pem"), pem).unwrap();
    std::fs::write(dir.join("junk.txt"), "hello").unwrap();
    std::fs::write(dir.join("empty.csr"), "").unwrap();
    let san = "subjectAltName=DNS:reg.test";
    let openssl_csr = |out: &str, newkey: &[&str], extra: &[&str]| {
        let req = [
            "req",
            "-new",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            out,
            "-subj",
            "/CN=reg.test",
        ];
        openssl_ok(dir, &v(&v(&req, &["-newkey"]), &v(newkey, extra)));
    };
    openssl_csr("rsa1024.csr", &["rsa:1024"], &["-addext", san]);
    openssl_csr(
        "k1.csr",
        &["ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
        &["-addext", san],
    );
    openssl_csr(
        "nosan.csr",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &[],
    );
    let ca_ext = [
        "-addext",
        san,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
    ];
    openssl_csr(
        "ca.csr",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &ca_ext,
    );
    let req = [
        "req", "-new", "-nodes", "-newkey", "ed25519", "-keyout", "k.pem",
    ];
    openssl_ok(
        dir,
        &v(
            &req,
            &["-out", "nocn.csr", "-subj", "/O=Acme", "-addext", san],
        ),
    );
}

#[test]
fn bad_csrs_and_ca_dirs_exit_1_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let unsupported = "which certsd does not sign";
    let cases = [
        ("missing.csr", "ca", "", "reading the CSR missing.csr"),
        (
            "ca/ca.crt",
            "ca",
            "",
            "CSR ca/ca.crt: not signed: no PEM CERTIFICATE REQUEST block",
        ),
        (
            "junk.txt",
            "ca",
            "",
            "CSR junk.txt: not signed: not a valid certificate signing request",
        ),
        (
            "empty.csr",
            "ca",
            "",
            "not a valid certificate signing request",
        ),
        (
            "tampered.der",
            "ca",
            "",
            "CSR tampered.der: not signed: its signature does not verify",
        ),
        ("tampered.pem", "ca", "", "its signature does not verify"),
        (
            "rsa1024.csr",
            "ca",
            "",
            "its key is rsa (1024 bits), which certsd does not sign",
        ),
        (
            "k1.csr",
            "ca",
            "",
            "its key is ecdsa-secp256k1 (256 bits), which certsd does not sign",
        ),
        ("k1.csr", "ca", "--client", unsupported),
        ("nosan.csr", "ca", "", "it has no DNS or IP subjectAltName"),
        (
            "ca.csr",
            "ca",
            "",
            "it asks for a CA certificate (basicConstraints CA:TRUE)",
        ),
        ("ca.csr", "ca", "--client", "asks for a CA certificate"),
        ("cli/client.csr", "ca", "", "sign it with --client"),
        (
            "good/server.csr",
            "ca",
            "--client",
            "sign it without --client",
        ),
        ("nocn.csr", "ca", "--client", "it has no common name (CN)"),
        (
            "good/server.csr",
            "mixed",
            "",
            "the key does not match the certificate",
        ),
        (
            "good/server.csr",
            "missing",
            "",
            "reading the CA certificate missing/ca.crt",
        ),
    ];
    for (csr, ca_dir, flag, why) in cases {
        let mut args = vec![
            "cert", "sign", "--csr", csr, "--ca-dir", ca_dir, "--out", "out",
        ];
        args.extend(Some(flag).filter(|f| !f.is_empty()));
        refused(dir, &args, 1, why);
    }
    let sign = ["cert", "sign", "--csr", "good/server.csr", "--ca-dir", "ca"];
    refused(
        dir,
        &v(&sign, &["--out", "out", "--days", "0"]),
        64,
        "--days must be between 1 and 36500",
    );
    refused(
        dir,
        &v(&sign, &["--out", "ca"]),
        64,
        "--out must not be the CA directory",
    );
    assert_eq!(ca_files(dir), 2, "the CA dir is untouched");
}

#[test]
fn existing_outputs_are_kept_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certsd_ok(dir, &["cert", "ca", "--out", "ca"]);
    std::fs::create_dir(dir.join("o")).unwrap();
    std::fs::write(dir.join("o/server.key"), "precious").unwrap();
    std::fs::write(dir.join("o/reg.csr.yaml"), "mine").unwrap();
    let csr = ["cert", "csr", "--out", "o", "--dns", "reg.test"];
    let kube = ["--kubernetes", "reg", "--signer", "example.com/ca"];
    for args in [v(&csr, &[]), v(&csr, &kube)] {
        let out = certsd(dir, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("already exists (use --force"), "{stderr}");
        assert!(
            !dir.join("o/server.csr").exists(),
            "nothing written when one target exists"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("o/server.key")).unwrap(),
        "precious"
    );
    certsd_ok(dir, &v(&csr, &["--force"]));
    assert_eq!(
        std::fs::read_to_string(dir.join("o/reg.csr.yaml")).unwrap(),
        "mine"
    );

    std::fs::write(dir.join("o/server.crt"), "old").unwrap();
    let sign = [
        "cert",
        "sign",
        "--csr",
        "o/server.csr",
        "--ca-dir",
        "ca",
        "--out",
        "o",
    ];
    let out = certsd(dir, &sign);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("o/server.crt already exists"));
    assert_eq!(
        std::fs::read_to_string(dir.join("o/server.crt")).unwrap(),
        "old"
    );
    certsd_ok(dir, &v(&sign, &["--force"]));
    let text = openssl_ok(dir, &["verify", "-CAfile", "ca/ca.crt", "o/server.crt"]);
    assert!(text.contains(": OK"), "{text}");
}

/// The files in the CA dir: ca.crt and ca.key, `cert ca`'s own history aside.
fn ca_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("ca"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != ".certsd-history")
        .count()
}

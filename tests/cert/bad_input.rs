//! Bad input: every error exits non-zero with a message naming the problem,
//! and nothing is written (the output directory is not even created).

use std::path::Path;

use super::{certsd, certsd_ok};

/// Runs certsd expecting exit `code` and `why` in stderr; `out` must stay absent.
pub(super) fn refused(dir: &Path, args: &[&str], code: i32, why: &str) {
    let out = certsd(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(
        stderr.contains(why),
        "{args:?}: expected {why:?} in {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.join("out").exists(), "{args:?} wrote something");
}

#[test]
fn bad_flags_exit_64_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certsd_ok(dir, &["cert", "ca", "--out", "ca"]);
    let srv = |extra: &[&'static str]| {
        let mut args = vec!["cert", "server", "--out", "out", "--ca-dir", "ca"];
        args.extend_from_slice(extra);
        args
    };
    let long_name = "n".repeat(65);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["cert", "ca", "--out", "out", "--key-type", "dsa-1024"],
            "unknown key type \"dsa-1024\"",
        ),
        (
            vec!["cert", "ca", "--out", "out", "--days", "0"],
            "--days must be between 1 and 36500, not 0",
        ),
        (vec!["cert", "ca", "--out", "out", "--days", "-5"], "not -5"),
        (
            vec!["cert", "ca", "--out", "out", "--days", "36501"],
            "not 36501",
        ),
        (
            vec!["cert", "ca", "--out", "out", "--days", "99999999999"],
            "not 99999999999",
        ),
        (
            vec!["cert", "ca", "--out", "out", "--name", ""],
            "must not be empty",
        ),
        (
            vec!["cert", "ca", "--out", "out", "--name", &long_name],
            "longer than 64 characters",
        ),
        (srv(&[]), "at least one --dns NAME or --ip IP"),
        (srv(&["--dns", "bad_name.test"]), "'_' is not allowed"),
        (
            srv(&["--dns", "*.test"]),
            "a wildcard needs at least two labels",
        ),
        (
            srv(&["--dns", "a.*.test.x"]),
            "only as the whole leftmost label",
        ),
        (srv(&["--dns", "reg.test."]), "ends with a dot"),
        (srv(&["--dns", "10.0.0.1"]), "use --ip"),
        (srv(&["--ip", "10.0.0"]), "\"10.0.0\" is not an IP address"),
        (
            srv(&["--ip", "reg.test"]),
            "\"reg.test\" is not an IP address",
        ),
        (
            vec!["cert", "server", "--out", "out", "--dns", "reg.test"],
            "--ca-dir",
        ),
        (
            vec![
                "cert",
                "server",
                "--out",
                "out",
                "--self-signed",
                "--ca-dir",
                "ca",
                "--dns",
                "r.test",
            ],
            "cannot be used with",
        ),
        (
            vec!["cert", "client", "--out", "out", "--ca-dir", "ca"],
            "--name",
        ),
    ];
    for (args, why) in cases {
        refused(dir, &args, 64, why);
    }
}

#[test]
fn bad_ca_dirs_exit_1_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certsd_ok(dir, &["cert", "ca", "--out", "ca"]);
    certsd_ok(dir, &["cert", "ca", "--out", "ca2"]);
    certsd_ok(
        dir,
        &[
            "cert",
            "server",
            "--self-signed",
            "--out",
            "leaf",
            "--dns",
            "r.test",
        ],
    );
    // A CA whose key belongs to another CA.
    std::fs::create_dir(dir.join("mixed")).unwrap();
    std::fs::copy(dir.join("ca/ca.crt"), dir.join("mixed/ca.crt")).unwrap();
    std::fs::copy(dir.join("ca2/ca.key"), dir.join("mixed/ca.key")).unwrap();
    // A leaf in the CA's place.
    std::fs::create_dir(dir.join("notca")).unwrap();
    std::fs::copy(dir.join("leaf/server.crt"), dir.join("notca/ca.crt")).unwrap();
    std::fs::copy(dir.join("leaf/server.key"), dir.join("notca/ca.key")).unwrap();
    // A CA without its key, and garbage.
    std::fs::create_dir(dir.join("nokey")).unwrap();
    std::fs::copy(dir.join("ca/ca.crt"), dir.join("nokey/ca.crt")).unwrap();
    std::fs::create_dir(dir.join("junk")).unwrap();
    std::fs::write(dir.join("junk/ca.crt"), "hello").unwrap();
    std::fs::copy(dir.join("ca/ca.key"), dir.join("junk/ca.key")).unwrap();
    let cases = [
        ("missing", "reading the CA certificate missing/ca.crt"),
        ("nokey", "reading the CA key nokey/ca.key"),
        ("mixed", "the key does not match the certificate"),
        ("notca", "not a CA certificate"),
        ("junk", "no PEM certificate found"),
    ];
    for (ca_dir, why) in cases {
        refused(
            dir,
            &[
                "cert", "server", "--out", "out", "--ca-dir", ca_dir, "--dns", "r.test",
            ],
            1,
            why,
        );
        refused(
            dir,
            &[
                "cert", "client", "--out", "out", "--ca-dir", ca_dir, "--name", "n",
            ],
            1,
            why,
        );
    }
}

#[test]
fn expired_ca_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("old")).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(
        dir.join("old/ca.crt"),
        params.self_signed(&key).unwrap().pem(),
    )
    .unwrap();
    std::fs::write(dir.join("old/ca.key"), key.serialize_pem()).unwrap();
    refused(
        dir,
        &[
            "cert", "server", "--out", "out", "--ca-dir", "old", "--dns", "r.test",
        ],
        1,
        "expired on 2021-01-01",
    );
}

#[test]
fn existing_files_are_kept_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("out")).unwrap();
    std::fs::write(dir.join("out/ca.key"), "precious").unwrap();
    let out = certsd(dir, &["cert", "ca", "--out", "out"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("out/ca.key already exists (use --force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out/ca.key")).unwrap(),
        "precious"
    );
    assert!(
        !dir.join("out/ca.crt").exists(),
        "nothing written when one target exists"
    );
}

#[test]
fn inspect_refuses_missing_and_non_certificate_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("junk.pem"), "not a certificate").unwrap();
    let out = certsd(dir, &["cert", "inspect", "nope.pem"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading nope.pem"));
    let out = certsd(dir, &["cert", "inspect", "junk.pem"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.pem: no PEM certificate found"));
}

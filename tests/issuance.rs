//! `apply --self-signed` / `--ca-dir`: certificates made, trusted, kept on
//! re-runs and renewed when they must be, with openssl as the judge.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

const HOST: &str = "registry.test:5000";

fn certsd(root: &Path, args: &[&str]) -> Output {
    crate::support::certsd_in_root(root, args)
}

fn ok(out: &Output) -> String {
    crate::support::ok(out, "certsd")
}

fn openssl(args: &[&str]) -> String {
    crate::support::openssl_ok(Path::new("."), args)
}

fn cert_dir(root: &Path) -> std::path::PathBuf {
    root.join("etc/certsd").join(HOST)
}

#[test]
fn self_signed_makes_a_ca_and_server_cert_that_verify_and_are_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let plan = ok(&certsd(
        root,
        &[
            "plan",
            "--host",
            HOST,
            "--self-signed",
            "--san",
            "127.0.0.1",
        ],
    ));
    assert!(
        plan.contains("# certificate to create: /etc/certsd/registry.test:5000/server.crt"),
        "{plan}"
    );
    assert!(!cert_dir(root).exists(), "plan must not make keys or files");
    let applied = ok(&certsd(
        root,
        &[
            "apply",
            "--host",
            HOST,
            "--self-signed",
            "--san",
            "127.0.0.1",
        ],
    ));
    assert!(!applied.contains("PRIVATE KEY-----"), "a key was printed");
    let dir = cert_dir(root);
    let trusted = root
        .join("etc/containerd/certs.d")
        .join(HOST)
        .join("ca.crt");
    assert_eq!(
        fs::read(dir.join("ca.crt")).unwrap(),
        fs::read(&trusted).unwrap()
    );
    assert!(!fs::read_to_string(&trusted).unwrap().contains("PRIVATE"));
    openssl(&[
        "verify",
        "-CAfile",
        trusted.to_str().unwrap(),
        dir.join("server.crt").to_str().unwrap(),
    ]);
    let text = openssl(&[
        "x509",
        "-in",
        dir.join("server.crt").to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(
        text.contains("DNS:registry.test") && text.contains("IP Address:127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    for key in ["ca.key", "server.key"] {
        let mode = fs::metadata(dir.join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    let hosts = fs::read_to_string(
        root.join("etc/containerd/certs.d")
            .join(HOST)
            .join("hosts.toml"),
    )
    .unwrap();
    assert!(
        hosts.contains("ca = \"/etc/containerd/certs.d/registry.test:5000/ca.crt\""),
        "{hosts}"
    );
}

#[test]
fn rerun_keeps_certificates_and_renew_replaces_only_the_server_cert() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let args = ["apply", "--host", HOST, "--self-signed"];
    ok(&certsd(root, &args));
    let dir = cert_dir(root);
    let (ca, server) = (
        fs::read(dir.join("ca.crt")).unwrap(),
        fs::read(dir.join("server.crt")).unwrap(),
    );
    let again = certsd(root, &args);
    ok(&again);
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to change"));
    assert_eq!(
        fs::read(dir.join("server.crt")).unwrap(),
        server,
        "a re-run rotated the certificate"
    );
    ok(&certsd(
        root,
        &["apply", "--host", HOST, "--self-signed", "--renew"],
    ));
    assert_ne!(
        fs::read(dir.join("server.crt")).unwrap(),
        server,
        "--renew kept the old certificate"
    );
    assert_eq!(
        fs::read(dir.join("ca.crt")).unwrap(),
        ca,
        "--renew must not replace the CA"
    );
    // A new name means a new certificate that covers it.
    ok(&certsd(
        root,
        &[
            "apply",
            "--host",
            HOST,
            "--self-signed",
            "--san",
            "registry.internal",
        ],
    ));
    let text = openssl(&[
        "x509",
        "-in",
        dir.join("server.crt").to_str().unwrap(),
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    assert!(text.contains("DNS:registry.internal"), "{text}");
    // --renew-before as long as a certificate's life would rotate on every run: refused.
    let out = certsd(
        root,
        &[
            "apply",
            "--host",
            HOST,
            "--self-signed",
            "--renew-before",
            "400",
        ],
    );
    assert_eq!(out.status.code(), Some(64));
}

/// A CA directory made by openssl: `genkey` (ending in `-out`) makes
/// `ca.key`, then a self-signed `ca.crt` with the given basicConstraints.
fn openssl_ca(parent: &Path, genkey: &[&str], basic_constraints: &str) -> std::path::PathBuf {
    let ca_dir = parent.join("ca");
    fs::create_dir(&ca_dir).unwrap();
    let key = ca_dir.join("ca.key");
    let mut args = genkey.to_vec();
    args.push(key.to_str().unwrap());
    openssl(&args);
    let constraints = format!("basicConstraints={basic_constraints}");
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/CN=ops CA",
        "-days",
        "30",
        "-addext",
        &constraints,
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        ca_dir.join("ca.crt").to_str().unwrap(),
    ]);
    ca_dir
}

#[test]
fn ca_dir_signs_with_an_openssl_ca_in_every_key_form() {
    for (form, genkey) in [
        ("pkcs1", vec!["genrsa", "-traditional", "-out"]),
        (
            "sec1",
            vec![
                "ecparam",
                "-genkey",
                "-name",
                "prime256v1",
                "-noout",
                "-out",
            ],
        ),
        ("pkcs8", vec!["genpkey", "-algorithm", "ed25519", "-out"]),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let ca_dir = openssl_ca(tmp.path(), &genkey, "critical,CA:TRUE");
        let root = tmp.path().join("root");
        fs::create_dir(&root).unwrap();
        ok(&certsd(
            &root,
            &[
                "apply",
                "--host",
                HOST,
                "--ca-dir",
                ca_dir.to_str().unwrap(),
            ],
        ));
        let server = cert_dir(&root).join("server.crt");
        openssl(&[
            "verify",
            "-CAfile",
            ca_dir.join("ca.crt").to_str().unwrap(),
            server.to_str().unwrap(),
        ]);
        assert!(
            !cert_dir(&root).join("ca.key").exists(),
            "{form}: the given CA's key must not be copied"
        );
        let trusted = root
            .join("etc/containerd/certs.d")
            .join(HOST)
            .join("ca.crt");
        assert_eq!(
            fs::read(&trusted).unwrap(),
            fs::read(ca_dir.join("ca.crt")).unwrap(),
            "{form}"
        );
    }
}

#[test]
fn a_ca_dir_that_is_not_a_ca_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let genkey = ["genpkey", "-algorithm", "ed25519", "-out"];
    let ca_dir = openssl_ca(tmp.path(), &genkey, "critical,CA:FALSE");
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    let out = certsd(
        &root,
        &[
            "apply",
            "--host",
            HOST,
            "--ca-dir",
            ca_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CA"), "{err}");
    assert_eq!(
        fs::read_dir(&root).unwrap().count(),
        0,
        "something was written"
    );
}

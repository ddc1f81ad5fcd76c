//! One test per verdict code, against openssl `s_server` or std listeners.

use std::time::{Duration, Instant};

use time::macros::datetime;

use certsd::doctor::connect::ContainerdVersion;
use certsd::doctor::connect::{Code, Endpoint, Severity, Trust, Verdict, load_system_roots, probe};

use super::servers::{NAME, OpenSsl, Pki, closed_port, endpoint, std_server};

const TIMEOUT: Duration = Duration::from_secs(3);

pub fn v2() -> ContainerdVersion {
    "2.1.4".parse().unwrap()
}

/// Probes and checks the code, its severity and that no key leaks out.
pub fn expect(endpoint: &Endpoint, trust: &Trust, code: Code) -> Verdict {
    let verdict = probe(endpoint, trust, v2(), TIMEOUT);
    eprintln!("MSG {}: {}", verdict.code.as_str(), verdict.message);
    assert_eq!(verdict.code, code, "{verdict:?}");
    assert_eq!(
        verdict.severity,
        if code == Code::Trusted {
            Severity::Info
        } else {
            Severity::Error
        }
    );
    assert!(!verdict.message.contains("PRIVATE KEY"), "{verdict:?}");
    verdict
}

fn good_server(pki: &Pki, extra: &[&str]) -> OpenSsl {
    OpenSsl::start(pki.path(), "reg/server.crt", "reg/server.key", extra)
}

#[test]
fn trusted_through_a_ca_file() {
    let pki = Pki::new();
    let server = good_server(&pki, &[]);
    let verdict = expect(
        &endpoint("https", server.port),
        &pki.trust_ca(),
        Code::Trusted,
    );
    assert_eq!(verdict.code.as_str(), "connect-trusted");
    let m = &verdict.message;
    assert!(m.contains(&format!("is valid for {NAME}")), "{m}");
    assert!(
        m.contains(&format!(
            "ca /etc/containerd/certs.d/{NAME}/pki/ca.crt (CN=certsd test CA)"
        )),
        "{m}"
    );
    assert!(
        !m.contains("system roots ("),
        "only the ca file leads to the root: {m}"
    );
    assert!(m.contains("answered `HTTP/1.0 200 ok`"), "{m}");
}

#[test]
fn trusted_through_the_system_roots_loaded_like_go() {
    let pki = Pki::new();
    let root = tempfile::tempdir().unwrap();
    let bundle = root.path().join("etc/ssl/certs/ca-certificates.crt");
    std::fs::create_dir_all(bundle.parent().unwrap()).unwrap();
    std::fs::copy(pki.file("pki/ca.crt"), &bundle).unwrap();
    let trust = Trust {
        system: load_system_roots(root.path()),
        ..Trust::default()
    };
    let server = good_server(&pki, &[]);
    let verdict = expect(&endpoint("https", server.port), &trust, Code::Trusted);
    assert!(
        verdict.message.contains(
            "chains to system roots (1 certificate from /etc/ssl/certs/ca-certificates.crt)"
        ),
        "{verdict:?}"
    );
}

#[test]
fn unknown_authority_names_the_issuer_and_every_ca_tried() {
    let pki = Pki::new();
    pki.certsd(&["cert", "ca", "--out", "other", "--name", "certsd other CA"]);
    let server = good_server(&pki, &[]);
    let trust = Trust {
        system: pki.as_system_of("other/ca.crt"),
        ca: vec![pki.ca("other/ca.crt")],
        ..Trust::default()
    };
    let verdict = expect(
        &endpoint("https", server.port),
        &trust,
        Code::UnknownAuthority,
    );
    let m = &verdict.message;
    assert!(
        m.contains(&format!("CN={NAME} (issuer CN=certsd test CA)")),
        "{m}"
    );
    assert!(
        m.contains("system roots (1 certificate from /etc/ssl/certs/ca-certificates.crt)"),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "ca /etc/containerd/certs.d/{NAME}/other/ca.crt (CN=certsd other CA)"
        )),
        "{m}"
    );
}

#[test]
fn name_mismatch_lists_the_sans_presented() {
    let pki = Pki::new();
    pki.certsd(&[
        "cert",
        "server",
        "--out",
        "wrong",
        "--ca-dir",
        "pki",
        "--dns",
        "other.certsd.test",
    ]);
    let server = OpenSsl::start(pki.path(), "wrong/server.crt", "wrong/server.key", &[]);
    let verdict = expect(
        &endpoint("https", server.port),
        &pki.trust_ca(),
        Code::NameMismatch,
    );
    let m = &verdict.message;
    assert!(
        m.contains(&format!("expected {NAME}")) && m.contains("SANs DNS:other.certsd.test"),
        "{m}"
    );
}

#[test]
fn expired_and_not_yet_valid_give_the_dates() {
    let pki = Pki::new();
    pki.write_dated(
        "expired",
        datetime!(2020-01-01 0:00 UTC),
        datetime!(2021-01-01 0:00 UTC),
    );
    pki.write_dated(
        "future",
        datetime!(2090-01-01 0:00 UTC),
        datetime!(2091-01-01 0:00 UTC),
    );
    let server = OpenSsl::start(pki.path(), "expired.crt", "expired.key", &[]);
    let verdict = expect(
        &endpoint("https", server.port),
        &pki.trust_ca(),
        Code::Expired,
    );
    let m = &verdict.message;
    assert!(
        m.contains("expired on 2021-01-01T00:00:00Z")
            && m.contains("valid from 2020-01-01T00:00:00Z"),
        "{m}"
    );
    let server = OpenSsl::start(pki.path(), "future.crt", "future.key", &[]);
    let verdict = expect(
        &endpoint("https", server.port),
        &pki.trust_ca(),
        Code::Expired,
    );
    assert!(
        verdict
            .message
            .contains("is not valid before 2090-01-01T00:00:00Z"),
        "{verdict:?}"
    );
}

#[test]
fn client_cert_required_then_trusted_with_one() {
    let pki = Pki::new();
    for protocol in ["-tls1_3", "-tls1_2"] {
        let server = good_server(&pki, &["-Verify", "1", "-CAfile", "pki/ca.crt", protocol]);
        let verdict = expect(
            &endpoint("https", server.port),
            &pki.trust_ca(),
            Code::ClientCertRequired,
        );
        assert!(
            verdict.message.contains("none is configured"),
            "{protocol}: {verdict:?}"
        );
        let trust = Trust {
            client: Some(pki.client()),
            ..pki.trust_ca()
        };
        expect(&endpoint("https", server.port), &trust, Code::Trusted);
    }
}

#[test]
fn refused_client_cert_is_client_cert_required() {
    let pki = Pki::new();
    pki.certsd(&["cert", "ca", "--out", "other", "--name", "certsd other CA"]);
    // The server accepts only clients of "other", ours is from "certsd test CA";
    // without -verify_return_error s_server would log the failure and carry on.
    let server = good_server(
        &pki,
        &[
            "-Verify",
            "1",
            "-verify_return_error",
            "-CAfile",
            "other/ca.crt",
        ],
    );
    let trust = Trust {
        client: Some(pki.client()),
        ..pki.trust_ca()
    };
    let verdict = expect(
        &endpoint("https", server.port),
        &trust,
        Code::ClientCertRequired,
    );
    assert!(
        verdict.message.contains("refused") && verdict.message.contains("CN=node-1"),
        "{verdict:?}"
    );
}

#[test]
fn plain_http_server_behind_an_https_url() {
    let port = std_server(Some(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    ));
    let verdict = expect(&endpoint("https", port), &Trust::default(), Code::PlainHttp);
    assert!(
        verdict
            .message
            .contains("answered the TLS hello in plain HTTP"),
        "{verdict:?}"
    );
}

#[test]
fn tls_server_behind_an_http_url() {
    let pki = Pki::new();
    let server = good_server(&pki, &[]);
    let verdict = expect(
        &endpoint("http", server.port),
        &Trust::default(),
        Code::PlainHttp,
    );
    assert!(
        verdict.message.contains("speaks TLS") && verdict.message.contains("https://"),
        "{verdict:?}"
    );
}

#[test]
fn plain_http_url_on_plain_http_server_is_fine() {
    let port = std_server(Some(
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
    ));
    let verdict = expect(&endpoint("http", port), &Trust::default(), Code::Trusted);
    assert!(
        verdict.message.contains("HTTP/1.1 401 Unauthorized"),
        "{verdict:?}"
    );
}

#[test]
fn unreachable_closed_port_and_unknown_name() {
    let verdict = expect(
        &endpoint("https", closed_port()),
        &Trust::default(),
        Code::Unreachable,
    );
    assert!(verdict.message.contains("refused"), "{verdict:?}");
    let nowhere = Endpoint::parse(
        "https://nonexistent.invalid",
        "nonexistent.invalid",
        certsd::doctor::connect::Origin::Host,
    )
    .unwrap();
    let verdict = expect(&nowhere, &Trust::default(), Code::Unreachable);
    assert!(
        verdict
            .message
            .contains("cannot resolve nonexistent.invalid"),
        "{verdict:?}"
    );
}

#[test]
fn silent_server_times_out_within_the_timeout() {
    let port = std_server(None);
    let started = Instant::now();
    let verdict = probe(
        &endpoint("https", port),
        &Trust::default(),
        v2(),
        Duration::from_millis(300),
    );
    assert_eq!(verdict.code, Code::Unreachable, "{verdict:?}");
    assert!(verdict.message.contains("timed out"), "{verdict:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn skip_verify_trusts_what_it_would_not_verify() {
    let pki = Pki::new();
    let server = good_server(&pki, &[]);
    let trust = Trust {
        skip_verify: Some(true),
        ..Trust::default()
    };
    let verdict = expect(&endpoint("https", server.port), &trust, Code::Trusted);
    let m = &verdict.message;
    assert!(
        m.contains("verification is off") && m.contains("would fail: connect-unknown-authority"),
        "{m}"
    );
}

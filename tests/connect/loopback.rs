//! containerd's special cases, verdicts that differ by version: the endpoint
//! containerd makes up for a loopback registry (no `server` in hosts.toml),
//! and an `http://` endpoint with TLS settings (tried over HTTPS first).

use std::time::Duration;

use certsd::doctor::connect::ContainerdVersion;
use certsd::doctor::connect::{Code, Endpoint, Origin, Trust, probe};

use super::servers::{OpenSsl, Pki, endpoint, std_server, std_server_on};

fn version(v: &str) -> ContainerdVersion {
    v.parse().unwrap()
}

fn loopback_default(port: u16) -> Endpoint {
    Endpoint::containerd_default(&format!("127.0.0.1:{port}")).unwrap()
}

const TIMEOUT: Duration = Duration::from_secs(3);

#[test]
fn loopback_plain_http_registry_works_on_every_version_for_its_own_reason() {
    let port = std_server(Some(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    let new = probe(
        &loopback_default(port),
        &Trust::default(),
        version("2.1.4"),
        TIMEOUT,
    );
    assert_eq!(new.code, Code::Trusted, "{new:?}");
    assert!(
        new.message.contains("containerd retries over plain HTTP"),
        "{new:?}"
    );
    assert!(
        new.message
            .contains("is a loopback registry and hosts.toml names no server"),
        "{new:?}"
    );
    let old = probe(
        &loopback_default(port),
        &Trust::default(),
        version("1.6.20"),
        TIMEOUT,
    );
    assert_eq!(old.code, Code::Trusted, "{old:?}");
    assert!(
        old.message
            .starts_with(&format!("http://127.0.0.1:{port}: plain HTTP")),
        "{old:?}"
    );
    assert!(
        old.message
            .contains("containerd 1.6.20 talks plain HTTP to the loopback registry"),
        "{old:?}"
    );
}

#[test]
fn loopback_tls_registry_is_unverified_on_2x_and_plain_http_on_old_1_6() {
    let pki = Pki::new();
    let server = OpenSsl::start(pki.path(), "reg/server.crt", "reg/server.key", &[]);
    let new = probe(
        &loopback_default(server.port),
        &Trust::default(),
        version("2.1.4"),
        TIMEOUT,
    );
    assert_eq!(new.code, Code::Trusted, "{new:?}");
    assert!(
        new.message.contains("verification is off") && new.message.contains("without verifying"),
        "{new:?}"
    );
    let old = probe(
        &loopback_default(server.port),
        &Trust::default(),
        version("1.6.20"),
        TIMEOUT,
    );
    assert_eq!(old.code, Code::PlainHttp, "{old:?}");
    // The same server named in a [host] table gets no loopback favours.
    let explicit = Endpoint::parse(
        &format!("https://127.0.0.1:{}", server.port),
        "127.0.0.1",
        Origin::Host,
    )
    .unwrap();
    let strict = probe(&explicit, &pki.trust_ca(), version("2.1.4"), TIMEOUT);
    assert_eq!(strict.code, Code::NameMismatch, "{strict:?}");
}

#[test]
fn http_endpoint_with_a_ca_is_tried_over_https_first_since_1_7_16() {
    let pki = Pki::new();
    let server = OpenSsl::start(pki.path(), "reg/server.crt", "reg/server.key", &[]);
    let new = probe(
        &endpoint("http", server.port),
        &pki.trust_ca(),
        version("1.7.16"),
        TIMEOUT,
    );
    assert_eq!(new.code, Code::Trusted, "{new:?}");
    assert!(
        new.message
            .contains("tries HTTPS first on this http:// endpoint"),
        "{new:?}"
    );
    let old = probe(
        &endpoint("http", server.port),
        &pki.trust_ca(),
        version("1.7.15"),
        TIMEOUT,
    );
    assert_eq!(old.code, Code::PlainHttp, "{old:?}");
}

#[test]
fn ipv6_loopback_registry_falls_back_to_http_on_2x() {
    let port = std_server_on(
        "[::1]:0",
        Some(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    );
    let endpoint = Endpoint::containerd_default(&format!("[::1]:{port}")).unwrap();
    let verdict = probe(&endpoint, &Trust::default(), version("2.1.4"), TIMEOUT);
    assert_eq!(verdict.code, Code::Trusted, "{verdict:?}");
    assert!(
        verdict
            .message
            .starts_with(&format!("https://[::1]:{port}: ")),
        "{verdict:?}"
    );
    assert!(
        verdict
            .message
            .contains(&format!("retries over plain HTTP (http://[::1]:{port})")),
        "{verdict:?}"
    );
}

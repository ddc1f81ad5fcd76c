//! `doctor --connect`: shake hands with one registry endpoint using exactly
//! the trust containerd would use, and say precisely what fails.
//!
//! The handshake itself accepts any certificate and only records the chain
//! (and whether the server asked for a client certificate): a failing
//! verifier would abort the handshake with one opaque error. The recorded
//! chain is then judged in Go's order (validity, name, chain) separately
//! against the system roots, each `ca` file and their union, which is the
//! pool containerd builds (`core/remotes/docker/config/hosts.go`: the system
//! pool with every `ca` file appended). containerd's special cases for
//! loopback registries and its HTTPS-then-HTTP fallback live in `plan`.

mod endpoint;
mod plan;
mod record;
mod roots;
mod verify;
mod wire;

use std::fmt;
use std::time::{Duration, Instant};

pub use crate::version::ContainerdVersion;

pub use endpoint::{Endpoint, Origin, Scheme};
pub use plan::is_localhost;
pub use roots::{SystemRoots, load_system_roots};

/// A `ca` file: its node path (for messages) and contents. `Debug` shows
/// only the size: a `ca` file may wrongly hold a private key.
#[derive(Clone)]
pub struct CaFile {
    pub path: String,
    pub pem: Vec<u8>,
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("bytes", &self.pem.len())
            .finish()
    }
}

/// A `client` pair. A one-file `client` (cert and key together) passes the
/// same bytes twice. `Debug` leaves the key out.
#[derive(Clone)]
pub struct ClientCert {
    /// Node path of the certificate file, for messages.
    pub path: String,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCert")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The trust containerd would use for one endpoint.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Go's system pool as containerd's process sees it ([`load_system_roots`]).
    pub system: SystemRoots,
    /// The `ca` files, in hosts.toml order.
    pub ca: Vec<CaFile>,
    /// The first `client` pair, if any.
    pub client: Option<ClientCert>,
    /// `skip_verify` as written; `Some(false)` still counts as "TLS
    /// configured" for containerd's HTTP fallback.
    pub skip_verify: Option<bool>,
}

impl Trust {
    /// containerd's `explicitTLS`: any of `ca`, `client`, `skip_verify` set.
    fn tls_configured(&self) -> bool {
        !self.ca.is_empty() || self.client.is_some() || self.skip_verify.is_some()
    }
}

/// How bad a verdict is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Error,
}

impl Severity {
    /// `info` or `error`, as doctor's text and JSON output spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Error => "error",
        }
    }
}

/// The stable verdict codes scripts match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Trusted,
    UnknownAuthority,
    NameMismatch,
    Expired,
    ClientCertRequired,
    PlainHttp,
    Unreachable,
}

impl Code {
    /// The stable string (`connect-trusted`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Trusted => "connect-trusted",
            Code::UnknownAuthority => "connect-unknown-authority",
            Code::NameMismatch => "connect-name-mismatch",
            Code::Expired => "connect-expired",
            Code::ClientCertRequired => "connect-client-cert-required",
            Code::PlainHttp => "connect-plain-http",
            Code::Unreachable => "connect-unreachable",
        }
    }

    /// `info` for `connect-trusted`, `error` for everything else.
    pub fn severity(self) -> Severity {
        if self == Code::Trusted {
            Severity::Info
        } else {
            Severity::Error
        }
    }
}

/// The finding for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub code: Code,
    pub severity: Severity,
    /// One line naming the endpoint, the names and issuers seen, and the
    /// trust tried. Never holds key material.
    pub message: String,
}

impl Verdict {
    fn new(code: Code, message: impl Into<String>) -> Verdict {
        Verdict {
            code,
            severity: code.severity(),
            message: message.into(),
        }
    }
}

/// Connects to `endpoint` as `containerd` would with `trust`; every dial,
/// read and write together stays within `timeout`.
pub fn probe(
    endpoint: &Endpoint,
    trust: &Trust,
    containerd: ContainerdVersion,
    timeout: Duration,
) -> Verdict {
    let plan = plan::plan(endpoint, trust, containerd);
    // A timeout too large for an Instant still has to give a deadline.
    let deadline = Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
    let verdict = if plan.tls {
        probe_tls(endpoint, trust, &plan, deadline)
    } else {
        probe_http(endpoint, deadline)
    };
    let url = endpoint.url(if plan.tls {
        Scheme::Https
    } else {
        Scheme::Http
    });
    let mut message = format!("{url}: {}", verdict.message);
    for note in &plan.notes {
        message.push_str("; ");
        message.push_str(note);
    }
    Verdict { message, ..verdict }
}

/// The TLS attempt, and containerd's HTTP fallback where the plan allows it.
fn probe_tls(endpoint: &Endpoint, trust: &Trust, plan: &plan::Plan, deadline: Instant) -> Verdict {
    let port = endpoint.port_for(Scheme::Https);
    let stream = match wire::dial(endpoint, port, deadline) {
        Ok(stream) => stream,
        // An unreachable default port (none written) is one of the errors
        // containerd's fallback retries over plain HTTP.
        Err(err) if plan.http_fallback && endpoint.port.is_none() => {
            return fallback(endpoint, deadline, &format!("HTTPS failed ({err})"));
        }
        Err(err) => return Verdict::new(Code::Unreachable, err),
    };
    let report = wire::tls(stream, &endpoint.host, trust.client.as_ref(), deadline);
    match report.outcome {
        wire::TlsOutcome::PlainHttp if plan.http_fallback => fallback(
            endpoint,
            deadline,
            "the server answered the TLS hello in plain HTTP",
        ),
        wire::TlsOutcome::Timeout if plan.http_fallback && report.chain.is_empty() => {
            fallback(endpoint, deadline, "the TLS handshake timed out")
        }
        _ => verify::judge_tls(&report, endpoint, trust, plan.skip_verify),
    }
}

/// containerd's `httpFallback`: the same request again over plain HTTP.
fn fallback(endpoint: &Endpoint, deadline: Instant, why: &str) -> Verdict {
    let verdict = probe_http(endpoint, deadline);
    let message = format!(
        "{why}, so containerd retries over plain HTTP ({}): {}",
        endpoint.url(Scheme::Http),
        verdict.message
    );
    Verdict { message, ..verdict }
}

/// A plain-HTTP request; a TLS-only server is `connect-plain-http` too.
fn probe_http(endpoint: &Endpoint, deadline: Instant) -> Verdict {
    let port = endpoint.port_for(Scheme::Http);
    let stream = match wire::dial(endpoint, port, deadline) {
        Ok(stream) => stream,
        Err(err) => return Verdict::new(Code::Unreachable, err),
    };
    match wire::http_get(stream, &endpoint.host, deadline) {
        wire::HttpOutcome::Http(status) => Verdict::new(
            Code::Trusted,
            format!("plain HTTP, nothing to verify; the server answered `{status}`"),
        ),
        wire::HttpOutcome::Tls => Verdict::new(
            Code::PlainHttp,
            "the endpoint speaks TLS but containerd talks plain HTTP to it: write https:// in hosts.toml",
        ),
        wire::HttpOutcome::Failed(err) if looks_like_tls_server(endpoint, port, deadline) => {
            Verdict::new(
                Code::PlainHttp,
                format!(
                    "{err}; the port answers a TLS hello, so it speaks TLS: write https:// in hosts.toml"
                ),
            )
        }
        wire::HttpOutcome::Failed(err) => Verdict::new(Code::Unreachable, err),
    }
}

/// Whether the port completes a TLS hello (a server that closes on a plain
/// request may still be a TLS server).
fn looks_like_tls_server(endpoint: &Endpoint, port: u16, deadline: Instant) -> bool {
    wire::dial(endpoint, port, deadline).is_ok_and(|stream| {
        !wire::tls(stream, &endpoint.host, None, deadline)
            .chain
            .is_empty()
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    #[test]
    fn codes_are_the_documented_strings() {
        let all = [
            Code::Trusted,
            Code::UnknownAuthority,
            Code::NameMismatch,
            Code::Expired,
            Code::ClientCertRequired,
            Code::PlainHttp,
            Code::Unreachable,
        ];
        let names: Vec<_> = all.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "connect-trusted",
                "connect-unknown-authority",
                "connect-name-mismatch",
                "connect-expired",
                "connect-client-cert-required",
                "connect-plain-http",
                "connect-unreachable"
            ]
        );
        assert!(
            all.iter()
                .all(|c| (c.severity() == Severity::Info) == (*c == Code::Trusted))
        );
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let client = ClientCert {
            path: "/c.crt".into(),
            cert_pem: b"cert".to_vec(),
            key_pem: b"SECRET".to_vec(),
        };
        let ca = CaFile {
            path: "/ca.crt".into(),
            pem: b"SECRET".to_vec(),
        };
        let text = format!("{client:?} {ca:?}");
        // b"SECRET" as Debug prints its bytes: 83, 69, 67, ...
        assert!(
            !text.contains("83, 69, 67") && text.contains("/c.crt"),
            "{text}"
        );
    }

    #[test]
    fn huge_timeout_does_not_panic() {
        let mut e = Endpoint::parse("https://127.0.0.1:1", "r", Origin::Host).unwrap();
        e.dial = Some(SocketAddr::from(([127, 0, 0, 1], 1)));
        let v = probe(&e, &Trust::default(), "2.1".parse().unwrap(), Duration::MAX);
        assert_eq!(v.code, Code::Unreachable, "{v:?}");
    }
}

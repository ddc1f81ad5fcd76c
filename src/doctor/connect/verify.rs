//! Judging a recorded handshake: the chain in Go's order (the leaf's dates,
//! then the name, then the path to a root), against the system roots, each
//! `ca` file and their union, then the client certificate.
//!
//! Go's `x509.Certificate.Verify` checks validity before the host name and
//! the host name before building chains, so a node's pull error is the first
//! of those that fails; the verdict code follows that order and the message
//! adds which trust source would have worked. Two Go rules webpki lacks are
//! added by hand: a leaf that is itself in the pool is trusted (a
//! self-signed cert given as `ca`), and names come from SANs only (webpki
//! agrees).

use std::fmt::Write as _;

use rustls::crypto::aws_lc_rs;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use webpki::{EndEntityCert, KeyUsage};

use super::wire::{TlsOutcome, TlsReport};
use super::{Code, Endpoint, Trust, Verdict};
use crate::cert::{CertInfo, inspect_der};

/// The verdict for a TLS attempt that reached the server.
pub(super) fn judge_tls(
    report: &TlsReport,
    endpoint: &Endpoint,
    trust: &Trust,
    skip_verify: bool,
) -> Verdict {
    let Some(leaf) = report.chain.first() else {
        return no_chain(&report.outcome);
    };
    let seen = describe_chain(&report.chain);
    let judged = judge_chain(&report.chain, leaf, &endpoint.host, trust, UnixTime::now());
    let trusted = match judged {
        Err(verdict) if !skip_verify => return verdict,
        // Say what verification would find: the day it is turned back on.
        Err(verdict) => format!(
            "certificate verification is off, containerd does not check {seen} (it would fail: {}: {})",
            verdict.code.as_str(),
            verdict.message
        ),
        Ok(_) if skip_verify => {
            format!("certificate verification is off, containerd does not check {seen}")
        }
        Ok(via) => format!("{seen} is valid for {} and chains to {via}", endpoint.host),
    };
    // The client certificate only matters once the server's chain passes:
    // Go checks the server first and would report that.
    client_problem(report, trust).unwrap_or_else(|| session(&report.outcome, &seen, trusted))
}

/// How the session went after a chain that passed (or was not checked).
fn session(outcome: &TlsOutcome, seen: &str, trusted: String) -> Verdict {
    match outcome {
        TlsOutcome::Answered(status) => {
            Verdict::new(Code::Trusted, with_status(trusted, status.as_deref()))
        }
        TlsOutcome::Alert(alert) => Verdict::new(
            Code::Unreachable,
            format!("{seen}: the server ended the TLS session with the alert {alert}"),
        ),
        TlsOutcome::Error(err) => Verdict::new(Code::Unreachable, format!("{seen}: {err}")),
        TlsOutcome::Timeout => Verdict::new(
            Code::Unreachable,
            format!("{seen}: the TLS handshake timed out"),
        ),
        TlsOutcome::PlainHttp => no_chain(outcome),
    }
}

fn with_status(mut message: String, status: Option<&str>) -> String {
    if let Some(status) = status {
        let _ = write!(message, "; the server answered `{status}`");
    }
    message
}

/// The server never showed a certificate.
fn no_chain(outcome: &TlsOutcome) -> Verdict {
    match outcome {
        TlsOutcome::PlainHttp => Verdict::new(
            Code::PlainHttp,
            "the server answered the TLS hello in plain HTTP (containerd: \"server gave HTTP \
             response to HTTPS client\"): write http:// for this endpoint, or serve TLS",
        ),
        TlsOutcome::Timeout => Verdict::new(Code::Unreachable, "the TLS handshake timed out"),
        TlsOutcome::Alert(alert) => Verdict::new(
            Code::Unreachable,
            format!("the server refused the TLS hello (alert {alert})"),
        ),
        TlsOutcome::Error(err) => Verdict::new(Code::Unreachable, err.clone()),
        TlsOutcome::Answered(_) => {
            Verdict::new(Code::Unreachable, "the server sent no certificate")
        }
    }
}

/// `connect-client-cert-required` when the server asked and the session
/// then failed (TLS 1.2 fails in the handshake, TLS 1.3 on the first read).
fn client_problem(report: &TlsReport, trust: &Trust) -> Option<Verdict> {
    let failed = matches!(report.outcome, TlsOutcome::Alert(_) | TlsOutcome::Error(_));
    if !report.asked_client_cert || !failed {
        return None;
    }
    let alert = match &report.outcome {
        TlsOutcome::Alert(alert) | TlsOutcome::Error(alert) => alert.as_str(),
        _ => "",
    };
    let message = match (&trust.client, report.sent_client_cert) {
        (Some(client), true) => format!(
            "the server asked for a client certificate and refused {} ({}) with {alert}",
            client.path,
            client_subject(client)
        ),
        (Some(_), false) => format!(
            "the server asked for a client certificate and none was sent: {} ({alert})",
            report
                .client_error
                .as_deref()
                .unwrap_or("the configured pair was not usable")
        ),
        (None, _) => format!(
            "the server asked for a client certificate and none is configured (set `client` in \
             hosts.toml); it ended the session with {alert}"
        ),
    };
    Some(Verdict::new(Code::ClientCertRequired, message))
}

fn client_subject(client: &super::ClientCert) -> String {
    rustls::pki_types::pem::PemObject::pem_slice_iter(&client.cert_pem)
        .find_map(Result::ok)
        .and_then(|der: CertificateDer<'_>| inspect_der(&der).ok())
        .map_or_else(|| "unreadable".to_owned(), |info| info.subject)
}

/// Go's order: the leaf's dates, the name, then a path to a trusted root.
/// `Ok` names the trust sources the chain leads to.
fn judge_chain(
    chain: &[CertificateDer<'static>],
    leaf: &CertificateDer<'static>,
    host: &str,
    trust: &Trust,
    now: UnixTime,
) -> Result<String, Verdict> {
    let info = inspect_der(leaf).map_err(|e| {
        Verdict::new(
            Code::UnknownAuthority,
            format!("the server's certificate does not parse: {e}"),
        )
    })?;
    check_dates(leaf, &info, now)?;
    check_name(leaf, &info, host)?;
    let sources = sources(trust);
    let union: Vec<CertificateDer<'static>> = sources
        .iter()
        .flat_map(|s| s.certs.iter().cloned())
        .collect();
    match chains_to(chain, &union, now) {
        Ok(()) => Ok(trusted_via(chain, &sources, now)),
        Err(err) => Err(chain_failure(chain, &sources, &err)),
    }
}

fn check_dates(leaf: &CertificateDer<'_>, info: &CertInfo, now: UnixTime) -> Result<(), Verdict> {
    let Ok((_, x509)) = x509_parser::parse_x509_certificate(leaf) else {
        return Ok(());
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let (from, until) = (
        x509.validity().not_before.timestamp(),
        x509.validity().not_after.timestamp(),
    );
    let what = if now > until {
        format!("expired on {}", info.not_after)
    } else if now < from {
        format!("is not valid before {}", info.not_before)
    } else {
        return Ok(());
    };
    Err(Verdict::new(
        Code::Expired,
        format!(
            "the server certificate {} (issuer {}) {what}: valid from {} to {}",
            info.subject, info.issuer, info.not_before, info.not_after
        ),
    ))
}

fn check_name(leaf: &CertificateDer<'_>, info: &CertInfo, host: &str) -> Result<(), Verdict> {
    let ok = EndEntityCert::try_from(leaf).is_ok_and(|ee| {
        ServerName::try_from(host)
            .is_ok_and(|name| ee.verify_is_valid_for_subject_name(&name).is_ok())
    });
    if ok {
        return Ok(());
    }
    let sans: Vec<String> = info
        .dns_names
        .iter()
        .map(|d| format!("DNS:{d}"))
        .chain(info.ip_addresses.iter().map(|ip| format!("IP:{ip}")))
        .collect();
    let presented = if sans.is_empty() {
        "no SAN at all".to_owned()
    } else {
        format!("SANs {}", sans.join(", "))
    };
    Err(Verdict::new(
        Code::NameMismatch,
        format!(
            "expected {host} but the certificate {} presents {presented} (Go matches SANs only, never the CN)",
            info.subject
        ),
    ))
}

/// One place trust comes from, as the messages name it.
struct Source {
    label: String,
    certs: Vec<CertificateDer<'static>>,
}

fn sources(trust: &Trust) -> Vec<Source> {
    let system = Source {
        label: trust.system.describe(),
        certs: trust.system.certs.clone(),
    };
    let files = trust.ca.iter().map(|ca| {
        let certs: Vec<_> = rustls::pki_types::pem::PemObject::pem_slice_iter(&ca.pem)
            .filter_map(Result::ok)
            .collect();
        Source {
            label: format!("ca {} ({})", ca.path, subjects(&certs)),
            certs,
        }
    });
    std::iter::once(system).chain(files).collect()
}

/// "CN=A, CN=B and 3 more", or why the file gives containerd nothing.
fn subjects(certs: &[CertificateDer<'_>]) -> String {
    if certs.is_empty() {
        return "no certificate: containerd fails this host with \"unable to load CA cert\""
            .to_owned();
    }
    let mut names: Vec<String> = certs
        .iter()
        .take(3)
        .map(|c| inspect_der(c).map_or_else(|_| "unparsable".to_owned(), |i| i.subject))
        .collect();
    if certs.len() > 3 {
        names.push(format!("and {} more", certs.len() - 3));
    }
    names.join(", ")
}

/// Whether `chain` leads to one of `roots` (webpki, plus Go's rule that a
/// leaf found in the pool is trusted as it is).
fn chains_to(
    chain: &[CertificateDer<'_>],
    roots: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<(), webpki::Error> {
    let Some(leaf) = chain.first() else {
        return Err(webpki::Error::BadDer);
    };
    if roots.contains(leaf) {
        return Ok(());
    }
    let anchors: Vec<_> = roots
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let algorithms = aws_lc_rs::default_provider()
        .signature_verification_algorithms
        .all;
    EndEntityCert::try_from(leaf)?
        .verify_for_usage(
            algorithms,
            &anchors,
            &chain[1..],
            now,
            KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
}

fn trusted_via(chain: &[CertificateDer<'_>], sources: &[Source], now: UnixTime) -> String {
    let via: Vec<&str> = sources
        .iter()
        .filter(|s| chains_to(chain, &s.certs, now).is_ok())
        .map(|s| s.label.as_str())
        .collect();
    if via.is_empty() {
        "the system roots and ca files together".to_owned()
    } else {
        via.join(" and ")
    }
}

fn chain_failure(chain: &[CertificateDer<'_>], sources: &[Source], err: &webpki::Error) -> Verdict {
    let seen = describe_chain(chain);
    if let webpki::Error::CertExpired { not_after, .. }
    | webpki::Error::CertNotValidYet {
        not_before: not_after,
        ..
    } = err
    {
        return Verdict::new(
            Code::Expired,
            format!(
                "a CA certificate on the path from {seen} is outside its validity (ends or starts {})",
                rfc3339(not_after.as_secs())
            ),
        );
    }
    let tried: Vec<&str> = sources.iter().map(|s| s.label.as_str()).collect();
    let why = match err {
        webpki::Error::UnknownIssuer => String::new(),
        other => format!(" ({other:?})"),
    };
    Verdict::new(
        Code::UnknownAuthority,
        format!(
            "{seen} does not chain to any CA containerd would trust{why}; tried {}",
            tried.join("; ")
        ),
    )
}

/// "CN=leaf (issuer CN=CA) + 1 intermediate CN=Int (issuer CN=Root)".
fn describe_chain(chain: &[CertificateDer<'_>]) -> String {
    let one = |c: &CertificateDer<'_>| {
        inspect_der(c).map_or_else(
            |_| "an unparsable certificate".to_owned(),
            |i| format!("{} (issuer {})", i.subject, i.issuer),
        )
    };
    let mut text = chain.first().map(one).unwrap_or_default();
    for c in chain.iter().skip(1) {
        let _ = write!(text, " + {}", one(c));
    }
    text
}

fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs} s after 1970"))
}

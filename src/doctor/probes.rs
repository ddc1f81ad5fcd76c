//! `doctor --connect`: the endpoints containerd would try for each host, in
//! its order (each `[host]`, then `server`, or the registry itself when
//! hosts.toml names none), each probed by [`connect::probe`] with exactly the
//! trust containerd would use: the system roots plus the `ca` files, the
//! first `client` pair, `skip_verify`. A directory containerd reads
//! docker-style is probed with its `*.crt` and `*.cert`/`*.key` files.

use std::fmt::Write as _;
use std::time::Duration;

use crate::formats::hosts_toml::FieldsRead;
use crate::node::{NodePath, Root, read_existing};
use crate::version::ContainerdVersion;

use super::connect::{self, CaFile, ClientCert, Endpoint, Origin, SystemRoots, Trust};
use super::files::resolve;
use super::hosts::HostDir;
use super::{Code, Finding, Severity};

/// Probes every endpoint of every wanted host.
pub fn check(
    root: &Root,
    hosts: &[HostDir],
    v: ContainerdVersion,
    timeout: Duration,
    out: &mut Vec<Finding>,
) {
    let system = connect::load_system_roots(root.dir());
    for d in hosts.iter().filter(|d| d.wanted && d.host != "_default") {
        let mut found = Vec::new();
        for (endpoint, trust, line) in endpoints(root, d, &system) {
            let verdict = connect::probe(&endpoint, &trust, v, timeout);
            let path = if d.exists { &d.hosts_toml } else { &d.dir };
            let mut f = Finding::new(Code::Connect(verdict.code), path, line, verdict.message)
                .host(&d.host);
            if let Some(fix) = fix(verdict.code, d) {
                f = f.fix(fix);
            }
            found.push(f);
        }
        out.extend(fall_through(found));
    }
}

/// containerd tries the endpoints in order and moves on after an error, so
/// a failing endpoint followed by one that works slows pulls down but does
/// not fail them: a warning, saying which one answers instead.
fn fall_through(mut found: Vec<Finding>) -> Vec<Finding> {
    let trusted = Code::Connect(connect::Code::Trusted);
    for i in 0..found.len() {
        let later = found[i + 1..].iter().position(|f| f.code == trusted);
        if let Some(j) = later
            && found[i].severity == Severity::Error
        {
            let next = found[i + 1 + j]
                .message
                .split(": ")
                .next()
                .unwrap_or_default()
                .to_owned();
            let f = &mut found[i];
            f.severity = Severity::Warning;
            let _ = write!(
                f.message,
                "; containerd moves on to {next}, which works, so pulls only slow down"
            );
        }
    }
    found
}

/// The endpoints in containerd's order, each with its trust and line.
fn endpoints(root: &Root, d: &HostDir, system: &SystemRoots) -> Vec<(Endpoint, Trust, usize)> {
    let mut out = Vec::new();
    match d.parsed.as_ref().filter(|_| d.used) {
        Some(read) => {
            for h in &read.hosts {
                if let Ok(e) = Endpoint::parse(&h.url, &d.host, Origin::Host) {
                    out.push((e, trust(root, d, &h.fields, system), h.line));
                }
            }
            let server = match &read.server {
                Some(url) => Endpoint::parse(url, &d.host, Origin::Server),
                None => Endpoint::containerd_default(&d.host),
            };
            if let Ok(e) = server {
                out.push((
                    e,
                    trust(root, d, &read.top, system),
                    read.top.line("server"),
                ));
            }
        }
        None => {
            if let Ok(e) = Endpoint::containerd_default(&d.host) {
                out.push((e, docker_trust(root, d, system), 0));
            }
        }
    }
    out
}

fn trust(root: &Root, d: &HostDir, fields: &FieldsRead, system: &SystemRoots) -> Trust {
    let ca = fields
        .ca
        .iter()
        .filter_map(|p| resolve(&d.dir, p))
        .filter_map(|p| ca_file(root, &p))
        .collect();
    let client = fields.client.iter().find_map(|(cert, key)| {
        let key = key.as_deref().filter(|k| !k.is_empty()).unwrap_or(cert);
        client(root, &resolve(&d.dir, cert)?, &resolve(&d.dir, key)?)
    });
    Trust {
        system: system.clone(),
        ca,
        client,
        skip_verify: fields.skip_verify,
    }
}

fn docker_trust(root: &Root, d: &HostDir, system: &SystemRoots) -> Trust {
    Trust {
        system: system.clone(),
        ca: d
            .docker_cas
            .iter()
            .filter_map(|p| ca_file(root, p))
            .collect(),
        client: d
            .docker_clients
            .iter()
            .find_map(|(c, k)| client(root, c, k)),
        skip_verify: None,
    }
}

fn ca_file(root: &Root, path: &NodePath) -> Option<CaFile> {
    let file = read_existing(root, path).ok()??;
    Some(CaFile {
        path: path.to_string(),
        pem: file.bytes,
    })
}

fn client(root: &Root, cert: &NodePath, key: &NodePath) -> Option<ClientCert> {
    Some(ClientCert {
        path: cert.to_string(),
        cert_pem: read_existing(root, cert).ok()??.bytes,
        key_pem: read_existing(root, key).ok()??.bytes,
    })
}

fn fix(code: connect::Code, d: &HostDir) -> Option<String> {
    let h = &d.host;
    Some(match code {
        connect::Code::Trusted => return None,
        connect::Code::UnknownAuthority => format!(
            "certsd apply --host {h} --ca CA.crt (the CA that issued the server's certificate)"
        ),
        connect::Code::NameMismatch => format!(
            "give the registry a certificate whose SANs hold the name: certsd apply --host {h} --self-signed --renew (or certsd cert server --dns NAME)"
        ),
        connect::Code::Expired => format!(
            "renew the registry's certificate: certsd apply --host {h} --self-signed --renew (or --ca-dir DIR --renew)"
        ),
        connect::Code::ClientCertRequired => format!(
            "certsd apply --host {h} --client-cert client.crt --client-key client.key (a pair the registry's client CA signed)"
        ),
        connect::Code::PlainHttp => format!(
            "write the scheme the endpoint speaks: certsd apply --host {h} --server http://{h} (or https://)"
        ),
        connect::Code::Unreachable => {
            "check the name, port, DNS and firewall: the registry must answer on that address"
                .to_owned()
        }
    })
}

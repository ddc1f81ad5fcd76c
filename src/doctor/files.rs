//! The files hosts.toml points at, and certsd's own server certificates:
//! does each `ca` and `client` file exist (relative paths resolved against
//! the hosts.toml directory, as containerd's `makeAbsPath` does), is it PEM,
//! does a CA file hold a private key, do client certificate and key belong
//! together, and is every certificate valid now and for long enough, for
//! the right use (EKU) and, for a server, the right name (SAN).

use std::collections::BTreeSet;
use std::path::{Component, Path};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cert::{self, CertInfo, San};
use crate::formats::hosts_toml::FieldsRead;
use crate::formats::pem::{self, ProblemKind};
use crate::node::{NodePath, Root, read_existing};
use crate::settings::RegistryHost;
use crate::version::ContainerdVersion;

use super::hosts::HostDir;
use super::{Code, Finding};

/// What a certificate is used for, in messages and the `--certs` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Ca,
    Client,
    Server,
}

impl Use {
    pub fn as_str(self) -> &'static str {
        match self {
            Use::Ca => "ca",
            Use::Client => "client",
            Use::Server => "server",
        }
    }
}

/// A file a host uses: its node path and where it is named.
#[derive(Debug, Clone)]
pub struct Referenced {
    pub path: NodePath,
    pub key: Option<NodePath>,
    pub use_: Use,
    /// hosts.toml and the line of the key naming it (0: docker-style or certsd's).
    pub named_at: (NodePath, usize),
}

/// Checks every file of every host directory.
pub fn check(
    root: &Root,
    hosts: &[HostDir],
    _v: ContainerdVersion,
    warn_days: u32,
    out: &mut Vec<Finding>,
) {
    for d in hosts {
        for r in referenced(d) {
            let found = match r.use_ {
                Use::Ca => ca_file(root, d, &r, warn_days),
                Use::Client => client_files(root, d, &r, warn_days),
                Use::Server => server_files(root, d, &r, warn_days),
            };
            out.extend(found.into_iter().map(|f| f.host(&d.host)));
        }
    }
}

/// Every file the host uses, once each, in hosts.toml order.
pub fn referenced(d: &HostDir) -> Vec<Referenced> {
    let mut out = Vec::new();
    if let Some(read) = &d.parsed {
        let tables = std::iter::once(&read.top).chain(read.hosts.iter().map(|h| &h.fields));
        for fields in tables {
            from_fields(d, fields, &mut out);
        }
    }
    if !d.used {
        for ca in &d.docker_cas {
            out.push(Referenced {
                path: ca.clone(),
                key: None,
                use_: Use::Ca,
                named_at: (d.dir.clone(), 0),
            });
        }
        for (cert, key) in &d.docker_clients {
            out.push(Referenced {
                path: cert.clone(),
                key: Some(key.clone()),
                use_: Use::Client,
                named_at: (d.dir.clone(), 0),
            });
        }
    }
    let server = NodePath::fixed("/etc/certsd").join(&d.host);
    for name in ["server.crt", "ca.crt"] {
        let use_ = if name == "ca.crt" {
            Use::Ca
        } else {
            Use::Server
        };
        out.push(Referenced {
            path: server.join(name),
            key: None,
            use_,
            named_at: (server.clone(), 0),
        });
    }
    let mut seen = BTreeSet::new();
    out.retain(|r| seen.insert((r.path.clone(), r.use_ as u8)));
    out
}

fn from_fields(d: &HostDir, fields: &FieldsRead, out: &mut Vec<Referenced>) {
    let at = |key: &str| (d.hosts_toml.clone(), fields.line(key));
    for ca in &fields.ca {
        if let Some(path) = resolve(&d.dir, ca) {
            out.push(Referenced {
                path,
                key: None,
                use_: Use::Ca,
                named_at: at("ca"),
            });
        }
    }
    for (cert, key) in &fields.client {
        let key = key.as_deref().filter(|k| !k.is_empty()).unwrap_or(cert);
        if let (Some(path), Some(key)) = (resolve(&d.dir, cert), resolve(&d.dir, key)) {
            out.push(Referenced {
                path,
                key: Some(key),
                use_: Use::Client,
                named_at: at("client"),
            });
        }
    }
}

/// A `ca`/`client` path as containerd resolves it: relative to the host
/// directory, cleaned (`..` pops, as `filepath.Join` does).
pub fn resolve(dir: &NodePath, raw: &str) -> Option<NodePath> {
    let joined = if raw.starts_with('/') {
        Path::new(raw).to_path_buf()
    } else {
        dir.as_path().join(raw)
    };
    let mut clean = std::path::PathBuf::from("/");
    for part in joined.components() {
        match part {
            Component::Normal(name) => clean.push(name),
            Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    NodePath::parse("path", &clean, "/etc/containerd/certs.d/HOST/ca.crt").ok()
}

/// The file's bytes, or the file-missing finding (certsd's own files may be absent).
fn read(
    root: &Root,
    d: &HostDir,
    r: &Referenced,
    path: &NodePath,
) -> Result<Vec<u8>, Option<Finding>> {
    let why = match read_existing(root, path) {
        Ok(Some(e)) => return Ok(e.bytes),
        Ok(None) if r.named_at.1 == 0 && r.use_ != Use::Client => return Err(None),
        Ok(None) => "does not exist".to_owned(),
        Err(err) => format!("cannot be read ({err:#})"),
    };
    let (file, line) = &r.named_at;
    let pull = if r.use_ == Use::Ca {
        "unable to read CA cert"
    } else {
        "failed to load X509 key pair"
    };
    Err(Some(
        Finding::new(
            Code::FileMissing,
            file,
            *line,
            format!(
                "{} {path} {why}: every pull through this host fails ({pull})",
                r.use_.as_str()
            ),
        )
        .fix(format!(
            "put the file at {path}, or name the right one: certsd apply --host {} {}",
            d.host,
            if r.use_ == Use::Ca {
                "--ca FILE"
            } else {
                "--client-cert FILE --client-key FILE"
            }
        )),
    ))
}

fn ca_file(root: &Root, d: &HostDir, r: &Referenced, warn_days: u32) -> Vec<Finding> {
    let bytes = match read(root, d, r, &r.path) {
        Ok(b) => b,
        Err(f) => return f.into_iter().collect(),
    };
    let mut out = Vec::new();
    for p in pem::ca_problems(r.path.as_path(), &bytes) {
        let (code, fix) = match p.kind {
            ProblemKind::HoldsPrivateKey => (
                Code::CaHoldsPrivateKey,
                format!(
                    "openssl x509 -in {} -out ca-only.crt keeps the certificate alone; certsd apply --host {} --ca ca-only.crt; then replace the registry's key, which every node has seen",
                    r.path, d.host
                ),
            ),
            ProblemKind::NotPem | ProblemKind::NoCertificate => (
                Code::NotPem,
                format!(
                    "certsd apply --host {} --ca CA.crt (a PEM CERTIFICATE file)",
                    d.host
                ),
            ),
            _ => continue,
        };
        out.push(Finding::new(code, &r.path, 0, super::bare(&p.message, r.path.as_str())).fix(fix));
    }
    out.extend(
        certificates(&bytes)
            .iter()
            .filter_map(|c| dates(r, d, c, warn_days)),
    );
    out
}

fn client_files(root: &Root, d: &HostDir, r: &Referenced, warn_days: u32) -> Vec<Finding> {
    let key_path = r.key.clone().unwrap_or_else(|| r.path.clone());
    let cert = match read(root, d, r, &r.path) {
        Ok(c) => c,
        Err(f) => return f.into_iter().collect(),
    };
    // A one-file `client` holds both: read (and report) it once.
    let key = if key_path == r.path {
        cert.clone()
    } else {
        match read(root, d, r, &key_path) {
            Ok(k) => k,
            Err(f) => return f.into_iter().collect(),
        }
    };
    let mut out = Vec::new();
    for p in pem::client_problems(r.path.as_path(), &cert, key_path.as_path(), &key) {
        let (code, at) = match p.kind {
            ProblemKind::KeyMismatch => (Code::ClientKeyMismatch, &r.path),
            ProblemKind::KeyUnusable => (Code::ClientKeyUnusable, &key_path),
            _ if p.message.starts_with(key_path.as_str()) => (Code::NotPem, &key_path),
            _ => (Code::NotPem, &r.path),
        };
        out.push(
            Finding::new(code, at, 0, super::bare(&p.message, at.as_str()))
                .fix(format!("certsd apply --host {} --client-cert CERT --client-key KEY (a matching, unencrypted PEM pair)", d.host)),
        );
    }
    if let Some(leaf) = certificates(&cert).first() {
        out.extend(eku(r, d, leaf, "clientAuth"));
        out.extend(dates(r, d, leaf, warn_days));
    }
    out
}

fn server_files(root: &Root, d: &HostDir, r: &Referenced, warn_days: u32) -> Vec<Finding> {
    let Ok(bytes) = read(root, d, r, &r.path) else {
        return Vec::new();
    };
    let Some(leaf) = certificates(&bytes).into_iter().next() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let registry = RegistryHost::parse(&d.host, "host");
    let name = registry
        .as_ref()
        .map_or(d.host.as_str(), RegistryHost::name);
    if let Ok(wanted) = San::parse(name)
        && !leaf.covers(std::slice::from_ref(&wanted))
    {
        out.push(
            Finding::new(
                Code::CertNoSan,
                &r.path,
                0,
                format!(
                    "certsd's server certificate for {} has no SAN for {name} (SANs: {}); Go, and so containerd, ignores the CN",
                    d.host,
                    sans(&leaf)
                ),
            )
            .fix(format!("certsd apply --host {} --self-signed --renew (or --ca-dir DIR --renew), then restart the registry", d.host)),
        );
    }
    out.extend(eku(r, d, &leaf, "serverAuth"));
    out.extend(dates(r, d, &leaf, warn_days));
    out
}

fn sans(c: &CertInfo) -> String {
    let all: Vec<String> = c
        .dns_names
        .iter()
        .cloned()
        .chain(c.ip_addresses.iter().map(ToString::to_string))
        .collect();
    if all.is_empty() {
        "none".to_owned()
    } else {
        all.join(", ")
    }
}

/// The certificates of a PEM file that parse (problems are reported apart).
pub fn certificates(bytes: &[u8]) -> Vec<CertInfo> {
    let text = String::from_utf8_lossy(bytes);
    rustls_pki_types::CertificateDer::pem_slice_iter(text.as_bytes())
        .filter_map(Result::ok)
        .filter_map(|der| cert::inspect_der(&der).ok())
        .collect()
}

use rustls_pki_types::pem::PemObject as _;

fn eku(r: &Referenced, d: &HostDir, c: &CertInfo, wanted: &str) -> Option<Finding> {
    let ekus = &c.extended_key_usage;
    (!ekus.is_empty() && !ekus.iter().any(|e| e == wanted || e == "any")).then(|| {
        Finding::new(
            Code::CertWrongEku,
            &r.path,
            0,
            format!(
                "{} certificate {} has extended key usage {} but not {wanted}: Go refuses it for that use",
                r.use_.as_str(),
                c.subject,
                ekus.join(", ")
            ),
        )
        .fix(renew_fix(r, d))
    })
}

fn renew_fix(r: &Referenced, d: &HostDir) -> String {
    let h = &d.host;
    match r.use_ {
        Use::Ca => {
            format!("get the CA's current certificate and certsd apply --host {h} --ca NEW.crt")
        }
        Use::Client => format!(
            "certsd cert client --ca-dir DIR --name NAME, then certsd apply --host {h} --client-cert client.crt --client-key client.key"
        ),
        Use::Server => format!(
            "certsd apply --host {h} --self-signed --renew (or --ca-dir DIR --renew), then restart the registry"
        ),
    }
}

/// cert-expired / cert-not-yet-valid / cert-expiring.
fn dates(r: &Referenced, d: &HostDir, c: &CertInfo, warn_days: u32) -> Option<Finding> {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()?
        .format(&Rfc3339)
        .ok()?;
    let what = format!("{} certificate {}", r.use_.as_str(), c.subject);
    let (code, message) = if c.days_left < 0 {
        (
            Code::CertExpired,
            format!("{what} expired at {}: TLS with it fails", c.not_after),
        )
    } else if c.not_before.as_str() > now.as_str() {
        (
            Code::CertNotYetValid,
            format!(
                "{what} is valid only from {}: TLS with it fails until then (is the clock right?)",
                c.not_before
            ),
        )
    } else if c.days_left < i64::from(warn_days) {
        (
            Code::CertExpiring,
            format!(
                "{what} expires at {}, within the {warn_days} days warned of",
                c.not_after
            ),
        )
    } else {
        return None;
    };
    Some(Finding::new(code, &r.path, 0, message).fix(renew_fix(r, d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_host_directory() {
        let dir = NodePath::fixed("/etc/containerd/certs.d/r:5000");
        assert_eq!(
            resolve(&dir, "ca.crt").unwrap().as_str(),
            "/etc/containerd/certs.d/r:5000/ca.crt"
        );
        assert_eq!(
            resolve(&dir, "../shared/ca.crt").unwrap().as_str(),
            "/etc/containerd/certs.d/shared/ca.crt"
        );
        assert_eq!(
            resolve(&dir, "/etc/pki/ca.crt").unwrap().as_str(),
            "/etc/pki/ca.crt"
        );
    }
}

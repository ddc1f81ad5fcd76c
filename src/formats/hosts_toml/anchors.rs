//! Trust anchors (`ca`, `client`, `skip_verify = true`): which ones an edit
//! would replace or drop, and whether the file's anchors are certsd's own.
//!
//! certsd gives every endpoint of a host the same trust and copies every
//! file it trusts into the host's directory, so its own anchors have one
//! shape: the same on the top level and on every `[host]` table, with
//! absolute paths directly in that directory. Anything else (a mirror's own
//! CA, a relative path, a CA under /etc/pki) was set by someone else, and
//! a run must not replace or drop it without being told to.

use std::path::Path;

use super::read::FieldsRead;
use super::{EndpointTrust, HostsFile, HostsSpec};

/// One anchor a run would replace or drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorChange {
    /// `the top level` or `[host."URL"]`.
    pub place: String,
    pub key: &'static str,
    /// The value as the file has it.
    pub old: String,
    /// The value the run writes; `None` when it removes the key.
    pub new: Option<String>,
}

impl std::fmt::Display for AnchorChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let new = self.new.as_deref().unwrap_or("removed");
        write!(f, "{}: {} {} -> {new}", self.place, self.key, self.old)
    }
}

/// The anchors of one table, with paths as containerd resolves them.
#[derive(Debug, PartialEq, Eq)]
struct Anchors {
    ca: Vec<String>,
    client: Vec<(String, Option<String>)>,
    skip_verify: bool,
}

impl Anchors {
    fn read(fields: &FieldsRead, dir: &str) -> Anchors {
        Anchors {
            ca: fields.ca.iter().map(|p| resolve(dir, p)).collect(),
            client: fields
                .client
                .iter()
                .map(|(c, k)| (resolve(dir, c), k.as_ref().map(|k| resolve(dir, k))))
                .collect(),
            skip_verify: fields.skip_verify == Some(true),
        }
    }

    fn wanted(trust: &EndpointTrust) -> Anchors {
        Anchors {
            ca: trust.ca.clone(),
            client: trust
                .client
                .iter()
                .map(|c| (c.cert.clone(), Some(c.key.clone())))
                .collect(),
            skip_verify: trust.skip_verify,
        }
    }
}

/// containerd joins relative `ca`/`client` paths to the host directory.
fn resolve(dir: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", dir.trim_end_matches('/'))
    }
}

impl HostsFile {
    /// The anchors of the tables `spec` keeps (the top level, and each
    /// `[host]` it lists) that it would replace or drop. Added anchors, and
    /// the same path with new content (a rotated CA), are not changes.
    pub fn anchor_changes(&self, spec: &HostsSpec, dir: &str) -> Vec<AnchorChange> {
        let read = self.read();
        if self.original.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        compare(
            "the top level",
            &read.top,
            &spec.server_trust,
            dir,
            &mut out,
        );
        for host in &read.hosts {
            if let Some(endpoint) = spec.endpoints.iter().find(|e| e.url == host.url) {
                let place = format!("[host.{:?}]", host.url);
                compare(&place, &host.fields, &endpoint.trust, dir, &mut out);
            }
        }
        out
    }

    /// Whether the file's anchors have the shape certsd writes (see the
    /// module doc): then replacing them is certsd's own business.
    pub fn anchors_are_certsds(&self, dir: &str) -> bool {
        let read = self.read();
        let tables: Vec<&FieldsRead> = std::iter::once(&read.top)
            .chain(read.hosts.iter().map(|h| &h.fields))
            .collect();
        let first = Anchors::read(&read.top, dir);
        let in_dir = |p: &String| Path::new(p).parent() == Some(Path::new(dir));
        tables.iter().all(|t| Anchors::read(t, dir) == first)
            && tables.iter().all(|t| {
                t.ca.iter().all(in_dir)
                    && t.client
                        .iter()
                        .all(|(c, k)| in_dir(c) && k.as_ref().is_none_or(in_dir))
            })
    }
}

/// Adds the changes from `fields` (as the file has them) to `trust`.
fn compare(
    place: &str,
    fields: &FieldsRead,
    trust: &EndpointTrust,
    dir: &str,
    out: &mut Vec<AnchorChange>,
) {
    let (old, new) = (Anchors::read(fields, dir), Anchors::wanted(trust));
    let mut change = |key, old: String, new: Option<String>| {
        out.push(AnchorChange {
            place: place.to_string(),
            key,
            old,
            new,
        });
    };
    if !old.ca.iter().all(|p| new.ca.contains(p)) {
        change(
            "ca",
            list(&fields.ca),
            (!new.ca.is_empty()).then(|| list(&new.ca)),
        );
    }
    if !old.client.is_empty() && old.client != new.client {
        let new = (!new.client.is_empty()).then(|| pairs(&new.client));
        change("client", pairs(&fields.client), new);
    }
    if old.skip_verify && !new.skip_verify {
        change("skip_verify", "true".into(), None);
    }
}

/// `"a"`, or `["a", "b"]`, as TOML writes it.
fn list(paths: &[String]) -> String {
    match paths {
        [one] => format!("{one:?}"),
        many => format!("{many:?}"),
    }
}

fn pairs(client: &[(String, Option<String>)]) -> String {
    let one = |(c, k): &(String, Option<String>)| match k {
        Some(k) => format!("[{c:?}, {k:?}]"),
        None => format!("{c:?}"),
    };
    match client {
        [only @ (_, None)] => one(only),
        many => format!("[{}]", many.iter().map(one).collect::<Vec<_>>().join(", ")),
    }
}

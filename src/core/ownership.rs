//! How certsd knows a host directory is its own, and `--prune`.
//!
//! When certsd creates a directory's hosts.toml it also writes `.certsd`
//! beside it: a seal and the names of the files it copied there. The seal
//! is SHA-256 over the directory's node path and the hosts.toml certsd
//! wrote (credentials left out), so neither a copied header comment, nor a
//! whole directory copied elsewhere (`cp -r`), nor a hosts.toml edited by
//! hand since reads as certsd's. A directory whose hosts.toml certsd did
//! not create gets no marker and is never pruned.
//!
//! `--prune` removes a directory the run does not list only when its seal
//! holds and it holds nothing but hosts.toml, `.certsd` and the files the
//! marker names; anything else is kept, with a notice saying why.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use anyhow::Result;

use super::plan::{FileChange, Notice, Plan, Signer};
use crate::node::{Node, NodePath};

/// The marker's file name in each host directory certsd owns.
pub const MARKER: &str = ".certsd";
const HOSTS: &str = "hosts.toml";

/// Adds (or updates) the marker of every host directory the plan writes
/// whose hosts.toml certsd creates or already owns.
pub fn mark(node: &Node, certs_dir: &NodePath, plan: &mut Plan) -> Result<()> {
    let mut copied: HashMap<String, Vec<String>> = HashMap::new();
    // Each hosts.toml by its place in the plan, not a copy: a fleet's are megabytes.
    let mut hosts: Vec<(NodePath, bool, usize)> = Vec::new();
    for (at, change) in plan.files.iter().enumerate() {
        let Some(dir) = change.path.parent() else {
            continue;
        };
        if dir.parent().as_ref() != Some(certs_dir) {
            continue;
        }
        let name = change.path.file_name();
        if name == HOSTS {
            if change.after().is_some() {
                hosts.push((dir, change.before.is_none(), at));
            }
        } else if name != MARKER {
            copied
                .entry(dir.as_str().to_string())
                .or_default()
                .push(name);
        }
    }
    // A CA certsd will make is copied in by `apply` after planning: list it now.
    for order in &plan.orders {
        if let Signer::New { trust_copy, .. } = &order.signer
            && let Some(dir) = trust_copy.parent()
        {
            let names = copied.entry(dir.as_str().to_string()).or_default();
            if !names.contains(&trust_copy.file_name()) {
                names.push(trust_copy.file_name());
            }
        }
    }
    for (dir, created, at) in hosts {
        let path = dir.join(MARKER);
        let existing = node.file(&path)?;
        let Some(old) = existing
            .as_ref()
            .map(|e| Marker::parse(&e.bytes))
            .or(created.then(Marker::default))
        else {
            continue;
        };
        let mut files = copied.remove(dir.as_str()).unwrap_or_default();
        for name in old.files {
            if !files.contains(&name) && node.file(&dir.join(&name))?.is_some() {
                files.push(name);
            }
        }
        let text = Marker {
            seal: seal(&dir, plan.files[at].after_held().unwrap_or_default()),
            files,
        }
        .render();
        let mut after = text.into_bytes();
        after.shrink_to_fit();
        plan.files
            .push(FileChange::write(path, existing, after, 0o644));
    }
    Ok(())
}

/// Plans the removal of every host directory under `certs_dir` that certsd
/// owns and `listed` does not name; notes each one kept and why.
pub fn prune(
    node: &Node,
    certs_dir: &NodePath,
    listed: &HashSet<&str>,
    plan: &mut Plan,
) -> Result<()> {
    for (name, is_dir) in node.dir_entries(certs_dir)? {
        if !is_dir || listed.contains(name.as_str()) {
            continue;
        }
        let dir = certs_dir.join(&name);
        match removable(node, &dir)? {
            Ok(files) => {
                for file in files {
                    if let Some(existing) = node.file(&dir.join(&file))? {
                        let secret = looks_secret(&existing);
                        plan.files.push(FileChange {
                            secret,
                            ..FileChange::delete(dir.join(&file), existing)
                        });
                    }
                }
                let mode = node.dir_mode(&dir)?.unwrap_or(0o755);
                plan.files.push(FileChange::remove_dir(dir, mode));
            }
            Err(why) => {
                plan.warn(Notice::warning("prune-kept", format!("{dir}: kept, {why}")).at(&dir));
            }
        }
    }
    Ok(())
}

/// The files to remove (marker last), or why the directory stays.
fn removable(node: &Node, dir: &NodePath) -> Result<Result<Vec<String>, String>> {
    let Some(marker) = node.file(&dir.join(MARKER))? else {
        return Ok(Err(format!(
            "certsd did not create it (no {MARKER} marker)"
        )));
    };
    let marker = Marker::parse(&marker.bytes);
    let hosts = node.file(&dir.join(HOSTS))?;
    if hosts.is_none_or(|h| seal(dir, &h.bytes) != marker.seal) {
        return Ok(Err(
            "its hosts.toml is not the one certsd wrote here (edited since, or the directory was copied); remove it yourself if it should go".to_string()
        ));
    }
    let mut files = marker.files.clone();
    let foreign: Vec<String> = node
        .dir_entries(dir)?
        .into_iter()
        .filter(|(n, is_dir)| *is_dir || !(n == HOSTS || n == MARKER || files.contains(n)))
        .map(|(n, _)| n)
        .collect();
    if !foreign.is_empty() {
        return Ok(Err(format!(
            "it holds files certsd did not put there ({})",
            foreign.join(", ")
        )));
    }
    files.push(HOSTS.to_string());
    files.push(MARKER.to_string());
    Ok(Ok(files))
}

/// A key (or a credential) must not be shown in the deletion diff.
fn looks_secret(existing: &crate::node::Existing) -> bool {
    existing.mode.trailing_zeros() >= 6
        || String::from_utf8_lossy(&existing.bytes).contains("PRIVATE KEY")
}

/// The parsed `.certsd` file.
#[derive(Debug, Default, PartialEq, Eq)]
struct Marker {
    seal: String,
    files: Vec<String>,
}

impl Marker {
    fn parse(bytes: &[u8]) -> Marker {
        let text = text_of(bytes);
        let mut marker = Marker::default();
        for line in text.lines() {
            if let Some(seal) = line.strip_prefix("seal ") {
                marker.seal = seal.trim().to_string();
            } else if let Some(file) = line.strip_prefix("file ") {
                let file = file.trim();
                // Only plain names in this directory: a marker must never point elsewhere.
                if !file.is_empty() && !file.contains('/') && file != ".." && file != "." {
                    marker.files.push(file.to_string());
                }
            }
        }
        marker
    }

    fn render(&self) -> String {
        let mut out = String::from(
            "# certsd created this directory: `certsd apply --prune` removes it once no spec lists the host.\n\
             # The seal binds this file to this directory and to the hosts.toml certsd wrote.\n",
        );
        let _ = writeln!(out, "seal {}", self.seal);
        for file in &self.files {
            let _ = writeln!(out, "file {file}");
        }
        out
    }
}

/// SHA-256 over the directory and its hosts.toml, credentials left out.
fn seal(dir: &NodePath, hosts_toml: &[u8]) -> String {
    let text = text_of(hosts_toml);
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"certsd-owned-v1\0");
    ctx.update(dir.as_str().as_bytes());
    ctx.update(b"\0");
    // Without a token anywhere, every line is hashed whole: one update over
    // the text gives the same digest as one per line, at a fraction of the
    // cost. Both tokens start with a `B`, which most files lack.
    if text.contains('B') && CREDENTIAL_TOKENS.iter().any(|t| text.contains(t)) {
        for line in text.split_inclusive('\n') {
            ctx.update(without_credential(line).as_bytes());
        }
    } else {
        ctx.update(text.as_bytes());
    }
    // Hex by table: `write!` per byte cost more than the hash itself.
    let digest = ctx.finish();
    let mut hex = String::with_capacity(64);
    for b in digest.as_ref() {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The text of `bytes`, invalid UTF-8 replaced. The check alone for the
/// usual valid file: the lossy conversion walks it chunk by chunk, and a
/// fleet's rerun reads thousands of markers and hosts.toml files.
fn text_of(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// What starts a credential in a header value.
const CREDENTIAL_TOKENS: [&str; 2] = ["Basic ", "Bearer "];

/// The line up to a `Basic `/`Bearer ` token: the seal must not let anyone
/// test password guesses against a world-readable file.
fn without_credential(line: &str) -> &str {
    CREDENTIAL_TOKENS
        .iter()
        .find_map(|t| line.find(t).map(|i| &line[..i + t.len()]))
        .unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seal_binds_the_directory_and_the_content() {
        let a = NodePath::fixed("/etc/containerd/certs.d/a");
        let b = NodePath::fixed("/etc/containerd/certs.d/b");
        let text = b"server = \"https://a\"\n";
        assert_eq!(seal(&a, text), seal(&a, text));
        assert_ne!(seal(&a, text), seal(&b, text));
        assert_ne!(seal(&a, text), seal(&a, b"server = \"https://x\"\n"));
        let one = b"Authorization = \"Basic AAAA\"\n";
        let two = b"Authorization = \"Basic BBBB\"\n";
        assert_eq!(seal(&a, one), seal(&a, two));
    }

    #[test]
    fn markers_round_trip_and_never_name_other_directories() {
        let m = Marker {
            seal: "ab".into(),
            files: vec!["ca.crt".into()],
        };
        assert_eq!(Marker::parse(m.render().as_bytes()), m);
        let evil = Marker::parse(b"seal x\nfile ../../etc/passwd\nfile ..\nfile ok.crt\n");
        assert_eq!(evil.files, ["ok.crt"]);
    }
}

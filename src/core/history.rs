//! The journal of applies, the way back: what every `apply` that changed
//! something did, so `certsd rollback` can undo it.
//!
//! It lives beside config.toml, in `.certsd-history/`: one `NNNNNN.json`
//! per apply, numbered upwards, and `NNNNNN/` holding a copy of every file
//! that apply replaced or deleted. Entries and copies are mode 0600: a copy
//! may be a key or hold a credential. config.toml
//! gets no copy here: the writer already keeps `config.toml.certsd-backup-*`
//! beside it, and rollback finds the one whose SHA-256 the entry names.
//! An entry lists each file the apply touched with the SHA-256 and mode it
//! had and the ones the apply wrote, and the directories the apply created.
//!
//! The entry, its copies and the removal of entries beyond `--keep-backups`
//! are files of the same plan as the apply itself, so the writer puts them
//! in place in the same crash-safe group: a node never holds an apply
//! without its entry, or an entry without its apply. This is apart from the
//! writer's own intent record (`.certsd-journal`), which exists only while
//! a group is being written.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::core::plan::{FileChange, Made, Op, Plan};
use crate::node::reads::Sha256;
use crate::node::{Existing, NodePath, Root, list_dir, read_existing};

/// The directory's name, beside config.toml.
pub const DIR_NAME: &str = ".certsd-history";
/// The mode of entries and copies: they may hold keys and credentials.
const MODE: u32 = 0o600;

/// One apply. `F` is the list of files: read back it is a `Vec`; written by
/// an apply it is [`Changes`], made from the plan as it is serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry<F = Vec<Touched>> {
    /// Always 1 for now: a newer certsd's entries are refused, not misread.
    pub certsd_history: u32,
    pub id: u32,
    /// When (UTC, RFC 3339), for people.
    pub time: String,
    pub files: F,
    /// Node paths of the directories the apply created, parents first.
    pub created_dirs: Vec<String>,
    /// A rollback restored what this apply replaced.
    pub rolled_back: bool,
}

/// One file an apply touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Touched {
    pub path: String,
    /// What it held before; `None`: it did not exist.
    pub before: Option<State>,
    /// What the apply left; `None`: the apply deleted it.
    pub after: Option<State>,
    /// A key or credential: never shown.
    pub secret: bool,
    /// containerd reads it only at start (config.toml).
    pub needs_restart: bool,
}

/// A file's content, by hash, and mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub sha256: String,
    pub mode: u32,
    /// The node path of the copy of the old content; `None` for a file the
    /// writer keeps `*.certsd-backup-*` of (config.toml).
    pub backup: Option<String>,
}

/// `.certsd-history/` beside `config`.
pub fn dir(config: &NodePath) -> NodePath {
    config
        .parent()
        .unwrap_or_else(|| NodePath::fixed("/"))
        .join(DIR_NAME)
}

fn entry_path(dir: &NodePath, id: u32) -> NodePath {
    dir.join(&format!("{id:06}.json"))
}

fn copies_dir(dir: &NodePath, id: u32) -> NodePath {
    dir.join(&format!("{id:06}"))
}

/// One entry as it is on disk.
#[derive(Debug, Clone)]
pub struct Stored {
    pub path: NodePath,
    pub file: Existing,
    pub entry: Entry,
}

/// Every entry, oldest first; nothing when there is no history yet.
pub fn read_all(root: &Root, dir: &NodePath) -> Result<Vec<Stored>> {
    let Some(listing) = list_dir(root, dir)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for name in listing.iter().filter(|e| !e.is_dir).map(|e| &e.name) {
        let Some(id) = name
            .strip_suffix(".json")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry_path(dir, id);
        let Some(file) = read_existing(root, &path)? else {
            continue;
        };
        let entry: Entry = serde_json::from_slice(&file.bytes)
            .with_context(|| format!("{path}: not a certsd history entry; move it aside"))?;
        check(&path, &entry, dir, id)?;
        out.push(Stored { path, file, entry });
    }
    out.sort_by_key(|s| s.entry.id);
    Ok(out)
}

/// An entry is read with suspicion: rollback writes and deletes what it
/// names, so every path must be a plain absolute node path and every copy
/// must lie in this entry's own directory.
fn check(path: &NodePath, entry: &Entry, dir: &NodePath, id: u32) -> Result<()> {
    if entry.certsd_history != 1 || entry.id != id {
        bail!("{path}: written by another certsd version, or renamed; move it aside");
    }
    let copies = copies_dir(dir, id);
    let plain = |p: &str| {
        NodePath::parse("history", std::path::Path::new(p), "/etc/...")
            .is_ok_and(|n| n.as_str() == p)
    };
    for touched in &entry.files {
        let copy = touched.before.as_ref().and_then(|b| b.backup.as_deref());
        let copy_ok = copy.is_none_or(|c| plain(c) && c.starts_with(&format!("{copies}/")));
        if !plain(&touched.path) || !copy_ok {
            bail!(
                "{path}: names a path certsd would not write ({}); move the entry aside",
                touched.path
            );
        }
    }
    if let Some(bad) = entry.created_dirs.iter().find(|d| !plain(d)) {
        bail!("{path}: names a directory certsd would not create ({bad}); move the entry aside");
    }
    Ok(())
}

/// What recording one apply needs to know.
pub struct Record<'a> {
    pub root: &'a Root,
    pub config: &'a NodePath,
    /// `--keep-backups`: entries to keep (0: none recorded).
    pub keep: usize,
    pub time: String,
}

/// The files that record one apply: the entry, and the rest of the group.
#[derive(Default)]
pub struct Recording<'a> {
    /// Copies of what the apply replaces or deletes, and the removal of
    /// entries beyond `--keep-backups`.
    pub files: Vec<FileChange>,
    pub entry: Option<EntryFile<'a>>,
}

impl Recording<'_> {
    /// The entry, for the writer.
    pub fn made(&self) -> Option<&dyn Made> {
        self.entry.as_ref().map(|e| e as &dyn Made)
    }
}

/// The files that record `plan` (whose certificates are already made):
/// the entry, copies of what it replaces or deletes, and the removal of
/// entries beyond `keep`. Nothing when the plan changes nothing.
pub fn record<'a>(rec: &Record<'_>, plan: &'a Plan) -> Result<Recording<'a>> {
    let changing: Vec<&FileChange> = plan
        .files
        .iter()
        .filter(|f| f.changes() && f.op != Op::RemoveDir)
        .collect();
    if rec.keep == 0 || changing.is_empty() {
        return Ok(Recording::default());
    }
    let dir = dir(rec.config);
    let stored = read_all(rec.root, &dir)?;
    let id = stored.last().map_or(1, |s| s.entry.id + 1);
    let copies = copies_dir(&dir, id);
    let mut files: Vec<FileChange> = changing
        .iter()
        .enumerate()
        .filter_map(|(n, change)| copy_of(change, &copies, n))
        .collect();
    let entry = Entry {
        certsd_history: 1,
        id,
        time: rec.time.clone(),
        created_dirs: created_dirs(rec.root, &changing, &dir)?,
        files: Changes { changing, copies },
        rolled_back: false,
    };
    let drop = (stored.len() + 1).saturating_sub(rec.keep);
    for old in stored.iter().take(drop) {
        files.extend(forget(rec.root, &dir, old)?);
    }
    let path = entry_path(&dir, id);
    Ok(Recording {
        files,
        entry: Some(EntryFile { path, entry }),
    })
}

/// The files an apply changes, as its entry lists them: each [`Touched`]
/// is made from the plan as the entry is written, so a fleet's entry (ten
/// thousand hosts: megabytes) is never held whole.
#[derive(Debug)]
pub struct Changes<'a> {
    changing: Vec<&'a FileChange>,
    /// This entry's directory of copies.
    copies: NodePath,
}

impl Serialize for Changes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.changing.iter().enumerate().map(|(n, change)| {
            let copy = copy_path(change, &self.copies, n);
            touched(change, copy.map(|c| c.as_str().to_string()))
        }))
    }
}

/// The entry of one apply, a file of its group.
#[derive(Debug)]
pub struct EntryFile<'a> {
    path: NodePath,
    entry: Entry<Changes<'a>>,
}

impl Made for EntryFile<'_> {
    fn path(&self) -> &NodePath {
        &self.path
    }

    fn mode(&self) -> u32 {
        MODE
    }

    fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &self.entry)?;
        out.write_all(b"\n")
    }
}

/// The entry's text.
pub fn to_json(entry: &Entry) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(entry).unwrap_or_default();
    text.push(b'\n');
    text
}

/// Where the entry keeps a copy of what `change` replaces or deletes, as
/// `N-NAME`: none for a new file, or one the writer backs up itself.
fn copy_path(change: &FileChange, dir: &NodePath, n: usize) -> Option<NodePath> {
    match &change.before {
        Some(_) if !change.backup => Some(dir.join(&format!("{n}-{}", change.path.file_name()))),
        _ => None,
    }
}

/// The copy of what `change` replaces or deletes (see [`copy_path`]).
fn copy_of(change: &FileChange, dir: &NodePath, n: usize) -> Option<FileChange> {
    let (copy, old) = (copy_path(change, dir, n)?, change.before.as_ref()?);
    Some(FileChange::exact(
        copy,
        None,
        old.bytes.clone(),
        MODE,
        change.secret,
    ))
}

/// [`Touched`] as an apply writes it: borrowed from the plan, each hash
/// made as it is serialised (the same text: a test reads it back).
#[derive(Serialize)]
struct TouchedOut<'a> {
    path: &'a str,
    before: Option<StateOut>,
    after: Option<StateOut>,
    secret: bool,
    needs_restart: bool,
}

/// [`State`] as an apply writes it.
#[derive(Serialize)]
struct StateOut {
    sha256: Sha256,
    mode: u32,
    backup: Option<String>,
}

/// What the entry says of one change; `copy` is where its old content is kept.
fn touched(change: &FileChange, copy: Option<String>) -> TouchedOut<'_> {
    let before = change.before.as_ref().map(|old| StateOut {
        sha256: Sha256::of(&old.bytes),
        mode: old.mode,
        backup: copy,
    });
    let after = change.after_sha256().map(|sha256| StateOut {
        sha256,
        mode: change.mode(),
        backup: None,
    });
    TouchedOut {
        path: change.path.as_str(),
        before,
        after,
        secret: change.secret,
        needs_restart: change.needs_restart,
    }
}

/// Deletes an entry beyond `--keep-backups`, its copies and their directory.
fn forget(root: &Root, dir: &NodePath, old: &Stored) -> Result<Vec<FileChange>> {
    let mut out = Vec::new();
    let copies = copies_dir(dir, old.entry.id);
    let listing = list_dir(root, &copies)?.unwrap_or_default();
    for name in listing.iter().filter(|e| !e.is_dir).map(|e| &e.name) {
        let path = copies.join(name);
        if let Some(file) = read_existing(root, &path)? {
            // A copy may be a key: its deletion is never shown.
            out.push(FileChange {
                secret: true,
                ..FileChange::delete(path, file)
            });
        }
    }
    if !listing.is_empty() && listing.iter().all(|e| !e.is_dir) {
        out.push(FileChange::remove_dir(copies, 0o700));
    }
    out.push(FileChange {
        secret: true,
        ..FileChange::delete(old.path.clone(), old.file.clone())
    });
    Ok(out)
}

/// The directories that do not exist yet and that writing `changes` makes,
/// parents first; the history's own directory is not the apply's.
fn created_dirs(root: &Root, changes: &[&FileChange], history: &NodePath) -> Result<Vec<String>> {
    let mut made: Vec<String> = Vec::new();
    // Beside the list: a fleet's apply creates thousands of directories.
    let mut seen = std::collections::HashSet::new();
    for change in changes.iter().filter(|c| matches!(c.op, Op::Write { .. })) {
        let mut missing = Vec::new();
        let mut at = change.path.parent();
        while let Some(dir) = at {
            if dir.as_str() == "/" || root.resolve(&dir)?.symlink_metadata().is_ok() {
                break;
            }
            missing.push(dir.as_str().to_string());
            at = dir.parent();
        }
        for dir in missing.into_iter().rev() {
            let ours = dir == history.as_str() || dir.starts_with(&format!("{history}/"));
            if !ours && seen.insert(dir.clone()) {
                made.push(dir);
            }
        }
    }
    Ok(made)
}

/// The hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    crate::node::reads::sha256(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, copy: Option<&str>) -> Entry {
        Entry {
            certsd_history: 1,
            id: 3,
            time: String::new(),
            files: vec![Touched {
                path: path.into(),
                before: Some(State {
                    sha256: "0".repeat(64),
                    mode: 0o644,
                    backup: copy.map(String::from),
                }),
                after: None,
                secret: false,
                needs_restart: false,
            }],
            created_dirs: Vec::new(),
            rolled_back: false,
        }
    }

    #[test]
    fn an_entry_naming_paths_certsd_would_not_write_is_refused() {
        let dir = NodePath::fixed("/etc/containerd/.certsd-history");
        let at = entry_path(&dir, 3);
        let good = entry(
            "/etc/containerd/certs.d/r/ca.crt",
            Some("/etc/containerd/.certsd-history/000003/0-ca.crt"),
        );
        assert!(check(&at, &good, &dir, 3).is_ok());
        for bad in [
            entry("/etc/containerd/../shadow", None),
            entry("etc/shadow", None),
            entry("/etc/containerd/ca.crt", Some("/etc/shadow")),
            entry(
                "/etc/containerd/ca.crt",
                Some("/etc/containerd/.certsd-history/000004/0-ca.crt"),
            ),
        ] {
            assert!(check(&at, &bad, &dir, 3).is_err(), "{bad:?}");
        }
        assert!(
            check(&at, &good, &dir, 4).is_err(),
            "an entry under another number"
        );
    }

    #[test]
    fn an_apply_entry_made_from_its_plan_is_one_as_read_back() {
        let old = Existing {
            bytes: b"old".to_vec(),
            mode: 0o640,
        };
        let hosts = NodePath::fixed("/etc/containerd/certs.d/r/hosts.toml");
        let ca = NodePath::fixed("/etc/containerd/certs.d/r/ca.crt");
        let plan = Plan {
            files: vec![
                FileChange::write(hosts, Some(old), b"new".to_vec(), 0o644),
                FileChange::write(ca, None, b"ca".to_vec(), 0o644),
            ],
            ..Plan::default()
        };
        let file = EntryFile {
            path: NodePath::fixed("/etc/containerd/.certsd-history/000001.json"),
            entry: Entry {
                certsd_history: 1,
                id: 1,
                time: "now".into(),
                files: Changes {
                    changing: plan.files.iter().collect(),
                    copies: NodePath::fixed("/etc/containerd/.certsd-history/000001"),
                },
                created_dirs: vec!["/etc/containerd/certs.d/r".into()],
                rolled_back: false,
            },
        };
        let mut text = Vec::new();
        file.write_to(&mut text).unwrap();
        let back: Entry = serde_json::from_slice(&text).unwrap();
        assert_eq!(to_json(&back), text, "not the text of the entry read back");
        let replaced = back.files[0].before.as_ref().unwrap();
        assert_eq!(
            (
                replaced.sha256.as_str(),
                replaced.mode,
                replaced.backup.as_deref()
            ),
            (
                sha256(b"old").as_str(),
                0o640,
                Some("/etc/containerd/.certsd-history/000001/0-hosts.toml")
            )
        );
        assert_eq!(back.files[1].before, None);
        assert_eq!(back.files[1].after.as_ref().unwrap().sha256, sha256(b"ca"));
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let e = entry("/etc/x", None);
        let back: Entry = serde_json::from_slice(&to_json(&e)).unwrap();
        assert_eq!(back, e);
        assert!(serde_json::from_str::<Entry>("{\"certsd_history\":1,\"extra\":1}").is_err());
    }
}

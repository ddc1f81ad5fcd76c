//! The intent record that makes a group of renames crash-safe.
//!
//! Before the first temporary file is made, the journal (`.certsd-journal`
//! in the lock's directory) lists every temporary file and its target,
//! marked *staging*. Once every temporary file is durable it is rewritten
//! as *committed* (and synced); only then do the renames start, and the
//! journal is removed after the last. The next run, under the lock, reads
//! a journal left by a killed run and repairs by itself: a staging journal
//! is rolled back (its temporary files removed: no target had changed), a
//! committed one rolled forward (the remaining renames done from the
//! durable temporary files; a target already holding the recorded SHA-256
//! is done). Either way it says what it repaired, and no state needs a
//! human. The journal is read back with suspicion: paths must stay inside
//! the root and temporary files must sit beside their target.

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::durable;
use crate::node::read_bounded;

/// The journal's file name in the lock directory.
pub(super) const JOURNAL: &str = ".certsd-journal";

/// One run's group of renames. `E` is the list of entries: read back it is
/// a `Vec`; a run writes its own from the group's items as it serialises
/// them (`group::Entries`), so a fleet's journal is never held whole.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Journal<E = Vec<Entry>> {
    /// The run that wrote it (for messages).
    pub pid: u32,
    /// All temporary files were durable: the renames may have started.
    pub committed: bool,
    /// Directories this run created, parents first (removed again on roll-back).
    pub created_dirs: Vec<String>,
    /// In rename order.
    pub entries: E,
}

/// One target: its temporary file (`None` for a delete) and new content's hash.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Entry {
    /// The node path, for messages.
    pub node: String,
    /// Relative to the root.
    pub target: String,
    pub tmp: Option<String>,
    pub sha256: Option<String>,
    /// An emptied directory to remove (`--prune`).
    #[serde(default)]
    pub dir: bool,
}

/// The hex SHA-256 of `bytes`.
pub(super) fn sha256(bytes: &[u8]) -> String {
    crate::node::reads::sha256(bytes)
}

/// A path as the journal holds it: relative to the root.
pub(super) fn relative(root: &Path, real: &Path) -> Result<String> {
    relative_str(root, real).map(str::to_string)
}

/// [`relative`], borrowed from `real`.
pub(super) fn relative_str<'a>(root: &Path, real: &'a Path) -> Result<&'a str> {
    let inside = real.strip_prefix(root).unwrap_or(real);
    inside
        .to_str()
        .map(|s| s.trim_start_matches('/'))
        .with_context(|| format!("{}: the path is not UTF-8", real.display()))
}

/// Writes the journal atomically (temp, fsync when `sync`, rename).
pub(super) fn write<E: Serialize>(dir: &Path, journal: &Journal<E>, sync: bool) -> Result<()> {
    let path = dir.join(JOURNAL);
    let tmp = durable::temp_name(&path);
    let result = (|| -> std::io::Result<()> {
        let _ = fs::remove_file(&tmp);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // Streamed: a fleet's journal is megabytes, never held whole.
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut file);
        serde_json::to_writer(&mut out, journal)?;
        out.flush()?;
        drop(out);
        if sync {
            file.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        if sync {
            durable::sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("{}: cannot write the run's journal", path.display()))
}

/// Removes the journal once its group is done (or undone).
pub(super) fn remove(dir: &Path) -> Result<()> {
    let path = dir.join(JOURNAL);
    match fs::remove_file(&path) {
        Err(err) if err.kind() != ErrorKind::NotFound => {
            Err(err).with_context(|| format!("{}: cannot remove", path.display()))
        }
        _ => Ok(()),
    }
}

/// The size the journal will have, for the file-size limit check; an
/// entry that cannot be written (a path that is not UTF-8) fails here,
/// before anything is written.
pub(super) fn size<E: Serialize>(journal: &Journal<E>) -> Result<u64> {
    let mut counted = Counter(0);
    serde_json::to_writer(&mut counted, journal).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(counted.0)
}

/// Counts the bytes written to it, keeping none.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Repairs what a killed run left in `dir`'s journal; says what it did.
pub(super) fn recover(root: &Path, dir: &Path) -> Result<Option<String>> {
    let path = dir.join(JOURNAL);
    let Some((bytes, _)) = read_bounded(&path, &path.display())? else {
        return Ok(None);
    };
    let journal: Journal = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: the journal of an interrupted certsd run cannot be read; it lists the files that run was writing: check them, then remove it",
            path.display()
        )
    })?;
    check(&journal).with_context(|| format!("{}: not a journal certsd wrote", path.display()))?;
    let said = if journal.committed {
        roll_forward(root, &journal)?
    } else {
        roll_back(root, &journal)
    };
    remove(dir)?;
    Ok(Some(said))
}

fn roll_forward(root: &Path, journal: &Journal) -> Result<String> {
    let mut done = Vec::new();
    let mut lost = Vec::new();
    let mut dirs = Vec::new();
    for entry in &journal.entries {
        let target = root.join(&entry.target);
        dirs.extend(target.parent().map(Path::to_path_buf));
        match (&entry.tmp, &entry.sha256) {
            (Some(tmp), Some(hash)) => {
                let tmp = root.join(tmp);
                if tmp.symlink_metadata().is_ok() {
                    fs::rename(&tmp, &target)
                        .with_context(|| format!("{}: cannot finish writing it", entry.node))?;
                    done.push(entry.node.clone());
                } else if !holds(&target, hash) {
                    lost.push(entry.node.clone());
                }
            }
            _ if entry.dir => {
                // A killed run's own temporary files in it are not "something".
                durable::remove_debris(&target);
                // Not empty: something appeared there since; keep it.
                if fs::remove_dir(&target).is_ok() {
                    done.push(entry.node.clone());
                }
            }
            _ => {
                if target.symlink_metadata().is_ok() {
                    durable::remove_atomic(&target)
                        .with_context(|| format!("{}: cannot finish removing it", entry.node))?;
                    done.push(entry.node.clone());
                } else {
                    // Killed between moving the file aside and unlinking it.
                    let _ = fs::remove_file(durable::temp_name_of(&target, journal.pid));
                }
            }
        }
    }
    durable::sync_dirs(&dirs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    let mut said = format!(
        "completed the writes of an interrupted run (pid {}): {}",
        journal.pid,
        list(&done)
    );
    if !lost.is_empty() {
        said += "; these no longer hold what it wrote (changed since?), so plan again: ";
        said += &lost.join(", ");
    }
    Ok(said)
}

fn roll_back(root: &Path, journal: &Journal) -> String {
    let mut removed = 0;
    for tmp in journal.entries.iter().filter_map(|e| e.tmp.as_ref()) {
        if fs::remove_file(root.join(tmp)).is_ok() {
            removed += 1;
        }
    }
    for dir in journal.created_dirs.iter().rev() {
        // Only if empty: something else may have been put there since.
        let _ = fs::remove_dir(root.join(dir));
    }
    format!(
        "undid an interrupted run (pid {}): removed {removed} temporary file(s); none of its files had been changed",
        journal.pid
    )
}

fn list(nodes: &[String]) -> String {
    if nodes.is_empty() {
        "nothing was left to do".into()
    } else {
        nodes.join(", ")
    }
}

/// Whether `path` is a file whose content has this hash.
fn holds(path: &Path, hash: &str) -> bool {
    matches!(read_bounded(path, &path.display()), Ok(Some((bytes, _))) if sha256(&bytes) == hash)
}

/// A journal from disk may have been tampered with: every path must be a
/// plain relative path, and each temporary file a certsd temp name beside its target.
fn check(journal: &Journal) -> Result<()> {
    for dir in &journal.created_dirs {
        plain(dir)?;
    }
    for entry in &journal.entries {
        plain(&entry.target)?;
        if let Some(tmp) = &entry.tmp {
            plain(tmp)?;
            let (t, p) = (Path::new(tmp), Path::new(&entry.target));
            let name = t.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if t.parent() != p.parent() || !durable::is_temp_name(name) {
                bail!("{tmp} is not a temporary file beside {}", entry.target);
            }
        }
    }
    Ok(())
}

fn plain(path: &str) -> Result<PathBuf> {
    let p = PathBuf::from(path);
    if path.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!("{path:?} is not a plain path inside the root");
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tampered_journal_is_refused() {
        let entry = |target: &str, tmp: &str| Entry {
            dir: false,
            node: "/x".into(),
            target: target.into(),
            tmp: Some(tmp.into()),
            sha256: Some(String::new()),
        };
        let journal = |e| Journal {
            pid: 1,
            committed: true,
            created_dirs: Vec::new(),
            entries: vec![e],
        };
        assert!(check(&journal(entry("etc/a", "etc/.a.certsd-tmp-9"))).is_ok());
        for (target, tmp) in [
            ("../etc/a", "../etc/.a.certsd-tmp-9"),
            ("/etc/a", "/etc/.a.certsd-tmp-9"),
            ("etc/a", "tmp/.a.certsd-tmp-9"),
            ("etc/a", "etc/shadow"),
        ] {
            assert!(
                check(&journal(entry(target, tmp))).is_err(),
                "{target} {tmp}"
            );
        }
    }
}

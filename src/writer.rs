//! The one module that writes to disk.
//!
//! A plan is written as one group: every new file is first written to a
//! temporary file in its own directory (mode and old owner set, fsync), and
//! only when all of them are ready are they renamed over their targets, each
//! directory synced after. A failure while staging (disk full, permissions)
//! leaves every target as it was; a crash leaves each file old or new, never
//! half of one. Deletes are renames away from the name, then an unlink.
//! config.toml gets a backup copy before it changes, and is renamed last so
//! the old config stays in force until everything it points at is there.
//! Concurrent runs (Ansible and cloud-init on one node) are serialised by an
//! advisory lock.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::core::plan::{FileChange, Op, Plan};
use crate::node::{NodePath, Root};

/// What `apply` wrote.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Files written or deleted, as node paths.
    pub written: Vec<NodePath>,
    /// Backups made, as node paths.
    pub backups: Vec<NodePath>,
}

/// Held while a run reads and writes; released on drop.
#[derive(Debug)]
pub struct Lock {
    _dir: File,
}

/// Takes an exclusive lock on the nearest existing directory above `path`
/// (a directory lock leaves no lock file behind). Waits for another run.
pub fn lock(root: &Root, path: &NodePath) -> Result<Lock> {
    let mut dir = root.host_path(path);
    while !dir.is_dir() {
        if !dir.pop() {
            break;
        }
    }
    let handle =
        File::open(&dir).with_context(|| format!("cannot open {} to lock it", dir.display()))?;
    handle
        .lock()
        .with_context(|| format!("cannot lock {}", dir.display()))?;
    Ok(Lock { _dir: handle })
}

/// A file ready to be renamed into place.
struct Staged<'a> {
    change: &'a FileChange,
    real: PathBuf,
    /// The temporary file (`None` for a delete).
    tmp: Option<PathBuf>,
}

/// Writes every changing file of the plan as one group (see the module doc).
pub fn apply(root: &Root, plan: &Plan) -> Result<Outcome> {
    let mut order: Vec<&FileChange> = plan.files.iter().filter(|f| f.changes()).collect();
    order.sort_by_key(|f| f.needs_restart);
    let staged = stage(root, &order)?;
    let mut outcome = Outcome::default();
    for file in &staged {
        if file.change.backup && file.change.before.is_some() {
            let backup = free_backup_path(root, &file.change.path)?;
            copy_for_backup(&file.real, &root.resolve(&backup)?)?;
            outcome.backups.push(backup);
        }
    }
    for file in &staged {
        commit(file).with_context(|| format!("{}: cannot write", file.change.path))?;
        outcome.written.push(file.change.path.clone());
    }
    Ok(outcome)
}

/// Writes the temporary files; on any failure removes the ones made.
fn stage<'a>(root: &Root, order: &[&'a FileChange]) -> Result<Vec<Staged<'a>>> {
    let mut staged: Vec<Staged<'a>> = Vec::new();
    let result = order.iter().try_for_each(|change| {
        let real = root.resolve(&change.path)?;
        let tmp = match &change.op {
            Op::Write { after, mode } => Some(
                stage_one(&real, after, *mode)
                    .with_context(|| format!("{}: cannot write", change.path))?,
            ),
            Op::Delete | Op::RemoveDir => None,
        };
        staged.push(Staged { change, real, tmp });
        Ok(())
    });
    if let Err(err) = result {
        for file in &staged {
            if let Some(tmp) = &file.tmp {
                let _ = fs::remove_file(tmp);
            }
        }
        return Err(err);
    }
    Ok(staged)
}

fn stage_one(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf> {
    let dir = path.parent().context("no parent directory")?;
    make_dirs(dir)?;
    let owner = fs::metadata(path).ok().map(|m| (m.uid(), m.gid()));
    let tmp = temp_name(path);
    if let Err(err) = write_temp(&tmp, bytes, mode, owner) {
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    Ok(tmp)
}

/// Renames a staged file into place (or removes a deleted one) and syncs its directory.
fn commit(file: &Staged<'_>) -> Result<()> {
    let dir = file.real.parent().context("no parent directory")?;
    match &file.tmp {
        Some(tmp) => fs::rename(tmp, &file.real)
            .with_context(|| format!("cannot rename into {}", file.real.display()))?,
        None if file.change.op == Op::RemoveDir => remove_empty_dir(&file.real)?,
        None => remove_atomic(&file.real)?,
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

/// Moves the file away from its name in one step, then unlinks it: a
/// crash leaves the name either holding the old file or gone.
fn remove_atomic(path: &Path) -> Result<()> {
    let tmp = temp_name(path);
    fs::rename(path, &tmp).with_context(|| format!("cannot remove {}", path.display()))?;
    fs::remove_file(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))
}

/// `--prune`: the directory's files were removed just before; `remove_dir`
/// refuses a directory that is not empty, so a file that appeared meanwhile
/// is never lost.
fn remove_empty_dir(path: &Path) -> Result<()> {
    fs::remove_dir(path).with_context(|| format!("cannot remove the directory {}", path.display()))
}

/// `config.toml.certsd-backup-20261123T154500Z`
fn backup_path(path: &NodePath) -> NodePath {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "now".into());
    let name = format!("{}.certsd-backup-{stamp}", path.file_name());
    path.parent()
        .unwrap_or_else(|| NodePath::fixed("/"))
        .join(&name)
}

/// A backup name no earlier backup uses: two runs in one second (a script
/// applying twice) must not overwrite the first, older backup.
fn free_backup_path(root: &Root, path: &NodePath) -> Result<NodePath> {
    let first = backup_path(path);
    let mut candidate = first.clone();
    for n in 2.. {
        if !root.resolve(&candidate)?.exists() {
            break;
        }
        let name = format!("{}-{n}", first.file_name());
        candidate = first
            .parent()
            .unwrap_or_else(|| NodePath::fixed("/"))
            .join(&name);
    }
    Ok(candidate)
}

fn copy_for_backup(from: &Path, to: &Path) -> Result<()> {
    let bytes =
        fs::read(from).with_context(|| format!("{}: cannot read for backup", from.display()))?;
    let mode = fs::metadata(from).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    write_atomic(to, &bytes, mode).with_context(|| format!("{}: cannot write backup", to.display()))
}

/// Replaces `path` with `bytes` atomically, keeping the old owner.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = stage_one(path, bytes, mode)?;
    let dir = path.parent().context("no parent directory")?;
    if let Err(err) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(err).with_context(|| format!("cannot rename into {}", path.display()));
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

/// Creates missing parent directories with mode 0755.
fn make_dirs(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.certsd-tmp-{}", std::process::id()))
}

fn write_temp(tmp: &Path, bytes: &[u8], mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
    let _ = fs::remove_file(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)?;
    if let Some((uid, gid)) = owner {
        // Only root may give files away; as another user the owner is ours anyway.
        let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
    }
    // Set after chown: chown may clear set-id bits, and umask must not narrow the mode.
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_mode_and_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/key");
        write_atomic(&path, b"one", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(dir.path().join("a"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        write_atomic(&path, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("a/b")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file may remain");
    }

    fn plan_of(changes: Vec<FileChange>) -> Plan {
        Plan {
            files: changes,
            ..Plan::default()
        }
    }

    fn new_file(path: &str, bytes: &str, mode: u32) -> FileChange {
        FileChange::write(NodePath::fixed(path), None, bytes.as_bytes().to_vec(), mode)
    }

    #[test]
    fn a_plan_is_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        let ok = plan_of(vec![
            new_file("/x/a.crt", "cert", 0o644),
            new_file("/x/a.key", "key", 0o600),
        ]);
        apply(&root, &ok).unwrap();
        assert_eq!(fs::read(dir.path().join("x/a.key")).unwrap(), b"key");
        let mode = fs::metadata(dir.path().join("x/a.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The second target's directory cannot be made (a file is in the way).
        fs::write(dir.path().join("blocker"), "").unwrap();
        let bad = plan_of(vec![
            new_file("/y/b.crt", "cert", 0o644),
            new_file("/blocker/b.key", "key", 0o600),
        ]);
        assert!(apply(&root, &bad).is_err());
        assert!(
            !dir.path().join("y/b.crt").exists(),
            "half of a group was written"
        );
        assert_eq!(
            fs::read_dir(dir.path().join("y")).unwrap().count(),
            0,
            "a temp file was left"
        );
    }

    #[test]
    fn a_delete_removes_the_file_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        fs::create_dir_all(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/hosts.toml"), "old").unwrap();
        fs::write(dir.path().join("d/keep"), "other").unwrap();
        let before = crate::node::read_existing(&root, &NodePath::fixed("/d/hosts.toml"))
            .unwrap()
            .unwrap();
        let plan = plan_of(vec![FileChange::delete(
            NodePath::fixed("/d/hosts.toml"),
            before,
        )]);
        let outcome = apply(&root, &plan).unwrap();
        assert_eq!(outcome.written, vec![NodePath::fixed("/d/hosts.toml")]);
        let left: Vec<_> = fs::read_dir(dir.path().join("d"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["keep"], "the file or a temp copy of it remains");
    }

    #[test]
    fn backup_names_sit_beside_the_file() {
        let b = backup_path(&NodePath::fixed("/etc/containerd/config.toml"));
        assert!(
            b.as_str()
                .starts_with("/etc/containerd/config.toml.certsd-backup-"),
            "{b}"
        );
    }

    #[test]
    fn lock_finds_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        let lock = lock(&root, &NodePath::fixed("/etc/containerd/config.toml"));
        assert!(lock.is_ok());
    }
}

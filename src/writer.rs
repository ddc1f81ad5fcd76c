//! The one module that writes to disk.
//!
//! Every file is replaced atomically: a temporary file in the same directory,
//! the mode (and the old owner) set, fsync, rename over the target, fsync the
//! directory. A crash leaves the old file or the new one, never half of one.
//! config.toml gets a backup copy before it changes. Concurrent runs (Ansible
//! and cloud-init on one node) are serialised by an advisory lock.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::paths::{NodePath, Root};
use crate::plan::Plan;

/// What `apply` wrote.
#[derive(Debug, Default)]
pub struct Outcome {
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

/// Writes every changing file of the plan; files containerd reads only at
/// start (config.toml) go last, so a failure leaves the old config in force.
pub fn apply(root: &Root, plan: &Plan) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    let mut order: Vec<_> = plan.files.iter().filter(|f| f.changes()).collect();
    order.sort_by_key(|f| f.needs_restart);
    for change in order {
        let real = root.resolve(&change.path)?;
        if change.backup && change.before.is_some() {
            let backup = free_backup_path(root, &change.path)?;
            copy_for_backup(&real, &root.resolve(&backup)?)?;
            outcome.backups.push(backup);
        }
        write_atomic(&real, &change.after, change.mode)
            .with_context(|| format!("{}: cannot write", change.path))?;
        outcome.written.push(change.path.clone());
    }
    Ok(outcome)
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
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().context("no parent directory")?;
    make_dirs(dir)?;
    let owner = fs::metadata(path).ok().map(|m| (m.uid(), m.gid()));
    let tmp = temp_name(path);
    let result = write_temp(&tmp, bytes, mode, owner).and_then(|()| {
        fs::rename(&tmp, path).with_context(|| format!("cannot rename into {}", path.display()))
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

/// Writes several new files as one step: every temporary file is written and
/// synced before the first rename, so a failure (disk full, permissions)
/// leaves none of them half-made; a certificate never lands without its key.
pub fn write_group(files: &[(PathBuf, Vec<u8>, u32)]) -> Result<()> {
    let mut staged: Vec<(PathBuf, &Path)> = Vec::new();
    let result = files.iter().try_for_each(|(path, bytes, mode)| {
        make_dirs(path.parent().context("no parent directory")?)?;
        let tmp = temp_name(path);
        staged.push((tmp.clone(), path));
        write_temp(&tmp, bytes, *mode, None)
            .with_context(|| format!("{}: cannot write", path.display()))
    });
    if result.is_err() {
        for (tmp, _) in &staged {
            let _ = fs::remove_file(tmp);
        }
        return result;
    }
    for (tmp, path) in &staged {
        fs::rename(tmp, path).with_context(|| format!("cannot rename into {}", path.display()))?;
        if let Some(dir) = path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("cannot sync {}", dir.display()))?;
        }
    }
    Ok(())
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

    #[test]
    fn a_group_is_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let ok = vec![
            (dir.path().join("x/a.crt"), b"cert".to_vec(), 0o644),
            (dir.path().join("x/a.key"), b"key".to_vec(), 0o600),
        ];
        write_group(&ok).unwrap();
        assert_eq!(fs::read(dir.path().join("x/a.key")).unwrap(), b"key");
        assert_eq!(
            fs::metadata(dir.path().join("x/a.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        // The second target's directory cannot be made (a file is in the way).
        fs::write(dir.path().join("blocker"), "").unwrap();
        let bad = vec![
            (dir.path().join("y/b.crt"), b"cert".to_vec(), 0o644),
            (dir.path().join("blocker/b.key"), b"key".to_vec(), 0o600),
        ];
        assert!(write_group(&bad).is_err());
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

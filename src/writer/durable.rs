//! File-system primitives of the writer: temporary names, syncing, the
//! limits checked before anything is written, and the debris of killed runs.
//!
//! Durability is bought cheaply (DESIGN.md §4): a small group fsyncs each
//! temporary file and each directory it renames in; a large one (a fleet
//! spec) instead calls `syncfs(2)` once per file system before the renames
//! and once after, which costs the same for 3 files or 3,000. A small group
//! avoids syncfs because it flushes everything else dirty on that file
//! system too (an image pull next door).

use std::collections::BTreeSet;
use std::fs::{self, DirBuilder, File};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Groups of more files than this use syncfs instead of an fsync per file.
pub(super) const SYNCFS_ABOVE: usize = 16;
/// Longest file name (`NAME_MAX`) and path (`PATH_MAX` less its NUL) Linux takes.
const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4095;

/// `.NAME.certsd-tmp-PID` beside `path`.
pub(super) fn temp_name(path: &Path) -> PathBuf {
    temp_name_of(path, pid())
}

/// The temporary name run `pid` gave `path` (a killed run's, on recovery).
pub(super) fn temp_name_of(path: &Path, pid: u32) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.certsd-tmp-{pid}"))
}

/// This process's id, asked of the kernel once (glibc does not cache
/// getpid, and every file of a group needs its temporary name several times).
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// Whether `name` is one certsd gives its temporary files.
pub(super) fn is_temp_name(name: &str) -> bool {
    temp_pid(name).is_some()
}

fn temp_pid(name: &str) -> Option<u32> {
    let (head, pid) = name.rsplit_once(".certsd-tmp-")?;
    (head.starts_with('.') && head.len() > 1 && pid.bytes().all(|b| b.is_ascii_digit()))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Refuses a target whose name or path Linux could not hold, before
/// anything is created (a 253-character host plus a port is one).
pub(super) fn check_path(node: &dyn std::fmt::Display, real: &Path) -> Result<()> {
    let tmp = temp_name(real);
    if tmp.as_os_str().len() > PATH_MAX {
        bail!("{node}: the path is longer than the {PATH_MAX} bytes Linux allows");
    }
    for part in tmp.iter().chain(real.iter()) {
        if part.as_bytes().len() > NAME_MAX {
            bail!(
                "{node}: {:?} is longer than the {NAME_MAX} bytes a file name can hold",
                part.to_string_lossy()
            );
        }
    }
    Ok(())
}

/// Refuses a group holding a file larger than the file-size limit
/// (`ulimit -f`): writing it would raise SIGXFSZ, killing certsd mid-group
/// with no word. Checked before the first byte, so every file stays as it was.
pub(super) fn check_size_limit(node: &dyn std::fmt::Display, size: u64) -> Result<()> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Fsize);
    if let Some(max) = limit.current
        && size > max
    {
        bail!(
            "{node}: needs {size} bytes, more than this process's file-size limit of {max} bytes (ulimit -f); raise the limit and run again"
        );
    }
    Ok(())
}

/// Creates `dir` and its missing parents (0755); returns those it created, parents first.
pub(super) fn make_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut at = dir;
    while at.symlink_metadata().is_err() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(up) => at = up,
            None => break,
        }
    }
    missing.reverse();
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(missing)
}

/// Moves the file away from its name in one step, then unlinks it: a
/// crash leaves the name either holding the old file or gone.
pub(super) fn remove_atomic(path: &Path) -> std::io::Result<()> {
    let tmp = temp_name(path);
    fs::rename(path, &tmp)?;
    fs::remove_file(&tmp)
}

pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// fsyncs each distinct directory.
pub(super) fn sync_dirs(dirs: &[&Path]) -> Result<()> {
    // A directory `--prune` removed has nothing left to sync.
    let unique: BTreeSet<&Path> = dirs.iter().copied().filter(|d| d.exists()).collect();
    for dir in unique {
        sync_dir(dir).with_context(|| format!("{}: cannot sync", dir.display()))?;
    }
    Ok(())
}

/// One syncfs(2) per file system holding any of `dirs`.
pub(super) fn sync_filesystems(dirs: &[&Path]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for dir in dirs.iter().filter(|d| d.exists()) {
        let handle = File::open(dir).with_context(|| format!("{}: cannot sync", dir.display()))?;
        let dev = handle.metadata().map(|m| m.dev()).unwrap_or_default();
        if seen.insert(dev) {
            rustix::fs::syncfs(&handle)
                .with_context(|| format!("{}: cannot sync its file system", dir.display()))?;
        }
    }
    Ok(())
}

/// Removes temporary files in `dir` left by certsd runs that are no longer
/// running (the caller holds the lock; the pid check also spares a run
/// under another root that shares the directory). Returns how many.
pub(super) fn remove_debris(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_pid) else {
            continue;
        };
        let alive = pid != self::pid()
            && Path::new(&format!("/proc/{pid}"))
                .symlink_metadata()
                .is_ok();
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if !alive && regular && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// `io::Error` with a hint for the errors a full or limited disk gives.
pub(super) fn explain(err: &std::io::Error) -> anyhow::Error {
    let hint = match err.kind() {
        ErrorKind::StorageFull => "; free some space and run again",
        ErrorKind::FileTooLarge => "; the file-size limit (ulimit -f) is too small",
        ErrorKind::ReadOnlyFilesystem => "; the file system is mounted read-only",
        _ => "",
    };
    anyhow::anyhow!("{err}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised() {
        let tmp = temp_name(Path::new("/a/hosts.toml"));
        let name = tmp.file_name().unwrap().to_str().unwrap();
        assert!(is_temp_name(name), "{name}");
        for other in [
            "hosts.toml",
            ".x.certsd-tmp-",
            ".certsd-tmp-12",
            ".x.certsd-tmp-1a",
        ] {
            assert!(!is_temp_name(other), "{other}");
        }
    }

    #[test]
    fn names_linux_cannot_hold_are_refused() {
        let long = "a".repeat(256);
        assert!(check_path(&"x", &Path::new("/c").join(&long).join("hosts.toml")).is_err());
        assert!(check_path(&"x", Path::new("/c/r.example.com:5000/hosts.toml")).is_ok());
    }
}

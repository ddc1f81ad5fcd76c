//! The run lock: one advisory `flock` on the root directory itself.
//!
//! The root (`--root`, `/` by default and for the `cert` commands) exists
//! before certsd creates anything, so every run locks the same inode however
//! much of the tree an earlier run made; it is the root, so no symlink can
//! lead the lock out of it; and a directory lock leaves no file behind. The
//! kernel drops it when the holder exits, killed or not. A waiter that gives
//! up names the holder, found in /proc/locks.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::node::read_bounded;

/// Held while a run reads and writes; released on drop (or when the process dies).
#[derive(Debug)]
pub(super) struct Held {
    _dir: File,
}

/// Waits up to `timeout` for the exclusive lock on `dir`.
pub(super) fn acquire(dir: &Path, timeout: Duration) -> Result<Held> {
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::DIRECTORY.bits().cast_signed())
        .open(dir)
        .with_context(|| format!("{}: cannot open to lock it", dir.display()))?;
    let start = Instant::now();
    let mut told = false;
    let mut pause = Duration::from_millis(5);
    loop {
        match handle.try_lock() {
            Ok(()) => return Ok(Held { _dir: handle }),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("{}: cannot lock", dir.display()));
            }
        }
        let waited = start.elapsed();
        if waited >= timeout {
            bail!(
                "{} is locked by {}: gave up after {}s (--lock-timeout); wait for that run to finish, or stop it (a lock never outlives its process)",
                dir.display(),
                holder(&handle),
                timeout.as_secs()
            );
        }
        if !told && waited >= Duration::from_secs(2) {
            eprintln!(
                "certsd: waiting for {} to finish with {}",
                holder(&handle),
                dir.display()
            );
            told = true;
        }
        std::thread::sleep(pause.min(timeout.saturating_sub(waited)));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// "pid 1234 (certsd)": the process holding a flock on this file, from /proc/locks.
/// Only the command name is shown: a holder's arguments may carry a header secret.
fn holder(handle: &File) -> String {
    let unknown = || "another process".to_string();
    let Ok(meta) = handle.metadata() else {
        return unknown();
    };
    let key = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(meta.dev()),
        rustix::fs::minor(meta.dev()),
        meta.ino()
    );
    let Ok(Some((locks, _))) = read_bounded(Path::new("/proc/locks"), &"/proc/locks") else {
        return unknown();
    };
    let text = String::from_utf8_lossy(&locks);
    let pid = text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // "1: FLOCK ADVISORY WRITE PID MAJ:MIN:INO 0 EOF"; waiters have "->" after the number.
        (fields.get(1) == Some(&"FLOCK") && fields.get(5) == Some(&key.as_str()))
            .then(|| fields.get(4).map(|p| (*p).to_string()))
            .flatten()
    });
    let Some(pid) = pid else {
        return unknown();
    };
    let path = format!("/proc/{pid}/comm");
    let comm = match read_bounded(Path::new(&path), &path) {
        Ok(Some((bytes, _))) => String::from_utf8_lossy(&bytes).trim().to_string(),
        _ => "?".into(),
    };
    format!("pid {pid} ({comm})")
}

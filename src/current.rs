//! The files as they are now: what the planner compares its wishes against.
//!
//! Reading only; `writer` is the one module that changes the disk.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, Result, bail};

use crate::paths::{NodePath, Root};
use crate::plan::FileChange;

/// A file's content and mode on disk.
#[derive(Debug, Clone)]
pub struct Existing {
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// Reads a node path under `root`; `None` when it does not exist.
pub fn read_existing(root: &Root, path: &NodePath) -> Result<Option<Existing>> {
    let real = root.resolve(path)?;
    let meta = match fs::metadata(&real) {
        Ok(meta) => meta,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("{path}: cannot read")),
    };
    if meta.is_dir() {
        bail!("{path}: is a directory, expected a file; move it aside or point certsd at the file");
    }
    let bytes = fs::read(&real).with_context(|| format!("{path}: cannot read"))?;
    Ok(Some(Existing {
        bytes,
        mode: meta.permissions().mode() & 0o7777,
    }))
}

impl FileChange {
    /// A change to `after`; an existing file keeps its mode, a new one gets `mode`.
    pub fn new(
        path: NodePath,
        existing: Option<Existing>,
        after: Vec<u8>,
        mode: u32,
    ) -> FileChange {
        FileChange {
            path,
            mode_before: existing.as_ref().map(|e| e.mode),
            mode: existing.as_ref().map_or(mode, |e| e.mode),
            before: existing.map(|e| e.bytes),
            after,
            secret: false,
            backup: false,
            needs_restart: false,
        }
    }
}

/// A file certsd owns the content of (a copied CA, an issued certificate).
/// Keys are forced to `mode` (0600) even when they exist with a looser one.
pub fn file_change(
    root: &Root,
    path: &NodePath,
    after: Vec<u8>,
    mode: u32,
    secret: bool,
) -> Result<FileChange> {
    let mut change = FileChange::new(path.clone(), read_existing(root, path)?, after, mode);
    if secret {
        change.mode = mode;
        change.secret = true;
    }
    Ok(change)
}

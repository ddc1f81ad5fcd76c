//! Listing node directories (read-only): the hosts directory and each host
//! directory in it, which doctor walks as containerd's lookup would.

use std::fs;
use std::io::ErrorKind;

use anyhow::{Context, Result};

use super::paths::{NodePath, Root};

/// One entry of a node directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    /// A directory (a symlink to one counts, as it does for containerd).
    pub is_dir: bool,
}

/// The entries of `path`, sorted by name; `None` when it does not exist or
/// is not a directory.
pub fn list_dir(root: &Root, path: &NodePath) -> Result<Option<Vec<DirEntry>>> {
    let real = root.resolve(path)?;
    let entries = match fs::read_dir(&real) {
        Ok(entries) => entries,
        Err(err) if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        Err(err) => return Err(err).with_context(|| format!("{path}: cannot list")),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("{path}: cannot list"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = root.resolve(&path.join(&name)).is_ok_and(|p| p.is_dir());
        out.push(DirEntry { name, is_dir });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(out))
}

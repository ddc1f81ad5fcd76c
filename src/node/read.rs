//! Reading files of the node: the only place that opens a node file for reading.
//!
//! Every read goes through `Root::resolve`, so symlinks are followed as the
//! node would follow them and nothing outside `--root` is read.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, Result, bail};

use super::paths::{NodePath, Root};

/// A file's content and mode on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Reads a PEM text file; `None` when it does not exist.
pub fn read_text(root: &Root, path: &NodePath) -> Result<Option<String>> {
    match fs::read(root.resolve(path)?) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .with_context(|| format!("{path}: not a PEM text file")),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("{path}: cannot read")),
    }
}

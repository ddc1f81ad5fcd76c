//! A record of every file one computation read, for `plan --out`.
//!
//! A saved plan must name every file it was computed from (present or
//! absent: a missing file is a fact the plan relies on too), so that
//! `apply --plan` can refuse when one of them changed. Every read goes
//! through [`super::read_bounded`], which notes here what it saw while a
//! [`record`] is under way; nothing is kept otherwise. Thread-local: a
//! computation runs on one thread, and a record never leaks into another.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// One file as a recorded computation saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The path on this machine (under `--root` for node files), absolute.
    pub path: PathBuf,
    /// The hex SHA-256 of its bytes; `None` when it did not exist.
    pub sha256: Option<String>,
}

thread_local! {
    static RECORD: RefCell<Option<Vec<Read>>> = const { RefCell::new(None) };
}

/// Runs `f`, returning what it returns and every file it read, each once
/// (the first sight wins), sorted by path.
pub fn record<T>(f: impl FnOnce() -> T) -> (T, Vec<Read>) {
    let outer = RECORD.with(|r| r.borrow_mut().replace(Vec::new()));
    let value = f();
    let mut reads = RECORD
        .with(|r| std::mem::replace(&mut *r.borrow_mut(), outer))
        .unwrap_or_default();
    reads.sort_by(|a, b| a.path.cmp(&b.path));
    reads.dedup_by(|later, first| later.path == first.path);
    // An outer record sees what the inner one saw.
    RECORD.with(|r| {
        if let Some(outer) = r.borrow_mut().as_mut() {
            outer.extend(reads.iter().cloned());
        }
    });
    (value, reads)
}

/// Notes one read (`None`: the file does not exist) when a record is under way.
pub(super) fn note(path: &Path, bytes: Option<&[u8]>) {
    RECORD.with(|r| {
        if let Some(reads) = r.borrow_mut().as_mut() {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            reads.push(Read {
                path,
                sha256: bytes.map(sha256),
            });
        }
    });
}

/// The hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().fold(String::new(), |mut hex, b| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_sees_present_and_absent_files_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "x").unwrap();
        let ((), reads) = record(|| {
            let _ = super::super::read_bounded(&a, &"a");
            let _ = super::super::read_bounded(&a, &"a");
            let _ = super::super::read_bounded(&dir.path().join("b"), &"b");
        });
        assert_eq!(reads.len(), 2, "{reads:?}");
        assert_eq!(reads[0].sha256.as_deref(), Some(sha256(b"x").as_str()));
        assert_eq!(reads[1].sha256, None);
        let ((), none) = record(|| {});
        assert!(none.is_empty());
    }
}

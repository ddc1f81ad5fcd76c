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
    Sha256::of(bytes).to_string()
}

/// A SHA-256 digest; shown (`Display`) in lower-case hex, written straight
/// into a serialiser without a `String` of its own (a fleet's history entry
/// and journal name tens of thousands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    pub fn of(bytes: &[u8]) -> Sha256 {
        Sha256::from_digest(&aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            bytes,
        ))
    }

    /// A finished SHA-256 computation (of bytes hashed as they stream).
    pub fn from_digest(digest: &aws_lc_rs::digest::Digest) -> Sha256 {
        let mut out = [0; 32];
        out.copy_from_slice(digest.as_ref());
        Sha256(out)
    }
}

impl std::fmt::Display for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0; 64];
        for (pair, b) in hex.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
        f.write_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_shows_as_lower_case_hex() {
        assert_eq!(
            sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

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

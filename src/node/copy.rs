//! A copy of an input file that a plan does not hold: the path, size and
//! SHA-256 the plan saw, and the one way to get the bytes back.
//!
//! A fleet's plan copies thousands of CA files. Holding each one from the
//! planning to the write would cost megabytes; reading it again where it is
//! shown and where it is written costs one small read, and checking the
//! bytes against what was planned means a file changed meanwhile is refused
//! instead of written unchecked (it was validated, diffed and recorded as
//! it was).

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::read::read_required;
use super::reads::Sha256;

/// An input file as the plan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOf {
    /// The path as given (on this machine, not under `--root`).
    pub source: PathBuf,
    pub len: u64,
    pub sha256: Sha256,
}

impl CopyOf {
    pub fn of(source: PathBuf, bytes: &[u8]) -> CopyOf {
        CopyOf {
            source,
            len: bytes.len() as u64,
            sha256: Sha256::of(bytes),
        }
    }

    /// The bytes again; an error when the file is no longer what was planned.
    pub fn read(&self) -> Result<Vec<u8>> {
        let shown = self.source.display();
        let bytes = read_required(&self.source, &shown)?;
        if bytes.len() as u64 != self.len || Sha256::of(&bytes) != self.sha256 {
            bail!(
                "{shown}: changed while certsd ran (it was checked and planned as it was before); nothing was written, run certsd again"
            );
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_reads_back_only_what_was_planned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.crt");
        std::fs::write(&path, "planned").unwrap();
        let copy = CopyOf::of(path.clone(), b"planned");
        assert_eq!(copy.read().unwrap(), b"planned");
        // Same length, other bytes: the hash tells.
        std::fs::write(&path, "replaced").unwrap();
        std::fs::write(&path, "planneD").unwrap();
        let err = copy.read().unwrap_err().to_string();
        assert!(err.contains("changed while certsd ran"), "{err}");
        std::fs::remove_file(&path).unwrap();
        assert!(copy.read().is_err());
    }
}

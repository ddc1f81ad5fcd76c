//! What a stat says of a file, whichever call gave it: `std`'s metadata or
//! a `statx` relative to a directory handle (see [`super::Resolver`]).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use rustix::fs::{FileType, Statx};

/// A file's type, permission bits and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub kind: FileType,
    /// The permission bits (`& 0o7777`).
    pub mode: u32,
    pub len: u64,
}

impl Stat {
    pub fn of(meta: &Metadata) -> Stat {
        Stat {
            kind: FileType::from_raw_mode(meta.mode()),
            mode: meta.mode() & 0o7777,
            len: meta.len(),
        }
    }

    pub(super) fn of_statx(x: &Statx) -> Stat {
        let mode = u32::from(x.stx_mode);
        Stat {
            kind: FileType::from_raw_mode(mode),
            mode: mode & 0o7777,
            len: x.stx_size,
        }
    }

    pub fn is_symlink(&self) -> bool {
        self.kind == FileType::Symlink
    }
}

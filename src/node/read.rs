//! Reading files: the only place that opens a file for reading.
//!
//! Node files go through `Root::resolve`, so symlinks are followed as the
//! node would follow them and nothing outside `--root` is read. Every read,
//! of a node file or of a file the user names (`--ca`, `--ca-dir`, a CSR),
//! goes through [`read_bounded`]: what is not a regular file (a FIFO that
//! would block forever, a device such as /dev/zero that never ends, a
//! directory) is refused before it is opened for reading, and a file larger
//! than [`MAX_READ`] is refused with the limit in the message, so no input
//! can hang certsd or exhaust its memory.

use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rustix::fs::{FileType, Mode, OFlags};

use super::paths::{Located, NodePath, Root};
use super::stat::Stat;

/// The largest file certsd reads (8 MiB): far above any config.toml,
/// hosts.toml or CA bundle, far below what would strain memory.
pub const MAX_READ: u64 = 8 << 20;

/// A file's content and mode on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// Reads a regular file of at most [`MAX_READ`] bytes; `None` when it does
/// not exist. `shown` names the file in messages (a node path, or the path
/// as the user gave it).
pub fn read_bounded(path: &Path, shown: &dyn Display) -> Result<Option<(Vec<u8>, Stat)>> {
    read_stated(path, shown, None, None)
}

/// [`read_bounded`], given the lstat of `path` when the caller already
/// has it (a [`Resolver`](super::Resolver) walk ends on one), and the
/// directory handle and relative path to open it by, when there is one.
fn read_stated(
    path: &Path,
    shown: &dyn Display,
    known: Option<Stat>,
    at: Option<(&OwnedFd, &Path)>,
) -> Result<Option<(Vec<u8>, Stat)>> {
    let stat = match known.map_or_else(|| fs::metadata(path).map(|m| Stat::of(&m)), Ok) {
        Ok(stat) => stat,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            super::reads::note(path, None);
            return Ok(None);
        }
        Err(err) => return Err(err).with_context(|| format!("{shown}: cannot read")),
    };
    refuse_special(&stat, shown)?;
    let file = open(path, at).with_context(|| format!("{shown}: cannot read"))?;
    if let Some(bytes) = read_as_stated(&file, stat.len) {
        super::reads::note(path, Some(&bytes));
        return Ok(Some((bytes, stat)));
    }
    let stat = file
        .metadata()
        .map(|m| Stat::of(&m))
        .with_context(|| format!("{shown}: cannot read"))?;
    refuse_special(&stat, shown)?;
    let bytes = read_limited(file, stat.len, shown)?;
    super::reads::note(path, Some(&bytes));
    Ok(Some((bytes, stat)))
}

/// Opens for reading, relative to `at`'s directory when given. `O_NONBLOCK`:
/// should a FIFO be swapped in after the check, open returns at once
/// instead of waiting for a writer, and what was opened is judged again.
fn open(path: &Path, at: Option<(&OwnedFd, &Path)>) -> std::io::Result<File> {
    match at {
        Some((dir, rel)) => {
            let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
            Ok(File::from(rustix::fs::openat(
                dir,
                rel,
                flags,
                Mode::empty(),
            )?))
        }
        None => OpenOptions::new()
            .read(true)
            .custom_flags(OFlags::NONBLOCK.bits().cast_signed())
            .open(path),
    }
}

/// The file's bytes when it holds exactly the `size` the stat before the
/// open gave: one positioned read into a buffer one byte larger comes back
/// one byte short (a regular file's read stops only at its end). Anything
/// else (the file changed, a FIFO or device was swapped in after the stat,
/// a short or failed read) gives `None`, and the caller judges what it
/// opened by fstat and reads it from the start (a positioned read leaves
/// the offset alone): no fstat per file for the thousands that are as stated.
fn read_as_stated(file: &File, size: u64) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let want = usize::try_from(size)
        .ok()
        .filter(|&n| n > 0 && size <= MAX_READ)?;
    let mut bytes = vec![0; want + 1];
    let got = file.read_at(&mut bytes, 0).ok()?;
    (got == want).then(|| {
        bytes.truncate(want);
        bytes
    })
}

/// The same for a file that must exist.
pub fn read_required(path: &Path, shown: &dyn Display) -> Result<Vec<u8>> {
    match read_bounded(path, shown)? {
        Some((bytes, _)) => Ok(bytes),
        None => bail!("{shown}: No such file or directory"),
    }
}

/// `size` is the length fstat gave. A file that reports one (every file
/// certsd reads, not /proc's) is read into a buffer of that size and taken
/// as complete once it is full: one read call instead of a doubling series
/// plus the call that sees the end (thousands of files in a big fleet).
/// What grows after the fstat is not seen, as if it grew after the read.
fn read_limited(mut file: File, size: u64, shown: &dyn Display) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Ok(want) = usize::try_from(size)
        && size > 0
        && size <= MAX_READ
    {
        bytes.resize(want, 0);
        let mut got = 0;
        while got < want {
            match file.read(&mut bytes[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err).with_context(|| format!("{shown}: cannot read")),
            }
        }
        bytes.truncate(got);
        return Ok(bytes);
    }
    file.take(MAX_READ + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{shown}: cannot read"))?;
    if bytes.len() as u64 > MAX_READ {
        bail!(
            "{shown}: larger than {} MiB, the most certsd reads from one file; is it the right file?",
            MAX_READ >> 20
        );
    }
    Ok(bytes)
}

/// Only regular files are read: a FIFO would block, a device never end.
fn refuse_special(stat: &Stat, shown: &dyn Display) -> Result<()> {
    let what = match stat.kind {
        FileType::RegularFile => return Ok(()),
        FileType::Directory => {
            "is a directory, expected a file; move it aside or point certsd at the file"
        }
        FileType::Fifo => {
            "is a FIFO (named pipe), not a regular file; certsd reads only regular files"
        }
        FileType::Socket => "is a socket, not a regular file; certsd reads only regular files",
        _ => "is a device, not a regular file; certsd reads only regular files",
    };
    bail!("{shown}: {what}")
}

/// Reads a node path under `root`; `None` when it does not exist.
pub fn read_existing(root: &Root, path: &NodePath) -> Result<Option<Existing>> {
    let found = read_stated(&root.resolve(path)?, path, None, None)?;
    Ok(found.map(existing))
}

/// Reads node path `path`, as the resolver found it.
pub(super) fn read_resolved(found: &Located<'_>, path: &NodePath) -> Result<Option<Existing>> {
    let read = read_stated(&found.real, path, found.stat, found.at())?;
    Ok(read.map(existing))
}

fn existing((bytes, stat): (Vec<u8>, Stat)) -> Existing {
    Existing {
        bytes,
        mode: stat.mode,
    }
}

/// Reads a PEM text file (node path `path`, as the resolver found it);
/// `None` when it does not exist.
pub(super) fn text_resolved(found: &Located<'_>, path: &NodePath) -> Result<Option<String>> {
    match read_resolved(found, path)? {
        Some(existing) => String::from_utf8(existing.bytes)
            .map(Some)
            .with_context(|| format!("{path}: not a PEM text file")),
        None => Ok(None),
    }
}

/// A TOML file that starts with a UTF-8 byte-order mark is refused: the
/// editor would drop the mark in silence, changing bytes the run did not
/// ask about.
pub fn refuse_bom(path: &NodePath, bytes: &[u8]) -> Result<()> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bail!(
            "{path}: starts with a UTF-8 byte-order mark (EF BB BF), which certsd will not drop in silence; remove those 3 bytes (sed -i '1s/^\\xEF\\xBB\\xBF//' FILE) and run again"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo").arg(path).status();
        assert!(made.unwrap().success(), "mkfifo {}", path.display());
    }

    #[test]
    fn a_file_is_taken_whole_only_when_it_is_as_stated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(read_as_stated(&file, 3), Some(b"abc".to_vec()));
        // Grown or shrunk since the stat: left to the fstat path.
        assert_eq!(read_as_stated(&file, 2), None);
        assert_eq!(read_as_stated(&file, 4), None);
        assert_eq!(read_as_stated(&file, 0), None);
        // A FIFO swapped in after the stat: no positioned read, no bytes.
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits().cast_signed())
            .open(&fifo)
            .unwrap();
        assert_eq!(read_as_stated(&opened, 3), None);
    }

    #[test]
    fn specials_are_refused_and_reads_are_bounded() {
        let err = read_bounded(Path::new("/dev/zero"), &"/dev/zero").unwrap_err();
        assert!(err.to_string().contains("is a device"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = read_bounded(dir.path(), &"d").unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let err = read_bounded(&fifo, &"fifo").unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        let big = dir.path().join("big");
        File::create(&big).unwrap().set_len(MAX_READ + 1).unwrap();
        let err = read_bounded(&big, &"big").unwrap_err();
        assert!(err.to_string().contains("larger than 8 MiB"), "{err}");
        assert!(
            read_bounded(&dir.path().join("none"), &"none")
                .unwrap()
                .is_none()
        );
    }
}

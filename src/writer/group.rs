//! The items of one write group: what each rename puts where, in order.
//!
//! An item borrows what it writes from the plan (or streams it from a
//! [`Made`] file) instead of copying it: a fleet's group is tens of
//! thousands of files, and each byte is held once.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use serde::Serialize;

use super::durable;
use super::journal;
use crate::core::plan::{FileChange, Made, Op};
use crate::node::NodePath;
use crate::node::reads::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Backup,
    Change,
    /// `--prune`: an emptied directory.
    RemoveDir,
}

/// One rename of the group.
pub(super) struct Item<'a> {
    /// Borrowed from the plan; a backup's own new name is owned.
    pub node: Cow<'a, NodePath>,
    pub real: PathBuf,
    /// `None` for a delete.
    pub write: Option<Content<'a>>,
    /// The file whose owner the new one keeps, when not the target itself
    /// (a backup keeps the owner of the file it copies).
    pub owner_of: Option<PathBuf>,
    pub rank: u8,
    /// Its place before the sort by rank (set there).
    pub seq: u32,
    pub kind: Kind,
}

impl Item<'_> {
    /// The file whose owner the new one keeps.
    pub fn owner_of(&self) -> &Path {
        self.owner_of.as_deref().unwrap_or(&self.real)
    }
}

/// What a file gets: the bytes (measured once: the journal and the size
/// check need their hash and size) and the mode.
pub(super) struct Content<'a> {
    pub body: Body<'a>,
    pub mode: u32,
    pub len: u64,
    pub sha256: Sha256,
}

/// Where the bytes come from.
#[derive(Clone, Copy)]
pub(super) enum Body<'a> {
    Bytes(&'a [u8]),
    Made(&'a dyn Made),
}

impl<'a> Content<'a> {
    /// `body` with its size and SHA-256 (a made file is made once for them).
    pub fn of(body: Body<'a>, mode: u32) -> io::Result<Content<'a>> {
        let mut sink = Measure {
            len: 0,
            hash: digest::Context::new(&digest::SHA256),
        };
        body.write_to(&mut sink)?;
        let mut sha256 = Sha256([0; 32]);
        sha256.0.copy_from_slice(sink.hash.finish().as_ref());
        Ok(Content {
            body,
            mode,
            len: sink.len,
            sha256,
        })
    }
}

impl Body<'_> {
    pub fn write_to(self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Body::Bytes(bytes) => out.write_all(bytes),
            Body::Made(made) => {
                // Serialisers write in small pieces.
                let mut buffered = io::BufWriter::with_capacity(1 << 16, out);
                made.write_to(&mut buffered)?;
                buffered.flush()
            }
        }
    }
}

/// Counts and hashes what is written to it, keeping nothing.
struct Measure {
    len: u64,
    hash: digest::Context,
}

impl Write for Measure {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.len += buf.len() as u64;
        self.hash.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The items of `change` (its backup first, when `backup` names one) before
/// sorting; `real` is where its path leads.
pub(super) fn items_of(
    change: &FileChange,
    real: PathBuf,
    backup: Option<(NodePath, PathBuf)>,
) -> io::Result<Vec<Item<'_>>> {
    let mut out = Vec::with_capacity(2);
    if let (Some((node, backup_real)), Some(before)) = (backup, &change.before) {
        out.push(Item {
            node: Cow::Owned(node),
            real: backup_real,
            write: Some(Content::of(Body::Bytes(&before.bytes), before.mode)?),
            owner_of: Some(real.clone()),
            rank: 0,
            seq: 0,
            kind: Kind::Backup,
        });
    }
    let (write, kind) = match &change.op {
        Op::Write { after, mode } => (Some(Content::of(Body::Bytes(after), *mode)?), Kind::Change),
        Op::Delete => (None, Kind::Change),
        Op::RemoveDir => (None, Kind::RemoveDir),
    };
    out.push(Item {
        node: Cow::Borrowed(&change.path),
        real,
        write,
        owner_of: None,
        rank: rank(change),
        seq: 0,
        kind,
    });
    Ok(out)
}

/// The item of a made file: a new file, renamed with the plain ones.
pub(super) fn made_item(made: &dyn Made, real: PathBuf) -> io::Result<Item<'_>> {
    Ok(Item {
        node: Cow::Borrowed(made.path()),
        real,
        write: Some(Content::of(Body::Made(made), made.mode())?),
        owner_of: None,
        rank: 2,
        seq: 0,
        kind: Kind::Change,
    })
}

/// Where a change goes in the rename order (backups are 0).
pub(super) fn rank(change: &FileChange) -> u8 {
    let hosts = change.path.file_name() == "hosts.toml";
    match (&change.op, change.needs_restart) {
        (_, true) => 7,
        (Op::Write { .. }, _) if change.secret => 1,
        (Op::Write { .. }, _) if !hosts => 2,
        (Op::Write { .. }, _) => 3,
        (Op::Delete, _) if hosts => 4,
        (Op::Delete, _) => 5,
        // After the files in it are gone.
        (Op::RemoveDir, _) => 6,
    }
}

/// The journal's entries, each made from its item as it is serialised.
pub(super) struct Entries<'a> {
    pub root: &'a Path,
    pub items: &'a [Item<'a>],
}

impl Serialize for Entries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(Some(self.items.len()))?;
        for item in self.items {
            // `journal::size` meets an error first, before anything is written.
            let entry = entry(self.root, item).map_err(|e| S::Error::custom(format!("{e:#}")))?;
            seq.serialize_element(&entry)?;
        }
        seq.end()
    }
}

/// [`journal::Entry`] as a run writes it: borrowed from its item where it
/// can be (the same text: a test compares).
#[derive(Serialize)]
struct EntryOut<'a> {
    node: &'a str,
    target: &'a str,
    tmp: Option<String>,
    sha256: Option<Sha256>,
    dir: bool,
}

/// The journal's entry for one item.
fn entry<'a>(root: &Path, item: &'a Item<'_>) -> anyhow::Result<EntryOut<'a>> {
    Ok(EntryOut {
        node: item.node.as_str(),
        target: journal::relative_str(root, &item.real)?,
        tmp: match item.write {
            Some(_) => Some(journal::relative(root, &durable::temp_name(&item.real))?),
            None => None,
        },
        sha256: item.write.as_ref().map(|w| w.sha256),
        dir: item.kind == Kind::RemoveDir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_written_as_the_journal_reads_it() {
        let change = FileChange::write(
            NodePath::fixed("/etc/containerd/certs.d/r/ca.crt"),
            None,
            b"ca".to_vec(),
            0o644,
        );
        let root = Path::new("/srv/node");
        let real = root.join("etc/containerd/certs.d/r/ca.crt");
        let items = items_of(&change, real.clone(), None).unwrap();
        let written = serde_json::to_string(&entry(root, &items[0]).unwrap()).unwrap();
        let expected = journal::Entry {
            node: "/etc/containerd/certs.d/r/ca.crt".into(),
            target: "etc/containerd/certs.d/r/ca.crt".into(),
            tmp: Some(journal::relative(root, &durable::temp_name(&real)).unwrap()),
            sha256: Some(journal::sha256(b"ca")),
            dir: false,
        };
        assert_eq!(written, serde_json::to_string(&expected).unwrap());
        let back: journal::Entry = serde_json::from_str(&written).unwrap();
        assert_eq!(back.sha256, expected.sha256);
    }
}

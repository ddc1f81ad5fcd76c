//! The items of one write group: what each rename puts where, in order.
//!
//! An item points at the plan file it writes (or at a [`Made`] file,
//! streamed) instead of copying anything: a fleet's group is tens of
//! thousands of files, so an item is a few words, and the bytes, their
//! size and their hash are taken from the plan where they are needed.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use serde::Serialize;

use super::durable;
use super::journal;
use crate::core::plan::{After, FileChange, Made, Op};
use crate::node::reads::Sha256;
use crate::node::{CopyOf, NodePath, Root};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Backup,
    Change,
    /// `--prune`: an emptied directory.
    RemoveDir,
}

/// One rename of the group.
pub(super) struct Item<'a> {
    what: What<'a>,
    /// What few items need (a fleet's group is tens of thousands of
    /// items, nearly all of them plain plan files where the root says).
    odd: Option<Box<Odd>>,
    pub rank: u8,
    /// Its place before the sort by rank (set there).
    pub seq: u32,
    pub kind: Kind,
}

/// What an item writes.
#[derive(Clone, Copy)]
enum What<'a> {
    /// A plan file: its new content, or its removal.
    Change(&'a FileChange),
    /// A copy of a plan file's old content, under its own name (in `odd`).
    Backup(&'a FileChange),
    /// A file made as it is written, measured once (in `odd`).
    Made(&'a dyn Made),
}

/// The parts of an item that is not the usual one.
#[derive(PartialEq)]
struct Odd {
    /// Where the file really is, when not the root joined with the node
    /// path (a link on the way).
    real: Option<PathBuf>,
    /// The file whose owner the new one keeps, when not the target itself
    /// (a backup keeps the owner of the file it copies).
    owner_of: Option<PathBuf>,
    /// A backup's name.
    name: Option<NodePath>,
    /// A made file's size and hash.
    measured: Option<(u64, Sha256)>,
}

impl<'a> Item<'a> {
    fn new(root: &Root, what: What<'a>, odd: Odd, real: PathBuf) -> Item<'a> {
        let mut item = Item {
            what,
            odd: None,
            rank: 0,
            seq: 0,
            kind: Kind::Change,
        };
        let elsewhere = real != root.host_path(item.node_with(&odd));
        let odd = Odd {
            real: elsewhere.then_some(real),
            ..odd
        };
        if odd != Odd::NONE {
            item.odd = Some(Box::new(odd));
        }
        item
    }

    /// The node path it writes.
    pub fn node(&self) -> &NodePath {
        self.node_with(self.odd.as_deref().unwrap_or(&Odd::NONE))
    }

    fn node_with<'s>(&'s self, odd: &'s Odd) -> &'s NodePath {
        match (self.what, &odd.name) {
            (_, Some(name)) => name,
            (What::Change(change) | What::Backup(change), None) => &change.path,
            (What::Made(made), None) => made.path(),
        }
    }

    /// Where the file really is (`node` with its links followed, under `root`).
    pub fn real(&self, root: &Root) -> Cow<'_, Path> {
        match self.odd.as_ref().and_then(|o| o.real.as_deref()) {
            Some(path) => Cow::Borrowed(path),
            None => Cow::Owned(root.host_path(self.node())),
        }
    }

    /// The file whose owner the new one keeps.
    pub fn owner_of(&self, root: &Root) -> Cow<'_, Path> {
        match self.odd.as_ref().and_then(|o| o.owner_of.as_deref()) {
            Some(path) => Cow::Borrowed(path),
            None => self.real(root),
        }
    }

    /// What the file gets; `None` for a delete.
    pub fn content(&self) -> Option<Content<'a>> {
        match self.what {
            What::Change(change) => Some(Content {
                body: match change.after_bytes()? {
                    After::Bytes(bytes) => Body::Bytes(bytes),
                    After::Copy(copy) => Body::Copy(copy),
                },
                mode: change.mode(),
            }),
            What::Backup(change) => change.before.as_ref().map(|before| Content {
                body: Body::Bytes(&before.bytes),
                mode: before.mode,
            }),
            What::Made(made) => {
                let (len, sha256) = self.odd.as_ref()?.measured?;
                Some(Content {
                    body: Body::Made(made, len, sha256),
                    mode: made.mode(),
                })
            }
        }
    }

    /// Whether it writes a file (not a delete).
    pub fn writes(&self) -> bool {
        self.content().is_some()
    }
}

impl Odd {
    const NONE: Odd = Odd {
        real: None,
        owner_of: None,
        name: None,
        measured: None,
    };
}

/// What a file gets: the bytes and the mode.
#[derive(Clone, Copy)]
pub(super) struct Content<'a> {
    pub body: Body<'a>,
    pub mode: u32,
}

/// Where the bytes come from.
#[derive(Clone, Copy)]
pub(super) enum Body<'a> {
    Bytes(&'a [u8]),
    /// An input file the plan did not hold: read again, and checked.
    Copy(&'a CopyOf),
    /// Made as it is written, with the size and hash it was measured at.
    Made(&'a dyn Made, u64, Sha256),
}

impl Content<'_> {
    pub fn len(&self) -> u64 {
        match self.body {
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::Copy(copy) => copy.len,
            Body::Made(_, len, _) => len,
        }
    }

    /// The SHA-256 of the bytes (hashed here for bytes the plan holds:
    /// cheaper than keeping 32 bytes for each of a fleet's files).
    pub fn sha256(&self) -> Sha256 {
        match self.body {
            Body::Bytes(bytes) => Sha256::of(bytes),
            Body::Copy(copy) => copy.sha256,
            Body::Made(_, _, sha256) => sha256,
        }
    }
}

impl Body<'_> {
    pub fn write_to(self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Body::Bytes(bytes) => out.write_all(bytes),
            Body::Copy(copy) => {
                let bytes = copy
                    .read()
                    .map_err(|e| io::Error::other(format!("{e:#}")))?;
                out.write_all(&bytes)
            }
            Body::Made(made, ..) => write_made(made, out),
        }
    }
}

fn write_made(made: &dyn Made, out: &mut dyn Write) -> io::Result<()> {
    // Serialisers write in small pieces.
    let mut buffered = io::BufWriter::with_capacity(1 << 16, out);
    made.write_to(&mut buffered)?;
    buffered.flush()
}

/// A made file's size and SHA-256: it is made once for them.
fn measure(made: &dyn Made) -> io::Result<(u64, Sha256)> {
    let mut sink = Measure {
        len: 0,
        hash: digest::Context::new(&digest::SHA256),
    };
    write_made(made, &mut sink)?;
    Ok((sink.len, Sha256::from_digest(&sink.hash.finish())))
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

/// Adds the items of `change` (its backup first, when `backup` names one)
/// to `out`, before sorting; `real` is where its path leads.
pub(super) fn push_items<'a>(
    out: &mut Vec<Item<'a>>,
    root: &Root,
    change: &'a FileChange,
    real: PathBuf,
    backup: Option<(NodePath, PathBuf)>,
) {
    if let (Some((name, backup_real)), Some(_)) = (backup, &change.before) {
        let odd = Odd {
            name: Some(name),
            owner_of: Some(real.clone()),
            ..Odd::NONE
        };
        out.push(Item {
            kind: Kind::Backup,
            ..Item::new(root, What::Backup(change), odd, backup_real)
        });
    }
    let kind = match &change.op {
        Op::Write { .. } | Op::Delete => Kind::Change,
        Op::RemoveDir => Kind::RemoveDir,
    };
    out.push(Item {
        rank: rank(change),
        kind,
        ..Item::new(root, What::Change(change), Odd::NONE, real)
    });
}

/// The item of a made file: a new file, renamed with the plain ones.
pub(super) fn made_item<'a>(
    root: &Root,
    made: &'a dyn Made,
    real: PathBuf,
) -> io::Result<Item<'a>> {
    let odd = Odd {
        measured: Some(measure(made)?),
        ..Odd::NONE
    };
    Ok(Item {
        rank: 2,
        ..Item::new(root, What::Made(made), odd, real)
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
    pub root: &'a Root,
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
    target: String,
    tmp: Option<String>,
    sha256: Option<Sha256>,
    dir: bool,
}

/// The journal's entry for one item.
fn entry<'a>(root: &Root, item: &'a Item<'_>) -> anyhow::Result<EntryOut<'a>> {
    let real = item.real(root);
    let content = item.content();
    Ok(EntryOut {
        node: item.node().as_str(),
        target: journal::relative(root.dir(), &real)?,
        tmp: match content {
            Some(_) => Some(journal::relative(root.dir(), &durable::temp_name(&real))?),
            None => None,
        },
        sha256: content.map(|c| c.sha256()),
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
        let node_root = Root::new(root.to_path_buf());
        let mut items = Vec::new();
        push_items(&mut items, &node_root, &change, real.clone(), None);
        let written = serde_json::to_string(&entry(&node_root, &items[0]).unwrap()).unwrap();
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

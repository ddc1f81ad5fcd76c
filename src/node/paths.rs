//! Node paths and the `--root` they are read and written under.
//!
//! Every path certsd writes *into* a file is a node path: absolute, as the
//! node will see it at run time. `--root` only changes where certsd itself
//! reads and writes, which matters for image builds and for tests.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::Result;
use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};

use super::stat::Stat;

use crate::exit_codes::usage;

/// The directory treated as `/` (`--root`, default `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(dir: PathBuf) -> Root {
        Root(dir)
    }

    /// The real root, `/`.
    pub fn is_system(&self) -> bool {
        self.0 == Path::new("/")
    }

    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// Where a node path lives on this machine, without following links.
    pub fn host_path(&self, node: &NodePath) -> PathBuf {
        let relative = node.0.strip_prefix("/").unwrap_or(&node.0);
        self.0.join(relative)
    }

    /// Where a node path really is: symlinks are followed as the node would
    /// follow them, with absolute targets taken inside the root and `..`
    /// never climbing above it (as in a chroot). Reading and writing both go
    /// through this, so a symlinked config.toml is read and written at the
    /// same place, and nothing lands outside `--root`. Parts that do not
    /// exist yet are kept as they are.
    pub fn resolve(&self, node: &NodePath) -> anyhow::Result<PathBuf> {
        let walk = self.walk(Walked::default(), &node.0, node)?;
        Ok(self.0.join(walk.done))
    }

    /// Walks `rest` from where `from` left off: the same walk as
    /// [`Root::resolve`] over the whole path, since every part of a path
    /// (links it meets included) is done before the next part starts. A
    /// caller resolving many files of one directory walks the directory once
    /// and each file's name from there ([`Resolver`]), instead of reading
    /// every link of every parent again.
    fn walk(&self, from: Walked, rest: &Path, node: &NodePath) -> Result<Walked> {
        let mut todo: Vec<OsString> = Vec::new();
        push_parts(&mut todo, rest);
        let Walked {
            mut done,
            mut links,
            ..
        } = from;
        let mut last = None;
        while let Some(part) = todo.pop() {
            last = None;
            if part == ".." {
                done.pop();
                continue;
            }
            let candidate = self.0.join(&done).join(&part);
            // lstat rather than readlink: the same answer for links, and
            // for the last part what reading the file needs to know.
            let meta = std::fs::symlink_metadata(&candidate);
            let target = match &meta {
                Ok(m) if m.file_type().is_symlink() => std::fs::read_link(&candidate).ok(),
                _ => None,
            };
            if let Some(target) = target {
                links += 1;
                if links > 40 {
                    anyhow::bail!("{node}: too many levels of symbolic links");
                }
                if target.is_absolute() {
                    done = PathBuf::new();
                }
                push_parts(&mut todo, &target);
            } else {
                done.push(part);
                last = meta
                    .ok()
                    .filter(|m| !m.file_type().is_symlink())
                    .map(|m| Stat::of(&m));
            }
        }
        Ok(Walked { done, links, last })
    }
}

impl Root {
    /// [`Root::walk`] of one plain name (no `/`, `.` or `..`): when it is
    /// no link, one lstat and no queue of parts.
    fn walk_name(&self, from: Walked, name: &str, node: &NodePath) -> Result<Walked> {
        let mut candidate = join(&self.0, &from.done);
        candidate.push(name);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => self.walk(from, Path::new(name), node),
            meta => {
                let mut done = from.done;
                done.push(name);
                Ok(Walked {
                    done,
                    links: from.links,
                    last: meta.ok().map(|m| Stat::of(&m)),
                })
            }
        }
    }
}

/// [`Root::resolve`] for many paths: each directory's walk is done once and
/// kept, so the files of one directory (and the directories of one parent)
/// cost one link lookup each instead of one per part of their path. Only
/// for a stretch of reading or planning in which certsd itself changes no
/// directory or link.
#[derive(Debug)]
pub struct Resolver {
    root: Root,
    /// Keyed by the node path's bytes: no UTF-8 check per lookup.
    walked: Mutex<HashMap<OsString, Walked>>,
    /// How many walks it keeps before it forgets them all.
    keep: usize,
    /// The primed directory, held open: its files are looked up and opened
    /// relative to it, a name or two for the kernel to walk instead of the
    /// whole path each time.
    anchor: OnceLock<Anchor>,
}

/// A directory opened once (`O_PATH`), with its real path under the root
/// (relative to it, and whole).
#[derive(Debug)]
struct Anchor {
    done: PathBuf,
    real: PathBuf,
    fd: OwnedFd,
}

/// Where a node file is, what its lstat said (when it exists and is no
/// link), and the handle that reaches it cheaply with the tail of `real`
/// below it (a byte offset, so that a lookup allocates no second path).
#[derive(Debug)]
pub struct Located<'a> {
    pub real: PathBuf,
    pub stat: Option<Stat>,
    anchor: Option<(&'a OwnedFd, usize)>,
}

impl Located<'_> {
    /// The primed directory's handle and the path below it, when the file
    /// lies below it.
    pub fn at(&self) -> Option<(&OwnedFd, &Path)> {
        let (fd, start) = self.anchor?;
        let rest = self.real.as_os_str().as_bytes().get(start..)?;
        Some((fd, Path::new(OsStr::from_bytes(rest))))
    }
}

impl Resolver {
    pub fn new(root: Root) -> Resolver {
        Resolver {
            root,
            walked: Mutex::default(),
            keep: usize::MAX,
            anchor: OnceLock::new(),
        }
    }

    /// A resolver for paths that come grouped by directory (a write
    /// group's), which keeps only the last `keep` directories' walks: the
    /// walks of a fleet's thousands of directories are megabytes.
    pub fn recent(root: Root, keep: usize) -> Resolver {
        Resolver {
            keep,
            ..Resolver::new(root)
        }
    }

    /// The root it resolves in.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// What [`Root::resolve`] gives for `node`.
    pub fn resolve(&self, node: &NodePath) -> Result<PathBuf> {
        Ok(self.locate(node)?.real)
    }

    /// [`Resolver::resolve`], with the real path's lstat when the walk found
    /// it (it exists and is no link), so that reading the file needs no stat
    /// of its own, and the way to open it relative to the primed directory.
    pub fn locate(&self, node: &NodePath) -> Result<Located<'_>> {
        let walked = self.walk_path(&node.0, node)?;
        let real = join(&self.root.0, walked.done);
        let anchor = self.anchor.get().and_then(|a| {
            let rest = below(&a.real, &real)?;
            Some((&a.fd, real.as_os_str().len() - rest.as_os_str().len()))
        });
        Ok(Located {
            real,
            stat: walked.last,
            anchor,
        })
    }

    /// [`Root::walk_name`], with the lstat relative to the primed directory
    /// when the name lies below it.
    fn walk_name(&self, from: Walked, name: &str, node: &NodePath) -> Result<Walked> {
        // Sized once: a clone and a push would allocate twice, per file.
        let mut done = PathBuf::with_capacity(from.done.as_os_str().len() + 1 + name.len());
        done.push(&from.done);
        done.push(name);
        let Some((fd, rel)) = self
            .anchor
            .get()
            .and_then(|a| Some((&a.fd, below(&a.done, &done)?)))
        else {
            return self.root.walk_name(from, name, node);
        };
        let flags = StatxFlags::TYPE | StatxFlags::MODE | StatxFlags::SIZE;
        match rustix::fs::statx(fd, rel, AtFlags::SYMLINK_NOFOLLOW, flags)
            .map(|x| Stat::of_statx(&x))
        {
            Ok(stat) if stat.is_symlink() => self.root.walk(from, Path::new(name), node),
            stat => Ok(Walked {
                done,
                links: from.links,
                last: stat.ok(),
            }),
        }
    }

    /// The walk of `path`: its parent's (kept), then its last part. Paths
    /// at the root, or ending in `.`, `..` or `/`, walk whole. Split as a
    /// string: `Path::parent` parses every component again, per file.
    fn walk_path(&self, path: &Path, node: &NodePath) -> Result<Walked> {
        let split = split_name(path).filter(|(dir, _)| !dir.is_empty());
        // The name must be UTF-8 for the plain-name walk; the rest walks whole.
        let Some((dir, Ok(name))) = split.map(|(d, n)| (d, std::str::from_utf8(n))) else {
            return self.root.walk(Walked::default(), path, node);
        };
        let from = self.dir_walk(OsStr::from_bytes(dir), node)?;
        self.walk_name(from, name, node)
    }

    /// Walks `dir` and learns from one listing which of its entries are
    /// plain directories (the kernel's entry type, no stat each): a run over
    /// thousands of host directories then walks none of them one by one.
    /// Entries that are links, or of a type the listing does not give, are
    /// walked as usual when asked for. A directory that cannot be listed
    /// primes nothing.
    pub fn prime(&self, dir: &NodePath) -> Result<()> {
        let walked = self.walk_path(&dir.0, dir)?;
        let real = self.root.0.join(&walked.done);
        let Ok(entries) = std::fs::read_dir(&real) else {
            return Ok(());
        };
        let opened = rustix::fs::open(
            &real,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        );
        if let Ok(fd) = opened {
            let _ = self.anchor.set(Anchor {
                done: walked.done.clone(),
                real: real.clone(),
                fd,
            });
        }
        let Ok(mut cache) = self.walked.lock() else {
            return Ok(());
        };
        // Gathered first, so that the cache grows once, not by doubling and
        // hashing every key again each time.
        let dirs: Vec<OsString> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name())
            .collect();
        cache.reserve(dirs.len());
        let base = dir.as_str().trim_end_matches('/');
        for name in &dirs {
            let Some(name) = name.to_str() else {
                continue;
            };
            let child = Walked {
                done: join(&walked.done, name),
                links: walked.links,
                last: None,
            };
            let mut key = String::with_capacity(base.len() + 1 + name.len());
            key.push_str(base);
            key.push('/');
            key.push_str(name);
            cache.insert(key.into(), child);
        }
        Ok(())
    }

    fn dir_walk(&self, dir: &OsStr, node: &NodePath) -> Result<Walked> {
        if let Some(done) = self.walked.lock().ok().and_then(|c| c.get(dir).cloned()) {
            return Ok(done);
        }
        let walked = self.walk_path(Path::new(dir), node)?;
        if let Ok(mut cache) = self.walked.lock() {
            // A directory's own stat is never asked for: not kept.
            let kept = Walked {
                last: None,
                ..walked.clone()
            };
            if cache.len() >= self.keep {
                cache.clear();
            }
            cache.insert(dir.to_os_string(), kept);
        }
        Ok(walked)
    }
}

/// `base.join(rest)` in one allocation: `Path::join` copies `base` at its
/// size and then grows it for `rest`, a malloc and a realloc per path, and
/// a fleet's run joins a few per file it looks at.
pub fn join(base: &Path, rest: impl AsRef<Path>) -> PathBuf {
    let rest = rest.as_ref();
    let mut path = PathBuf::with_capacity(base.as_os_str().len() + 1 + rest.as_os_str().len());
    path.push(base);
    path.push(rest);
    path
}

/// `path` split at its last `/`, as bytes, when what follows is a name
/// (not empty, `.` or `..`).
fn split_name(path: &Path) -> Option<(&[u8], &[u8])> {
    let bytes = path.as_os_str().as_bytes();
    let i = bytes.iter().rposition(|&b| b == b'/')?;
    let (dir, name) = (&bytes[..i], &bytes[i + 1..]);
    (!matches!(name, b"" | b"." | b"..")).then_some((dir, name))
}

/// The part of `path` below the directory `base`, when there is one.
/// Compared as bytes: `Path::strip_prefix` parses every component of both,
/// per file. Both are clean (no `.`, `..` or doubled `/`: walked paths, or
/// the root joined with one), so a byte prefix ending at a `/` is a
/// component prefix. An empty `base` is the root's own walk: every relative
/// path lies below it.
fn below<'p>(base: &Path, path: &'p Path) -> Option<&'p Path> {
    let base = base.as_os_str().as_bytes();
    let rest = path.as_os_str().as_bytes().strip_prefix(base)?;
    let rest = if base.is_empty() || base.ends_with(b"/") {
        rest
    } else {
        rest.strip_prefix(b"/")?
    };
    (!rest.is_empty()).then(|| Path::new(OsStr::from_bytes(rest)))
}

/// Where a walk through the root stands: the real path so far (relative to
/// the root) and the links followed to get there.
#[derive(Debug, Clone, Default)]
struct Walked {
    done: PathBuf,
    links: u32,
    /// lstat of the real path, when its last part exists and is no link.
    last: Option<Stat>,
}

/// Queues a path's parts so that `pop` yields them first to last.
fn push_parts(todo: &mut Vec<OsString>, path: &Path) {
    for part in path.components().rev() {
        match part {
            Component::Normal(name) => todo.push(name.to_os_string()),
            Component::ParentDir => todo.push("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

/// An absolute, normalised path as the node sees it (no `..`, no `.`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodePath(PathBuf);

impl NodePath {
    /// Validates a path given by the user or found in a config; `label`
    /// names where it came from and `example` shows a good one in messages.
    pub fn parse(label: &str, raw: &Path, example: &str) -> Result<NodePath> {
        if raw.to_str().is_none() {
            return Err(usage(format!(
                "{label} {}: the path is not UTF-8, and TOML files can only hold UTF-8 paths",
                raw.display()
            )));
        }
        if !raw.is_absolute() {
            return Err(usage(format!(
                "{label} {}: give an absolute path as the node sees it (for example {example})",
                raw.display()
            )));
        }
        let mut clean = PathBuf::from("/");
        for part in raw.components() {
            match part {
                Component::Normal(name) => clean.push(name),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(usage(format!(
                        "{label} {}: `..` is not allowed in this path",
                        raw.display()
                    )));
                }
            }
        }
        Ok(NodePath(clean))
    }

    /// An absolute path on the machine certsd runs on, taken as it is (it may
    /// hold `..`, which `Root::resolve` follows like the kernel): the `--out`
    /// of the `cert` commands, written with the system root.
    pub fn on_this_machine(absolute: PathBuf) -> NodePath {
        debug_assert!(absolute.is_absolute());
        NodePath(absolute)
    }

    /// A known-good constant such as `/etc/containerd/config.toml`.
    pub fn fixed(path: &str) -> NodePath {
        debug_assert!(path.starts_with('/'));
        NodePath(PathBuf::from(path))
    }

    /// A child of this path; `name` must be a single, already validated component.
    #[must_use]
    pub fn join(&self, name: &str) -> NodePath {
        NodePath(join(&self.0, name))
    }

    pub fn parent(&self) -> Option<NodePath> {
        match self.split_last() {
            Some((b"", _)) => Some(NodePath::fixed("/")),
            Some((dir, _)) => Some(NodePath(PathBuf::from(OsStr::from_bytes(dir)))),
            None => self.0.parent().map(|p| NodePath(p.to_path_buf())),
        }
    }

    pub fn file_name(&self) -> String {
        if let Some(Ok(name)) = self.split_last().map(|(_, n)| std::str::from_utf8(n)) {
            return name.to_string();
        }
        self.0
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// What stands before the last `/` and after it, when the path is plain
    /// there (the last part a name, nothing before it that `Path` would
    /// trim): `parent` and `file_name` then give `Path`'s answer without
    /// parsing components, which they do per file of a fleet. `None`: ask `Path`.
    fn split_last(&self) -> Option<(&[u8], &[u8])> {
        let (dir, name) = split_name(&self.0)?;
        let plain_dir = !dir.ends_with(b"/") && !dir.ends_with(b"/.");
        (plain_dir && self.0.as_os_str().as_bytes().starts_with(b"/")).then_some((dir, name))
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The path as a string for writing into TOML; non-UTF-8 paths are refused earlier.
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl std::fmt::Display for NodePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_maps_node_paths_inside_it() {
        let root = Root::new(PathBuf::from("/tmp/r"));
        let node = NodePath::fixed("/etc/containerd/config.toml");
        assert_eq!(
            root.resolve(&node).unwrap(),
            PathBuf::from("/tmp/r/etc/containerd/config.toml")
        );
        assert!(!root.is_system());
        assert!(Root::new(PathBuf::from("/")).is_system());
    }

    #[test]
    fn links_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        std::fs::create_dir_all(dir.path().join("etc/containerd")).unwrap();
        std::fs::create_dir_all(dir.path().join("srv")).unwrap();
        let link =
            |to: &str, at: &str| std::os::unix::fs::symlink(to, dir.path().join(at)).unwrap();
        link("/srv/real.toml", "etc/containerd/config.toml");
        link("../../../../../../tmp/elsewhere", "etc/containerd/certs.d");
        link("loop", "etc/loop");
        let at = |p: &str| root.resolve(&NodePath::fixed(p)).unwrap();
        assert_eq!(
            at("/etc/containerd/config.toml"),
            dir.path().join("srv/real.toml")
        );
        assert_eq!(
            at("/etc/containerd/certs.d/r/hosts.toml"),
            dir.path().join("tmp/elsewhere/r/hosts.toml")
        );
        assert_eq!(
            at("/etc/containerd/new.toml"),
            dir.path().join("etc/containerd/new.toml")
        );
        assert!(root.resolve(&NodePath::fixed("/etc/loop")).is_err());
    }

    #[test]
    fn the_resolver_walks_as_resolve_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        for d in ["etc/containerd/real/r", "srv/certs/a", "srv/x"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let link =
            |to: &str, at: &str| std::os::unix::fs::symlink(to, dir.path().join(at)).unwrap();
        link("real", "etc/containerd/certs.d");
        link("/srv/certs/a", "etc/containerd/real/b");
        link("../../x/hosts.toml", "srv/certs/a/hosts.toml");
        link("loop", "srv/x/loop");
        std::fs::write(dir.path().join("srv/x/hosts.toml"), "x").unwrap();
        let paths = Resolver::new(root.clone());
        // Keeping one walk: forgets (and walks again) at almost every path.
        let recent = Resolver::recent(root.clone(), 1);
        // Primed from a listing of certs.d (a link to real/: r is a
        // directory there, b a link to one): the same answers.
        let primed = Resolver::new(root.clone());
        primed
            .prime(&NodePath::fixed("/etc/containerd/certs.d"))
            .unwrap();
        assert!(
            primed
                .walked
                .lock()
                .unwrap()
                .contains_key(OsStr::new("/etc/containerd/certs.d/r"))
        );
        assert!(
            !primed
                .walked
                .lock()
                .unwrap()
                .contains_key(OsStr::new("/etc/containerd/certs.d/b"))
        );
        for _ in 0..2 {
            for p in [
                "/etc/containerd/certs.d/r/hosts.toml",
                "/etc/containerd/certs.d/b/hosts.toml",
                "/etc/containerd/certs.d/b/ca.crt",
                "/etc/containerd/certs.d/new/hosts.toml",
                "/etc/containerd",
                "/etc",
            ] {
                let node = NodePath::fixed(p);
                assert_eq!(
                    paths.resolve(&node).unwrap(),
                    root.resolve(&node).unwrap(),
                    "{p}"
                );
                assert_eq!(
                    primed.resolve(&node).unwrap(),
                    root.resolve(&node).unwrap(),
                    "{p}"
                );
                assert_eq!(
                    recent.resolve(&node).unwrap(),
                    root.resolve(&node).unwrap(),
                    "{p}"
                );
                assert!(recent.walked.lock().unwrap().len() <= 1);
            }
        }
        let found = paths
            .locate(&NodePath::fixed("/etc/containerd/certs.d/b/hosts.toml"))
            .unwrap();
        assert_eq!(found.real, dir.path().join("srv/x/hosts.toml"));
        assert!(
            found
                .stat
                .is_some_and(|m| m.kind == rustix::fs::FileType::RegularFile)
        );
        assert!(paths.resolve(&NodePath::fixed("/srv/x/loop/f")).is_err());
        // Below the primed directory, the handle and relative path reach the
        // very file the real path names.
        std::fs::write(dir.path().join("etc/containerd/real/r/hosts.toml"), "r").unwrap();
        let found = primed
            .locate(&NodePath::fixed("/etc/containerd/certs.d/r/hosts.toml"))
            .unwrap();
        let (fd, rel) = found.at().expect("relative to the primed directory");
        assert_eq!(rel, Path::new("r/hosts.toml"));
        let via = rustix::fs::statx(fd, rel, AtFlags::empty(), StatxFlags::INO).unwrap();
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&found.real).unwrap());
        assert_eq!(via.stx_ino, inode);
        assert!(
            primed
                .locate(&NodePath::fixed("/srv/x/hosts.toml"))
                .unwrap()
                .at()
                .is_none()
        );
    }

    #[test]
    fn parent_and_file_name_answer_as_path_does() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/a/b.toml",
            "/a/",
            "/a//b",
            "/a/./b",
            "/a/b/.",
            "/a/b/..",
            "/a/../b",
            "//a",
            "/a/b//",
            "/é/ç",
            "/.certsd",
        ] {
            let node = NodePath::on_this_machine(PathBuf::from(p));
            let path = Path::new(p);
            let want = path.parent().map(Path::to_path_buf);
            assert_eq!(node.parent().map(|n| n.0), want, "{p}");
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            assert_eq!(node.file_name(), name.unwrap_or_default(), "{p}");
        }
    }

    #[test]
    fn node_paths_are_absolute_and_clean() {
        let p = NodePath::parse(
            "--certs-dir",
            Path::new("/etc//containerd/./certs.d/"),
            "/d",
        )
        .unwrap();
        assert_eq!(p.as_str(), "/etc/containerd/certs.d");
        assert!(NodePath::parse("--certs-dir", Path::new("certs.d"), "/d").is_err());
        assert!(NodePath::parse("--certs-dir", Path::new("/etc/../tmp"), "/d").is_err());
    }
}

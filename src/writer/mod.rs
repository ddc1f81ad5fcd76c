//! The one module that writes to disk.
//!
//! A run first takes the lock ([`Session`]): one `flock` on the root
//! directory, so every run that writes under one root (`apply`, and the
//! `cert` commands, whose root is `/`) is serialised, and then repairs what
//! a killed run left (see `journal`), so no crash needs a human.
//!
//! A plan is written as one group. Every target is checked against what
//! Linux can hold (name and path length, the file-size limit) before
//! anything is created. The journal is written, every new file goes to a
//! temporary file beside its target (mode and old owner set), and only when
//! all of them are durable, and the journal says so, are they renamed over
//! their targets. A failure before then leaves every file as it was (and
//! removes what the run made); a crash after it is completed by the next
//! run. The renames go in an order that keeps each moment usable: backups
//! first, keys before their certificates, every file a hosts.toml names
//! before that hosts.toml, hosts.toml before the files it stops naming are
//! deleted, and config.toml last, so the old config stays in force until
//! everything it points at is there. Backups are part of the group (a crash
//! cannot make a second one) and only the newest `--keep-backups` are kept.

mod backups;
mod durable;
mod group;
mod journal;
mod lock;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::core::plan::{FileChange, Made};
use crate::node::{NodePath, Root};
use group::{Content, Entries, Item, Kind};
use journal::Journal;

/// How a run writes: from `--keep-backups` and `--lock-timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Backups of one file to keep (the newest); 0 makes none.
    pub keep_backups: usize,
    /// How long to wait for another run's lock.
    pub lock_timeout: Duration,
}

/// What `apply` wrote.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Files written or deleted, as node paths.
    pub written: Vec<NodePath>,
    /// Backups made, as node paths.
    pub backups: Vec<NodePath>,
    /// Housekeeping done on the way (debris removed, old backups dropped).
    pub notes: Vec<String>,
}

/// The lock of one root, held while a run reads and writes; released on drop.
#[derive(Debug)]
pub struct Session {
    root: Root,
    /// Where the journal lives: the root for `apply`, `--out` for `cert`.
    journal_dir: PathBuf,
    options: Options,
    repairs: Vec<String>,
    _held: lock::Held,
}

impl Session {
    /// Locks `root` for `apply`; the journal lives in the root itself.
    pub fn for_root(root: &Root, options: Options) -> Result<Session> {
        Session::begin(root.clone(), root.dir().to_path_buf(), options)
    }

    /// Locks `/` for a `cert` command writing into `dir` (a path on this
    /// machine), which also holds its journal: the next run on `dir` repairs.
    pub fn for_dir(dir: &Path, options: Options) -> Result<Session> {
        Session::begin(Root::new(PathBuf::from("/")), dir.to_path_buf(), options)
    }

    fn begin(root: Root, journal_dir: PathBuf, options: Options) -> Result<Session> {
        let held = lock::acquire(root.dir(), options.lock_timeout)?;
        let mut repairs = Vec::new();
        repairs.extend(journal::recover(root.dir(), &journal_dir)?);
        durable::remove_debris(&journal_dir);
        Ok(Session {
            root,
            journal_dir,
            options,
            repairs,
            _held: held,
        })
    }

    /// What this run repaired of a killed run's work, for the user.
    pub fn repairs(&self) -> &[String] {
        &self.repairs
    }

    /// Writes every changing file of `files`, and `made` (a new file made as
    /// it is written), as one group (see the module doc). Files, not a
    /// [`Plan`](crate::core::plan::Plan): a plan and the files that record
    /// it in the history go in one group without copying a fleet's plan.
    pub fn apply<'a>(
        &self,
        files: impl IntoIterator<Item = &'a FileChange>,
        made: Option<&'a dyn Made>,
    ) -> Result<Outcome> {
        let files: Vec<&FileChange> = files.into_iter().collect();
        let items = self.items(&files, made)?;
        let mut outcome = Outcome::default();
        if items.is_empty() {
            return Ok(outcome);
        }
        let dirs = self.dirs_of(&items);
        let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        let removed: usize = dirs.iter().map(|d| durable::remove_debris(d)).sum();
        if removed > 0 {
            outcome.notes.push(format!(
                "removed {removed} temporary file(s) left by killed runs"
            ));
        }
        let small = items.len() <= durable::SYNCFS_ABOVE;
        let mut journal = Journal {
            pid: std::process::id(),
            committed: false,
            created_dirs: Vec::new(),
            entries: Entries {
                root: &self.root,
                items: &items,
            },
        };
        durable::check_size_limit(
            &self.journal_dir.join(journal::JOURNAL).display(),
            journal::size(&journal)?,
        )?;
        if let Err(err) = self.stage(&items, &mut journal, &dirs, small) {
            self.roll_back(&items, &journal.created_dirs);
            return Err(err);
        }
        self.commit(&items, &dirs, small)?;
        // The items (their paths, sizes and hashes) go before the outcome's
        // names are copied: at a fleet's size both would be megabytes.
        outcome.backups = items
            .iter()
            .filter(|i| i.kind == Kind::Backup)
            .map(|i| i.node().clone())
            .collect();
        drop(dirs);
        drop(items);
        outcome.written = files
            .iter()
            .filter(|f| f.changes())
            .map(|f| f.path.clone())
            .chain(made.map(|m| m.path().clone()))
            .collect();
        for change in files.iter().filter(|f| f.backup && f.changes()) {
            let keep = self.options.keep_backups;
            let dropped = backups::prune(&self.root, &change.path, keep);
            if dropped > 0 {
                outcome.notes.push(format!(
                    "removed {dropped} old backup(s) of {} (keeping {keep}, --keep-backups)",
                    change.path
                ));
            }
        }
        Ok(outcome)
    }

    /// The changing files, their backups and `made`, in rename order, checked.
    fn items<'a>(
        &self,
        files: &[&'a FileChange],
        made: Option<&'a dyn Made>,
    ) -> Result<Vec<Item<'a>>> {
        // Exact: the group of a fleet is tens of thousands of items.
        let backups = files.iter().filter(|f| f.backup).count();
        let mut items = Vec::with_capacity(files.len() + backups + 1);
        // Nothing is written while the items are made, so walks can be
        // kept; the files come grouped by directory, so the recent suffice.
        let paths = crate::node::Resolver::recent(self.root.clone(), 64);
        for change in files.iter().copied().filter(|f| f.changes()) {
            let real = paths.resolve(&change.path)?;
            let backup = match (change.backup, &change.before) {
                (true, Some(_)) if self.options.keep_backups > 0 => {
                    let node = backups::free_path(&self.root, &change.path)?;
                    let real = paths.resolve(&node)?;
                    Some((node, real))
                }
                _ => None,
            };
            group::push_items(&mut items, &self.root, change, real, backup);
        }
        if let Some(made) = made {
            let real = paths.resolve(made.path())?;
            let item = group::made_item(&self.root, made, real)
                .map_err(|e| durable::explain(&e))
                .with_context(|| format!("{}: cannot write", made.path()))?;
            items.push(item);
        }
        // In place, unlike a stable sort (whose scratch copy of a fleet's
        // items is megabytes); `seq` keeps equal ranks in plan order.
        for (seq, item) in (0..).zip(items.iter_mut()) {
            item.seq = seq;
        }
        items.sort_unstable_by_key(|i| (i.rank, i.seq));
        for item in &items {
            durable::check_path(item.node(), &item.real(&self.root))?;
            if let Some(content) = item.content() {
                durable::check_size_limit(item.node(), content.len())?;
            }
        }
        Ok(items)
    }

    /// Makes the directories, writes the staging journal, then the temporary files.
    fn stage(
        &self,
        items: &[Item<'_>],
        journal: &mut Journal<Entries<'_>>,
        dirs: &[&Path],
        small: bool,
    ) -> Result<()> {
        let root = self.root.dir();
        for dir in std::iter::once(self.journal_dir.as_path()).chain(dirs.iter().copied()) {
            let known = |e: anyhow::Error| e.context(self.where_of(items, dir));
            for made in durable::make_dirs(dir).map_err(known)? {
                journal.created_dirs.push(journal::relative(root, &made)?);
            }
        }
        journal::write(&self.journal_dir, journal, false)?;
        for item in items {
            if let Some(content) = item.content() {
                let owner = fs::metadata(item.owner_of(&self.root))
                    .ok()
                    .map(|m| (m.uid(), m.gid()));
                let real = item.real(&self.root);
                write_temp(&durable::temp_name(&real), &content, owner, small)
                    .map_err(|e| durable::explain(&e))
                    .with_context(|| format!("{}: cannot write", item.node()))?;
            }
        }
        if !small {
            let mut all = dirs.to_vec();
            all.push(&self.journal_dir);
            durable::sync_filesystems(&all)?;
        }
        journal.committed = true;
        journal::write(&self.journal_dir, journal, true)
    }

    /// The renames, in order, then syncing and removing the journal. A
    /// failure here leaves the committed journal: the next run completes it.
    fn commit(&self, items: &[Item<'_>], dirs: &[&Path], small: bool) -> Result<()> {
        let later = "; the rest of the group is staged and the next certsd run completes it";
        for item in items {
            let real = item.real(&self.root);
            let done = match (item.writes(), item.kind) {
                (true, _) => fs::rename(durable::temp_name(&real), &real),
                // remove_dir refuses a directory that is not empty, so a file
                // that appeared in it meanwhile is never lost.
                (false, Kind::RemoveDir) => fs::remove_dir(&real),
                (false, _) => durable::remove_atomic(&real),
            };
            done.map_err(|e| durable::explain(&e))
                .with_context(|| format!("{}: cannot write{later}", item.node()))?;
        }
        if small {
            durable::sync_dirs(dirs)?;
        } else {
            durable::sync_filesystems(dirs)?;
        }
        journal::remove(&self.journal_dir)
    }

    /// Undoes a failed staging: temporary files, the journal, the
    /// directories it made (`created`).
    fn roll_back(&self, items: &[Item<'_>], created: &[String]) {
        for item in items.iter().filter(|i| i.writes()) {
            let _ = fs::remove_file(durable::temp_name(&item.real(&self.root)));
        }
        let _ = journal::remove(&self.journal_dir);
        let _ = fs::remove_file(durable::temp_name(&self.journal_dir.join(journal::JOURNAL)));
        for dir in created.iter().rev() {
            let _ = fs::remove_dir(self.root.dir().join(dir));
        }
    }

    /// The items' directories once each, sorted (so a parent comes before
    /// the directories in it). A set keeps a group of thousands of files
    /// linear; a directory is copied only the first time it is seen.
    fn dirs_of(&self, items: &[Item<'_>]) -> Vec<PathBuf> {
        let mut dirs = std::collections::BTreeSet::new();
        for item in items {
            let real = item.real(&self.root);
            let dir = real.parent().unwrap_or(Path::new("/"));
            if !dirs.contains(dir) {
                dirs.insert(dir.to_path_buf());
            }
        }
        dirs.into_iter().collect()
    }

    /// Names the node file a directory is made for, for messages.
    fn where_of(&self, items: &[Item<'_>], dir: &Path) -> String {
        items
            .iter()
            .find(|i| i.real(&self.root).parent() == Some(dir))
            .map_or_else(
                || dir.display().to_string(),
                |i| format!("{}: cannot write", i.node()),
            )
    }
}

/// Whether a killed run left a journal in `dir` (the next write run completes it).
pub fn interrupted(dir: &Path) -> bool {
    dir.join(journal::JOURNAL).symlink_metadata().is_ok()
}

fn write_temp(
    tmp: &Path,
    content: &Content<'_>,
    owner: Option<(u32, u32)>,
    sync: bool,
) -> std::io::Result<()> {
    let _ = fs::remove_file(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    content.body.write_to(&mut file)?;
    if let Some((uid, gid)) = owner {
        // Only root may give files away; as another user the owner is ours anyway.
        let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
    }
    // Set after chown: chown may clear set-id bits, and umask must not narrow the mode.
    file.set_permissions(fs::Permissions::from_mode(content.mode))?;
    if sync {
        file.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use journal::Entry;

    fn plan_of(changes: Vec<FileChange>) -> Vec<FileChange> {
        changes
    }

    fn new_file(path: &str, bytes: &str, mode: u32) -> FileChange {
        FileChange::write(NodePath::fixed(path), None, bytes.as_bytes().to_vec(), mode)
    }

    fn session(root: &Root) -> Session {
        let options = Options {
            keep_backups: 5,
            lock_timeout: Duration::from_secs(5),
        };
        Session::for_root(root, options).unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_plan_is_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        let ok = plan_of(vec![
            new_file("/x/a.crt", "cert", 0o644),
            new_file("/x/a.key", "key", 0o600),
        ]);
        session(&root).apply(&ok, None).unwrap();
        assert_eq!(fs::read(dir.path().join("x/a.key")).unwrap(), b"key");
        let mode = fs::metadata(dir.path().join("x/a.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The second target's directory cannot be made (a file is in the way).
        fs::write(dir.path().join("blocker"), "").unwrap();
        let bad = plan_of(vec![
            new_file("/y/b.crt", "cert", 0o644),
            new_file("/blocker/b.key", "key", 0o600),
        ]);
        let err = session(&root).apply(&bad, None).unwrap_err();
        assert!(
            format!("{err:#}").starts_with("/blocker/b.key: cannot write"),
            "{err:#}"
        );
        assert!(
            !dir.path().join("y").exists(),
            "a directory of a failed group remains"
        );
        assert_eq!(
            names(dir.path()),
            ["blocker", "x"],
            "the journal or a temp file remains"
        );
    }

    #[test]
    fn a_copy_is_read_again_and_refused_when_its_input_changed() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().join("node"));
        fs::create_dir(root.dir()).unwrap();
        let input = dir.path().join("ca.crt");
        fs::write(&input, "planned").unwrap();
        let plan = || {
            vec![
                new_file("/h/hosts.toml", "h", 0o644),
                FileChange::copied(
                    NodePath::fixed("/h/ca.crt"),
                    None,
                    (&input, b"planned"),
                    0o644,
                    false,
                ),
            ]
        };
        let changed = plan();
        fs::write(&input, "changed").unwrap();
        let err = session(&root).apply(&changed, None).unwrap_err();
        assert!(
            format!("{err:#}").contains("changed while certsd ran"),
            "{err:#}"
        );
        assert!(names(root.dir()).is_empty(), "{:?}", names(root.dir()));
        fs::write(&input, "planned").unwrap();
        session(&root).apply(&plan(), None).unwrap();
        assert_eq!(fs::read(root.dir().join("h/ca.crt")).unwrap(), b"planned");
    }

    #[test]
    fn a_loosened_key_is_rewritten_with_its_own_bytes_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        fs::create_dir(dir.path().join("k")).unwrap();
        fs::write(dir.path().join("k/c.key"), "key").unwrap();
        fs::set_permissions(
            dir.path().join("k/c.key"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let node = NodePath::fixed("/k/c.key");
        let before = crate::node::read_existing(&root, &node).unwrap();
        let key = FileChange::exact(node, before, b"key".to_vec(), 0o600, true);
        assert!(matches!(
            key.after(),
            Some(crate::core::plan::Content::Same)
        ));
        session(&root).apply(&[key], None).unwrap();
        let meta = fs::metadata(dir.path().join("k/c.key")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(dir.path().join("k/c.key")).unwrap(), b"key");
    }

    #[test]
    fn a_delete_removes_the_file_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        fs::create_dir_all(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/hosts.toml"), "old").unwrap();
        fs::write(dir.path().join("d/keep"), "other").unwrap();
        let before = crate::node::read_existing(&root, &NodePath::fixed("/d/hosts.toml"))
            .unwrap()
            .unwrap();
        let plan = plan_of(vec![FileChange::delete(
            NodePath::fixed("/d/hosts.toml"),
            before,
        )]);
        let outcome = session(&root).apply(&plan, None).unwrap();
        assert_eq!(outcome.written, vec![NodePath::fixed("/d/hosts.toml")]);
        assert_eq!(names(&dir.path().join("d")), ["keep"]);
    }

    #[test]
    fn renames_keep_keys_before_certs_and_hosts_toml_before_config() {
        let mut config = new_file("/c/config.toml", "c", 0o644);
        config.needs_restart = true;
        let key = FileChange::exact(
            NodePath::fixed("/k/ca.key"),
            None,
            b"k".to_vec(),
            0o600,
            true,
        );
        let plan = plan_of(vec![
            config,
            new_file("/h/hosts.toml", "h", 0o644),
            new_file("/h/ca.crt", "c", 0o644),
            key,
        ]);
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        let s = session(&root);
        let order: Vec<String> = s
            .items(&plan.iter().collect::<Vec<_>>(), None)
            .unwrap()
            .iter()
            .map(|i| i.node().to_string())
            .collect();
        assert_eq!(
            order,
            ["/k/ca.key", "/h/ca.crt", "/h/hosts.toml", "/c/config.toml"]
        );
    }

    #[test]
    fn a_killed_committed_group_is_rolled_forward() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        fs::create_dir_all(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/.a.certsd-tmp-999999"), "new a").unwrap();
        fs::write(dir.path().join("d/b"), "new b").unwrap();
        let journal = Journal {
            pid: 999_999,
            committed: true,
            created_dirs: Vec::new(),
            entries: vec![
                Entry {
                    node: "/d/b".into(),
                    target: "d/b".into(),
                    tmp: Some("d/.b.certsd-tmp-999999".into()),
                    sha256: Some(journal::sha256(b"new b")),
                    dir: false,
                },
                Entry {
                    node: "/d/a".into(),
                    target: "d/a".into(),
                    tmp: Some("d/.a.certsd-tmp-999999".into()),
                    sha256: Some(journal::sha256(b"new a")),
                    dir: false,
                },
            ],
        };
        journal::write(dir.path(), &journal, false).unwrap();
        assert!(interrupted(dir.path()));
        let s = session(&root);
        assert!(s.repairs()[0].contains("completed"), "{:?}", s.repairs());
        assert!(s.repairs()[0].ends_with(": /d/a"), "{:?}", s.repairs());
        assert_eq!(fs::read(dir.path().join("d/a")).unwrap(), b"new a");
        assert_eq!(names(dir.path()), ["d"]);
    }

    #[test]
    fn a_waiter_that_times_out_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        let _held = session(&root);
        let options = Options {
            keep_backups: 5,
            lock_timeout: Duration::from_millis(200),
        };
        let err = Session::for_root(&root, options).unwrap_err();
        let pid = std::process::id();
        assert!(
            err.to_string().contains(&format!("locked by pid {pid} (")),
            "{err}"
        );
    }
}

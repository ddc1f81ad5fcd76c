//! `certsd rollback`: the plan that puts back what the last applies changed.
//!
//! From the history (see `history`), newest first, the last `steps`
//! entries not yet rolled back: every file goes back to what it held
//! before the oldest of them (a replaced file from its copy, a created
//! file removed, a deleted one restored), then the directories those
//! applies created are removed when nothing else is left in them, and each
//! entry is marked rolled back. It is a plan like any other, so the writer
//! makes it one crash-safe group. A file that no longer holds what the
//! apply wrote was changed by someone else: rollback names it and stops,
//! unless `force`. A file already back to its old content is left alone,
//! so rolling back twice changes nothing the second time.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::core::history::{self, Entry, State, Stored, Touched};
use crate::core::plan::{FileChange, Plan};
use crate::exit_codes::usage;
use crate::node::{Existing, NodePath, Root, list_dir, read_existing};

/// What `certsd rollback` was asked.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How many applies to go back (newest first).
    pub steps: usize,
    /// Restore files that changed since their apply.
    pub force: bool,
}

/// The plan and what it undoes.
#[derive(Debug, Default)]
pub struct Rollback {
    /// The files put back and the directories removed: what is shown.
    pub plan: Plan,
    /// The entries marked rolled back (history files, not shown).
    pub marks: Vec<FileChange>,
    /// The ids of the applies it undoes, newest first.
    pub undone: Vec<u32>,
    /// The ids of chosen applies that were already rolled back.
    pub already: Vec<u32>,
}

/// Plans the rollback of the last `options.steps` applies of the history
/// in `dir` (`history::dir(config)` for applies, `<out>/.certsd-history`
/// for `cert` commands).
pub fn plan(root: &Root, dir: &NodePath, options: Options) -> Result<Rollback> {
    let stored = history::read_all(root, dir)?;
    if options.steps == 0 {
        return Err(usage(
            "--steps 0: give how many applies to go back (1 or more)",
        ));
    }
    if stored.len() < options.steps {
        bail!(
            "{dir}: {} recorded, cannot go back {} (the history keeps the last --keep-backups applies)",
            count(stored.len()),
            options.steps
        );
    }
    let chosen: Vec<&Stored> = stored.iter().rev().take(options.steps).collect();
    let (todo, already): (Vec<&Stored>, Vec<&Stored>) =
        chosen.into_iter().partition(|s| !s.entry.rolled_back);
    let mut out = Rollback {
        already: already.iter().map(|s| s.entry.id).collect(),
        undone: todo.iter().map(|s| s.entry.id).collect(),
        ..Rollback::default()
    };
    let goals = goals(&todo);
    let mut conflicts = Vec::new();
    for (path, goal) in &goals {
        if let Some(change) = restore(root, path, goal, options.force, &mut conflicts)? {
            out.plan.files.push(change);
        }
    }
    if !conflicts.is_empty() {
        bail!(
            "{}; nothing was written. Look at what changed, then `certsd rollback --force` restores it anyway",
            conflicts.join("; ")
        );
    }
    let dirs = remove_dirs(root, &todo, &out.plan)?;
    out.plan.files.extend(dirs);
    for stored in &todo {
        let entry = Entry {
            rolled_back: true,
            ..stored.entry.clone()
        };
        out.marks.push(FileChange::exact(
            stored.path.clone(),
            Some(stored.file.clone()),
            history::to_json(&entry),
            stored.file.mode,
            false,
        ));
    }
    Ok(out)
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 apply is".into()
    } else {
        format!("{n} applies are")
    }
}

/// Where one file goes back to: what the newest apply left, and what the
/// oldest found.
struct Goal<'a> {
    newest: &'a Touched,
    newest_id: u32,
    oldest: &'a Touched,
}

/// Per path (in the order of the newest apply): the goal across the applies undone.
fn goals<'a>(todo: &[&'a Stored]) -> BTreeMap<String, Goal<'a>> {
    let mut goals: BTreeMap<String, Goal<'a>> = BTreeMap::new();
    for stored in todo {
        for touched in &stored.entry.files {
            goals
                .entry(touched.path.clone())
                .and_modify(|g| g.oldest = touched)
                .or_insert(Goal {
                    newest: touched,
                    newest_id: stored.entry.id,
                    oldest: touched,
                });
        }
    }
    goals
}

/// The change that puts `path` back, `None` when it already is; a file
/// someone else changed goes into `conflicts` (unless `force`).
fn restore(
    root: &Root,
    path: &str,
    goal: &Goal<'_>,
    force: bool,
    conflicts: &mut Vec<String>,
) -> Result<Option<FileChange>> {
    let node = NodePath::fixed(path);
    let now = read_existing(root, &node)?;
    let now_hash = now.as_ref().map(|e| history::sha256(&e.bytes));
    let wanted = goal.oldest.before.as_ref();
    if now_hash.as_deref() == wanted.map(|s| s.sha256.as_str())
        && now.as_ref().map(|e| e.mode) == wanted.map(|s| s.mode)
    {
        return Ok(None);
    }
    let wrote = goal.newest.after.as_ref().map(|s| s.sha256.as_str());
    if now_hash.as_deref() != wrote && !force {
        conflicts.push(format!(
            "{path}: changed since apply {} wrote it ({}); someone else edited it",
            goal.newest_id,
            match (&now_hash, wrote) {
                (None, _) => "it is gone".to_string(),
                (Some(_), None) => "the apply deleted it, and it is back".to_string(),
                (Some(h), Some(w)) => format!("sha256 {} now, {} written", &h[..12], &w[..12]),
            }
        ));
        return Ok(None);
    }
    let secret = goal.newest.secret || goal.oldest.secret;
    let change = match wanted {
        None => match now {
            Some(file) => FileChange {
                secret,
                ..FileChange::delete(node, file)
            },
            None => return Ok(None),
        },
        Some(state) => {
            let bytes = old_content(root, &node, state)?;
            FileChange::exact(node, now, bytes, state.mode, secret)
        }
    };
    Ok(Some(FileChange {
        needs_restart: goal.newest.needs_restart || goal.oldest.needs_restart,
        ..change
    }))
}

/// The old bytes: from the entry's copy, or from the writer's
/// `NAME.certsd-backup-*` beside the file whose hash matches.
fn old_content(root: &Root, node: &NodePath, state: &State) -> Result<Vec<u8>> {
    let candidates: Vec<NodePath> = match &state.backup {
        Some(copy) => vec![NodePath::fixed(copy)],
        None => writer_backups(root, node)?,
    };
    for candidate in &candidates {
        if let Some(Existing { bytes, .. }) = read_existing(root, candidate)?
            && history::sha256(&bytes) == state.sha256
        {
            return Ok(bytes);
        }
    }
    bail!(
        "{node}: no copy of its old content (sha256 {}) is left{}; nothing was written",
        &state.sha256[..12],
        match &state.backup {
            Some(copy) => format!(" ({copy} is missing or changed)"),
            None => format!(" among {}.certsd-backup-*", node.file_name()),
        }
    )
}

/// The writer's backups of `node`, newest first.
fn writer_backups(root: &Root, node: &NodePath) -> Result<Vec<NodePath>> {
    let Some(parent) = node.parent() else {
        return Ok(Vec::new());
    };
    let prefix = format!("{}.certsd-backup-", node.file_name());
    let mut names: Vec<String> = list_dir(root, &parent)?
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !e.is_dir && e.name.starts_with(&prefix))
        .map(|e| e.name)
        .collect();
    names.sort();
    Ok(names.iter().rev().map(|n| parent.join(n)).collect())
}

/// The directories the undone applies created that will be empty once the
/// plan's deletions are done, deepest first.
fn remove_dirs(root: &Root, todo: &[&Stored], plan: &Plan) -> Result<Vec<FileChange>> {
    let mut dirs: Vec<&String> = todo.iter().flat_map(|s| &s.entry.created_dirs).collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    dirs.dedup();
    let deleted: Vec<&str> = plan
        .files
        .iter()
        .filter(|f| f.after().is_none())
        .map(|f| f.path.as_str())
        .collect();
    let mut removed: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for dir in dirs {
        let node = NodePath::fixed(dir);
        let Some(listing) = list_dir(root, &node)? else {
            continue;
        };
        let left = listing.iter().any(|e| {
            let child = format!("{dir}/{}", e.name);
            !deleted.contains(&child.as_str()) && !removed.contains(&child)
        });
        if !left {
            out.push(FileChange::remove_dir(node, 0o755));
            removed.push(dir.clone());
        }
    }
    Ok(out)
}

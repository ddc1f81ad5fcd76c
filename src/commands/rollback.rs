//! `certsd rollback`: undo the last applies (see `core::rollback`), shown
//! as a diff first (`--dry-run` stops there), written through the writer
//! as one crash-safe group, and containerd restarted with `--restart` when
//! config.toml changed. With `--dir DIR` it undoes the `cert` commands'
//! writes into DIR instead, from `DIR/.certsd-history/`, under the same
//! lock and journal as those commands.

use std::io;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};

use super::trust::{restart, shown, without_history};
use crate::core::history;
use crate::core::rollback::{self, Rollback};
use crate::exit_codes::Code;
use crate::node::validate::Validation;
use crate::node::{NodePath, Root};
use crate::render::report::{self, Restart};
use crate::settings::{Output, Settings};
use crate::writer;

/// What the user asked of `rollback`.
pub struct Request {
    pub options: rollback::Options,
    pub dry_run: bool,
    pub detailed_exitcode: bool,
    /// The restart command's words, with `--restart`.
    pub restart: Option<Vec<String>>,
    /// `--dir`: a `cert` commands' output directory, not the node's applies.
    pub dir: Option<PathBuf>,
}

/// Whose history is rolled back: the applies' (beside config.toml, under
/// `--root`), or with `--dir` the `cert` commands' (in DIR, a path on this
/// machine as `--out` is), with the root and writer session that go with it.
struct Target {
    root: Root,
    history: NodePath,
    dir: Option<PathBuf>,
}

impl Target {
    fn new(settings: &Settings, request: &Request) -> Result<Target> {
        let Some(dir) = &request.dir else {
            return Ok(Target {
                root: settings.root.clone(),
                history: history::dir(&settings.config),
                dir: None,
            });
        };
        let absolute = std::path::absolute(dir)
            .with_context(|| format!("{}: cannot resolve", dir.display()))?;
        let clean = NodePath::parse("--dir", &absolute, "/srv/pki")?;
        Ok(Target {
            root: Root::new(PathBuf::from("/")),
            history: clean.join(history::DIR_NAME),
            dir: Some(clean.as_path().to_path_buf()),
        })
    }

    fn session(&self, options: writer::Options) -> Result<writer::Session> {
        match &self.dir {
            None => writer::Session::for_root(&self.root, options),
            Some(dir) => writer::Session::for_dir(dir, options),
        }
    }
}

/// `certsd rollback`.
pub fn run(settings: &Settings, request: &Request) -> Result<Code> {
    let target = Target::new(settings, request)?;
    if request.dry_run {
        let planned = rollback::plan(&target.root, &target.history, request.options)?;
        tell(&planned, &target, settings.output, true);
        let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
        shown(report::print_plan(
            &planned.plan,
            None,
            settings.output,
            &mut out,
            &mut err,
        ))?;
        if settings.output == Output::Text {
            let n = planned.plan.files.iter().filter(|f| f.changes()).count();
            eprintln!(
                "certsd: {n} file(s) to change; `certsd rollback` with the same options writes them"
            );
        }
        return Ok(if request.detailed_exitcode && planned.plan.changed() {
            Code::ChangesPending
        } else {
            Code::Success
        });
    }
    let options = writer::Options {
        keep_backups: settings.write.keep_backups,
        lock_timeout: settings.write.lock_timeout,
    };
    let session = target.session(options)?;
    for repair in session.repairs() {
        eprintln!("certsd: {repair}");
    }
    let planned = rollback::plan(&target.root, &target.history, request.options)?;
    tell(&planned, &target, settings.output, false);
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    if settings.output == Output::Text {
        shown(report::print_plan(
            &planned.plan,
            None,
            settings.output,
            &mut out,
            &mut err,
        ))?;
    }
    // The restored files carry no backup flag: the history keeps their copies.
    let mut outcome = session.apply(planned.plan.files.iter().chain(&planned.marks), None)?;
    without_history(&mut outcome, &target.history);
    let restart = match &request.restart {
        Some(words) if planned.plan.restart_required() => restart(words),
        _ => Restart::NotRun,
    };
    let validation = Validation::skipped(
        None,
        "rollback restores files containerd ran with before".into(),
    );
    let applied = report::Applied {
        outcome: &outcome,
        restart: &restart,
        validation: &validation,
    };
    if settings.output == Output::Json {
        shown(report::print_plan(
            &planned.plan,
            Some(&applied),
            settings.output,
            &mut out,
            &mut err,
        ))?;
    }
    shown(report::summarize_apply(
        &planned.plan,
        &applied,
        settings.output,
        &mut err,
    ))?;
    if let Restart::Failed { command, why } = restart {
        return Err(anyhow!(
            "the files were restored, but the restart command `{command}` failed: {why}; restart containerd yourself"
        ));
    }
    Ok(Code::Success)
}

/// Which applies (or `cert` writes) the rollback undoes, on stderr (text only).
fn tell(planned: &Rollback, target: &Target, output: Output, dry_run: bool) {
    let what = if target.dir.is_some() {
        "cert write"
    } else {
        "apply"
    };
    if output == Output::Json {
        return;
    }
    let ids = |ids: &[u32]| {
        ids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !planned.already.is_empty() {
        eprintln!(
            "certsd: {what} {} already rolled back",
            ids(&planned.already)
        );
    }
    if !planned.undone.is_empty() {
        let verb = if dry_run { "would undo" } else { "undoing" };
        eprintln!("certsd: rollback {verb} {what} {}", ids(&planned.undone));
    }
}

//! `certsd plan` and `certsd apply`: the same plan, printed, and for apply
//! written (and with `--restart`, containerd restarted when config.toml changed).

use std::io;

use anyhow::{Result, anyhow};

use super::planfile::{self, Save, Saved};
use super::source::Prepared;
use crate::core::plan::{Notice, Plan};
use crate::core::{history, issuance};
use crate::core::{migrate, planner};
use crate::exit_codes::{Code, is_broken_pipe};
use crate::node::Node;
use crate::node::validate::Validation;
use crate::render::report::{self, Restart};
use crate::settings::{Output, RegistryEntry, RegistryRequest};
use crate::version::Target;
use crate::writer;

impl Prepared {
    /// Validates the requests, reads the node and computes the plan. The
    /// planner validates each entry as it reaches it (see
    /// [`planner::Requests`]); a bad entry is still the error reported when
    /// the node or the plan has a problem too, as when every entry was
    /// checked before the node was read.
    pub(crate) fn plan(&mut self) -> Result<(Node, Plan)> {
        let entries = self.registries.take()?;
        self.plan_of(entries)
    }

    /// [`Prepared::plan`] of `entries`, each dropped once it is planned.
    fn plan_of(&self, entries: Vec<RegistryEntry>) -> Result<(Node, Plan)> {
        let target = self.settings.target();
        let bad_entry = std::cell::Cell::new(false);
        let mut requests = Consumed::new(entries).map(|r| {
            let request = RegistryRequest::validate(&r.input, &r.origin, target.as_ref());
            bad_entry.set(bad_entry.get() || request.is_err());
            request
        });
        let planned = self.plan_from(target.clone(), &mut requests);
        if planned.is_err() && !bad_entry.get() {
            for request in requests {
                request?;
            }
        }
        planned
    }

    fn plan_from(
        &self,
        target: Option<Target>,
        requests: &mut planner::Requests<'_>,
    ) -> Result<(Node, Plan)> {
        let node = Node::read(
            self.settings.root.clone(),
            self.settings.config.clone(),
            target,
        )?;
        let certs_dir = self.settings.certs_dir.as_ref();
        let mut plan = match (&self.migrate, self.prune) {
            (Some(options), _) => {
                let requests = requests.collect::<Result<Vec<_>>>()?;
                migrate::plan(&node, certs_dir, options, &requests)?
            }
            (None, true) => planner::plan_pruning(&node, certs_dir, requests, &self.origin)?,
            (None, false) => planner::plan(&node, certs_dir, requests, &self.origin)?,
        };
        for warning in &self.warnings {
            plan.warn(Notice::warning("source", warning.clone()));
        }
        Ok((node, plan))
    }

    /// The plan, and every file computing it read (for `plan --out`).
    fn plan_recorded(&mut self) -> Result<(Node, Plan, Vec<crate::node::reads::Read>)> {
        let (result, reads) = crate::node::reads::record(|| self.plan());
        let (node, plan) = result?;
        Ok((node, plan, reads))
    }
}

/// The items of a list in order, each given away as it is reached, and the
/// list's own memory given back as it empties: a fleet's spec entries are
/// megabytes, and what they free is what the plan grows into.
struct Consumed<T> {
    /// Reversed: the next item is the last.
    rest: Vec<T>,
}

impl<T> Consumed<T> {
    fn new(mut items: Vec<T>) -> Self {
        items.reverse();
        Consumed { rest: items }
    }
}

impl<T> Iterator for Consumed<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let item = self.rest.pop()?;
        if self.rest.len() < self.rest.capacity() / 2 {
            self.rest.shrink_to_fit();
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.rest.len(), Some(self.rest.len()))
    }
}

/// `plan --plan`: whether the saved plan is what would be computed now;
/// `Ok(true)` when it still applies and changes something.
pub(super) fn check_saved(run: &mut Prepared, saved: &Saved) -> Result<bool> {
    let (node, plan) = run.plan()?;
    planfile::check_result(saved, &node, &shown_text(&plan)?)?;
    Ok(plan.changed())
}

/// What `plan` prints on stdout as text (pending certificates, moves, the
/// diff): the part of a saved plan that is reviewed.
fn shown_text(plan: &Plan) -> Result<String> {
    let mut out = Vec::new();
    report::print_plan(plan, None, Output::Text, &mut out, &mut io::sink())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The files that record `plan` in the history: the writer gets them with
/// the plan's own, so both land in one crash-safe group.
fn history_of<'a>(run: &Prepared, plan: &'a Plan) -> Result<history::Recording<'a>> {
    let record = history::Record {
        root: &run.settings.root,
        config: &run.settings.config,
        keep: run.settings.write.keep_backups,
        time: now(),
    };
    history::record(&record, plan)
}

/// Now (UTC, RFC 3339), for a history entry.
pub(super) fn now() -> String {
    let format = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

/// Leaves the files of the history in `dir` out of what the user is told was written.
pub(super) fn without_history(outcome: &mut writer::Outcome, dir: &crate::node::NodePath) {
    let inside = format!("{dir}/");
    outcome.written.retain(|p| !p.as_str().starts_with(&inside));
}

/// `certsd plan` (with `save`: `plan --out FILE`).
pub fn plan(run: &mut Prepared, detailed_exitcode: bool, save: Option<&Save>) -> Result<Code> {
    if writer::interrupted(run.settings.root.dir()) {
        eprintln!(
            "warning: a certsd run was killed while writing; this plan shows the files as it left them, and the next apply completes or undoes its writes first"
        );
    }
    let (node, plan, reads) = run.plan_recorded()?;
    if let Some(save) = save {
        planfile::save(save, run, &node, &reads, &shown_text(&plan)?)?;
    }
    let output = run.settings.output;
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    shown(report::print_plan(&plan, None, output, &mut out, &mut err))?;
    shown(report::summarize_plan(&plan, output, &mut err))?;
    Ok(if detailed_exitcode && plan.changed() {
        Code::ChangesPending
    } else {
        Code::Success
    })
}

/// What `execute` tells its caller as it goes, so the CLI can print (the
/// diff before writing, for a failed write still shows what was meant) and
/// the Ansible module can collect warnings, from one sequence of steps.
pub(crate) enum Step<'a> {
    /// A killed run's writes were completed or undone (`certsd: ...`).
    Repaired(&'a str),
    /// The plan, certificates made, before anything is validated or written.
    Planned(&'a Plan),
    /// containerd judged (or did not judge) the new config.toml.
    Validated(&'a Validation),
    /// Something the writer did besides the plan (debris, old backups).
    Noted(&'a str),
}

/// What an apply did.
pub(crate) struct Executed {
    pub plan: Plan,
    pub outcome: writer::Outcome,
    pub validation: Validation,
    pub restart: Restart,
}

impl Executed {
    pub(crate) fn applied(&self) -> report::Applied<'_> {
        report::Applied {
            outcome: &self.outcome,
            restart: &self.restart,
            validation: &self.validation,
        }
    }

    /// The error to report when the restart command failed (the files are written).
    pub(crate) fn restart_failure(&self) -> Option<anyhow::Error> {
        let Restart::Failed { command, why } = &self.restart else {
            return None;
        };
        Some(anyhow!(
            "the files were written ({} changed), but the restart command `{command}` failed: {why}; \
             restart containerd yourself to load the new config.toml",
            self.outcome.written.len()
        ))
    }
}

/// The steps of an apply, for the CLI and the Ansible module alike: lock
/// and repair, plan (with `saved`: refuse unless the plan is exactly the
/// saved one), make the certificates it orders, have containerd validate,
/// write (recording the apply in the history), restart when asked and
/// config.toml changed.
pub(crate) fn execute(
    run: &mut Prepared,
    saved: Option<&Saved>,
    on: &mut dyn FnMut(Step<'_>) -> Result<()>,
) -> Result<Executed> {
    let options = writer::Options {
        keep_backups: run.settings.write.keep_backups,
        lock_timeout: run.settings.write.lock_timeout,
    };
    let session = writer::Session::for_root(&run.settings.root, options)?;
    for repair in session.repairs() {
        on(Step::Repaired(repair))?;
    }
    if let Some(saved) = saved {
        planfile::check_files(saved, &run.settings.root)?;
    }
    let (node, mut plan) = run.plan()?;
    let settings = &run.settings;
    if let Some(saved) = saved {
        planfile::check_result(saved, &node, &shown_text(&plan)?)?;
    }
    for order in std::mem::take(&mut plan.orders) {
        plan.files.extend(issuance::realize(&node, &order)?);
    }
    on(Step::Planned(&plan))?;
    let validation = super::validate::before_install(settings, &run.origin, &node, &plan)?;
    on(Step::Validated(&validation))?;
    // The snapshot (config.toml's document, every directory's links) is
    // not needed to write: freed before the writer's own lookups.
    drop(node);
    // The every-boot case: nothing to record or write, and each file's
    // before and after need not be compared a few more times to learn it.
    let mut outcome = writer::Outcome::default();
    if plan.changed() {
        let records = history_of(run, &plan)?;
        outcome = session.apply(plan.files.iter().chain(&records.files), records.made())?;
        // The entry of a fleet's apply is megabytes: not kept for the report.
        drop(records);
        without_history(&mut outcome, &history::dir(&settings.config));
    }
    for note in &outcome.notes {
        on(Step::Noted(note))?;
    }
    let restart = match &run.restart {
        Some(words) if plan.restart_required() => restart(words),
        _ => Restart::NotRun,
    };
    Ok(Executed {
        plan,
        outcome,
        validation,
        restart,
    })
}

/// `certsd apply`: [`execute`], printing as it goes.
pub fn apply(run: &mut Prepared, saved: Option<&Saved>) -> Result<Code> {
    let output = run.settings.output;
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    let done = execute(run, saved, &mut |step| match step {
        Step::Repaired(line) | Step::Noted(line) => {
            eprintln!("certsd: {line}");
            Ok(())
        }
        Step::Planned(plan) if output == Output::Text => {
            shown(report::print_plan(plan, None, output, &mut out, &mut err))
        }
        Step::Planned(_) => Ok(()),
        Step::Validated(v) => shown(report::print_validation(v, output, &mut err)),
    })?;
    let applied = done.applied();
    if output == Output::Json {
        shown(report::print_plan(
            &done.plan,
            Some(&applied),
            output,
            &mut out,
            &mut err,
        ))?;
    }
    shown(report::summarize_apply(
        &done.plan, &applied, output, &mut err,
    ))?;
    match done.restart_failure() {
        Some(err) => Err(err),
        None => Ok(Code::Success),
    }
}

/// Runs the restart command without a shell, its output passed through to stderr.
pub(crate) fn restart(words: &[String]) -> Restart {
    let command =
        shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "));
    let Some((program, args)) = words.split_first() else {
        return Restart::NotRun;
    };
    let status = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(io::stderr()))
        .status();
    match status {
        Ok(s) if s.success() => Restart::Done { command },
        Ok(s) => Restart::Failed {
            command,
            why: s.to_string(),
        },
        Err(e) => Restart::Failed {
            command,
            why: format!("cannot run {program}: {e}"),
        },
    }
}

/// A reader that went away (`certsd apply | head`) must not stop the run:
/// apply still writes and plan still reports its exit code.
pub fn shown(printed: Result<()>) -> Result<()> {
    match printed {
        Err(err) if is_broken_pipe(&err) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::Consumed;

    #[test]
    fn consumed_gives_every_item_in_order_and_its_memory_back() {
        let items: Vec<String> = (0..1000).map(|n| n.to_string()).collect();
        let mut consumed = Consumed::new(items);
        assert_eq!(consumed.size_hint(), (1000, Some(1000)));
        let first: Vec<String> = consumed.by_ref().take(900).collect();
        assert_eq!(first[0], "0");
        assert_eq!(first[899], "899");
        assert_eq!(consumed.size_hint(), (100, Some(100)));
        assert!(
            consumed.rest.capacity() < 250,
            "{}",
            consumed.rest.capacity()
        );
        let rest: Vec<String> = consumed.collect();
        assert_eq!(rest.len(), 100);
        assert_eq!(rest[99], "999");
    }
}

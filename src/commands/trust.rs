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
use crate::render::report::{self, Restart};
use crate::settings::{Output, RegistryRequest};
use crate::writer;

impl Prepared {
    /// Validates the requests, reads the node and computes the plan.
    pub(crate) fn plan(&self) -> Result<(Node, Plan)> {
        let target = self.settings.target();
        let requests = self
            .registries
            .iter()
            .map(|r| RegistryRequest::validate(&r.input, &r.origin, target.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let node = Node::read(
            self.settings.root.clone(),
            self.settings.config.clone(),
            target,
        )?;
        let certs_dir = self.settings.certs_dir.as_ref();
        let mut plan = match (&self.migrate, self.prune) {
            (Some(options), _) => migrate::plan(&node, certs_dir, options, &requests)?,
            (None, true) => planner::plan_pruning(&node, certs_dir, &requests, &self.origin)?,
            (None, false) => planner::plan(&node, certs_dir, &requests, &self.origin)?,
        };
        for warning in &self.warnings {
            plan.warn(Notice::warning("source", warning.clone()));
        }
        Ok((node, plan))
    }

    /// The plan, and every file computing it read (for `plan --out`).
    fn plan_recorded(&self) -> Result<(Node, Plan, Vec<crate::node::reads::Read>)> {
        let (result, reads) = crate::node::reads::record(|| self.plan());
        let (node, plan) = result?;
        Ok((node, plan, reads))
    }
}

/// `plan --plan`: whether the saved plan is what would be computed now;
/// `Ok(true)` when it still applies and changes something.
pub(super) fn check_saved(run: &Prepared, saved: &Saved) -> Result<bool> {
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

/// The plan the writer gets: `plan` and the files that record it in the
/// history, so both land in one crash-safe group.
fn with_history(run: &Prepared, plan: &Plan) -> Result<Plan> {
    let format = time::format_description::well_known::Rfc3339;
    let record = history::Record {
        root: &run.settings.root,
        config: &run.settings.config,
        keep: run.settings.write.keep_backups,
        time: time::OffsetDateTime::now_utc()
            .format(&format)
            .unwrap_or_default(),
    };
    let mut files = plan.files.clone();
    files.extend(history::record(&record, plan)?);
    Ok(Plan {
        files,
        ..Plan::default()
    })
}

/// Leaves the history's own files out of what the user is told was written.
pub(super) fn without_history(outcome: &mut writer::Outcome, config: &crate::node::NodePath) {
    let dir = history::dir(config);
    let inside = format!("{dir}/");
    outcome.written.retain(|p| !p.as_str().starts_with(&inside));
}

/// `certsd plan` (with `save`: `plan --out FILE`).
pub fn plan(run: &Prepared, detailed_exitcode: bool, save: Option<&Save>) -> Result<Code> {
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

/// `certsd apply`: plans under the lock (with `saved`: refuses unless the
/// plan is exactly the saved one), makes the certificates it orders,
/// prints, writes (recording the apply in the history), and restarts
/// containerd when asked and config.toml changed.
pub fn apply(run: &Prepared, saved: Option<&Saved>) -> Result<Code> {
    let settings = &run.settings;
    let options = writer::Options {
        keep_backups: settings.write.keep_backups,
        lock_timeout: settings.write.lock_timeout,
    };
    let session = writer::Session::for_root(&settings.root, options)?;
    for repair in session.repairs() {
        eprintln!("certsd: {repair}");
    }
    if let Some(saved) = saved {
        planfile::check_files(saved, &settings.root)?;
    }
    let (node, mut plan) = run.plan()?;
    if let Some(saved) = saved {
        planfile::check_result(saved, &node, &shown_text(&plan)?)?;
    }
    for order in std::mem::take(&mut plan.orders) {
        plan.files.extend(issuance::realize(&node, &order)?);
    }
    let output = settings.output;
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    // Text: show the diff before writing, so a failed write still shows what was meant.
    if output == Output::Text {
        shown(report::print_plan(&plan, None, output, &mut out, &mut err))?;
    }
    let validation = super::validate::before_install(settings, &run.origin, &node, &plan)?;
    shown(report::print_validation(&validation, output, &mut err))?;
    let mut outcome = session.apply(&with_history(run, &plan)?)?;
    without_history(&mut outcome, &settings.config);
    for note in &outcome.notes {
        eprintln!("certsd: {note}");
    }
    let restart = match &run.restart {
        Some(words) if plan.restart_required() => restart(words),
        _ => Restart::NotRun,
    };
    let applied = report::Applied {
        outcome: &outcome,
        restart: &restart,
        validation: &validation,
    };
    if output == Output::Json {
        shown(report::print_plan(
            &plan,
            Some(&applied),
            output,
            &mut out,
            &mut err,
        ))?;
    }
    shown(report::summarize_apply(&plan, &applied, output, &mut err))?;
    if let Restart::Failed { command, why } = restart {
        return Err(anyhow!(
            "the files were written ({} changed), but the restart command `{command}` failed: {why}; \
             restart containerd yourself to load the new config.toml",
            outcome.written.len()
        ));
    }
    Ok(Code::Success)
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

//! `certsd plan` and `certsd apply`: the same plan, printed, and for apply written.

use std::io;

use anyhow::Result;

use crate::core::issuance;
use crate::core::plan::Plan;
use crate::core::{migrate, planner};
use crate::exit_codes::{Code, is_broken_pipe};
use crate::node::Node;
use crate::render::report;
use crate::settings::{MigrateOptions, Origin, Output, RegistryInput, RegistryRequest, Settings};
use crate::writer;

/// What `plan`/`apply` were asked to do.
pub struct TrustRun<'a> {
    pub settings: &'a Settings,
    pub registries: &'a [RegistryInput],
    pub origin: &'a Origin,
    /// `--migrate`: move the legacy registry tables first.
    pub migrate: Option<MigrateOptions>,
}

impl TrustRun<'_> {
    /// Validates the requests, reads the node and computes the plan.
    fn plan(&self) -> Result<(Node, Plan)> {
        let target = self.settings.target();
        let requests = self
            .registries
            .iter()
            .map(|r| RegistryRequest::validate(r, self.origin, target.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let node = Node::read(
            self.settings.root.clone(),
            self.settings.config.clone(),
            target,
        )?;
        let certs_dir = self.settings.certs_dir.as_ref();
        let plan = match &self.migrate {
            Some(options) => migrate::plan(&node, certs_dir, options, &requests)?,
            None => planner::plan(&node, certs_dir, &requests, self.origin)?,
        };
        Ok((node, plan))
    }
}

/// `certsd plan`.
pub fn plan(run: &TrustRun<'_>, detailed_exitcode: bool) -> Result<Code> {
    let (_, plan) = run.plan()?;
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

/// `certsd apply`: plans under the lock, makes the certificates it orders, prints, writes.
pub fn apply(run: &TrustRun<'_>) -> Result<Code> {
    let settings = run.settings;
    let _lock = writer::lock(&settings.root, &settings.config)?;
    let (node, mut plan) = run.plan()?;
    for order in std::mem::take(&mut plan.orders) {
        plan.files.extend(issuance::realize(&node, &order)?);
    }
    let output = settings.output;
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    // Text: show the diff before writing, so a failed write still shows what was meant.
    if output == Output::Text {
        shown(report::print_plan(&plan, None, output, &mut out, &mut err))?;
    }
    let outcome = writer::apply(&settings.root, &plan)?;
    if output == Output::Json {
        shown(report::print_plan(
            &plan,
            Some(&outcome),
            output,
            &mut out,
            &mut err,
        ))?;
    }
    shown(report::summarize_apply(&plan, &outcome, output, &mut err))?;
    Ok(Code::Success)
}

/// A reader that went away (`certsd apply | head`) must not stop the run:
/// apply still writes and plan still reports its exit code.
pub fn shown(printed: Result<()>) -> Result<()> {
    match printed {
        Err(err) if is_broken_pipe(&err) => Ok(()),
        other => other,
    }
}

//! `certsd plan` and `certsd apply`: the same plan, printed, and for apply written.

use std::io;

use anyhow::Result;

use crate::cli::{OutputFormat, TrustArgs};
use crate::exit_codes::{Code, is_broken_pipe};
use crate::planner;
use crate::report;
use crate::settings::Settings;
use crate::writer;

/// `certsd plan`.
pub fn plan(settings: &Settings, trust: &TrustArgs, detailed_exitcode: bool) -> Result<Code> {
    let request = settings.host_request(trust)?;
    let plan = planner::plan(settings, request.as_ref())?;
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    shown(report::print_plan(
        &plan,
        None,
        settings.output,
        &mut out,
        &mut err,
    ))?;
    shown(report::summarize_plan(&plan, settings.output, &mut err))?;
    Ok(if detailed_exitcode && plan.changed() {
        Code::ChangesPending
    } else {
        Code::Success
    })
}

/// `certsd apply`: plans under the lock, prints, writes.
pub fn apply(settings: &Settings, trust: &TrustArgs) -> Result<Code> {
    let request = settings.host_request(trust)?;
    let _lock = writer::lock(&settings.root, &settings.config)?;
    let mut plan = planner::plan(settings, request.as_ref())?;
    if let Some(issuance) = plan.issuance.as_ref().filter(|i| i.generates()) {
        let made = issuance.issue(&settings.root)?;
        plan.files.extend(made);
    }
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    // Text: show the diff before writing, so a failed write still shows what was meant.
    if settings.output == OutputFormat::Text {
        shown(report::print_plan(
            &plan,
            None,
            settings.output,
            &mut out,
            &mut err,
        ))?;
    }
    let outcome = writer::apply(&settings.root, &plan)?;
    if settings.output == OutputFormat::Json {
        shown(report::print_plan(
            &plan,
            Some(&outcome),
            settings.output,
            &mut out,
            &mut err,
        ))?;
    }
    shown(report::summarize_apply(
        &plan,
        &outcome,
        settings.output,
        &mut err,
    ))?;
    Ok(Code::Success)
}

/// A reader that went away (`certsd apply | head`) must not stop the run:
/// apply still writes and plan still reports its exit code.
fn shown(printed: Result<()>) -> Result<()> {
    match printed {
        Err(err) if is_broken_pipe(&err) => Ok(()),
        other => other,
    }
}

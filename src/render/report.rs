//! What a run tells the user: the diff, a summary, warnings, or one JSON object.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::diff;
use crate::core::plan::{Action, PendingCert, Plan};
use crate::node::validate::Validation;
use crate::settings::Output;
use crate::writer::Outcome;

/// What `--restart` did after the files were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// Not asked for, or config.toml did not change.
    NotRun,
    /// The command ran and succeeded.
    Done { command: String },
    /// The command could not run or failed.
    Failed { command: String, why: String },
}

/// What `apply` did: the writer's outcome and the restart.
pub struct Applied<'a> {
    pub outcome: &'a Outcome,
    pub restart: &'a Restart,
    /// Whether containerd checked the new config.toml.
    pub validation: &'a Validation,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    changed: bool,
    restart_required: bool,
    /// containerd was restarted by `--restart` (always false for `plan`).
    restarted: bool,
    files: Vec<JsonFile<'a>>,
    warnings: Vec<&'a str>,
    /// `--migrate`: where each legacy table went, one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    moves: Vec<&'a str>,
    /// Certificates made (apply) or to be made (plan).
    certificates: &'a [PendingCert],
    /// `apply` only: the backups it made.
    #[serde(skip_serializing_if = "Option::is_none")]
    backups: Option<Vec<&'a str>>,
    /// `apply` only: whether containerd checked the new config.toml.
    #[serde(skip_serializing_if = "Option::is_none")]
    validation: Option<&'a Validation>,
}

/// What `apply` did: the files written and how config.toml was checked.
#[derive(Serialize)]
struct JsonFile<'a> {
    path: &'a str,
    action: Action,
    /// Octal, as `chmod` takes it.
    mode: String,
}

/// Prints the plan: for `plan`, and for `apply` before it writes (text) or
/// after (JSON, with the backups made).
pub fn print_plan(
    plan: &Plan,
    applied: Option<&Applied<'_>>,
    format: Output,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    match format {
        Output::Json => {
            serde_json::to_writer_pretty(&mut *out, &json_report(plan, applied))?;
            writeln!(out)?;
        }
        Output::Text => {
            // `#` lines before the first `---` are ignored by patch and git apply.
            for cert in &plan.certificates {
                writeln!(out, "{}", pending_line(cert))?;
            }
            for line in moves(plan) {
                writeln!(out, "# {line}")?;
            }
            // Buffered: a few large writes, not one per file.
            let mut buffered = std::io::BufWriter::with_capacity(1 << 16, &mut *out);
            diff::write(plan, &mut buffered)?;
            buffered.flush()?;
            for warning in plan.warnings() {
                writeln!(err, "warning: {warning}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// The `--output json` object as a JSON value (the Ansible result adds to it).
pub fn json_value(
    plan: &Plan,
    applied: Option<&Applied<'_>>,
) -> serde_json::Result<serde_json::Value> {
    serde_json::to_value(json_report(plan, applied))
}

fn json_report<'a>(plan: &'a Plan, applied: Option<&Applied<'a>>) -> JsonReport<'a> {
    JsonReport {
        changed: plan.changed(),
        restart_required: plan.restart_required(),
        restarted: applied.is_some_and(|a| matches!(a.restart, Restart::Done { .. })),
        files: plan
            .files
            .iter()
            .map(|f| JsonFile {
                path: f.path.as_str(),
                action: f.action(),
                mode: format!("{:04o}", f.mode()),
            })
            .collect(),
        warnings: plan.warnings(),
        moves: moves(plan),
        certificates: &plan.certificates,
        backups: applied.map(|a| {
            a.outcome
                .backups
                .iter()
                .map(crate::node::NodePath::as_str)
                .collect()
        }),
        validation: applied.map(|a| a.validation),
    }
}

/// Text output: one line when containerd checked config.toml, or when a
/// binary was there but not used (a reason the user may not expect).
/// Nothing when there was no binary, no change or `--no-validate`: the
/// JSON report says so for scripts that care.
pub fn print_validation(v: &Validation, format: Output, err: &mut dyn Write) -> Result<()> {
    if format == Output::Json {
        return Ok(());
    }
    match (&v.ran, &v.binary, &v.version, &v.reason) {
        (true, Some(bin), Some(version), _) => writeln!(
            err,
            "certsd: containerd {version} ({bin}) accepts the new config.toml; its `config dump` differs only in config_path"
        )?,
        (false, Some(_), _, Some(reason)) => {
            writeln!(
                err,
                "warning: config.toml not checked by containerd: {reason}"
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// The migration's move lines (`registry.mirrors."docker.io" (config.toml:42) -> ...`).
fn moves(plan: &Plan) -> Vec<&str> {
    plan.notices
        .iter()
        .filter(|n| n.code == "migrate-move")
        .map(|n| n.message.as_str())
        .collect()
}

/// `# certificate to create: PATH (server, CN=..., SANs ..., KEY, DAYS days; key PATH): REASON`
fn pending_line(cert: &PendingCert) -> String {
    let sans = if cert.sans.is_empty() {
        String::new()
    } else {
        format!(", SANs {}", cert.sans.join(" "))
    };
    format!(
        "# certificate to create: {} ({}, {}{sans}, {}, {} days; key {}): {}",
        cert.path, cert.kind, cert.subject, cert.key_type, cert.days, cert.key_path, cert.reason
    )
}

/// The closing line of `plan`.
pub fn summarize_plan(plan: &Plan, format: Output, err: &mut dyn Write) -> Result<()> {
    if format == Output::Json {
        return Ok(());
    }
    let n = plan.files.iter().filter(|f| f.changes()).count();
    if n == 0 {
        writeln!(err, "certsd: nothing to change")?;
    } else {
        writeln!(
            err,
            "certsd: {n} {} to change; `certsd apply` with the same options writes {}",
            files(n),
            if n == 1 { "it" } else { "them" }
        )?;
    }
    Ok(())
}

/// The closing lines of `apply`.
pub fn summarize_apply(
    plan: &Plan,
    applied: &Applied<'_>,
    format: Output,
    err: &mut dyn Write,
) -> Result<()> {
    let outcome = applied.outcome;
    if format == Output::Json {
        return Ok(());
    }
    let n = outcome.written.len();
    if n == 0 {
        writeln!(err, "certsd: nothing to change; no file written")?;
        return Ok(());
    }
    writeln!(err, "certsd: wrote {n} {}", files(n))?;
    for backup in &outcome.backups {
        writeln!(err, "certsd: previous version kept as {backup}")?;
    }
    match applied.restart {
        Restart::Done { command } => writeln!(
            err,
            "certsd: restarted containerd (`{command}`) to load the new config.toml"
        )?,
        Restart::NotRun if plan.restart_required() => writeln!(
            err,
            "certsd: restart containerd to load the new config.toml (e.g. `systemctl restart containerd`); hosts.toml changes need no restart"
        )?,
        Restart::Failed { .. } | Restart::NotRun => {}
    }
    Ok(())
}

fn files(n: usize) -> &'static str {
    if n == 1 { "file" } else { "files" }
}

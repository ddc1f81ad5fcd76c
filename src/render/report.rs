//! What a run tells the user: the diff, a summary, warnings, or one JSON object.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::diff;
use crate::core::plan::{Action, PendingCert, Plan};
use crate::settings::Output;
use crate::writer::Outcome;

#[derive(Serialize)]
struct JsonReport<'a> {
    changed: bool,
    restart_required: bool,
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
}

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
    outcome: Option<&Outcome>,
    format: Output,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    match format {
        Output::Json => {
            serde_json::to_writer_pretty(&mut *out, &json_report(plan, outcome))?;
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
            out.write_all(diff::render(plan).as_bytes())?;
            for warning in plan.warnings() {
                writeln!(err, "warning: {warning}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn json_report<'a>(plan: &'a Plan, outcome: Option<&'a Outcome>) -> JsonReport<'a> {
    JsonReport {
        changed: plan.changed(),
        restart_required: plan.restart_required(),
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
        backups: outcome.map(|o| {
            o.backups
                .iter()
                .map(crate::node::NodePath::as_str)
                .collect()
        }),
    }
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
    outcome: &Outcome,
    format: Output,
    err: &mut dyn Write,
) -> Result<()> {
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
    if plan.restart_required() {
        writeln!(
            err,
            "certsd: restart containerd to load the new config.toml (e.g. `systemctl restart containerd`); hosts.toml changes need no restart"
        )?;
    }
    Ok(())
}

fn files(n: usize) -> &'static str {
    if n == 1 { "file" } else { "files" }
}

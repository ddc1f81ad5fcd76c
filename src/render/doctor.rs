//! What `certsd doctor` prints. Text: one line per finding,
//! `SEVERITY CODE PATH:LINE: message`, then an indented `fix:` line; the
//! `--certs` table before them; a summary line on stderr. JSON: one object,
//! `{"findings": [...], "errors": N, "warnings": N}` (plus `certificates`
//! with `--certs`).

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use crate::doctor::{CertRow, Finding, Report};
use crate::settings::Output;

#[derive(Serialize)]
struct JsonReport<'a> {
    findings: Vec<JsonFinding<'a>>,
    errors: usize,
    warnings: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificates: Option<&'a [CertRow]>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    severity: &'static str,
    code: &'static str,
    path: &'a str,
    /// `null` when the finding is about the whole file.
    line: Option<usize>,
    host: Option<&'a str>,
    message: &'a str,
    fix: Option<&'a str>,
}

/// Prints the report; `certs` adds the table of certificates.
pub fn print(
    report: &Report,
    certs: bool,
    format: Output,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    match format {
        Output::Json => {
            let json = JsonReport {
                findings: report.findings.iter().map(json_finding).collect(),
                errors: report.errors(),
                warnings: report.warnings(),
                certificates: certs.then_some(report.certs.as_slice()),
            };
            serde_json::to_writer_pretty(&mut *out, &json)?;
            writeln!(out)?;
        }
        Output::Text => {
            if certs {
                out.write_all(table(&report.certs).as_bytes())?;
            }
            for f in &report.findings {
                writeln!(
                    out,
                    "{} {} {}: {}",
                    f.severity.as_str(),
                    f.code.as_str(),
                    f.place(),
                    f.message
                )?;
                if let Some(fix) = &f.fix {
                    writeln!(out, "  fix: {fix}")?;
                }
            }
            writeln!(err, "{}", summary(report))?;
        }
    }
    out.flush()?;
    Ok(())
}

fn json_finding(f: &Finding) -> JsonFinding<'_> {
    JsonFinding {
        severity: f.severity.as_str(),
        code: f.code.as_str(),
        path: &f.path,
        line: (f.line > 0).then_some(f.line),
        host: f.host.as_deref(),
        message: &f.message,
        fix: f.fix.as_deref(),
    }
}

/// `doctor: 2 errors, 1 warning, 3 notes` (or that nothing was found).
fn summary(report: &Report) -> String {
    let (e, w) = (report.errors(), report.warnings());
    let i = report.findings.len() - e - w;
    if report.findings.is_empty() {
        return "doctor: no findings".to_owned();
    }
    let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    format!(
        "doctor: {}, {}, {}",
        plural(e, "error"),
        plural(w, "warning"),
        plural(i, "note")
    )
}

/// Columns like `kubeadm certs check-expiration`.
fn table(rows: &[CertRow]) -> String {
    let head = [
        "CERTIFICATE",
        "USE",
        "SUBJECT",
        "ISSUER",
        "EXPIRES",
        "DAYS LEFT",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.path.clone(),
                r.use_.to_owned(),
                r.subject.clone(),
                r.issuer.clone(),
                r.not_after.clone(),
                r.days_left.to_string(),
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[&str]| {
        let mut s = String::new();
        for (i, (c, w)) in cols.iter().zip(width).enumerate() {
            if i + 1 == cols.len() {
                s.push_str(c);
            } else {
                let _ = write!(s, "{c:<w$}  ");
            }
        }
        s.push('\n');
        s
    };
    let mut text = line(&head);
    for row in &cells {
        text.push_str(&line(&row.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    if rows.is_empty() {
        text.push_str("(no certificates)\n");
    }
    text.push('\n');
    text
}

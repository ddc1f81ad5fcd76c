//! The result certsd prints as an Ansible module: one JSON object on stdout,
//! the `--output json` report plus what Ansible reads (`msg`, `warnings`,
//! `diff`, `failed`).
//!
//! `diff` holds one `{before_header, after_header, before, after}` per
//! changed file, which Ansible's `--diff` turns into a unified diff. The
//! contents pass the same redaction as certsd's own diff: a private key's
//! text is replaced by a note, credentials in headers read `Basic <redacted>`.

use serde_json::{Map, Value, json};

use super::diff::redact;
use super::report::{self, Applied, Restart};
use crate::core::plan::{Action, FileChange, Op, Plan};

/// What the module adds to the report.
pub struct Extra<'a> {
    /// Warnings from the run itself (repairs, validation skipped), shown
    /// after the plan's own.
    pub warnings: &'a [String],
    /// `--diff`: include the `diff` list.
    pub diff: bool,
    /// The run wrote (false in check mode).
    pub applied: Option<&'a Applied<'a>>,
}

/// The result of a run that got as far as a plan.
pub fn result(plan: &Plan, extra: &Extra<'_>) -> Value {
    // Serialising plain data cannot fail; say so rather than print nothing.
    let Ok(Value::Object(mut object)) = report::json_value(plan, extra.applied) else {
        return failure("certsd could not render its report (a bug)");
    };
    if let Some(Value::Array(list)) = object.get_mut("warnings") {
        list.extend(extra.warnings.iter().cloned().map(Value::String));
    }
    object.insert("msg".into(), Value::String(message(plan, extra.applied)));
    if extra.diff {
        let files = plan.files.iter().filter(|f| f.changes()).map(file_diff);
        object.insert("diff".into(), Value::Array(files.collect()));
    }
    Value::Object(object)
}

/// `{"failed": true, "msg": ...}`.
pub fn failure(msg: &str) -> Value {
    json!({ "failed": true, "msg": msg })
}

/// A failure after the plan ran (the restart command failed): the report
/// stays, so `changed` tells Ansible the files were written.
pub fn failed_after(mut result: Value, msg: &str) -> Value {
    if let Some(object) = result.as_object_mut() {
        object.insert("failed".into(), Value::Bool(true));
        object.insert("msg".into(), Value::String(msg.to_string()));
    }
    result
}

/// One line for Ansible's task output.
fn message(plan: &Plan, applied: Option<&Applied<'_>>) -> String {
    let n = plan.files.iter().filter(|f| f.changes()).count();
    let files = |n: usize| if n == 1 { "file" } else { "files" };
    let Some(applied) = applied else {
        let certs = match plan.certificates.len() {
            0 => String::new(),
            1 => " and 1 certificate to make".to_string(),
            c => format!(" and {c} certificates to make"),
        };
        return match n {
            0 if !plan.changed() => "nothing to change".to_string(),
            _ => format!(
                "{n} {} to change{certs} (check mode: nothing written)",
                files(n)
            ),
        };
    };
    let written = applied.outcome.written.len();
    if written == 0 {
        return "nothing to change; no file written".to_string();
    }
    let restart = match applied.restart {
        Restart::Done { command } => format!("; restarted containerd (`{command}`)"),
        Restart::NotRun if plan.restart_required() => {
            "; containerd needs a restart to load the new config.toml (restart: true does it)"
                .to_string()
        }
        Restart::NotRun | Restart::Failed { .. } => String::new(),
    };
    format!("wrote {written} {}{restart}", files(written))
}

fn file_diff(change: &FileChange) -> Value {
    let path = change.path.as_str();
    let mode = |m: Option<u32>| match m {
        Some(m) if change.mode_before().is_some_and(|b| b != change.mode()) => {
            format!("{path} (mode {m:04o})")
        }
        _ => path.to_string(),
    };
    let (before_header, after_header) = match (change.action(), &change.op) {
        (_, Op::RemoveDir) => (format!("{path}/"), "/dev/null".to_string()),
        (Action::Create, _) => ("/dev/null".to_string(), mode(Some(change.mode()))),
        (Action::Delete, _) => (mode(change.mode_before()), "/dev/null".to_string()),
        _ => (mode(change.mode_before()), mode(Some(change.mode()))),
    };
    let mut entry = Map::new();
    entry.insert("before_header".into(), Value::String(before_header));
    entry.insert("after_header".into(), Value::String(after_header));
    let (before, after) = contents(change);
    entry.insert("before".into(), Value::String(before));
    entry.insert("after".into(), Value::String(after));
    Value::Object(entry)
}

/// The before and after text, redacted; a key is a note, never its bytes.
fn contents(change: &FileChange) -> (String, String) {
    if change.op == Op::RemoveDir {
        return (
            format!(
                "directory {}/ (created by certsd, no longer in the spec)\n",
                change.path
            ),
            String::new(),
        );
    }
    let side = |bytes: Option<&[u8]>, which: &str| match bytes {
        None => String::new(),
        Some(_) if change.secret => {
            format!(
                "({which} private key, mode {:04o}: contents not shown)\n",
                change.mode()
            )
        }
        Some(bytes) => redacted(&String::from_utf8_lossy(bytes)),
    };
    // A key is never read again to be shown; a copy is, where it is shown.
    let after = match change.after() {
        None => String::new(),
        Some(_) if change.secret => side(Some(&[]), "new"),
        Some(_) => match super::diff::after_bytes(change) {
            Ok(bytes) => side(bytes.as_deref(), "new"),
            Err(err) => format!("(cannot show it: {err:#})\n"),
        },
    };
    (side(change.before_bytes(), "old"), after)
}

/// Every line through the diff's redaction (which expects a diff mark).
fn redacted(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let marked = format!(" {line}");
            redact(&marked).get(1..).unwrap_or_default().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Existing, NodePath};

    fn plan(files: Vec<FileChange>) -> Plan {
        Plan {
            files,
            ..Plan::default()
        }
    }

    fn write(path: &str, before: Option<&str>, after: &str) -> FileChange {
        FileChange::write(
            NodePath::fixed(path),
            before.map(|b| Existing {
                bytes: b.as_bytes().to_vec(),
                mode: 0o644,
            }),
            after.as_bytes().to_vec(),
            0o644,
        )
    }

    fn diff_of(p: &Plan) -> Vec<Value> {
        let r = result(
            p,
            &Extra {
                warnings: &[],
                diff: true,
                applied: None,
            },
        );
        r["diff"].as_array().unwrap().clone()
    }

    #[test]
    fn a_created_file_diffs_from_dev_null_and_unchanged_files_are_left_out() {
        let p = plan(vec![
            write("/etc/a", None, "x = 1\n"),
            write("/etc/b", Some("same\n"), "same\n"),
        ]);
        let d = diff_of(&p);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0]["before_header"], "/dev/null");
        assert_eq!(d[0]["after_header"], "/etc/a");
        assert_eq!(d[0]["before"], "");
        assert_eq!(d[0]["after"], "x = 1\n");
    }

    #[test]
    fn keys_and_credentials_never_reach_the_diff() {
        let mut key = write("/etc/k", Some("OLDSECRET\n"), "NEWSECRET\n");
        key.secret = true;
        let hosts = write(
            "/etc/h",
            Some("password = \"hunter2\"\n"),
            "[header]\nAuthorization = \"Basic cHVsbGVyOnMzY3JldA==\"\n",
        );
        let text = serde_json::to_string(&diff_of(&plan(vec![key, hosts]))).unwrap();
        for secret in ["OLDSECRET", "NEWSECRET", "hunter2", "cHVsbGVy"] {
            assert!(!text.contains(secret), "{secret}: {text}");
        }
        assert!(text.contains("Basic <redacted>"), "{text}");
        assert!(text.contains("contents not shown"), "{text}");
    }

    #[test]
    fn check_mode_says_what_would_change() {
        let p = plan(vec![write("/etc/a", None, "x\n")]);
        let r = result(
            &p,
            &Extra {
                warnings: &["w".into()],
                diff: false,
                applied: None,
            },
        );
        assert_eq!(r["changed"], true);
        assert_eq!(r["warnings"], json!(["w"]));
        assert!(r.get("diff").is_none());
        assert_eq!(r["msg"], "1 file to change (check mode: nothing written)");
    }
}

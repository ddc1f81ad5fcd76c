//! Renders a plan as a unified diff, the text `plan` and `apply` print.
//!
//! Paths are shown as `a/etc/...` and `b/etc/...` (node paths), so the
//! output reads like `git diff` whatever `--root` is. Private keys are
//! never shown: a key file gets a header and one line saying so.

use std::fmt::Write;

use similar::TextDiff;

use std::borrow::Cow;

use crate::core::plan::{Action, After, FileChange, Op, Plan};

/// The diff of every changing file, in plan order; empty when nothing changes.
#[cfg(test)]
pub fn render(plan: &Plan) -> String {
    plan.files
        .iter()
        .filter(|f| f.changes())
        .map(|f| render_file(f).unwrap_or_else(|e| e.to_string()))
        .collect()
}

/// [`render`], written file by file: the diff of a fleet's first apply is
/// megabytes that need not sit in memory at once.
pub fn write(plan: &Plan, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    for change in plan.files.iter().filter(|f| f.changes()) {
        out.write_all(render_file(change)?.as_bytes())?;
    }
    Ok(())
}

/// The bytes a change writes, read again for a copy the plan does not
/// hold; `None` for a delete.
pub(super) fn after_bytes(change: &FileChange) -> anyhow::Result<Option<Cow<'_, [u8]>>> {
    Ok(match change.after_bytes() {
        None => None,
        Some(After::Bytes(bytes)) => Some(Cow::Borrowed(bytes)),
        Some(After::Copy(copy)) => Some(Cow::Owned(copy.read()?)),
    })
}

fn render_file(change: &FileChange) -> std::io::Result<String> {
    if change.op == Op::RemoveDir {
        return Ok(format!("remove directory {}/\n", change.path));
    }
    let rel = change.path.as_str().trim_start_matches('/');
    let old = match change.action() {
        Action::Create => "/dev/null".to_string(),
        _ => format!("a/{rel}"),
    };
    let new = match change.action() {
        Action::Delete => "/dev/null".to_string(),
        _ => format!("b/{rel}"),
    };
    let mut out = String::new();
    if let Some(before) = change
        .mode_before()
        .filter(|m| *m != change.mode() && change.after().is_some())
    {
        let _ = writeln!(
            out,
            "mode {before:04o} -> {:04o} {}",
            change.mode(),
            change.path
        );
    }
    if !change.content_changes() {
        return Ok(out);
    }
    if change.secret {
        let _ = writeln!(
            out,
            "--- {old}\n+++ {new}\n@@ private key (mode {:04o}): contents not shown @@",
            change.mode()
        );
        return Ok(out);
    }
    let before = String::from_utf8_lossy(change.before_bytes().unwrap_or_default());
    let after = after_bytes(change).map_err(std::io::Error::other)?;
    let after = String::from_utf8_lossy(after.as_deref().unwrap_or_default());
    let diff = TextDiff::from_lines(before.as_ref(), after.as_ref());
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&old, &new)
        .to_string();
    for line in text.split_inclusive('\n') {
        out.push_str(&redact(line));
    }
    Ok(out)
}

/// Keys whose values are credentials (registry auths in an old config.toml
/// can sit within the diff's context lines).
const SECRET_KEYS: [&str; 5] = [
    "password",
    "auth",
    "identitytoken",
    "token",
    "registrytoken",
];

/// Hides the value of a `secret = ...` line and the credential of a quoted
/// `"Basic ..."` / `"Bearer ..."` header value; other lines pass unchanged.
/// `line` is a diff line: its first character is the `+`/`-`/` ` mark.
pub(super) fn redact(line: &str) -> std::borrow::Cow<'_, str> {
    let line = redact_tokens(line);
    match redact_key(&line) {
        std::borrow::Cow::Owned(s) => s.into(),
        std::borrow::Cow::Borrowed(_) => line,
    }
}

/// `"Basic dXNlcjpwYXNz"` -> `"Basic <redacted>"`, anywhere in the line, so
/// a hosts.toml holding a credential still shows its structure in a diff.
pub fn redact_tokens(line: &str) -> std::borrow::Cow<'_, str> {
    let mut out = String::new();
    let mut rest = line;
    let mut changed = false;
    while let Some((at, scheme)) = ["\"Basic ", "'Basic ", "\"Bearer ", "'Bearer "]
        .iter()
        .filter_map(|t| rest.find(t).map(|i| (i, *t)))
        .min()
    {
        let quote = &scheme[..1];
        let start = at + scheme.len();
        let end = rest[start..].find(quote).map_or(rest.len(), |i| start + i);
        out.push_str(&rest[..start]);
        out.push_str("<redacted>");
        rest = &rest[end..];
        changed = true;
    }
    if !changed {
        return line.into();
    }
    out.push_str(rest);
    out.into()
}

fn redact_key(line: &str) -> std::borrow::Cow<'_, str> {
    let body = line.get(1..).unwrap_or_default();
    let Some((key, _)) = body.split_once('=') else {
        return line.into();
    };
    let name = key.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
    if line.starts_with("---") || line.starts_with("+++") || !SECRET_KEYS.contains(&name.as_str()) {
        return line.into();
    }
    let ending = if line.ends_with('\n') { "\n" } else { "" };
    let mark = line.get(..1).unwrap_or_default();
    format!("{mark}{key}= \"(hidden by certsd)\"{ending}").into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Existing, NodePath};

    fn existing(text: &str) -> Existing {
        Existing {
            bytes: text.as_bytes().to_vec(),
            mode: 0o644,
        }
    }

    fn change(before: Option<&str>, after: &str, secret: bool) -> FileChange {
        FileChange {
            secret,
            ..FileChange::write(
                NodePath::fixed("/etc/containerd/x"),
                before.map(existing),
                after.as_bytes().to_vec(),
                0o644,
            )
        }
    }

    #[test]
    fn deleted_files_diff_against_dev_null() {
        let gone = FileChange::delete(NodePath::fixed("/etc/containerd/x"), existing("a\nb\n"));
        let out = render(&Plan {
            files: vec![gone],
            ..Plan::default()
        });
        assert_eq!(
            out,
            "--- a/etc/containerd/x\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n"
        );
    }

    #[test]
    fn a_deleted_key_is_not_shown_either() {
        let mut gone = FileChange::delete(NodePath::fixed("/k"), existing("SECRETSECRET\n"));
        gone.secret = true;
        let out = render(&Plan {
            files: vec![gone],
            ..Plan::default()
        });
        assert!(
            !out.contains("SECRET") && out.contains("+++ /dev/null"),
            "{out}"
        );
    }

    #[test]
    fn created_files_diff_against_dev_null() {
        let out = render(&Plan {
            files: vec![change(None, "a\n", false)],
            ..Plan::default()
        });
        assert_eq!(
            out,
            "--- /dev/null\n+++ b/etc/containerd/x\n@@ -0,0 +1 @@\n+a\n"
        );
    }

    #[test]
    fn updated_files_show_context_and_unchanged_files_nothing() {
        let out = render(&Plan {
            files: vec![
                change(Some("a\nb\n"), "a\nc\n", false),
                change(Some("z\n"), "z\n", false),
            ],
            ..Plan::default()
        });
        assert_eq!(
            out,
            "--- a/etc/containerd/x\n+++ b/etc/containerd/x\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
        );
    }

    #[test]
    fn credentials_in_context_lines_are_hidden() {
        let before = "[auths]\n  password = \"hunter2\"\n  username = \"u\"\nconfig_path = \"\"\n";
        let after = before.replace("config_path = \"\"", "config_path = \"/d\"");
        let out = render(&Plan {
            files: vec![change(Some(before), &after, false)],
            ..Plan::default()
        });
        assert!(!out.contains("hunter2"), "{out}");
        assert!(
            out.contains(" password = \"(hidden by certsd)\"") && out.contains("username = \"u\""),
            "{out}"
        );
    }

    #[test]
    fn basic_and_bearer_credentials_are_hidden_but_the_structure_shows() {
        let after = "[host.\"https://m\".header]\nAuthorization = \"Basic cHVsbGVyOnMzY3JldA==\"\nX = [\"Bearer abc\", 'Basic zz']\n";
        let out = render(&Plan {
            files: vec![change(None, after, false)],
            ..Plan::default()
        });
        assert!(
            !out.contains("cHVsbGVy") && !out.contains("abc") && !out.contains("zz"),
            "{out}"
        );
        assert!(
            out.contains("+Authorization = \"Basic <redacted>\""),
            "{out}"
        );
        assert!(
            out.contains("X = [\"Bearer <redacted>\", 'Basic <redacted>']"),
            "{out}"
        );
    }

    #[test]
    fn keys_are_never_shown() {
        let secret = "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n";
        let out = render(&Plan {
            files: vec![change(Some("old key\n"), secret, true)],
            ..Plan::default()
        });
        assert!(!out.contains("SECRET") && !out.contains("old key"), "{out}");
        assert!(out.contains("contents not shown"), "{out}");
    }
}

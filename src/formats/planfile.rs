//! The saved plan (`certsd plan --out FILE`): a text a reviewer reads and
//! `patch -p1` applies, which `apply --plan FILE` takes back.
//!
//! ```text
//! # certsd-plan v1
//! # cwd "/home/ops"
//! # arg "plan"
//! # arg "--host"
//! # arg "registry.example.com"
//! # target "1.7.24"
//! # read "/etc/containerd/config.toml" sha256:5e1c...
//! # absent "/etc/containerd/certs.d/registry.example.com/hosts.toml"
//! # input "/home/ops/ca.crt" sha256:9f2a...
//! # checksum sha256:0c4d...
//! # end
//! --- a/etc/containerd/config.toml
//! ...
//! ```
//!
//! Every header line starts with `#`, and patch skips what comes before the
//! first `---`, so the file is the printed diff with its provenance on top:
//! the command line it was computed from (one `arg` per word, JSON-quoted),
//! the containerd it was for, and the SHA-256 of every file it read (`read`
//! and `absent` for node files, `input` and `input-absent` for files on
//! this machine such as `--ca` or a spec). `checksum` covers every other
//! byte of the file, so a hand-edited plan is refused rather than applied.
//! Parsing is strict: an unknown or malformed line is an error naming its
//! line number.

use std::fmt::Write as _;

use anyhow::{Result, bail};

/// The first line of every plan file.
pub const MAGIC: &str = "# certsd-plan v1";
const END: &str = "# end";

/// Where a recorded file lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A node path (under `--root` at apply time).
    Node,
    /// A path on the machine certsd runs on (an input such as `--ca`).
    Input,
}

/// One file the plan was computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub place: Place,
    pub path: String,
    /// The hex SHA-256; `None`: the file did not exist, and must not.
    pub sha256: Option<String>,
}

/// A plan file's content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanFile {
    /// The working directory relative inputs were read from.
    pub cwd: String,
    /// The command line, without the options that only say how to run.
    pub args: Vec<String>,
    /// The containerd version the plan was for, when one was known.
    pub target: Option<String>,
    pub files: Vec<Recorded>,
    /// What `plan` printed: pending certificates, moves, then the diff.
    pub shown: String,
}

impl PlanFile {
    /// The file's text, checksum included.
    pub fn render(&self) -> String {
        let body = self.body();
        let sum = sha256(format!("{body}{END}\n{}", self.shown).as_bytes());
        format!("{body}# checksum sha256:{sum}\n{END}\n{}", self.shown)
    }

    /// Every header line but `checksum` and `end`.
    fn body(&self) -> String {
        let mut out = format!("{MAGIC}\n# cwd {}\n", quote(&self.cwd));
        for arg in &self.args {
            let _ = writeln!(out, "# arg {}", quote(arg));
        }
        match &self.target {
            Some(t) => {
                let _ = writeln!(out, "# target {}", quote(t));
            }
            None => out.push_str("# target none\n"),
        }
        for file in &self.files {
            let (word, hash) = match (file.place, &file.sha256) {
                (Place::Node, Some(h)) => ("read", format!(" sha256:{h}")),
                (Place::Node, None) => ("absent", String::new()),
                (Place::Input, Some(h)) => ("input", format!(" sha256:{h}")),
                (Place::Input, None) => ("input-absent", String::new()),
            };
            let _ = writeln!(out, "# {word} {}{hash}", quote(&file.path));
        }
        out
    }

    /// Reads a plan file back; `name` names it in messages. Anything but
    /// exactly what [`PlanFile::render`] writes is refused.
    pub fn parse(name: &str, text: &str) -> Result<PlanFile> {
        let Some(head_end) = text.find(&format!("\n{END}\n")) else {
            bail!(
                "{name}: not a certsd plan (no `{END}` line); make one with `certsd plan --out FILE`"
            );
        };
        let header = &text[..=head_end];
        let shown = &text[head_end + END.len() + 2..];
        let mut plan = PlanFile {
            shown: shown.to_string(),
            ..PlanFile::default()
        };
        let mut checksum: Option<String> = None;
        for (n, line) in header.lines().enumerate() {
            let at = || format!("{name}:{}", n + 1);
            if n == 0 {
                if line != MAGIC {
                    bail!(
                        "{}: not a certsd plan: the first line must be `{MAGIC}`",
                        at()
                    );
                }
                continue;
            }
            if checksum.is_some() {
                bail!("{}: a line after `# checksum`; the plan was edited", at());
            }
            parse_line(&mut plan, &mut checksum, line)
                .map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        }
        if checksum.is_none() {
            bail!("{name}: no `# checksum` line; the plan was edited or cut short");
        }
        // Rendering what was parsed gives the same bytes only when nothing,
        // the checksum included, was changed.
        if plan.render() != text {
            bail!(
                "{name}: the checksum does not match: the plan was edited after `certsd plan --out` wrote it; make a new plan rather than editing one"
            );
        }
        Ok(plan)
    }
}

/// One header line after the first.
fn parse_line(plan: &mut PlanFile, checksum: &mut Option<String>, line: &str) -> Result<()> {
    let Some(rest) = line.strip_prefix("# ") else {
        bail!("not a plan header line: {line:?}");
    };
    let (word, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    match word {
        "cwd" => plan.cwd = unquote(rest)?.0,
        "arg" => plan.args.push(unquote(rest)?.0),
        "target" if rest == "none" => plan.target = None,
        "target" => plan.target = Some(unquote(rest)?.0),
        "read" | "absent" | "input" | "input-absent" => plan.files.push(recorded(word, rest)?),
        "checksum" => *checksum = Some(hash(rest)?.to_string()),
        _ => bail!("unknown plan line `# {word}`"),
    }
    Ok(())
}

fn recorded(word: &str, rest: &str) -> Result<Recorded> {
    let (path, tail) = unquote(rest)?;
    let place = if word.starts_with("input") {
        Place::Input
    } else {
        Place::Node
    };
    let sha256 = match word {
        "read" | "input" => Some(hash(tail.strip_prefix(' ').unwrap_or(""))?.to_string()),
        _ if tail.is_empty() => None,
        _ => bail!("`{word}` takes a path alone"),
    };
    Ok(Recorded {
        place,
        path,
        sha256,
    })
}

/// `sha256:` and 64 lower-case hex digits.
fn hash(text: &str) -> Result<&str> {
    match text.strip_prefix("sha256:") {
        Some(h)
            if h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(h)
        }
        _ => bail!("expected sha256:<64 hex digits>, found {text:?}"),
    }
}

/// A JSON string: any byte of a path or an argument survives one line.
fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// The JSON string at the start of `text`, and what follows it.
fn unquote(text: &str) -> Result<(String, &str)> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<String>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, &text[stream.byte_offset()..])),
        _ => bail!("expected a quoted string, found {text:?}"),
    }
}

/// The hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().fold(String::new(), |mut hex, b| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PlanFile {
        PlanFile {
            cwd: "/home/ops".into(),
            args: vec!["plan".into(), "--header".into(), "X-A: b \"c\"".into()],
            target: Some("1.7.24".into()),
            files: vec![
                Recorded { place: Place::Node, path: "/etc/containerd/config.toml".into(), sha256: Some("a".repeat(64)) },
                Recorded { place: Place::Node, path: "/etc/x y".into(), sha256: None },
                Recorded { place: Place::Input, path: "/home/ops/ca.crt".into(), sha256: Some("b".repeat(64)) },
            ],
            shown: "--- a/etc/containerd/config.toml\n+++ b/etc/containerd/config.toml\n@@ -1 +1 @@\n-a\n+b\n".into(),
        }
    }

    #[test]
    fn a_plan_file_reads_back_as_written() {
        let text = sample().render();
        assert!(text.starts_with(MAGIC));
        assert_eq!(PlanFile::parse("p", &text).unwrap(), sample());
        let none = PlanFile {
            target: None,
            ..sample()
        };
        assert_eq!(PlanFile::parse("p", &none.render()).unwrap(), none);
    }

    #[test]
    fn any_edit_is_refused() {
        let text = sample().render();
        for (from, to) in [
            ("+b\n", "+c\n"),
            ("\"plan\"", "\"plan\" "),
            ("aaaa", "aaab"),
            ("# end", "#end"),
            (MAGIC, "# certsd-plan v2"),
        ] {
            let edited = text.replacen(from, to, 1);
            assert_ne!(edited, text, "{from}");
            assert!(
                PlanFile::parse("p", &edited).is_err(),
                "accepted an edit of {from:?}"
            );
        }
        let extra = text.replacen("# target", "# note hi\n# target", 1);
        let err = PlanFile::parse("p", &extra).unwrap_err().to_string();
        assert!(err.contains("p:6: unknown plan line"), "{err}");
        assert!(PlanFile::parse("p", "hello").is_err());
        assert!(PlanFile::parse("p", "").is_err());
    }
}

//! The containerd process boundary: finding the binary, what it says of
//! itself (`--version`) and how it reads a config (`config dump`).
//!
//! Nothing else in certsd runs containerd. Every run is bounded by a timeout
//! and killed when it passes: a wedged binary must never hang a provisioning
//! run. `config dump` parses a config, merges its imports and migrates older
//! versions exactly as the daemon does, without starting any plugin, so it is
//! safe beside a running daemon.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::paths::Root;
use crate::version::{ContainerdVersion, Target};

/// How long one `containerd` run may take; a dump takes 10–100 ms.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// More output than this from containerd is cut (a dump is about 10 KiB).
const OUTPUT_LIMIT: u64 = 4 << 20;

/// A containerd binary and the version it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    /// Where it is on the machine certsd runs on.
    pub path: PathBuf,
    pub version: ContainerdVersion,
}

impl Binary {
    /// The version as a target, saying where it came from.
    pub fn target(&self) -> Target {
        Target {
            version: self.version,
            source: format!("from `{} --version`", self.path.display()),
        }
    }
}

/// Asks the containerd binary of the node. With `--root` other than `/`,
/// looks for the binary inside the root (an image being built) instead.
pub fn detect(root: &Root) -> Option<Target> {
    find(root).map(|b| b.target())
}

/// The first binary of the node that reports a version: on `/` the
/// `containerd` on `PATH`, under `--root` the usual places inside the root.
pub fn find(root: &Root) -> Option<Binary> {
    candidates(root).iter().find_map(|bin| ask(bin).ok())
}

/// Where [`find`] looks, for messages.
pub fn candidates(root: &Root) -> Vec<PathBuf> {
    if root.is_system() {
        return on_path("containerd").into_iter().collect();
    }
    [
        "usr/local/bin/containerd",
        "usr/bin/containerd",
        "bin/containerd",
    ]
    .iter()
    .map(|p| root.dir().join(p))
    .filter(|p| p.is_file())
    .collect()
}

/// `name` found on `PATH`, as the shell would run it.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Runs `BIN --version` and reads the version from it.
pub fn ask(bin: &Path) -> Result<Binary> {
    let run = run_bounded(Command::new(bin).arg("--version"), TIMEOUT)?;
    if !run.status.success() {
        bail!(
            "`{} --version` failed ({}){}",
            bin.display(),
            run.status,
            quote_suffix(&run.stderr)
        );
    }
    let text = String::from_utf8_lossy(&run.stdout);
    let version = parse_version_output(&text).with_context(|| {
        format!(
            "`{} --version` printed no containerd version: {:?}",
            bin.display(),
            text.trim()
        )
    })?;
    Ok(Binary {
        path: bin.to_path_buf(),
        version,
    })
}

/// Finds the version in `containerd --version` output, e.g.
/// `containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7`.
pub fn parse_version_output(text: &str) -> Option<ContainerdVersion> {
    text.split_whitespace()
        .skip(1)
        .filter(|w| {
            w.trim_start_matches('v')
                .starts_with(|c: char| c.is_ascii_digit())
                && w.contains('.')
        })
        .find_map(|w| w.parse().ok())
}

/// What `config dump` said of one config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dump {
    /// The effective configuration, as TOML text.
    Accepted(String),
    /// containerd refused the file: its own message, trimmed and bounded.
    Refused(String),
}

/// Runs `BIN --config CONFIG config dump` in `cwd` (the node's `/`: the
/// daemon's working directory, which 1.6/1.7 resolve relative import globs
/// against).
pub fn config_dump(bin: &Binary, config: &Path, cwd: &Path) -> Result<Dump> {
    let mut cmd = Command::new(&bin.path);
    cmd.arg("--config").arg(config).args(["config", "dump"]);
    cmd.current_dir(cwd);
    let run = run_bounded(&mut cmd, TIMEOUT)?;
    if run.status.success() {
        let text = String::from_utf8(run.stdout)
            .with_context(|| format!("`{} config dump` printed non-UTF-8", bin.path.display()))?;
        return Ok(Dump::Accepted(text));
    }
    let message = quote(&run.stderr);
    Ok(Dump::Refused(if message.is_empty() {
        format!("exited with {} and printed nothing", run.status)
    } else {
        message
    }))
}

/// containerd's stderr made fit for one error message: log lines lose their
/// `time="..."` stamp, blank lines go, and at most the last 6 lines of at
/// most 400 characters are kept (the final lines hold the reason).
pub fn quote(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<String> = text
        .lines()
        .map(strip_stamp)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.char_indices().nth(400) {
            Some((at, _)) => format!("{}…", &l[..at]),
            None => l.to_string(),
        })
        .collect();
    let skip = lines.len().saturating_sub(6);
    lines[skip..].join("; ")
}

fn quote_suffix(stderr: &[u8]) -> String {
    let q = quote(stderr);
    if q.is_empty() { q } else { format!(": {q}") }
}

/// `time="2026-12-01T20:35:45Z" level=error msg=...` → `level=error msg=...`
fn strip_stamp(line: &str) -> &str {
    line.strip_prefix("time=\"")
        .and_then(|rest| rest.split_once("\" "))
        .map_or(line, |(_, after)| after)
}

/// A finished process: exit status and what it printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `cmd` with no stdin, collecting its output, and kills it (and
/// reaps it) when it runs longer than `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<Finished> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    // Pipes are drained on their own threads so a chatty child cannot fill
    // one and block while we wait on it.
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = wait_until(&mut child, Instant::now() + limit)
        .with_context(|| format!("waiting for {program}"))?;
    let Some(status) = status else {
        bail!(
            "{program} did not finish within {} s and was stopped",
            limit.as_secs_f32()
        );
    };
    Ok(Finished {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(pipe) = pipe {
            let _ = pipe.take(OUTPUT_LIMIT).read_to_end(&mut buf);
        }
        buf
    })
}

/// The exit status, or `None` after killing a child that outlived `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ContainerdVersion {
        s.parse().unwrap()
    }

    #[test]
    fn reads_version_output_of_each_line() {
        let deb = "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1\n";
        assert_eq!(parse_version_output(deb), Some(v("1.6.20")));
        let v2 = "containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376\n";
        assert_eq!(parse_version_output(v2), Some(v("2.1.4")));
        assert_eq!(parse_version_output("garbage"), None);
    }

    #[test]
    fn quotes_the_reason_without_timestamps() {
        let stderr = b"time=\"2026-12-01T20:35:45Z\" level=error msg=\"Failure unmarshaling TOML\" row=3\n\n\
            containerd: failed to unmarshal TOML at row 3 column 2: toml: table x already exists\n";
        assert_eq!(
            quote(stderr),
            "level=error msg=\"Failure unmarshaling TOML\" row=3; \
             containerd: failed to unmarshal TOML at row 3 column 2: toml: table x already exists"
        );
        let long = "x".repeat(1000) + "\n";
        assert_eq!(quote(long.repeat(10).as_bytes()).matches('…').count(), 6);
    }

    #[test]
    fn a_process_that_hangs_is_stopped_at_the_deadline() {
        let started = Instant::now();
        let err =
            run_bounded(Command::new("sleep").arg("30"), Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("did not finish"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn output_and_status_are_collected() {
        let run = run_bounded(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(run.status.code(), Some(3));
        assert_eq!(run.stdout, b"out\n");
        assert_eq!(run.stderr, b"err\n");
    }
}

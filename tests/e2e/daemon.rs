//! Processes a test starts: each one is owned by a guard that stops it by its
//! PID when the guard is dropped, also when the test panics.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A running process, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Daemon {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with stdout and stderr going to `log`.
    pub fn spawn(name: &str, cmd: &Command, log: &Path) -> Daemon {
        let mut cmd = with_parent_death_signal(cmd);
        let out = File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out.try_clone().expect("clone log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({cmd:?}): {e}"));
        Daemon {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The log so far (lossy UTF-8).
    pub fn log(&self) -> String {
        let mut buf = Vec::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The last `n` lines of the log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Panics with the log tail when the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!(
                "{} (pid {}) exited early with {status}; log {}:\n{}",
                self.name,
                child.id(),
                self.log.display(),
                self.log_tail(30)
            );
        }
    }

    /// Stops the process: SIGTERM, up to 5 s, then SIGKILL. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = child.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private mount namespace with its own empty `/run` (a tmpfs) in which
/// `/etc/hosts` and `/etc/containerd` are bind-mounted from the test's temp dir. A holder
/// process keeps it alive; commands enter it with `nsenter --mount`, which
/// execs the program (so a spawned child's PID is the program's own).
pub struct Namespace {
    holder: Daemon,
}

impl Namespace {
    /// `binds` are (source, target) pairs mounted inside the namespace.
    pub fn new(binds: &[(&Path, &Path)], log: &Path) -> Namespace {
        // A private /run too: containerd 1.7 and 2.x create /run/containerd
        // (the shim socket root) even when their `state` is elsewhere.
        let mut script = String::from("set -e\nmount -t tmpfs -o mode=0755 certsd-e2e-run /run\n");
        for (src, dst) in binds {
            let _ = writeln!(
                script,
                "mount --bind '{}' '{}'",
                src.display(),
                dst.display()
            );
        }
        script.push_str("echo ready\nexec sleep 100000\n");
        let mut unshare = Command::new("unshare");
        unshare.args(["--mount", "--propagation", "private", "--"]);
        unshare.args(["sh", "-c", &script]);
        let mut cmd = with_parent_death_signal(&unshare);
        let err = File::create(log).expect("namespace log");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("start unshare");
        let stdout = child.stdout.take().expect("holder stdout");
        let mut holder = Daemon {
            name: "namespace holder".into(),
            child: Some(child),
            log: log.to_owned(),
        };
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() != "ready" {
            holder.stop();
            panic!(
                "private mount namespace did not come up: {}",
                holder.log_tail(10)
            );
        }
        Namespace { holder }
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("--target")
            .arg(self.holder.pid().to_string())
            .arg("--mount")
            .arg("--")
            .arg(program);
        cmd
    }
}

/// The same command under `setpriv --pdeathsig TERM`, which execs it: the
/// PID stays the program's, and the kernel sends it SIGTERM should the test
/// process die without running its guards (SIGKILL, abort). The signal is
/// tied to the spawning thread, which is the test's own thread here.
fn with_parent_death_signal(cmd: &Command) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--pdeathsig", "TERM", "--"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    c
}

/// Runs a command to completion with a time limit; returns (success, stdout+stderr).
pub fn run(cmd: &Command, limit: Duration) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir for output");
    let path = dir.path().join("out");
    let mut d = Daemon::spawn("command", cmd, &path);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(child) = d.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            d.child = None;
            return (status.success(), d.log());
        }
        if Instant::now() > deadline {
            d.stop();
            return (false, format!("timed out after {limit:?}: {}", d.log()));
        }
        sleep(Duration::from_millis(10));
    }
}

//! What every test area shares: running the built certsd, running openssl,
//! reading file modes. One place, so a change to how certsd is run (an
//! environment variable, a working directory) is made once.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// The built binary as a command, with no `CERTSD_ROOT` from the caller's environment.
pub fn certsd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certsd"));
    cmd.env_remove("CERTSD_ROOT");
    cmd
}

/// `certsd ARGS` with `--root` given as `CERTSD_ROOT`, run from the repository.
pub fn certsd_in_root(root: &Path, args: &[&str]) -> Output {
    certsd()
        .args(args)
        .env("CERTSD_ROOT", root)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("certsd runs")
}

/// `certsd ARGS` run in `dir`.
pub fn certsd_in_dir(dir: &Path, args: &[&str]) -> Output {
    certsd()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("certsd runs")
}

/// Insists a run succeeded; returns its stdout.
pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs openssl in `dir`; returns (success, stdout + stderr).
pub fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs openssl in `dir` and insists it succeeds; returns its output.
pub fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, text) = openssl(dir, args);
    assert!(ok, "openssl {args:?} failed: {text}");
    text
}

/// A file's permission bits.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

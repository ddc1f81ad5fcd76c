//! End-to-end: real containerd (1.6 from Debian 12, 1.7 from trixie, 2.1 from
//! sid, unpacked by `tests/e2e/setup.sh`) pulling from the real CNCF registry
//! (`docker-registry`) with the files certsd writes, and failing without them.
//!
//! Needs root (mount namespaces, containerd). Outside CI, a missing
//! prerequisite skips with the reason on stderr; with `CI=true` it fails.
//! Each test prints one `e2e containerd X.Y.Z: CASE ok` line per case straight
//! to stderr, so the lines show without `--nocapture`.
//!
//! Run: `bash tests/e2e/setup.sh` once (as root), then `cargo test e2e_`.
//! Environment (all optional):
//! - `CERTSD_E2E_CACHE`: where setup.sh unpacked 1.7 and 2.1 (default `target/e2e-containerd`);
//! - `CERTSD_E2E_CONTAINERD_1_6` / `_1_7` / `_2_1`: a containerd binary to use (ctr beside it);
//! - `CERTSD_E2E_KEEP=1`: keep each version's temp dir (logs, configs, hosts.toml) after success.

mod cases;
mod certsd;
mod containerd;
mod cri;
mod daemon;
mod oci;
mod pki;
mod registry;

use std::io::Write;
use std::path::Path;

use containerd::Binaries;

/// Writes a line to the real stderr, past the test harness's capture.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Returns the binaries when every prerequisite is there; otherwise skips
/// (outside CI) or fails (CI).
fn prerequisites(series: &'static str) -> Option<Binaries> {
    let mut problems = Vec::new();
    if !is_root() {
        problems.push("needs root (mount namespace, containerd)".to_owned());
    }
    for tool in [
        "unshare",
        "nsenter",
        "setpriv",
        "mount",
        "openssl",
        "docker-registry",
        "skopeo",
    ] {
        if !on_path(tool) {
            problems.push(format!(
                "`{tool}` not on PATH (run `bash tests/e2e/setup.sh` as root)"
            ));
        }
    }
    let bin = Binaries::for_series(series);
    problems.extend(bin.missing());
    if !Path::new("/etc/containerd").is_dir() {
        problems.push("/etc/containerd missing (the bind-mount target; Debian's containerd package creates it)".to_owned());
    }
    if problems.is_empty() {
        return Some(bin);
    }
    let msg = format!("e2e containerd {series}: {}", problems.join("; "));
    assert!(!in_ci(), "CI=true and a prerequisite is missing: {msg}");
    say(&format!("{msg}: SKIPPED"));
    None
}

#[test]
fn e2e_containerd_1_6() {
    if let Some(bin) = prerequisites("1.6") {
        cases::run(&bin);
    }
}

#[test]
fn e2e_containerd_1_7() {
    if let Some(bin) = prerequisites("1.7") {
        cases::run(&bin);
    }
}

#[test]
fn e2e_containerd_2_1() {
    if let Some(bin) = prerequisites("2.1") {
        cases::run(&bin);
    }
}

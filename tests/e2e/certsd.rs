//! The seam to certsd: `certsd_apply` runs the built binary's `certsd apply`
//! with the given arguments (the cases pass `--root`, `--containerd-version`
//! and the trust flags), so every case drives the real tool.

use std::path::{Path, PathBuf};

/// Runs `certsd apply ARGS`. Ok(stdout) on exit 0, Err(message) otherwise.
pub fn certsd_apply(args: &[&str]) -> Result<String, String> {
    let out = crate::support::certsd()
        .arg("apply")
        .args(args)
        .output()
        .expect("run certsd");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "certsd apply exited {}: {}{text}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Where `apply --self-signed` leaves the registry's server certificate and
/// key: the default `--cert-dir`, `/etc/certsd/HOST/`, under the root.
pub fn self_signed_server_files(root: &Path, host: &str) -> (PathBuf, PathBuf) {
    let dir = root.join("etc/certsd").join(host);
    (dir.join("server.crt"), dir.join("server.key"))
}

/// `certsd doctor --connect --output json ARGS` run inside the namespace
/// (where the registry's name resolves to 127.0.0.1): exit code and the
/// codes of the findings with severity `error`, and all codes, in order.
pub fn certsd_doctor(
    ns: &super::daemon::Namespace,
    args: &[&str],
) -> (i32, Vec<String>, Vec<String>) {
    let out = ns
        .command(env!("CARGO_BIN_EXE_certsd"))
        .args(["doctor", "--connect", "--timeout", "3", "--output", "json"])
        .args(args)
        .env_remove("CERTSD_ROOT")
        .output()
        .expect("run certsd doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings = json["findings"].as_array().cloned().unwrap_or_default();
    let codes = |errors_only: bool| {
        findings
            .iter()
            .filter(|f| !errors_only || f["severity"] == "error")
            .map(|f| f["code"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    (out.status.code().unwrap_or(-1), codes(true), codes(false))
}

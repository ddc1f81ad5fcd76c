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

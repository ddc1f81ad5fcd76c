//! Certificates for the end-to-end tests, made by `certsd cert` itself:
//! `ca.crt`/`ca.key`, `server.crt`/`server.key`, `client.crt`/`client.key`.

use std::fs;
use std::path::{Path, PathBuf};

/// `certsd cert ARGS`; panics with its output on failure.
fn certsd_cert(args: &[&str]) {
    let out = crate::support::certsd()
        .arg("cert")
        .args(args)
        .output()
        .expect("run certsd");
    assert!(
        out.status.success(),
        "certsd cert {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A CA: `dir/ca.crt`, `dir/ca.key`.
pub fn ca(dir: &Path, cn: &str) -> PathBuf {
    fs::create_dir_all(dir).expect("ca dir");
    certsd_cert(&["ca", "--out", &dir.to_string_lossy(), "--name", cn]);
    dir.join("ca.crt")
}

/// A server certificate for `dns` and `ip` signed by the CA in `ca_dir`:
/// `dir/server.crt`, `dir/server.key`.
pub fn server(dir: &Path, ca_dir: &Path, dns: &str, ip: &str) -> PathBuf {
    fs::create_dir_all(dir).expect("server dir");
    let (out, ca) = (dir.to_string_lossy(), ca_dir.to_string_lossy());
    certsd_cert(&[
        "server", "--out", &out, "--ca-dir", &ca, "--dns", dns, "--ip", ip,
    ]);
    dir.join("server.crt")
}

/// A client certificate with common name `cn`: `dir/client.crt`, `dir/client.key`.
pub fn client(dir: &Path, ca_dir: &Path, cn: &str) -> PathBuf {
    fs::create_dir_all(dir).expect("client dir");
    let (out, ca) = (dir.to_string_lossy(), ca_dir.to_string_lossy());
    certsd_cert(&["client", "--out", &out, "--ca-dir", &ca, "--name", cn]);
    dir.join("client.crt")
}

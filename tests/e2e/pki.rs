//! Certificates for the end-to-end tests, made with the `openssl` command.
//!
//! This is a seam: the three functions mirror `certsd cert ca|server|client`
//! (issue 3). With `CERTSD_E2E_REAL_CERTSD=1` they run the real subcommands
//! instead (assumed to write the same file names; adjust here when they land).
//! Every file is PEM: `ca.crt`/`ca.key`, `server.crt`/`server.key`,
//! `client.crt`/`client.key` in the given directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn real_certsd() -> bool {
    std::env::var_os("CERTSD_E2E_REAL_CERTSD").is_some_and(|v| v == "1")
}

/// `certsd cert ARGS`; panics with its output on failure.
fn certsd_cert(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_certsd"))
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

fn openssl(args: &[&str], cwd: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA: `dir/ca.crt`, `dir/ca.key`.
pub fn ca(dir: &Path, cn: &str) -> PathBuf {
    fs::create_dir_all(dir).expect("ca dir");
    if real_certsd() {
        certsd_cert(&["ca", "--out", &dir.to_string_lossy()]);
        return dir.join("ca.crt");
    }
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        dir,
    );
    dir.join("ca.crt")
}

fn leaf(dir: &Path, ca_dir: &Path, stem: &str, cn: &str, ext: &str) -> PathBuf {
    fs::create_dir_all(dir).expect("leaf dir");
    let key = format!("{stem}.key");
    let csr = format!("{stem}.csr");
    let crt = format!("{stem}.crt");
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={cn}"),
        ],
        dir,
    );
    let extfile = dir.join(format!("{stem}.ext"));
    fs::write(&extfile, ext).expect("ext file");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-out",
            &crt,
            "-days",
            "2",
            "-sha256",
            "-CA",
            &ca_dir.join("ca.crt").to_string_lossy(),
            "-CAkey",
            &ca_dir.join("ca.key").to_string_lossy(),
            "-set_serial",
            &format!("{}", rand_serial()),
            "-extfile",
            &extfile.to_string_lossy(),
        ],
        dir,
    );
    let _ = fs::remove_file(dir.join(&csr));
    dir.join(crt)
}

fn rand_serial() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish() >> 1
}

/// A server certificate for `dns` and `ip` signed by the CA in `ca_dir`:
/// `dir/server.crt`, `dir/server.key`.
pub fn server(dir: &Path, ca_dir: &Path, dns: &str, ip: &str) -> PathBuf {
    if real_certsd() {
        fs::create_dir_all(dir).expect("server dir");
        let (out, ca) = (dir.to_string_lossy(), ca_dir.to_string_lossy());
        certsd_cert(&[
            "server", "--out", &out, "--ca-dir", &ca, "--dns", dns, "--ip", ip,
        ]);
        return dir.join("server.crt");
    }
    leaf(
        dir,
        ca_dir,
        "server",
        dns,
        &format!(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{dns},IP:{ip}\n"
        ),
    )
}

/// A client certificate with common name `cn`: `dir/client.crt`, `dir/client.key`.
pub fn client(dir: &Path, ca_dir: &Path, cn: &str) -> PathBuf {
    if real_certsd() {
        fs::create_dir_all(dir).expect("client dir");
        let (out, ca) = (dir.to_string_lossy(), ca_dir.to_string_lossy());
        certsd_cert(&["client", "--out", &out, "--ca-dir", &ca, "--name", cn]);
        return dir.join("client.crt");
    }
    leaf(
        dir,
        ca_dir,
        "client",
        cn,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
}

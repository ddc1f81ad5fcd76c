//! Certificates for the end-to-end tests, made with the `openssl` command.
//!
//! This is a seam: the three functions mirror `certsd cert ca|server|client`
//! (issue 3) and can be swapped for the real subcommands once they land.
//! Every file is PEM: `ca.crt`/`ca.key`, `server.crt`/`server.key`,
//! `client.crt`/`client.key` in the given directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    leaf(
        dir,
        ca_dir,
        "client",
        cn,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
}

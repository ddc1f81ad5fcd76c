//! CNCF distribution (`docker-registry serve config.yml`) on loopback, and
//! pushing the test image into it with skopeo.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::daemon::{self, Daemon, Namespace};

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

pub struct Tls<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
    /// When set, the registry requires a client certificate signed by it.
    pub client_ca: Option<&'a Path>,
}

pub struct Registry {
    pub port: u16,
    daemon: Daemon,
}

impl Registry {
    /// Starts a TLS registry on 127.0.0.1 with its storage under `dir`, on a
    /// free port (tries another when the port was taken meanwhile).
    pub fn start(dir: &Path, tls: &Tls<'_>) -> Registry {
        let mut last = String::new();
        for _ in 0..3 {
            match Registry::try_start(dir, tls, free_port(), None) {
                Ok(r) => return r,
                Err(e) => last = e,
            }
        }
        panic!("docker-registry did not start: {last}");
    }

    /// Starts a TLS registry on 127.0.0.1:`port`.
    pub fn start_on(dir: &Path, tls: &Tls<'_>, port: u16) -> Registry {
        Registry::try_start(dir, tls, port, None).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a TLS registry that requires HTTP basic auth for `user`
    /// (`htpasswd -B`: distribution reads bcrypt only).
    pub fn start_with_auth(dir: &Path, tls: &Tls<'_>, user: &str, password: &str) -> Registry {
        fs::create_dir_all(dir).expect("registry dir");
        let file = dir.join("htpasswd");
        let out = Command::new("htpasswd")
            .args(["-B", "-b", "-c"])
            .arg(&file)
            .args([user, password])
            .output()
            .expect("run htpasswd (apache2-utils, installed by setup.sh)");
        assert!(out.status.success(), "htpasswd failed: {out:?}");
        let mut last = String::new();
        for _ in 0..3 {
            match Registry::try_start(dir, tls, free_port(), Some(&file)) {
                Ok(r) => return r,
                Err(e) => last = e,
            }
        }
        panic!("docker-registry with auth did not start: {last}");
    }

    /// Ready when its log says `listening on 127.0.0.1:PORT` and the port
    /// accepts a connection; Err with the log when it exits first.
    fn try_start(
        dir: &Path,
        tls: &Tls<'_>,
        port: u16,
        htpasswd: Option<&Path>,
    ) -> Result<Registry, String> {
        fs::create_dir_all(dir.join("data")).expect("registry dir");
        let mut yml = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: certsd-e2e\n  tls:\n    certificate: {}\n    key: {}\n",
            dir.join("data").display(),
            tls.cert.display(),
            tls.key.display(),
        );
        if let Some(ca) = tls.client_ca {
            let _ = write!(yml, "    clientcas:\n      - {}\n", ca.display());
        }
        if let Some(file) = htpasswd {
            let _ = write!(
                yml,
                "auth:\n  htpasswd:\n    realm: certsd-e2e\n    path: {}\n",
                file.display()
            );
        }
        let config = dir.join("config.yml");
        fs::write(&config, yml).expect("registry config");
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve").arg(&config);
        let mut daemon = Daemon::spawn("docker-registry", &cmd, &dir.join("registry.log"));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let listening = format!("listening on 127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if !daemon.is_running() {
                return Err(format!(
                    "docker-registry on {addr} exited: {}",
                    daemon.log_tail(10)
                ));
            }
            if daemon.log().contains(&listening)
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(Registry { port, daemon });
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "docker-registry did not listen on {addr}: {}",
                    daemon.log_tail(20)
                ));
            }
            sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}

/// A directory in skopeo's `--dest-cert-dir` form: `ca.crt`, and for mTLS
/// `client.cert` + `client.key`.
pub fn skopeo_cert_dir(dir: &Path, ca: &Path, client: Option<(&Path, &Path)>) -> PathBuf {
    fs::create_dir_all(dir).expect("cert dir");
    fs::copy(ca, dir.join("ca.crt")).expect("copy ca");
    if let Some((crt, key)) = client {
        fs::copy(crt, dir.join("client.cert")).expect("copy client cert");
        fs::copy(key, dir.join("client.key")).expect("copy client key");
    }
    dir.to_owned()
}

/// Pushes `oci:LAYOUT:TAG` to `docker://DEST` (run inside the namespace so
/// the registry's alias name resolves).
pub fn push(ns: &Namespace, layout: &Path, tag: &str, dest: &str, cert_dir: &Path) {
    push_as(ns, layout, tag, dest, cert_dir, None);
}

/// [`push`], logged in as `user:password` when given.
pub fn push_as(
    ns: &Namespace,
    layout: &Path,
    tag: &str,
    dest: &str,
    cert_dir: &Path,
    creds: Option<&str>,
) {
    // As root, skopeo keeps a blob-info cache in /var/lib/containers/cache.
    // containers/image takes the "rootless" UID from _CONTAINERS_ROOTLESS_UID
    // and then puts the cache under XDG_DATA_HOME: keep it in the temp dir.
    let home = cert_dir.with_extension("home");
    let mut cmd = ns.command("skopeo");
    cmd.env("_CONTAINERS_ROOTLESS_UID", "65534")
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("HOME", &home);
    cmd.args(["--insecure-policy", "copy"]);
    if let Some(creds) = creds {
        cmd.args(["--dest-creds", creds]);
    }
    cmd.arg("--dest-cert-dir")
        .arg(cert_dir)
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{dest}"));
    let (ok, out) = daemon::run(&cmd, Duration::from_secs(60));
    assert!(ok, "skopeo copy to {dest} failed:\n{out}");
}

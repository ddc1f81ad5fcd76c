//! Test servers, each killed or closed on drop, and the PKI they serve.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use time::OffsetDateTime;

use certsd::doctor::connect::{CaFile, ClientCert, Endpoint, Origin, SystemRoots, Trust};

/// The registry name the tests' endpoints use; `dial` maps it to 127.0.0.1.
pub const NAME: &str = "registry.certsd.test";

/// An `openssl s_server` process; killed and reaped on drop.
pub struct OpenSsl {
    child: Child,
    pub port: u16,
}

impl OpenSsl {
    /// `s_server -www` on 127.0.0.1 with an OS-chosen port, serving
    /// `dir/{cert}` and `dir/{key}`; `extra` adds flags (`-Verify 1`, ...).
    pub fn start(dir: &Path, cert: &str, key: &str, extra: &[&str]) -> OpenSsl {
        let mut child = Command::new("openssl")
            .current_dir(dir)
            .args([
                "s_server",
                "-accept",
                "127.0.0.1:0",
                "-www",
                "-cert",
                cert,
                "-key",
                key,
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl runs");
        let stdout = child.stdout.take().unwrap();
        // The guard exists before anything can panic, so the process dies with it.
        let mut server = OpenSsl { child, port: 0 };
        let mut lines = BufReader::new(stdout).lines();
        // s_server prints `ACCEPT 127.0.0.1:PORT` once it listens (or exits on bad input).
        server.port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("ACCEPT 127.0.0.1:")?.trim().parse().ok())
            .expect("s_server reports its port");
        // Keep draining so a chatty server never blocks on a full pipe.
        thread::spawn(move || lines.for_each(drop));
        server
    }
}

impl Drop for OpenSsl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A listener thread that answers each connection with `reply` once it
/// has read something (or, with `None`, accepts and never says a word).
/// It lives until the test process exits, which is soon.
pub fn std_server(reply: Option<&'static [u8]>) -> u16 {
    std_server_on("127.0.0.1:0", reply)
}

/// [`std_server`] on another loopback address (`[::1]:0`).
pub fn std_server_on(addr: &str, reply: Option<&'static [u8]>) -> u16 {
    let listener = TcpListener::bind(addr).unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().map_while(Result::ok) {
            match reply {
                Some(reply) => {
                    let mut buf = [0u8; 4096];
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = stream.read(&mut buf);
                    let _ = stream.write_all(reply);
                }
                None => held.push(stream),
            }
        }
    });
    port
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `https://registry.certsd.test:PORT` (or `http://`), dialled at 127.0.0.1.
pub fn endpoint(scheme: &str, port: u16) -> Endpoint {
    let mut endpoint = Endpoint::parse(
        &format!("{scheme}://{NAME}:{port}"),
        &format!("{NAME}:{port}"),
        Origin::Host,
    )
    .unwrap();
    endpoint.dial = Some(SocketAddr::from(([127, 0, 0, 1], port)));
    endpoint
}

/// A temp dir holding a CA, a server cert for [`NAME`] and a client cert,
/// all made by the built `certsd cert`.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
        };
        pki.certsd(&["cert", "ca", "--out", "pki", "--name", "certsd test CA"]);
        pki.certsd(&[
            "cert", "server", "--out", "reg", "--ca-dir", "pki", "--dns", NAME,
        ]);
        pki.certsd(&[
            "cert", "client", "--out", "node", "--ca-dir", "pki", "--name", "node-1",
        ]);
        pki
    }

    pub fn certsd(&self, args: &[&str]) {
        let out = Command::new(env!("CARGO_BIN_EXE_certsd"))
            .current_dir(self.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "certsd {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.file(rel)).unwrap()
    }

    /// `ca = [rel]`, reported under a node path as hosts.toml would name it.
    pub fn ca(&self, rel: &str) -> CaFile {
        CaFile {
            path: format!("/etc/containerd/certs.d/{NAME}/{rel}"),
            pem: self.read(rel),
        }
    }

    pub fn client(&self) -> ClientCert {
        ClientCert {
            path: format!("/etc/containerd/certs.d/{NAME}/client.crt"),
            cert_pem: self.read("node/client.crt"),
            key_pem: self.read("node/client.key"),
        }
    }

    /// Trust with no system roots and `ca` = this PKI's CA.
    pub fn trust_ca(&self) -> Trust {
        Trust {
            ca: vec![self.ca("pki/ca.crt")],
            ..Trust::default()
        }
    }

    /// A pool standing in for the OS bundle, holding the certificates of `rel`.
    pub fn as_system_of(&self, rel: &str) -> SystemRoots {
        SystemRoots::from_pem("/etc/ssl/certs/ca-certificates.crt", &self.read(rel))
    }

    /// A server cert for [`NAME`] valid only from `from` to `until`, signed
    /// by this PKI's CA: certsd refuses past dates, so rcgen directly.
    /// Written as `{stem}.crt` and `{stem}.key`.
    pub fn write_dated(&self, stem: &str, from: OffsetDateTime, until: OffsetDateTime) {
        let pem = |rel| String::from_utf8(self.read(rel)).unwrap();
        let ca_key = rcgen::KeyPair::from_pem(&pem("pki/ca.key")).unwrap();
        let issuer = rcgen::Issuer::from_ca_cert_pem(&pem("pki/ca.crt"), ca_key).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![NAME.to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, NAME);
        (params.not_before, params.not_after) = (from, until);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(self.file(&format!("{stem}.crt")), cert.pem()).unwrap();
        std::fs::write(self.file(&format!("{stem}.key")), key.serialize_pem()).unwrap();
    }
}

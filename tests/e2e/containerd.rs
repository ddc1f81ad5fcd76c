//! One containerd under test: where its binaries are, its config.toml (that
//! version's own `containerd config default`, moved under the temp dir), and
//! the daemon started inside the test's private mount namespace.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use toml_edit::{DocumentMut, Item, value};

use super::daemon::{self, Daemon, Namespace};

/// A containerd series and where its binaries are.
pub struct Binaries {
    pub series: &'static str,
    pub containerd: PathBuf,
    pub ctr: PathBuf,
}

/// Where `tests/e2e/setup.sh` unpacks containerd 1.7 and 2.1.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CERTSD_E2E_CACHE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-containerd"),
        PathBuf::from,
    )
}

impl Binaries {
    /// 1.6 is Debian 12's installed package; 1.7 and 2.1 are unpacked by
    /// setup.sh. `CERTSD_E2E_CONTAINERD_<1_6|1_7|2_1>` overrides the
    /// containerd path (ctr is taken from the same directory).
    pub fn for_series(series: &'static str) -> Binaries {
        let var = format!("CERTSD_E2E_CONTAINERD_{}", series.replace('.', "_"));
        let containerd = std::env::var_os(&var).map_or_else(
            || {
                if series == "1.6" {
                    PathBuf::from("/usr/bin/containerd")
                } else {
                    cache_dir().join(series).join("usr/bin/containerd")
                }
            },
            PathBuf::from,
        );
        let ctr = containerd.with_file_name("ctr");
        Binaries {
            series,
            containerd,
            ctr,
        }
    }

    pub fn missing(&self) -> Option<String> {
        [&self.containerd, &self.ctr]
            .into_iter()
            .find(|p| !p.is_file())
            .map(|p| {
                format!(
                    "{} not found (run `bash tests/e2e/setup.sh` as root)",
                    p.display()
                )
            })
    }

    /// The version `containerd --version` reports, without Debian's suffixes.
    pub fn version(&self) -> String {
        let out = Command::new(&self.containerd)
            .arg("--version")
            .output()
            .expect("containerd --version");
        let text = String::from_utf8_lossy(&out.stdout);
        let v = text.split_whitespace().nth(2).unwrap_or("unknown");
        v.split(['~', '+']).next().unwrap_or(v).to_owned()
    }

    /// `containerd --config FILE config dump`: the file as this containerd
    /// reads it (imports merged, older versions migrated).
    pub fn config_dump(&self, config: &Path) -> String {
        let out = Command::new(&self.containerd)
            .arg("--config")
            .arg(config)
            .args(["config", "dump"])
            .output()
            .expect("containerd config dump");
        assert!(
            out.status.success(),
            "containerd config dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 dump")
    }

    pub fn config_default(&self) -> String {
        let out = Command::new(&self.containerd)
            .args(["config", "default"])
            .output()
            .expect("containerd config default");
        assert!(out.status.success(), "containerd config default failed");
        String::from_utf8(out.stdout).expect("utf-8 config")
    }
}

/// Paths a containerd instance uses, all under `dir` (outside the namespace).
pub struct Layout {
    pub dir: PathBuf,
    pub socket: PathBuf,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        Layout {
            dir: dir.to_owned(),
            socket: dir.join("run/containerd.sock"),
        }
    }
}

/// Moves every path that two containerds (or the host's) could share under
/// `layout.dir`: root, state, the gRPC socket, the opt plugin and the NRI
/// socket. Everything else stays as `containerd config default` printed it.
pub fn isolate(config: &str, layout: &Layout) -> String {
    let mut doc: DocumentMut = config.parse().expect("default config parses");
    let p = |s: &str| value(layout.dir.join(s).to_string_lossy().into_owned());
    doc["root"] = p("root");
    doc["state"] = p("state");
    doc["grpc"]["address"] = value(layout.socket.to_string_lossy().into_owned());
    let plugins = doc["plugins"].as_table_like_mut().expect("[plugins]");
    if let Some(opt) = plugins.get_mut("io.containerd.internal.v1.opt") {
        opt["path"] = p("opt");
    }
    if let Some(nri) = plugins.get_mut("io.containerd.nri.v1.nri")
        && nri.get("socket_path").is_some()
    {
        nri["socket_path"] = p("nri.sock");
    }
    doc.to_string()
}

/// The table holding `config_path` and `mirrors` for this config's version.
pub fn registry_table(doc: &mut DocumentMut) -> &mut Item {
    let version = doc.get("version").and_then(Item::as_integer).unwrap_or(1);
    let plugin = if version >= 3 {
        "io.containerd.cri.v1.images"
    } else {
        "io.containerd.grpc.v1.cri"
    };
    &mut doc["plugins"][plugin]["registry"]
}

pub struct Containerd {
    pub socket: PathBuf,
    ctr: PathBuf,
    daemon: Daemon,
}

impl Containerd {
    /// Starts `bin.containerd --config /etc/containerd/config.toml` inside
    /// `ns` and waits for its socket.
    pub fn start(bin: &Binaries, ns: &Namespace, layout: &Layout, log_name: &str) -> Containerd {
        std::fs::create_dir_all(layout.socket.parent().expect("run dir")).expect("run dir");
        let mut cmd = ns.command(&bin.containerd);
        cmd.args(["--config", "/etc/containerd/config.toml"]);
        let mut daemon = Daemon::spawn("containerd", &cmd, &layout.dir.join(log_name));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            daemon.assert_running();
            if UnixStream::connect(&layout.socket).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "containerd {} did not open {}: {}",
                bin.series,
                layout.socket.display(),
                daemon.log_tail(30)
            );
            sleep(Duration::from_millis(20));
        }
        Containerd {
            socket: layout.socket.clone(),
            ctr: bin.ctr.clone(),
            daemon,
        }
    }

    pub fn log(&self) -> String {
        self.daemon.log()
    }

    pub fn log_path(&self) -> &Path {
        self.daemon.log_path()
    }

    fn ctr(&self, ns: &Namespace, args: &[&str]) -> (bool, String) {
        let mut cmd = ns.command(&self.ctr);
        cmd.arg("--address").arg(&self.socket).args(args);
        daemon::run(&cmd, Duration::from_secs(60))
    }

    /// `ctr plugins ls` rows as (type, id, status).
    pub fn plugins(&self, ns: &Namespace) -> Vec<(String, String, String)> {
        let (ok, out) = self.ctr(ns, &["plugins", "ls"]);
        assert!(ok, "ctr plugins ls failed: {out}");
        out.lines()
            .skip(1)
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                (cols.len() >= 3).then(|| {
                    (
                        cols[0].to_owned(),
                        cols[1].to_owned(),
                        cols[cols.len() - 1].to_owned(),
                    )
                })
            })
            .collect()
    }

    /// The CRI plugins' rows: `io.containerd.grpc.v1 cri` and, on 2.x, every
    /// `io.containerd.cri.v1 *`.
    pub fn cri_plugins(&self, ns: &Namespace) -> Vec<(String, String, String)> {
        let rows: Vec<_> = self
            .plugins(ns)
            .into_iter()
            .filter(|(t, id, _)| {
                (t == "io.containerd.grpc.v1" && id == "cri") || t == "io.containerd.cri.v1"
            })
            .collect();
        assert!(!rows.is_empty(), "no CRI plugin in `ctr plugins ls`");
        rows
    }

    /// `ctr images pull --hosts-dir /etc/containerd/certs.d REF`.
    pub fn ctr_pull(&self, ns: &Namespace, image: &str) -> Result<(), String> {
        let (ok, out) = self.ctr(
            ns,
            &[
                "--namespace",
                "e2e",
                "images",
                "pull",
                "--hosts-dir",
                "/etc/containerd/certs.d",
                image,
            ],
        );
        if ok { Ok(()) } else { Err(out) }
    }

    pub fn ctr_remove(&self, ns: &Namespace, image: &str) {
        let _ = self.ctr(ns, &["--namespace", "e2e", "images", "rm", image]);
    }

    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}

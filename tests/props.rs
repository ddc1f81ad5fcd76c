//! Property tests (proptest, bounded case counts) and a bounded fuzz run.
//!
//! - Generated config.toml documents (versions 1-3, both quote styles,
//!   header, dotted and inline registry tables, comments everywhere, LF and
//!   CRLF): `apply` changes only `config_path`, keeps every comment and the
//!   line endings, and a second run has nothing to do.
//! - Generated hosts and endpoint URLs: what hosts.toml holds parses back,
//!   the way Go's net/url splits it, to the host that was asked for.
//! - Fuzz (no nightly here for cargo-fuzz): arbitrary and mutated
//!   config.toml, hosts.toml and PEM input: no panic, no hang (timeout), an
//!   exit code certsd documents, memory bounded by `prlimit --as`.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::certsd;

/// One generated config.toml.
#[derive(Debug, Clone)]
struct Doc {
    version: u8,
    single_quotes: bool,
    /// 0: `[..registry]` header, 1: dotted `registry.config_path`, 2: inline table.
    style: u8,
    old_path: Option<String>,
    comments: Vec<String>,
    crlf: bool,
}

impl Doc {
    fn plugin(&self) -> String {
        let name = match self.version {
            1 => return "cri".into(),
            2 => "io.containerd.grpc.v1.cri",
            _ => "io.containerd.cri.v1.images",
        };
        if self.single_quotes {
            format!("'{name}'")
        } else {
            format!("\"{name}\"")
        }
    }

    fn containerd(&self) -> &'static str {
        if self.version == 3 { "2.1.0" } else { "1.7.24" }
    }

    fn text(&self) -> String {
        let c = |i: usize| {
            self.comments
                .get(i % self.comments.len().max(1))
                .cloned()
                .unwrap_or_default()
        };
        let old = self.old_path.as_deref().unwrap_or("");
        let mut t = format!("# {}\n", c(0));
        if self.version > 1 {
            {
                let _ = writeln!(t, "version = {} # {}", self.version, c(1));
            };
        }
        {
            let _ = write!(
                t,
                "\n# {}\n[plugins.{}]\n  sandbox_image = \"pause:3.9\" # {}\n",
                c(2),
                self.plugin(),
                c(3)
            );
        };
        match self.style {
            0 => {
                let _ = write!(
                    t,
                    "\n[plugins.{}.registry] # {}\n  # {}\n  config_path = \"{old}\" # {}\n",
                    self.plugin(),
                    c(4),
                    c(5),
                    c(6)
                );
            }
            1 => {
                let _ = writeln!(t, "  registry.config_path = \"{old}\" # {}", c(4));
            }
            _ => {
                let _ = writeln!(t, "  registry = {{ config_path = \"{old}\" }} # {}", c(4));
            }
        }
        {
            let _ = writeln!(t, "# {}", c(7));
        };
        if self.crlf {
            t.replace('\n', "\r\n")
        } else {
            t
        }
    }
}

fn doc() -> impl Strategy<Value = Doc> {
    (
        1u8..=3,
        any::<bool>(),
        0u8..3,
        proptest::option::of("/[a-z]{1,8}(/[a-z0-9_-]{1,8}){0,2}"),
        proptest::collection::vec("[ -~&&[^\r\n]]{0,24}", 1..8),
        any::<bool>(),
    )
        .prop_map(
            |(version, single_quotes, style, old_path, comments, crlf)| Doc {
                version,
                single_quotes,
                style,
                old_path,
                comments,
                crlf,
            },
        )
}

fn run_in(root: &Path, args: &[&str]) -> Output {
    certsd()
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

/// The document as plain data, without `config_path` (wherever it sits).
#[allow(
    clippy::items_after_statements,
    reason = "two helpers only this walk uses"
)]
fn without_config_path(text: &str) -> String {
    let mut doc: toml_edit::DocumentMut = text.parse().expect("the document parses");
    fn strip(table: &mut dyn toml_edit::TableLike) {
        table.remove("config_path");
        for (_, item) in table.iter_mut() {
            if let Some(t) = item.as_table_like_mut() {
                strip(t);
            }
        }
    }
    strip(doc.as_table_mut());
    let mut plain = String::new();
    fn dump(prefix: &str, table: &dyn toml_edit::TableLike, out: &mut String) {
        let mut keys: Vec<_> = table.iter().collect();
        keys.sort_by_key(|(k, _)| k.to_string());
        for (k, v) in keys {
            match v.as_table_like() {
                Some(t) => dump(&format!("{prefix}{k}."), t, out),
                None => {
                    let _ = writeln!(
                        out,
                        "{prefix}{k}={}",
                        v.as_value()
                            .map(|v| v.to_string().trim().to_string())
                            .unwrap_or_default()
                    );
                }
            }
        }
    }
    dump("", doc.as_table(), &mut plain);
    plain
}

fn config_edit_holds(d: &Doc) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc/containerd");
    fs::create_dir_all(&etc).unwrap();
    let before = d.text();
    fs::write(etc.join("config.toml"), &before).unwrap();
    let out = run_in(
        tmp.path(),
        &[
            "apply",
            "--containerd-version",
            d.containerd(),
            "--host",
            "r.example.com",
        ],
    );
    prop_assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = fs::read_to_string(etc.join("config.toml")).unwrap();
    for comment in before
        .lines()
        .filter_map(|l| l.split_once('#').map(|(_, c)| c.trim_end_matches('\r')))
    {
        prop_assert!(
            after.contains(comment),
            "comment {comment:?} lost:\n{after}"
        );
    }
    if d.crlf {
        prop_assert!(
            !after.replace("\r\n", "").contains('\n'),
            "a bare LF in a CRLF file:\n{after:?}"
        );
    }
    prop_assert_eq!(
        without_config_path(&before.replace("\r\n", "\n")),
        without_config_path(&after.replace("\r\n", "\n"))
    );
    // An existing one-directory config_path is kept and used as the hosts directory.
    let want = d
        .old_path
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or("/etc/containerd/certs.d");
    prop_assert!(
        after.contains(&format!("config_path = \"{want}\"")),
        "{after}"
    );
    let again = run_in(
        tmp.path(),
        &[
            "plan",
            "--containerd-version",
            d.containerd(),
            "--host",
            "r.example.com",
            "--detailed-exitcode",
        ],
    );
    prop_assert_eq!(
        again.status.code(),
        Some(0),
        "not idempotent: {}",
        String::from_utf8_lossy(&again.stdout)
    );
    Ok(())
}

#[test]
fn config_edits_change_only_config_path_and_keep_comments() {
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner.run(&doc(), |d| config_edit_holds(&d)).unwrap();
    println!(
        "props: 48 generated config.toml documents: only config_path changed, comments kept, idempotent"
    );
}

/// A host certsd accepts: LDH labels, IPv4 or bracketed IPv6, maybe a port.
fn host() -> impl Strategy<Value = String> {
    let name = proptest::collection::vec("[a-z]([a-z0-9-]{0,10}[a-z0-9])?", 1..4)
        .prop_map(|l| l.join("."));
    let v4 = (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
        .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}"));
    let v6 = any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s)));
    (prop_oneof![name, v4, v6], proptest::option::of(1u16..)).prop_map(|(h, p)| match p {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

/// Go's split: the authority ends at the first `/`; drop the scheme.
fn go_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or_default()
}

#[test]
fn hosts_and_urls_written_parse_back_to_what_was_asked() {
    let strategy = (
        host(),
        host(),
        proptest::bool::ANY,
        "(/[a-zA-Z0-9._~-]{1,8}){0,3}",
    );
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(registry, mirror, http, path)| {
            let tmp = tempfile::tempdir().unwrap();
            let scheme = if http { "http" } else { "https" };
            let url = format!("{scheme}://{mirror}{path}");
            let out = run_in(
                tmp.path(),
                &[
                    "apply",
                    "--containerd-version",
                    "1.7.24",
                    "--host",
                    &registry,
                    "--mirror",
                    &url,
                ],
            );
            prop_assert!(
                out.status.success(),
                "{registry} {url}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let hosts = tmp
                .path()
                .join("etc/containerd/certs.d")
                .join(&registry)
                .join("hosts.toml");
            let doc: toml_edit::DocumentMut = fs::read_to_string(&hosts).unwrap().parse().unwrap();
            let keys: Vec<String> = doc["host"]
                .as_table()
                .unwrap()
                .iter()
                .map(|(k, _)| k.to_string())
                .collect();
            prop_assert_eq!(&keys, &vec![url.clone()]);
            prop_assert_eq!(go_host(&keys[0]), mirror.as_str());
            let server = doc["server"].as_str().unwrap();
            prop_assert_eq!(go_host(server), registry.as_str());
            Ok(())
        })
        .unwrap();
    println!("props: 64 generated hosts and mirror URLs parse back to the same host");
}

/// Runs certsd under a memory limit and a timeout; returns a problem, if any.
fn survives(root: &Path, args: &[&str]) -> Option<String> {
    let mut child = Command::new("prlimit")
        .arg("--as=4294967296")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_certsd"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("CERTSD_ROOT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            return Some("hung".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("panicked") || !matches!(out.status.code(), Some(0 | 1 | 2 | 64)) {
        return Some(format!("exit {:?}: {err}", out.status.code()));
    }
    None
}

/// Bytes that look like TOML or PEM often enough to get past the first check.
fn noise(seed: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let mutated =
        (proptest::collection::vec((any::<usize>(), any::<u8>()), 0..12)).prop_map(move |edits| {
            let mut b = seed.as_bytes().to_vec();
            for (at, byte) in edits {
                let at = at % (b.len() + 1);
                match byte % 3 {
                    0 => b.insert(at, byte),
                    1 if at < b.len() => {
                        b.remove(at);
                    }
                    _ => b.truncate(at),
                }
            }
            b
        });
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..512), mutated]
}

const SEED_CONFIG: &str = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/x\" # c\n[a]\nb = [1, {c = 'd'}]\n";
const SEED_HOSTS: &str = "server = \"https://r\"\n[host.\"https://m\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"/c.crt\"\n  client = [[\"/a\", \"/b\"]]\n";
const SEED_PEM: &str = include_str!("../testdata/pki/ca.crt");

#[test]
fn fuzzed_config_hosts_and_pem_never_panic_or_hang() {
    let targets: [(&str, &'static str); 3] = [
        ("config.toml", SEED_CONFIG),
        ("hosts.toml", SEED_HOSTS),
        ("ca.crt", SEED_PEM),
    ];
    for (what, seed) in targets {
        let mut runner = TestRunner::new(Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&noise(seed), |bytes| {
                let tmp = tempfile::tempdir().unwrap();
                let root = tmp.path();
                let (file, args): (_, Vec<String>) = match what {
                    "config.toml" => (root.join("etc/containerd/config.toml"), vec![]),
                    "hosts.toml" => (root.join("etc/containerd/certs.d/r.io/hosts.toml"), vec![]),
                    _ => (
                        root.join("in.crt"),
                        vec![
                            "--ca".into(),
                            root.join("in.crt").to_string_lossy().into_owned(),
                        ],
                    ),
                };
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(&file, &bytes).unwrap();
                let mut all = vec!["plan", "--containerd-version", "1.7.24", "--host", "r.io"];
                all.extend(args.iter().map(String::as_str));
                let problem = survives(root, &all);
                prop_assert!(problem.is_none(), "{what} {bytes:?}: {problem:?}");
                Ok(())
            })
            .unwrap();
    }
    println!(
        "fuzz: 3 x 64 arbitrary or mutated inputs (config.toml, hosts.toml, PEM): no panic, no hang"
    );
}

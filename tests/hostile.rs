//! Hostile input: flags, config.toml, hosts.toml and PEM files an attacker
//! (or an accident) could hand certsd. Each case must end in a clear error
//! line and a non-zero exit, within a timeout (no hang on a FIFO or
//! /dev/zero), without writing anything, and without printing the secret
//! planted in it (`s3cret`). Spec values (issue 9) join by extending
//! [`spec_cases`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::certsd;

/// One hostile run: files to plant under the root, then the arguments
/// (`{root}` and `{in}` — a directory of inputs outside the root — are replaced).
pub struct Case {
    pub name: String,
    pub files: Vec<(&'static str, Plant)>,
    pub args: Vec<String>,
}

/// What to put at a path.
pub enum Plant {
    Text(String),
    Bytes(Vec<u8>),
    Fifo,
    Dir,
    Symlink(&'static str),
    /// A sparse file of this many bytes.
    Sized(u64),
}

const PEM_CA: &str = include_str!("../testdata/pki/ca.crt");
const PEM_KEY: &str = include_str!("../testdata/pki/ca.key");

fn plan(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["--root", "{root}", "plan", "--containerd-version", "1.7.24"]
        .iter()
        .map(ToString::to_string)
        .collect();
    v.extend(extra.iter().map(ToString::to_string));
    v
}

fn case(name: impl Into<String>, files: Vec<(&'static str, Plant)>, args: Vec<String>) -> Case {
    Case {
        name: name.into(),
        files,
        args,
    }
}

#[allow(clippy::too_many_lines, reason = "a table of cases")]
fn flag_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let hosts = [
        "",
        " ",
        "a/b",
        "..",
        ".",
        "a..b",
        "https://r.io",
        "r io",
        "r\u{7}io",
        "r:0",
        "r:70000",
        "r:+5",
        "r:",
        "::1",
        "[::1",
        "[zz]:5",
        "-r.io",
        "r_x.io",
        ".r.io",
        "r.io.",
        "r\\io",
        "u:s3cret@r.io",
        "s3cret@r.io",
        "b\u{fc}cher.example",
        "r%2eio",
        "r.io:5000:6000",
        "[r.example.com]:5000",
        "r.io/../../etc",
        "r.io\n",
        "r\u{1b}io",
        "r.io#x",
        "r.io?x",
        "*",
        "r.io:-1",
        "r.io:65536",
        "\u{202e}r.io",
        "r.io:5000/v2",
    ];
    for h in hosts {
        out.push(case(format!("--host {h:?}"), vec![], plan(&["--host", h])));
    }
    let long = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    out.push(case(
        "--host 253 chars + port (NAME_MAX)",
        vec![],
        plan(&["--host", &format!("{long}:5000")]),
    ));
    out.push(case(
        "--host label of 64",
        vec![],
        plan(&["--host", &"a".repeat(64)]),
    ));
    let urls = [
        "ftp://m",
        "https://",
        "https://u:s3cret@m.example.com",
        "u:s3cret@m.example.com",
        "https://s3cret@m.example.com",
        "https://u:s3cret/x@m.example.com",
        "http://u:s3cret#x@m",
        "https://m/?q=1",
        "https://m/#f",
        "https://m /x",
        "https://m.example.com\\@evil.example",
        "https://m%2eexample.com",
        "https://b\u{fc}cher.example",
        "https://m:5000:6000",
        "https://[m.example.com]:5000",
        "https://m:",
        "https://m:70000",
        "https://m.example.com.",
        "https://m/a%zz",
        "https://m/a%",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://m\t/x",
        "https://m\r\nX: y",
        "//m.example.com",
        "https://:5000",
        "https://[::1",
        "https://m:0",
    ];
    for u in urls {
        out.push(case(
            format!("--mirror {u:?}"),
            vec![],
            plan(&["--host", "r.io", "--mirror", u]),
        ));
        out.push(case(
            format!("--server {u:?}"),
            vec![],
            plan(&["--host", "r.io", "--server", u]),
        ));
    }
    for h in [
        "no colon",
        "Bad Name: v",
        "X: a\r\nEvil: s3cret",
        ": v",
        "X\u{1b}: v",
        "X: \u{7}",
    ] {
        out.push(case(
            format!("--header {h:?}"),
            vec![],
            plan(&["--host", "r.io", "--header", h]),
        ));
    }
    for c in ["fly", "pull,,resolve", "referrers", "PULL ", "pull;push"] {
        out.push(case(
            format!("--capabilities {c:?}"),
            vec![],
            plan(&["--host", "r.io", "--capabilities", c]),
        ));
    }
    for (flag, v) in [
        ("--keep-backups", "-1"),
        ("--lock-timeout", "x"),
        ("--config", "rel/config.toml"),
        ("--certs-dir", "/etc/../x"),
        ("--certs-dir", "/a:/b"),
    ] {
        out.push(case(
            format!("{flag} {v}"),
            vec![],
            plan(&[flag, v, "--host", "r.io"]),
        ));
    }
    out
}

#[allow(clippy::too_many_lines, reason = "a table of cases")]
fn file_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let inputs: Vec<(&str, Plant)> = vec![
        ("fifo", Plant::Fifo),
        ("dir", Plant::Dir),
        ("huge", Plant::Sized(9 << 20)),
        ("empty", Plant::Text(String::new())),
        ("binary", Plant::Bytes(vec![0, 159, 146, 150, 255])),
        ("key-only", Plant::Text(PEM_KEY.into())),
        ("ca-and-key", Plant::Text(format!("{PEM_CA}{PEM_KEY}"))),
        ("truncated", Plant::Text(PEM_CA[..PEM_CA.len() / 2].into())),
        (
            "garbage-pem",
            Plant::Text(
                "-----BEGIN CERTIFICATE-----\ns3cret!!\n-----END CERTIFICATE-----\n".into(),
            ),
        ),
        ("zero-link", Plant::Symlink("/dev/zero")),
        ("bom-pem", Plant::Text(format!("\u{feff}{PEM_KEY}"))),
    ];
    for (name, plant) in inputs {
        let at = Box::leak(format!("in/{name}").into_boxed_str());
        let path = format!("{{in}}/{name}");
        out.push(case(
            format!("--ca {name}"),
            vec![(at, clone(&plant))],
            plan(&["--host", "r.io", "--ca", &path]),
        ));
        out.push(case(
            format!("--client-key {name}"),
            vec![(at, clone(&plant))],
            plan(&[
                "--host",
                "r.io",
                "--client-cert",
                "../testdata/pki/client.crt",
                "--client-key",
                &path,
            ]),
        ));
        out.push(case(
            format!("--client-cert {name}"),
            vec![(at, clone(&plant))],
            plan(&[
                "--host",
                "r.io",
                "--client-cert",
                &path,
                "--client-key",
                "../testdata/pki/client.key",
            ]),
        ));
        let ca_dir = Box::leak(format!("in/cadir-{name}/ca.crt").into_boxed_str());
        out.push(case(
            format!("--ca-dir with ca.crt {name}"),
            vec![
                (ca_dir, clone(&plant)),
                (
                    Box::leak(format!("in/cadir-{name}/ca.key").into_boxed_str()),
                    Plant::Text(PEM_KEY.into()),
                ),
            ],
            plan(&[
                "--host",
                "r.io",
                "--ca-dir",
                &format!("{{in}}/cadir-{name}"),
            ]),
        ));
        if name != "ca-and-key" {
            // inspect shows a bundle with a key (and says it holds one): not an error.
            out.push(case(
                format!("cert inspect {name}"),
                vec![(at, clone(&plant))],
                vec!["cert".into(), "inspect".into(), path.clone()],
            ));
        }
        out.push(case(
            format!("cert sign --csr {name}"),
            vec![(at, clone(&plant))],
            vec![
                "cert".into(),
                "sign".into(),
                "--csr".into(),
                path.clone(),
                "--ca-dir".into(),
                "../testdata/pki".into(),
                "--out".into(),
                "{in}/signed".into(),
            ],
        ));
    }
    out.push(case(
        "cert inspect /dev/zero",
        vec![],
        vec!["cert".into(), "inspect".into(), "/dev/zero".into()],
    ));
    out.push(case(
        "--ca /dev/zero",
        vec![],
        plan(&["--host", "r.io", "--ca", "/dev/zero"]),
    ));
    out.push(case(
        "--ca-dir /dev",
        vec![],
        plan(&["--host", "r.io", "--ca-dir", "/dev"]),
    ));
    out
}

fn clone(p: &Plant) -> Plant {
    match p {
        Plant::Text(t) => Plant::Text(t.clone()),
        Plant::Bytes(b) => Plant::Bytes(b.clone()),
        Plant::Fifo => Plant::Fifo,
        Plant::Dir => Plant::Dir,
        Plant::Symlink(s) => Plant::Symlink(s),
        Plant::Sized(n) => Plant::Sized(*n),
    }
}

const CONFIG: &str = "etc/containerd/config.toml";
const HOSTS: &str = "etc/containerd/certs.d/r.io/hosts.toml";

#[allow(clippy::too_many_lines, reason = "a table of cases")]
fn toml_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let bad_toml: Vec<(&str, Plant)> = vec![
        (
            "unterminated string",
            Plant::Text("version = \"2\nx = 's3cret".into()),
        ),
        (
            "duplicate table",
            Plant::Text("version = 2\n[a]\n[a]\n".into()),
        ),
        (
            "duplicate key",
            Plant::Text("version = 2\nversion = 3\n".into()),
        ),
        ("BOM", Plant::Text("\u{feff}version = 2\n".into())),
        ("binary", Plant::Bytes(vec![0xff, 0xfe, 0, 1, 2])),
        ("NUL", Plant::Text("version = 2\0\n".into())),
        (
            "deep arrays",
            Plant::Text(format!("a = {}{}\n", "[".repeat(5000), "]".repeat(5000))),
        ),
        (
            "deep inline tables",
            Plant::Text(format!(
                "a = {}{}\n",
                "{b = ".repeat(3000),
                "}".repeat(3000)
            )),
        ),
        (
            "long header",
            Plant::Text(format!("[{}]\n", "a.".repeat(20000) + "b")),
        ),
        ("bad header", Plant::Text("[plugins.\n".into())),
        ("FIFO", Plant::Fifo),
        ("directory", Plant::Dir),
        ("huge", Plant::Sized(9 << 20)),
        ("dangling escape", Plant::Text("x = \"\\q\"\n".into())),
        ("lone CR", Plant::Text("version = 2\rx = 1\n".into())),
        (
            "bad unicode escape",
            Plant::Text("x = \"\\uD800\"\n".into()),
        ),
        (
            "table then array of tables",
            Plant::Text("[a]\n[[a]]\n".into()),
        ),
        ("key without value", Plant::Text("version =\n".into())),
        (
            "invalid utf-8",
            Plant::Bytes(b"x = \"\xc3\x28\"\n".to_vec()),
        ),
    ];
    for (name, plant) in bad_toml {
        out.push(case(
            format!("config.toml: {name}"),
            vec![(CONFIG, clone(&plant))],
            plan(&["--host", "r.io"]),
        ));
        out.push(case(
            format!("hosts.toml: {name}"),
            vec![(HOSTS, plant)],
            plan(&["--host", "r.io"]),
        ));
    }
    let typed = [
        (
            "config_path not a string",
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = 5\n",
        ),
        (
            "cri plugin not a table",
            "version = 2\n[plugins]\n\"io.containerd.grpc.v1.cri\" = 1\n",
        ),
        ("version a string", "version = \"2\"\n"),
        ("version 99", "version = 99\n"),
        (
            "mirrors with config_path",
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\nendpoint = [\"https://x\"]\n",
        ),
        (
            "config_path colon list",
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"/a:/b\"\n",
        ),
        (
            "config_path relative",
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"certs.d\"\n",
        ),
    ];
    for (name, text) in typed {
        out.push(case(
            format!("config.toml: {name}"),
            vec![(CONFIG, Plant::Text(text.into()))],
            plan(&["--host", "r.io"]),
        ));
    }
    out.push(case(
        "config.toml -> /dev/zero inside the root",
        vec![
            ("dev/zero", Plant::Fifo),
            (CONFIG, Plant::Symlink("/dev/zero")),
        ],
        plan(&["--host", "r.io"]),
    ));
    out
}

/// Spec values (issue 9) go here: each a `Case` whose args run `plan -f`.
pub fn spec_cases() -> Vec<Case> {
    Vec::new()
}

fn plant(base: &Path, rel: &str, what: &Plant) {
    let path = base.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    match what {
        Plant::Text(t) => fs::write(&path, t).unwrap(),
        Plant::Bytes(b) => fs::write(&path, b).unwrap(),
        Plant::Dir => fs::create_dir_all(&path).unwrap(),
        Plant::Symlink(to) => std::os::unix::fs::symlink(to, &path).unwrap(),
        Plant::Sized(n) => fs::File::create(&path).unwrap().set_len(*n).unwrap(),
        Plant::Fifo => assert!(
            Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap()
                .success()
        ),
    }
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out: Vec<(PathBuf, u64)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| (e.path().to_path_buf(), e.metadata().map_or(0, |m| m.len())))
        .collect();
    out.sort();
    out
}

/// Runs one case; returns what went wrong.
fn run(c: &Case) -> Option<String> {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let inputs = tmp.path().join("in");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&inputs).unwrap();
    for (rel, what) in &c.files {
        match rel.strip_prefix("in/") {
            Some(name) => plant(&inputs, name, what),
            None => plant(&root, rel, what),
        }
    }
    let before = snapshot(tmp.path());
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| {
            a.replace("{root}", &root.to_string_lossy())
                .replace("{in}", &inputs.to_string_lossy())
        })
        .collect();
    let mut child = certsd()
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            return Some(format!("{}: hung (killed after 10 s)", c.name));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default()
        .to_string();
    let problem = if !matches!(out.status.code(), Some(1 | 64)) {
        format!("exit {:?}", out.status.code())
    } else if text.contains("panicked") || text.contains("backtrace") {
        "panicked".into()
    } else if !last.starts_with("error: ") || last.len() < 20 {
        format!("no clear error line: {last:?}")
    } else if text.contains("s3cret") {
        format!("echoed the secret: {last}")
    } else if snapshot(tmp.path()) != before {
        "wrote something".into()
    } else {
        return None;
    };
    Some(format!("{}: {problem}", c.name))
}

#[test]
fn hostile_inputs_get_a_clear_error_and_change_nothing() {
    let cases: Vec<Case> = [flag_cases(), file_cases(), toml_cases(), spec_cases()]
        .into_iter()
        .flatten()
        .collect();
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = cases
            .chunks(cases.len().div_ceil(2))
            .map(|part| s.spawn(move || part.iter().filter_map(run).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    println!("hostile: {} cases, {} failed", cases.len(), failures.len());
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

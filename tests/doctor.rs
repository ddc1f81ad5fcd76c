//! `certsd doctor` as a user runs it: `--connect` against real TLS servers
//! on 127.0.0.1 (openssl `s_server`, std listeners) named in hosts.toml by
//! `127.0.0.1` and by `localhost` (a name the system maps to it), one host
//! per verdict; the tree is unchanged afterwards; `--certs` lists every
//! certificate; and README documents every finding code.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::Value;
use time::macros::datetime;

use crate::connect::servers::{OpenSsl, Pki, closed_port, std_server};

/// Writes `certs.d/<host>/hosts.toml` (and a v2 config pointing there).
fn host(root: &Path, name: &str, hosts_toml: &str) {
    let dir = root.join("etc/containerd/certs.d").join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("hosts.toml"), hosts_toml).unwrap();
}

fn copy(pki: &Pki, rel: &str, root: &Path, node: &str) {
    let to = root.join(node.trim_start_matches('/'));
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(pki.file(rel), to).unwrap();
}

/// Every file of a tree with its bytes and mtime.
fn snapshot(root: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let meta = e.metadata().unwrap();
            (
                e.path().display().to_string(),
                (fs::read(e.path()).unwrap(), meta.modified().unwrap()),
            )
        })
        .collect()
}

/// `doctor --output json` and the parsed report.
fn doctor(root: &Path, args: &[&str]) -> (i32, Value) {
    let mut all = vec![
        "doctor",
        "--containerd-version",
        "2.1.4",
        "--output",
        "json",
    ];
    all.extend_from_slice(args);
    let out = crate::support::certsd_in_root(root, &all);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (out.status.code().unwrap_or(-1), json)
}

/// The connect codes found for each host.
fn connect_codes(json: &Value) -> BTreeMap<String, Vec<String>> {
    let mut by_host: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in json["findings"].as_array().unwrap() {
        let code = f["code"].as_str().unwrap();
        if code.starts_with("connect-") {
            by_host
                .entry(f["host"].as_str().unwrap().to_owned())
                .or_default()
                .push(code.to_owned());
        }
    }
    by_host
}

/// The test PKI plus a server certificate for the loopback names and one that expired.
fn loopback_pki() -> Pki {
    let pki = Pki::new();
    pki.certsd(&[
        "cert",
        "server",
        "--out",
        "lo",
        "--ca-dir",
        "pki",
        "--dns",
        "localhost",
        "--ip",
        "127.0.0.1",
    ]);
    pki.write_dated(
        "old",
        datetime!(2020-01-01 0:00 UTC),
        datetime!(2021-01-01 0:00 UTC),
    );
    pki
}

fn v3_config(root: &Path) {
    fs::create_dir_all(root.join("etc/containerd")).unwrap();
    fs::write(
        root.join("etc/containerd/config.toml"),
        "version = 3\n[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = '/etc/containerd/certs.d'\n",
    )
    .unwrap();
}

/// A hosts.toml whose server (and its [host] table) trusts the test CA.
fn with_ca(url: &str) -> String {
    format!(
        "server = \"{url}\"\nca = \"/etc/pki/registry-ca.crt\"\n[host.\"{url}\"]\n  ca = \"/etc/pki/registry-ca.crt\"\n"
    )
}

#[test]
fn connect_names_every_verdict_against_real_servers_and_writes_nothing() {
    let pki = loopback_pki();
    let trusted = OpenSsl::start(pki.path(), "lo/server.crt", "lo/server.key", &[]);
    let by_name = OpenSsl::start(pki.path(), "lo/server.crt", "lo/server.key", &[]);
    let wrong_name = OpenSsl::start(pki.path(), "reg/server.crt", "reg/server.key", &[]);
    let expired = OpenSsl::start(pki.path(), "old.crt", "old.key", &[]);
    let mtls = OpenSsl::start(
        pki.path(),
        "lo/server.crt",
        "lo/server.key",
        &["-Verify", "1"],
    );
    let http = std_server(Some(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    let closed = closed_port();

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    v3_config(root);
    copy(&pki, "pki/ca.crt", root, "/etc/pki/registry-ca.crt");
    let cases: [(&str, u16, &str); 7] = [
        ("127.0.0.1", trusted.port, "connect-trusted"),
        ("localhost", by_name.port, "connect-trusted"),
        ("127.0.0.1", wrong_name.port, "connect-name-mismatch"),
        ("127.0.0.1", expired.port, "connect-expired"),
        ("127.0.0.1", mtls.port, "connect-client-cert-required"),
        ("127.0.0.1", http, "connect-plain-http"),
        ("127.0.0.1", closed, "connect-unreachable"),
    ];
    for (name, port, _) in &cases {
        host(
            root,
            &format!("{name}:{port}"),
            &with_ca(&format!("https://{name}:{port}")),
        );
    }
    // The unknown authority: no ca at all, and an empty system pool under the root.
    let unknown = OpenSsl::start(pki.path(), "lo/server.crt", "lo/server.key", &[]);
    host(
        root,
        &format!("localhost:{}", unknown.port),
        &format!(
            "server = \"https://localhost:{0}\"\n[host.\"https://localhost:{0}\"]\n",
            unknown.port
        ),
    );

    let before = snapshot(root);
    let (code, json) = doctor(root, &["--connect", "--timeout", "3"]);
    assert_eq!(snapshot(root), before, "doctor --connect changed the tree");
    assert_eq!(code, 1, "{json:#}");
    let found = connect_codes(&json);
    for (name, port, want) in &cases {
        let got = &found[&format!("{name}:{port}")];
        // The server gets its own [host] table too: one probe each.
        assert_eq!(got, &vec![want.to_string(); 2], "{name}:{port}: {json:#}");
    }
    assert_eq!(
        found[&format!("localhost:{}", unknown.port)],
        ["connect-unknown-authority"; 2]
    );
    let msg = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "connect-name-mismatch")
        .unwrap();
    assert!(
        msg["message"]
            .as_str()
            .unwrap()
            .contains("registry.certsd.test"),
        "{msg}"
    );
    assert!(
        msg["fix"]
            .as_str()
            .unwrap()
            .starts_with("give the registry a certificate"),
        "{msg}"
    );

    // --host keeps that host's findings (and the config's) only.
    let one = format!("127.0.0.1:{}", trusted.port);
    let (code, json) = doctor(root, &["--connect", "--host", &one]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(connect_codes(&json).keys().collect::<Vec<_>>(), [&one]);
}

#[test]
fn a_failing_mirror_before_a_working_server_is_a_warning() {
    let pki = Pki::new();
    pki.certsd(&[
        "cert",
        "server",
        "--out",
        "lo",
        "--ca-dir",
        "pki",
        "--ip",
        "127.0.0.1",
    ]);
    let server = OpenSsl::start(pki.path(), "lo/server.crt", "lo/server.key", &[]);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy(
        &pki,
        "pki/ca.crt",
        root,
        "/etc/containerd/certs.d/r.test/ca.crt",
    );
    fs::write(root.join("etc/containerd/config.toml"), "version = 3\n[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = '/etc/containerd/certs.d'\n").unwrap();
    let down = closed_port();
    host(
        root,
        "r.test",
        &format!(
            "server = \"https://127.0.0.1:{}\"\nca = \"ca.crt\"\n[host.\"https://127.0.0.1:{down}\"]\n  ca = \"ca.crt\"\n",
            server.port
        ),
    );
    let (code, json) = doctor(root, &["--connect", "--timeout", "2"]);
    assert_eq!(code, 0, "{json:#}");
    let f = &json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "connect-unreachable")
        .unwrap();
    assert_eq!(f["severity"], "warning", "{f}");
    assert_eq!(f["line"], 3, "{f}");
}

#[test]
fn certs_lists_every_certificate_with_days_left() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let pki = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/pki");
    let apply = crate::support::certsd_in_root(
        root,
        &[
            "apply",
            "--containerd-version",
            "1.7.24",
            "--host",
            "registry.test",
            "--ca",
            &pki.join("ca.crt").display().to_string(),
            "--client-cert",
            &pki.join("client.crt").display().to_string(),
            "--client-key",
            &pki.join("client.key").display().to_string(),
        ],
    );
    crate::support::ok(&apply, "certsd apply");
    let out = crate::support::certsd_in_root(
        root,
        &["doctor", "--containerd-version", "1.7.24", "--certs"],
    );
    let text = crate::support::ok(&out, "doctor --certs");
    let rows: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
    assert!(
        rows[0].starts_with("CERTIFICATE") && rows[0].ends_with("DAYS LEFT"),
        "{text}"
    );
    assert_eq!(rows.len(), 3, "{text}");
    assert!(
        rows[1].contains("/etc/containerd/certs.d/registry.test/ca.crt")
            && rows[1].contains(" ca "),
        "{text}"
    );
    assert!(
        rows[2].contains("client.crt") && rows[2].contains(" client "),
        "{text}"
    );
    let days: i64 = rows[1].split_whitespace().last().unwrap().parse().unwrap();
    assert!(days > 30_000, "{text}");
    assert!(!text.contains("PRIVATE KEY"));
    let (_, json) = doctor(root, &["--certs"]);
    assert_eq!(
        json["certificates"].as_array().unwrap().len(),
        2,
        "{json:#}"
    );
}

#[test]
fn readme_documents_every_code() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for code in certsd::doctor::all_codes() {
        assert!(
            readme.contains(&format!("| `{code}` |")),
            "README has no row for `{code}`"
        );
    }
}

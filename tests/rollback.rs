//! The history of applies and `certsd rollback`.
//!
//! Rollback puts the tree back byte for byte (modes too) across several
//! applies (`--steps`), keys included (their copies 0600, never printed);
//! a second rollback changes nothing; a file edited by hand since its apply
//! stops the rollback, naming it, unless `--force`; and the history keeps
//! only the last `--keep-backups` applies.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{certsd, mode};

const CONFIG: &str =
    "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"\"\n";
const HISTORY: &str = "etc/containerd/.certsd-history";

struct Node {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

fn node() -> Node {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("etc/containerd")).unwrap();
    fs::write(root.join("etc/containerd/config.toml"), CONFIG).unwrap();
    Node { _tmp: tmp, root }
}

fn run(node: &Node, args: &[&str]) -> Output {
    certsd()
        .args(args)
        .args(["--containerd-version", "1.7.24"])
        .env("CERTSD_ROOT", &node.root)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(node: &Node, args: &[&str]) -> String {
    let out = run(node, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    text(&out)
}

fn apply(node: &Node, args: &[&str]) -> String {
    let mut all = vec!["apply", "--no-validate"];
    all.extend_from_slice(args);
    ok(node, &all)
}

/// Every file and directory with mode and content, history and backups aside.
fn tree(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".certsd-history")
        .map(Result::unwrap)
        .filter(|e| !e.file_name().to_string_lossy().contains("certsd-backup"))
        .map(|e| {
            let meta = e.metadata().unwrap();
            let bytes = if meta.is_dir() {
                Vec::new()
            } else {
                fs::read(e.path()).unwrap()
            };
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            (rel, (meta.permissions().mode() & 0o7777, bytes))
        })
        .collect()
}

fn entries(node: &Node) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(node.root.join(HISTORY))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.retain(|n| Path::new(n).extension().is_some_and(|e| e == "json"));
    names.sort();
    names
}

const CA: &str = "testdata/pki/ca.crt";

#[test]
fn rollback_restores_the_tree_and_a_second_one_changes_nothing() {
    let node = node();
    let before = tree(&node.root);
    apply(&node, &["--host", "r.test", "--ca", CA]);
    assert_ne!(tree(&node.root), before);
    let dry = ok(&node, &["rollback", "--dry-run"]);
    assert!(
        dry.contains("+++ /dev/null") && dry.contains("remove directory"),
        "{dry}"
    );
    let pending = run(&node, &["rollback", "--dry-run", "--detailed-exitcode"]);
    assert_eq!(pending.status.code(), Some(2), "{}", text(&pending));
    let done = ok(&node, &["rollback"]);
    assert!(done.contains("restart containerd"), "{done}");
    assert_eq!(tree(&node.root), before);
    let again = ok(&node, &["rollback"]);
    assert!(
        again.contains("already rolled back") && again.contains("nothing to change"),
        "{again}"
    );
    assert_eq!(tree(&node.root), before);
    let settled = run(&node, &["rollback", "--dry-run", "--detailed-exitcode"]);
    assert_eq!(settled.status.code(), Some(0), "{}", text(&settled));
}

#[test]
fn steps_go_back_several_applies_and_replaced_files_come_back_from_their_copies() {
    let node = node();
    let first = tree(&node.root);
    apply(&node, &["--host", "r.test", "--ca", CA]);
    let second = tree(&node.root);
    // Replaces r.test's hosts.toml and client key material: copies are kept.
    apply(
        &node,
        &[
            "--host",
            "r.test",
            "--ca",
            CA,
            "--client-cert",
            "testdata/pki/client.crt",
            "--client-key",
            "testdata/pki/client.key",
        ],
    );
    apply(&node, &["--host", "s.test", "--skip-verify"]);
    assert_eq!(
        entries(&node),
        ["000001.json", "000002.json", "000003.json"]
    );
    ok(&node, &["rollback", "--steps", "2"]);
    assert_eq!(tree(&node.root), second);
    ok(&node, &["rollback", "--steps", "3"]);
    assert_eq!(tree(&node.root), first);
    let too_far = run(&node, &["rollback", "--steps", "4"]);
    assert_eq!(too_far.status.code(), Some(1), "{}", text(&too_far));
    assert!(
        text(&too_far).contains("3 applies are recorded"),
        "{}",
        text(&too_far)
    );
}

#[test]
fn a_replaced_key_is_copied_0600_and_never_printed() {
    let node = node();
    let key = node.root.join("etc/containerd/certs.d/r.test/client.key");
    let pki = node.root.parent().unwrap().join("two");
    fs::create_dir_all(&pki).unwrap();
    crate::support::openssl_ok(
        &pki,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "client.key",
            "-out",
            "client.crt",
            "-subj",
            "/CN=node-2",
            "-days",
            "30",
            "-addext",
            "extendedKeyUsage=clientAuth",
        ],
    );
    let (two_crt, two_key) = (
        pki.join("client.crt").display().to_string(),
        pki.join("client.key").display().to_string(),
    );
    let pair = |c: &str, k: &str| {
        apply(
            &node,
            &["--host", "r.test", "--client-cert", c, "--client-key", k],
        )
    };
    pair("testdata/pki/client.crt", "testdata/pki/client.key");
    let old = fs::read(&key).unwrap();
    // Another key under the same name: the apply replaces it, the history keeps the old one.
    pair(&two_crt, &two_key);
    assert!(fs::read(&key).unwrap() != old, "the key was not replaced");
    let copies = node.root.join(HISTORY).join("000002");
    let copy = fs::read_dir(&copies)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("client.key"))
        .unwrap();
    assert_eq!(mode(&copy), 0o600);
    assert!(
        fs::read(&copy).unwrap() == old,
        "the copy is not the old key"
    );
    let dry = ok(&node, &["rollback", "--dry-run"]);
    assert!(!dry.contains("PRIVATE KEY"), "{dry}");
    assert!(!ok(&node, &["rollback"]).contains("PRIVATE KEY"));
    assert!(
        fs::read(&key).unwrap() == old,
        "rollback did not restore the key"
    );
    assert_eq!(mode(&key), 0o600);
    for entry in walkdir::WalkDir::new(node.root.join(HISTORY)).min_depth(1) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            assert_eq!(mode(entry.path()), 0o600, "{}", entry.path().display());
        }
    }
}

#[test]
fn a_file_edited_by_hand_since_the_apply_stops_the_rollback_unless_forced() {
    let node = node();
    let before = tree(&node.root);
    apply(&node, &["--host", "r.test", "--ca", CA]);
    let hosts = node.root.join("etc/containerd/certs.d/r.test/hosts.toml");
    let mut edited = fs::read_to_string(&hosts).unwrap();
    edited.push_str("# edited by hand\n");
    fs::write(&hosts, &edited).unwrap();
    let after_edit = tree(&node.root);
    let out = run(&node, &["rollback"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("/etc/containerd/certs.d/r.test/hosts.toml: changed since apply 1"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(tree(&node.root), after_edit, "a refused rollback wrote");
    ok(&node, &["rollback", "--force"]);
    assert_eq!(tree(&node.root), before);
}

#[test]
fn the_history_keeps_the_last_keep_backups_applies() {
    let node = node();
    for host in ["a.test", "b.test", "c.test", "d.test"] {
        apply(
            &node,
            &["--keep-backups", "2", "--host", host, "--skip-verify"],
        );
    }
    assert_eq!(entries(&node), ["000003.json", "000004.json"]);
    let backups = fs::read_dir(node.root.join("etc/containerd"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("certsd-backup")
        })
        .count();
    assert!(backups <= 2, "{backups} config backups");
    let out = run(&node, &["rollback", "--steps", "3"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // No history with --keep-backups 0: nothing to roll back.
    let bare = self::node();
    apply(
        &bare,
        &["--keep-backups", "0", "--host", "a.test", "--skip-verify"],
    );
    assert!(entries(&bare).is_empty());
}

#[test]
fn rollback_reports_json() {
    let node = node();
    apply(&node, &["--host", "r.test", "--skip-verify"]);
    let out = run(&node, &["rollback", "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["changed"], true);
    assert_eq!(report["restart_required"], true);
    let actions: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"delete") && actions.contains(&"update"),
        "{actions:?}"
    );
}

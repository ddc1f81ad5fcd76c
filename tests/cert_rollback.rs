//! The history of `cert` commands and `certsd rollback --dir`.
//!
//! A `cert` write is recorded in `<out>/.certsd-history/` (copies of what
//! it replaced 0600), and `rollback --dir` puts the directory back byte for
//! byte (the key 0600, never printed); a second rollback changes nothing; a
//! hand-edited certificate stops the rollback unless `--force`; and a
//! write into an empty directory is undone by removing its files, the entry
//! kept and marked rolled back. Run with relative `--out`/`--dir`, as
//! people type them.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Output;

use crate::support::{certsd_in_dir, mode};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs certsd in `cwd`; insists it succeeded; stdout and stderr, and
/// never a private key in them.
fn ok(cwd: &Path, args: &[&str]) -> String {
    let out = certsd_in_dir(cwd, args);
    let all = text(&out);
    assert!(out.status.success(), "{args:?}: {all}");
    assert!(
        !all.contains("PRIVATE KEY"),
        "{args:?} printed a key: {all}"
    );
    all
}

/// The files of `dir` (history aside) with mode and content.
fn files(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    fs::read_dir(dir)
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| e.file_name() != ".certsd-history")
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, (mode(&e.path()), fs::read(e.path()).unwrap()))
        })
        .collect()
}

fn entry(dir: &Path, id: u32) -> serde_json::Value {
    let path = dir.join(format!(".certsd-history/{id:06}.json"));
    assert_eq!(mode(&path), 0o600);
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn rollback_dir_puts_back_the_pair_a_forced_cert_ca_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let pki = cwd.join("pki");
    ok(cwd, &["cert", "ca", "--out", "pki"]);
    let first = files(&pki);
    ok(cwd, &["cert", "ca", "--out", "pki", "--force"]);
    assert_ne!(files(&pki), first, "--force made a new pair");
    // Copies of the replaced pair, the key's 0600 (so is the certificate's).
    let copies = pki.join(".certsd-history/000002");
    assert_eq!(
        fs::read(copies.join("1-ca.key")).unwrap(),
        first["ca.key"].1
    );
    assert_eq!(mode(&copies.join("1-ca.key")), 0o600);
    assert_eq!(mode(&copies.join("0-ca.crt")), 0o600);

    let pending = certsd_in_dir(
        cwd,
        &[
            "rollback",
            "--dir",
            "pki",
            "--dry-run",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(pending.status.code(), Some(2), "{}", text(&pending));
    assert!(!text(&pending).contains("PRIVATE KEY"));
    assert_ne!(files(&pki), first, "--dry-run wrote nothing");

    ok(cwd, &["rollback", "--dir", "pki"]);
    let back = files(&pki);
    assert_eq!(back, first, "the first pair, byte for byte, modes too");
    assert_eq!(back["ca.key"].0, 0o600);
    assert_eq!(entry(&pki, 2)["rolled_back"], true);
    assert_eq!(entry(&pki, 1)["rolled_back"], false);

    let again = ok(cwd, &["rollback", "--dir", "pki"]);
    assert!(again.contains("already rolled back"), "{again}");
    assert_eq!(files(&pki), first, "a second rollback changes nothing");
    let settled = certsd_in_dir(
        cwd,
        &[
            "rollback",
            "--dir",
            "pki",
            "--dry-run",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(settled.status.code(), Some(0), "{}", text(&settled));
}

#[test]
fn rollback_dir_refuses_a_hand_edited_certificate_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let pki = cwd.join("pki");
    ok(cwd, &["cert", "ca", "--out", "pki"]);
    let first = files(&pki);
    ok(cwd, &["cert", "ca", "--out", "pki", "--force"]);
    fs::write(pki.join("ca.crt"), "edited by hand\n").unwrap();
    let edited = files(&pki);

    let refused = certsd_in_dir(cwd, &["rollback", "--dir", "pki"]);
    assert_eq!(refused.status.code(), Some(1));
    let why = text(&refused);
    assert!(why.contains("ca.crt") && why.contains("--force"), "{why}");
    assert!(!why.contains("ca.key"), "the key was not edited: {why}");
    assert_eq!(files(&pki), edited, "nothing written");
    assert_eq!(entry(&pki, 2)["rolled_back"], false);

    ok(cwd, &["rollback", "--dir", "pki", "--force"]);
    assert_eq!(files(&pki), first);
}

#[test]
fn rollback_dir_removes_what_cert_server_wrote_into_an_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let reg = cwd.join("reg");
    fs::create_dir(&reg).unwrap();
    ok(
        cwd,
        &[
            "cert",
            "server",
            "--out",
            "reg",
            "--self-signed",
            "--dns",
            "registry.local",
        ],
    );
    assert_eq!(files(&reg).len(), 2);
    let json = ok(cwd, &["rollback", "--dir", "./reg/", "--output", "json"]);
    assert!(json.contains("server.key"), "{json}");
    assert!(files(&reg).is_empty(), "server.crt and server.key removed");
    assert!(reg.is_dir(), "the directory was there before");
    let kept = entry(&reg, 1);
    assert_eq!(kept["rolled_back"], true);
    assert_eq!(kept["files"].as_array().unwrap().len(), 2);
    // Nothing recorded to go back further: refused, naming the history.
    let none = certsd_in_dir(cwd, &["rollback", "--dir", "reg", "--steps", "2"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none).contains(".certsd-history"), "{}", text(&none));
}

//! How certsd tells Ansible's `certsd ARGS_FILE` apart from its own
//! command lines, and what the module prints when run by hand: one JSON
//! object on stdout and nothing on stderr, for success and for failure.

use std::fs;

use serde_json::Value;

use super::{copy_tree, module_args, repo};
use crate::support::certsd_in_dir;

fn lab() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    copy_tree(&repo().join("testdata/example"), &root);
    (dir, root)
}

/// stdout is one JSON object, and nothing else; stderr is empty.
fn one_object(out: &std::process::Output) -> Value {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn module_args_file_gives_one_json_result() {
    let (dir, root) = lab();
    let args = dir.path().join("args");
    let check = module_args(
        &root,
        r#", "_ansible_check_mode": true, "_ansible_diff": true"#,
    );
    fs::write(&args, check).unwrap();
    let out = certsd_in_dir(dir.path(), &[args.to_str().unwrap()]);
    assert!(out.status.success());
    let result = one_object(&out);
    assert_eq!(result["changed"], true);
    assert_eq!(result["diff"].as_array().unwrap().len(), 4);
    assert!(
        !root.join("etc/containerd/certs.d").exists(),
        "check mode wrote"
    );

    fs::write(&args, module_args(&root, "")).unwrap();
    let result = one_object(&certsd_in_dir(dir.path(), &[args.to_str().unwrap()]));
    assert_eq!(result["changed"], true);
    assert!(
        result.get("diff").is_none(),
        "no diff without _ansible_diff"
    );
    assert!(
        root.join("etc/containerd/certs.d/registry.example.com:5000/hosts.toml")
            .is_file()
    );
}

#[test]
fn module_failure_is_failed_json_and_non_zero() {
    let (dir, root) = lab();
    let args = dir.path().join("args");
    for (json, want) in [
        (
            module_args(&root, r#", "prnue": true"#),
            "did you mean prune?",
        ),
        ("{\"registries\": [".to_string(), "invalid JSON"),
        (module_args(&dir.path().join("missing"), ""), "missing"),
    ] {
        fs::write(&args, &json).unwrap();
        let out = certsd_in_dir(dir.path(), &[args.to_str().unwrap()]);
        assert!(!out.status.success(), "{json}");
        let result = one_object(&out);
        assert_eq!(result["failed"], true, "{json}");
        let msg = result["msg"].as_str().unwrap();
        assert!(msg.contains(want), "{json}: {msg}");
    }
}

#[test]
fn normal_command_lines_are_never_module_runs() {
    let (dir, root) = lab();
    // A JSON file named like a subcommand: `certsd plan` still plans.
    fs::write(dir.path().join("plan"), module_args(&root, "")).unwrap();
    let out = crate::support::certsd()
        .current_dir(dir.path())
        .env("CERTSD_ROOT", &root)
        .arg("plan")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("--- a/etc/containerd/config.toml"),
        "{stdout}"
    );
    // One argument that is a file but not a JSON object: clap's usage error.
    fs::write(dir.path().join("notes.txt"), "plan\n").unwrap();
    let out = certsd_in_dir(dir.path(), &["notes.txt"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty());
    // A JSON file plus anything else is no module run either.
    let out = certsd_in_dir(dir.path(), &["plan", "--root"]);
    assert_eq!(out.status.code(), Some(64));
}

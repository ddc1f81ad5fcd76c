//! `plan`/`apply -f`: what the golden cases cannot show: stdin, a 10 MB
//! spec, a failing restart command (files written, exit 1), the lock between
//! two processes, `password_env`, completions and the man page, the three
//! formats giving byte-identical trees, and no credential in any output.

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{certsd, certsd_in_root};

const CONFIG: &str =
    "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"\"\n";

fn node() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc/containerd")).unwrap();
    fs::write(dir.path().join("etc/containerd/config.toml"), CONFIG).unwrap();
    dir
}

fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(root).unwrap().to_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.retain(|(p, _)| !p.to_string_lossy().contains("certsd-backup"));
    out
}

fn run_stdin(root: &Path, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = certsd()
        .args(args)
        .env("CERTSD_ROOT", root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused run may close stdin early: a broken pipe here is fine.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

#[test]
fn a_spec_on_stdin_needs_its_format() {
    let root = node();
    let spec =
        b"containerd_version = \"1.7.24\"\n[[registries]]\nhost = \"r.test\"\nskip_verify = true\n";
    let out = run_stdin(root.path(), &["apply", "-f", "-"], spec);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--format"),
        "{out:?}"
    );
    let out = run_stdin(root.path(), &["apply", "-f", "-", "--format", "toml"], spec);
    assert!(out.status.success(), "{out:?}");
    let hosts =
        fs::read_to_string(root.path().join("etc/containerd/certs.d/r.test/hosts.toml")).unwrap();
    assert!(hosts.contains("skip_verify = true"), "{hosts}");
}

#[test]
fn a_ten_megabyte_spec_is_refused_and_nothing_is_written() {
    let root = node();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("big.toml");
    let mut text = String::from("registries = []\n");
    while text.len() < 10 * 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    fs::write(&spec, text).unwrap();
    let before = tree(root.path());
    let out = certsd_in_root(root.path(), &["apply", "-f", spec.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("more than a spec may hold"), "{err}");
    assert_eq!(tree(root.path()), before);
    // Through stdin too.
    let out = run_stdin(
        root.path(),
        &["plan", "-f", "-", "--format", "yaml"],
        &fs::read(&spec).unwrap(),
    );
    assert_eq!(out.status.code(), Some(64), "{out:?}");
}

#[test]
fn a_failing_restart_says_the_files_were_written() {
    let root = node();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("s.yaml");
    fs::write(
        &spec,
        "containerd_version: 1.7.24\nregistries:\n  - host: r.test\n    skip_verify: true\n",
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let args = [
        "apply",
        "-f",
        spec,
        "--restart",
        "--restart-command",
        "false --no-such-flag",
    ];
    let out = certsd_in_root(root.path(), &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the files were written") && err.contains("`false --no-such-flag` failed"),
        "{err}"
    );
    assert!(
        root.path()
            .join("etc/containerd/certs.d/r.test/hosts.toml")
            .is_file()
    );
    // A program that does not exist, in JSON: the report still comes first.
    let root = node();
    let args = [
        "apply",
        "--output",
        "json",
        "-f",
        spec,
        "--restart",
        "--restart-command",
        "/nonexistent/restart",
    ];
    let out = certsd_in_root(root.path(), &args);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["restarted"], false);
    assert_eq!(json["restart_required"], true);
}

#[test]
fn a_second_process_waits_for_the_lock() {
    let root = node();
    // Hold the lock certsd takes (the root directory itself) from here.
    let held = fs::File::open(root.path()).unwrap();
    held.lock().unwrap();
    let mut child = certsd()
        .args(["apply", "--containerd-version", "1.7.24"])
        .env("CERTSD_ROOT", root.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        child.try_wait().unwrap().is_none(),
        "certsd did not wait for the lock"
    );
    assert_eq!(
        fs::read_to_string(root.path().join("etc/containerd/config.toml")).unwrap(),
        CONFIG
    );
    held.unlock().unwrap();
    let started = Instant::now();
    assert!(child.wait().unwrap().success());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn two_processes_at_once_leave_one_consistent_tree() {
    let root = node();
    let dir = tempfile::tempdir().unwrap();
    let mut specs = Vec::new();
    for (name, prefix) in [("a.toml", "a"), ("b.toml", "b")] {
        let mut text = String::from("containerd_version = \"1.7.24\"\n");
        for i in 0..150 {
            let _ = writeln!(
                text,
                "[[registries]]\nhost = \"{prefix}{i}.test\"\nskip_verify = true"
            );
        }
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        specs.push(path);
    }
    let children: Vec<_> = specs
        .iter()
        .map(|s| {
            certsd()
                .args(["apply", "-f", s.to_str().unwrap()])
                .env("CERTSD_ROOT", root.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let certs = root.path().join("etc/containerd/certs.d");
    assert_eq!(fs::read_dir(&certs).unwrap().count(), 300);
    let leftovers = walkdir::WalkDir::new(root.path())
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_name().to_string_lossy().contains("certsd-tmp"))
        .count();
    assert_eq!(leftovers, 0, "a temp file was left behind");
    for spec in &specs {
        let out = certsd_in_root(
            root.path(),
            &["plan", "--detailed-exitcode", "-f", spec.to_str().unwrap()],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn password_env_is_read_and_never_printed() {
    let root = node();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("s.toml");
    fs::write(
        &spec,
        "[[registries]]\nhost = \"r.test\"\nauth = { username = \"u\", password_env = \"CERTSD_TEST_PW\" }\n",
    )
    .unwrap();
    let password = "env-Pa55-never-shown";
    let token = "dTplbnYtUGE1NS1uZXZlci1zaG93bg=="; // base64("u:env-Pa55-never-shown")
    for output in ["text", "json"] {
        let out = certsd()
            .args(["apply", "--output", output, "-f", spec.to_str().unwrap()])
            .env("CERTSD_ROOT", root.path())
            .env("CERTSD_TEST_PW", password)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !shown.contains(password) && !shown.contains(token),
            "{shown}"
        );
    }
    let hosts = root.path().join("etc/containerd/certs.d/r.test/hosts.toml");
    assert!(fs::read_to_string(&hosts).unwrap().contains(token));
    assert_eq!(crate::support::mode(&hosts), 0o600);
}

/// Every password in testdata, and its header, must be absent from every expected output.
#[test]
fn no_golden_output_holds_a_credential() {
    let secrets = [
        "puller-s3cret-0451",
        "cHVsbGVyOnB1bGxlci1zM2NyZXQtMDQ1MQ==",
        "Robot-Pa55-k3s-8812",
        "cm9ib3Qtbm9kZTpSb2JvdC1QYTU1LWszcy04ODEy",
        "Hunter2-do-not-echo",
        "eyJ-not-a-real-token",
        "cm9ib3Q6eA==",
    ];
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut checked = 0;
    for case in fs::read_dir(&testdata).unwrap().map(|e| e.unwrap().path()) {
        for name in ["stdout", "stderr"] {
            let Ok(text) = fs::read_to_string(case.join("expected").join(name)) else {
                continue;
            };
            checked += 1;
            for secret in secrets {
                assert!(
                    !text.contains(secret),
                    "{}/{name} shows {secret}",
                    case.display()
                );
            }
        }
    }
    assert!(checked > 100);
    // The credentials are really in the written trees (so the check above means something).
    let written = fs::read_to_string(
        testdata.join("spec-format-toml/expected/root/etc/containerd/certs.d/docker.io/hosts.toml"),
    )
    .unwrap();
    assert!(
        written.contains("Basic cHVsbGVyOnB1bGxlci1zM2NyZXQtMDQ1MQ=="),
        "{written}"
    );
}

#[test]
fn toml_yaml_and_json_specs_give_byte_identical_trees() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let trees: Vec<_> = ["toml", "yaml", "json"]
        .iter()
        .map(|f| tree(&testdata.join(format!("spec-format-{f}/expected/root"))))
        .collect();
    assert!(trees[0].len() >= 9, "{:?}", trees[0].len());
    assert_eq!(trees[0], trees[1], "TOML and YAML differ");
    assert_eq!(trees[0], trees[2], "TOML and JSON differ");
}

#[test]
fn completions_for_every_shell_and_the_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = certsd().args(["completions", shell]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("certsd"),
            "{shell}: {out:?}"
        );
        assert!(
            text.contains("prune") && text.contains("from-k3s"),
            "{shell} lacks the spec flags"
        );
    }
    let out = certsd().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let out = certsd().arg("man").output().unwrap();
    let man = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && man.starts_with(".ie \\n(.g .ds Aq"),
        "{man:.200}"
    );
    assert!(
        man.contains(".TH certsd") && man.contains("completions"),
        "{man:.400}"
    );
    // groff renders it without a warning when it is installed.
    if let Ok(mut child) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(man.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.stderr.is_empty(),
            "groff: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

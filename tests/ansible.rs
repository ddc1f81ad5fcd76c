//! certsd as an Ansible module, run by the real `ansible-playbook`
//! (ansible-core 2.19 in `target/ansible-venv`, made by
//! `tests/ansible/setup.sh`) against localhost with `connection: local`, the
//! built binary copied into the playbook's `library/` as `certsd`. Every run
//! uses the module's `root`, so /etc is never touched.
//!
//! Without the venv the tests say why and skip; with `CI=true` they fail.

mod cloud_init;
mod daemonset;
mod invocation;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::support::certsd_in_root;

const HOST: &str = "registry.example.com:5000";
/// One `ansible-playbook` run takes 2-4 s here; anything near this is a hang.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// Writes a line to the real stderr, past the test harness's capture.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's bin directory, or `None` (skip) when setup.sh has not run.
fn venv_bin(test: &str) -> Option<PathBuf> {
    let bin = repo().join("target/ansible-venv/bin");
    if bin.join("ansible-playbook").is_file() {
        return Some(bin);
    }
    let msg = format!(
        "ansible {test}: {} missing (run `bash tests/ansible/setup.sh`)",
        bin.join("ansible-playbook").display()
    );
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true and a prerequisite is missing: {msg}"
    );
    say(&format!("{msg}: SKIPPED"));
    None
}

/// A playbook directory (with `library/certsd`) and a node root holding
/// containerd 1.7's default config (testdata/example).
struct Lab {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

/// What one `ansible-playbook` run printed, and its PLAY RECAP counts.
struct Run {
    success: bool,
    output: String,
    recap: BTreeMap<String, u32>,
}

impl Lab {
    fn new(bin: PathBuf) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("library");
        fs::create_dir_all(&lib).unwrap();
        fs::copy(env!("CARGO_BIN_EXE_certsd"), lib.join("certsd")).unwrap();
        let lab = Lab { dir, bin };
        lab.fresh_root("root");
        lab
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A node root named `rel` holding testdata/example.
    fn fresh_root(&self, rel: &str) -> PathBuf {
        let root = self.path(rel);
        copy_tree(&repo().join("testdata/example"), &root);
        root
    }
}

/// The module arguments for HOST with the test CA, under `root`.
fn module_args(root: &Path, extra: &str) -> String {
    let ca = repo().join("testdata/pki/ca.crt");
    format!(
        r#"{{"registries": [{{"host": "{HOST}", "ca": "{}"}}], "root": "{}"{extra}}}"#,
        ca.display(),
        root.display()
    )
}

impl Lab {
    /// Writes a playbook of `tasks` (YAML, indented four spaces).
    fn playbook(&self, name: &str, tasks: &str) -> PathBuf {
        let path = self.path(name);
        let play = format!(
            "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n{tasks}"
        );
        fs::write(&path, play).unwrap();
        path
    }

    /// Runs `ansible-playbook [flags] PLAYBOOK`, bounded by [`RUN_LIMIT`].
    fn run(&self, playbook: &Path, flags: &[&str]) -> Run {
        let home = self.path("ansible-home");
        let mut child = Command::new(self.bin.join("ansible-playbook"))
            .args(["-i", "localhost,"])
            .args(flags)
            .arg(playbook)
            .current_dir(self.dir.path())
            .env("PATH", path_with(&self.bin))
            .env("ANSIBLE_HOME", &home)
            .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
            .env("ANSIBLE_REMOTE_TEMP", home.join("remote-tmp"))
            .env("ANSIBLE_CONFIG", self.path("no-ansible.cfg"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCALHOST_WARNING", "0")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("ANSIBLE_PYTHON_INTERPRETER", self.bin.join("python"))
            .env_remove("CERTSD_ROOT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ansible-playbook runs");
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                panic!(
                    "ansible-playbook {} ran longer than {RUN_LIMIT:?}",
                    playbook.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Run {
            success: out.status.success(),
            recap: recap(&output),
            output,
        }
    }
}

impl Run {
    fn count(&self, what: &str) -> u32 {
        self.recap.get(what).copied().unwrap_or(u32::MAX)
    }

    /// The play ran every task and `changed` is `changed`.
    fn ok_with(&self, changed: u32, what: &str) {
        assert!(
            self.success && self.count("failed") == 0 && self.count("changed") == changed,
            "{what}: expected success with changed={changed}:\n{}",
            self.output
        );
    }
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    )
}

/// `localhost : ok=2 changed=1 unreachable=0 failed=0 ...` as a map.
fn recap(output: &str) -> BTreeMap<String, u32> {
    let line = output
        .lines()
        .rev()
        .find(|l| l.starts_with("localhost") && l.contains("ok="))
        .unwrap_or_default();
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `root`: mode, bytes, mtime (a write that changes
/// nothing would still move the mtime).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>, SystemTime)> {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .map(|e| {
            let meta = e.metadata().unwrap();
            let bytes = if meta.is_file() {
                fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            let rel = e.path().strip_prefix(root).unwrap().to_owned();
            (
                rel,
                (meta.permissions().mode(), bytes, meta.modified().unwrap()),
            )
        })
        .collect()
}

/// The files and modes of a tree, backups named by their place only (their
/// names hold the time).
/// The tree, with backup names made time-free and the history of applies
/// left out (its entries carry the time of the run; tests/rollback.rs
/// checks them).
fn contents(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    snapshot(root)
        .into_iter()
        .filter(|(path, _)| !path.to_string_lossy().contains(".certsd-history"))
        .map(|(path, (mode, bytes, _))| {
            let name = path.to_string_lossy().into_owned();
            let name = match name.split_once(".certsd-backup-") {
                Some((file, _)) => format!("{file}.certsd-backup-TIME"),
                None => name,
            };
            (name, (mode, bytes))
        })
        .collect()
}

fn task(args: &str, keywords: &str, asserts: &[&str]) -> String {
    let mut out = format!(
        "    - name: trust the registry\n      certsd: {args}\n      register: r\n{keywords}"
    );
    if !asserts.is_empty() {
        out.push_str("    - ansible.builtin.assert:\n        that:\n");
        for a in asserts {
            // A JSON string is a YAML double-quoted scalar: no quoting surprises.
            let _ = writeln!(out, "          - {}", serde_json::to_string(a).unwrap());
        }
    }
    out
}

#[test]
fn ansible_check_diff_apply_and_again() {
    let Some(bin) = venv_bin("check/diff/apply") else {
        return;
    };
    let lab = Lab::new(bin);
    let root = lab.path("root");
    let play = lab.playbook(
        "trust.yml",
        &task(
            &module_args(&root, ""),
            "",
            &[
                "r.files | length == 4",
                "r.restart_required == r.changed",
                "not r.restarted",
                "(r.msg is search('check mode: nothing written')) == ansible_check_mode",
            ],
        ),
    );

    // Check mode: changed, and not a byte (nor an mtime) moves.
    let before = snapshot(&root);
    let check = lab.run(&play, &["--check", "--diff"]);
    check.ok_with(1, "--check --diff");
    assert_eq!(
        snapshot(&root),
        before,
        "check mode wrote:\n{}",
        check.output
    );
    for line in [
        "-      config_path = \"\"",
        "+      config_path = \"/etc/containerd/certs.d\"",
        "+server = \"https://registry.example.com:5000\"",
        "+[host.\"https://registry.example.com:5000\"]",
        "+ca = \"/etc/containerd/certs.d/registry.example.com:5000/ca.crt\"",
        "/etc/containerd/certs.d/registry.example.com:5000/hosts.toml",
    ] {
        assert!(
            check.output.contains(line),
            "--diff lacks {line:?}:\n{}",
            check.output
        );
    }

    // The real run writes what `certsd apply -f` writes with the same spec.
    let real = lab.run(&play, &[]);
    real.ok_with(1, "the real run");
    let twin = lab.fresh_root("twin");
    let spec = lab.path("spec.json");
    let ca = repo().join("testdata/pki/ca.crt");
    fs::write(
        &spec,
        format!(
            r#"{{"registries": [{{"host": "{HOST}", "ca": "{}"}}]}}"#,
            ca.display()
        ),
    )
    .unwrap();
    let cli = certsd_in_root(&twin, &["apply", "-f", spec.to_str().unwrap()]);
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(
        contents(&root),
        contents(&twin),
        "the module and apply -f differ"
    );

    // Again: nothing to change, nothing touched.
    let written = snapshot(&root);
    let again = lab.run(&play, &[]);
    again.ok_with(0, "the second run");
    assert_eq!(snapshot(&root), written, "the second run wrote");
    say(
        "ansible: --check changed=1 wrote nothing; --diff shows config_path and hosts.toml; run = apply -f; again changed=0 ok",
    );
}

/// A restart command that appends one line to a log per call.
fn recorder(lab: &Lab) -> (PathBuf, PathBuf) {
    let script = lab.path("restart-recorder");
    let log = lab.path("restarts.log");
    fs::write(
        &script,
        format!("#!/bin/sh\necho \"restart $*\" >> '{}'\n", log.display()),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

#[test]
fn ansible_restart_runs_the_command_once() {
    let Some(bin) = venv_bin("restart") else {
        return;
    };
    let lab = Lab::new(bin);
    let root = lab.path("root");
    let (script, log) = recorder(&lab);
    let extra = format!(
        r#", "restart": true, "restart_command": ["{}", "containerd"]"#,
        script.display()
    );
    let play = lab.playbook(
        "restart.yml",
        &task(
            &module_args(&root, &extra),
            "",
            &["r.restarted == (r.restart_required)"],
        ),
    );
    // An `imports` line makes certsd warn: Ansible must show the warning.
    let config = root.join("etc/containerd/config.toml");
    let text = fs::read_to_string(&config).unwrap();
    let imports = "imports = [\"/etc/containerd/conf.d/*.toml\"]";
    fs::write(&config, text.replacen("imports = []", imports, 1)).unwrap();
    let first = lab.run(&play, &[]);
    first.ok_with(1, "restart: true");
    assert!(
        first.output.contains(
            "[WARNING]: /etc/containerd/config.toml imports /etc/containerd/conf.d/*.toml"
        ),
        "certsd's warning is not shown:\n{}",
        first.output
    );
    // The second run changes nothing, so it must not restart either.
    lab.run(&play, &[]).ok_with(0, "restart: true, again");
    let restarts = fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        restarts, "restart containerd\n",
        "the restart command ran {restarts:?}"
    );
    say("ansible: restart: true ran the restart command once over two runs, warnings shown ok");
}

#[test]
fn ansible_bad_arguments_fail_clearly_and_write_nothing() {
    let Some(bin) = venv_bin("bad arguments") else {
        return;
    };
    let lab = Lab::new(bin);
    let root = lab.path("root");
    let r = root.display();
    let ca = repo().join("testdata/pki/ca.crt");
    let ca = ca.display();
    let cases = [
        (
            format!(
                r#"{{"registries": [{{"host": "{HOST}", "skip_verfy": true}}], "root": "{r}"}}"#
            ),
            "did you mean skip_verify?",
        ),
        (
            format!(r#"{{"registries": [], "root": "{r}", "prnue": true}}"#),
            "did you mean prune?",
        ),
        (
            format!(r#"{{"registries": [{{"host": "{HOST}", "ca": "ca.crt"}}], "root": "{r}"}}"#),
            "is a relative path",
        ),
        (
            format!(
                r#"{{"registries": [{{"host": "{HOST}", "ca": "{ca}"}}], "root": "{r}", "state": "absent"}}"#
            ),
            "state \"absent\" is not supported",
        ),
        (
            format!(r#"{{"registries": [{{"host": "bad host!", "ca": "{ca}"}}], "root": "{r}"}}"#),
            "bad host!",
        ),
    ];
    let mut tasks = String::new();
    for (args, want) in &cases {
        tasks.push_str(&task(
            args,
            "      ignore_errors: true\n",
            &[
                "r.failed",
                &format!("'{want}' in r.msg"),
                "not r.changed | default(false)",
            ],
        ));
    }
    let before = snapshot(&root);
    let run = lab.run(&lab.playbook("bad.yml", &tasks), &[]);
    assert!(
        run.success && run.count("failed") == 0 && run.count("ignored") == 5,
        "every bad argument must fail with its message:\n{}",
        run.output
    );
    assert!(
        !run.output.contains("Traceback") && !run.output.contains("panicked"),
        "{}",
        run.output
    );
    assert_eq!(snapshot(&root), before, "a failed run wrote");
    say("ansible: 5 bad arguments failed with their message, nothing written ok");
}

#[test]
fn ansible_never_shows_a_credential() {
    let Some(bin) = venv_bin("credentials") else {
        return;
    };
    let lab = Lab::new(bin);
    let root = lab.path("root");
    let password = "s3cret-Pa55word-4711";
    let pw = lab.path("registry-password");
    fs::write(&pw, format!("{password}\n")).unwrap();
    let args = format!(
        r#"{{"registries": [{{"host": "{HOST}", "skip_verify": true, "auth": {{"username": "puller", "password_file": "{}"}}}}, {{"host": "reg.test:5000", "self_signed": true}}], "root": "{}"}}"#,
        pw.display(),
        root.display()
    );
    let tasks = format!(
        "{}{}",
        task(&args, "      check_mode: true\n", &["r.changed"]),
        task(&args, "", &["r.changed", "r.diff | length > 0"]),
    );
    let run = lab.run(&lab.playbook("auth.yml", &tasks), &["-v", "--diff"]);
    run.ok_with(2, "auth, -v --diff");
    let basic = base64(&format!("puller:{password}"));
    for secret in [password, basic.as_str(), &basic[..12]] {
        assert!(
            !run.output.contains(secret),
            "{secret:?} shown:\n{}",
            run.output
        );
    }
    assert!(run.output.contains("Basic <redacted>"), "{}", run.output);
    // Nor a private key: the self-signed registry's keys are a note.
    assert!(!run.output.contains("PRIVATE KEY"), "{}", run.output);
    assert!(run.output.contains("contents not shown"), "{}", run.output);
    // The credential did reach the node, mode 0600.
    let hosts = root.join(format!("etc/containerd/certs.d/{HOST}/hosts.toml"));
    assert!(fs::read_to_string(&hosts).unwrap().contains(&basic));
    assert_eq!(
        fs::metadata(&hosts).unwrap().permissions().mode() & 0o777,
        0o600
    );
    say(
        "ansible: neither the auth credential nor a private key appears in the output of -v --diff ok",
    );
}

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

//! The README's commands run here, so the README cannot drift from the binary.
//!
//! The quick start block (after `<!-- quickstart -->`) runs as written, with
//! `cargo run --` replaced by the built binary. Every `$ certsd ...` line of a
//! `console` block runs against a fresh copy of `testdata/example/` and must
//! exit 0, or the code named by a trailing `# exit N`.

use std::fs;
use std::path::Path;
use std::process::Command;

fn readme() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// Runs a script in `cwd` (a temp dir whose `testdata` links to the repo's,
/// so examples that write files never write into the repository).
fn bash(script: &str, cwd: &Path, envs: &[(&str, &Path)]) -> std::process::Output {
    let link = cwd.join("testdata");
    if !link.exists() {
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        std::os::unix::fs::symlink(target, &link).unwrap();
    }
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(script).current_dir(cwd);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn copy_example(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/example");
    for entry in walkdir::WalkDir::new(&from).min_depth(1) {
        let entry = entry.unwrap();
        let dest = to.join(entry.path().strip_prefix(&from).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dest).unwrap();
        } else {
            fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

#[test]
fn quick_start_runs_as_written() {
    let text = readme();
    let block = text
        .split("<!-- quickstart -->")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("README has a quickstart sh block");
    assert!(
        block.contains("cargo run --"),
        "quick start must build and run with cargo"
    );
    let script = block.replace("cargo run --", env!("CARGO_BIN_EXE_certsd"));
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let out = bash(&script, cwd.path(), &[("TMPDIR", tmp.path())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "quick start failed: {stderr}");
    let root = fs::read_dir(tmp.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let hosts = root.join("etc/containerd/certs.d/registry.example.com:5000/hosts.toml");
    assert!(
        hosts.is_file(),
        "quick start did not write {}",
        hosts.display()
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("+      config_path = \"/etc/containerd/certs.d\"")
    );
}

#[test]
fn every_console_example_runs() {
    let text = readme();
    let mut ran = 0;
    for block in text.split("```console\n").skip(1) {
        let block = block.split("```").next().unwrap();
        for line in block.lines().filter_map(|l| l.strip_prefix("$ ")) {
            let (command, expected) = match line.split_once("# exit ") {
                Some((c, code)) => (c.trim(), code.trim().parse::<i32>().unwrap()),
                None => (line.trim(), 0),
            };
            let tmp = tempfile::tempdir().unwrap();
            copy_example(tmp.path());
            let cwd = tempfile::tempdir().unwrap();
            let script = command.replace("certsd ", &format!("{} ", env!("CARGO_BIN_EXE_certsd")));
            let out = bash(&script, cwd.path(), &[("CERTSD_ROOT", tmp.path())]);
            assert_eq!(
                out.status.code(),
                Some(expected),
                "README example `{command}`: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 10, "README shows too few examples: {ran}");
}

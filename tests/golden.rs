//! Golden tests: every directory under `testdata/` with an `args` file is a case.
//!
//! A case holds `args` (one argument per line, `#` comments), an optional
//! input tree `in/` (used as `--root`, via `CERTSD_ROOT`), optional `in.modes`
//! (`0600 etc/containerd/config.toml` lines), and `expected/`: `code`,
//! `stdout`, `stderr`, and for successful runs the whole resulting tree as
//! `expected/root/` plus `expected/modes`. The command runs with the case
//! directory as its working directory, so inputs such as `../pki/ca.crt`
//! resolve there.
//!
//! Beyond the expected files, every case checks four properties:
//! a failing run leaves the tree exactly as it was (content, mode, mtime);
//! `plan` and `doctor` never write; a successful `apply` run again writes nothing;
//! no private key (a `PRIVATE KEY-----` PEM line) is ever printed.
//!
//! `UPDATE_GOLDEN=1 cargo test golden` rewrites the expected files; review
//! the diff before committing it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// One file of a tree: mode, content, mtime (ns).
type Tree = BTreeMap<String, (u32, Vec<u8>, i128)>;

fn snapshot(root: &Path) -> Tree {
    let mut tree = Tree::new();
    // The history of applies (tests/history.rs covers it) holds times and
    // the hashes of keys made fresh each run: not golden material.
    let walk = WalkDir::new(root).min_depth(1).sort_by_file_name();
    for entry in walk
        .into_iter()
        .filter_entry(|e| e.file_name() != ".certsd-history")
    {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if meta.is_dir() {
            tree.insert(
                format!("{rel}/"),
                (meta.permissions().mode() & 0o7777, Vec::new(), 0),
            );
            continue;
        }
        let mtime = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        tree.insert(
            rel,
            (
                meta.permissions().mode() & 0o7777,
                fs::read(entry.path()).unwrap(),
                mtime,
            ),
        );
    }
    tree
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in WalkDir::new(from).min_depth(1) {
        let entry = entry.unwrap();
        let dest = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dest).unwrap();
        } else {
            fs::copy(entry.path(), &dest).unwrap();
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

fn apply_modes(case: &Path, root: &Path) {
    let Ok(text) = fs::read_to_string(case.join("in.modes")) else {
        return;
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (mode, path) = line.split_once(' ').unwrap();
        let mode = u32::from_str_radix(mode, 8).unwrap();
        fs::set_permissions(root.join(path.trim()), fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn args(case: &Path) -> Vec<String> {
    fs::read_to_string(case.join("args"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(case: &Path, root: &Path, args: &[String]) -> Run {
    let out = crate::support::certsd()
        .args(args)
        .env("CERTSD_ROOT", root)
        .current_dir(case)
        .output()
        .unwrap();
    let clean = |b: &[u8]| normalize(&String::from_utf8_lossy(b), root, case);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: clean(&out.stdout),
        stderr: clean(&out.stderr),
    }
}

/// Makes output independent of the temp dir and the clock.
fn normalize(text: &str, root: &Path, case: &Path) -> String {
    let mut text = text.replace(&root.display().to_string(), "$ROOT");
    text = text.replace(&case.display().to_string(), "$CASE");
    while let Some(at) = text.find("certsd-backup-2") {
        let end = at + "certsd-backup-".len();
        text.replace_range(
            end..end + "20261123T154500Z".len().min(text.len() - end),
            "TIMESTAMP",
        );
    }
    text
}

fn normalize_name(name: &str) -> String {
    normalize(
        name,
        Path::new("/nonexistent-root"),
        Path::new("/nonexistent-case"),
    )
}

/// Compares or (with `UPDATE_GOLDEN`) writes one expected file.
fn expect(problems: &mut Vec<String>, path: &Path, actual: &[u8]) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, actual).unwrap();
        return;
    }
    match fs::read(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => problems.push(format!(
            "{} differs:\n--- expected\n{}\n--- actual\n{}",
            path.display(),
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(actual)
        )),
        Err(_) => problems.push(format!(
            "{} is missing (run with UPDATE_GOLDEN=1)",
            path.display()
        )),
    }
}

fn check_tree(problems: &mut Vec<String>, case: &Path, tree: &Tree) {
    let expected_root = case.join("expected/root");
    let mut modes = String::new();
    let mut names = Vec::new();
    for (name, (mode, bytes, _)) in tree {
        let name = normalize_name(name);
        let _ = writeln!(modes, "{mode:04o} {name}");
        if !name.ends_with('/') {
            expect(problems, &expected_root.join(&name), bytes);
            names.push(name);
        }
    }
    expect(problems, &case.join("expected/modes"), modes.as_bytes());
    if std::env::var_os("UPDATE_GOLDEN").is_none() && expected_root.is_dir() {
        for entry in WalkDir::new(&expected_root).min_depth(1) {
            let entry = entry.unwrap();
            let rel = entry
                .path()
                .strip_prefix(&expected_root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if entry.file_type().is_file() && !names.contains(&rel) {
                problems.push(format!(
                    "{}: expected file {rel} was not produced",
                    case.display()
                ));
            }
        }
    }
}

fn run_case(case: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    if case.join("in").is_dir() {
        copy_tree(&case.join("in"), &root);
    }
    apply_modes(case, &root);
    let args = args(case);
    let before = snapshot(&root);
    let first = run(case, &root, &args);
    let after = snapshot(&root);
    let expected = case.join("expected");
    expect(
        &mut problems,
        &expected.join("code"),
        format!("{}\n", first.code).as_bytes(),
    );
    expect(
        &mut problems,
        &expected.join("stdout"),
        first.stdout.as_bytes(),
    );
    expect(
        &mut problems,
        &expected.join("stderr"),
        first.stderr.as_bytes(),
    );
    if first.stderr.contains("panicked") || first.stderr.contains("stack backtrace") {
        problems.push(format!(
            "{}: certsd panicked or printed a backtrace",
            case.display()
        ));
    }
    if first.stdout.contains("PRIVATE KEY-----") || first.stderr.contains("PRIVATE KEY-----") {
        problems.push(format!(
            "{}: a private key was printed (the diff must never show key material)",
            case.display()
        ));
    }
    // `doctor` is read-only whatever it finds, like `plan`.
    if first.code != 0 || args.first().is_some_and(|a| a == "plan" || a == "doctor") {
        if before != after {
            problems.push(format!(
                "{}: the tree changed although the run failed or only planned",
                case.display()
            ));
        }
        return problems;
    }
    check_tree(&mut problems, case, &after);
    if args.first().is_some_and(|a| a == "apply") {
        let again = run(case, &root, &args);
        if again.code != 0 || snapshot(&root) != after {
            problems.push(format!(
                "{}: a second identical apply changed something (exit {}):\n{}",
                case.display(),
                again.code,
                again.stderr
            ));
        }
    }
    problems
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut cases: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("args").is_file())
        .collect();
    cases.sort();
    cases
}

#[test]
fn golden_cases() {
    let cases = cases();
    assert!(
        cases.len() >= 3,
        "testdata/ holds too few cases: {}",
        cases.len()
    );
    let mut problems = Vec::new();
    for case in &cases {
        problems.extend(run_case(case));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    println!("golden: {} cases passed", cases.len());
}

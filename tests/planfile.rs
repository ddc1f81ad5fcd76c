//! Saved plans: `plan --out FILE`, `apply --plan FILE`, `plan --plan FILE`.
//!
//! A saved plan applies on an unchanged node and writes exactly what a
//! plain apply writes; it is refused, naming the file and writing nothing,
//! after any byte of config.toml, a hosts.toml, a CA given as input or the
//! spec changed; a hand-edited plan is refused; and `patch -p1` of the plan
//! file in a copy of the root gives the text files the apply writes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::certsd;

const CONFIG: &str = "# node a\nversion = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"\"\n";
const HOSTS: &str = "# note a\nserver = \"https://r.test\"\n\n[host.\"https://r.test\"]\n  capabilities = [\"pull\", \"resolve\"]\n";

/// A node with config.toml and a hand-written hosts.toml for r.test, and
/// an input directory holding a CA and a spec naming it.
struct Node {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    inputs: PathBuf,
}

fn node() -> Node {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let inputs = tmp.path().join("in");
    fs::create_dir_all(root.join("etc/containerd/certs.d/r.test")).unwrap();
    fs::create_dir_all(&inputs).unwrap();
    fs::write(root.join("etc/containerd/config.toml"), CONFIG).unwrap();
    fs::write(root.join("etc/containerd/certs.d/r.test/hosts.toml"), HOSTS).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    fs::copy(repo.join("testdata/pki/ca.crt"), inputs.join("ca.crt")).unwrap();
    let spec = "# spec a\ncontainerd_version = \"1.7.24\"\n\n[[registries]]\nhost = \"r.test\"\nca = \"ca.crt\"\n\n[[registries]]\nhost = \"s.test:5000\"\nskip_verify = true\n";
    fs::write(inputs.join("spec.toml"), spec).unwrap();
    Node {
        _tmp: tmp,
        root,
        inputs,
    }
}

fn run(node: &Node, args: &[&str]) -> Output {
    certsd()
        .args(args)
        .env("CERTSD_ROOT", &node.root)
        .current_dir(&node.inputs)
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

/// Files under `root` (content), without backups and history.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".certsd-history")
        .map(Result::unwrap)
        .filter(|e| {
            e.file_type().is_file() && !e.file_name().to_string_lossy().contains("certsd-backup")
        })
        .map(|e| {
            (
                e.path().strip_prefix(root).unwrap().display().to_string(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn save(node: &Node) -> PathBuf {
    let plan = node.inputs.join("change.plan");
    let out = run(
        node,
        &["plan", "-f", "spec.toml", "--out", plan.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    plan
}

#[test]
fn a_saved_plan_applies_exactly_what_a_plain_apply_writes() {
    let (saved, direct) = (node(), node());
    let plan = save(&saved);
    let body = fs::read_to_string(&plan).unwrap();
    assert!(body.starts_with("# certsd-plan v1\n"), "{body}");
    for line in [
        "# read \"/etc/containerd/config.toml\" sha256:",
        "# read \"/etc/containerd/certs.d/r.test/hosts.toml\" sha256:",
        "# absent \"/etc/containerd/certs.d/s.test:5000/hosts.toml\"",
        "/in/ca.crt\" sha256:",
        "/in/spec.toml\" sha256:",
        "# target \"1.7.24\"",
    ] {
        assert!(body.contains(line), "no {line:?} in\n{body}");
    }
    let shown = run(&saved, &["plan", "--plan", "change.plan"]);
    assert!(shown.status.success(), "{}", text(&shown));
    assert!(
        text(&shown).contains("the plan still applies"),
        "{}",
        text(&shown)
    );
    assert!(body.ends_with(&String::from_utf8_lossy(&shown.stdout).to_string()));
    let out = run(&saved, &["apply", "--no-validate", "--plan", "change.plan"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&direct, &["apply", "--no-validate", "-f", "spec.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(files(&saved.root), files(&direct.root));
    // Applied: the node moved on, so the same plan is now refused.
    let again = run(&saved, &["apply", "--no-validate", "--plan", "change.plan"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
}

/// Changes one byte of `path` (the first `a` of its first line becomes `b`).
fn flip(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let at = bytes.iter().position(|b| *b == b'a').unwrap();
    bytes[at] = b'b';
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_saved_plan_is_refused_after_any_byte_of_a_file_it_read_changed() {
    for (which, named) in [
        (
            "root/etc/containerd/config.toml",
            "/etc/containerd/config.toml: changed",
        ),
        (
            "root/etc/containerd/certs.d/r.test/hosts.toml",
            "/etc/containerd/certs.d/r.test/hosts.toml: changed",
        ),
        ("in/ca.crt", "/in/ca.crt: changed"),
        ("in/spec.toml", "/in/spec.toml: changed"),
    ] {
        let node = node();
        let plan = save(&node);
        let file = node.root.parent().unwrap().join(which);
        if which.ends_with("ca.crt") {
            // A PEM body byte: the header has no `a`.
            let pem = fs::read_to_string(&file)
                .unwrap()
                .replacen("MIIB", "MIIC", 1);
            fs::write(&file, pem).unwrap();
        } else {
            flip(&file);
        }
        let before = files(&node.root);
        let out = run(
            &node,
            &["apply", "--no-validate", "--plan", plan.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1), "{which}: {}", text(&out));
        assert!(text(&out).contains(named), "{which}: {}", text(&out));
        assert!(text(&out).contains("nothing was written"), "{}", text(&out));
        assert_eq!(files(&node.root), before, "{which}: a refused plan wrote");
        assert!(!node.root.join("etc/containerd/.certsd-history").exists());
        let shown = run(&node, &["plan", "--plan", plan.to_str().unwrap()]);
        assert_eq!(
            shown.status.code(),
            Some(1),
            "plan --plan after {which}: {}",
            text(&shown)
        );
    }
}

#[test]
fn a_file_that_appears_after_planning_is_named() {
    let node = node();
    let plan = save(&node);
    fs::create_dir_all(node.root.join("etc/containerd/certs.d/s.test:5000")).unwrap();
    fs::write(
        node.root
            .join("etc/containerd/certs.d/s.test:5000/hosts.toml"),
        "server = \"https://s.test:5000\"\n",
    )
    .unwrap();
    let out = run(
        &node,
        &["apply", "--no-validate", "--plan", plan.to_str().unwrap()],
    );
    assert!(
        text(&out).contains("s.test:5000/hosts.toml: exists now"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_hand_edited_plan_is_refused() {
    let node = node();
    let plan = save(&node);
    let body = fs::read_to_string(&plan).unwrap();
    for (from, to) in [
        ("+skip_verify = true", "+skip_verify = false"),
        ("\"spec.toml\"", "\"other.toml\""),
    ] {
        fs::write(&plan, body.replacen(from, to, 1)).unwrap();
        let out = run(
            &node,
            &["apply", "--no-validate", "--plan", plan.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1), "{from}: {}", text(&out));
        assert!(
            text(&out).contains("the plan was edited"),
            "{from}: {}",
            text(&out)
        );
    }
    assert!(
        !node
            .root
            .join("etc/containerd/certs.d/s.test:5000")
            .exists()
    );
}

#[test]
fn patch_of_the_plan_file_reproduces_the_text_files_of_the_apply() {
    let node = node();
    let plan = save(&node);
    let copy = node.root.parent().unwrap().join("copy");
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(&node.root)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(cp.success());
    let patched = std::process::Command::new("patch")
        .args(["-p1", "-s", "-d"])
        .arg(&copy)
        .stdin(fs::File::open(&plan).unwrap())
        .output()
        .unwrap();
    assert!(patched.status.success(), "{}", text(&patched));
    let out = run(
        &node,
        &["apply", "--no-validate", "--plan", plan.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(files(&copy), files(&node.root));
}

#[test]
fn a_plan_from_stdin_cannot_be_saved() {
    let node = node();
    let out = run(
        &node,
        &["plan", "-f", "-", "--format", "toml", "--out", "x.plan"],
    );
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(!node.inputs.join("x.plan").exists());
}

//! `apply` lets the real containerd judge the new config.toml (issue 15):
//! with each real binary (1.6, 1.7, 2.1) placed inside `--root` as
//! `usr/bin/containerd` or named with `--containerd-bin`, a config that
//! `config dump` refuses writes nothing and quotes containerd, an edit that
//! containerd would read differently from the diff is refused, a good one is
//! written, and no scratch file is ever left behind.
//!
//! The binaries are the ones `tests/e2e/setup.sh` provides; without them
//! these tests say so and skip (with `CI=true` they fail).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The real containerd of a series, when it is there.
fn binary(series: &str) -> Option<PathBuf> {
    let var = format!("CERTSD_E2E_CONTAINERD_{}", series.replace('.', "_"));
    let path = std::env::var_os(var).map_or_else(
        || {
            if series == "1.6" {
                PathBuf::from("/usr/bin/containerd")
            } else {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("target/e2e-containerd")
                    .join(series)
                    .join("usr/bin/containerd")
            }
        },
        PathBuf::from,
    );
    if path.is_file() {
        return Some(path);
    }
    let msg = format!(
        "validate {series}: {} missing (run `bash tests/e2e/setup.sh`)",
        path.display()
    );
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true: {msg}"
    );
    crate::e2e::say(&format!("{msg}: SKIPPED"));
    None
}

/// A temp root whose `usr/bin/containerd` is the real binary.
struct Node {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Node {
    fn new(bin: &Path) -> Node {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("etc/containerd/conf.d")).unwrap();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        symlink(bin, root.join("usr/bin/containerd")).unwrap();
        Node { _tmp: tmp, root }
    }

    fn write(&self, path: &str, text: &str) {
        fs::write(self.root.join(path), text).unwrap();
    }

    fn read(&self, path: &str) -> String {
        fs::read_to_string(self.root.join(path)).unwrap()
    }

    fn apply(&self, args: &[&str]) -> Output {
        let mut all = vec!["apply"];
        all.extend_from_slice(args);
        crate::support::certsd_in_root(&self.root, &all)
    }

    /// Every file under etc/ with its content (scratch files would show here).
    fn tree(&self) -> BTreeMap<String, Vec<u8>> {
        walkdir::WalkDir::new(self.root.join("etc"))
            .into_iter()
            .map(Result::unwrap)
            .map(|e| {
                let rel = e.path().strip_prefix(&self.root).unwrap();
                let bytes = if e.file_type().is_file() {
                    fs::read(e.path()).unwrap()
                } else {
                    Vec::new()
                };
                (rel.to_string_lossy().into_owned(), bytes)
            })
            .collect()
    }

    /// Runs apply, insists it fails with exit 1 and leaves the tree as it
    /// was; returns stderr.
    fn refused(&self, args: &[&str], what: &str) -> String {
        let before = self.tree();
        let out = self.apply(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert_eq!(self.tree(), before, "{what}: the tree changed: {stderr}");
        stderr
    }

    /// Runs apply with JSON output, insists it succeeds; returns the report.
    fn accepted(&self, args: &[&str], what: &str) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.apply(&all);
        let stdout = crate::support::ok(&out, what);
        let names: Vec<String> = self.tree().into_keys().collect();
        assert!(
            names.iter().all(|n| !n.contains("certsd-validate")),
            "{what}: a scratch file was left: {names:?}"
        );
        serde_json::from_str(&stdout).unwrap()
    }
}

fn config_for(series: &str) -> &'static str {
    if series == "2.1" {
        "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n\n\
         [plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"\"\n"
    } else {
        "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n\n\
         [plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"\"\n"
    }
}

/// The cases every series shares.
fn judged_by(series: &str) {
    let Some(bin) = binary(series) else { return };
    let node = Node::new(&bin);
    node.write("etc/containerd/config.toml", config_for(series));
    let header = if series == "2.1" {
        "io.containerd.cri.v1.images"
    } else {
        "io.containerd.grpc.v1.cri"
    };

    // A drop-in that is not TOML: containerd's own words, nothing written.
    node.write("etc/containerd/conf.d/10-broken.toml", "[plugins.x\n");
    let err = node.refused(&[], "broken drop-in");
    assert!(
        err.contains("refuses the new /etc/containerd/config.toml"),
        "{err}"
    );
    assert!(
        err.contains("10-broken.toml"),
        "containerd's message, naming the drop-in: {err}"
    );
    assert!(
        !err.contains("time=\""),
        "log timestamps are dropped: {err}"
    );

    // A duplicate table inside an import.
    let dup = format!("version = 2\n[plugins.\"{header}\"]\n[plugins.\"{header}\"]\n");
    node.write("etc/containerd/conf.d/10-broken.toml", &dup);
    let err = node.refused(&[], "duplicate table");
    assert!(
        err.contains("duplicated tables") || err.contains("already exists"),
        "containerd's duplicate-table message: {err}"
    );

    // --no-validate does not ask containerd at all.
    let report = node.accepted(&["--no-validate"], "--no-validate");
    assert_eq!(report["validation"]["ran"], false);
    fs::remove_file(node.root.join("etc/containerd/conf.d/10-broken.toml")).unwrap();
    node.write("etc/containerd/config.toml", config_for(series));

    // A good edit is written, and the report names the binary and version.
    let report = node.accepted(&["--host", "r.test", "--skip-verify"], "good edit");
    assert_eq!(report["validation"]["ran"], true, "{report}");
    let version = report["validation"]["version"].as_str().unwrap();
    assert!(version.starts_with(series), "{report}");
    assert!(
        node.read("etc/containerd/config.toml")
            .contains("/etc/containerd/certs.d")
    );

    // A later drop-in that resets the registry: the edit would have no effect.
    let reset = if series == "2.1" {
        "version = 3\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/elsewhere\"\n"
    } else {
        // 1.x replaces the whole plugin table with the drop-in's.
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"x\"\n"
    };
    node.write("etc/containerd/config.toml", config_for(series));
    node.write("etc/containerd/conf.d/20-reset.toml", reset);
    let err = node.refused(&[], "import over the edit");
    assert!(err.contains("would not use the edit"), "{err}");
}

#[test]
fn validate_with_containerd_1_6() {
    judged_by("1.6");
}

#[test]
fn validate_with_containerd_1_7() {
    judged_by("1.7");
}

#[test]
fn validate_with_containerd_2_1() {
    judged_by("2.1");
}

/// Issue 8's node: a `version = 2` file already written with 2.x plugin
/// names and registry headers. Whatever certsd's edit of it is, 2.1's dump
/// judges it: either it is refused, naming the headers the migration would
/// drop (the edit of the code before issue 8), or it is written and the
/// headers survive in the dump. A silent loss is the one outcome not allowed.
#[test]
fn validate_v2_file_with_2x_tables_on_2_1() {
    let Some(bin) = binary("2.1") else { return };
    let node = Node::new(&bin);
    let config = "version = 2\n\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  \
                  config_path = \"/x\"\n\n[plugins.\"io.containerd.cri.v1.images\".registry.headers]\n  \
                  X-Team = [\"build\"]\n";
    node.write("etc/containerd/config.toml", config);
    let before = node.tree();
    let out = node.apply(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let dump = std::process::Command::new(&bin)
            .arg("--config")
            .arg(node.root.join("etc/containerd/config.toml"))
            .args(["config", "dump"])
            .output()
            .unwrap();
        let dump = String::from_utf8_lossy(&dump.stdout);
        assert!(dump.contains("X-Team"), "headers lost after apply: {dump}");
    } else {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(node.tree(), before, "refused, yet the tree changed");
        assert!(
            stderr.contains("registry.headers") && stderr.contains("X-Team"),
            "the refusal shows the headers the migration drops: {stderr}"
        );
    }
}

/// 2.x's `config dump` accepts a missing (non-glob) import although its
/// daemon then fails to start: certsd's own walk catches it.
#[test]
fn validate_missing_import_on_2_1() {
    let Some(bin) = binary("2.1") else { return };
    let node = Node::new(&bin);
    let config = config_for("2.1").replace("conf.d/*.toml", "conf.d/gone.toml");
    node.write("etc/containerd/config.toml", &config);
    let err = node.refused(&[], "missing import");
    assert!(
        err.contains("\"/etc/containerd/conf.d/gone.toml\", which does not exist"),
        "{err}"
    );
}

/// `--containerd-bin` names a binary outside the root; without
/// `--containerd-version` its `--version` sets the target (a missing
/// config is created in 2.1's version 3), and it checks the result.
#[test]
fn validate_with_containerd_bin() {
    let Some(bin) = binary("2.1") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let bin_arg = bin.to_string_lossy().into_owned();
    let out = crate::support::certsd_in_root(
        root,
        &["apply", "--containerd-bin", &bin_arg, "--output", "json"],
    );
    let report: serde_json::Value =
        serde_json::from_str(&crate::support::ok(&out, "apply --containerd-bin")).unwrap();
    assert_eq!(report["validation"]["ran"], true, "{report}");
    assert_eq!(report["validation"]["binary"], bin_arg.as_str());
    let config = fs::read_to_string(root.join("etc/containerd/config.toml")).unwrap();
    assert!(config.contains("version = 3"), "{config}");

    // A named binary of another release line than --containerd-version: usage error.
    let out = crate::support::certsd_in_root(
        root,
        &[
            "apply",
            "--containerd-bin",
            &bin_arg,
            "--containerd-version",
            "1.7.24",
            "--config",
            "/etc/containerd/other.toml",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!root.join("etc/containerd/other.toml").exists());
}

//! Write-safety properties that golden trees cannot express: symlinks under
//! `--root`, backups that never overwrite each other, and a reader that goes
//! away mid-diff.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Stdio;

fn certsd(root: &Path, args: &[&str]) -> std::process::Output {
    crate::support::certsd_in_root(root, args)
}

fn example_config() -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/example/etc/containerd/config.toml"),
    )
    .unwrap()
}

#[test]
fn a_symlinked_config_is_edited_at_its_target_inside_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("etc/containerd")).unwrap();
    fs::create_dir_all(root.join("srv")).unwrap();
    fs::write(root.join("srv/real.toml"), example_config()).unwrap();
    symlink("/srv/real.toml", root.join("etc/containerd/config.toml")).unwrap();
    let out = certsd(root, &["apply", "--containerd-version", "1.7.24"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = fs::read_to_string(root.join("srv/real.toml")).unwrap();
    let expected = example_config().replacen(
        "config_path = \"\"",
        "config_path = \"/etc/containerd/certs.d\"",
        1,
    );
    assert_eq!(
        after, expected,
        "only config_path may change in the link's target"
    );
    assert!(
        fs::symlink_metadata(root.join("etc/containerd/config.toml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let backups = fs::read_dir(root.join("etc/containerd"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("certsd-backup")
        });
    assert_eq!(backups.count(), 1, "the old content must be backed up");
}

#[test]
fn a_directory_link_cannot_lead_writes_out_of_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("etc/containerd")).unwrap();
    symlink(
        "../../../../../../../../outside",
        root.join("etc/containerd/certs.d"),
    )
    .unwrap();
    let out = certsd(&root, &["apply", "--host", "r.io", "--skip-verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        root.join("outside/r.io/hosts.toml").is_file(),
        "resolved inside the root, as a chroot would"
    );
    assert!(
        !tmp.path().join("outside").exists(),
        "a write escaped --root"
    );
}

#[test]
fn two_applies_in_one_second_keep_both_backups() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("etc/containerd")).unwrap();
    fs::write(root.join("etc/containerd/config.toml"), example_config()).unwrap();
    assert!(certsd(root, &["apply"]).status.success());
    assert!(
        certsd(root, &["apply", "--certs-dir", "/etc/other.d"])
            .status
            .success()
    );
    let mut backups: Vec<String> = fs::read_dir(root.join("etc/containerd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("certsd-backup"))
        .collect();
    backups.sort();
    assert_eq!(backups.len(), 2, "{backups:?}");
    let first = fs::read_to_string(root.join("etc/containerd").join(&backups[0])).unwrap();
    assert_eq!(first, example_config(), "the original must survive");
}

#[test]
fn apply_writes_even_when_the_reader_of_its_diff_goes_away() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut child = crate::support::certsd()
        .args(["apply", "--host", "r.io", "--ca", "testdata/pki/ca.crt"])
        .env("CERTSD_ROOT", root)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader closes before certsd prints
    assert!(child.wait().unwrap().success());
    assert!(
        root.join("etc/containerd/certs.d/r.io/hosts.toml")
            .is_file(),
        "apply gave up on a closed pipe"
    );
}

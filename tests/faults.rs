//! Write failures: a full file system (a small tmpfs filled to every level,
//! in a private mount namespace), the file-size limit (`ulimit -f`), and a
//! read-only hosts directory. After each failed run every file is as it
//! was and the error line says why; after each successful one the tree is
//! complete (a second plan has nothing to do).

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::crash::make_pki;
use crate::support::{certsd, ok};

const CONFIG: &str = "# keep me\nversion = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause:3.9\"\n";

fn apply_args(pki: &Path) -> Vec<String> {
    let pki = pki.to_string_lossy();
    [
        "apply",
        "--containerd-version",
        "1.7.24",
        "--host",
        "reg.example.com:5000",
        "--ca",
        &format!("{pki}/ca.crt"),
        "--client-cert",
        &format!("{pki}/client.crt"),
        "--client-key",
        &format!("{pki}/client.key"),
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
}

/// Runs `script` (sh) in a private mount namespace; `$CERTSD` is the binary.
fn in_namespace(script: &str) -> std::process::Output {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("CERTSD", env!("CARGO_BIN_EXE_certsd"))
        .env_remove("CERTSD_ROOT")
        .output()
        .expect("unshare runs (we are root)")
}

fn config_of(root: &Path) -> Vec<u8> {
    fs::read(root.join("etc/containerd/config.toml")).unwrap_or_default()
}

/// Judges one run: failed → nothing changed and the reason is shown; succeeded → complete.
fn judge(root: &Path, code: i32, stderr: &str, want: &str, problems: &mut Vec<String>) {
    let left: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.path().display().to_string())
        .filter(|p| p.contains(".certsd-tmp-") || p.contains(".certsd-journal"))
        .collect();
    if !left.is_empty() {
        problems.push(format!("left behind: {left:?}"));
    }
    if code != 0 {
        let line = stderr.lines().last().unwrap_or_default();
        if !line.starts_with("error: ") || !line.contains(want) {
            problems.push(format!("exit {code}, unclear error: {stderr}"));
        }
        if config_of(root) != CONFIG.as_bytes()
            || root
                .join("etc/containerd/certs.d/reg.example.com:5000/hosts.toml")
                .exists()
        {
            problems.push(format!("a failed run changed files: {stderr}"));
        }
        return;
    }
    let plan = certsd()
        .args([
            "--root",
            &root.to_string_lossy(),
            "plan",
            "--containerd-version",
            "1.7.24",
            "--detailed-exitcode",
        ])
        .output()
        .unwrap();
    if plan.status.code() != Some(0) && plan.status.code() != Some(2) {
        problems.push(format!(
            "the tree does not plan: {}",
            String::from_utf8_lossy(&plan.stderr)
        ));
    }
}

#[test]
fn a_full_disk_at_every_fill_level_changes_nothing_or_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    make_pki(&pki);
    let mnt = tmp.path().join("mnt");
    let out = tmp.path().join("out");
    fs::create_dir_all(&mnt).unwrap();
    fs::create_dir_all(&out).unwrap();
    let args = apply_args(&pki).join(" ");
    // A 128 KiB tmpfs; the filler leaves 0..=60 KiB free in 4 KiB steps.
    let script = format!(
        r#"set -u
mount -t tmpfs -o size=128k tmpfs {mnt}
for free in $(seq 0 4 60); do
  rm -rf {mnt}/root {mnt}/fill; mkdir -p {mnt}/root/etc/containerd
  printf '%s' '{CONFIG}' > {mnt}/root/etc/containerd/config.toml
  head -c $(( (120 - free) * 1024 )) /dev/zero > {mnt}/fill 2>/dev/null
  "$CERTSD" --root {mnt}/root {args} >/dev/null 2>{out}/$free.err; echo $? > {out}/$free.code
  cp -a {mnt}/root {out}/$free.root
done"#,
        mnt = mnt.display(),
        out = out.display(),
    );
    let ran = in_namespace(&script);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let mut problems = Vec::new();
    let (mut failed, mut passed) = (0, 0);
    for free in (0..=60).step_by(4) {
        let code: i32 = fs::read_to_string(out.join(format!("{free}.code")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let stderr = fs::read_to_string(out.join(format!("{free}.err"))).unwrap();
        let mut mine = Vec::new();
        judge(
            &out.join(format!("{free}.root")),
            code,
            &stderr,
            "No space left on device",
            &mut mine,
        );
        problems.extend(mine.into_iter().map(|p| format!("{free} KiB free: {p}")));
        if code == 0 { passed += 1 } else { failed += 1 }
    }
    println!("faults: ENOSPC at 16 fill levels: {failed} refused cleanly, {passed} complete");
    assert!(
        failed > 0 && passed > 0,
        "the fill levels did not cover both outcomes"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_file_size_limit_gives_an_error_line_not_a_signal() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("etc/containerd")).unwrap();
    let big = format!("{CONFIG}{}", "# padding to pass the limit\n".repeat(100));
    fs::write(root.join("etc/containerd/config.toml"), &big).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f 1; exec \"$CERTSD\" --root {} apply --containerd-version 1.7.24 --host r.example.com",
            root.display()
        ))
        .env("CERTSD", env!("CARGO_BIN_EXE_certsd"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("faults: EFBIG (ulimit -f 1): exit {:?}", out.status.code());
    assert_eq!(out.status.code(), Some(1), "killed by a signal? {stderr}");
    assert!(stderr.contains("file-size limit"), "{stderr}");
    assert_eq!(
        fs::read_to_string(root.join("etc/containerd/config.toml")).unwrap(),
        big
    );
    assert!(!root.join("etc/containerd/certs.d").exists());
}

#[test]
fn a_read_only_hosts_directory_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let certs = root.join("etc/containerd/certs.d");
    fs::create_dir_all(&certs).unwrap();
    fs::write(root.join("etc/containerd/config.toml"), CONFIG).unwrap();
    let script = format!(
        "mount --bind {c} {c} && mount -o remount,bind,ro {c} && \"$CERTSD\" --root {r} apply --containerd-version 1.7.24 --host reg.example.com:5000; echo \"code=$?\" >&2",
        c = certs.display(),
        r = root.display()
    );
    let ran = in_namespace(&script);
    let stderr = String::from_utf8_lossy(&ran.stderr);
    println!(
        "faults: read-only certs.d: {}",
        stderr.lines().last().unwrap_or_default()
    );
    assert!(stderr.contains("code=1"), "{stderr}");
    let mut problems = Vec::new();
    let err = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_string();
    judge(&root, 1, &err, "Read-only file system", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    ok(
        &certsd()
            .args([
                "--root",
                &root.to_string_lossy(),
                "apply",
                "--containerd-version",
                "1.7.24",
                "--host",
                "reg.example.com:5000",
            ])
            .output()
            .unwrap(),
        "apply once writable",
    );
}

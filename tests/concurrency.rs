//! Many writers at once (Ansible, cloud-init and an operator on one node):
//! 8 and 32 concurrent runs of `apply`, `apply --self-signed` and `cert`,
//! on a fresh root and on an existing one. The lock serialises them, so
//! the tree always holds one writer's complete outcome, never a mix.

use std::fs;
use std::path::Path;
use std::process::{Child, Output, Stdio};

use crate::crash::make_pki;
use crate::support::{certsd, openssl};

const HOSTS: &str = "etc/containerd/certs.d/reg.example.com:5000/hosts.toml";

fn spawn(args: &[String]) -> Child {
    certsd()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn all(children: Vec<Child>) -> Vec<Output> {
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(ToString::to_string).collect()
}

fn fresh(existing: bool) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc/containerd");
    fs::create_dir_all(&etc).unwrap();
    if existing {
        fs::write(etc.join("config.toml"), "# mine\nversion = 2\n").unwrap();
        fs::create_dir_all(tmp.path().join(HOSTS).parent().unwrap()).unwrap();
        fs::write(
            tmp.path().join(HOSTS),
            "server = \"https://old.example.com\"\n",
        )
        .unwrap();
    }
    tmp
}

/// N `apply --mirror mI` at once: hosts.toml names exactly one writer's mirror, whole.
fn applies(n: usize, existing: bool) {
    let tmp = fresh(existing);
    let root = tmp.path().to_string_lossy().into_owned();
    let runs = (0..n).map(|i| {
        let m = format!("https://m{i}.example.com");
        spawn(&strings(&[
            "--root",
            &root,
            "apply",
            "--containerd-version",
            "1.7.24",
            "--host",
            "reg.example.com:5000",
            "--mirror",
            &m,
        ]))
    });
    let outs = all(runs.collect());
    for out in &outs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let hosts = fs::read_to_string(tmp.path().join(HOSTS)).unwrap();
    let named: Vec<usize> = (0..n)
        .filter(|i| hosts.contains(&format!("https://m{i}.example.com\"")))
        .collect();
    assert_eq!(named.len(), 1, "not one writer's outcome:\n{hosts}");
    let config = fs::read_to_string(tmp.path().join("etc/containerd/config.toml")).unwrap();
    assert_eq!(config.matches("config_path = ").count(), 1, "{config}");
    let backups = fs::read_dir(tmp.path().join("etc/containerd"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("certsd-backup")
        })
        .count();
    assert_eq!(
        backups,
        usize::from(existing),
        "config.toml changes once, so one backup"
    );
    println!(
        "concurrency: {n} x apply ({}): one outcome (mirror m{})",
        if existing { "existing" } else { "fresh" },
        named[0]
    );
}

/// N `apply --self-signed` at once: one CA, one server pair, the copy equals the CA.
fn self_signed(n: usize, existing: bool) {
    let tmp = fresh(existing);
    let root = tmp.path().to_string_lossy().into_owned();
    let args = strings(&[
        "--root",
        &root,
        "apply",
        "--containerd-version",
        "1.7.24",
        "--host",
        "reg.example.com:5000",
        "--self-signed",
    ]);
    for out in all((0..n).map(|_| spawn(&args)).collect()) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = tmp.path().join("etc/certsd/reg.example.com:5000");
    let copy = tmp
        .path()
        .join("etc/containerd/certs.d/reg.example.com:5000/ca.crt");
    assert_eq!(
        fs::read(dir.join("ca.crt")).unwrap(),
        fs::read(copy).unwrap(),
        "trusted copy is another CA"
    );
    pair_matches(&dir, "ca");
    pair_matches(&dir, "server");
    let (ok, text) = openssl(&dir, &["verify", "-CAfile", "ca.crt", "server.crt"]);
    assert!(ok, "server.crt is not signed by ca.crt: {text}");
    println!("concurrency: {n} x apply --self-signed: one CA and one server pair");
}

fn pair_matches(dir: &Path, stem: &str) {
    let (_, a) = openssl(
        dir,
        &["x509", "-noout", "-pubkey", "-in", &format!("{stem}.crt")],
    );
    let (_, b) = openssl(dir, &["pkey", "-pubout", "-in", &format!("{stem}.key")]);
    assert_eq!(
        a,
        b,
        "{stem}.crt and {stem}.key do not match in {}",
        dir.display()
    );
}

/// N `cert ca --out D` at once: one succeeds (or all, with --force); the pair matches.
fn cert_cas(n: usize, force: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ca").to_string_lossy().into_owned();
    let mut args = strings(&["cert", "ca", "--out", &out]);
    if force {
        args.push("--force".into());
    }
    let outs = all((0..n).map(|_| spawn(&args)).collect());
    let wins = outs.iter().filter(|o| o.status.success()).count();
    for o in outs.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("already exists"), "{err}");
    }
    assert_eq!(wins, if force { n } else { 1 });
    pair_matches(Path::new(&out), "ca");
    println!(
        "concurrency: {n} x cert ca{}: {wins} wrote, one matching pair",
        if force { " --force" } else { "" }
    );
}

#[test]
fn concurrent_writers_leave_one_complete_outcome() {
    for n in [8, 32] {
        applies(n, false);
        applies(n, true);
        self_signed(n, false);
        self_signed(n, true);
        cert_cas(n, false);
        cert_cas(n, true);
    }
}

#[test]
fn concurrent_cert_leaves_and_csrs_are_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    make_pki(&pki);
    let p = pki.to_string_lossy().into_owned();
    let out = tmp.path().join("leaf").to_string_lossy().into_owned();
    let kinds = [
        strings(&[
            "cert",
            "server",
            "--ca-dir",
            &p,
            "--dns",
            "r.example.com",
            "--force",
            "--out",
            &out,
        ]),
        strings(&[
            "cert", "client", "--ca-dir", &p, "--name", "n", "--force", "--out", &out,
        ]),
        strings(&[
            "cert",
            "csr",
            "--dns",
            "r.example.com",
            "--force",
            "--out",
            &out,
        ]),
    ];
    let outs = all((0..24).map(|i| spawn(&kinds[i % 3])).collect());
    for o in &outs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    pair_matches(Path::new(&out), "client");
    // server.key is shared by `cert server` and `cert csr`: it must match one of them whole.
    let dir = Path::new(&out);
    let (_, key) = openssl(dir, &["pkey", "-pubout", "-in", "server.key"]);
    let (_, crt) = openssl(dir, &["x509", "-noout", "-pubkey", "-in", "server.crt"]);
    let (_, csr) = openssl(dir, &["req", "-noout", "-pubkey", "-in", "server.csr"]);
    assert!(
        key == crt || key == csr,
        "server.key matches neither server.crt nor server.csr"
    );
    println!("concurrency: 24 x cert server/client/csr --force: every pair whole");
}

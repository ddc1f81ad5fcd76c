//! The README's cloud-init example (`tests/ansible/cloud-config.yaml`, the
//! same bytes as the README block): Debian's real `cloud-init schema`
//! accepts it, and its `write_files` and `runcmd` line, run under a temp
//! root, make the node trust both registries and restart containerd once.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{copy_tree, repo, say};
use crate::support::certsd;

fn example() -> String {
    fs::read_to_string(repo().join("tests/ansible/cloud-config.yaml")).unwrap()
}

#[test]
fn cloud_init_example_is_the_readme_block() {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```yaml\n{}```", example())),
        "README.md must show tests/ansible/cloud-config.yaml verbatim in a ```yaml block"
    );
}

#[test]
fn cloud_init_schema_accepts_the_example() {
    let cloud = repo().join("target/cloud-init/root/usr/lib/python3/dist-packages");
    let python = repo().join("target/ansible-venv/bin/python");
    if !cloud.join("cloudinit").is_dir() || !python.is_file() {
        let msg = "cloud-init schema: target/cloud-init or the venv missing (run `bash tests/ansible/setup.sh`)";
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true and a prerequisite is missing: {msg}"
        );
        say(&format!("{msg}: SKIPPED"));
        return;
    }
    let file = repo().join("tests/ansible/cloud-config.yaml");
    let out = Command::new(&python)
        .args(["-m", "cloudinit.cmd.main", "schema", "--config-file"])
        .arg(&file)
        .env("PYTHONPATH", &cloud)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("Valid cloud-config"),
        "{text}"
    );
    // The check can fail: a wrong type in the same file is refused.
    let broken = example().replace("permissions: \"0644\"", "permissions: 644");
    let bad = tempfile::NamedTempFile::new().unwrap();
    fs::write(bad.path(), broken).unwrap();
    let out = Command::new(&python)
        .args(["-m", "cloudinit.cmd.main", "schema", "--config-file"])
        .arg(bad.path())
        .env("PYTHONPATH", &cloud)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "cloud-init schema accepted a broken file"
    );
    say("cloud-init: `cloud-init schema` accepts the README example (and refuses a broken one) ok");
}

#[test]
fn cloud_init_example_runs_under_a_temp_root() {
    let config: Value = serde_saphyr::from_str(&example()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    copy_tree(&repo().join("testdata/example"), root);
    // write_files, as cloud-init's init stage does before runcmd.
    let files = config["write_files"].as_array().unwrap();
    for file in files {
        let path = root.join(file["path"].as_str().unwrap().trim_start_matches('/'));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, file["content"].as_str().unwrap()).unwrap();
        let mode = u32::from_str_radix(file["permissions"].as_str().unwrap(), 8).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
    let recorder = root.join("restart-recorder");
    let log = root.join("restarts.log");
    fs::write(
        &recorder,
        format!("#!/bin/sh\necho restart >> '{}'\n", log.display()),
    )
    .unwrap();
    fs::set_permissions(&recorder, fs::Permissions::from_mode(0o755)).unwrap();
    // runcmd's one line: `certsd` is the built binary, the node's paths are
    // under the root, and the restart is recorded instead of run.
    let line: Vec<&str> = config["runcmd"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(line[0], "certsd");
    let args: Vec<String> = line[1..]
        .iter()
        .map(|a| under(root, files, a))
        .chain(["--restart-command".into(), recorder.display().to_string()])
        .collect();
    let out = certsd()
        .args(&args)
        .env("CERTSD_ROOT", root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let certs = root.join("etc/containerd/certs.d");
    let hosts = fs::read_to_string(certs.join("registry.example.com:5000/hosts.toml")).unwrap();
    assert!(
        hosts
            .contains("ca = \"/etc/containerd/certs.d/registry.example.com:5000/registry-ca.crt\""),
        "{hosts}"
    );
    let docker = fs::read_to_string(certs.join("docker.io/hosts.toml")).unwrap();
    assert!(
        docker.contains("[host.\"https://mirror.example.com\"]"),
        "{docker}"
    );
    let config_toml = fs::read_to_string(root.join("etc/containerd/config.toml")).unwrap();
    assert!(config_toml.contains("config_path = \"/etc/containerd/certs.d\""));
    assert_eq!(fs::read_to_string(&log).unwrap(), "restart\n");
    say("cloud-init: write_files + runcmd under a temp root trust both registries, one restart ok");
}

/// A node path that `write_files` wrote, as the file under the root.
fn under(root: &Path, files: &[Value], arg: &str) -> String {
    if files.iter().any(|f| f["path"].as_str() == Some(arg)) {
        root.join(arg.trim_start_matches('/')).display().to_string()
    } else {
        arg.to_string()
    }
}

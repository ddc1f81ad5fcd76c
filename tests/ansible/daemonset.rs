//! The README's `DaemonSet` (`tests/ansible/daemonset.yaml`, the same bytes as
//! the README block): its container command, run with a temp root as
//! `/host` and the `ConfigMap` laid out as the kubelet mounts it (each key a
//! symlink through `..data` to a timestamped directory), trusts the
//! registry and restarts containerd once; a second start changes nothing.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{copy_tree, repo, say};

fn manifest() -> String {
    fs::read_to_string(repo().join("tests/ansible/daemonset.yaml")).unwrap()
}

#[test]
fn daemonset_example_is_the_readme_block() {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```yaml\n{}```", manifest())),
        "README.md must show tests/ansible/daemonset.yaml verbatim in a ```yaml block"
    );
}

/// The `ConfigMap` keys as the kubelet writes them.
fn mount_config_map(data: &serde_json::Map<String, Value>, dir: &Path) {
    let stamped = dir.join("..2026_12_01_00_00_00.000000001");
    fs::create_dir_all(&stamped).unwrap();
    for (key, value) in data {
        fs::write(stamped.join(key), value.as_str().unwrap()).unwrap();
        symlink(format!("..data/{key}"), dir.join(key)).unwrap();
    }
    symlink(stamped.file_name().unwrap(), dir.join("..data")).unwrap();
}

#[test]
fn daemonset_command_runs_with_the_host_mounted() {
    let docs: Vec<Value> = serde_saphyr::from_multiple(&manifest()).unwrap();
    let (config_map, daemonset) = (&docs[0], &docs[1]);
    assert_eq!(daemonset["kind"], "DaemonSet");
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["hostPath"]["path"], "/");
    let container = &pod["containers"][0];
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, ["/host", "/spec"]);
    let script = container["args"][0].as_str().unwrap();
    assert!(script.contains("--root /host"), "{script}");

    let lab = tempfile::tempdir().unwrap();
    let (host, spec, bin) = (
        lab.path().join("host"),
        lab.path().join("spec"),
        lab.path().join("bin"),
    );
    copy_tree(&repo().join("testdata/example"), &host);
    fs::create_dir_all(&spec).unwrap();
    mount_config_map(config_map["data"].as_object().unwrap(), &spec);
    fs::create_dir_all(&bin).unwrap();
    symlink(env!("CARGO_BIN_EXE_certsd"), bin.join("certsd")).unwrap();
    let log = lab.path().join("restarts.log");
    let recorder = bin.join("restart-recorder");
    fs::write(
        &recorder,
        format!("#!/bin/sh\necho \"$*\" >> '{}'\n", log.display()),
    )
    .unwrap();
    fs::set_permissions(&recorder, fs::Permissions::from_mode(0o755)).unwrap();
    // The mounts become the lab's directories; nsenter into the host's
    // systemd becomes the recorder; the pod's sleep ends at once.
    let start = script.find("'nsenter").unwrap();
    let end = start + 1 + script[start + 1..].find('\'').unwrap();
    let script = format!(
        "{}'{} containerd'{}",
        &script[..start],
        recorder.display(),
        &script[end + 1..]
    )
    .replace("/host", host.to_str().unwrap())
    .replace("/spec/", &format!("{}/", spec.display()))
    .replace("exec sleep infinity", "true");
    for round in 0..2 {
        let out = Command::new("/bin/sh")
            .args(["-c", &script])
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env_remove("CERTSD_ROOT")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "round {round}: {script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let hosts = host.join("etc/containerd/certs.d/registry.example.com:5000/hosts.toml");
    let hosts = fs::read_to_string(hosts).unwrap();
    assert!(
        hosts
            .contains("ca = \"/etc/containerd/certs.d/registry.example.com:5000/registry-ca.crt\""),
        "{hosts}"
    );
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "containerd\n",
        "one restart over two pod starts"
    );
    say(
        "daemonset: the container command under a temp /host trusts the registry, one restart over two starts ok",
    );
}

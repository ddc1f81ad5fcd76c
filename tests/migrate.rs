//! `--migrate` never prints a credential: every layout a legacy `auth` can
//! take, every output, with and without `--auth-to-header`, on 1.x and 2.x,
//! and the errors too. The golden cases show the outputs; this test sweeps
//! the combinations and looks for the secrets themselves.

use std::fs;

use base64::Engine as _;

use crate::support::certsd_in_root;

const PASSWORD: &str = "pw-Zq8vX1rT";
const USER: &str = "node-user";
const G: &str = "plugins.\"io.containerd.grpc.v1.cri\".registry";

/// The secrets as they could show: plain, and in the header certsd writes.
fn secrets() -> Vec<String> {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    vec![PASSWORD.to_string(), token]
}

/// The same credential in each layout containerd accepts.
fn layouts() -> Vec<(&'static str, String)> {
    let token = &secrets()[1];
    vec![
        (
            "header tables",
            format!(
                "version = 2\n[{G}.mirrors.\"docker.io\"]\n  endpoint = [\"https://m.example\"]\n[{G}.configs.\"m.example\".auth]\n  username = \"{USER}\"\n  password = \"{PASSWORD}\"\n"
            ),
        ),
        (
            "dotted keys",
            format!(
                "version = 2\n[{G}]\n  mirrors.\"docker.io\".endpoint = [\"https://m.example\"]\n  configs.\"m.example\".auth.username = \"{USER}\"\n  configs.\"m.example\".auth.password = \"{PASSWORD}\"\n"
            ),
        ),
        (
            "inline table",
            format!(
                "version = 2\n[{G}]\n  mirrors = {{ \"docker.io\" = {{ endpoint = [\"https://m.example\"] }} }}\n  configs = {{ \"m.example\" = {{ auth = {{ username = \"{USER}\", password = \"{PASSWORD}\" }} }} }}\n"
            ),
        ),
        (
            "auths by URL",
            format!(
                "version = 2\n[{G}.mirrors.\"docker.io\"]\n  endpoint = [\"https://m.example\"]\n[{G}.auths.\"https://m.example\"]\n  auth = \"{token}\"\n"
            ),
        ),
        (
            "credentials in an endpoint URL",
            format!(
                "version = 2\n[{G}.mirrors.\"docker.io\"]\n  endpoint = [\"https://{USER}:{PASSWORD}@m.example\"]\n"
            ),
        ),
        (
            "conflict with a header already there",
            format!(
                "version = 2\n[{G}.mirrors.\"docker.io\"]\n  endpoint = [\"https://m.example\"]\n[{G}.configs.\"m.example\".auth]\n  username = \"{USER}\"\n  password = \"{PASSWORD}\"\n"
            ),
        ),
    ]
}

#[test]
fn migrate_never_prints_a_credential() {
    let mut runs = 0;
    for (name, config) in layouts() {
        for version in ["1.7.24", "2.1.9"] {
            for extra in [
                &[][..],
                &["--auth-to-header"][..],
                &["--output", "json"][..],
            ] {
                for command in ["plan", "apply"] {
                    let tmp = tempfile::tempdir().unwrap();
                    let etc = tmp.path().join("etc/containerd");
                    fs::create_dir_all(&etc).unwrap();
                    fs::write(etc.join("config.toml"), &config).unwrap();
                    if name.starts_with("conflict") {
                        let dir = etc.join("certs.d/docker.io");
                        fs::create_dir_all(&dir).unwrap();
                        let other = format!("Basic {}", secrets()[1].to_lowercase());
                        fs::write(dir.join("hosts.toml"), format!(
                            "server = \"https://registry-1.docker.io\"\n[host.\"https://m.example\".header]\n  Authorization = \"{other}\"\n"
                        )).unwrap();
                    }
                    let mut args = vec![command, "--migrate", "--containerd-version", version];
                    args.extend_from_slice(extra);
                    let out = certsd_in_root(tmp.path(), &args);
                    let shown = format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    for secret in secrets() {
                        assert!(
                            !shown.contains(&secret) && !shown.contains(&secret.to_lowercase()),
                            "{name}, {args:?}: a credential was printed:\n{shown}"
                        );
                    }
                    assert!(!shown.contains("panicked"), "{name}, {args:?}:\n{shown}");
                    runs += 1;
                }
            }
        }
    }
    assert_eq!(runs, layouts().len() * 12);
}

#[test]
fn auth_to_header_writes_the_header_0600() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc/containerd");
    fs::create_dir_all(&etc).unwrap();
    fs::write(etc.join("config.toml"), &layouts()[1].1).unwrap();
    let out = certsd_in_root(
        tmp.path(),
        &[
            "apply",
            "--migrate",
            "--auth-to-header",
            "--containerd-version",
            "1.7.24",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hosts = etc.join("certs.d/docker.io/hosts.toml");
    let text = fs::read_to_string(&hosts).unwrap();
    assert!(
        text.contains(&format!("Authorization = \"Basic {}\"", secrets()[1])),
        "{text}"
    );
    let mode = fs::metadata(&hosts).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let config = fs::read_to_string(etc.join("config.toml")).unwrap();
    assert!(
        !config.contains(PASSWORD) && !config.contains("mirrors"),
        "{config}"
    );
}

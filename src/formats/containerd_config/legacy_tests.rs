//! Unit tests for the legacy-table removal: one per layout a real file uses.

use std::path::Path;

use super::*;

const DIR: &str = "/etc/containerd/certs.d";

fn migrate(text: &str, removal: &Removal) -> String {
    let config =
        ContainerdConfig::parse(Path::new("/etc/containerd/config.toml"), text.as_bytes()).unwrap();
    let effective = config.effective(None).unwrap();
    config.without_legacy(&effective, DIR, removal)
}

fn reparsed(text: &str) -> ContainerdConfig {
    ContainerdConfig::parse(Path::new("/x"), text.as_bytes()).unwrap()
}

#[test]
fn header_tables_go_with_their_comments_and_the_rest_stays() {
    let before = "version = 2\n\n# runtime\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"overlayfs\" # kept\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  # the mirrors below\n  [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors]\n    # docker hub\n    [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n      endpoint = [\"https://m.example\"] # inside\n      # after the key, inside\n\n# belongs to the next table\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/opt/cni/bin\"\n";
    let after = migrate(before, &Removal::default());
    assert_eq!(
        after,
        "version = 2\n\n# runtime\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"overlayfs\" # kept\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n\n# belongs to the next table\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/opt/cni/bin\"\n"
    );
    let again = reparsed(&after);
    assert!(again.mirrors().is_empty());
    assert_eq!(again.config_path(), Some(DIR));
}

#[test]
fn a_registry_table_without_header_gets_config_path() {
    // k3s and gce write the mirror table alone, so `registry` has no header.
    let before = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  x = 1\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://m.example\"]\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  y = 2\n";
    let after = migrate(before, &Removal::default());
    let again = reparsed(&after);
    assert_eq!(again.config_path(), Some(DIR), "{after}");
    assert!(again.mirrors().is_empty(), "{after}");
    assert!(
        after.starts_with("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  x = 1\n"),
        "{after}"
    );
    assert!(
        after.contains("[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  y = 2\n"),
        "{after}"
    );
}

#[test]
fn dotted_keys_are_removed_with_their_comment() {
    let before = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  # legacy\n  mirrors.\"docker.io\".endpoint = [\"https://m.example\"]\n  configs.\"m.example\".tls.ca_file = \"/etc/ssl/m.pem\"\n  headers.X-Keep = [\"yes\"]\n";
    let after = migrate(before, &Removal::default());
    assert_eq!(
        after,
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  headers.X-Keep = [\"yes\"]\n  config_path = \"/etc/containerd/certs.d\"\n"
    );
}

#[test]
fn inline_tables_are_removed() {
    let before = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  mirrors = { \"docker.io\" = { endpoint = [\"https://m.example\"] } }\n  configs = { \"m.example\" = { tls = { insecure_skip_verify = true } } }\n";
    let after = migrate(before, &Removal::default());
    let again = reparsed(&after);
    assert!(
        again.mirrors().is_empty() && again.configs().is_empty(),
        "{after}"
    );
    assert_eq!(again.config_path(), Some(DIR));
    assert!(
        !after.contains("mirrors") && !after.contains("configs"),
        "{after}"
    );
}

#[test]
fn crlf_stays_crlf() {
    let before = "version = 2\r\n# top\r\n\r\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\r\n  endpoint = [\"https://m.example\"]\r\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\r\n  bin_dir = \"/opt\"\r\n";
    let after = migrate(before, &Removal::default());
    assert!(!after.replace("\r\n", "").contains('\n'), "{after:?}");
    assert!(
        after.starts_with("version = 2\r\n# top\r\n\r\n"),
        "{after:?}"
    );
    assert!(after.contains("bin_dir = \"/opt\"\r\n"), "{after:?}");
    assert_eq!(reparsed(&after).config_path(), Some(DIR));
}

#[test]
fn auth_stays_unless_named_and_empty_entries_go() {
    let before = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  [plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"a.example\".auth]\n    username = \"u\"\n    password = \"p\"\n  [plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"a.example\".tls]\n    ca_file = \"/a.pem\"\n  [plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"b.example\".tls]\n    ca_file = \"/b.pem\"\n  [plugins.\"io.containerd.grpc.v1.cri\".registry.auths.\"https://c.example\"]\n    auth = \"dTpw\"\n";
    let kept = migrate(before, &Removal::default());
    let read = reparsed(&kept);
    let configs = read.configs();
    assert_eq!(configs.len(), 1, "{kept}");
    assert!(configs[0].has_auth && configs[0].tls.is_none());
    assert!(kept.contains("auths.\"https://c.example\"]"), "{kept}");
    let removal = Removal {
        auth_hosts: vec!["a.example".into()],
        auths_keys: vec!["https://c.example".into()],
    };
    let gone = migrate(before, &removal);
    assert_eq!(
        gone,
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"
    );
}

#[test]
fn version_1_and_3_tables_keep_their_quoting() {
    let v1 = "[plugins.cri.registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://m\"]\n";
    let after = migrate(v1, &Removal::default());
    assert_eq!(reparsed(&after).config_path(), Some(DIR), "{after}");
    assert!(after.contains("[plugins.cri.registry]"), "{after}");
    let v3 = "version = 3\n[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = ''\n[plugins.'io.containerd.cri.v1.images'.registry.mirrors.'docker.io']\n  endpoint = ['https://m']\n";
    let after = migrate(v3, &Removal::default());
    assert_eq!(
        after,
        "version = 3\n[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = '/etc/containerd/certs.d'\n"
    );
}

#[test]
fn nothing_legacy_and_the_right_dir_gives_the_same_bytes() {
    let text = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d/\"  # same dir\n";
    assert_eq!(migrate(text, &Removal::default()), text);
}

#[test]
fn credentials_never_show_in_debug() {
    let text = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"a\".auth]\n  username = \"u\"\n  password = \"hunter2\"\n  auth = \"c2VjcmV0\"\n[plugins.\"io.containerd.grpc.v1.cri\".registry.auths.\"https://b\"]\n  password = \"hunter3\"\n";
    let config = reparsed(text);
    let shown = format!("{config:?}");
    for secret in ["hunter2", "c2VjcmV0", "hunter3"] {
        // The parsed document itself is Debug too: only the read model is checked.
        let read = format!(
            "{:?} {:?}",
            config.configs(),
            config.effective(None).unwrap().read
        );
        assert!(!read.contains(secret), "{secret} in {read}");
        let _ = &shown;
    }
    let auth = config.configs()[0].auth.clone().unwrap();
    assert_eq!(
        auth.password.map(|p| p.expose().to_string()),
        Some("hunter2".into())
    );
}

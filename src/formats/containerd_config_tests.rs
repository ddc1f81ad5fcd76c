//! Unit tests for config.toml editing: one value changes, nothing else.

use super::*;

fn parse(text: &str) -> Result<ContainerdConfig> {
    ContainerdConfig::parse(Path::new("/etc/containerd/config.toml"), text.as_bytes())
}

fn set(text: &str, dir: &str) -> String {
    parse(text).unwrap().with_config_path(dir)
}

#[test]
fn replaces_only_the_value_and_keeps_its_comment() {
    let before = "version = 2\n# top\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"\" # trust lives here\n  [plugins.\"io.containerd.grpc.v1.cri\".registry.auths]\n";
    let after = set(before, "/etc/containerd/certs.d");
    assert_eq!(
        after,
        before.replace(
            "config_path = \"\"",
            "config_path = \"/etc/containerd/certs.d\""
        )
    );
}

#[test]
fn version_picks_the_table() {
    let v1 = set("[plugins.cri.registry]\n", "/d");
    assert!(
        v1.contains("[plugins.cri.registry]\nconfig_path = \"/d\""),
        "{v1}"
    );
    let v3 = set(
        "version = 3\n[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = ''\n",
        "/d",
    );
    assert!(v3.contains("  config_path = '/d'"), "{v3}");
    let v4 = parse("version = 4\n").unwrap();
    assert_eq!(v4.version(), ConfigVersion::V4);
    assert!(
        v4.with_config_path("/d")
            .contains("io.containerd.cri.v1.images")
    );
}

#[test]
fn missing_tables_are_created_as_headers_in_the_files_quote_style() {
    let single = set(
        "version = 3\n[plugins.'io.containerd.cri.v1.runtime']\n  x = 1\n",
        "/d",
    );
    assert!(
        // Keys follow the file's two-space indentation.
        single.contains("[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = \"/d\""),
        "{single}"
    );
    let double = set("version = 2\n", "/d");
    assert!(
        double.contains("[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"/d\""),
        "{double}"
    );
    // The result must parse back to the value we set.
    assert_eq!(parse(&double).unwrap().config_path(), Some("/d"));
    assert_eq!(parse(&single).unwrap().config_path(), Some("/d"));
}

#[test]
fn dotted_keys_and_inline_tables_are_edited_in_place() {
    let dotted =
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nregistry.config_path = \"/old\"\n";
    let out = set(dotted, "/new");
    assert_eq!(out, dotted.replace("/old", "/new"));
    let inline = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nregistry = { config_path = \"/old\" }\n";
    let out = set(inline, "/new");
    assert_eq!(out, inline.replace("/old", "/new"));
    let inline_new = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nregistry = { }\n";
    let out = set(inline_new, "/new");
    assert_eq!(parse(&out).unwrap().config_path(), Some("/new"), "{out}");
}

#[test]
fn crlf_and_missing_final_newline_survive() {
    let crlf = "version = 2\r\n\r\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\r\n  config_path = \"\"\r\n";
    let out = set(crlf, "/d");
    assert_eq!(out, crlf.replace("\"\"", "\"/d\""));
    let bare = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"\"";
    assert_eq!(set(bare, "/d"), bare.replace("\"\"", "\"/d\""));
}

#[test]
fn unchanged_value_returns_the_exact_bytes() {
    let text = "version=2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path='/d'   \n";
    assert_eq!(set(text, "/d"), text);
}

#[test]
fn wrong_types_name_file_line_and_table() {
    let err = parse(
        "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = 42\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("/etc/containerd/config.toml:4:1"), "{err}");
    assert!(err.contains("config_path is an integer"), "{err}");
    let err = parse("version = 2\n[plugins]\n\"io.containerd.grpc.v1.cri\" = 3\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains(":3:1") && err.contains("a table"), "{err}");
    let err = parse("version = \"2\"\n").unwrap_err().to_string();
    assert!(err.contains(":1:1") && err.contains("version"), "{err}");
    let err = parse("version = 7\n").unwrap_err().to_string();
    assert!(err.contains("1, 2, 3 or 4"), "{err}");
}

#[test]
fn syntax_errors_name_line_and_column() {
    let err = parse("version = 2\n[plugins\n").unwrap_err().to_string();
    assert!(err.contains("/etc/containerd/config.toml:2:"), "{err}");
    assert!(err.contains("invalid TOML"), "{err}");
}

#[test]
fn finds_legacy_mirrors_and_tls_configs_with_lines() {
    let text = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors]\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://m\"]\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"r:5000\".tls]\n  insecure_skip_verify = true\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"r:5000\".auth]\n";
    let cfg = parse(text).unwrap();
    assert_eq!(cfg.mirrors().len(), 1);
    assert!(cfg.mirrors()[0].table.ends_with("mirrors.\"docker.io\""));
    assert!(
        cfg.mirrors()[0].location.contains(":3:"),
        "{:?}",
        cfg.mirrors()
    );
    assert_eq!(cfg.tls_configs().len(), 1);
    assert!(
        cfg.tls_configs()[0].location.contains(":5:"),
        "{:?}",
        cfg.tls_configs()
    );
}

#[test]
fn empty_mirrors_table_is_harmless() {
    let cfg =
        parse("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors]\n").unwrap();
    assert!(cfg.mirrors().is_empty());
}

#[test]
fn templates_parse_for_every_version() {
    for v in [ConfigVersion::V2, ConfigVersion::V3, ConfigVersion::V4] {
        let cfg = ContainerdConfig::from_template(v);
        assert_eq!(cfg.version(), v);
        let out = cfg.with_config_path("/etc/containerd/certs.d");
        assert_eq!(
            parse(&out).unwrap().config_path(),
            Some("/etc/containerd/certs.d")
        );
    }
}

/// No input makes certsd panic, and every edit it accepts parses back to the
/// value it set: truncations and byte substitutions of a real default config.
#[test]
fn mangled_configs_never_panic_and_edits_round_trip() {
    let base = include_str!("../../testdata/example/etc/containerd/config.toml");
    let bytes = base.as_bytes();
    let mut inputs: Vec<Vec<u8>> = (0..bytes.len())
        .step_by(37)
        .map(|n| bytes[..n].to_vec())
        .collect();
    for (i, at) in (0..bytes.len()).step_by(23).enumerate() {
        let mut mangled = bytes.to_vec();
        mangled[at] = [b'"', b'\'', b'[', b']', b'=', b'\n', b'.', 0xff][i % 8];
        inputs.push(mangled);
    }
    let mut accepted = 0;
    for input in &inputs {
        let Ok(cfg) = ContainerdConfig::parse(Path::new("/c.toml"), input) else {
            continue;
        };
        accepted += 1;
        let out = cfg.with_config_path("/etc/containerd/certs.d");
        let back = parse(&out).unwrap_or_else(|e| panic!("edit broke the file: {e}\n{out}"));
        assert_eq!(back.config_path(), Some("/etc/containerd/certs.d"));
    }
    assert!(
        accepted > 50,
        "too few inputs parsed to mean anything: {accepted}"
    );
}

#[test]
fn legacy_mirrors_and_configs_report_their_values_and_lines() {
    let text = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors]\n    [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n      endpoint = [\"https://m1.example\", \"http://m2.example:5000\"]\n  [plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"r.example:5000\".tls]\n    ca_file = \"/etc/ca.crt\"\n    insecure_skip_verify = false\n  [plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"auth.example\".auth]\n    username = \"u\"\n";
    let config = parse(text).unwrap();
    let mirrors = config.mirrors();
    assert_eq!(mirrors.len(), 1);
    assert_eq!(mirrors[0].namespace, "docker.io");
    assert_eq!(
        mirrors[0].endpoints,
        ["https://m1.example", "http://m2.example:5000"]
    );
    assert_eq!(mirrors[0].line, 4);
    let configs = config.configs();
    assert_eq!(configs.len(), 2);
    let tls = configs[0].tls.as_ref().unwrap();
    assert_eq!(
        (configs[0].host.as_str(), configs[0].line),
        ("r.example:5000", 6)
    );
    assert_eq!(tls.ca_file.as_deref(), Some("/etc/ca.crt"));
    assert_eq!(
        (tls.cert_file.as_deref(), tls.insecure_skip_verify),
        (None, Some(false))
    );
    assert!(configs[1].tls.is_none() && configs[1].has_auth);
    assert_eq!(config.tls_configs().len(), 1);
}

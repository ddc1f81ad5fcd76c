//! config.toml as the target containerd reads it: can it be read, does its
//! `version` fit, which CRI `registry` table counts (containerd 2.x
//! migrates version 1 and 2 files in memory, 1.x ignores the 2.x names),
//! what `config_path` says, and the legacy tables that kill the CRI plugin
//! beside it (the rule shared with the planner, `core::rules`).

use std::fmt::Write as _;

use crate::core::rules;
use crate::formats::containerd_config::{ContainerdConfig, WrittenRegistry};
use crate::formats::toml_util::Located;
use crate::node::{Node, NodePath, list_dir};
use crate::settings::DEFAULT_CERTS_DIR;
use crate::version::{self, ConfigVersion, ContainerdVersion};

use super::{Code, Finding, Scene, Severity, imports};

/// What the hosts checks need from the config.
pub struct ConfigFacts {
    /// The hosts directories containerd reads, in order.
    pub dirs: Vec<NodePath>,
}

/// Checks config.toml (and its drop-ins); says where the hosts files are.
pub fn check(scene: &Scene<'_>, v: ContainerdVersion, out: &mut Vec<Finding>) -> ConfigFacts {
    let path = scene.config_path;
    out.extend(version_findings(scene, v));
    let node = match scene.node {
        Ok(node) if node.config_file().is_some() => node,
        Ok(_) => {
            out.push(missing_config(scene));
            return fallback_dirs(scene);
        }
        Err(err) => {
            out.push(unreadable(path, err));
            return fallback_dirs(scene);
        }
    };
    let config = node.config();
    let fits = check_version(scene, config, v, out);
    let (table, ignored) = effective_table(config, v);
    // A version containerd cannot read at all is one finding, not one per table.
    for (t, why) in ignored.iter().filter(|_| fits) {
        out.push(wrong_table(path, t, why));
    }
    let config_path = table.as_ref().and_then(|t| t.config_path.clone());
    let line = table.as_ref().map_or(0, |t| match t.config_path_line {
        0 => t.line,
        l => l,
    });
    let dirs = config_path_findings(scene, config_path.as_deref(), line, v, out);
    if config_path.as_deref().is_some_and(|p| !p.is_empty()) {
        conflicts(scene, config, out);
    }
    if let Some(t) = &table {
        deprecated(path, config, t, scene, out);
    }
    imports::check(scene, node, config_path.as_deref(), v, out);
    ConfigFacts { dirs }
}

/// containerd-too-old, and which version the rules assume when none is known.
fn version_findings(scene: &Scene<'_>, v: ContainerdVersion) -> Vec<Finding> {
    let path = scene.config_path;
    let mut out = Vec::new();
    if (v.major, v.minor) < (1, 5) {
        out.push(
            Finding::new(
                Code::ContainerdTooOld,
                path,
                0,
                format!(
                    "containerd {v} has no registry config_path (it arrived in 1.5): the CRI \
                     plugin never reads hosts.toml files"
                ),
            )
            .fix("upgrade containerd to 1.6 or later (1.6 and 1.7 are the oldest lines still maintained)"),
        );
    }
    if scene.target.is_none() {
        out.push(
            Finding::new(
                Code::ContainerdUnknown,
                path,
                0,
                format!(
                    "no containerd binary answered `containerd --version`; judging the files as \
                     containerd {v} would read them"
                ),
            )
            .fix("certsd doctor --containerd-version X.Y.Z (the version the node runs)"),
        );
    }
    out
}

fn missing_config(scene: &Scene<'_>) -> Finding {
    Finding::new(
        Code::ConfigUnreadable,
        scene.config_path,
        0,
        "config.toml does not exist: containerd runs on its defaults, which set no \
         config_path, so no hosts.toml is read",
    )
    .fix(apply_cmd(scene, ""))
}

fn unreadable(path: &NodePath, err: &anyhow::Error) -> Finding {
    let (line, message) = match err.downcast_ref::<Located>() {
        Some(located) => (located.place.line, located.message.clone()),
        None => (0, format!("{err:#}")),
    };
    let message = super::bare(&message, path.as_str());
    Finding::new(Code::ConfigUnreadable, path, line, message).fix(
        "fix the file at that line (containerd refuses to start or ignores the setting); \
         `containerd config dump` shows how containerd reads it",
    )
}

/// Without a readable config: the named directory, else the default.
fn fallback_dirs(scene: &Scene<'_>) -> ConfigFacts {
    ConfigFacts {
        dirs: vec![
            scene
                .certs_dir
                .cloned()
                .unwrap_or_else(|| NodePath::fixed(DEFAULT_CERTS_DIR)),
        ],
    }
}

/// `certsd apply` with `--config` when the config is not the default one.
pub fn apply_cmd(scene: &Scene<'_>, args: &str) -> String {
    let mut cmd = String::from("certsd apply");
    if scene.config_path.as_str() != crate::settings::DEFAULT_CONFIG {
        cmd.push_str(" --config ");
        cmd.push_str(scene.config_path.as_str());
    }
    if !args.is_empty() {
        cmd.push(' ');
        cmd.push_str(args);
    }
    cmd
}

/// config-version-mismatch / -migrated, through the planner's own rule.
fn check_version(
    scene: &Scene<'_>,
    config: &ContainerdConfig,
    v: ContainerdVersion,
    out: &mut Vec<Finding>,
) -> bool {
    let path = scene.config_path;
    let line = config.declared_version().map_or(0, |(_, l)| l);
    let target = version::Target {
        version: v,
        source: scene
            .target
            .map_or_else(|| "assumed".to_owned(), |t| t.source.clone()),
    };
    match version::check_fit(config.version(), &target) {
        // Before 1.5 there is no config_path at all: containerd-too-old says so.
        Err(_) if (v.major, v.minor) < (1, 5) => {}
        Err(err) => out.push(
            Finding::new(Code::ConfigVersionMismatch, path, line, err.to_string()).fix(format!(
                "write the file for containerd {v}: `containerd config default` shows its layout \
                 ({})",
                apply_cmd(scene, "") + " then sets config_path in it"
            )),
        ),
        Ok(Some(warning)) => out.push(
            Finding::new(Code::ConfigVersionMigrated, path, line, warning).fix(
                "containerd config migrate > config.toml.new, review it, then replace config.toml",
            ),
        ),
        Ok(None) => return true,
    }
    !matches!(out.last(), Some(f) if f.code == Code::ConfigVersionMismatch)
}

/// The registry table containerd `v` reads from this file, and every other
/// table with settings that it ignores (with why). DESIGN.md §1, facts §1–2.
fn effective_table(
    config: &ContainerdConfig,
    v: ContainerdVersion,
) -> (Option<WrittenRegistry>, Vec<(WrittenRegistry, String)>) {
    let version = config.version();
    let tables = config.registry_tables();
    let has = |p: &str| tables.iter().any(|t| t.plugin == p);
    // The planner's rule (formats::containerd_config::effective) decides;
    // only the file certsd refuses to edit (a version 1 CRI table on 2.x)
    // is judged here per release: 2.3+ migrate it, 2.0-2.2 drop it.
    let read: Option<&str> = match config.effective(Some(v)) {
        // 1.x ignores every section of a version 3 or 4 file.
        _ if v.major < 2 && version >= ConfigVersion::V3 => None,
        Ok(effective) => Some(effective.table.path()[1]),
        Err(_) if v.major >= 2 && v.minor >= 3 && has("cri") => Some("cri"),
        Err(_) if v.major >= 2 => Some("io.containerd.cri.v1.images"),
        Err(_) => None,
    };
    let mut chosen = None;
    let mut ignored = Vec::new();
    for t in tables {
        if Some(t.plugin) == read {
            chosen = Some(t);
        } else if t.config_path.is_some() || !t.legacy.is_empty() || !t.keys.is_empty() {
            let why = ignored_why(t.plugin, version, v);
            ignored.push((t, why));
        }
    }
    (chosen, ignored)
}

fn ignored_why(plugin: &str, version: ConfigVersion, v: ContainerdVersion) -> String {
    let n = version as u8;
    match (v.major < 2, plugin) {
        (true, "io.containerd.cri.v1.images") => {
            format!(
                "containerd {v} has no plugin of that name (it is 2.x's): the table is ignored in silence"
            )
        }
        (true, "cri") => format!(
            "containerd {v} refuses `plugins.cri` in a version {n} file (invalid plugin key URI \"cri\") \
             and does not start"
        ),
        (true, _) => {
            format!("containerd {v} reads a version {n} file's registry from `plugins.cri` only")
        }
        (false, "cri") => format!(
            "containerd {v} renames `cri` while migrating a version 1 file but then skips its \
             registry (the file becomes version 3): config_path is dropped"
        ),
        (false, "io.containerd.cri.v1.images") => format!(
            "containerd {v} migrates this version 2 file and replaces the whole images registry \
             table with the io.containerd.grpc.v1.cri one: these settings are lost"
        ),
        (false, _) => format!(
            "containerd {v} does not migrate a version {n} file, so the io.containerd.grpc.v1.cri \
             registry is an unknown key it ignores"
        ),
    }
}

fn wrong_table(path: &NodePath, t: &WrittenRegistry, why: &str) -> Finding {
    let what = if t.config_path.is_some() {
        "config_path"
    } else {
        "registry settings"
    };
    Finding::new(
        Code::ConfigPathWrongTable,
        path,
        t.line,
        format!("{what} in [{}]: {why}", t.name),
    )
    .fix("move the settings into the registry table this containerd reads (`containerd config dump | grep -A3 registry]` shows it), or run certsd apply, which writes config_path there")
}

/// config-path-unset / -list / -missing-dir; returns the directories read.
fn config_path_findings(
    scene: &Scene<'_>,
    value: Option<&str>,
    line: usize,
    v: ContainerdVersion,
    out: &mut Vec<Finding>,
) -> Vec<NodePath> {
    let path = scene.config_path;
    let named = scene.certs_dir.cloned();
    let default = || {
        named
            .clone()
            .unwrap_or_else(|| NodePath::fixed(DEFAULT_CERTS_DIR))
    };
    let Some(value) = value.filter(|p| !p.is_empty()) else {
        out.push(unset(scene, line, v));
        return vec![default()];
    };
    if value.contains(':') {
        let severity = if (v.major, v.minor) >= (2, 1) {
            Severity::Error
        } else {
            Severity::Warning
        };
        out.push(
            Finding::new(
                Code::ConfigPathList,
                path,
                line,
                format!(
                    "config_path {value:?} is a list: containerd 2.1+ pulls through the transfer \
                     service, which does not split it, so every hosts.toml is skipped"
                ),
            )
            .severity(severity)
            .fix(apply_cmd(scene, "--certs-dir /etc/containerd/certs.d")),
        );
    }
    let mut dirs = Vec::new();
    for part in value.split(':').filter(|p| !p.is_empty()) {
        match NodePath::parse("config_path", std::path::Path::new(part), DEFAULT_CERTS_DIR) {
            Ok(dir) => {
                if !matches!(list_dir(scene.root, &dir), Ok(Some(_))) {
                    out.push(missing_dir(scene, &dir, line));
                }
                dirs.push(dir);
            }
            Err(err) => out.push(
                Finding::new(Code::ConfigPathMissingDir, path, line, format!("{err:#}"))
                    .fix(apply_cmd(scene, "--certs-dir /etc/containerd/certs.d")),
            ),
        }
    }
    match named {
        Some(dir) => vec![dir],
        None if dirs.is_empty() => vec![default()],
        None => dirs,
    }
}

fn unset(scene: &Scene<'_>, line: usize, v: ContainerdVersion) -> Finding {
    let mut message = String::from(
        "no config_path in the CRI registry table: containerd reads no hosts.toml at all",
    );
    if (v.major, v.minor) >= (2, 2) {
        message = format!(
            "no config_path: containerd {v} defaults to \"/etc/containerd/certs.d:/etc/docker/certs.d\", \
             a list that its transfer-service pulls do not split, so hosts.toml files are skipped"
        );
    }
    Finding::new(Code::ConfigPathUnset, scene.config_path, line, message).fix(
        apply_cmd(scene, "")
            + " (sets config_path = \"/etc/containerd/certs.d\"; restart containerd after)",
    )
}

fn missing_dir(scene: &Scene<'_>, dir: &NodePath, line: usize) -> Finding {
    Finding::new(
        Code::ConfigPathMissingDir,
        scene.config_path,
        line,
        format!("config_path names {dir}, which does not exist (or is not a directory): no hosts.toml is read"),
    )
    .fix(format!("mkdir -p {dir}, then certsd apply --host HOST ... for each registry"))
}

/// legacy-mirrors-conflict, legacy-tls-conflict (`core::rules`).
fn conflicts(scene: &Scene<'_>, config: &ContainerdConfig, out: &mut Vec<Finding>) {
    let path = scene.config_path;
    let Ok(effective) = config.effective(scene.target.map(|t| t.version)) else {
        return;
    };
    let found = rules::cri_conflicts(&effective);
    for m in found.mirrors {
        let mirrors: Vec<String> = m
            .endpoints
            .iter()
            .map(|e| format!("--mirror {e}"))
            .collect();
        out.push(
            Finding::new(
                Code::LegacyMirrorsConflict,
                path,
                m.line,
                format!(
                    "[{}] is set together with config_path: containerd's CRI plugin fails to load \
                     (`mirrors` cannot be set when `config_path` is provided), so nothing pulls",
                    m.table
                ),
            )
            .fix(format!(
                "delete [{}], then {}",
                m.table,
                apply_cmd(
                    scene,
                    &format!("--host {} {}", mirror_host(&m.namespace), mirrors.join(" "))
                )
            )),
        );
    }
    for c in found.tls {
        let tls = c.tls.clone().unwrap_or_default();
        let mut flags = format!("--host {}", c.host);
        for (flag, value) in [
            ("--ca", &tls.ca_file),
            ("--client-cert", &tls.cert_file),
            ("--client-key", &tls.key_file),
        ] {
            if let Some(value) = value {
                let _ = write!(flags, " {flag} {value}");
            }
        }
        if tls.insecure_skip_verify == Some(true) {
            flags.push_str(" --skip-verify");
        }
        out.push(
            Finding::new(
                Code::LegacyTlsConflict,
                path,
                c.line,
                format!(
                    "[{}] is set together with config_path: containerd 1.x's CRI plugin fails to \
                     load (`configs.tls` cannot be set when `config_path` is provided)",
                    c.table
                ),
            )
            .fix(format!(
                "delete [{}], then {}",
                c.table,
                apply_cmd(scene, &flags)
            )),
        );
    }
}

/// `*` (every registry) is the `_default` directory.
fn mirror_host(namespace: &str) -> &str {
    if namespace == "*" {
        "_default"
    } else {
        namespace
    }
}

/// legacy-config-deprecated for `configs`/`auths` (and `mirrors` without `config_path`).
fn deprecated(
    path: &NodePath,
    config: &ContainerdConfig,
    t: &WrittenRegistry,
    scene: &Scene<'_>,
    out: &mut Vec<Finding>,
) {
    let conflicting = t.config_path.as_deref().is_some_and(|p| !p.is_empty());
    for (key, line) in &t.legacy {
        if *key == "mirrors" && conflicting {
            continue;
        }
        let auth = *key != "mirrors" && config.configs().iter().any(|c| c.has_auth);
        let fix = match *key {
            "mirrors" => {
                apply_cmd(scene, "--host HOST --mirror URL")
                    + " for each mirror, then delete the table"
            }
            _ if auth => {
                apply_cmd(
                    scene,
                    "--host HOST --header 'Authorization: Basic BASE64(user:password)'",
                ) + " (a static header is hosts.toml's way to send credentials), then delete the table"
            }
            _ => {
                apply_cmd(scene, "--host HOST --ca FILE")
                    + " (or --client-cert/--client-key, --skip-verify), then delete the table"
            }
        };
        out.push(
            Finding::new(
                Code::LegacyConfigDeprecated,
                path,
                *line,
                format!(
                    "[{}.{key}] is deprecated and removed in containerd 2.4; while it is set, \
                     containerd pulls without the transfer service",
                    t.name
                ),
            )
            .fix(fix),
        );
    }
}

/// A node that has a config.toml readable as text: used by imports.
pub fn config_dir(node: &Node) -> NodePath {
    node.config_path()
        .parent()
        .unwrap_or_else(|| NodePath::fixed("/"))
}

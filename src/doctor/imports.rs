//! config.toml's `imports`, merged as the target containerd merges them
//! (research notes §3): 1.x replaces a plugin's whole table with a drop-in's,
//! 2.x merges tables deeply but decides migration on the merged `version`,
//! so a version 2 drop-in under a version 3 file wipes its registry table.

use std::path::Path;

use crate::core::rules;
use crate::formats::containerd_config::ContainerdConfig;
use crate::formats::toml_util::Located;
use crate::node::{Node, NodePath, list_dir, read_existing};
use crate::version::{ConfigVersion, ContainerdVersion};

use super::config::config_dir;
use super::{Code, Finding, Scene, Severity};

/// The CRI plugin table that holds the registry in a 1.x version 2 file.
const GRPC: &str = "io.containerd.grpc.v1.cri";

/// Checks every drop-in; `main_path` is config.toml's effective `config_path`.
pub fn check(
    scene: &Scene<'_>,
    node: &Node,
    main_path: Option<&str>,
    v: ContainerdVersion,
    out: &mut Vec<Finding>,
) {
    let dir = config_dir(node);
    for pattern in node.config().imports() {
        for file in expand(scene, &dir, &pattern, v, out) {
            let bytes = match read_existing(scene.root, &file) {
                Ok(Some(e)) => e.bytes,
                Ok(None) => {
                    out.push(missing(scene, &file));
                    continue;
                }
                Err(err) => {
                    out.push(Finding::new(
                        Code::ConfigUnreadable,
                        &file,
                        0,
                        format!("{err:#}"),
                    ));
                    continue;
                }
            };
            match ContainerdConfig::parse(file.as_path(), &bytes) {
                Ok(drop_in) => judge(scene, node.config(), &file, &drop_in, main_path, v, out),
                Err(err) => {
                    let line = err.downcast_ref::<Located>().map_or(0, |l| l.place.line);
                    let message = err
                        .downcast_ref::<Located>()
                        .map_or_else(|| format!("{err:#}"), |l| l.message.clone());
                    out.push(
                        Finding::new(
                            Code::ConfigUnreadable,
                            &file,
                            line,
                            format!("drop-in: {message}"),
                        )
                        .fix("fix the drop-in at that line: containerd refuses to start with it"),
                    );
                }
            }
        }
    }
}

fn missing(scene: &Scene<'_>, file: &NodePath) -> Finding {
    Finding::new(
        Code::ImportsMissing,
        scene.config_path,
        0,
        format!("imports names {file}, which does not exist: containerd fails to start (2.x's `config dump` still exits 0)"),
    )
    .fix(format!("create {file} or remove it from imports (a `*` pattern may match nothing)"))
}

/// The files an `imports` entry names, as containerd resolves them.
fn expand(
    scene: &Scene<'_>,
    dir: &NodePath,
    pattern: &str,
    v: ContainerdVersion,
    out: &mut Vec<Finding>,
) -> Vec<NodePath> {
    let joined = if pattern.starts_with('/') {
        pattern.to_owned()
    } else {
        format!("{}/{pattern}", dir.as_str().trim_end_matches('/'))
    };
    let Ok(path) = NodePath::parse(
        "imports",
        Path::new(&joined),
        "/etc/containerd/conf.d/*.toml",
    ) else {
        return Vec::new();
    };
    if !pattern.contains('*') {
        return vec![path];
    }
    if !pattern.starts_with('/') && relative_globs_use_cwd(v) {
        out.push(
            Finding::new(
                Code::ImportsOverride,
                scene.config_path,
                0,
                format!("imports {pattern:?} is a relative pattern: containerd {v} resolves it against its working directory, not config.toml's, and usually finds nothing"),
            )
            .severity(Severity::Warning)
            .fix(format!("write it as an absolute path: {joined}")),
        );
    }
    let (Some(parent), name) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let Ok(Some(entries)) = list_dir(scene.root, &parent) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter(|e| !e.is_dir && wildcard(&name, &e.name))
        .map(|e| parent.join(&e.name))
        .collect()
}

/// 1.6.0–1.6.28 and 1.7.0–1.7.15 glob relative imports from the process CWD.
fn relative_globs_use_cwd(v: ContainerdVersion) -> bool {
    match (v.major, v.minor) {
        (1, 6) => v.patch < 29,
        (1, 7) => v.patch < 16,
        (1, _) => true,
        _ => false,
    }
}

/// `*` matches any run of characters, `?` one; everything else itself.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What one drop-in does to the registry settings.
fn judge(
    scene: &Scene<'_>,
    main: &ContainerdConfig,
    file: &NodePath,
    drop_in: &ContainerdConfig,
    main_path: Option<&str>,
    v: ContainerdVersion,
    out: &mut Vec<Finding>,
) {
    let fix = "put the registry settings (config_path included) in one file: certsd manages them in config.toml";
    let override_at = |line: usize, message: String| {
        Finding::new(Code::ImportsOverride, file, line, message).fix(fix)
    };
    if v.major < 2 {
        if let Some((_, line)) = drop_in
            .plugin_tables()
            .into_iter()
            .find(|(p, _)| p == GRPC || p == "cri")
            && drop_in.config_path().is_none_or(str::is_empty)
            && main_path.is_some_and(|p| !p.is_empty())
        {
            out.push(override_at(line, format!(
                "this drop-in sets the CRI plugin table, and containerd {v} replaces a plugin's whole \
                 table with the drop-in's: config.toml's config_path {:?} is lost",
                main_path.unwrap_or_default()
            )));
        }
    } else {
        judge_2x(main, drop_in, main_path, v, &override_at, out);
    }
    for (key, line) in registry_sets(drop_in) {
        if key == "config_path" && v.major < 2 {
            out.push(
                override_at(
                    line,
                    format!(
                        "this drop-in sets config_path {:?}; it replaces config.toml's",
                        drop_in.config_path().unwrap_or_default()
                    ),
                )
                .severity(Severity::Warning),
            );
        }
    }
    let Ok(effective) = drop_in.effective(scene.target.map(|t| t.version)) else {
        return;
    };
    let conflicts = rules::cri_conflicts(&effective);
    let path_set = main_path.is_some_and(|p| !p.is_empty())
        || drop_in.config_path().is_some_and(|p| !p.is_empty());
    for m in conflicts.mirrors.iter().filter(|_| path_set) {
        out.push(
            Finding::new(
                Code::LegacyMirrorsConflict,
                file,
                m.line,
                format!("[{}] in a drop-in, merged with config_path: the CRI plugin fails to load", m.table),
            )
            .fix(format!("delete [{}] and move the mirror into hosts.toml: certsd apply --host {} --mirror URL", m.table, m.namespace)),
        );
    }
}

/// The 2.x rules: deep merge, migration decided on the merged version.
fn judge_2x(
    main: &ContainerdConfig,
    drop_in: &ContainerdConfig,
    main_path: Option<&str>,
    v: ContainerdVersion,
    override_at: &dyn Fn(usize, String) -> Finding,
    out: &mut Vec<Finding>,
) {
    let main_v = main.declared_version().map(|(v, _)| v);
    let drop_v = drop_in.declared_version();
    let grpc_registry = drop_in
        .registry_tables()
        .into_iter()
        .find(|t| t.plugin == GRPC);
    if v.minor < 3
        && let (Some((dv, vline)), Some(mv)) = (drop_v, main_v)
    {
        if dv < ConfigVersion::V3
            && mv >= ConfigVersion::V3
            && let Some(t) = &grpc_registry
        {
            out.push(override_at(
                t.line.max(vline),
                format!(
                    "this version {} drop-in makes the merged config version {}, so containerd {v} \
                 migrates it and replaces the images plugin's whole registry table with this one: \
                 config.toml's config_path and headers are lost",
                    dv as u8, dv as u8
                ),
            ));
        }
        if dv >= ConfigVersion::V3
            && mv < ConfigVersion::V3
            && main_path.is_some_and(|p| !p.is_empty())
        {
            out.push(override_at(vline, format!(
                "this version {} drop-in makes the merged config version {}: containerd {v} then \
                 skips migrating config.toml's io.containerd.grpc.v1.cri registry, so its \
                 config_path is ignored",
                dv as u8, dv as u8
            )));
        }
    }
    if let Some(path) = drop_in.config_path()
        && Some(path) != main_path
    {
        let line = drop_in.config_path_line();
        let severity = if path.is_empty() {
            Severity::Error
        } else {
            Severity::Warning
        };
        out.push(override_at(line, format!(
            "this drop-in sets config_path {path:?}, which wins over config.toml's {:?} when containerd {v} merges them",
            main_path.unwrap_or_default()
        )).severity(severity));
    }
}

/// The `config_path` a drop-in sets in its own version's table (for 1.x notes).
fn registry_sets(drop_in: &ContainerdConfig) -> Vec<(&'static str, usize)> {
    drop_in
        .config_path()
        .map(|_| ("config_path", drop_in.config_path_line()))
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_filepath_glob() {
        assert!(wildcard("*.toml", "a.toml"));
        assert!(wildcard("*.toml", ".toml"));
        assert!(!wildcard("*.toml", "a.toml.bak"));
        assert!(wildcard("10-*.t?ml", "10-x.toml"));
        assert!(!wildcard("a", "b"));
    }

    #[test]
    fn relative_globs_fixed_in_1_6_29_and_1_7_16() {
        let v = |s: &str| s.parse().unwrap();
        assert!(relative_globs_use_cwd(v("1.6.20")));
        assert!(!relative_globs_use_cwd(v("1.6.29")));
        assert!(relative_globs_use_cwd(v("1.7.15")));
        assert!(!relative_globs_use_cwd(v("1.7.16")));
        assert!(!relative_globs_use_cwd(v("2.0.0")));
    }
}

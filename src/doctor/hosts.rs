//! The hosts directories as containerd looks them up (research notes §5):
//! for a registry `h:p` the directory `h_p_`, then `h:p`, then `_default`;
//! inside, `hosts.toml`, or when it is missing, empty or refused, the
//! docker-style `*.crt` / `*.cert` + `*.key` files. The file's own fields
//! are judged in `hosts_fields`.

use crate::formats::hosts_toml::{HostsFile, HostsRead};
use crate::formats::toml_util::Located;
use crate::node::{DirEntry, NodePath, Root, list_dir, read_existing};
use crate::settings::{DoctorSettings, RegistryHost};
use crate::version::ContainerdVersion;

use super::config::ConfigFacts;
use super::{Code, Finding, Scene, hosts_fields};

/// One host directory (or, for a `--host` without one, where it would be).
#[derive(Debug, Clone)]
pub struct HostDir {
    /// The registry as images name it (`h:p`), or `_default`.
    pub host: String,
    pub dir: NodePath,
    pub hosts_toml: NodePath,
    /// The directory exists.
    pub exists: bool,
    /// Its findings are wanted (no `--host`, or it is what a `--host` finds).
    pub wanted: bool,
    /// hosts.toml as read, when it parses (even if containerd then drops it).
    pub parsed: Option<HostsRead>,
    /// containerd uses `parsed` (otherwise it reads the directory docker-style).
    pub used: bool,
    /// `*.crt` files: the CAs of a docker-style directory.
    pub docker_cas: Vec<NodePath>,
    /// `*.cert` + `*.key` pairs of a docker-style directory.
    pub docker_clients: Vec<(NodePath, NodePath)>,
}

/// Finds and checks every host directory.
pub fn check(
    scene: &Scene<'_>,
    facts: &ConfigFacts,
    settings: &DoctorSettings,
    out: &mut Vec<Finding>,
) -> Vec<HostDir> {
    let v = scene.version();
    let mut found = Vec::new();
    for dir in &facts.dirs {
        let Ok(Some(entries)) = list_dir(scene.root, dir) else {
            continue;
        };
        for entry in &entries {
            if entry.is_dir {
                found.push(check_dir(scene.root, dir, &entry.name, v, out));
            } else {
                out.push(stray_file(dir, &entry.name));
            }
        }
        shadowed_pairs(&entries, dir, out);
    }
    port_mismatches(&found, out);
    for host in &settings.hosts {
        want(host, &mut found, facts, out);
    }
    if settings.hosts.is_empty() {
        for d in &mut found {
            d.wanted = true;
        }
    }
    if let Some(dir) = facts.dirs.first().filter(|_| !found.is_empty()) {
        out.push(
            Finding::new(
                Code::CtrNeedsHostsDir,
                dir,
                0,
                "ctr reads none of these files unless given --hosts-dir; nerdctl reads only \
                 /etc/containerd/certs.d and /etc/docker/certs.d; crictl and the kubelet go \
                 through CRI and follow config_path",
            )
            .fix(format!("ctr image pull --hosts-dir {dir} IMAGE")),
        );
    }
    found
}

/// The registry a directory name stands for: `h_p_` is `h:p`.
fn host_of(name: &str) -> String {
    if let Some(stem) = name.strip_suffix('_')
        && let Some((host, port)) = stem.rsplit_once('_')
        && !host.is_empty()
        && !port.is_empty()
        && port.chars().all(|c| c.is_ascii_digit())
    {
        return format!("{host}:{port}");
    }
    name.to_owned()
}

/// containerd's `hostDirectory`: the last `:` becomes `_`, plus a `_`.
fn underscore_name(host: &str) -> Option<String> {
    let (name, port) = host.rsplit_once(':')?;
    (!name.ends_with(':') && port.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("{name}_{port}_"))
}

fn check_dir(
    root: &Root,
    parent: &NodePath,
    name: &str,
    v: ContainerdVersion,
    out: &mut Vec<Finding>,
) -> HostDir {
    let dir = parent.join(name);
    let host = host_of(name);
    let entries = list_dir(root, &dir).ok().flatten().unwrap_or_default();
    let mut d = HostDir {
        host: host.clone(),
        hosts_toml: dir.join("hosts.toml"),
        dir,
        exists: true,
        wanted: false,
        parsed: None,
        used: false,
        docker_cas: Vec::new(),
        docker_clients: Vec::new(),
    };
    docker_style(&mut d, &entries);
    let mut found = Vec::new();
    match read_existing(root, &d.hosts_toml) {
        Err(err) => found.push(parse_error(&d, 0, &format!("{err:#}"))),
        Ok(None) => found.push(no_hosts_toml(&d, &entries)),
        Ok(Some(e)) if e.bytes.iter().all(u8::is_ascii_whitespace) => found.push(empty(&d)),
        Ok(Some(e)) => match HostsFile::parse(d.hosts_toml.as_path(), &e.bytes) {
            Ok(file) => {
                let read = file.read().clone();
                d.used = hosts_fields::check(&d, &read, v, &mut found);
                d.parsed = Some(read);
            }
            Err(err) => {
                let (line, message) = err.downcast_ref::<Located>().map_or_else(
                    || (0, format!("{err:#}")),
                    |l| (l.place.line, l.message.clone()),
                );
                found.push(parse_error(&d, line, &message));
            }
        },
    }
    out.extend(found.into_iter().map(|f| f.host(&host)));
    d
}

/// Collects the files containerd reads from a directory without hosts.toml.
// containerd matches these suffixes case-sensitively (Go's strings.HasSuffix).
#[allow(clippy::case_sensitive_file_extension_comparisons)]
fn docker_style(d: &mut HostDir, entries: &[DirEntry]) {
    for e in entries.iter().filter(|e| !e.is_dir) {
        if e.name.ends_with(".crt") {
            d.docker_cas.push(d.dir.join(&e.name));
        } else if let Some(stem) = e.name.strip_suffix(".cert") {
            let key = format!("{stem}.key");
            if entries.iter().any(|k| k.name == key) {
                d.docker_clients
                    .push((d.dir.join(&e.name), d.dir.join(&key)));
            }
        }
    }
}

/// What containerd does when it cannot use hosts.toml.
pub fn fallback_note(d: &HostDir) -> String {
    let mut files: Vec<String> = d.docker_cas.iter().map(NodePath::file_name).collect();
    files.extend(d.docker_clients.iter().map(|(c, _)| c.file_name()));
    if files.is_empty() {
        format!(
            "containerd then pulls from the registry itself (https://{}) with the system roots only",
            d.host
        )
    } else {
        format!(
            "containerd then reads the directory docker-style, trusting only {}",
            files.join(", ")
        )
    }
}

pub fn parse_error(d: &HostDir, line: usize, message: &str) -> Finding {
    let message = super::bare(message, d.hosts_toml.as_str());
    Finding::new(
        Code::HostsParseError,
        &d.hosts_toml,
        line,
        format!("containerd cannot parse this file ({message}): it logs one line and ignores the file; {}", fallback_note(d)),
    )
    .fix(format!("fix that line, or rewrite the file: certsd apply --host {} ...", d.host))
}

fn no_hosts_toml(d: &HostDir, entries: &[DirEntry]) -> Finding {
    if let Some(typo) = entries
        .iter()
        .find(|e| !e.is_dir && looks_like_hosts_toml(&e.name))
    {
        return Finding::new(
            Code::HostDirShadowed,
            &d.dir.join(&typo.name),
            0,
            format!(
                "containerd reads only hosts.toml; {} is never read; {}",
                typo.name,
                fallback_note(d)
            ),
        )
        .fix(format!("mv {} {}", d.dir.join(&typo.name), d.hosts_toml));
    }
    Finding::new(
        Code::HostsMissing,
        &d.dir,
        0,
        format!("no hosts.toml in this host directory: {}", fallback_note(d)),
    )
    .fix(format!(
        "certsd apply --host {} --ca FILE (or --skip-verify, --mirror URL ...)",
        d.host
    ))
}

fn empty(d: &HostDir) -> Finding {
    Finding::new(
        Code::HostsMissing,
        &d.hosts_toml,
        0,
        format!("hosts.toml is empty: {}", fallback_note(d)),
    )
    .fix(format!(
        "certsd apply --host {} --ca FILE (or --skip-verify, --mirror URL ...)",
        d.host
    ))
}

/// `host.toml`, `hosts.tml`, `hosts.yaml`, `Hosts.toml`, `hosts.toml.txt` ...
#[allow(clippy::case_sensitive_file_extension_comparisons)] // lower-cased already
fn looks_like_hosts_toml(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    // containerd opens exactly `hosts.toml`: `Hosts.toml` is a typo too.
    name != "hosts.toml"
        && (lower.starts_with("hosts.")
            || lower.starts_with("host.")
            || lower.ends_with(".toml")
            || crate::nearest::distance(&lower, "hosts.toml") <= 2)
}

fn stray_file(dir: &NodePath, name: &str) -> Finding {
    Finding::new(
        Code::HostDirShadowed,
        &dir.join(name),
        0,
        format!("a file directly in the hosts directory is never read: containerd reads {dir}/<host>/hosts.toml"),
    )
    .severity(super::Severity::Warning)
    .fix(format!("move it into {dir}/<host>/ (certsd apply --host HOST ... writes the right layout)"))
}

/// `h_p_` beside `h:p`: containerd finds `h_p_` first.
fn shadowed_pairs(entries: &[DirEntry], parent: &NodePath, out: &mut Vec<Finding>) {
    for e in entries.iter().filter(|e| e.is_dir) {
        let Some(under) = underscore_name(&e.name) else {
            continue;
        };
        if entries.iter().any(|o| o.is_dir && o.name == under) {
            out.push(
                Finding::new(
                    Code::HostDirShadowed,
                    &parent.join(&e.name),
                    0,
                    format!(
                        "{} is never read: containerd looks up {under} first, and it exists",
                        e.name
                    ),
                )
                .host(&e.name)
                .fix(format!(
                    "merge what you need into {}/{under}/hosts.toml and delete {}",
                    parent,
                    parent.join(&e.name)
                )),
            );
        }
    }
}

/// A port-less directory whose server has a port: images name the
/// registry with the port, and containerd looks for that directory.
fn port_mismatches(found: &[HostDir], out: &mut Vec<Finding>) {
    for d in found
        .iter()
        .filter(|d| !d.host.contains(':') && d.host != "_default")
    {
        let Some(server) = d.parsed.as_ref().and_then(|r| r.server.as_deref()) else {
            continue;
        };
        let Ok(e) =
            super::connect::Endpoint::parse(server, &d.host, super::connect::Origin::Server)
        else {
            continue;
        };
        if let Some(port) = e.port.filter(|_| e.host == d.host) {
            let line = d.parsed.as_ref().map_or(0, |r| r.top.line("server"));
            out.push(
                Finding::new(
                    Code::HostDirShadowed,
                    &d.hosts_toml,
                    line,
                    format!("the server has port {port} but the directory has none: images named {}:{port}/... look up {}:{port} and never read this file", d.host, d.host),
                )
                .severity(super::Severity::Warning)
                .host(&d.host)
                .fix(format!("certsd apply --host {}:{port} ... (the directory is named as images name the registry)", d.host)),
            );
        }
    }
}

/// Marks the directory containerd would use for `host`, or adds a
/// placeholder (and findings) when there is none.
fn want(
    host: &RegistryHost,
    found: &mut Vec<HostDir>,
    facts: &ConfigFacts,
    out: &mut Vec<Finding>,
) {
    let name = host.as_str();
    let mut candidates: Vec<String> = underscore_name(name).into_iter().collect();
    candidates.push(name.to_owned());
    candidates.push("_default".to_owned());
    for c in &candidates {
        if let Some(d) = found.iter_mut().find(|d| d.dir.file_name() == *c) {
            d.wanted = true;
            return;
        }
    }
    let root = facts
        .dirs
        .first()
        .cloned()
        .unwrap_or_else(|| NodePath::fixed(crate::settings::DEFAULT_CERTS_DIR));
    let dir = root.join(name);
    let mut f = Finding::new(
        Code::HostsMissing,
        &dir,
        0,
        format!(
            "no host directory for {name}: containerd pulls from {} with the system roots only",
            host.default_server()
        ),
    )
    .host(name)
    .fix(format!(
        "certsd apply --host {name} --ca FILE (or --skip-verify, --mirror URL ...)"
    ));
    if let Some(bare) = found
        .iter()
        .find(|d| name.contains(':') && d.host == host.name())
    {
        f = Finding::new(
            Code::HostDirShadowed,
            &bare.dir,
            0,
            format!("images named {name}/... look up {name}, but only {} exists (no port): this directory is not read for them", bare.dir.file_name()),
        )
        .host(name)
        .fix(format!("certsd apply --host {name} ... (or rename the directory to {name})"));
    }
    out.push(f);
    found.push(HostDir {
        host: name.to_owned(),
        hosts_toml: dir.join("hosts.toml"),
        dir,
        exists: false,
        wanted: true,
        parsed: None,
        used: false,
        docker_cas: Vec::new(),
        docker_clients: Vec::new(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_map_to_registries() {
        assert_eq!(host_of("registry.local_5000_"), "registry.local:5000");
        assert_eq!(host_of("[::1]_5000_"), "[::1]:5000");
        assert_eq!(host_of("registry.local:5000"), "registry.local:5000");
        assert_eq!(host_of("my_dir_"), "my_dir_");
        assert_eq!(underscore_name("h:5000").as_deref(), Some("h_5000_"));
        assert_eq!(underscore_name("h"), None);
    }

    #[test]
    fn hosts_toml_typos_are_recognised() {
        for typo in [
            "host.toml",
            "hosts.tml",
            "Hosts.toml",
            "hosts.yaml",
            "hosts.toml.txt",
            "registry.toml",
        ] {
            assert!(looks_like_hosts_toml(typo), "{typo}");
        }
        for other in ["hosts.toml", "ca.crt", "client.key"] {
            assert!(!looks_like_hosts_toml(other), "{other}");
        }
    }
}

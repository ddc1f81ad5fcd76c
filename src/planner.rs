//! The core: from settings and the files as they are now, compute the plan.
//!
//! It reads, never writes. Every refusal (a config written for another
//! containerd, legacy mirrors, a `config_path` list) happens here, before
//! anything reaches the writer.

use anyhow::{Context, Result, bail};

use crate::containerd_config::ContainerdConfig;
use crate::current::{Existing, file_change, read_existing};
use crate::hosts_toml::{Endpoint, EndpointTrust, HostsFile, HostsSpec};
use crate::issuance::Issuance;
use crate::paths::{NodePath, Root};
use crate::plan::{FileChange, Plan};
use crate::request::{HostRequest, ISSUED_CA_NAME, InputFile};
use crate::settings::{DEFAULT_CERTS_DIR, Settings};
use crate::version::{self, ConfigVersion, Target};

/// Computes every file change for one run.
pub fn plan(settings: &Settings, request: Option<&HostRequest>) -> Result<Plan> {
    let mut plan = Plan::default();
    let existing = read_existing(&settings.root, &settings.config)?;
    let config = load_config(settings, existing.as_ref())?;
    // Without a known containerd, the file's own version is taken as right.
    let target = settings.containerd.clone();
    if let Some(target) = &target
        && let Some(warning) = version::check_fit(config.version(), target)
            .with_context(|| settings.config.to_string())?
    {
        plan.warnings.push(warning);
    }
    refuse_conflicts(settings, &config, target.as_ref())?;
    let imports = config.imports();
    if !imports.is_empty() {
        plan.warnings.push(format!(
            "{} imports {}: containerd merges those files over this one, and one that sets the CRI \
             plugin's table can replace config_path or add registry.mirrors; after the restart, \
             check `containerd config dump | grep config_path`",
            settings.config,
            imports.join(", ")
        ));
    }
    let certs_dir = certs_dir(settings, &config, &mut plan.warnings)?;
    plan.files
        .push(config_change(settings, &config, existing, &certs_dir));
    if let Some(request) = request {
        plan.warnings.extend(request.warnings.iter().cloned());
        host_changes(&settings.root, &certs_dir, request, &mut plan)?;
    }
    Ok(plan)
}

/// The file as parsed, or a new one from the template. An empty file counts as missing.
fn load_config(settings: &Settings, existing: Option<&Existing>) -> Result<ContainerdConfig> {
    match existing {
        Some(file) if !file.bytes.iter().all(u8::is_ascii_whitespace) => {
            ContainerdConfig::parse(settings.config.as_path(), &file.bytes)
        }
        _ => {
            let version = settings
                .containerd
                .as_ref()
                .map_or(ConfigVersion::V2, |t| ConfigVersion::native_for(t.version));
            Ok(ContainerdConfig::from_template(version))
        }
    }
}

fn refuse_conflicts(
    settings: &Settings,
    config: &ContainerdConfig,
    target: Option<&Target>,
) -> Result<()> {
    let mirrors = config.mirrors();
    if !mirrors.is_empty() {
        let list = mirrors
            .iter()
            .map(|m| format!("  {} ({})", m.table, m.location))
            .collect::<Vec<_>>()
            .join("\n");
        bail!(
            "{}: legacy registry mirrors are set, and containerd's CRI plugin fails to load when \
             `mirrors` and `config_path` are both set:\n{list}\nMove each mirror into \
             certs.d/<host>/hosts.toml (certsd apply --host HOST --mirror URL) and delete these \
             tables, then run certsd again. Nothing was written.",
            settings.config
        );
    }
    let one_x = match target {
        Some(t) => t.version.major < 2,
        None => config.version() <= ConfigVersion::V2,
    };
    let tls = config.tls_configs();
    if one_x && !tls.is_empty() {
        let list = tls
            .iter()
            .map(|m| format!("  {} ({})", m.table, m.location))
            .collect::<Vec<_>>()
            .join("\n");
        bail!(
            "{}: containerd 1.x refuses `configs.<host>.tls` together with `config_path` \
             (the CRI plugin fails to load):\n{list}\nMove the TLS settings into hosts.toml \
             (certsd apply --host HOST --ca FILE / --client-cert / --skip-verify) and delete \
             these tables. Nothing was written.",
            settings.config
        );
    }
    Ok(())
}

/// The one hosts directory: `--certs-dir`, else the config's single `config_path`, else the default.
fn certs_dir(
    settings: &Settings,
    config: &ContainerdConfig,
    warnings: &mut Vec<String>,
) -> Result<NodePath> {
    let current = config.config_path().filter(|p| !p.is_empty());
    let list = current.is_some_and(|p| p.contains(':'));
    if let Some(dir) = &settings.certs_dir {
        if let Some(old) = current.filter(|old| !list && *old != dir.as_str()) {
            warnings.push(format!(
                "config_path was {old:?}; it becomes {dir}, and hosts.toml files under {old} will no longer be read"
            ));
        }
        if list {
            warnings.push(format!(
                "config_path {:?} is a list; replacing it with {dir}: containerd 2.1+ pulls through \
                 the transfer service, which does not split the list and skips every hosts.toml",
                current.unwrap_or_default()
            ));
        }
        return Ok(dir.clone());
    }
    match current {
        None => Ok(NodePath::fixed(DEFAULT_CERTS_DIR)),
        Some(p) if list => bail!(
            "{}: config_path {p:?} lists several directories; containerd 2.1+ does not split the \
             list when pulling through the transfer service, so hosts.toml files there are \
             skipped. Pass --certs-dir DIR to replace it with one directory",
            settings.config
        ),
        Some(p) => NodePath::parse("config_path", std::path::Path::new(p)).with_context(|| {
            format!(
                "{}: config_path {p:?} is not an absolute directory; pass --certs-dir DIR",
                settings.config
            )
        }),
    }
}

fn config_change(
    settings: &Settings,
    config: &ContainerdConfig,
    existing: Option<Existing>,
    dir: &NodePath,
) -> FileChange {
    let after = config.with_config_path(dir.as_str()).into_bytes();
    FileChange {
        backup: true,
        needs_restart: true,
        ..FileChange::new(settings.config.clone(), existing, after, 0o644)
    }
}

/// hosts.toml plus copies of the CA and client files for one host.
fn host_changes(
    root: &Root,
    certs_dir: &NodePath,
    request: &HostRequest,
    plan: &mut Plan,
) -> Result<()> {
    let dir = certs_dir.join(request.host.as_str());
    let mut copy = |file: &InputFile, mode: u32, secret: bool| -> Result<String> {
        let path = dir.join(&file.name);
        plan.files
            .push(file_change(root, &path, file.bytes.clone(), mode, secret)?);
        Ok(path.as_str().to_string())
    };
    let mut ca = request
        .ca
        .iter()
        .map(|f| copy(f, 0o644, false))
        .collect::<Result<Vec<_>>>()?;
    let client = match &request.client {
        Some((cert, key)) => Some((copy(cert, 0o644, false)?, copy(key, 0o600, true)?)),
        None => None,
    };
    if let Some(cert) = &request.cert {
        let trust_copy = dir.join(ISSUED_CA_NAME);
        let issuance = Issuance::plan(root, cert, trust_copy.clone())?;
        if let Some(pem) = issuance.existing_ca_pem() {
            let bytes = pem.as_bytes().to_vec();
            plan.files
                .push(file_change(root, &trust_copy, bytes, 0o644, false)?);
        }
        ca.insert(0, trust_copy.as_str().to_string());
        plan.files.extend(issuance.kept_keys(root)?);
        plan.issuance = Some(issuance);
    }
    let trust = EndpointTrust {
        capabilities: request.capabilities.clone(),
        ca,
        client,
        skip_verify: request.skip_verify,
        headers: request.headers.clone(),
        override_path: request.override_path,
    };
    let hosts_path = dir.join("hosts.toml");
    let existing = read_existing(root, &hosts_path)?;
    let file = match &existing {
        Some(e) if !e.bytes.iter().all(u8::is_ascii_whitespace) => {
            HostsFile::parse(hosts_path.as_path(), &e.bytes)?
        }
        _ => HostsFile::new(),
    };
    let spec = hosts_spec(request, &trust);
    for url in file.endpoint_urls() {
        if url != spec.server && !spec.endpoints.iter().any(|e| e.url == url) {
            plan.warnings.push(format!(
                "{hosts_path}: removing [host.{url:?}], which this run does not list (pass it with --mirror to keep it)"
            ));
        }
    }
    let rendered = file.render(&spec);
    for what in file.removed_trust(&rendered) {
        plan.warnings.push(format!(
            "{hosts_path}: removing {what}, which this run does not ask for (pass it again to keep it)"
        ));
    }
    let after = rendered.into_bytes();
    plan.files
        .push(FileChange::new(hosts_path, existing, after, 0o644));
    Ok(())
}

/// Mirrors first, in order; without mirrors the server itself gets the one
/// host table containerd 1.6 needs. `override_path` stays off the server
/// unless the user named its URL.
fn hosts_spec(request: &HostRequest, trust: &EndpointTrust) -> HostsSpec {
    let server_trust = EndpointTrust {
        override_path: trust.override_path && request.server_explicit,
        ..trust.clone()
    };
    let endpoints = if request.mirrors.is_empty() {
        vec![Endpoint {
            url: request.server.clone(),
            trust: server_trust.clone(),
        }]
    } else {
        request
            .mirrors
            .iter()
            .map(|url| Endpoint {
                url: url.clone(),
                trust: trust.clone(),
            })
            .collect()
    };
    HostsSpec {
        server: request.server.clone(),
        server_trust,
        endpoints,
    }
}

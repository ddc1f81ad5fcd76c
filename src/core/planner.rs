//! The core: from the node as it is and the validated requests, compute the plan.
//!
//! It reads only through the [`Node`] snapshot and never writes. Every
//! refusal (a containerd without `config_path`, a config written for another
//! containerd, legacy mirrors, a `config_path` list, trust certsd did not
//! write) happens here, before anything reaches the writer.

use anyhow::{Context, Result, bail};

use super::issuance;
use super::ownership;
use super::plan::{FileChange, Notice, Plan};
use crate::formats::containerd_config::{ContainerdConfig, Effective};
use crate::formats::hosts_toml::{
    self, ClientPaths, Endpoint, EndpointTrust, HostsFile, HostsSpec,
};
use crate::node::{Existing, Node, NodePath};
use crate::settings::{
    DEFAULT_CERTS_DIR, Field, ISSUED_CA_NAME, InputFile, Origin, RegistryRequest,
};
use crate::version::{self, ContainerdVersion};

/// The validated requests, one at a time: each is planned and dropped
/// before the next is validated, so a fleet's requests (with the bytes of
/// every CA file) are never all held at once. The first error ends the run.
pub type Requests<'a> = dyn Iterator<Item = Result<RegistryRequest>> + 'a;

/// Computes every file change for one run. `certs_dir` is the hosts
/// directory the user named, if any.
pub fn plan(
    node: &Node,
    certs_dir: Option<&NodePath>,
    requests: &mut Requests<'_>,
    origin: &Origin,
) -> Result<Plan> {
    let mut plan = Plan::default();
    let path = node.config_path();
    let effective = judge(node, &mut plan)?;
    refuse_conflicts(path, &effective, &origin.name(Field::Migrate))?;
    let target = node.target().map(|t| t.version);
    let certs_dir = hosts_dir(path, &effective, certs_dir, target, &mut plan)?;
    plan.files.push(config_change(node, &effective, &certs_dir));
    // Many hosts: one listing of the hosts directory instead of a lookup each.
    let hosts = requests.size_hint().0;
    if hosts > 1 {
        node.prime(&certs_dir)?;
    }
    // A host's usual files (hosts.toml, a CA, the marker), reserved at
    // once: a fleet's plan grown by doubling leaves megabytes of holes.
    plan.files.reserve(3 * hosts);
    for request in requests {
        let request = request?;
        for warning in &request.warnings {
            plan.warn(Notice::warning("input", warning.clone()));
        }
        host_changes(node, &certs_dir, &request, &mut plan)?;
    }
    ownership::mark(node, &certs_dir, &mut plan)?;
    Ok(plan)
}

/// [`plan`], plus `--prune`: the host directories certsd owns that no
/// request lists are removed (see [`ownership`]).
pub fn plan_pruning(
    node: &Node,
    certs_dir: Option<&NodePath>,
    requests: &mut Requests<'_>,
    origin: &Origin,
) -> Result<Plan> {
    let mut hosts: Vec<String> = Vec::new();
    let mut listing = requests.inspect(|r| {
        if let Ok(request) = r {
            hosts.push(request.host.as_str().to_string());
        }
    });
    let mut plan = plan(node, certs_dir, &mut listing, origin)?;
    // The same directory `plan` chose; its warnings are already in the plan.
    let target = node.target().map(|t| t.version);
    let effective = node.config().effective(target)?;
    let dir = hosts_dir(
        node.config_path(),
        &effective,
        certs_dir,
        target,
        &mut Plan::default(),
    )?;
    let listed: std::collections::HashSet<&str> = hosts.iter().map(String::as_str).collect();
    ownership::prune(node, &dir, &listed, &mut plan)?;
    Ok(plan)
}

/// config.toml as the target containerd reads it, with the warnings every
/// run gives (a version that containerd migrates, tables it ignores, imports).
pub(super) fn judge<'a>(node: &'a Node, plan: &mut Plan) -> Result<Effective<'a>> {
    let (path, config) = (node.config_path(), node.config());
    // Without a known containerd, the file's own version is taken as right.
    if let Some(target) = node.target()
        && let Some(warning) =
            version::check_fit(config.version(), target).with_context(|| path.to_string())?
    {
        plan.warn(Notice::warning("config-version-migrated", warning).at(path));
    }
    let effective = config.effective(node.target().map(|t| t.version))?;
    note_effective(path, &effective, plan);
    warn_imports(path, config, plan);
    Ok(effective)
}

/// Says how the file was judged when that is not plain: read as 2.x reads
/// it without a known containerd, and registry tables that have no effect.
fn note_effective(path: &NodePath, effective: &Effective<'_>, plan: &mut Plan) {
    if let Some(why) = effective.inferred {
        plan.warn(
            Notice::warning(
                "containerd-inferred",
                format!(
                    "{path}: the containerd version is unknown; reading this file as containerd \
                     2.x does, because {why} (pass --containerd-version if the node runs 1.x)"
                ),
            )
            .at(path),
        );
    }
    for (table, why) in &effective.ignored {
        plan.warn(
            Notice::warning(
                "registry-table-ignored",
                format!("{}: {}: {why}", table.location, table.table.name()),
            )
            .at(path),
        );
    }
}

fn warn_imports(path: &NodePath, config: &ContainerdConfig, plan: &mut Plan) {
    let imports = config.imports();
    if imports.is_empty() {
        return;
    }
    let message = format!(
        "{path} imports {}: containerd merges those files over this one, and one that sets the CRI \
         plugin's table can replace config_path or add registry.mirrors; after the restart, \
         check `containerd config dump | grep config_path`",
        imports.join(", ")
    );
    plan.warn(Notice::warning("imports-not-read", message).at(path));
}

/// Every table that breaks the CRI plugin once `config_path` is set, in one error.
fn refuse_conflicts(path: &NodePath, effective: &Effective<'_>, migrate: &str) -> Result<()> {
    let mut found = Vec::new();
    let conflicts = super::rules::cri_conflicts(effective);
    let mirrors = conflicts.mirrors;
    if !mirrors.is_empty() {
        let list = listing(mirrors.iter().map(|m| (&m.table, &m.location)));
        found.push(format!(
            "legacy registry mirrors are set, and containerd's CRI plugin fails to load when \
             `mirrors` and `config_path` are both set:\n{list}\nRun certsd with {migrate} to \
             move them into certs.d/<host>/hosts.toml and delete these tables (plan shows each \
             move first)."
        ));
    }
    let tls = conflicts.tls;
    if !tls.is_empty() {
        let list = listing(tls.iter().map(|c| (&c.table, &c.location)));
        found.push(format!(
            "containerd 1.x refuses `configs.<host>.tls` together with `config_path` \
             (the CRI plugin fails to load):\n{list}\n{migrate} moves the TLS \
             settings into hosts.toml and deletes these tables."
        ));
    }
    if found.is_empty() {
        return Ok(());
    }
    bail!("{path}: {} Nothing was written.", found.join("\n"));
}

/// `  TABLE (file:line:col)` lines.
fn listing<'a>(entries: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    entries
        .map(|(table, location)| format!("  {table} ({location})"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The one hosts directory: the one named, else the config's single `config_path`, else the default.
pub(super) fn hosts_dir(
    path: &NodePath,
    effective: &Effective<'_>,
    named: Option<&NodePath>,
    target: Option<ContainerdVersion>,
    plan: &mut Plan,
) -> Result<NodePath> {
    let current = effective.config_path().filter(|p| !p.is_empty());
    let list = current.is_some_and(|p| p.contains(':'));
    if let Some(dir) = named {
        if let Some(old) = current.filter(|old| !list && *old != dir.as_str()) {
            plan.warn(Notice::warning(
                "config-path-replaced",
                format!("config_path was {old:?}; it becomes {dir}, and hosts.toml files under {old} will no longer be read"),
            ).at(path));
        }
        if list {
            plan.warn(
                Notice::warning(
                    "config-path-list-replaced",
                    format!(
                        "config_path {:?} is a list; replacing it with {dir}: {}",
                        current.unwrap_or_default(),
                        colon_list_harm(target)
                    ),
                )
                .at(path),
            );
        }
        return Ok(dir.clone());
    }
    match current {
        None => Ok(NodePath::fixed(DEFAULT_CERTS_DIR)),
        Some(p) if list => bail!(
            "{path}: config_path {p:?} lists several directories: {}. Pass --certs-dir DIR to \
             replace it with one directory",
            colon_list_harm(target)
        ),
        Some(p) => NodePath::parse(
            "config_path",
            std::path::Path::new(p),
            "/etc/containerd/certs.d",
        )
        .with_context(|| {
            format!("{path}: config_path {p:?} is not an absolute directory; pass --certs-dir DIR")
        }),
    }
}

/// Why a `config_path` list hurts, for the containerd at hand: 1.x and 2.0
/// split it, 2.1+ pull through the transfer service, which does not.
fn colon_list_harm(target: Option<ContainerdVersion>) -> String {
    const SKIPPED: &str = "the transfer service it pulls through does not split the list, so \
                           every hosts.toml there is skipped";
    match target {
        Some(v) if (v.major, v.minor) < (2, 1) => format!(
            "containerd {v} splits the list, but the node breaks when it is upgraded to 2.1+: {SKIPPED}"
        ),
        Some(v) if (v.major, v.minor) == (2, 1) => format!("on containerd {v}, {SKIPPED}"),
        Some(v) => format!("this list is containerd {v}'s default, but {SKIPPED}"),
        None => format!(
            "containerd 1.x and 2.0 split the list, but on 2.1+ (where 2.2 makes it the default) \
             {SKIPPED}"
        ),
    }
}

fn config_change(node: &Node, effective: &Effective<'_>, dir: &NodePath) -> FileChange {
    let after = node
        .config()
        .with_config_path_in(effective, dir.as_str())
        .into_bytes();
    config_file_change(node, after)
}

/// config.toml with new bytes: backed up, and containerd must restart.
pub(super) fn config_file_change(node: &Node, after: Vec<u8>) -> FileChange {
    FileChange {
        backup: true,
        needs_restart: true,
        ..FileChange::write(
            node.config_path().clone(),
            node.config_file().cloned(),
            after,
            0o644,
        )
    }
}

/// hosts.toml plus copies of the CA and client files for one host.
pub(super) fn host_changes(
    node: &Node,
    certs_dir: &NodePath,
    request: &RegistryRequest,
    plan: &mut Plan,
) -> Result<()> {
    let dir = certs_dir.join(request.host.as_str());
    // Where this host's changes start: a mirror's copies look only there.
    let first = plan.files.len();
    let mut ca = copies(node, &dir, &request.ca, plan)?;
    let client = match &request.client {
        Some(pair) => Some(ClientPaths {
            cert: copy(node, &dir, &pair.cert, 0o644, false, plan)?,
            key: copy(node, &dir, &pair.key, 0o600, true, plan)?,
        }),
        None => None,
    };
    if let Some(cert) = &request.cert {
        let trust_copy = dir.join(ISSUED_CA_NAME);
        let decision = issuance::decide(node, cert, trust_copy.clone())?;
        if let Some(pem) = &decision.kept_ca_pem {
            plan.files
                .push(issuance::owned(node, &trust_copy, pem, 0o644, false)?);
        }
        ca.insert(0, trust_copy.as_str().to_string());
        for key in &decision.kept_keys {
            if let Some(existing) = node.file(key)? {
                plan.files.push(FileChange::owned(
                    key.clone(),
                    Some(existing.clone()),
                    existing.bytes,
                    0o600,
                    true,
                ));
            }
        }
        plan.certificates.extend(decision.pending);
        if decision.order.generates() {
            plan.orders.push(decision.order);
        }
    }
    let trust = EndpointTrust {
        capabilities: request.capabilities.clone(),
        ca,
        client,
        skip_verify: request.skip_verify,
        headers: request.headers.clone(),
        override_path: request.override_path,
        dial_timeout: request.dial_timeout.clone(),
    };
    let mirrors = mirror_trusts(node, (&dir, first), request, &trust, plan)?;
    hosts_toml_change(
        node,
        &dir,
        request,
        &hosts_spec(request, trust, mirrors),
        plan,
    )?;
    if request.credential {
        seal_credential(plan);
    }
    Ok(())
}

/// Each mirror's trust: the registry's, with what the mirror sets for itself
/// (its own CA and client files are copied beside the registry's). `dir`
/// is the host's directory and the index of its first change in the plan.
fn mirror_trusts(
    node: &Node,
    dir: (&NodePath, usize),
    request: &RegistryRequest,
    base: &EndpointTrust,
    plan: &mut Plan,
) -> Result<Vec<EndpointTrust>> {
    let mut out = Vec::with_capacity(request.mirrors.len());
    for own in &request.mirror_trust {
        let mut trust = base.clone();
        if own.isolated {
            trust.ca.clear();
            trust.client = None;
            trust.skip_verify = false;
            trust.headers.clear();
        }
        if let Some(files) = &own.ca {
            trust.ca = files
                .iter()
                .map(|f| copy_once(node, dir, f, 0o644, false, plan))
                .collect::<Result<_>>()?;
        }
        if let Some(pair) = &own.client {
            trust.client = Some(ClientPaths {
                cert: copy_once(node, dir, &pair.cert, 0o644, false, plan)?,
                key: copy_once(node, dir, &pair.key, 0o600, true, plan)?,
            });
        }
        if let Some(caps) = &own.capabilities {
            trust.capabilities.clone_from(caps);
        }
        if let Some(headers) = &own.headers {
            trust.headers = if own.isolated {
                headers.clone()
            } else {
                with_credential(headers, &base.headers)
            };
        }
        trust.skip_verify = own.skip_verify.unwrap_or(trust.skip_verify);
        trust.override_path = own.override_path.unwrap_or(trust.override_path);
        if own.dial_timeout.is_some() {
            trust.dial_timeout.clone_from(&own.dial_timeout);
        }
        out.push(trust);
    }
    Ok(out)
}

/// A mirror's own headers still carry the registry's credential.
fn with_credential(
    own: &[(String, Vec<String>)],
    base: &[(String, Vec<String>)],
) -> Vec<(String, Vec<String>)> {
    let mut headers = own.to_vec();
    let auth = crate::settings::AUTHORIZATION;
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(auth)) {
        headers.extend(base.iter().filter(|(n, _)| n == auth).cloned());
    }
    headers
}

/// Like [`copy`], but a file the plan already copies (a mirror listing the
/// registry's CA again) is not planned twice. Only the host's own changes
/// (from index `dir.1`) can hold it: looking there alone keeps a spec with
/// thousands of registries linear.
fn copy_once(
    node: &Node,
    (dir, first): (&NodePath, usize),
    file: &InputFile,
    mode: u32,
    secret: bool,
    plan: &mut Plan,
) -> Result<String> {
    let path = dir.join(&file.name);
    let own = plan.files.get(first..).unwrap_or_default();
    if own.iter().rev().any(|f| f.path == path) {
        return Ok(path.as_str().to_string());
    }
    copy(node, dir, file, mode, secret, plan)
}

/// The hosts.toml just planned holds a credential: it gets mode 0600 even
/// when it exists with another mode, so the password is never world-readable.
fn seal_credential(plan: &mut Plan) {
    if let Some(change) = plan.files.last_mut()
        && let super::plan::Op::Write { mode, .. } = &mut change.op
    {
        *mode = 0o600;
    }
}

/// The copies of the CA files, as node paths.
fn copies(
    node: &Node,
    dir: &NodePath,
    files: &[InputFile],
    plan: &mut Plan,
) -> Result<Vec<String>> {
    files
        .iter()
        .map(|f| copy(node, dir, f, 0o644, false, plan))
        .collect()
}

/// One input file copied into the host's directory; returns its node path.
fn copy(
    node: &Node,
    dir: &NodePath,
    file: &InputFile,
    mode: u32,
    secret: bool,
    plan: &mut Plan,
) -> Result<String> {
    let path = dir.join(&file.name);
    let before = node.file(&path)?;
    let shown = path.as_str().to_string();
    plan.files.push(FileChange::copied(
        path,
        before,
        (&file.source, &file.bytes),
        mode,
        secret,
    ));
    Ok(shown)
}

/// The host's hosts.toml, edited (or created) to say what `spec` says.
fn hosts_toml_change(
    node: &Node,
    dir: &NodePath,
    request: &RegistryRequest,
    spec: &HostsSpec,
    plan: &mut Plan,
) -> Result<()> {
    let path = dir.join("hosts.toml");
    let existing = node.file(&path)?;
    // The every-boot case: the file holds exactly what certsd writes for
    // `spec` as a new file. Editing it would give the same bytes (a second
    // apply writes nothing), it has no table the run does not list and its
    // trust is the run's, so it needs no parse, no check and no edit.
    if let Some(e) = &existing {
        let text = hosts_toml::render_new(spec);
        if e.bytes == text.as_bytes() {
            plan.files
                .push(FileChange::write(path, existing, text.into_bytes(), 0o644));
            return Ok(());
        }
    }
    let file = Node::hosts_file_of(&path, existing.as_ref())?;
    for url in file.endpoint_urls() {
        if url != spec.server && !spec.endpoints.iter().any(|e| e.url == url) {
            plan.warn(Notice::warning(
                "host-table-removed",
                format!("{path}: removing [host.{url:?}], which this run does not list (pass it with --mirror to keep it)"),
            ).at(&path));
        }
    }
    check_anchors(&path, dir, &file, request, spec, plan)?;
    plan.files
        .push(hosts_toml_write(path, existing, &file, spec, false));
    Ok(())
}

/// `file` rendered as `spec` says, as the change to `path`. A `secret` file
/// (it holds a credential header) gets mode 0600 and is never shown.
pub(super) fn hosts_toml_write(
    path: NodePath,
    existing: Option<Existing>,
    file: &HostsFile,
    spec: &HostsSpec,
    credential: bool,
) -> FileChange {
    let mut after = file.render(spec).into_bytes();
    // Held until the write: no growth slack, times thousands of hosts.
    after.shrink_to_fit();
    // A credential header: 0600, and the diff shows it as `Basic <redacted>`.
    if credential {
        FileChange::exact(path, existing, after, 0o600, false)
    } else {
        FileChange::write(path, existing, after, 0o644)
    }
}

/// Refuses to replace or drop a `ca`, `client` or `skip_verify` that certsd
/// did not write, unless the request accepts it; warns about each change made.
fn check_anchors(
    path: &NodePath,
    dir: &NodePath,
    file: &HostsFile,
    request: &RegistryRequest,
    spec: &HostsSpec,
    plan: &mut Plan,
) -> Result<()> {
    let changes = file.anchor_changes(spec, dir.as_str());
    if changes.is_empty() {
        return Ok(());
    }
    let flag = request.origin.name(Field::ReplaceTrust);
    let own = file.anchors_are_certsds(dir.as_str());
    if !own && !request.replace_trust {
        let list: Vec<String> = changes.iter().map(|c| format!("  {c}")).collect();
        bail!(
            "{path}: this run would replace or drop trust that certsd did not write:\n{}\n\
             Pass {flag} to accept this (the run's trust then applies to every endpoint of \
             {}), or give the same trust again. certsd gives all endpoints of a host one trust; \
             a CA of its own for one mirror needs per-endpoint trust, which comes with the spec \
             file. Nothing was written.",
            list.join("\n"),
            request.host.as_str()
        );
    }
    let why = if own {
        String::new()
    } else {
        format!(" (accepted with {flag})")
    };
    for change in changes {
        plan.warn(Notice::warning("trust-replaced", format!("{path}: {change}{why}")).at(path));
    }
    Ok(())
}

/// Mirrors first, in order, each with its own trust (`mirrors`, one per
/// mirror); without mirrors the server itself gets the one host table
/// containerd 1.6 needs. `override_path` stays off the server unless the
/// user named its URL. Takes the trusts: each moves into the spec (a clone
/// fewer per host).
fn hosts_spec(
    request: &RegistryRequest,
    trust: EndpointTrust,
    mirrors: Vec<EndpointTrust>,
) -> HostsSpec {
    let endpoints: Vec<Endpoint> = if request.mirrors.is_empty() {
        Vec::new()
    } else {
        let mut own = mirrors.into_iter();
        request
            .mirrors
            .iter()
            .map(|url| Endpoint {
                url: url.clone(),
                trust: own.next().unwrap_or_else(|| trust.clone()),
            })
            .collect()
    };
    let server_trust = EndpointTrust {
        override_path: trust.override_path && request.server_explicit,
        ..trust
    };
    let endpoints = if endpoints.is_empty() {
        vec![Endpoint {
            url: request.server.clone(),
            trust: server_trust.clone(),
        }]
    } else {
        endpoints
    };
    HostsSpec {
        server: request.server.clone(),
        server_trust,
        endpoints,
        keep_capabilities: !request.capabilities_given,
    }
}

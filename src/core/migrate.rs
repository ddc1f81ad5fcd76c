//! `certsd plan --migrate` / `apply --migrate`: the legacy registry settings
//! of config.toml (`registry.mirrors`, `configs."HOST".tls`, and with
//! `--auth-to-header` the credentials) become certs.d/<host>/hosts.toml
//! files, and config.toml loses those tables and gains `config_path`.
//!
//! It reads the table the target containerd reads (the same judgement as
//! every plan), builds [`HostsSpec`] values directly (each endpoint with its
//! own trust), merges them with hosts.toml files already there, and renders
//! them through the planner. One move line per legacy table says where it
//! went, before the diff. The result is a plan like any other, so `plan`
//! shows it and `apply` writes it; a second `apply --migrate` finds no legacy
//! table left and changes nothing.

mod collect;
mod merge;
mod source;
mod url;

use std::path::Path;

use anyhow::{Result, bail};

use super::plan::{FileChange, Notice, Plan, Severity, Span};
use super::planner;
use crate::formats::containerd_config::{Effective, LegacyAuth, RegistryRead, Removal, Secret};
use crate::node::{Node, NodePath};
use crate::settings::{Field, MigrateOptions, RegistryRequest};
use collect::{MigratedHost, Namespace};
use source::{Gift, Source};

/// Where messages point and what they say along the way.
pub(super) struct Ctx<'a> {
    /// config.toml's file name, for `config.toml:LINE`.
    file: String,
    config: &'a NodePath,
    /// The hosts directory's last name, as move lines show it (`certs.d`).
    certs: String,
    notices: Vec<Notice>,
}

impl Ctx<'_> {
    fn at(&self, line: usize) -> String {
        format!("{}:{line}", self.file)
    }

    fn notice(&mut self, code: &'static str, severity: Severity, line: usize, message: String) {
        self.notices.push(Notice {
            code,
            severity,
            span: Some(Span {
                path: self.config.clone(),
                line: (line > 0).then_some(line),
            }),
            message,
        });
    }

    fn warn(&mut self, code: &'static str, line: usize, message: String) {
        self.notice(code, Severity::Warning, line, message);
    }

    fn info(&mut self, code: &'static str, line: usize, message: String) {
        self.notice(code, Severity::Info, line, message);
    }
}

/// The plan for a migration, plus `extra` requests for other hosts (the
/// seam for `--migrate -f SPEC`: a spec's entries arrive here once parsed).
pub fn plan(
    node: &Node,
    certs_dir: Option<&NodePath>,
    options: &MigrateOptions,
    extra: &[RegistryRequest],
) -> Result<Plan> {
    let mut plan = Plan::default();
    let effective = planner::judge(node, &mut plan)?;
    let target = node.target().map(|t| t.version);
    let dir = planner::hosts_dir(node.config_path(), &effective, certs_dir, target, &mut plan)?;
    let mut ctx = Ctx {
        file: node.config_path().file_name(),
        config: node.config_path(),
        certs: dir.file_name(),
        notices: Vec::new(),
    };
    let empty = RegistryRead::empty(effective.table);
    let read = effective.read.unwrap_or(&empty);
    let known = node.target().is_some();
    let (hosts, removal) = migrate(read, &effective, known, options, &mut ctx)?;
    plan.files.push(config_change(
        node, &effective, &dir, &removal, read, &mut ctx,
    ));
    for host in &hosts {
        plan.files.push(host_change(node, &dir, host, &mut ctx)?);
    }
    warn_missing(node, &hosts, &mut ctx)?;
    for request in extra {
        if hosts.iter().any(|h| h.dir == request.host.as_str()) {
            bail!(
                "{}: the migration already writes this host's hosts.toml; run the migration \
                 first, then change the host. Nothing was written.",
                request.host.as_str()
            );
        }
        planner::host_changes(node, &dir, request, &mut plan)?;
    }
    // Move lines first (they are shown before the diff), then the warnings.
    let (moves, warnings): (Vec<Notice>, Vec<Notice>) = ctx
        .notices
        .into_iter()
        .partition(|n| n.severity == Severity::Info);
    plan.notices.splice(0..0, moves.into_iter().chain(warnings));
    Ok(plan)
}

/// The hosts.toml files to write and what leaves config.toml.
fn migrate(
    read: &RegistryRead,
    effective: &Effective<'_>,
    node_known: bool,
    options: &MigrateOptions,
    ctx: &mut Ctx<'_>,
) -> Result<(Vec<MigratedHost>, Removal)> {
    let mut spaces = collect::mirrors(read, ctx)?;
    let (sources, removal) = sources(read, options, ctx)?;
    for i in 0..sources.len() {
        collect::assign(&mut spaces, &sources, i, ctx)?;
    }
    for i in 0..sources.len() {
        explain(&spaces, &sources, i, trust_gain(effective, node_known), ctx);
    }
    Ok((
        spaces.into_iter().map(|n| n.into_host(&sources)).collect(),
        removal,
    ))
}

/// Every `configs` and `auths` entry that lands in hosts.toml, and the
/// credentials that leave config.toml.
fn sources(
    read: &RegistryRead,
    options: &MigrateOptions,
    ctx: &mut Ctx<'_>,
) -> Result<(Vec<Source>, Removal)> {
    let mut out = Vec::new();
    let mut removal = Removal::default();
    for c in &read.configs {
        if let Some(tls) = &c.tls {
            let what = format!("registry.configs.{:?}.tls", c.host);
            let (trust, relative) = source::tls(c, tls)?;
            for path in relative {
                ctx.warn("migrate-guess", c.line, format!(
                    "{}: {what}: {path:?} is relative; containerd 1.x read it from its working directory, taken as /{}",
                    ctx.at(c.line), path.trim_start_matches("./")
                ));
            }
            if trust.is_empty() {
                ctx.info(
                    "migrate-move",
                    c.line,
                    format!("{what} ({}) sets nothing: removed", ctx.at(c.line)),
                );
            } else {
                out.push(entry(&c.host, what, c.line, Gift::Tls(trust), false, ctx));
            }
        }
        if c.has_auth {
            let what = format!("registry.configs.{:?}.auth", c.host);
            let line = c.auth_line;
            if let Some(header) = header(c.auth.as_ref(), &what, line, options, ctx) {
                removal.auth_hosts.push(c.host.clone());
                out.push(entry(&c.host, what, line, Gift::Header(header), false, ctx));
            }
        }
    }
    for a in &read.auths {
        let what = format!("registry.auths.{:?}", a.key);
        if let Some(header) = header(Some(&a.auth), &what, a.line, options, ctx) {
            removal.auths_keys.push(a.key.clone());
            out.push(entry(&a.key, what, a.line, Gift::Header(header), true, ctx));
        }
    }
    Ok((out, removal))
}

fn entry(
    key: &str,
    what: String,
    line: usize,
    gift: Gift,
    exact_urls: bool,
    ctx: &Ctx<'_>,
) -> Source {
    Source {
        key: url::ConfigKey::parse(key),
        raw_key: key.to_string(),
        what,
        at: ctx.at(line),
        line,
        gift,
        exact_urls,
    }
}

/// The header for a credential, or `None` (with the warning) when it stays.
fn header(
    auth: Option<&LegacyAuth>,
    what: &str,
    line: usize,
    options: &MigrateOptions,
    ctx: &mut Ctx<'_>,
) -> Option<Secret> {
    let at = ctx.at(line);
    if !options.auth_to_header {
        ctx.warn("legacy-auth-kept", line, format!(
            "{at}: {what}: the credentials stay in config.toml (containerd 1.x and 2.0-2.3 read them \
             next to config_path; 2.4 removes them); {} moves them into an Authorization header \
             in hosts.toml (mode 0600)",
            options.origin.name(Field::AuthToHeader)
        ));
        return None;
    }
    let header = auth.map_or(Err("it is not a table"), source::basic);
    match header {
        Ok(header) => Some(header),
        Err(why) => {
            ctx.warn(
                "legacy-auth-kept",
                line,
                format!(
                    "{at}: {what}: not turned into a header ({why}); it stays in config.toml, \
                 which containerd 2.4 no longer reads"
                ),
            );
            None
        }
    }
}

/// The move line of source `i`, and its warnings: a guessed match, and
/// trust that a 2.x node gains (it ignores `configs.*.tls`).
/// When moving `configs.*.tls` adds trust: on 2.x always, with an unknown
/// containerd perhaps (the words say which).
fn trust_gain(effective: &Effective<'_>, known: bool) -> Option<&'static str> {
    match (effective.two_x, known) {
        (true, true) => {
            Some("containerd 2.x ignores configs.*.tls, so this node does not use it today")
        }
        (_, false) => Some(
            "if this node runs containerd 2.x, it ignores configs.*.tls and does not use it today",
        ),
        (false, true) => None,
    }
}

fn explain(
    spaces: &[Namespace],
    sources: &[Source],
    i: usize,
    gain: Option<&str>,
    ctx: &mut Ctx<'_>,
) {
    let source = &sources[i];
    let landed = landed_in(spaces, i, false, &ctx.certs);
    let gives = match &source.gift {
        Gift::Tls(tls) => tls.keys(),
        Gift::Header(_) => "Authorization header".to_string(),
    };
    let line = if landed.is_empty() {
        format!(
            "{} ({}) matches no endpoint: removed",
            source.what, source.at
        )
    } else {
        format!(
            "{} ({}) -> {gives} on {}",
            source.what,
            source.at,
            landed.join(", ")
        )
    };
    ctx.info("migrate-move", source.line, line);
    if let Some(why) = spaces
        .iter()
        .filter_map(|n| n.guessed(i))
        .min()
        .and_then(url::Match::why)
    {
        ctx.warn(
            "migrate-guess",
            source.line,
            format!(
                "{}: {}: put on {} by a guess: {why}; check that this is what you meant",
                source.at,
                source.what,
                landed_in(spaces, i, true, &ctx.certs).join(", ")
            ),
        );
    }
    let is_tls = matches!(source.gift, Gift::Tls(_));
    if let Some(gain) = gain.filter(|_| is_tls && !landed.is_empty()) {
        ctx.warn(
            "migrate-adds-trust",
            source.line,
            format!(
                "{}: {}: {gain}; in hosts.toml it takes effect ({gives}), trust the node gains",
                source.at, source.what
            ),
        );
    }
}

/// `certs.d/DIR/hosts.toml (top level, [host."URL"])` for each file source `i` landed in.
fn landed_in(spaces: &[Namespace], i: usize, guesses: bool, certs: &str) -> Vec<String> {
    spaces
        .iter()
        .filter_map(|n| {
            let places = n.places(i, guesses);
            (!places.is_empty())
                .then(|| format!("{certs}/{}/hosts.toml ({})", n.dir, places.join(", ")))
        })
        .collect()
}

/// config.toml without the legacy tables, with `config_path`.
fn config_change(
    node: &Node,
    effective: &Effective<'_>,
    dir: &NodePath,
    removal: &Removal,
    read: &RegistryRead,
    ctx: &mut Ctx<'_>,
) -> FileChange {
    let after = node
        .config()
        .without_legacy(effective, dir.as_str(), removal);
    let mut change = planner::config_file_change(node, after.into_bytes());
    // The diff hides `password = ...` lines; a credential in any other
    // shape (a dotted key, an inline table) would show: hide the whole file.
    if credentials_in_odd_places(node, read) {
        change.secret = true;
        ctx.warn("config-diff-hidden", 0, format!(
            "{}: credentials sit in a form the diff cannot redact line by line, so its diff is not shown",
            node.config_path()
        ));
    }
    change
}

/// Whether a credential value sits on a line that is not a plain
/// `password = `, `auth = ` or `identitytoken = ` line.
fn credentials_in_odd_places(node: &Node, read: &RegistryRead) -> bool {
    let Some(file) = node.config_file() else {
        return false;
    };
    let text = String::from_utf8_lossy(&file.bytes);
    let secrets: Vec<&str> = read
        .configs
        .iter()
        .filter_map(|c| c.auth.as_ref())
        .chain(read.auths.iter().map(|a| &a.auth))
        .flat_map(|a| [a.password.as_ref(), a.auth.as_ref()])
        .flatten()
        .map(Secret::expose)
        .collect();
    let plain = |line: &str| {
        let key = line
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches(['"', '\'']);
        ["password", "auth", "identitytoken"].contains(&key.to_ascii_lowercase().as_str())
    };
    text.lines()
        .any(|l| secrets.iter().any(|s| l.contains(s)) && !plain(l))
}

/// A `ca` or `client` file that is not on the node: containerd 1.x failed
/// pulls over it too, and hosts.toml will; said once per file.
fn warn_missing(node: &Node, hosts: &[MigratedHost], ctx: &mut Ctx<'_>) -> Result<()> {
    let mut files: Vec<&String> = hosts.iter().flat_map(|h| &h.files).collect();
    files.sort();
    files.dedup();
    for name in files {
        let present = match NodePath::parse("ca", Path::new(name), "/etc/ssl/ca.pem") {
            Ok(path) => node.file(&path)?.is_some(),
            Err(_) => false,
        };
        if !present {
            let users: Vec<&str> = hosts
                .iter()
                .filter(|h| h.files.contains(name))
                .map(|h| h.dir.as_str())
                .collect();
            ctx.warn(
                "migrate-file-missing",
                0,
                format!(
                    "{name} is not on the node: containerd fails pulls from {} (`unable to read \
                     CA cert`) until it is there",
                    users.join(", ")
                ),
            );
        }
    }
    Ok(())
}

/// One migrated hosts.toml, merged with the file already there.
fn host_change(
    node: &Node,
    dir: &NodePath,
    host: &MigratedHost,
    ctx: &mut Ctx<'_>,
) -> Result<FileChange> {
    let path = dir.join(&host.dir).join("hosts.toml");
    let (existing, file) = node.hosts_file(&path)?;
    let spec = merge::merge(&file, host, &path)?;
    if existing.is_some() {
        ctx.info(
            "migrate-move",
            0,
            format!("{path}: merged with the hosts.toml already there"),
        );
    }
    let credential = host.secret
        || spec
            .endpoints
            .iter()
            .map(|e| &e.trust)
            .chain([&spec.server_trust])
            .any(|t| {
                t.headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            });
    Ok(planner::hosts_toml_write(
        path, existing, &file, &spec, credential,
    ))
}

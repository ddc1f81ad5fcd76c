//! From the legacy tables containerd reads to the hosts.toml files that say
//! the same: one per `registry.mirrors."NS"` (its endpoints as `[host]`
//! tables, in order), one per `configs`/`auths` host that is not a
//! namespace already, and each TLS setting or header on the tables it
//! matches (see [`super::url`] for what counts as a match).

use anyhow::{Result, bail};

use super::Ctx;
use super::source::{Gift, Source, TlsTrust};
use super::url::{self, Match};
use crate::formats::containerd_config::{LegacyMirror, RegistryRead};
use crate::formats::hosts_toml::{Capability, Endpoint, EndpointTrust, HostsSpec};

/// One table of a migrated hosts.toml: the top level (the server) or a `[host]`.
#[derive(Debug)]
struct Table {
    url: String,
    authority: String,
    scheme: String,
    override_path: bool,
    /// The TLS source that won this table, and how surely it matched.
    tls: Option<(usize, Match)>,
    header: Option<(usize, Match)>,
}

impl Table {
    fn new(url: &url::LegacyUrl) -> Table {
        Table {
            url: url.url.clone(),
            authority: url.authority.clone(),
            scheme: url.scheme.clone(),
            override_path: url.override_path,
            tls: None,
            header: None,
        }
    }
}

/// One certs.d/DIR/hosts.toml in the making.
#[derive(Debug)]
pub(super) struct Namespace {
    /// The namespace as images name it (`*` for every other registry).
    ns: String,
    pub dir: String,
    /// `tables[0]` is the top level; the rest are the `[host]` tables.
    tables: Vec<Table>,
    /// Made for a `configs`/`auths` host, not for a mirror.
    own: bool,
}

/// A hosts.toml to write, with where its settings came from.
#[derive(Debug)]
pub struct MigratedHost {
    /// The directory under the hosts directory (`docker.io`, `_default`).
    pub dir: String,
    pub spec: HostsSpec,
    /// It carries an `Authorization` header: 0600, and never shown.
    pub secret: bool,
    /// `(None = top level | Some(URL), "what (at)")` for conflict messages.
    pub sources: Vec<(Option<String>, String)>,
    /// The node files its `ca`/`client` name.
    pub files: Vec<String>,
}

/// The directory for a namespace, refused when containerd could never look it up.
fn dir_for(ns: &str) -> Option<String> {
    if ns == "*" {
        return Some("_default".into());
    }
    let bad = ns.is_empty()
        || ns == "."
        || ns == ".."
        || ns.contains("://")
        || ns
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '\\');
    (!bad).then(|| ns.to_string())
}

/// The upstream containerd uses for a namespace (none for `*`).
fn server_for(ns: &str, scheme: &str) -> Option<url::LegacyUrl> {
    match ns {
        "*" => None,
        "docker.io" => url::endpoint("https://registry-1.docker.io").ok(),
        _ => url::endpoint(&format!("{scheme}://{ns}")).ok(),
    }
}

/// The namespaces of `registry.mirrors`, in file order, with their move lines.
pub(super) fn mirrors(read: &RegistryRead, ctx: &mut Ctx<'_>) -> Result<Vec<Namespace>> {
    let mut out = Vec::new();
    for m in &read.mirrors {
        let what = format!("registry.mirrors.{:?}", m.namespace);
        let Some(dir) = dir_for(&m.namespace) else {
            bail!(
                "{}: {what}: {:?} is not a registry host, so containerd never used this mirror; \
                 delete the table or name the registry as images do (registry.example.com:5000), \
                 then run again. Nothing was written.",
                m.location,
                m.namespace
            );
        };
        let server = server_for(&m.namespace, "https");
        let mut tables = vec![server.as_ref().map_or_else(empty_top, Table::new)];
        tables.extend(endpoint_tables(m, &what, ctx)?);
        let count = tables.len() - 1;
        if count == 0 {
            let Some(s) = &server else {
                ctx.info(
                    "migrate-move",
                    m.line,
                    format!("{what} ({}) has no endpoints: removed", ctx.at(m.line)),
                );
                continue;
            };
            tables.push(Table::new(s));
        }
        let n = if count == 1 { "endpoint" } else { "endpoints" };
        ctx.info(
            "migrate-move",
            m.line,
            format!(
                "{what} ({}) -> {}/{dir}/hosts.toml, {count} {n}",
                ctx.at(m.line),
                ctx.certs
            ),
        );
        out.push(Namespace {
            ns: m.namespace.clone(),
            dir,
            tables,
            own: false,
        });
    }
    Ok(out)
}

/// A mirror's endpoints as `[host]` tables, in order, each once.
fn endpoint_tables(m: &LegacyMirror, what: &str, ctx: &mut Ctx<'_>) -> Result<Vec<Table>> {
    let mut tables: Vec<Table> = Vec::new();
    for (i, raw) in m.endpoints.iter().enumerate() {
        let parsed = url::endpoint(raw).map_err(|why| {
            let shown = if raw.contains('@') {
                "(not shown)".to_string()
            } else {
                format!("{raw:?}")
            };
            anyhow::anyhow!(
                "{}: {what}: endpoint {} {shown}: {why}; fix it in config.toml and run again. \
                 Nothing was written.",
                m.location,
                i + 1
            )
        })?;
        if parsed.assumed_https {
            ctx.warn("migrate-guess", m.line, format!(
                "{}: {what}: endpoint {raw:?} has no scheme; taken as {} (containerd 1.x could not use it as written)",
                ctx.at(m.line), parsed.url
            ));
        }
        if tables.iter().any(|t| t.url == parsed.url) {
            ctx.warn(
                "migrate-duplicate",
                m.line,
                format!(
                    "{}: {what}: endpoint {raw:?} is listed twice; kept once",
                    ctx.at(m.line)
                ),
            );
            continue;
        }
        tables.push(Table::new(&parsed));
    }
    Ok(tables)
}

/// The `_default` top level: no server (containerd uses the image's own registry).
fn empty_top() -> Table {
    Table {
        url: String::new(),
        authority: "*".into(),
        scheme: "https".into(),
        override_path: false,
        tls: None,
        header: None,
    }
}

/// Puts `sources[i]` on the tables it matches, creating its own namespace
/// when no namespace has its name; a tie between two sources is an error.
pub(super) fn assign(
    spaces: &mut Vec<Namespace>,
    sources: &[Source],
    i: usize,
    ctx: &mut Ctx<'_>,
) -> Result<()> {
    let source = &sources[i];
    let is_tls = matches!(source.gift, Gift::Tls(_));
    if source.key.authority == "*" {
        return assign_wildcard(spaces, sources, i, ctx);
    }
    if !spaces.iter().any(|n| n.ns == source.key.authority) {
        let Some(dir) = dir_for(&source.key.authority) else {
            bail!(
                "{}: {}: {:?} is not a registry host; fix or delete the entry, then run again. Nothing was written.",
                ctx.at(source.line),
                source.what,
                source.raw_key
            );
        };
        if let Some(server) = server_for(&source.key.authority, &source.key.scheme) {
            let tables = vec![Table::new(&server), Table::new(&server)];
            spaces.push(Namespace {
                ns: source.key.authority.clone(),
                dir,
                tables,
                own: true,
            });
        }
    }
    let mut found: Vec<(usize, usize, Match)> = Vec::new();
    for (n, space) in spaces.iter().enumerate() {
        for (t, table) in space.tables.iter().enumerate() {
            if let Some(rank) = url::matches(&source.key, &table.authority, source.exact_urls) {
                found.push((n, t, rank));
            }
        }
    }
    // Guesses go to the mirrors' tables only when no mirror table matches
    // surely; a host's own file always matches surely.
    let sure = found
        .iter()
        .any(|f| f.2 >= Match::UrlKey && !spaces[f.0].own);
    found.retain(|f| f.2 >= Match::UrlKey || (!sure && !spaces[f.0].own));
    for (n, t, rank) in found {
        let table = &mut spaces[n].tables[t];
        if is_tls && table.scheme == "http" {
            ctx.warn("migrate-http-tls-skipped", source.line, format!(
                "{}: {}: not put on {:?}, an http endpoint (TLS settings there make containerd try HTTPS first)",
                source.at, source.what, table.url
            ));
            continue;
        }
        let slot = if is_tls {
            &mut table.tls
        } else {
            &mut table.header
        };
        give(slot, sources, i, rank, &table.url)?;
    }
    Ok(())
}

/// `configs."*"`: only the `_default` top level, when a `*` mirror exists.
fn assign_wildcard(
    spaces: &mut [Namespace],
    sources: &[Source],
    i: usize,
    ctx: &mut Ctx<'_>,
) -> Result<()> {
    let source = &sources[i];
    let Some(space) = spaces.iter_mut().find(|n| n.ns == "*") else {
        ctx.warn("migrate-dropped", source.line, format!(
            "{}: {}: containerd 1.x looks configs up by host, so a `*` key never applied; removed, not moved",
            source.at, source.what
        ));
        return Ok(());
    };
    ctx.warn("migrate-guess", source.line, format!(
        "{}: {}: containerd 1.x never applied a `*` config; on the top level of _default/hosts.toml \
         it applies to every registry without a directory of its own",
        source.at, source.what
    ));
    let table = &mut space.tables[0];
    let slot = if matches!(source.gift, Gift::Tls(_)) {
        &mut table.tls
    } else {
        &mut table.header
    };
    give(slot, sources, i, Match::Exact, "(top level)")
}

/// Takes a table for source `i` unless a surer source has it; an equally
/// sure one with other settings is a conflict.
fn give(
    slot: &mut Option<(usize, Match)>,
    sources: &[Source],
    i: usize,
    rank: Match,
    url: &str,
) -> Result<()> {
    match *slot {
        Some((_, had)) if had > rank => Ok(()),
        Some((j, had)) if had == rank && sources[j].gift != sources[i].gift => bail!(
            "{} ({}) and {} ({}) both apply to {url:?} with different settings; keep one of them, \
             then run again. Nothing was written.",
            sources[j].what,
            sources[j].at,
            sources[i].what,
            sources[i].at
        ),
        _ => {
            *slot = Some((i, rank));
            Ok(())
        }
    }
}

impl Namespace {
    /// The spec for hosts.toml, and the move lines and guesses of its sources.
    pub(super) fn into_host(self, sources: &[Source]) -> MigratedHost {
        let mut host = MigratedHost {
            dir: self.dir.clone(),
            spec: HostsSpec {
                server: self.tables[0].url.clone(),
                server_trust: EndpointTrust::default(),
                endpoints: Vec::new(),
                keep_capabilities: false,
            },
            secret: false,
            sources: Vec::new(),
            files: Vec::new(),
        };
        host.spec.server_trust = host.trust_of(&self.tables[0], true, sources);
        for t in &self.tables[1..] {
            let trust = host.trust_of(t, false, sources);
            host.spec.endpoints.push(Endpoint {
                url: t.url.clone(),
                trust,
            });
        }
        host.files.sort();
        host.files.dedup();
        host
    }

    /// Where source `i` landed in this file: `top level`, `[host."URL"]`;
    /// with `guesses`, only where the match was a guess.
    pub(super) fn places(&self, i: usize, guesses: bool) -> Vec<String> {
        self.tables
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                [t.tls, t.header]
                    .iter()
                    .flatten()
                    .any(|(j, rank)| *j == i && (!guesses || *rank < Match::Exact))
            })
            .map(|(n, t)| {
                if n == 0 {
                    "top level".to_string()
                } else {
                    format!("[host.{:?}]", t.url)
                }
            })
            .collect()
    }

    /// The least sure match of source `i` here, when it was a guess.
    pub(super) fn guessed(&self, i: usize) -> Option<Match> {
        self.tables
            .iter()
            .flat_map(|t| [t.tls, t.header])
            .flatten()
            .filter(|(j, rank)| *j == i && *rank < Match::Exact)
            .map(|(_, rank)| rank)
            .min()
    }
}

impl MigratedHost {
    /// The trust of one table from the sources that won it, noting where
    /// they came from and the files they name.
    fn trust_of(&mut self, t: &Table, top: bool, sources: &[Source]) -> EndpointTrust {
        let mut trust = EndpointTrust {
            capabilities: vec![Capability::Pull, Capability::Resolve],
            override_path: t.override_path && !top,
            ..EndpointTrust::default()
        };
        for (i, _) in t.tls.iter().chain(t.header.iter()) {
            let source = &sources[*i];
            let place = (!top).then(|| t.url.clone());
            self.sources
                .push((place, format!("{} ({})", source.what, source.at)));
            match &source.gift {
                Gift::Tls(tls) => {
                    put_tls(&mut trust, tls);
                    self.files.extend(tls.ca.iter().cloned());
                    let pair = tls
                        .client
                        .iter()
                        .flat_map(|c| [c.cert.clone(), c.key.clone()]);
                    self.files.extend(pair);
                }
                Gift::Header(value) => {
                    self.secret = true;
                    trust.headers =
                        vec![("Authorization".into(), vec![value.expose().to_string()])];
                }
            }
        }
        trust
    }
}

fn put_tls(trust: &mut EndpointTrust, tls: &TlsTrust) {
    trust.ca = tls.ca.iter().cloned().collect();
    trust.client.clone_from(&tls.client);
    trust.skip_verify = tls.skip_verify;
}

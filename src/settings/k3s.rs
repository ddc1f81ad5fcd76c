//! `--from-k3s FILE`: a k3s/RKE2 registries.yaml read into the same inputs
//! a spec gives, following k3s's own rendering rules where they matter to a
//! pull (k3s `pkg/agent/containerd/config.go`):
//!
//! - `mirrors.<name>.endpoint` become the mirrors in order (`"*"` is the
//!   `_default` directory); duplicates are dropped with a warning; a last
//!   endpoint equal to the registry's own URL is its server, not a mirror.
//! - An endpoint without a scheme is `https`, or `http` for a loopback host
//!   with a port other than 443. A path of "", "/" or "/v2" is the registry
//!   root; any other path is kept with `override_path = true`.
//! - `docker.io` (and an endpoint on it) means `registry-1.docker.io`.
//! - `configs.<host>.tls` applies to each endpoint whose own host is
//!   `<host>` (and to the server for the registry's own name), never to the
//!   other endpoints; `configs.<host>.auth` username/password becomes an
//!   `Authorization: Basic` header on those same endpoints.
//! - `rewrite`, `auth.auth` and `auth.identity_token` cannot be written to
//!   containerd's hosts.toml: each gets a warning naming it.
//!
//! Where certsd differs: endpoint URLs are written without the `/v2` k3s
//! appends (containerd appends it; same requests), credentials go into
//! hosts.toml headers (mode 0600) rather than config.toml's deprecated
//! `registry.configs.<host>.auth`, and certsd writes no file for a registry
//! with nothing to say, as k3s.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;

use super::endpoint::{AuthInput, Password, TrustOverrides};
use super::origin::{Origin, SpecPlace};
use super::registry::RegistryInput;
use super::spec::RegistryEntry;
use super::spec_table::Table;
use crate::exit_codes::usage;
use crate::formats::spec::{self, Entry, Format, Pos, Value};

/// What registries.yaml says, as inputs, and what it says that certsd cannot write.
pub struct K3s {
    pub registries: Vec<RegistryEntry>,
    pub warnings: Vec<String>,
}

struct Mirror {
    name: String,
    at: Pos,
    endpoints: Vec<String>,
}

#[derive(Default, Clone)]
struct Config {
    ca: Vec<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    skip_verify: bool,
    auth: Option<AuthInput>,
}

/// Reads registries.yaml (`file` names it in messages; relative paths from `base`).
pub fn read(file: &str, base: &Path, bytes: &[u8]) -> Result<K3s> {
    let root = spec::parse(file, bytes, Format::Yaml).map_err(|e| usage(format!("{e:#}")))?;
    let top = Table::new(
        file,
        &root,
        "registries.yaml".into(),
        &["mirrors", "configs", "auths"],
    )?;
    let mut warnings = Vec::new();
    if let Some(e) = top.get("auths") {
        warnings.push(format!(
            "{}: the deprecated `auths` is not read; move it into configs.<host>.auth",
            top.place(e)
        ));
    }
    let configs = read_configs(&top, base, &mut warnings)?;
    let mirrors = read_mirrors(&top, &mut warnings)?;
    let mut registries = Vec::new();
    for m in &mirrors {
        if let Some(entry) = registry(file, m, &configs, &mut warnings) {
            registries.push(entry);
        }
    }
    // A config for a host no mirror names still trusts that registry itself.
    for (name, config) in &configs {
        if name != "*" && !mirrors.iter().any(|m| m.name == *name) {
            let m = Mirror {
                name: name.clone(),
                at: Pos { line: 1, col: 1 },
                endpoints: Vec::new(),
            };
            if has_trust(config) {
                registries.extend(registry(file, &m, &configs, &mut warnings));
            }
        }
    }
    Ok(K3s {
        registries,
        warnings,
    })
}

fn map_of<'a>(top: &Table<'a>, key: &str) -> Result<&'a [Entry]> {
    match top.get(key).map(|e| (e, &e.node.value)) {
        None | Some((_, Value::Null)) => Ok(&[]),
        Some((_, Value::Table(entries))) => Ok(entries),
        Some((e, other)) => Err(usage(format!(
            "{} must be a map, not {}",
            top.place(e),
            other.kind()
        ))),
    }
}

fn read_mirrors(top: &Table<'_>, warnings: &mut Vec<String>) -> Result<Vec<Mirror>> {
    let mut out = Vec::new();
    for e in map_of(top, "mirrors")? {
        let name = format!("mirrors.{:?}", e.key);
        if e.node.value == Value::Null {
            out.push(Mirror {
                name: e.key.clone(),
                at: e.at,
                endpoints: Vec::new(),
            });
            continue;
        }
        let t = Table::new(top.file, &e.node, name, &["endpoint", "rewrite"])?;
        if let Some(r) = t.get("rewrite") {
            let rules = match &r.node.value {
                Value::Table(rules) => rules
                    .iter()
                    .map(|x| format!("{:?}", x.key))
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            warnings.push(format!(
                "{}: rewrite {rules} is not written: containerd's hosts.toml cannot rewrite repository names (only k3s's containerd fork can); pulls through this mirror use the image's own path",
                t.place(r)
            ));
        }
        out.push(Mirror {
            name: e.key.clone(),
            at: e.at,
            endpoints: t.strings("endpoint")?.unwrap_or_default(),
        });
    }
    Ok(out)
}

fn read_configs(
    top: &Table<'_>,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, Config)>> {
    let mut out = Vec::new();
    for e in map_of(top, "configs")? {
        let mut config = Config::default();
        if e.node.value != Value::Null {
            let t = Table::new(
                top.file,
                &e.node,
                format!("configs.{:?}", e.key),
                &["tls", "auth"],
            )?;
            if let Some(tls) = t.get("tls").filter(|x| x.node.value != Value::Null) {
                let tls = Table::new(
                    top.file,
                    &tls.node,
                    format!("{}.tls", t.name),
                    &["ca_file", "cert_file", "key_file", "insecure_skip_verify"],
                )?;
                config.ca = tls.input_paths("ca_file", base)?.unwrap_or_default();
                config.cert = tls.input_path("cert_file", base)?;
                config.key = tls.input_path("key_file", base)?;
                config.skip_verify = tls.bool("insecure_skip_verify")?.unwrap_or(false);
            }
            if let Some(auth) = t.get("auth").filter(|x| x.node.value != Value::Null) {
                config.auth = read_auth(&t, auth, warnings)?;
            }
        }
        out.push((e.key.clone(), config));
    }
    Ok(out)
}

fn read_auth(
    t: &Table<'_>,
    entry: &Entry,
    warnings: &mut Vec<String>,
) -> Result<Option<AuthInput>> {
    let a = Table::new(
        t.file,
        &entry.node,
        format!("{}.auth", t.name),
        &[
            "username",
            "password",
            "auth",
            "identity_token",
            "identitytoken",
        ],
    )?;
    for key in ["auth", "identity_token", "identitytoken"] {
        if let Some(e) = a.get(key) {
            warnings.push(format!(
                "{}: not written: hosts.toml has no field for it; give username and password instead (certsd sends them as an Authorization: Basic header)",
                a.place(e)
            ));
        }
    }
    match (a.str("username")?, a.str("password")?) {
        (Some(username), Some(password)) => Ok(Some(AuthInput {
            username,
            password: Password::Given(password),
        })),
        (None, None) => Ok(None),
        _ => Err(usage(format!(
            "{}:{}: {} needs both username and password",
            a.file, a.at, a.name
        ))),
    }
}

fn has_trust(c: &Config) -> bool {
    !c.ca.is_empty() || c.cert.is_some() || c.skip_verify || c.auth.is_some()
}

/// k3s looks a host up by its docker-mapped name first, then as written.
fn config_for<'a>(configs: &'a [(String, Config)], host: &str) -> Option<&'a Config> {
    let mapped = default_host(host);
    configs
        .iter()
        .find(|(n, _)| *n == mapped)
        .or_else(|| configs.iter().find(|(n, _)| n == host))
        .map(|(_, c)| c)
}

fn default_host(host: &str) -> &str {
    if host == "docker.io" {
        "registry-1.docker.io"
    } else {
        host
    }
}

/// One mirror entry as a registry input; `None` when it says nothing.
fn registry(
    file: &str,
    m: &Mirror,
    configs: &[(String, Config)],
    warnings: &mut Vec<String>,
) -> Option<RegistryEntry> {
    let wildcard = m.name == "*";
    let host = if wildcard {
        "_default".to_string()
    } else {
        m.name.clone()
    };
    // k3s normalises the registry's own name like an endpoint (localhost:5000 is http).
    let default = (!wildcard).then(|| normalize(&m.name).url);
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for raw in &m.endpoints {
        let ep = normalize(raw);
        if endpoints.iter().any(|e| e.url == ep.url) {
            warnings.push(format!("{file}:{}: mirrors.{:?}: endpoint {raw:?} is listed twice; the repeat is dropped (as k3s does)", m.at, m.name));
            continue;
        }
        endpoints.push(ep);
    }
    // A last endpoint equal to the default is the server itself.
    if endpoints
        .last()
        .is_some_and(|e| Some(&e.url) == default.as_ref() && !e.override_path)
    {
        endpoints.pop();
    }
    let server_config = config_for(configs, if wildcard { "*" } else { &m.name })
        .cloned()
        .unwrap_or_default();
    if endpoints.is_empty() && !has_trust(&server_config) {
        warnings.push(format!("{file}:{}: mirrors.{:?} has nothing to write (no endpoint other than the registry itself, no TLS or auth): no hosts.toml, as k3s", m.at, m.name));
        return None;
    }
    if wildcard && endpoints.is_empty() {
        warnings.push(format!(
            "{file}:{}: mirrors.\"*\" has no endpoint: nothing to write",
            m.at
        ));
        return None;
    }
    let mirror_trust = endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| (i, endpoint_overrides(e, configs)))
        .collect();
    let server = default.filter(|d| *d != format!("https://{}", default_host(&m.name)));
    let input = RegistryInput {
        host,
        server,
        mirrors: endpoints.iter().map(|e| e.url.clone()).collect(),
        ca: server_config.ca.clone(),
        client_cert: server_config.cert.clone(),
        client_key: server_config.key.clone(),
        skip_verify: server_config.skip_verify,
        auth: server_config.auth.clone().map(Box::new),
        mirror_trust,
        ..RegistryInput::default()
    };
    let origin = Origin::Spec(Arc::new(SpecPlace {
        file: file.to_string(),
        at: m.at,
        prefix: format!("mirrors.{:?}: ", m.name),
        keys: Vec::new(),
    }));
    Some(RegistryEntry { input, origin })
}

struct Endpoint {
    url: String,
    /// `host[:port]` as written, the key its TLS and auth are looked up by.
    host: String,
    override_path: bool,
}

/// k3s's `normalizeEndpointAddress`, written the way containerd reads it.
fn normalize(raw: &str) -> Endpoint {
    let raw = raw.trim();
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, raw),
    };
    let (host, path) = rest
        .find('/')
        .map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
    let scheme = scheme.unwrap_or_else(|| {
        if is_loopback_with_port(host) {
            "http".into()
        } else {
            "https".into()
        }
    });
    let trimmed = path.trim_end_matches('/');
    let root = trimmed.is_empty() || trimmed == "/v2";
    let mapped = default_host(host);
    Endpoint {
        url: format!("{scheme}://{mapped}{}", if root { "" } else { path }),
        host: host.to_string(),
        override_path: !root,
    }
}

fn is_loopback_with_port(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(']') || host.starts_with('[') => (n, Some(p)),
        _ => (host, None),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let loopback = name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback && port.is_some_and(|p| p != "443")
}

/// An endpoint's own trust: exactly the config of its host, nothing inherited.
fn endpoint_overrides(e: &Endpoint, configs: &[(String, Config)]) -> TrustOverrides {
    let config = config_for(configs, &e.host).cloned().unwrap_or_default();
    TrustOverrides {
        ca: Some(config.ca),
        client_cert: config.cert,
        client_key: config.key,
        skip_verify: Some(config.skip_verify),
        override_path: Some(e.override_path),
        auth: config.auth,
        isolated: true,
        ..TrustOverrides::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_k3s_normalisation() {
        let cases = [
            ("localhost:5000", "http://localhost:5000", false),
            ("https://localhost:5000", "https://localhost:5000", false),
            ("localhost", "https://localhost", false),
            ("127.0.0.1:443", "https://127.0.0.1:443", false),
            ("mirror:5443", "https://mirror:5443", false),
            ("https://m/v2", "https://m", false),
            ("https://m/", "https://m", false),
            (
                "https://h/v2/proxy-docker",
                "https://h/v2/proxy-docker",
                true,
            ),
            ("https://docker.io", "https://registry-1.docker.io", false),
            ("https://r:443", "https://r:443", false),
        ];
        for (raw, url, over) in cases {
            let e = normalize(raw);
            assert_eq!((e.url.as_str(), e.override_path), (url, over), "{raw}");
        }
    }
}

//! A spec file: a node's whole registry trust, turned into the same inputs
//! the flags give. Keys are the flags' names in `snake_case`; every message
//! names `FILE:LINE:COL` and the key (see [`SpecPlace`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;

use super::cert::IssueInput;
use super::endpoint::{AuthInput, Password, TrustOverrides};
use super::origin::{Field, Origin, SpecPlace};
use super::registry::RegistryInput;
use super::spec_table::Table;
use super::{GlobalInput, Output};
use crate::exit_codes::usage;
use crate::formats::spec::{self, Entry, Format, Node, Pos, Value};

/// The keys of a spec's top level (the Ansible module takes these and its own).
pub const TOP_KEYS: [&str; 4] = ["config", "certs_dir", "containerd_version", "registries"];
const REGISTRY_KEYS: [&str; 19] = [
    "host",
    "server",
    "mirrors",
    "ca",
    "client_cert",
    "client_key",
    "skip_verify",
    "capabilities",
    "headers",
    "override_path",
    "dial_timeout",
    "auth",
    "self_signed",
    "ca_dir",
    "cert_dir",
    "sans",
    "renew_before",
    "renew",
    "replace_trust",
];
const MIRROR_KEYS: [&str; 10] = [
    "auth",
    "url",
    "ca",
    "client_cert",
    "client_key",
    "skip_verify",
    "capabilities",
    "headers",
    "override_path",
    "dial_timeout",
];
/// `password` is listed so it gets its own message instead of "unknown key".
const AUTH_KEYS: [&str; 4] = ["username", "password_file", "password_env", "password"];

/// A spec's text and where it came from.
pub struct SpecSource {
    /// How messages name it: the path as given, or `<stdin>`.
    pub name: String,
    /// Relative input paths are taken from here.
    pub dir: PathBuf,
    pub bytes: Vec<u8>,
    pub format: Format,
}

/// One registry of a spec, with how messages name its keys.
pub struct RegistryEntry {
    pub input: RegistryInput,
    pub origin: Origin,
}

/// Everything a spec says.
pub struct Spec {
    /// `config`, `certs_dir`, `containerd_version` as the spec gives them,
    /// each with the place messages name.
    pub config: Option<(PathBuf, String)>,
    pub certs_dir: Option<(PathBuf, String)>,
    pub containerd_version: Option<(String, String)>,
    pub registries: Vec<RegistryEntry>,
}

impl Spec {
    /// Reads and checks a spec (exit 64 on anything wrong in it).
    pub fn read(source: &SpecSource) -> Result<Spec> {
        let root = spec::parse(&source.name, &source.bytes, source.format)
            .map_err(|e| usage(format!("{e:#}")))?;
        Spec::from_tree(source, &root)
    }

    /// Reads an already parsed spec tree (the Ansible module's arguments
    /// without its own keys); `source` names it and holds the base directory.
    pub fn from_tree(source: &SpecSource, root: &Node) -> Result<Spec> {
        let file = source.name.as_str();
        let top = Table::new(file, root, "the spec".into(), &TOP_KEYS)?;
        let placed = |key: &str| top.get(key).map(|e| format!("{file}:{}: {key}", e.at));
        let Some(list) = top.get("registries") else {
            return Err(usage(format!(
                "{file}: no `registries` key; list the registries, or write `registries = []` to only set config_path"
            )));
        };
        let registries = read_registries(source, list)?;
        Ok(Spec {
            config: top.str("config")?.map(PathBuf::from).zip(placed("config")),
            certs_dir: top
                .str("certs_dir")?
                .map(PathBuf::from)
                .zip(placed("certs_dir")),
            containerd_version: top
                .str("containerd_version")?
                .zip(placed("containerd_version")),
            registries,
        })
    }

    /// The global options: the flags', with the spec's where the flag is
    /// absent. The same setting with two different values is a usage error.
    pub fn globals(&self, flags: &GlobalInput) -> Result<GlobalInput> {
        Ok(GlobalInput {
            root: flags.root.clone(),
            config: pick(flags.config.as_ref(), self.config.as_ref(), "--config")?,
            certs_dir: pick(
                flags.certs_dir.as_ref(),
                self.certs_dir.as_ref(),
                "--certs-dir",
            )?,
            containerd_version: pick(
                flags.containerd_version.as_ref(),
                self.containerd_version.as_ref(),
                "--containerd-version",
            )?,
            output: if flags.output == Output::Json {
                Output::Json
            } else {
                Output::Text
            },
            containerd_bin: flags.containerd_bin.clone(),
            no_validate: flags.no_validate,
            write: flags.write,
        })
    }
}

fn pick<T: PartialEq + Clone + std::fmt::Debug>(
    flag: Option<&T>,
    spec: Option<&(T, String)>,
    flag_name: &str,
) -> Result<Option<T>> {
    match (flag, spec) {
        (Some(f), Some((s, place))) if f != s => Err(usage(format!(
            "{place} is {s:?} but {flag_name} says {f:?}; give the setting in one place"
        ))),
        (Some(f), _) => Ok(Some(f.clone())),
        (None, s) => Ok(s.map(|(v, _)| v.clone())),
    }
}

fn read_registries(source: &SpecSource, list: &Entry) -> Result<Vec<RegistryEntry>> {
    let file = source.name.as_str();
    let Value::List(items) = &list.node.value else {
        return Err(usage(format!(
            "{file}:{}: registries must be a list of tables ([[registries]] in TOML), not {}",
            list.at,
            list.node.value.kind()
        )));
    };
    let mut out: Vec<RegistryEntry> = Vec::with_capacity(items.len());
    let mut seen: std::collections::HashMap<String, usize> =
        std::collections::HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let registry = read_registry(source, item, i + 1)?;
        if let Some(line) = seen.insert(registry.input.host.clone(), item.at.line) {
            return Err(usage(format!(
                "{file}:{}: host {:?} is listed twice (first at line {line}); merge the two entries",
                item.at, registry.input.host
            )));
        }
        out.push(registry);
    }
    Ok(out)
}

/// The positions of the keys a table sets, as fields.
fn key_places(table: &Table<'_>, fields: &[(&str, Field)]) -> Vec<(Field, Pos)> {
    table
        .entries()
        .iter()
        .filter_map(|e| {
            let field = fields.iter().find(|(k, _)| *k == e.key)?.1;
            Some((field, e.at))
        })
        .collect()
}

const FIELDS: [(&str, Field); 18] = [
    ("host", Field::Host),
    ("server", Field::Server),
    ("mirrors", Field::Mirror),
    ("ca", Field::Ca),
    ("client_cert", Field::ClientCert),
    ("client_key", Field::ClientKey),
    ("skip_verify", Field::SkipVerify),
    ("capabilities", Field::Capabilities),
    ("headers", Field::Header),
    ("override_path", Field::OverridePath),
    ("dial_timeout", Field::DialTimeout),
    ("auth", Field::Auth),
    ("self_signed", Field::SelfSigned),
    ("ca_dir", Field::CaDir),
    ("cert_dir", Field::CertDir),
    ("sans", Field::San),
    ("renew_before", Field::RenewBefore),
    ("replace_trust", Field::ReplaceTrust),
];

fn read_registry(source: &SpecSource, node: &Node, n: usize) -> Result<RegistryEntry> {
    let file = source.name.as_str();
    let t = Table::new(file, node, format!("registries[{n}]"), &REGISTRY_KEYS)?;
    let base = source.dir.as_path();
    let Some(host) = t.str("host")? else {
        return Err(usage(format!(
            "{file}:{}: registries[{n}] has no `host`; give the registry as images name it (host = \"registry.example.com:5000\")",
            t.at
        )));
    };
    let mut keys = key_places(&t, &FIELDS);
    keys.push((Field::Renew, place_of(&t, "renew")));
    let (auth, auth_keys) = read_auth(&t, base)?;
    keys.extend(auth_keys);
    let origin = Origin::Spec(Arc::new(SpecPlace {
        file: file.to_string(),
        at: t.at,
        prefix: String::new(),
        keys,
    }));
    let (mirrors, mirror_trust) = read_mirrors(&t, base)?;
    let input = RegistryInput {
        host,
        server: t.str("server")?,
        mirrors,
        ca: t.input_paths("ca", base)?.unwrap_or_default(),
        client_cert: t.input_path("client_cert", base)?,
        client_key: t.input_path("client_key", base)?,
        skip_verify: t.bool("skip_verify")?.unwrap_or(false),
        capabilities: t.strings("capabilities")?.as_deref().map(split_commas),
        headers: read_headers(&t)?.unwrap_or_default(),
        override_path: t.bool("override_path")?.unwrap_or(false),
        issue: read_issue(&t, base)?.map(Box::new),
        dial_timeout: t.str("dial_timeout")?,
        auth: auth.map(Box::new),
        mirror_trust,
        replace_trust: t.bool("replace_trust")?.unwrap_or(false),
    };
    check_pairs(&t, &origin)?;
    Ok(RegistryEntry { input, origin })
}

fn place_of(t: &Table<'_>, key: &str) -> Pos {
    t.get(key).map_or(t.at, |e| e.at)
}

/// `capabilities = "pull,resolve"` reads like the flag.
fn split_commas(list: &[String]) -> Vec<String> {
    list.iter()
        .flat_map(|s| s.split(',').map(|c| c.trim().to_string()))
        .collect()
}

/// What clap's `requires` does for the flags.
fn check_pairs(t: &Table<'_>, origin: &Origin) -> Result<()> {
    let has = |k: &str| t.get(k).is_some();
    if has("client_cert") != has("client_key") {
        return Err(usage(format!(
            "{} and {} go together: give both",
            origin.name(Field::ClientCert),
            origin.name(Field::ClientKey)
        )));
    }
    Ok(())
}

fn read_issue(t: &Table<'_>, base: &Path) -> Result<Option<IssueInput>> {
    let self_signed = t.bool("self_signed")?.unwrap_or(false);
    let ca_dir = t.input_path("ca_dir", base)?;
    if self_signed && ca_dir.is_some() {
        return Err(usage(format!(
            "{}:{}: {} sets both self_signed and ca_dir; choose one",
            t.file, t.at, t.name
        )));
    }
    if !self_signed && ca_dir.is_none() {
        if let Some(e) = ["cert_dir", "sans", "renew_before", "renew"]
            .iter()
            .find_map(|k| t.get(k))
        {
            return Err(usage(format!(
                "{} needs self_signed = true or ca_dir (it is about the certificates certsd makes)",
                t.place(e)
            )));
        }
        return Ok(None);
    }
    Ok(Some(IssueInput {
        ca_dir,
        cert_dir: t.str("cert_dir")?.map(PathBuf::from),
        sans: t.strings("sans")?.unwrap_or_default(),
        renew_before: t.uint("renew_before")?.unwrap_or(30),
        renew: t.bool("renew")?.unwrap_or(false),
    }))
}

/// `headers = { "X-Team" = "build", "X-Tags" = ["a", "b"] }` as `Name: value` lines.
fn read_headers(t: &Table<'_>) -> Result<Option<Vec<String>>> {
    let Some(entry) = t.get("headers") else {
        return Ok(None);
    };
    let Value::Table(headers) = &entry.node.value else {
        return Err(usage(format!(
            "{} must be a table of header names to a string or a list of strings, not {}",
            t.place(entry),
            entry.node.value.kind()
        )));
    };
    let mut out = Vec::new();
    for h in headers {
        let values = match &h.node.value {
            Value::Str(s) => vec![s.as_str()],
            Value::List(items) => items
                .iter()
                .map(|n| match &n.value {
                    Value::Str(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad_header(t, h))?,
            _ => return Err(bad_header(t, h)),
        };
        out.extend(values.into_iter().map(|v| format!("{}: {v}", h.key)));
    }
    Ok(Some(out))
}

fn bad_header(t: &Table<'_>, h: &Entry) -> anyhow::Error {
    usage(format!(
        "{}:{}: {}.headers.{} must be a string or a list of strings, not {}",
        t.file,
        h.at,
        t.name,
        h.key,
        h.node.value.kind()
    ))
}

/// An `auth` table, and the places of its keys.
type AuthRead = (Option<AuthInput>, Vec<(Field, Pos)>);
/// The mirror URLs, and the overrides of those given as tables.
type MirrorsRead = (Vec<String>, Vec<(usize, TrustOverrides)>);

fn read_auth(t: &Table<'_>, base: &Path) -> Result<AuthRead> {
    let Some(entry) = t.get("auth") else {
        return Ok((None, Vec::new()));
    };
    let a = Table::new(t.file, &entry.node, format!("{}.auth", t.name), &AUTH_KEYS)?;
    if let Some(p) = a.get("password") {
        // Never echo the value: only where it is.
        return Err(usage(format!(
            "{}: certsd does not take a password in the spec (specs are copied and read by many); \
             put it in a file (password_file) or an environment variable (password_env)",
            a.place(p)
        )));
    }
    let places = key_places(
        &a,
        &[
            ("username", Field::Username),
            ("password_file", Field::PasswordFile),
            ("password_env", Field::PasswordEnv),
        ],
    );
    let username = a
        .str("username")?
        .ok_or_else(|| usage(format!("{}:{}: {} needs a username", a.file, a.at, a.name)))?;
    let password = match (a.input_path("password_file", base)?, a.str("password_env")?) {
        (Some(file), None) => Password::File(file),
        (None, Some(var)) => Password::Env(var),
        _ => {
            return Err(usage(format!(
                "{}:{}: {} needs one of password_file and password_env",
                a.file, a.at, a.name
            )));
        }
    };
    Ok((Some(AuthInput { username, password }), places))
}

/// `mirrors`: URLs, or tables `{ url, ca, skip_verify, ... }` whose keys
/// override the registry's for that mirror alone.
fn read_mirrors(t: &Table<'_>, base: &Path) -> Result<MirrorsRead> {
    let Some(entry) = t.get("mirrors") else {
        return Ok((Vec::new(), Vec::new()));
    };
    let Value::List(items) = &entry.node.value else {
        return Err(usage(format!(
            "{} must be a list of URLs or {{ url = ..., ... }} tables, not {}",
            t.place(entry),
            entry.node.value.kind()
        )));
    };
    let (mut urls, mut own) = (Vec::new(), Vec::new());
    for (i, item) in items.iter().enumerate() {
        match &item.value {
            Value::Str(url) => urls.push(url.clone()),
            Value::Table(_) => {
                let (url, overrides) = read_mirror(t, item, i + 1, base)?;
                urls.push(url);
                own.push((i, overrides));
            }
            other => {
                return Err(usage(format!(
                    "{}:{}: {}.mirrors[{}] must be a URL or a table, not {}",
                    t.file,
                    item.at,
                    t.name,
                    i + 1,
                    other.kind()
                )));
            }
        }
    }
    Ok((urls, own))
}

fn read_mirror(
    t: &Table<'_>,
    item: &Node,
    n: usize,
    base: &Path,
) -> Result<(String, TrustOverrides)> {
    let name = format!("{}.mirrors[{n}]", t.name);
    let m = Table::new(t.file, item, name.clone(), &MIRROR_KEYS)?;
    let url = m
        .str("url")?
        .ok_or_else(|| usage(format!("{}:{}: {name} has no `url`", m.file, m.at)))?;
    let origin = Origin::Spec(Arc::new(SpecPlace {
        file: t.file.to_string(),
        at: m.at,
        prefix: format!("mirrors[{n}]."),
        keys: key_places(&m, &FIELDS),
    }));
    check_pairs(&m, &origin)?;
    let overrides = TrustOverrides {
        ca: m.input_paths("ca", base)?,
        client_cert: m.input_path("client_cert", base)?,
        client_key: m.input_path("client_key", base)?,
        skip_verify: m.bool("skip_verify")?,
        capabilities: m.strings("capabilities")?.as_deref().map(split_commas),
        headers: read_headers(&m)?,
        override_path: m.bool("override_path")?,
        dial_timeout: m.str("dial_timeout")?,
        auth: read_auth(&m, base)?.0,
        isolated: false,
        origin: Some(origin),
    };
    Ok((url, overrides))
}

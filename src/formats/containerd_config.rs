//! containerd's config.toml: the one module that knows its layout.
//!
//! certsd changes exactly one value here, the CRI registry `config_path`,
//! in the table the file's `version` puts it in (DESIGN.md §1). Everything
//! else (comments, order, quoting, CRLF, a missing final newline) is kept
//! byte for byte, because operators and other tools own the rest.

use std::path::{Path, PathBuf};

use anyhow::Result;
use toml_edit::{Document, DocumentMut, Item, Key, Table, TableLike, Value};

use super::templates;
use super::toml_util::{self, Place as Spot, line_col, locate, type_name};
use crate::version::ConfigVersion;

mod tables;

pub use tables::RegistryTable;

/// A legacy `registry.mirrors."NS"` entry (it blocks `config_path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMirror {
    /// The namespace (registry host, or `*`).
    pub namespace: String,
    /// Its `endpoint` URLs, in order.
    pub endpoints: Vec<String>,
    /// The dotted table name, as containerd documents it.
    pub table: String,
    /// `file:line:col` of the entry's key.
    pub location: String,
    pub line: usize,
}

/// A legacy `registry.configs."HOST"` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyConfig {
    pub host: String,
    /// Its `tls` table, when there is one.
    pub tls: Option<LegacyTls>,
    /// It has an `auth` table (credentials: never shown).
    pub has_auth: bool,
    /// The dotted name of the `tls` table (or of the entry without one).
    pub table: String,
    /// `file:line:col` of the `tls` key (or of the entry's key).
    pub location: String,
    pub line: usize,
}

/// The values of a `registry.configs."HOST".tls` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyTls {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub insecure_skip_verify: Option<bool>,
}

/// A parsed containerd config.toml, ready to have `config_path` set.
#[derive(Debug, Clone)]
pub struct ContainerdConfig {
    original: String,
    doc: DocumentMut,
    version: ConfigVersion,
    config_path: Option<String>,
    mirrors: Vec<LegacyMirror>,
    configs: Vec<LegacyConfig>,
}

/// The table path holding `config_path` for a config version.
fn registry_path(version: ConfigVersion) -> [&'static str; 3] {
    match version {
        ConfigVersion::V1 => ["plugins", "cri", "registry"],
        ConfigVersion::V2 => ["plugins", "io.containerd.grpc.v1.cri", "registry"],
        ConfigVersion::V3 | ConfigVersion::V4 => {
            ["plugins", "io.containerd.cri.v1.images", "registry"]
        }
    }
}

/// `plugins."io.containerd.grpc.v1.cri".registry` style names for messages.
fn dotted(path: &[&str]) -> String {
    path.iter()
        .map(|seg| {
            if seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                (*seg).to_string()
            } else {
                format!("{seg:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

impl ContainerdConfig {
    /// Parses and checks a config file; `file` is only used in messages.
    pub fn parse(file: &Path, bytes: &[u8]) -> Result<ContainerdConfig> {
        let text = toml_util::as_text(file, bytes)?;
        let doc = Document::parse(text).map_err(|e| toml_util::syntax_error(file, text, &e))?;
        let version = read_version(file, text, doc.as_table())?;
        let facts = Facts::gather(file, text, doc.as_table(), version)?;
        Ok(ContainerdConfig {
            original: text.to_string(),
            doc: doc.into_mut(),
            version,
            config_path: facts.config_path,
            mirrors: facts.mirrors,
            configs: facts.configs,
        })
    }

    /// A new minimal config of the given version, from `templates/`.
    pub fn from_template(version: ConfigVersion) -> ContainerdConfig {
        let text = templates::containerd_config(version);
        let name = PathBuf::from("templates/config.toml");
        // The templates are ours and tested; failing here is a build bug.
        Self::parse(&name, text.as_bytes()).expect("embedded config template parses")
    }

    pub fn version(&self) -> ConfigVersion {
        self.version
    }

    /// The current `config_path`, if the file sets one.
    pub fn config_path(&self) -> Option<&str> {
        self.config_path.as_deref()
    }

    /// `registry.mirrors` entries (they make the CRI plugin fail with `config_path`).
    pub fn mirrors(&self) -> &[LegacyMirror] {
        &self.mirrors
    }

    /// Every `registry.configs."HOST"` entry (migrate and doctor read them).
    pub fn configs(&self) -> &[LegacyConfig] {
        &self.configs
    }

    /// The entries with a `tls` table (an error with `config_path` on containerd 1.x).
    pub fn tls_configs(&self) -> Vec<&LegacyConfig> {
        self.configs.iter().filter(|c| c.tls.is_some()).collect()
    }

    /// The `imports` list: drop-in files containerd merges over this one.
    pub fn imports(&self) -> Vec<String> {
        self.doc
            .get("imports")
            .and_then(Item::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The file's text with `config_path = dir`; every other byte is kept.
    pub fn with_config_path(&self, dir: &str) -> String {
        let same = |p: &str| p.trim_end_matches('/') == dir.trim_end_matches('/');
        if self.config_path.as_deref().is_some_and(same) {
            return self.original.clone();
        }
        let mut doc = self.doc.clone();
        let single = self.original.contains("'io.containerd.");
        let registry = ensure_tables(&mut doc, &registry_path(self.version), single);
        let literal = uses_literal_string(registry.get("config_path"));
        toml_util::set_value(registry, "config_path", string_value(dir, literal));
        toml_util::restore_line_endings(&self.original, doc.to_string())
    }
}

fn read_version(file: &Path, text: &str, root: &Table) -> Result<ConfigVersion> {
    let Some(item) = root.get("version") else {
        return Ok(ConfigVersion::V1);
    };
    let span = root.key("version").and_then(Key::span);
    item.as_integer()
        .and_then(ConfigVersion::from_number)
        .ok_or_else(|| {
            Spot::new(file, text, span).error(format!(
                "`version` must be 1, 2, 3 or 4 (found {}); containerd would refuse this file",
                item.as_value().map_or_else(
                    || type_name(item).to_string(),
                    |v| v.to_string().trim().to_string()
                )
            ))
        })
}

/// What the registry table of a parsed file holds.
struct Facts {
    config_path: Option<String>,
    mirrors: Vec<LegacyMirror>,
    configs: Vec<LegacyConfig>,
}

impl Facts {
    fn gather(file: &Path, text: &str, root: &Table, version: ConfigVersion) -> Result<Facts> {
        let path = registry_path(version);
        let mut facts = Facts {
            config_path: None,
            mirrors: Vec::new(),
            configs: Vec::new(),
        };
        let mut table: &dyn TableLike = root;
        for (depth, seg) in path.iter().enumerate() {
            let Some(item) = table.get(seg) else {
                return Ok(facts);
            };
            let here = Spot::new(file, text, table.key(seg).and_then(Key::span));
            table = item
                .as_table_like()
                .ok_or_else(|| wrong_type(&here, &dotted(&path[..=depth]), item, "a table"))?;
        }
        let at = |key: &str| Spot::new(file, text, table.key(key).and_then(Key::span));
        let name = dotted(&path);
        if let Some(item) = table.get("config_path") {
            let value = item.as_str().ok_or_else(|| {
                wrong_type(
                    &at("config_path"),
                    &format!("{name}.config_path"),
                    item,
                    "a string naming one directory, e.g. \"/etc/containerd/certs.d\"",
                )
            })?;
            facts.config_path = Some(value.to_string());
        }
        let place = Source { file, text };
        facts.mirrors = mirror_entries(&place, table, &name, &at)?;
        facts.configs = config_entries(&place, table, &name, &at)?;
        Ok(facts)
    }
}

fn wrong_type(at: &Spot, name: &str, item: &Item, expected: &str) -> anyhow::Error {
    at.error(format!(
        "{name} is {}, but containerd expects {expected}; fix or remove it (nothing was written)",
        type_name(item)
    ))
}

/// The file being read, for locating keys.
struct Source<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn at(&self, table: &dyn TableLike, key: &str) -> (String, usize) {
        let span = table.key(key).and_then(Key::span);
        let line = span.as_ref().map_or(0, |s| line_col(self.text, s.start).0);
        (locate(self.file, self.text, span), line)
    }
}

/// A sub-table of the registry table (`mirrors`, `configs`), if present.
fn sub_table<'a>(
    registry: &'a dyn TableLike,
    key: &str,
    name: &str,
    at: &dyn Fn(&str) -> Spot,
) -> Result<Option<&'a dyn TableLike>> {
    let Some(item) = registry.get(key) else {
        return Ok(None);
    };
    item.as_table_like()
        .map(Some)
        .ok_or_else(|| wrong_type(&at(key), &format!("{name}.{key}"), item, "a table"))
}

/// `registry.mirrors` entries, located at their own keys (not the often empty parent header).
fn mirror_entries(
    place: &Source<'_>,
    registry: &dyn TableLike,
    name: &str,
    at: &dyn Fn(&str) -> Spot,
) -> Result<Vec<LegacyMirror>> {
    let Some(mirrors) = sub_table(registry, "mirrors", name, at)? else {
        return Ok(Vec::new());
    };
    Ok(mirrors
        .iter()
        .map(|(ns, entry)| {
            let (location, line) = place.at(mirrors, ns);
            LegacyMirror {
                namespace: ns.to_string(),
                endpoints: strings(entry.as_table_like().and_then(|t| t.get("endpoint"))),
                table: format!("{name}.mirrors.{ns:?}"),
                location,
                line,
            }
        })
        .collect())
}

/// `registry.configs` entries; the `tls` ones are located at their `tls` key.
fn config_entries(
    place: &Source<'_>,
    registry: &dyn TableLike,
    name: &str,
    at: &dyn Fn(&str) -> Spot,
) -> Result<Vec<LegacyConfig>> {
    let Some(configs) = sub_table(registry, "configs", name, at)? else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for (host, entry) in configs.iter() {
        let Some(entry) = entry.as_table_like() else {
            continue;
        };
        // Any `tls` key counts (containerd refuses it whatever it holds).
        let tls = entry
            .get("tls")
            .map(|item| item.as_table_like().map(tls_values).unwrap_or_default());
        let (table, (location, line)) = match tls {
            Some(_) => (
                format!("{name}.configs.{host:?}.tls"),
                place.at(entry, "tls"),
            ),
            None => (format!("{name}.configs.{host:?}"), place.at(configs, host)),
        };
        found.push(LegacyConfig {
            host: host.to_string(),
            tls,
            has_auth: entry.contains_key("auth"),
            table,
            location,
            line,
        });
    }
    Ok(found)
}

fn tls_values(tls: &dyn TableLike) -> LegacyTls {
    let text = |k: &str| tls.get(k).and_then(Item::as_str).map(String::from);
    LegacyTls {
        ca_file: text("ca_file"),
        cert_file: text("cert_file"),
        key_file: text("key_file"),
        insecure_skip_verify: tls.get("insecure_skip_verify").and_then(Item::as_bool),
    }
}

/// The strings of an array value (others are skipped).
fn strings(item: Option<&Item>) -> Vec<String> {
    item.and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Walks to the registry table, creating standard tables (not inline ones)
/// for whatever is missing; intermediate tables stay implicit (no header).
fn ensure_tables<'a>(
    doc: &'a mut DocumentMut,
    path: &[&str],
    single_quotes: bool,
) -> &'a mut dyn TableLike {
    let mut current: &mut dyn TableLike = doc.as_table_mut();
    let mut inline = false;
    for (depth, seg) in path.iter().enumerate() {
        if !current.contains_key(seg) {
            let key = make_key(seg, single_quotes);
            let item = if inline {
                Item::Value(Value::InlineTable(toml_edit::InlineTable::new()))
            } else {
                let mut table = Table::new();
                table.set_implicit(depth + 1 < path.len());
                Item::Table(table)
            };
            current.entry_format(&key).or_insert(item);
        }
        let item = current
            .get_mut(seg)
            .expect("present: checked or inserted above");
        inline = inline || item.is_inline_table();
        current = item
            .as_table_like_mut()
            .expect("registry path holds tables: checked at parse");
    }
    current
}

/// A key spelled the way the file spells plugin keys.
fn make_key(seg: &str, single_quotes: bool) -> Key {
    if single_quotes
        && seg.contains('.')
        && let Ok(mut keys) = Key::parse(&format!("'{seg}'"))
        && let Some(key) = keys.pop()
    {
        return key;
    }
    Key::new(seg)
}

fn uses_literal_string(item: Option<&Item>) -> bool {
    item.and_then(Item::as_value)
        .and_then(|v| match v {
            Value::String(s) => s
                .as_repr()
                .and_then(|r| r.as_raw().as_str())
                .map(|r| r.starts_with('\'')),
            _ => None,
        })
        .unwrap_or(false)
}

/// A string value, as a 'literal' when the file used one and the text allows it.
fn string_value(s: &str, literal: bool) -> Value {
    if literal
        && !s.contains('\'')
        && !s.chars().any(char::is_control)
        && let Ok(v) = format!("'{s}'").parse::<Value>()
    {
        return v;
    }
    Value::from(s)
}

#[cfg(test)]
#[path = "containerd_config_tests.rs"]
mod tests;

//! containerd's config.toml: the one module that knows its layout.
//!
//! certsd changes exactly one value here, the CRI registry `config_path`,
//! in the table the target containerd takes it from (DESIGN.md §1, and
//! [`effective`] for how a version 1 or 2 file is read by 2.x). Everything
//! else (comments, order, quoting, CRLF, a missing final newline) is kept
//! byte for byte, because operators and other tools own the rest.

mod effective;
mod legacy;

use std::path::{Path, PathBuf};

use anyhow::Result;
use toml_edit::{Document, DocumentMut, Item, Key, Table, TableLike, Value};

use super::templates;
use super::toml_util::{self, Place as Spot, line_col, locate, type_name};
use crate::version::ConfigVersion;

pub use effective::Effective;
pub use legacy::{LegacyAuth, LegacyAuthEntry, Removal, Secret};

mod tables;

pub use tables::WrittenRegistry;

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
    /// What that `auth` table holds (secrets redacted in `Debug`).
    pub auth: Option<LegacyAuth>,
    /// The line of the `auth` key (0 without one).
    pub auth_line: usize,
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

/// A table containerd may take the CRI registry settings from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryTable {
    /// `plugins.cri.registry`: what containerd 1.x reads in a version 1 file.
    Cri,
    /// `plugins."io.containerd.grpc.v1.cri".registry`: 1.x in a version 2
    /// file; 2.x moves it over the images table when it migrates the file.
    Grpc,
    /// `plugins."io.containerd.cri.v1.images".registry`: containerd 2.x.
    Images,
}

impl RegistryTable {
    const ALL: [RegistryTable; 3] = [
        RegistryTable::Cri,
        RegistryTable::Grpc,
        RegistryTable::Images,
    ];

    pub fn path(self) -> [&'static str; 3] {
        match self {
            RegistryTable::Cri => ["plugins", "cri", "registry"],
            RegistryTable::Grpc => ["plugins", "io.containerd.grpc.v1.cri", "registry"],
            RegistryTable::Images => ["plugins", "io.containerd.cri.v1.images", "registry"],
        }
    }

    /// The table's dotted name, as containerd's docs write it.
    pub fn name(self) -> String {
        dotted(&self.path())
    }
}

/// What one registry table of the file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRead {
    pub table: RegistryTable,
    /// `file:line:col` of the table.
    pub location: String,
    /// Its `config_path`, when set.
    pub config_path: Option<String>,
    /// Its `registry.mirrors` entries (they make the CRI plugin fail with `config_path`).
    pub mirrors: Vec<LegacyMirror>,
    /// Its `registry.configs."HOST"` entries.
    pub configs: Vec<LegacyConfig>,
    /// Its `registry.auths."URL"` entries (deprecated since 1.3).
    pub auths: Vec<LegacyAuthEntry>,
}

impl RegistryRead {
    /// A table the file does not have: nothing in it.
    pub fn empty(table: RegistryTable) -> RegistryRead {
        RegistryRead {
            table,
            location: String::new(),
            config_path: None,
            mirrors: Vec::new(),
            configs: Vec::new(),
            auths: Vec::new(),
        }
    }
}

/// A parsed containerd config.toml, ready to have `config_path` set.
#[derive(Debug, Clone)]
pub struct ContainerdConfig {
    original: String,
    doc: DocumentMut,
    version: ConfigVersion,
    /// Each registry table the file has, of the three containerd knows.
    tables: Vec<RegistryRead>,
    /// The file has an `io.containerd.cri.v1.images` plugin table (a 2.x name).
    images_plugin: bool,
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
        let mut tables = Vec::new();
        for table in RegistryTable::ALL {
            tables.extend(RegistryRead::gather(file, text, doc.as_table(), table)?);
        }
        let images_plugin = doc
            .get("plugins")
            .and_then(Item::as_table_like)
            .is_some_and(|p| p.contains_key("io.containerd.cri.v1.images"));
        Ok(ContainerdConfig {
            original: text.to_string(),
            doc: doc.into_mut(),
            version,
            tables,
            images_plugin,
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

    fn table(&self, table: RegistryTable) -> Option<&RegistryRead> {
        self.tables.iter().find(|t| t.table == table)
    }

    /// The `config_path` of the table the file itself points at (its
    /// containerd unknown; [`Effective`] judges it for a known one). Used on
    /// `config dump` output, which is always in its containerd's own version.
    pub fn config_path(&self) -> Option<&str> {
        let table = self.effective(None).ok()?.table;
        self.table(table)?.config_path.as_deref()
    }

    /// `registry.mirrors` entries of that table.
    pub fn mirrors(&self) -> Vec<LegacyMirror> {
        self.effective(None)
            .map(|e| e.mirrors().to_vec())
            .unwrap_or_default()
    }

    /// Every `registry.configs."HOST"` entry of that table (migrate and doctor read them).
    pub fn configs(&self) -> Vec<LegacyConfig> {
        self.effective(None)
            .ok()
            .and_then(|e| e.read.map(|r| r.configs.clone()))
            .unwrap_or_default()
    }

    /// The entries of that table with a `tls` table (an error with `config_path` on containerd 1.x).
    pub fn tls_configs(&self) -> Vec<LegacyConfig> {
        self.configs()
            .into_iter()
            .filter(|c| c.tls.is_some())
            .collect()
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

    /// The file's text with `config_path = dir` in the table the file itself
    /// points at; every other byte is kept.
    pub fn with_config_path(&self, dir: &str) -> String {
        match self.effective(None) {
            Ok(effective) => self.with_config_path_in(&effective, dir),
            Err(_) => self.original.clone(),
        }
    }

    /// The file's text with `config_path = dir` in `effective`'s table, or
    /// the exact bytes when it already holds `dir`.
    pub fn with_config_path_in(&self, effective: &Effective<'_>, dir: &str) -> String {
        let same = |p: &str| p.trim_end_matches('/') == dir.trim_end_matches('/');
        if effective.config_path().is_some_and(same) {
            return self.original.clone();
        }
        let mut doc = self.doc.clone();
        self.set_config_path(&mut doc, effective, dir);
        toml_util::restore_line_endings(&self.original, doc.to_string())
    }

    /// Sets `config_path = dir` in `effective`'s table of `doc` (a copy of
    /// this file's document), creating the table as the file would write it.
    fn set_config_path(&self, doc: &mut DocumentMut, effective: &Effective<'_>, dir: &str) {
        let single = self.original.contains("'io.containerd.");
        let path = effective.table.path();
        // Indented as the file was before any legacy table left it.
        let mut indent = toml_util::indent_for(self.doc.as_table(), &path);
        if indent.key.is_empty()
            && let Some(own) = self.key_indent(&path)
        {
            indent.key = own;
        }
        let registry = ensure_tables(doc, &path, single, &indent.header);
        let literal = uses_literal_string(registry.get("config_path"));
        let fresh = !registry.contains_key("config_path");
        let alone = registry.iter().all(|(_, item)| !item.is_value());
        toml_util::set_value(registry, "config_path", string_value(dir, literal));
        if fresh
            && alone
            && let Some(mut key) = registry.key_mut("config_path")
        {
            key.leaf_decor_mut().set_prefix(indent.key);
        }
    }
}

impl ContainerdConfig {
    /// The indentation of the first key (dotted ones too) of the table at
    /// `path` in the file as read.
    fn key_indent(&self, path: &[&str]) -> Option<String> {
        let mut table: &dyn TableLike = self.doc.as_table();
        for seg in path {
            table = table.get(seg)?.as_table_like()?;
        }
        first_key_indent(table)
    }
}

/// A dotted key's spacing sits on its last part, so dotted tables are walked.
fn first_key_indent(table: &dyn TableLike) -> Option<String> {
    table.iter().find_map(|(name, item)| {
        if let Some(t) = item.as_table().filter(|t| t.is_dotted()) {
            return first_key_indent(t);
        }
        if !item.is_value() {
            return None;
        }
        let prefix = table.key(name)?.leaf_decor().prefix()?.as_str()?;
        let last = prefix.rsplit('\n').next().unwrap_or(prefix);
        (!last.is_empty() && last.chars().all(|c| c == ' ' || c == '\t')).then(|| last.to_string())
    })
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

impl RegistryRead {
    /// Reads one registry table; `None` when the file does not have it.
    fn gather(
        file: &Path,
        text: &str,
        root: &Table,
        which: RegistryTable,
    ) -> Result<Option<RegistryRead>> {
        let path = which.path();
        let mut table: &dyn TableLike = root;
        let mut location = String::new();
        for (depth, seg) in path.iter().enumerate() {
            let Some(item) = table.get(seg) else {
                return Ok(None);
            };
            let span = item
                .as_table()
                .and_then(Table::span)
                .or_else(|| table.key(seg).and_then(Key::span));
            location = locate(file, text, span);
            let here = Spot::new(file, text, table.key(seg).and_then(Key::span));
            table = item
                .as_table_like()
                .ok_or_else(|| wrong_type(&here, &dotted(&path[..=depth]), item, "a table"))?;
        }
        let at = |key: &str| Spot::new(file, text, table.key(key).and_then(Key::span));
        let name = dotted(&path);
        let config_path = match table.get("config_path") {
            Some(item) => Some(item.as_str().map(String::from).ok_or_else(|| {
                wrong_type(
                    &at("config_path"),
                    &format!("{name}.config_path"),
                    item,
                    "a string naming one directory, e.g. \"/etc/containerd/certs.d\"",
                )
            })?),
            None => None,
        };
        let place = Source { file, text };
        Ok(Some(RegistryRead {
            table: which,
            location,
            config_path,
            mirrors: mirror_entries(&place, table, &name, &at)?,
            configs: config_entries(&place, table, &name, &at)?,
            auths: legacy::auth_entries(&place, table, &name, &at)?,
        }))
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
            auth: entry
                .get("auth")
                .and_then(Item::as_table_like)
                .map(legacy::auth_values),
            // No `auth` key: no span, line 0.
            auth_line: place.at(entry, "auth").1,
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
/// for whatever is missing; intermediate tables stay implicit (no header),
/// and a new header is indented by `indent`, as the file indents its own.
fn ensure_tables<'a>(
    doc: &'a mut DocumentMut,
    path: &[&str],
    single_quotes: bool,
    indent: &str,
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
                table.decor_mut().set_prefix(format!("\n{indent}"));
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

//! certs.d/<host>/hosts.toml: the one module that knows its fields.
//!
//! The top level describes the upstream (`server`); each `[host."URL"]` is an
//! endpoint containerd tries in file order before the server. certsd owns a
//! fixed set of fields (`capabilities`, `ca`, `client`, `skip_verify`,
//! `header`, `override_path`, and `dial_timeout` when a run sets it) and the
//! set and order of host tables; it keeps comments and every other key, so
//! hand-added settings such as a `dial_timeout` no run asked for survive. [`HostsFile::read`] says what a file holds.

use std::path::Path;

use anyhow::Result;
use toml_edit::{Array, Document, DocumentMut, Item, Key, Table, TableLike, Value};

use super::templates;
use super::toml_util::{self, Place, type_name};

/// What containerd may do with an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Pull,
    Resolve,
    Push,
    /// containerd 2.2+ only: older versions drop the whole file over it.
    Referrers,
}

impl Capability {
    pub fn parse(name: &str) -> Option<Capability> {
        match name {
            "pull" => Some(Capability::Pull),
            "resolve" => Some(Capability::Resolve),
            "push" => Some(Capability::Push),
            "referrers" => Some(Capability::Referrers),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Pull => "pull",
            Capability::Resolve => "resolve",
            Capability::Push => "push",
            Capability::Referrers => "referrers",
        }
    }
}

/// A client certificate and its key, as node paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPaths {
    pub cert: String,
    pub key: String,
}

/// Trust settings for one endpoint. Paths are node paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointTrust {
    pub capabilities: Vec<Capability>,
    pub ca: Vec<String>,
    pub client: Option<ClientPaths>,
    pub skip_verify: bool,
    /// Header name and its values, in the order given.
    pub headers: Vec<(String, Vec<String>)>,
    pub override_path: bool,
    /// Set when asked for; `None` leaves a hand-written `dial_timeout` alone.
    pub dial_timeout: Option<String>,
}

/// One `[host."URL"]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub trust: EndpointTrust,
}

/// The whole desired content of the fields certsd manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsSpec {
    /// Empty for `_default`, which has no server of its own.
    pub server: String,
    pub server_trust: EndpointTrust,
    /// Never empty: containerd 1.6 drops a file without a host table.
    pub endpoints: Vec<Endpoint>,
    /// The run named no capabilities: tables the file already has keep
    /// theirs, and the trusts' capabilities go only to tables certsd creates.
    pub keep_capabilities: bool,
}

/// A parsed (or new) hosts.toml.
#[derive(Debug, Clone)]
pub struct HostsFile {
    original: String,
    doc: DocumentMut,
    read: HostsRead,
}

impl HostsFile {
    /// Parses an existing file; a broken file is refused, never replaced.
    pub fn parse(file: &Path, bytes: &[u8]) -> Result<HostsFile> {
        let text = toml_util::as_text(file, bytes)?;
        let doc = Document::parse(text).map_err(|e| toml_util::syntax_error(file, text, &e))?;
        check_shape(file, text, doc.as_table())?;
        Ok(HostsFile {
            original: text.to_string(),
            read: HostsRead::from_table(doc.as_table(), text),
            doc: doc.into_mut(),
        })
    }

    /// A new file from `templates/hosts.toml`.
    pub fn new() -> HostsFile {
        // Parsed once per process and cloned: a rerun over a big fleet makes
        // one new file per host to compare with the one on disk.
        static TEMPLATE: std::sync::OnceLock<DocumentMut> = std::sync::OnceLock::new();
        let doc = TEMPLATE
            .get_or_init(|| {
                templates::hosts_toml()
                    .parse::<DocumentMut>()
                    .expect("embedded hosts template parses")
            })
            .clone();
        HostsFile {
            original: String::new(),
            doc,
            read: HostsRead::default(),
        }
    }

    /// What the file holds (nothing, for a new file).
    pub fn read(&self) -> &HostsRead {
        &self.read
    }

    /// The URLs of the `[host."URL"]` tables the file has now.
    pub fn endpoint_urls(&self) -> Vec<String> {
        self.read.hosts.iter().map(|h| h.url.clone()).collect()
    }

    /// The text with the managed fields set as `spec` says (capabilities
    /// kept where [`HostsSpec::keep_capabilities`] says so).
    pub fn render(&self, spec: &HostsSpec) -> String {
        if self.original.is_empty()
            && let Some(text) = fresh::render(spec)
        {
            return text;
        }
        self.render_edited(spec)
    }

    /// [`HostsFile::render`] through `toml_edit`: the file's own comments,
    /// keys and layout kept.
    fn render_edited(&self, spec: &HostsSpec) -> String {
        let mut doc = self.doc.clone();
        let root = doc.as_table_mut();
        // No server (`_default`): containerd uses the image's own registry;
        // the comments above the key move to the next one.
        let orphaned = if spec.server.is_empty() {
            take_key_prefix(root, "server")
        } else {
            set_if_changed(root, "server", Value::from(spec.server.as_str()));
            None
        };
        let keep_top = spec.keep_capabilities && !self.original.is_empty();
        apply_trust(root, &spec.server_trust, keep_top);
        let first = root
            .iter()
            .find(|(_, item)| item.is_value())
            .map(|(k, _)| k.to_string());
        if let (Some(prefix), Some(first)) = (orphaned, first)
            && let Some(mut key) = root.key_mut(&first)
        {
            key.leaf_decor_mut().set_prefix(prefix);
        }
        set_endpoints(root, &spec.endpoints, spec.keep_capabilities);
        let rendered = doc.to_string();
        if self.original.is_empty() {
            rendered
        } else {
            toml_util::restore_line_endings(&self.original, rendered)
        }
    }
}

/// A new hosts.toml for `spec`: what `HostsFile::new().render(spec)` gives,
/// without building a document.
pub fn render_new(spec: &HostsSpec) -> String {
    fresh::render(spec).unwrap_or_else(|| HostsFile::new().render_edited(spec))
}

impl Default for HostsFile {
    fn default() -> Self {
        Self::new()
    }
}

/// Removes `key`, returning the comments above it.
fn take_key_prefix(table: &mut Table, key: &str) -> Option<String> {
    let prefix = table
        .key(key)
        .and_then(|k| k.leaf_decor().prefix())
        .and_then(|p| p.as_str())
        .map(String::from);
    table.remove(key)?;
    prefix.filter(|p| !p.is_empty())
}

/// `host` must be a table of tables; anything else would make us guess.
fn check_shape(file: &Path, text: &str, root: &Table) -> Result<()> {
    let Some(hosts) = root.get("host") else {
        return Ok(());
    };
    let at = |t: &dyn TableLike, k: &str| Place::new(file, text, t.key(k).and_then(Key::span));
    let hosts = hosts.as_table_like().ok_or_else(|| {
        at(root, "host").error(format!(
            "`host` is {}, but hosts.toml needs [host.\"URL\"] tables; fix or remove it",
            type_name(hosts)
        ))
    })?;
    for (url, item) in hosts.iter() {
        if !item.is_table_like() {
            return Err(at(hosts, url).error(format!(
                "host.{url:?} is {}, but it must be a table of endpoint settings; fix or remove it",
                type_name(item)
            )));
        }
    }
    Ok(())
}

/// Sets the managed fields of one table; absent settings are removed, but
/// `capabilities` stays as it is with `keep_capabilities`, and so does a
/// `skip_verify = false` the run does not turn on (it means what absence does).
fn apply_trust(table: &mut dyn TableLike, trust: &EndpointTrust, keep_capabilities: bool) {
    let verify_kept =
        !trust.skip_verify && table.get("skip_verify").and_then(Item::as_bool) == Some(false);
    let wanted: [(&str, Option<Value>); 5] = [
        ("capabilities", Some(capability_array(&trust.capabilities))),
        ("ca", ca_value(&trust.ca)),
        (
            "client",
            trust.client.as_ref().map(|c| client_value(&c.cert, &c.key)),
        ),
        ("skip_verify", trust.skip_verify.then(|| Value::from(true))),
        (
            "override_path",
            trust.override_path.then(|| Value::from(true)),
        ),
    ];
    for (key, value) in wanted {
        if (key == "capabilities" && keep_capabilities) || (key == "skip_verify" && verify_kept) {
            continue;
        }
        match value {
            Some(value) => set_if_changed(table, key, value),
            None => {
                table.remove(key);
            }
        }
    }
    if let Some(timeout) = &trust.dial_timeout {
        set_if_changed(table, "dial_timeout", Value::from(timeout.as_str()));
    }
    set_headers(table, &trust.headers);
}

fn set_headers(table: &mut dyn TableLike, headers: &[(String, Vec<String>)]) {
    if headers.is_empty() {
        table.remove("header");
        return;
    }
    let current_ok = table.get("header").is_some_and(Item::is_table_like);
    if !current_ok {
        table.remove("header");
        table.insert("header", Item::Table(Table::new()));
    }
    let Some(header) = table.get_mut("header").and_then(Item::as_table_like_mut) else {
        return;
    };
    let names: Vec<String> = header.iter().map(|(k, _)| k.to_string()).collect();
    for name in names {
        if !headers.iter().any(|(n, _)| *n == name) {
            header.remove(&name);
        }
    }
    for (name, values) in headers {
        set_if_changed(header, name, header_value(values));
    }
}

/// One header's value: a string, or an array when it has several.
fn header_value(values: &[String]) -> Value {
    match values {
        [one] => Value::from(one.as_str()),
        many => string_array(many),
    }
}

/// Makes the `[host."URL"]` tables exactly `endpoints`, in that order; the
/// tables kept keep their capabilities with `keep_capabilities`.
fn set_endpoints(root: &mut Table, endpoints: &[Endpoint], keep_capabilities: bool) {
    if !root.get("host").is_some_and(Item::is_table_like) {
        let mut hosts = Table::new();
        hosts.set_implicit(true);
        root.insert("host", Item::Table(hosts));
    }
    let Some(hosts) = root.get_mut("host").and_then(Item::as_table_like_mut) else {
        return;
    };
    let existing: Vec<String> = hosts.iter().map(|(k, _)| k.to_string()).collect();
    for url in &existing {
        if !endpoints.iter().any(|e| e.url == *url) {
            hosts.remove(url);
        }
    }
    for endpoint in endpoints {
        let created = !hosts.contains_key(&endpoint.url);
        if created {
            hosts.insert(&endpoint.url, Item::Table(Table::new()));
        }
        if let Some(table) = hosts
            .get_mut(&endpoint.url)
            .and_then(Item::as_table_like_mut)
        {
            apply_trust(table, &endpoint.trust, keep_capabilities && !created);
        }
    }
    keep_file_order(hosts, endpoints);
}

/// containerd tries host tables in the order they appear in the file, so
/// when the kept tables are out of order they are renumbered.
fn keep_file_order(hosts: &mut dyn TableLike, endpoints: &[Endpoint]) {
    let tables: Vec<Option<&Table>> = endpoints
        .iter()
        .map(|e| hosts.get(&e.url).and_then(Item::as_table))
        .collect();
    // Dotted and implicit tables (`host."u".k = v`, or only `[host."u".header]`)
    // have no line of their own: with several endpoints their order is not
    // the file's, so they are turned into [host."URL"] tables.
    let placeless = endpoints.len() > 1
        && tables
            .iter()
            .flatten()
            .any(|t| t.is_dotted() || t.is_implicit());
    let positions: Vec<Option<isize>> =
        tables.iter().map(|t| t.and_then(Table::position)).collect();
    let known: Vec<isize> = positions.iter().flatten().copied().collect();
    let in_order = known.windows(2).all(|w| w[0] < w[1]);
    let new_after_old = positions
        .iter()
        .skip_while(|p| p.is_some())
        .all(Option::is_none);
    if in_order && new_after_old && !placeless {
        return;
    }
    hosts.set_dotted(false);
    let base = known.iter().copied().min().unwrap_or(0);
    for (i, endpoint) in endpoints.iter().enumerate() {
        if let Some(table) = hosts.get_mut(&endpoint.url).and_then(Item::as_table_mut) {
            let pos = base + isize::try_from(i).unwrap_or(isize::MAX / 2) * 1000;
            table.set_dotted(false);
            table.set_implicit(false);
            table.set_position(Some(pos));
            if let Some(header) = table.get_mut("header").and_then(Item::as_table_mut) {
                header.set_position(Some(pos + 1));
            }
        }
    }
}

/// Replaces a value only when it means something else, so a file certsd
/// wrote (or a user formatted) comes back byte for byte when nothing changed.
fn set_if_changed(table: &mut dyn TableLike, key: &str, value: Value) {
    let same = table
        .get(key)
        .and_then(Item::as_value)
        .is_some_and(|old| same_value(old, &value));
    if !same {
        toml_util::set_value(table, key, value);
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same_value(p, q))
        }
        _ => false,
    }
}

fn string_array<S: AsRef<str>>(items: &[S]) -> Value {
    Value::Array(items.iter().map(AsRef::as_ref).collect::<Array>())
}

fn capability_array(caps: &[Capability]) -> Value {
    Value::Array(caps.iter().map(|c| c.as_str()).collect::<Array>())
}

fn ca_value(ca: &[String]) -> Option<Value> {
    match ca {
        [] => None,
        [one] => Some(Value::from(one.as_str())),
        many => Some(string_array(many)),
    }
}

fn client_value(cert: &str, key: &str) -> Value {
    let pair = string_array(&[cert, key]);
    Value::Array(std::iter::once(pair).collect::<Array>())
}

mod anchors;
mod fresh;
pub mod read;
mod types;

pub use read::{FieldsRead, HostsRead, KNOWN as KNOWN_KEYS};
pub use types::is_go_duration;

#[cfg(test)]
#[path = "hosts_toml_tests.rs"]
mod tests;

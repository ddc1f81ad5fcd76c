//! What a hosts.toml holds: every field certsd writes, the keys it does not
//! know, and the line of each `[host]` table, read from a parsed file.

use toml_edit::{Item, Key, Table, TableLike, Value};

use super::{Capability, ClientPaths, EndpointTrust};
use crate::formats::toml_util::line_col;

/// The keys containerd reads on the top level and in each `[host]` table.
pub const KNOWN: [&str; 8] = [
    "server",
    "capabilities",
    "ca",
    "client",
    "skip_verify",
    "header",
    "override_path",
    "dial_timeout",
];

/// The fields of one table (the top level, or one `[host."URL"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldsRead {
    /// `None` when the key is absent (containerd then allows everything).
    pub capabilities: Option<Vec<String>>,
    pub ca: Vec<String>,
    /// Certificate and key; a lone string is a file holding both.
    pub client: Vec<(String, Option<String>)>,
    pub skip_verify: Option<bool>,
    pub headers: Vec<(String, Vec<String>)>,
    pub override_path: Option<bool>,
    pub dial_timeout: Option<String>,
    /// Keys containerd does not read, with their lines.
    pub unknown: Vec<(String, usize)>,
    /// The line of every key containerd reads that is present.
    pub lines: Vec<(String, usize)>,
    /// Values of a type containerd refuses: any one makes it drop the file.
    pub type_errors: Vec<TypeError>,
}

/// A value containerd's hosts.toml parser refuses (`invalid type ... for "ca"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    pub key: String,
    pub line: usize,
    /// What is wrong, e.g. "`ca` is an integer; containerd takes a string or an array of strings".
    pub message: String,
}

/// One `[host."URL"]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRead {
    pub url: String,
    /// The table's line (0 when it has no header of its own).
    pub line: usize,
    pub fields: FieldsRead,
}

/// What a whole hosts.toml holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsRead {
    pub server: Option<String>,
    pub top: FieldsRead,
    /// In file order: the order containerd tries them.
    pub hosts: Vec<HostRead>,
}

impl HostsRead {
    /// Reads a parsed document; `text` gives the lines.
    pub(super) fn from_table(root: &Table, text: &str) -> HostsRead {
        let line =
            |span: Option<std::ops::Range<usize>>| span.map_or(0, |s| line_col(text, s.start).0);
        let mut hosts = Vec::new();
        if let Some(table) = root.get("host").and_then(Item::as_table_like) {
            for (url, item) in table.iter() {
                let Some(fields) = item.as_table_like() else {
                    continue;
                };
                let at = item
                    .as_table()
                    .and_then(Table::span)
                    .or_else(|| table.key(url).and_then(Key::span));
                hosts.push(HostRead {
                    url: url.to_string(),
                    line: line(at),
                    fields: FieldsRead::from_table(fields, text),
                });
            }
        }
        let mut top = FieldsRead::from_table(root, text);
        top.unknown.retain(|(k, _)| k != "host");
        HostsRead {
            server: root.get("server").and_then(Item::as_str).map(String::from),
            top,
            hosts,
        }
    }
}

impl FieldsRead {
    fn from_table(table: &dyn TableLike, text: &str) -> FieldsRead {
        let unknown = table
            .iter()
            .filter(|(k, _)| !KNOWN.contains(k))
            .map(|(k, _)| {
                let line = table
                    .key(k)
                    .and_then(Key::span)
                    .map_or(0, |s| line_col(text, s.start).0);
                (k.to_string(), line)
            })
            .collect();
        let lines = KNOWN
            .iter()
            .filter_map(|k| Some((k.to_string(), line_of(table, k, text)?)))
            .collect();
        FieldsRead {
            lines,
            type_errors: super::types::type_errors(table, text),
            capabilities: table.get("capabilities").map(|i| strings(i.as_value())),
            ca: strings(table.get("ca").and_then(Item::as_value)),
            client: clients(table.get("client").and_then(Item::as_value)),
            skip_verify: table.get("skip_verify").and_then(Item::as_bool),
            headers: headers(table.get("header").and_then(Item::as_table_like)),
            override_path: table.get("override_path").and_then(Item::as_bool),
            dial_timeout: table
                .get("dial_timeout")
                .and_then(Item::as_str)
                .map(String::from),
            unknown,
        }
    }

    /// The line of `key` in this table (0 when absent).
    pub fn line(&self, key: &str) -> usize {
        self.lines
            .iter()
            .find(|(k, _)| k == key)
            .map_or(0, |(_, l)| *l)
    }

    /// These fields as certsd writes them (unknown capabilities and
    /// single-file client entries have no place there and are left out).
    pub fn trust(&self) -> EndpointTrust {
        EndpointTrust {
            capabilities: self
                .capabilities
                .iter()
                .flatten()
                .filter_map(|c| Capability::parse(c))
                .collect(),
            ca: self.ca.clone(),
            client: self.client.iter().find_map(|(cert, key)| {
                key.as_ref().map(|key| ClientPaths {
                    cert: cert.clone(),
                    key: key.clone(),
                })
            }),
            skip_verify: self.skip_verify == Some(true),
            headers: self.headers.clone(),
            override_path: self.override_path == Some(true),
            dial_timeout: self.dial_timeout.clone(),
        }
    }
}

/// The line of a key, if it is present and placed.
pub(super) fn line_of(table: &dyn TableLike, key: &str, text: &str) -> Option<usize> {
    table
        .key(key)
        .and_then(Key::span)
        .map(|s| line_col(text, s.start).0)
}

/// A string or an array of strings, as containerd accepts for `ca` and headers.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.value().clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// `client`: a string, an array of strings, or an array of `[cert, key]` pairs.
fn clients(value: Option<&Value>) -> Vec<(String, Option<String>)> {
    let one = |v: &Value| match v {
        Value::String(s) => Some((s.value().clone(), None)),
        Value::Array(pair) => {
            let cert = pair.get(0)?.as_str()?.to_string();
            Some((cert, pair.get(1).and_then(Value::as_str).map(String::from)))
        }
        _ => None,
    };
    match value {
        Some(Value::Array(a)) => a.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn headers(table: Option<&dyn TableLike>) -> Vec<(String, Vec<String>)> {
    table
        .map(|t| {
            t.iter()
                .map(|(name, item)| (name.to_string(), strings(item.as_value())))
                .collect()
        })
        .unwrap_or_default()
}

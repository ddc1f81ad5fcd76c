//! Comparing two `containerd config dump` outputs: the effective
//! configuration before and after certsd's edit.
//!
//! The rule (issue 15): the two may differ only in the CRI registry
//! `config_path` containerd will use, and in the main file's own name, which
//! 1.x dumps list first under `imports`. Anything else that changes — a
//! version migration that replaces a whole table, an import merged over the
//! edit — means the edit does something other than what the diff shows, so
//! it is refused with the difference. The dumps are compared as TOML trees,
//! not as text: key order and quoting style may differ between versions.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use toml_edit::{DocumentMut, Item, Table, Value};

/// Where the CRI registry `config_path` is in a dump of this `version`:
/// 2.x dumps (version 3+) hold it in the images plugin, 1.x in the CRI one.
fn registry_path(version: i64) -> [&'static str; 4] {
    let plugin = if version >= 3 {
        "io.containerd.cri.v1.images"
    } else {
        "io.containerd.grpc.v1.cri"
    };
    ["plugins", plugin, "registry", "config_path"]
}

/// One parsed dump.
pub struct Effective {
    doc: DocumentMut,
}

impl Effective {
    /// Parses a dump; `file` names the config it is of.
    pub fn parse(file: &str, dump: &str) -> Result<Effective> {
        let doc = dump
            .parse::<DocumentMut>()
            .with_context(|| format!("cannot read containerd's `config dump` of {file} as TOML"))?;
        Ok(Effective { doc })
    }

    fn version(&self) -> i64 {
        self.doc
            .get("version")
            .and_then(Item::as_integer)
            .unwrap_or(1)
    }

    /// The CRI registry `config_path` containerd will use (`""` when unset).
    pub fn config_path(&self) -> Option<&str> {
        let mut item = self.doc.as_item();
        for seg in registry_path(self.version()) {
            item = item.get(seg)?;
        }
        item.as_str()
    }

    /// The dotted name of that key, for messages.
    pub fn config_path_name(&self) -> String {
        dotted(&registry_path(self.version()).map(String::from))
    }
}

/// A key whose value differs between the two dumps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Dotted key path, e.g. `plugins."io.containerd.cri.v1.images".registry.headers`.
    pub key: String,
    /// The value before (`None`: absent).
    pub before: Option<String>,
    /// The value after (`None`: absent).
    pub after: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
        write!(
            f,
            "{}: {} -> {}",
            self.key,
            show(&self.before),
            show(&self.after)
        )
    }
}

/// Every difference between the dumps of `old` (dumped as `old_file`) and
/// `new` (dumped as `new_file`) other than the ones the rule allows.
pub fn unexpected(
    old: &Effective,
    old_file: &str,
    new: &Effective,
    new_file: &str,
) -> Vec<Difference> {
    let mut a = old.doc.clone();
    let mut b = new.doc.clone();
    drop_own_name(a.as_table_mut(), old_file);
    drop_own_name(b.as_table_mut(), new_file);
    let allowed = [
        registry_path(old.version()).map(String::from).to_vec(),
        registry_path(new.version()).map(String::from).to_vec(),
    ];
    let mut found = Vec::new();
    compare(
        &mut Vec::new(),
        a.as_table(),
        b.as_table(),
        &allowed,
        &mut found,
    );
    found
}

/// 1.x dumps list the file itself first under `imports`; its name is the
/// temporary file's in one dump and config.toml's in the other.
fn drop_own_name(root: &mut Table, file: &str) {
    if let Some(list) = root.get_mut("imports").and_then(Item::as_array_mut) {
        list.retain(|v| v.as_str() != Some(file));
    }
}

fn compare(
    path: &mut Vec<String>,
    a: &Table,
    b: &Table,
    allowed: &[Vec<String>],
    found: &mut Vec<Difference>,
) {
    let mut keys: Vec<&str> = a.iter().map(|(k, _)| k).collect();
    keys.extend(b.iter().map(|(k, _)| k).filter(|k| !a.contains_key(k)));
    for key in keys {
        path.push(key.to_string());
        if !allowed.iter().any(|p| p == path) {
            match (a.get(key), b.get(key)) {
                (Some(Item::Table(x)), Some(Item::Table(y))) => compare(path, x, y, allowed, found),
                (x, y) => {
                    let (before, after) = (x.map(canonical), y.map(canonical));
                    if before != after {
                        found.push(Difference {
                            key: dotted(path),
                            before,
                            after,
                        });
                    }
                }
            }
        }
        path.pop();
    }
}

/// A value written one way whatever the dump's quoting and spacing.
fn canonical(item: &Item) -> String {
    match item {
        Item::None => String::new(),
        Item::Value(v) => value(v),
        Item::Table(t) => table(t.iter()),
        Item::ArrayOfTables(list) => {
            let parts: Vec<String> = list.iter().map(|t| table(t.iter())).collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

fn table<'a>(entries: impl Iterator<Item = (&'a str, &'a Item)>) -> String {
    let mut parts: Vec<String> = entries
        .map(|(k, v)| format!("{} = {}", key_text(k), canonical(v)))
        .collect();
    parts.sort();
    format!("{{{}}}", parts.join(", "))
}

fn value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{:?}", s.value()),
        Value::Integer(i) => i.value().to_string(),
        Value::Float(f) => f.value().to_string(),
        Value::Boolean(b) => b.value().to_string(),
        Value::Datetime(d) => d.value().to_string(),
        Value::Array(list) => {
            let parts: Vec<String> = list.iter().map(value).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::InlineTable(t) => {
            let mut parts: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{} = {}", key_text(k), value(v)))
                .collect();
            parts.sort();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

fn key_text(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

fn dotted(path: &[String]) -> String {
    path.iter()
        .map(|k| key_text(k))
        .collect::<Vec<_>>()
        .join(".")
}

/// The dump lines that differ, `-` before and `+` after, with one line of
/// context; at most `limit` lines, then a count of the rest.
pub fn line_diff(old: &str, new: &str, limit: usize) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut lines = Vec::new();
    for group in diff.grouped_ops(1) {
        for op in group {
            for change in diff.iter_changes(&op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                lines.push(format!("{sign}{}", change.value().trim_end()));
            }
        }
        lines.push("  ...".to_string());
    }
    lines.pop();
    let mut out = String::new();
    for line in lines.iter().take(limit) {
        let _ = writeln!(out, "    {line}");
    }
    if lines.len() > limit {
        let _ = writeln!(out, "    ({} more lines)", lines.len() - limit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Effective {
        Effective::parse("test", text).unwrap()
    }

    const V3_BEFORE: &str = "version = 3\nimports = []\n\
        [plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = '/x'\n\
        [plugins.'io.containerd.cri.v1.images'.registry.headers]\n  X-A = ['b']\n";

    #[test]
    fn only_config_path_may_change() {
        let after = V3_BEFORE.replace("'/x'", "'/etc/containerd/certs.d'");
        let (old, new) = (parse(V3_BEFORE), parse(&after));
        assert!(unexpected(&old, "a", &new, "b").is_empty());
        assert_eq!(new.config_path(), Some("/etc/containerd/certs.d"));
        assert_eq!(
            new.config_path_name(),
            "plugins.\"io.containerd.cri.v1.images\".registry.config_path"
        );
    }

    #[test]
    fn a_vanished_table_is_a_difference() {
        let after = "version = 3\nimports = []\n\
            [plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = '/y'\n";
        let found = unexpected(&parse(V3_BEFORE), "a", &parse(after), "b");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].key,
            "plugins.\"io.containerd.cri.v1.images\".registry.headers"
        );
        assert_eq!(found[0].before.as_deref(), Some("{X-A = [\"b\"]}"));
        assert_eq!(found[0].after, None);
    }

    #[test]
    fn the_own_name_under_imports_is_ignored_but_other_imports_are_not() {
        let old = parse("version = 2\nimports = [\"/e/config.toml\", \"/e/d.toml\"]\n");
        let new = parse("version = 2\nimports = [\"/e/.tmp\", \"/e/d.toml\"]\n");
        assert!(unexpected(&old, "/e/config.toml", &new, "/e/.tmp").is_empty());
        let other = parse("version = 2\nimports = [\"/e/.tmp\"]\n");
        assert_eq!(
            unexpected(&old, "/e/config.toml", &other, "/e/.tmp").len(),
            1
        );
    }

    #[test]
    fn quoting_and_order_do_not_count() {
        let a = parse("[t]\n  b = \"x\"\n  a = [1, 2]\n");
        let b = parse("[t]\n  a = [ 1,2 ]\n  b = 'x'\n");
        assert!(unexpected(&a, "", &b, "").is_empty());
    }

    #[test]
    fn other_config_paths_are_not_allowed_to_change() {
        let a =
            parse("version = 3\n[plugins.'io.containerd.transfer.v1.local']\n  config_path = ''\n");
        let b = parse(
            "version = 3\n[plugins.'io.containerd.transfer.v1.local']\n  config_path = '/x'\n",
        );
        assert_eq!(unexpected(&a, "", &b, "").len(), 1);
    }

    #[test]
    fn line_diff_is_bounded() {
        let lines = |p: &str| {
            (0..100)
                .map(|i| format!("{p}{i}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let (old, new) = (lines("a"), lines("b"));
        let out = line_diff(&old, &new, 10);
        assert_eq!(out.lines().count(), 11);
        assert!(out.ends_with("(190 more lines)\n"), "{out}");
    }
}

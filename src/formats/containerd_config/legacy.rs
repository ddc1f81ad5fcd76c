//! The legacy registry settings of config.toml (`mirrors`, `configs`,
//! `auths`): reading their credentials without ever showing them, and the
//! edit that removes them for `certsd --migrate`.
//!
//! The removal works on the document, not on text: a removed table takes
//! its own comments with it (those above its header and between its keys),
//! every other table, comment and blank line stays byte for byte, and the
//! file's line endings come back as they were.

use toml_edit::{DocumentMut, Item, TableLike};

use super::{ContainerdConfig, Effective, Source, Spot, sub_table};
use crate::formats::toml_util;

/// A credential value: never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The credential itself, for the one place that writes it to a file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// What a legacy `auth` table holds (containerd's `AuthConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyAuth {
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `auth`: base64 of `user:password`.
    pub auth: Option<Secret>,
    /// An `identitytoken` is set (an OAuth refresh token: no static header holds it).
    pub identity_token: bool,
}

/// A `registry.auths."URL"` entry (deprecated: 1.x reads it as `configs."HOST".auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyAuthEntry {
    /// The key as written, usually a URL (`https://gcr.io`).
    pub key: String,
    pub auth: LegacyAuth,
    /// The dotted table name.
    pub table: String,
    /// `file:line:col` of the key.
    pub location: String,
    pub line: usize,
}

/// Which legacy tables a migration removes besides `mirrors` and every
/// `configs."HOST".tls` (those always go).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    /// `configs."HOST"` keys whose `auth` moved into a header.
    pub auth_hosts: Vec<String>,
    /// `auths."URL"` keys that moved into a header.
    pub auths_keys: Vec<String>,
}

/// Reads an `auth` table's values; a value of the wrong type counts as absent.
pub(super) fn auth_values(table: &dyn TableLike) -> LegacyAuth {
    let text = |k: &str| {
        table
            .get(k)
            .and_then(Item::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    LegacyAuth {
        username: text("username"),
        password: text("password").map(Secret),
        auth: text("auth").map(Secret),
        identity_token: text("identitytoken").is_some(),
    }
}

/// `registry.auths` entries, located at their keys.
pub(super) fn auth_entries(
    place: &Source<'_>,
    registry: &dyn TableLike,
    name: &str,
    at: &dyn Fn(&str) -> Spot,
) -> anyhow::Result<Vec<LegacyAuthEntry>> {
    let Some(auths) = sub_table(registry, "auths", name, at)? else {
        return Ok(Vec::new());
    };
    Ok(auths
        .iter()
        .filter_map(|(key, item)| {
            let (location, line) = place.at(auths, key);
            Some(LegacyAuthEntry {
                key: key.to_string(),
                auth: auth_values(item.as_table_like()?),
                table: format!("{name}.auths.{key:?}"),
                location,
                line,
            })
        })
        .collect())
}

impl ContainerdConfig {
    /// The file's text without the legacy tables of `effective`'s registry
    /// table (`mirrors`, every `configs."HOST".tls`, and the credentials
    /// `removal` names) and with `config_path = dir` there; every other byte
    /// is kept. A `configs."HOST"` left empty goes too, and so does an empty
    /// `configs` or `auths`.
    pub fn without_legacy(
        &self,
        effective: &Effective<'_>,
        dir: &str,
        removal: &Removal,
    ) -> String {
        let mut doc = self.doc.clone();
        let mut gone = Vec::new();
        let path = effective.table.path();
        if let Some(registry) = registry_mut(&mut doc, &path) {
            take(registry, "mirrors", &mut gone);
            strip_configs(registry, removal, &mut gone);
            if let Some(auths) = registry.get_mut("auths").and_then(Item::as_table_like_mut) {
                for key in &removal.auths_keys {
                    take(auths, key, &mut gone);
                }
            }
            remove_if_empty(registry, "auths");
        }
        gone.sort_by_key(|g| g.first);
        let same = |p: &str| p.trim_end_matches('/') == dir.trim_end_matches('/');
        if !effective.config_path().is_some_and(same) {
            header_in_place(&mut doc, &path, &mut gone);
            self.set_config_path(&mut doc, effective, dir);
        }
        move_comments(&mut doc, &gone);
        let rendered = toml_util::restore_line_endings(&self.original, doc.to_string());
        // Nothing legacy was there and config_path was right: the exact bytes.
        if rendered == toml_util::restore_line_endings(&self.original, self.doc.to_string()) {
            return self.original.clone();
        }
        rendered
    }
}

/// One removed `[header]` table tree: where it was, and the comments above
/// it that were not its own (set off from its header by a blank line).
#[derive(Debug)]
struct Gone {
    first: isize,
    last: isize,
    /// Comments above it that were not its own (they move on).
    kept: Option<String>,
    /// Its prefix without its own comments, for a header put in its place.
    lead: String,
}

/// Removes `key`, noting where its `[header]` tables were.
fn take(table: &mut dyn TableLike, key: &str, gone: &mut Vec<Gone>) {
    let Some(item) = table.remove(key) else {
        return;
    };
    let mut found = Vec::new();
    if let Some(t) = item.as_table() {
        headed(t, &mut found);
    }
    let (Some(first), Some(last)) = (found.first(), found.iter().map(|f| f.0).max()) else {
        return;
    };
    gone.push(Gone {
        first: first.0,
        last,
        kept: Some(before_own_block(&first.1)).filter(|k| k.contains('#')),
        lead: before_own_block(&first.1) + last_line(&first.1),
    });
}

/// The positions and prefixes of the `[header]` tables in `table`, first first.
fn headed(table: &toml_edit::Table, out: &mut Vec<(isize, String)>) {
    if !table.is_implicit()
        && !table.is_dotted()
        && let Some(pos) = table.position()
    {
        let prefix = table
            .decor()
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or("");
        out.push((pos, prefix.to_string()));
    }
    for (_, child) in table {
        if let Some(child) = child.as_table() {
            headed(child, out);
        }
    }
    out.sort_by_key(|(pos, _)| *pos);
}

/// A registry table without a header of its own gets one where the first
/// removed table was, with the comments above it that were not its own.
fn header_in_place(doc: &mut DocumentMut, path: &[&str], gone: &mut [Gone]) {
    let path: Vec<String> = path.iter().map(|s| (*s).to_string()).collect();
    let Some(first) = gone.first_mut() else {
        return;
    };
    let Some(registry) = table_at(doc, &path) else {
        return;
    };
    if !registry.is_implicit() || registry.iter().any(|(_, item)| item.is_value()) {
        return;
    }
    registry.set_position(Some(first.first));
    first.kept = None;
    registry.decor_mut().set_prefix(first.lead.clone());
}

/// Comments after a removed table's last key (set off from the next header
/// by a blank line) were its own and go; comments above it that were not
/// its own move to whatever follows it. A block directly above the next
/// header is that table's and stays.
fn move_comments(doc: &mut DocumentMut, gone: &[Gone]) {
    let mut tables = Vec::new();
    headers(doc.as_table(), &mut Vec::new(), &mut tables);
    let mut done: Vec<Option<Vec<String>>> = Vec::new();
    for g in gone {
        let next = tables
            .iter()
            .filter(|(pos, _)| *pos > g.last)
            .min_by_key(|(pos, _)| *pos)
            .map(|(_, path)| path.clone());
        let first_time = !done.contains(&next);
        let edit = |text: &str| {
            let rest = if first_time {
                without_leading_block(text).unwrap_or_else(|| text.to_string())
            } else {
                text.to_string()
            };
            format!("{}{rest}", g.kept.as_deref().unwrap_or(""))
        };
        if let Some(path) = &next {
            if let Some(table) = table_at(doc, path) {
                let prefix = table.decor().prefix().and_then(|p| p.as_str());
                let new = edit(prefix.unwrap_or(""));
                table.decor_mut().set_prefix(new);
            }
        } else {
            let new = edit(doc.trailing().as_str().unwrap_or(""));
            doc.set_trailing(new);
        }
        done.push(next);
    }
}

fn table_at<'a>(doc: &'a mut DocumentMut, path: &[String]) -> Option<&'a mut toml_edit::Table> {
    let mut table = doc.as_table_mut();
    for seg in path {
        table = table.get_mut(seg)?.as_table_mut()?;
    }
    Some(table)
}

/// The whole lines of a header's prefix above the comment block that touches it.
fn before_own_block(prefix: &str) -> String {
    let lines: Vec<&str> = prefix.split_inclusive('\n').collect();
    let own = lines
        .iter()
        .rev()
        .skip_while(|l| !l.ends_with('\n'))
        .take_while(|l| l.trim_start().starts_with('#'))
        .count();
    let complete = lines.iter().filter(|l| l.ends_with('\n')).count();
    lines[..complete - own].concat()
}

/// The unfinished last line of a prefix (a header's indentation).
fn last_line(prefix: &str) -> &str {
    prefix.rsplit('\n').next().unwrap_or("")
}

/// Every `[header]` table with its position and key path.
fn headers(table: &toml_edit::Table, path: &mut Vec<String>, out: &mut Vec<(isize, Vec<String>)>) {
    for (name, item) in table {
        let Some(child) = item.as_table() else {
            continue;
        };
        path.push(name.to_string());
        if !child.is_implicit()
            && !child.is_dotted()
            && let Some(pos) = child.position()
        {
            out.push((pos, path.clone()));
        }
        headers(child, path, out);
        path.pop();
    }
}

/// `text` without its leading comment lines when a blank line follows them.
fn without_leading_block(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let comments = lines
        .iter()
        .take_while(|l| l.trim_start().starts_with('#'))
        .count();
    let blank_next = lines
        .get(comments)
        .is_some_and(|l| l.trim().is_empty() && l.ends_with('\n'));
    (comments > 0 && blank_next).then(|| lines[comments..].concat())
}

/// The registry table of `doc` at `path`, when the file has it.
fn registry_mut<'a>(doc: &'a mut DocumentMut, path: &[&str]) -> Option<&'a mut dyn TableLike> {
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    for seg in path {
        table = table.get_mut(seg)?.as_table_like_mut()?;
    }
    Some(table)
}

/// Drops every `configs."HOST".tls`, the `auth` tables `removal` names,
/// then whatever is left empty.
fn strip_configs(registry: &mut dyn TableLike, removal: &Removal, gone: &mut Vec<Gone>) {
    let Some(configs) = registry
        .get_mut("configs")
        .and_then(Item::as_table_like_mut)
    else {
        return;
    };
    let hosts: Vec<String> = configs.iter().map(|(k, _)| k.to_string()).collect();
    for host in hosts {
        let Some(entry) = configs.get_mut(&host).and_then(Item::as_table_like_mut) else {
            continue;
        };
        take(entry, "tls", gone);
        if removal.auth_hosts.contains(&host) {
            take(entry, "auth", gone);
        }
        remove_if_empty(configs, &host);
    }
    remove_if_empty(registry, "configs");
}

fn remove_if_empty(table: &mut dyn TableLike, key: &str) {
    if table
        .get(key)
        .and_then(Item::as_table_like)
        .is_some_and(TableLike::is_empty)
    {
        table.remove(key);
    }
}

#[cfg(test)]
#[path = "legacy_tests.rs"]
mod tests;

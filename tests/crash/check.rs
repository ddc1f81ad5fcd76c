//! The invariants a tree must hold after any kill, and the comparison
//! with an uninterrupted run's tree.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use walkdir::WalkDir;

use crate::support::openssl;

/// Files of a tree: relative name (backup stamps normalised) -> mode.
pub fn shape(dir: &Path) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for entry in WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let rel = match rel.find(".certsd-backup-") {
            Some(at) => format!("{}.certsd-backup-*", &rel[..at]),
            None => history_pattern(&rel).unwrap_or(rel),
        };
        let mode = entry.metadata().unwrap().permissions().mode() & 0o7777;
        out.insert(rel, mode);
    }
    out
}

/// History entries and their copies are numbered per apply: a rerun that
/// legitimately applies again (`--renew`) adds one, as it adds a backup.
fn history_pattern(rel: &str) -> Option<String> {
    let at = rel.find(".certsd-history/")? + ".certsd-history/".len();
    let (head, tail) = rel.split_at(at);
    let kind = if tail.contains('/') { "*/*" } else { "*.json" };
    Some(format!("{head}{kind}"))
}

/// Leftovers of a run: temporary files and journals.
pub fn strays(dir: &Path) -> Vec<String> {
    shape(dir)
        .into_keys()
        .filter(|n| n.contains(".certsd-tmp-") || n.contains(".certsd-journal"))
        .collect()
}

/// Half-written files and hosts.toml files naming files that are not there.
pub fn torn(root: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    for entry in WalkDir::new(root).into_iter().filter_map(Result::ok) {
        let path = entry.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if !entry.file_type().is_file() || name.contains(".certsd-") && !name.contains("backup") {
            continue;
        }
        let text = fs::read_to_string(path).unwrap_or_default();
        let shown = path.display();
        if name.ends_with(".json") && path.to_string_lossy().contains(".certsd-history/") {
            if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                bad.push(format!("{shown}: a history entry that is not whole JSON"));
            }
        } else if name.ends_with(".toml") || name.contains(".toml.certsd-backup") {
            match text.parse::<toml_edit::DocumentMut>() {
                Err(err) => bad.push(format!("{shown}: does not parse: {err}")),
                Ok(doc) if name == "hosts.toml" => bad.extend(dangling(root, path, &doc)),
                Ok(_) => {}
            }
        } else if [".crt", ".key", ".csr"].iter().any(|e| name.ends_with(e)) {
            let begins = text.matches("-----BEGIN").count();
            if begins == 0
                || begins != text.matches("-----END").count()
                || !text.ends_with("-----\n")
            {
                bad.push(format!("{shown}: not a whole PEM file"));
            }
        }
    }
    bad
}

/// The `ca` and `client` files a hosts.toml names that do not exist.
fn dangling(root: &Path, hosts: &Path, doc: &toml_edit::DocumentMut) -> Vec<String> {
    let mut named = Vec::new();
    let mut collect = |table: &toml_edit::Table| {
        for key in ["ca", "client"] {
            if let Some(item) = table.get(key) {
                collect_strings(item, &mut named);
            }
        }
    };
    collect(doc.as_table());
    if let Some(hosts) = doc.get("host").and_then(|h| h.as_table()) {
        for (_, t) in hosts {
            if let Some(t) = t.as_table() {
                collect(t);
            }
        }
    }
    named
        .into_iter()
        .filter(|n| {
            let real = if n.starts_with('/') {
                root.join(n.trim_start_matches('/'))
            } else {
                hosts.parent().unwrap().join(n)
            };
            !real.exists()
        })
        .map(|n| format!("{}: names {n}, which is not there", hosts.display()))
        .collect()
}

fn collect_strings(item: &toml_edit::Item, out: &mut Vec<String>) {
    if let Some(s) = item.as_str() {
        out.push(s.to_string());
    } else if let Some(a) = item.as_array() {
        for v in a {
            if let Some(s) = v.as_str() {
                out.push(s.to_string());
            } else if let Some(inner) = v.as_array() {
                out.extend(inner.iter().filter_map(|x| x.as_str().map(String::from)));
            }
        }
    }
}

/// Every `X.crt` next to an `X.key` must hold that key's public half.
pub fn mismatched_pairs(root: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    for entry in WalkDir::new(root).into_iter().filter_map(Result::ok) {
        let key = entry.path();
        if key.extension().is_none_or(|e| e != "key") {
            continue;
        }
        let crt = key.with_extension("crt");
        if !crt.exists() {
            continue;
        }
        let dir = key.parent().unwrap();
        let (_, a) = openssl(
            dir,
            &["x509", "-noout", "-pubkey", "-in", &crt.to_string_lossy()],
        );
        let (_, b) = openssl(dir, &["pkey", "-pubout", "-in", &key.to_string_lossy()]);
        if a != b {
            bad.push(format!(
                "{} does not match {}",
                crt.display(),
                key.display()
            ));
        }
    }
    bad
}

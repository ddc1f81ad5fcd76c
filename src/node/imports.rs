//! config.toml's `imports` as containerd would follow them, for `config dump`.
//!
//! containerd resolves `imports` on the filesystem it runs on. Under
//! `--root` that is the wrong one: `/etc/containerd/conf.d/*.toml` must mean
//! the drop-ins inside the root. So before a dump under `--root`, every
//! import entry is resolved inside the root here — relative entries against
//! the importing file's directory, relative globs against `/` on the
//! containerd versions that did so (1.6.0–1.6.28, 1.7.0–1.7.15), globs
//! expanded with Go's `filepath.Match` rules — and written back as the
//! paths on this machine. A drop-in that itself imports gets a rewritten
//! copy in the scratch directory. On `/` nothing is rewritten.
//!
//! Either way the walk notes non-glob imports that do not exist: 1.x's dump
//! fails on them, but 2.x's dump accepts them while its daemon does not start.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, PathBuf};

use toml_edit::{Array, DocumentMut, Item, value};

use super::paths::{NodePath, Root};
use crate::version::ContainerdVersion;

/// Names of certsd's own scratch files and directories contain this.
pub const SCRATCH_MARK: &str = ".certsd-validate-";

/// A non-glob import naming a file that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The file that lists it.
    pub file: NodePath,
    /// The entry as written.
    pub entry: String,
}

/// The import walk of one run: shared by the dumps of the old and the new
/// config.toml, so a drop-in gets one copy and both dumps list it alike.
pub struct Imports<'a> {
    root: &'a Root,
    version: ContainerdVersion,
    /// Where rewritten copies go; `None` on `/` (nothing is rewritten).
    scratch: Option<PathBuf>,
    /// Drop-in (host path) → the path the dumps import it as.
    seen: BTreeMap<PathBuf, PathBuf>,
    /// Copies to write before dumping: (host path, text).
    pub copies: Vec<(PathBuf, String)>,
    pub missing: Vec<Missing>,
}

impl<'a> Imports<'a> {
    /// A walk for `version`; `scratch` holds copies (give it under `--root` only).
    pub fn new(root: &'a Root, version: ContainerdVersion, scratch: Option<PathBuf>) -> Self {
        Imports {
            root,
            version,
            scratch,
            seen: BTreeMap::new(),
            copies: Vec::new(),
            missing: Vec::new(),
        }
    }

    /// `text` (the file at node path `file`) as the dump should read it:
    /// with its imports rewritten under `--root`, as it is on `/`.
    pub fn prepare(&mut self, file: &NodePath, text: &str) -> String {
        let Ok(mut doc) = text.parse::<DocumentMut>() else {
            return text.to_string(); // containerd reports the syntax error itself
        };
        let Some(entries) = string_list(doc.get("imports")) else {
            return text.to_string();
        };
        let dir = file.parent().unwrap_or_else(|| NodePath::fixed("/"));
        let mut rewritten = Array::new();
        for entry in &entries {
            for target in self.entry_targets(file, &dir, entry) {
                rewritten.push(target.to_string_lossy().into_owned());
            }
        }
        if self.scratch.is_none() {
            return text.to_string();
        }
        doc["imports"] = value(rewritten);
        doc.to_string()
    }

    /// The paths one `imports` entry stands for.
    fn entry_targets(&mut self, file: &NodePath, dir: &NodePath, entry: &str) -> Vec<PathBuf> {
        if entry.contains('*') {
            let base = if relative_globs_use_cwd(self.version) {
                NodePath::fixed("/")
            } else {
                dir.clone()
            };
            let Some(pattern) = join_clean(&base, entry) else {
                return vec![PathBuf::from(entry)];
            };
            return glob(self.root, &pattern)
                .iter()
                .map(|m| self.target(m))
                .collect();
        }
        let Some(node) = join_clean(dir, entry) else {
            return vec![PathBuf::from(entry)];
        };
        if !self.resolve(&node).is_file() {
            self.missing.push(Missing {
                file: file.clone(),
                entry: entry.to_string(),
            });
            return vec![self.resolve(&node)];
        }
        vec![self.target(&node)]
    }

    /// Where the dump should read drop-in `node` from (a rewritten copy
    /// when it imports in turn and we are under `--root`).
    fn target(&mut self, node: &NodePath) -> PathBuf {
        let host = self.resolve(node);
        if let Some(known) = self.seen.get(&host) {
            return known.clone();
        }
        let text = fs::read_to_string(&host).ok();
        let imports_more = text
            .as_deref()
            .and_then(|t| t.parse::<DocumentMut>().ok())
            .is_some_and(|d| string_list(d.get("imports")).is_some());
        let at = match &self.scratch {
            Some(dir) if imports_more => {
                dir.join(format!("{}-{}", self.seen.len(), node.file_name()))
            }
            _ => host.clone(),
        };
        // Recorded before recursing, so an import cycle comes back to this path.
        self.seen.insert(host.clone(), at.clone());
        if let Some(text) = text.filter(|_| imports_more) {
            let prepared = self.prepare(node, &text);
            if at != host {
                self.copies.push((at.clone(), prepared));
            }
        }
        at
    }

    fn resolve(&self, node: &NodePath) -> PathBuf {
        self.root
            .resolve(node)
            .unwrap_or_else(|_| self.root.host_path(node))
    }
}

/// An `imports` value that is a list of strings (anything else is left for
/// containerd to refuse).
fn string_list(item: Option<&Item>) -> Option<Vec<String>> {
    let list = item?.as_array()?;
    list.iter()
        .map(|v| v.as_str().map(String::from))
        .collect::<Option<Vec<_>>>()
        .filter(|l| !l.is_empty())
}

/// containerd 1.6.0–1.6.28 and 1.7.0–1.7.15 resolved relative globs
/// against the working directory instead of the importing file's.
fn relative_globs_use_cwd(v: ContainerdVersion) -> bool {
    (v.major, v.minor) == (1, 6) && v.patch <= 28 || (v.major, v.minor) == (1, 7) && v.patch <= 15
}

/// `entry` joined to `dir` and cleaned as Go's `filepath.Join` does.
fn join_clean(dir: &NodePath, entry: &str) -> Option<NodePath> {
    let joined = dir.as_path().join(entry);
    let mut clean = PathBuf::from("/");
    for part in joined.components() {
        match part {
            Component::Normal(name) => clean.push(name),
            Component::ParentDir => {
                clean.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    NodePath::parse("import", &clean, "/etc/containerd/conf.d/x.toml").ok()
}

/// Go's `filepath.Glob` inside the root: the node paths matching
/// `pattern`, each directory's names in sorted order. certsd's own scratch
/// files never match.
fn glob(root: &Root, pattern: &NodePath) -> Vec<NodePath> {
    let mut found = vec![NodePath::fixed("/")];
    for part in pattern.as_path().components().skip(1) {
        let part = part.as_os_str().to_string_lossy();
        if !has_meta(&part) {
            found = found.iter().map(|p| p.join(&part)).collect();
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            next.extend(matching_children(root, dir, &part));
        }
        found = next;
    }
    found
        .into_iter()
        .filter(|p| {
            root.resolve(p)
                .is_ok_and(|h| fs::symlink_metadata(h).is_ok())
        })
        .collect()
}

fn matching_children(root: &Root, dir: &NodePath, part: &str) -> Vec<NodePath> {
    let Ok(host) = root.resolve(dir) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(host) else {
        return Vec::new();
    };
    let pattern: Vec<char> = part.chars().collect();
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.contains(SCRATCH_MARK))
        .filter(|n| matches(&pattern, &n.chars().collect::<Vec<_>>()))
        .collect();
    names.sort();
    names.iter().map(|n| dir.join(n)).collect()
}

fn has_meta(part: &str) -> bool {
    part.contains(['*', '?', '[', '\\'])
}

/// Go's `filepath.Match` for one path element: `*`, `?`, `[class]` with
/// ranges and `^` negation, `\` escapes. A malformed class matches nothing.
fn matches(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|i| matches(rest, &name[i..])),
        Some(('?', rest)) => !name.is_empty() && matches(rest, &name[1..]),
        Some(('[', rest)) => match (name.split_first(), class(rest)) {
            (Some((c, tail)), Some((set, after))) => set(*c) && matches(after, tail),
            _ => false,
        },
        Some(('\\', rest)) => match (rest.split_first(), name.split_first()) {
            (Some((p, rest)), Some((c, tail))) => p == c && matches(rest, tail),
            _ => false,
        },
        Some((p, rest)) => name.first() == Some(p) && matches(rest, &name[1..]),
    }
}

type CharSet = Box<dyn Fn(char) -> bool>;

/// A `[...]` class (after the `[`): the test and the pattern after `]`.
fn class(pattern: &[char]) -> Option<(CharSet, &[char])> {
    let (negated, mut rest) = match pattern.split_first() {
        Some(('^', rest)) => (true, rest),
        _ => (false, pattern),
    };
    let mut ranges: Vec<(char, char)> = Vec::new();
    loop {
        let (lo, after) = class_char(rest)?;
        if lo == ']' && !ranges.is_empty() && rest.first() == Some(&']') {
            rest = after;
            break;
        }
        let (hi, after) = match after.split_first() {
            Some(('-', more)) => class_char(more)?,
            _ => (lo, after),
        };
        ranges.push((lo, hi));
        rest = after;
    }
    let set = move |c: char| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != negated;
    Some((Box::new(set), rest))
}

fn class_char(pattern: &[char]) -> Option<(char, &[char])> {
    match pattern.split_first()? {
        ('\\', rest) => rest.split_first().map(|(c, r)| (*c, r)),
        (c, rest) => Some((*c, rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        matches(
            &p.chars().collect::<Vec<_>>(),
            &n.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn matches_like_go_filepath_match() {
        assert!(m("*.toml", "a.toml"));
        assert!(m("*.toml", ".hidden.toml"));
        assert!(!m("*.toml", "a.toml.bak"));
        assert!(m("a?c", "abc"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("\\*", "*"));
        assert!(!m("[a-", "a"));
    }

    #[test]
    fn relative_glob_bug_versions() {
        let v = |s: &str| s.parse::<ContainerdVersion>().unwrap();
        assert!(relative_globs_use_cwd(v("1.6.20")));
        assert!(!relative_globs_use_cwd(v("1.6.29")));
        assert!(relative_globs_use_cwd(v("1.7.15")));
        assert!(!relative_globs_use_cwd(v("1.7.24")));
        assert!(!relative_globs_use_cwd(v("2.1.9")));
    }

    #[test]
    fn imports_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        let conf_d = dir.path().join("etc/containerd/conf.d");
        fs::create_dir_all(&conf_d).unwrap();
        fs::write(conf_d.join("b.toml"), "version = 2\n").unwrap();
        fs::write(conf_d.join("a.toml"), "imports = [\"/etc/nested.toml\"]\n").unwrap();
        fs::write(dir.path().join("etc/nested.toml"), "version = 2\n").unwrap();
        fs::write(conf_d.join(".x.certsd-validate-1"), "").unwrap();
        let scratch = dir.path().join("scratch");
        let mut walk = Imports::new(&root, "2.1.9".parse().unwrap(), Some(scratch.clone()));
        let main = NodePath::fixed("/etc/containerd/config.toml");
        let text = "version = 2\nimports = [\"/etc/containerd/conf.d/*\", \"gone.toml\"]\n";
        let out = walk.prepare(&main, text);
        let doc: DocumentMut = out.parse().unwrap();
        let got = string_list(doc.get("imports")).unwrap();
        let host = |p: &str| dir.path().join(p).to_string_lossy().into_owned();
        assert_eq!(
            got,
            [
                scratch.join("0-a.toml").to_string_lossy().into_owned(),
                host("etc/containerd/conf.d/b.toml"),
                host("etc/containerd/gone.toml"),
            ]
        );
        assert_eq!(walk.copies.len(), 1);
        assert!(walk.copies[0].1.contains(&host("etc/nested.toml")));
        assert_eq!(walk.missing.len(), 1);
        assert_eq!(walk.missing[0].entry, "gone.toml");
    }
}

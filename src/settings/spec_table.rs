//! Reading one table of a spec tree: known keys only (an unknown one names
//! the nearest known key), each value of the type the key needs, and every
//! message placed at `FILE:LINE:COL`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::exit_codes::usage;
use crate::formats::spec::{Entry, Node, Pos, Value};

/// One table of the spec, checked against the keys it may hold.
pub struct Table<'a> {
    pub file: &'a str,
    pub at: Pos,
    /// How messages name the table: `registries[3]`, `registries[3].auth`.
    pub name: String,
    entries: &'a [Entry],
}

impl<'a> Table<'a> {
    /// `node` must be a table whose keys are all in `known`, none twice.
    pub fn new(file: &'a str, node: &'a Node, name: String, known: &[&str]) -> Result<Table<'a>> {
        let Value::Table(entries) = &node.value else {
            return Err(usage(format!(
                "{file}:{}: {name} must be a table of settings, not {}",
                node.at,
                node.value.kind()
            )));
        };
        for (i, entry) in entries.iter().enumerate() {
            if !known.contains(&entry.key.as_str()) {
                return Err(usage(unknown_key(file, entry, &name, known)));
            }
            if let Some(first) = entries[..i].iter().find(|e| e.key == entry.key) {
                return Err(usage(format!(
                    "{file}:{}: {} is set twice in {name} (first at line {}); keep one",
                    entry.at, entry.key, first.at.line
                )));
            }
        }
        Ok(Table {
            file,
            at: node.at,
            name,
            entries,
        })
    }

    pub fn entries(&self) -> &'a [Entry] {
        self.entries
    }

    pub fn get(&self, key: &str) -> Option<&'a Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// `FILE:LINE:COL: TABLE.KEY` for messages about one entry.
    pub fn place(&self, entry: &Entry) -> String {
        format!("{}:{}: {}.{}", self.file, entry.at, self.name, entry.key)
    }

    fn wrong(&self, entry: &Entry, want: &str) -> anyhow::Error {
        usage(format!(
            "{} must be {want}, not {}",
            self.place(entry),
            entry.node.value.kind()
        ))
    }

    pub fn str(&self, key: &str) -> Result<Option<String>> {
        self.get(key)
            .map(|e| match &e.node.value {
                Value::Str(s) => Ok(s.clone()),
                _ => Err(self.wrong(e, "a string")),
            })
            .transpose()
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|e| match &e.node.value {
                Value::Bool(b) => Ok(*b),
                _ => Err(self.wrong(e, "true or false")),
            })
            .transpose()
    }

    pub fn uint(&self, key: &str) -> Result<Option<u32>> {
        self.get(key)
            .map(|e| match &e.node.value {
                Value::Int(i) => u32::try_from(*i)
                    .map_err(|_| usage(format!("{}: {i} is out of range", self.place(e)))),
                _ => Err(self.wrong(e, "a whole number")),
            })
            .transpose()
    }

    /// A string or a list of strings.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        let Some(entry) = self.get(key) else {
            return Ok(None);
        };
        let want = "a string or a list of strings";
        match &entry.node.value {
            Value::Str(s) => Ok(Some(vec![s.clone()])),
            Value::List(items) => items
                .iter()
                .map(|n| match &n.value {
                    Value::Str(s) => Ok(s.clone()),
                    _ => Err(self.wrong(entry, want)),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            _ => Err(self.wrong(entry, want)),
        }
    }

    /// A path to a file on this machine; a relative one is taken from `base`
    /// (the spec's directory).
    pub fn input_path(&self, key: &str, base: &Path) -> Result<Option<PathBuf>> {
        Ok(self.str(key)?.map(|p| crate::node::join(base, p)))
    }

    /// Like [`Table::input_path`], for a string or a list.
    pub fn input_paths(&self, key: &str, base: &Path) -> Result<Option<Vec<PathBuf>>> {
        Ok(self
            .strings(key)?
            .map(|list| list.iter().map(|p| crate::node::join(base, p)).collect()))
    }
}

fn unknown_key(file: &str, entry: &Entry, table: &str, known: &[&str]) -> String {
    let hint = match crate::nearest::nearest(&entry.key, known) {
        Some(near) => format!("did you mean {near}?"),
        None => format!("the keys are {}", known.join(", ")),
    };
    format!(
        "{file}:{}: unknown key `{}` in {table}; {hint}",
        entry.at, entry.key
    )
}

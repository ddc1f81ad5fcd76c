//! Small helpers shared by the two TOML formats certsd edits.
//!
//! `toml_edit` keeps formatting, but a few things it does not do for us:
//! carry a replaced value's comments over, match a file's indentation for a
//! new key, restore CRLF line endings, and turn byte spans into line numbers.

use std::path::Path;

use anyhow::{Result, anyhow};
use toml_edit::{Item, Table, TableLike, Value};

/// Line and column (1-based) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// `file:line:col` for a span start, or `file` alone.
pub fn locate(file: &Path, text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("{}:{line}:{col}", file.display())
        }
        None => file.display().to_string(),
    }
}

/// Checks the bytes are text TOML can hold, naming the file otherwise.
pub fn as_text<'a>(file: &Path, bytes: &'a [u8]) -> Result<&'a str> {
    if bytes.contains(&0) {
        return Err(anyhow!(
            "{}: this is a binary file, not TOML; point certsd at the right file",
            file.display()
        ));
    }
    std::str::from_utf8(bytes).map_err(|err| {
        let (line, col) = line_col(&String::from_utf8_lossy(bytes), err.valid_up_to());
        anyhow!(
            "{}:{line}:{col}: not UTF-8 text; TOML files must be UTF-8",
            file.display()
        )
    })
}

/// A TOML syntax error as `file:line:col: message`.
pub fn syntax_error(file: &Path, text: &str, err: &toml_edit::TomlError) -> anyhow::Error {
    let at = Place::new(file, text, err.span());
    at.error(format!(
        "invalid TOML: {}; fix the file (nothing was written)",
        err.message().trim()
    ))
}

/// Where something is in a TOML file: `file:line:col` for messages and the
/// line alone for readers (doctor) that report it as a field of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// `file:line:col`, or `file` when the span is unknown.
    pub location: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
}

impl Place {
    pub fn new(file: &Path, text: &str, span: Option<std::ops::Range<usize>>) -> Place {
        let line = span.as_ref().map_or(0, |s| line_col(text, s.start).0);
        Place {
            location: locate(file, text, span),
            line,
        }
    }

    /// An error at this place: `location: message`.
    pub fn error(&self, message: String) -> anyhow::Error {
        anyhow::Error::new(Located {
            place: self.clone(),
            message,
        })
    }
}

/// An error that knows its place in a file. Its text is `file:line:col:
/// message`, as every certsd error is; doctor downcasts to read the line.
#[derive(Debug)]
pub struct Located {
    pub place: Place,
    pub message: String,
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.place.location, self.message)
    }
}

impl std::error::Error for Located {}

/// Replaces a value, keeping the old one's spacing and trailing comment.
pub fn replace_value(slot: &mut Item, new: Value) {
    let mut new = new;
    if let Some(old) = slot.as_value() {
        *new.decor_mut() = old.decor().clone();
    }
    *slot = Item::Value(new);
}

/// Sets `key = value` in a table, keeping decor when it exists and
/// indenting a new key like its siblings.
pub fn set_value(table: &mut dyn TableLike, key: &str, value: Value) {
    if let Some(slot) = table.get_mut(key)
        && slot.is_value()
    {
        replace_value(slot, value);
        return;
    }
    let indent = sibling_indent(table);
    table.insert(key, Item::Value(value));
    if let (Some(indent), Some(mut k)) = (indent, table.key_mut(key)) {
        k.leaf_decor_mut().set_prefix(indent);
    }
}

/// The leading whitespace of the first plain key in a table, if any.
fn sibling_indent(table: &dyn TableLike) -> Option<String> {
    table
        .iter()
        .filter(|(_, item)| item.is_value())
        .find_map(|(name, _)| {
            let prefix = table.key(name)?.leaf_decor().prefix()?.as_str()?;
            let indent = prefix.rsplit('\n').next().unwrap_or(prefix);
            Some(indent.to_string()).filter(|i| i.chars().all(|c| c == ' ' || c == '\t'))
        })
}

/// How a new table's header and its keys are indented.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Indent {
    pub header: String,
    pub key: String,
}

/// The indentation for a table at `path`, taken from the file: the header
/// as the table itself, a sibling or any table of the same depth has it, and
/// its keys as far in from the header as that table's (or any table's) keys.
/// A flat file gives no indentation.
pub fn indent_for(root: &Table, path: &[&str]) -> Indent {
    let mut tables = Vec::new();
    headed_tables(root, &mut Vec::new(), &mut tables);
    tables.sort_by_key(|t| t.position);
    let depth = path.len();
    let same = |t: &&HeadedTable| t.path.len() == depth;
    let under = |n: usize| move |t: &&HeadedTable| t.path.iter().take(n).eq(path.iter().take(n));
    let reference = tables
        .iter()
        .filter(same)
        .find(under(depth))
        .or_else(|| {
            tables
                .iter()
                .filter(same)
                .find(under(depth.saturating_sub(1)))
        })
        .or_else(|| tables.iter().find(same));
    let header = reference.map(|t| t.header.clone()).unwrap_or_default();
    let step = reference
        .and_then(HeadedTable::step)
        .or_else(|| tables.iter().find_map(HeadedTable::step))
        .unwrap_or_default();
    Indent {
        key: format!("{header}{step}"),
        header,
    }
}

/// A table with a `[header]` line of its own.
struct HeadedTable {
    path: Vec<String>,
    position: Option<isize>,
    header: String,
    key: Option<String>,
}

impl HeadedTable {
    /// How far its keys sit in from its header.
    fn step(&self) -> Option<String> {
        let key = self.key.as_deref()?;
        Some(
            key.strip_prefix(self.header.as_str())
                .unwrap_or(key)
                .to_string(),
        )
    }
}

fn headed_tables(table: &Table, path: &mut Vec<String>, out: &mut Vec<HeadedTable>) {
    for (name, item) in table {
        let Some(child) = item.as_table() else {
            continue;
        };
        path.push(name.to_string());
        if !child.is_implicit() && !child.is_dotted() {
            let prefix = child
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or("");
            out.push(HeadedTable {
                path: path.clone(),
                position: child.position(),
                header: last_line_indent(prefix),
                key: sibling_indent(child),
            });
        }
        headed_tables(child, path, out);
        path.pop();
    }
}

/// The whitespace that starts the last line of a decor prefix.
fn last_line_indent(prefix: &str) -> String {
    let last = prefix.rsplit('\n').next().unwrap_or(prefix);
    if last.chars().all(|c| c == ' ' || c == '\t') {
        last.to_string()
    } else {
        String::new()
    }
}

/// Gives text written by `toml_edit` back the file's CRLF endings and its
/// missing final newline, which `toml_edit` would otherwise add or drop.
pub fn restore_line_endings(original: &str, rendered: String) -> String {
    let mut out = if original.contains("\r\n") {
        rendered.replace("\r\n", "\n").replace('\n', "\r\n")
    } else {
        rendered
    };
    if !original.is_empty() && !original.ends_with('\n') {
        let trimmed = out.trim_end_matches(['\r', '\n']).len();
        out.truncate(trimmed);
    }
    out
}

/// The name TOML gives a value's type, for messages.
pub fn type_name(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Table(_) | Item::Value(Value::InlineTable(_)) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(v) => match v {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime(_) => "a date",
            Value::Array(_) => "an array",
            Value::InlineTable(_) => "a table",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 7), (2, 2));
    }

    #[test]
    fn crlf_is_restored_only_for_crlf_files() {
        assert_eq!(restore_line_endings("a\r\n", "a\nb\n".into()), "a\r\nb\r\n");
        assert_eq!(restore_line_endings("a\n", "a\nb\n".into()), "a\nb\n");
    }

    #[test]
    fn binary_and_non_utf8_are_refused_with_the_file_name() {
        let err = as_text(Path::new("/x/c.toml"), b"a\0b").unwrap_err();
        assert!(err.to_string().contains("/x/c.toml"));
        assert!(as_text(Path::new("c"), b"a = \"\xff\"").is_err());
    }

    #[test]
    fn replaced_value_keeps_its_comment() {
        let mut doc: toml_edit::DocumentMut = "k = 1 # keep me\n".parse().unwrap();
        set_value(doc.as_table_mut(), "k", Value::from(2));
        assert_eq!(doc.to_string(), "k = 2 # keep me\n");
    }

    #[test]
    fn new_key_is_indented_like_its_siblings() {
        let mut doc: toml_edit::DocumentMut = "[t]\n    a = 1\n".parse().unwrap();
        let t = doc["t"].as_table_like_mut().unwrap();
        set_value(t, "b", Value::from("x"));
        assert_eq!(doc.to_string(), "[t]\n    a = 1\n    b = \"x\"\n");
    }

    fn indent(text: &str, path: &[&str]) -> Indent {
        let doc: toml_edit::DocumentMut = text.parse().unwrap();
        indent_for(doc.as_table(), path)
    }

    #[test]
    fn a_new_table_is_indented_like_the_file() {
        let path = ["plugins", "io.containerd.grpc.v1.cri", "registry"];
        // containerd's own default: indented by depth, keys two further in.
        let deep = "[plugins]\n\n  [plugins.\"io.containerd.gc.v1.scheduler\"]\n    x = 1\n\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    y = 1\n\n    [plugins.\"io.containerd.grpc.v1.cri\".cni]\n      bin_dir = \"/opt\"\n";
        let want = |h: &str, k: &str| Indent {
            header: h.into(),
            key: k.into(),
        };
        assert_eq!(indent(deep, &path), want("    ", "      "));
        // Headers flush left, keys indented (kind, k3s).
        let flat_keys =
            "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"o\"\n";
        assert_eq!(indent(flat_keys, &path), want("", "  "));
        // Nothing indented: nothing added.
        assert_eq!(
            indent("version = 2\n[debug]\nlevel = \"x\"\n", &path),
            want("", "")
        );
    }
}

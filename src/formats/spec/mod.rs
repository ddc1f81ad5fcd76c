//! A spec file as a tree of values that remember where they were written.
//!
//! TOML, YAML and JSON specs (and k3s's registries.yaml) are each parsed by
//! their own module into the same [`Node`] tree, so one reader in `settings`
//! turns any of them into inputs with the same messages: every value knows
//! its `line:column`, every table key too. Size and content limits (empty,
//! binary, too big) are checked here once for every format.

mod json;
mod toml;
mod toml_fast;
mod yaml;

use std::fmt;

use anyhow::{Result, bail};

/// The largest spec certsd reads: 10,000 registries fit in well under it,
/// and a runaway file (a log piped in by mistake) is refused, not parsed.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// The formats a spec can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
    Json,
}

impl Format {
    /// The format a file name's extension says, if any.
    pub fn from_extension(name: &str) -> Option<Format> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub at: Pos,
}

/// A table entry: its key, where the key is, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub at: Pos,
    pub node: Node,
}

/// The shapes a spec value can take.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    /// Entries in file order.
    Table(Vec<Entry>),
}

impl Value {
    /// How messages name the type: `a string`, `a list`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Table(_) => "a table",
        }
    }
}

/// Parses `bytes` as `format`; `file` names the source in messages.
pub fn parse(file: &str, bytes: &[u8], format: Format) -> Result<Node> {
    let text = check_text(file, bytes)?;
    match format {
        Format::Toml => toml::parse(file, text),
        Format::Yaml => yaml::parse(file, text),
        Format::Json => json::parse(file, text),
    }
}

/// Empty, binary, non-UTF-8 and oversized input is refused before parsing:
/// a truncated spec must never read as "no registries".
fn check_text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str> {
    if bytes.len() > MAX_BYTES {
        bail!(
            "{file}: {} bytes is more than a spec may hold ({} MiB); split it or check that this is the right file",
            bytes.len(),
            MAX_BYTES / (1024 * 1024)
        );
    }
    if bytes.contains(&0) {
        bail!("{file}: this is binary data, not a spec; point -f at the spec file");
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = LineIndex::new(&String::from_utf8_lossy(bytes)).pos(e.valid_up_to());
        anyhow::anyhow!("{file}:{at}: not UTF-8 text; a spec must be UTF-8")
    })?;
    if text.trim().is_empty() {
        bail!(
            "{file}: the spec is empty; write `registries = []` (TOML), `registries: []` (YAML) or \
             {{\"registries\": []}} (JSON) to mean no registries (an empty file could be a truncated one)"
        );
    }
    Ok(text)
}

/// Byte offsets to line:column in O(log n), so a 10,000-entry spec is not
/// rescanned from the start for every key.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The position of a byte offset.
    pub fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line.saturating_sub(1)];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        Pos { line, col: col + 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(node: &Node) -> String {
        match &node.value {
            Value::Table(entries) => {
                let inner: Vec<String> = entries
                    .iter()
                    .map(|e| format!("{}@{}={}", e.key, e.at, shape(&e.node)))
                    .collect();
                format!("{{{}}}", inner.join(","))
            }
            Value::List(items) => {
                let inner: Vec<String> = items.iter().map(shape).collect();
                format!("[{}]", inner.join(","))
            }
            Value::Str(s) => format!("{s:?}@{}", node.at),
            other => format!("{other:?}@{}", node.at),
        }
    }

    #[test]
    fn the_three_formats_give_the_same_tree_shape() {
        let toml = "[[registries]]\nhost = \"a\"\nskip_verify = true\nmirrors = [\"m\"]\n";
        let yaml = "registries:\n- host: a\n  skip_verify: true\n  mirrors: [m]\n";
        let json =
            "{\"registries\": [\n{\"host\": \"a\", \"skip_verify\": true, \"mirrors\": [\"m\"]}]}";
        let strip = |s: String| {
            let mut out = String::new();
            let mut skip = false;
            for c in s.chars() {
                match c {
                    '@' => skip = true,
                    '=' | ',' | ']' | '}' | '[' | '{' => {
                        skip = false;
                        out.push(c);
                    }
                    _ if !skip => out.push(c),
                    _ => {}
                }
            }
            out
        };
        let t = strip(shape(
            &parse("s.toml", toml.as_bytes(), Format::Toml).unwrap(),
        ));
        let y = strip(shape(
            &parse("s.yaml", yaml.as_bytes(), Format::Yaml).unwrap(),
        ));
        let j = strip(shape(
            &parse("s.json", json.as_bytes(), Format::Json).unwrap(),
        ));
        assert_eq!(t, y);
        assert_eq!(t, j);
    }

    #[test]
    fn keys_know_their_line_and_column() {
        let toml = "[[registries]]\nhost = \"a\"\n  skip_verfy = true\n";
        let yaml = "registries:\n  - host: a\n    skip_verfy: true\n";
        let json = "{\"registries\": [{\"host\": \"a\",\n   \"skip_verfy\": true}]}";
        for (format, text, want) in [
            (Format::Toml, toml, Pos { line: 3, col: 3 }),
            (Format::Yaml, yaml, Pos { line: 3, col: 5 }),
            (Format::Json, json, Pos { line: 2, col: 4 }),
        ] {
            let root = parse("s", text.as_bytes(), format).unwrap();
            let Value::Table(top) = root.value else {
                panic!("{format:?}")
            };
            let Value::List(list) = &top[0].node.value else {
                panic!()
            };
            let Value::Table(entry) = &list[0].value else {
                panic!()
            };
            assert_eq!(entry[1].key, "skip_verfy");
            assert_eq!(entry[1].at, want, "{format:?}");
        }
    }

    #[test]
    fn empty_binary_and_huge_input_is_refused() {
        for (bytes, want) in [
            (b"  \n".to_vec(), "empty"),
            (b"a\0b".to_vec(), "binary"),
            (vec![b'#'; MAX_BYTES + 1], "more than a spec may hold"),
            (vec![0xff, 0xfe], "not UTF-8"),
        ] {
            let err = parse("s.toml", &bytes, Format::Toml)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn line_index_counts_characters() {
        let idx = LineIndex::new("ab\nçd\n");
        assert_eq!(idx.pos(0), Pos { line: 1, col: 1 });
        assert_eq!(idx.pos(3), Pos { line: 2, col: 1 });
        assert_eq!(idx.pos(5), Pos { line: 2, col: 2 });
    }
}

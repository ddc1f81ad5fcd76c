//! TOML specs through `toml_edit`, whose spans give each key and value its
//! place: the reference reader, and the one whose messages a spec with an
//! error gets. A clean spec is read by the lighter [`super::toml_fast`].

use anyhow::{Result, anyhow};
use toml_edit::{Document, Item, Key, TableLike};

use super::{Entry, LineIndex, Node, Pos, Value};

pub fn parse(file: &str, text: &str) -> Result<Node> {
    let lines = LineIndex::new(text);
    if let Some(node) = super::toml_fast::parse(text, &lines) {
        return Ok(node);
    }
    parse_edit(file, text, &lines)
}

/// The tree as `toml_edit` reads it, or its error placed in `file`.
pub(super) fn parse_edit(file: &str, text: &str, lines: &LineIndex<'_>) -> Result<Node> {
    let doc = Document::parse(text).map_err(|e| {
        let at = e.span().map_or(Pos::default(), |s| lines.pos(s.start));
        anyhow!(
            "{file}:{at}: invalid TOML: {}; fix the spec (nothing was written)",
            e.message().trim()
        )
    })?;
    let reader = Reader { lines };
    Ok(Node {
        value: reader.table(doc.as_table()),
        at: Pos { line: 1, col: 1 },
    })
}

struct Reader<'a> {
    lines: &'a LineIndex<'a>,
}

impl Reader<'_> {
    fn at(&self, span: Option<std::ops::Range<usize>>) -> Pos {
        span.map_or(Pos::default(), |s| self.lines.pos(s.start))
    }

    fn table(&self, table: &dyn TableLike) -> Value {
        let entries = table
            .iter()
            .map(|(key, item)| Entry {
                key: key.to_string(),
                at: self.at(table.key(key).and_then(Key::span)),
                node: self.item(item),
            })
            .collect();
        Value::Table(entries)
    }

    fn item(&self, item: &Item) -> Node {
        match item {
            Item::None => Node {
                value: Value::Null,
                at: Pos::default(),
            },
            Item::Value(v) => self.value(v),
            Item::Table(t) => Node {
                value: self.table(t),
                at: self.at(t.span()),
            },
            Item::ArrayOfTables(list) => Node {
                value: Value::List(
                    list.iter()
                        .map(|t| Node {
                            value: self.table(t),
                            at: self.at(t.span()),
                        })
                        .collect(),
                ),
                at: self.at(list.span()),
            },
        }
    }

    fn value(&self, v: &toml_edit::Value) -> Node {
        use toml_edit::Value as V;
        let value = match v {
            V::String(s) => Value::Str(s.value().clone()),
            V::Integer(i) => Value::Int(*i.value()),
            V::Float(f) => Value::Float(*f.value()),
            V::Boolean(b) => Value::Bool(*b.value()),
            V::Datetime(d) => Value::Str(d.value().to_string()),
            V::Array(a) => Value::List(a.iter().map(|x| self.value(x)).collect()),
            V::InlineTable(t) => self.table(t),
        };
        Node {
            value,
            at: self.at(v.span()),
        }
    }
}

//! YAML specs through serde-saphyr: every node is read as a
//! [`Spanned`](serde_saphyr::Spanned) value, so keys and values keep their
//! line and column. Duplicate keys are an error (saphyr's default policy).

use std::fmt;

use anyhow::{Result, anyhow};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::{Entry, Node, Pos, Value};

pub fn parse(file: &str, text: &str) -> Result<Node> {
    let root: Spanned<Yaml> = serde_saphyr::from_str(text).map_err(|e| {
        let plain = e.without_snippet();
        // The message alone: a snippet could echo a line holding a secret.
        let at = plain.location().map_or(Pos::default(), |l| pos(&l));
        anyhow!(
            "{file}:{at}: invalid YAML: {}; fix the spec (nothing was written)",
            first_line(&plain.to_string())
        )
    })?;
    Ok(node(root))
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default().trim()
}

fn pos(l: &Location) -> Pos {
    Pos {
        line: usize::try_from(l.line()).unwrap_or(0),
        col: usize::try_from(l.column()).unwrap_or(0),
    }
}

fn node(spanned: Spanned<Yaml>) -> Node {
    let at = pos(&spanned.referenced);
    let value = match spanned.value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Int(i) => Value::Int(i),
        Yaml::Float(f) => Value::Float(f),
        Yaml::Str(s) => Value::Str(s),
        Yaml::List(items) => Value::List(items.into_iter().map(node).collect()),
        Yaml::Map(entries) => Value::Table(
            entries
                .into_iter()
                .map(|(k, v)| Entry {
                    key: k.value,
                    at: pos(&k.referenced),
                    node: node(v),
                })
                .collect(),
        ),
    };
    Node { value, at }
}

/// Any YAML node; children are spanned so their places survive.
enum Yaml {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Spanned<Yaml>>),
    Map(Vec<(Spanned<String>, Spanned<Yaml>)>),
}

impl<'de> Deserialize<'de> for Yaml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Yaml, D::Error> {
        d.deserialize_any(YamlVisitor)
    }
}

struct YamlVisitor;

impl<'de> Visitor<'de> for YamlVisitor {
    type Value = Yaml;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Yaml, E> {
        Ok(Yaml::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Yaml, E> {
        Ok(Yaml::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Yaml, E> {
        // Beyond i64 no spec value makes sense: keep it as text for the message.
        Ok(i64::try_from(v).map_or_else(|_| Yaml::Str(v.to_string()), Yaml::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Yaml, E> {
        Ok(Yaml::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Yaml, E> {
        Ok(Yaml::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Yaml, E> {
        Ok(Yaml::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Yaml>>()? {
            items.push(item);
        }
        Ok(Yaml::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Yaml, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<Yaml>>()?;
            entries.push((key, value));
        }
        Ok(Yaml::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_and_duplicate_keys_name_the_place() {
        let err = parse("s.yaml", "a: [1, 2\nb: 3\n").unwrap_err().to_string();
        assert!(err.starts_with("s.yaml:"), "{err}");
        let err = parse("s.yaml", "a: 1\na: 2\n").unwrap_err().to_string();
        assert!(err.contains("s.yaml:2:"), "{err}");
    }
}

//! JSON specs. `serde_json` judges the syntax (its messages carry line and
//! column); a small reader then walks the known-good text once more to
//! record where each key and value starts, which `serde_json` does not keep.

use anyhow::{Result, anyhow};

use super::{Entry, LineIndex, Node, Value};

pub fn parse(file: &str, text: &str) -> Result<Node> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
        anyhow!(
            "{file}:{}:{}: invalid JSON: {e}; fix the spec (nothing was written)",
            e.line(),
            e.column()
        )
    })?;
    let lines = LineIndex::new(text);
    let mut reader = Reader {
        text,
        at: 0,
        lines: &lines,
    };
    reader
        .value(0)
        .ok_or_else(|| anyhow!("{file}: cannot read this JSON; check it with `jq . {file}`"))
}

/// Nesting deeper than this is no spec (and would exhaust the stack).
const MAX_DEPTH: usize = 64;

struct Reader<'a> {
    text: &'a str,
    at: usize,
    lines: &'a LineIndex<'a>,
}

impl Reader<'_> {
    fn skip_ws(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_ws();
        let at = self.lines.pos(self.at);
        let value = match self.peek()? {
            b'{' => self.object(depth)?,
            b'[' => self.array(depth)?,
            b'"' => Value::Str(self.string()?),
            b't' | b'f' | b'n' => self.word()?,
            _ => self.number()?,
        };
        Some(Node { value, at })
    }

    fn object(&mut self, depth: usize) -> Option<Value> {
        self.at += 1;
        let mut entries = Vec::new();
        loop {
            self.skip_ws();
            match self.peek()? {
                b'}' => {
                    self.at += 1;
                    return Some(Value::Table(entries));
                }
                b',' => self.at += 1,
                _ => {
                    let at = self.lines.pos(self.at);
                    let key = self.string()?;
                    self.skip_ws();
                    self.at += 1; // the `:`
                    let node = self.value(depth + 1)?;
                    entries.push(Entry { key, at, node });
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Value> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek()? {
                b']' => {
                    self.at += 1;
                    return Some(Value::List(items));
                }
                b',' => self.at += 1,
                _ => items.push(self.value(depth + 1)?),
            }
        }
    }

    /// A string token, decoded by `serde_json` (escapes and surrogates included).
    fn string(&mut self) -> Option<String> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        serde_json::from_str(self.text.get(start..=i)?).ok()
    }

    fn word(&mut self) -> Option<Value> {
        let rest = &self.text[self.at..];
        for (word, value) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            if rest.starts_with(word) {
                self.at += word.len();
                return Some(value);
            }
        }
        None
    }

    fn number(&mut self) -> Option<Value> {
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
            .unwrap_or(rest.len());
        self.at += len;
        let token = &rest[..len];
        match token.parse::<i64>() {
            Ok(i) => Some(Value::Int(i)),
            Err(_) => token.parse::<f64>().ok().map(Value::Float),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = parse("s.json", "{\"a\": 1,\n\"b\" 2}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.json:2:5: invalid JSON"), "{err}");
    }

    #[test]
    fn escapes_are_decoded_and_deep_nesting_refused() {
        let node = parse("s.json", r#"{"k\u00e9y": "a\"b"}"#).unwrap();
        let Value::Table(entries) = node.value else {
            panic!()
        };
        assert_eq!(entries[0].key, "kéy");
        assert_eq!(entries[0].node.value, Value::Str("a\"b".into()));
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse("s.json", &deep).is_err());
    }
}

//! The usual path for a TOML spec: `toml`'s borrowed, spanned tree
//! (`DeTable`), a fraction of what `toml_edit`'s editable document costs to
//! build, so a fleet's spec is read in a few milliseconds. It answers only
//! for a spec it reads cleanly: on any error (or a value it cannot hold)
//! the caller asks `toml_edit`, whose verdict and messages stay the
//! reference. A test holds the two to the same tree, places included, over
//! every TOML file in testdata/.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Entry, LineIndex, Node, Pos, Value};

/// The tree of a TOML text, or `None` to leave the text to `toml_edit`.
pub(super) fn parse(text: &str, lines: &LineIndex<'_>) -> Option<Node> {
    let root = DeTable::parse(text).ok()?;
    Some(Node {
        value: table(root.get_ref(), lines)?,
        at: Pos { line: 1, col: 1 },
    })
}

fn table(t: &DeTable<'_>, lines: &LineIndex<'_>) -> Option<Value> {
    let entries = t
        .iter()
        .map(|(key, node)| {
            Some(Entry {
                key: key.get_ref().to_string(),
                at: lines.pos(key.span().start),
                node: value(node, lines)?,
            })
        })
        .collect::<Option<_>>()?;
    Some(Value::Table(entries))
}

fn value(v: &Spanned<DeValue<'_>>, lines: &LineIndex<'_>) -> Option<Node> {
    let value = match v.get_ref() {
        DeValue::String(s) => Value::Str(s.to_string()),
        // Out of range: toml_edit refuses it, with its own message.
        DeValue::Integer(i) => Value::Int(i64::from_str_radix(i.as_str(), i.radix()).ok()?),
        DeValue::Float(f) => Value::Float(f.as_str().parse().ok()?),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::Str(d.to_string()),
        DeValue::Array(items) => Value::List(
            items
                .iter()
                .map(|x| value(x, lines))
                .collect::<Option<_>>()?,
        ),
        DeValue::Table(t) => table(t, lines)?,
    };
    Some(Node {
        value,
        at: lines.pos(v.span().start),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every TOML file of the golden cases (specs, config.toml and
    /// hosts.toml files of every shape), plus the shapes a spec may take.
    fn samples() -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = walkdir::WalkDir::new("testdata")
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
            .filter_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                Some((e.path().display().to_string(), text))
            })
            .collect();
        let shapes = [
            "registries = []\n",
            "registries = [{ host = \"a\", ca = [\"x\", \"y\"] }, {host=\"b\"}]\n",
            "[[registries]]\nhost = \"a\"\n[registries.auth]\nusername = \"u\"\n",
            "[[registries]]\nhost = 'a'\nauth.username = \"u\"\nheaders = { \"X-A\" = [\"1\"] }\n",
            "a.b.c = 1\n[x]\ny = 0x1F\nz = 1_000.5\nw = -inf\nd = 1979-05-27T07:32:00Z\n",
            "[[registries]]\nhost = \"\"\"\nmulti\"\"\"\nmirrors = [\n  \"m\", # c\n  { url = \"u\" },\n]\n",
            "[a]\n[a.b]\n[[a.c]]\n[[a.c]]\nk = \"ç\"\n[d.e]\n",
            // Mostly refused by toml_edit: the light reader must refuse them too.
            "a = 1\na = 2\n",
            "[a]\n[a]\n",
            "a = 1\na.b = 2\n",
            "[[a]]\n[a]\n",
            "a = { b = 1 }\n[a.c]\n",
            "n = 9223372036854775808\n",
            "s = \"\\q\"\n",
            "[[registries]]\nhost = \"a\"\nregistries = 1\n",
            "x = [1, \"a\"]\ny = 1979-13-27\n",
        ];
        out.extend(
            shapes
                .iter()
                .map(|s| ("shape".to_string(), (*s).to_string())),
        );
        out
    }

    #[test]
    fn the_light_reader_gives_toml_edit_s_tree() {
        let mut compared = 0;
        for (name, text) in samples() {
            let lines = LineIndex::new(&text);
            let Ok(reference) = super::super::toml::parse_edit(&name, &text, &lines) else {
                assert!(
                    parse(&text, &lines).is_none(),
                    "{name}: toml_edit refuses it"
                );
                continue;
            };
            let fast = parse(&text, &lines).unwrap_or_else(|| panic!("{name}: not read"));
            assert_eq!(fast, reference, "{name}\n{text}");
            compared += 1;
        }
        assert!(compared > 50, "only {compared} files compared");
    }
}

//! The value types containerd's hosts.toml parser accepts, key by key
//! (`core/remotes/docker/config/hosts.go`, `parseHostConfig`, 1.6–2.3): a
//! value of another type fails the whole file, which containerd then only
//! logs before falling back to reading the directory docker-style.

use toml_edit::{Item, TableLike, Value};

use super::read::{TypeError, line_of};
use crate::formats::toml_util::type_name;

/// Every value of `table` containerd would refuse.
pub(super) fn type_errors(table: &dyn TableLike, text: &str) -> Vec<TypeError> {
    let mut out = Vec::new();
    for (key, item) in table.iter() {
        if let Some(message) = wrong(key, item) {
            out.push(TypeError {
                key: key.to_string(),
                line: line_of(table, key, text).unwrap_or(0),
                message,
            });
        }
    }
    out
}

/// Why containerd refuses `key = item`, if it does.
fn wrong(key: &str, item: &Item) -> Option<String> {
    let value = item.as_value();
    let is = match value {
        Some(Value::Array(_)) => "an array holding something other than strings",
        _ => type_name(item),
    };
    match key {
        "server" | "dial_timeout" if value.and_then(Value::as_str).is_none() => {
            Some(format!("`{key}` is {is}; containerd takes a string"))
        }
        "dial_timeout" => {
            let text = value.and_then(Value::as_str).unwrap_or_default();
            (!is_go_duration(text)).then(|| {
                format!("`dial_timeout = {text:?}` is not a Go duration (e.g. \"5s\", \"500ms\")")
            })
        }
        "skip_verify" | "override_path" if value.and_then(Value::as_bool).is_none() => Some(
            format!("`{key}` is {is}; containerd takes true or false (no quotes)"),
        ),
        "capabilities"
            if !value.is_some_and(all_strings) || value.and_then(Value::as_array).is_none() =>
        {
            Some(format!(
                "`capabilities` is {is}; containerd takes an array of strings, e.g. [\"pull\", \"resolve\"]"
            ))
        }
        "ca" if !value.is_some_and(|v| v.is_str() || all_strings(v)) => Some(format!(
            "`ca` is {is}; containerd takes a path or an array of paths"
        )),
        "client" => client_error(value, is),
        "header" => header_error(item),
        _ => None,
    }
}

/// An array whose every element is a string.
fn all_strings(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(Value::is_str))
}

/// `client`: a string, or an array of strings and `[cert, key]` pairs.
fn client_error(value: Option<&Value>, is: &str) -> Option<String> {
    let shape = "containerd takes a path, an array of paths, or an array of [cert, key] pairs";
    match value {
        Some(Value::String(_)) => None,
        Some(Value::Array(items)) => items.iter().find_map(|v| match v {
            Value::String(_) => None,
            Value::Array(pair) if pair.len() == 2 && pair.iter().all(Value::is_str) => None,
            Value::Array(pair) => Some(format!(
                "`client` holds a pair of {} values; {shape} (containerd: invalid pair)",
                pair.len()
            )),
            _ => Some(format!("`client` holds a non-string; {shape}")),
        }),
        _ => Some(format!("`client` is {is}; {shape}")),
    }
}

/// `[header]`: a table whose values are strings or arrays of strings.
fn header_error(item: &Item) -> Option<String> {
    let Some(table) = item.as_table_like() else {
        return Some(format!(
            "`header` is {}; containerd takes a [header] table of \"Name\" = \"value\"",
            type_name(item)
        ));
    };
    table.iter().find_map(|(name, v)| {
        let ok = v.as_value().is_some_and(|v| v.is_str() || all_strings(v));
        (!ok).then(|| {
            format!(
                "header {name:?} is {}; containerd takes a string or an array of strings",
                type_name(v)
            )
        })
    })
}

/// Go's `time.ParseDuration`: `0`, or a sign and one or more decimal
/// numbers each with a unit (ns, us, µs, μs, ms, s, m, h).
pub fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .iter()
            .filter(|u| rest.starts_with(**u))
            .max_by_key(|u| u.len());
        let Some(unit) = unit else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        let doc = toml_edit::Document::parse(text).unwrap();
        type_errors(doc.as_table(), text)
            .into_iter()
            .map(|e| format!("{}:{}", e.key, e.line))
            .collect()
    }

    #[test]
    fn durations_as_go_parses_them() {
        for ok in ["0", "5s", "1.5h", "300ms", "2h45m", "-1m", "10us", "1µs"] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in ["", "5", "s", "1.2.3s", "5 s", "5sec", "+", "1d"] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }

    #[test]
    fn wrong_types_are_found_with_their_lines() {
        let text = "server = 1\nca = 5\nskip_verify = \"true\"\nclient = [[\"a\"]]\ncapabilities = \"pull\"\n[header]\nX = 1\n";
        assert_eq!(
            errors(text),
            [
                "server:1",
                "ca:2",
                "skip_verify:3",
                "client:4",
                "capabilities:5",
                "header:6"
            ]
        );
    }

    #[test]
    fn accepted_shapes_pass() {
        let text = "server = \"https://r\"\nca = [\"a\", \"b\"]\nclient = [\"c\", [\"d\", \"e\"]]\ndial_timeout = \"5s\"\n[header]\nX = [\"a\", \"b\"]\n";
        assert!(errors(text).is_empty(), "{:?}", errors(text));
    }
}

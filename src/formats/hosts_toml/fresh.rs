//! A new hosts.toml written straight out, line by line.
//!
//! Editing the template with `toml_edit` (clone the document, insert every
//! key, print it) costs more than everything else a rerun does for a host,
//! and a rerun renders one new file per host to compare with the one on
//! disk. A new file has no comments or keys of anyone else to keep, so its
//! layout is fixed: the template's comments, the top-level keys, `[header]`,
//! then each `[host."URL"]` with its own `[host."URL".header]`. A key or a
//! string that needs more than plain quotes is spelled by `toml_edit`, so
//! quoting is the same whatever they hold; a unit test renders random specs
//! both ways and requires the same bytes.

use toml_edit::{Key, Value};

use super::{EndpointTrust, HostsSpec};
use crate::formats::templates;

/// The new file for `spec`, or `None` when the spec repeats an endpoint URL
/// or a header name: the editing path's merge rules then decide the layout.
pub(super) fn render(spec: &HostsSpec) -> Option<String> {
    let urls = spec.endpoints.iter().map(|e| e.url.as_str());
    if has_repeats(urls)
        || has_repeats(spec.server_trust.headers.iter().map(|(n, _)| n.as_str()))
        || spec
            .endpoints
            .iter()
            .any(|e| has_repeats(e.trust.headers.iter().map(|(n, _)| n.as_str())))
    {
        return None;
    }
    let mut out = String::with_capacity(512);
    out.push_str(template_comments());
    if !spec.server.is_empty() {
        key(&mut out, "server");
        string(&mut out, &spec.server);
        out.push('\n');
    }
    values(&mut out, &spec.server_trust);
    headers(&mut out, &[], &spec.server_trust.headers);
    for endpoint in &spec.endpoints {
        out.push_str("\n[host.");
        bare_or_quoted(&mut out, &endpoint.url);
        out.push_str("]\n");
        values(&mut out, &endpoint.trust);
        headers(&mut out, &[&endpoint.url], &endpoint.trust.headers);
    }
    Some(out)
}

/// The comment lines above `server` in `templates/hosts.toml`.
fn template_comments() -> &'static str {
    let text = templates::hosts_toml();
    let end = text.find("server").unwrap_or(text.len());
    &text[..end]
}

/// The managed keys of one table, in the order the editing path adds them.
fn values(out: &mut String, trust: &EndpointTrust) {
    key(out, "capabilities");
    let caps: Vec<&str> = trust.capabilities.iter().map(|c| c.as_str()).collect();
    array(out, &caps);
    out.push('\n');
    match trust.ca.as_slice() {
        [] => {}
        [one] => line(out, "ca", one),
        many => {
            key(out, "ca");
            array(out, many);
            out.push('\n');
        }
    }
    if let Some(client) = &trust.client {
        key(out, "client");
        out.push('[');
        array(out, &[&client.cert, &client.key]);
        out.push_str("]\n");
    }
    if trust.skip_verify {
        out.push_str("skip_verify = true\n");
    }
    if trust.override_path {
        out.push_str("override_path = true\n");
    }
    if let Some(timeout) = &trust.dial_timeout {
        line(out, "dial_timeout", timeout);
    }
}

/// `[host."URL".header]` (or the top level's `[header]`) with one line per
/// header, when there are any.
fn headers(out: &mut String, host: &[&String], headers: &[(String, Vec<String>)]) {
    if headers.is_empty() {
        return;
    }
    out.push_str(if host.is_empty() { "\n[" } else { "\n[host." });
    for url in host {
        bare_or_quoted(out, url);
        out.push('.');
    }
    out.push_str("header]\n");
    for (name, values) in headers {
        match values.as_slice() {
            [one] => line(out, name, one),
            many => {
                key(out, name);
                array(out, many);
                out.push('\n');
            }
        }
    }
}

/// `name = "value"`.
fn line(out: &mut String, name: &str, value: &str) {
    key(out, name);
    string(out, value);
    out.push('\n');
}

fn key(out: &mut String, name: &str) {
    bare_or_quoted(out, name);
    out.push_str(" = ");
}

/// A key as TOML spells it: bare when it can be.
fn bare_or_quoted(out: &mut String, name: &str) {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        out.push_str(name);
    } else if plain(name) {
        quoted(out, name);
    } else {
        out.push_str(&Key::new(name).to_string());
    }
}

fn array<S: AsRef<str>>(out: &mut String, items: &[S]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        string(out, item.as_ref());
    }
    out.push(']');
}

/// A string value: in plain double quotes when nothing in it needs escaping
/// (what `toml_edit` writes then too), else as `toml_edit` writes it.
fn string(out: &mut String, value: &str) {
    if plain(value) {
        quoted(out, value);
    } else {
        out.push_str(&Value::from(value).to_string());
    }
}

fn quoted(out: &mut String, text: &str) {
    out.push('"');
    out.push_str(text);
    out.push('"');
}

/// Printable ASCII without `"` or `\\`.
fn plain(text: &str) -> bool {
    text.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

fn has_repeats<'a>(names: impl Iterator<Item = &'a str>) -> bool {
    let mut seen: Vec<&str> = names.collect();
    let all = seen.len();
    seen.sort_unstable();
    seen.dedup();
    seen.len() != all
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{Capability, ClientPaths, Endpoint, HostsFile};
    use super::*;

    /// Text that needs every kind of TOML quoting: plain, `"`, `\`, `'`,
    /// newlines, control and non-ASCII characters, and nothing at all.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9./:-]{1,12}",
            "[ -~]{0,10}",
            "[a'\"\\\\\n\t\u{7f}é☃ ]{0,6}",
        ]
    }

    fn trust() -> impl Strategy<Value = EndpointTrust> {
        let caps = prop::collection::vec(
            prop_oneof![
                Just(Capability::Pull),
                Just(Capability::Resolve),
                Just(Capability::Push),
                Just(Capability::Referrers),
            ],
            0..4,
        );
        let client =
            prop::option::of((text(), text()).prop_map(|(cert, key)| ClientPaths { cert, key }));
        let headers = prop::collection::vec((text(), prop::collection::vec(text(), 1..3)), 0..3);
        (
            caps,
            prop::collection::vec(text(), 0..3),
            client,
            any::<(bool, bool)>(),
            headers,
            prop::option::of(text()),
        )
            .prop_map(
                |(
                    capabilities,
                    ca,
                    client,
                    (skip_verify, override_path),
                    headers,
                    dial_timeout,
                )| {
                    EndpointTrust {
                        capabilities,
                        ca,
                        client,
                        skip_verify,
                        headers,
                        override_path,
                        dial_timeout,
                    }
                },
            )
    }

    fn spec() -> impl Strategy<Value = HostsSpec> {
        let endpoint = (text(), trust()).prop_map(|(url, trust)| Endpoint { url, trust });
        (
            prop_oneof![Just(String::new()), text()],
            trust(),
            prop::collection::vec(endpoint, 1..4),
        )
            .prop_map(|(server, server_trust, endpoints)| HostsSpec {
                server,
                server_trust,
                endpoints,
                keep_capabilities: false,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Written straight out or through toml_edit: the same bytes.
        #[test]
        fn a_new_file_is_the_edited_template(spec in spec()) {
            let edited = HostsFile::new().render_edited(&spec);
            let fresh = render(&spec).unwrap_or_else(|| super::super::render_new(&spec));
            prop_assert_eq!(fresh, edited);
        }
    }

    #[test]
    fn repeated_urls_or_header_names_go_through_the_editor() {
        let endpoint = Endpoint {
            url: "https://m".into(),
            trust: EndpointTrust::default(),
        };
        let mut spec = HostsSpec {
            server: "https://r".into(),
            server_trust: EndpointTrust::default(),
            endpoints: vec![endpoint.clone(), endpoint],
            keep_capabilities: false,
        };
        assert_eq!(render(&spec), None);
        spec.endpoints.pop();
        assert!(render(&spec).is_some());
        spec.server_trust.headers = vec![
            ("A".into(), vec!["1".into()]),
            ("A".into(), vec!["2".into()]),
        ];
        assert_eq!(render(&spec), None);
    }
}

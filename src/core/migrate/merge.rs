//! A migrated host meets an existing hosts.toml for the same host: the two
//! are merged (the legacy endpoints first, as containerd used them, then the
//! file's own), and a setting both give differently is an error naming both.

use anyhow::{Result, bail};

use super::collect::MigratedHost;
use crate::formats::hosts_toml::read::FieldsRead;
use crate::formats::hosts_toml::{ClientPaths, Endpoint, EndpointTrust, HostsFile, HostsSpec};
use crate::node::NodePath;

/// The spec for `host` merged with `file` (as it is on disk at `path`).
pub fn merge(file: &HostsFile, host: &MigratedHost, path: &NodePath) -> Result<HostsSpec> {
    let read = file.read();
    let mut spec = host.spec.clone();
    if read.server.is_none() && read.hosts.is_empty() && read.top == FieldsRead::default() {
        return Ok(spec);
    }
    let fail = |place: Option<&str>, what: String| -> anyhow::Error {
        let table = place.map_or("the top level".to_string(), |u| format!("[host.{u:?}]"));
        let from: Vec<&str> = host
            .sources
            .iter()
            .filter(|(p, _)| p.as_deref() == place)
            .map(|(_, s)| s.as_str())
            .collect();
        let from = if from.is_empty() {
            "the legacy mirror".to_string()
        } else {
            from.join(", ")
        };
        anyhow::anyhow!(
            "{path} {table} and {from} in config.toml disagree: {what}. Make them agree (edit \
             one of the two), then run certsd again. Nothing was written."
        )
    };
    if let Some(server) = &read.server {
        let same = server.trim_end_matches('/') == spec.server.trim_end_matches('/');
        if spec.server.is_empty() {
            spec.server.clone_from(server);
        } else if !same {
            bail!(fail(
                None,
                format!(
                    "server {server:?} there, {:?} from config.toml",
                    spec.server
                )
            ));
        }
    }
    spec.server_trust = both(&read.top, &spec.server_trust).map_err(|w| fail(None, w))?;
    for endpoint in &mut spec.endpoints {
        if let Some(h) = read.hosts.iter().find(|h| h.url == endpoint.url) {
            endpoint.trust = both(&h.fields, &endpoint.trust).map_err(|w| fail(Some(&h.url), w))?;
        }
    }
    for h in &read.hosts {
        if !spec.endpoints.iter().any(|e| e.url == h.url) {
            let trust =
                both(&h.fields, &EndpointTrust::default()).map_err(|w| fail(Some(&h.url), w))?;
            spec.endpoints.push(Endpoint {
                url: h.url.clone(),
                trust,
            });
        }
    }
    spec.keep_capabilities = true;
    Ok(spec)
}

/// The trust of a table as the file has it plus the migrated one; `Err`
/// says what differs (header values are never shown: they may be credentials).
fn both(file: &FieldsRead, migrated: &EndpointTrust) -> Result<EndpointTrust, String> {
    let mut t = migrated.clone();
    if !file.ca.is_empty() {
        if !t.ca.is_empty() && t.ca != file.ca {
            return Err(format!(
                "ca {:?} there, {:?} from config.toml",
                file.ca, t.ca
            ));
        }
        t.ca.clone_from(&file.ca);
    }
    if let Some(client) = client(file)? {
        if t.client.as_ref().is_some_and(|c| *c != client) {
            return Err("the client certificate differs".into());
        }
        t.client = Some(client);
    }
    match file.skip_verify {
        Some(true) => t.skip_verify = true,
        Some(false) if t.skip_verify => {
            return Err("skip_verify = false there, true from config.toml".into());
        }
        _ => {}
    }
    match file.override_path {
        Some(true) => t.override_path = true,
        Some(false) if t.override_path => {
            return Err(
                "override_path = false there, but the legacy endpoint's path is the API root"
                    .into(),
            );
        }
        _ => {}
    }
    for (name, values) in &file.headers {
        match t.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, mine)) if mine != values => {
                return Err(format!("header {name} differs (values not shown)"));
            }
            Some(_) => {}
            None => t.headers.push((name.clone(), values.clone())),
        }
    }
    Ok(t)
}

/// The file's client pair, when it has the one shape certsd writes back.
fn client(file: &FieldsRead) -> Result<Option<ClientPaths>, String> {
    match file.client.as_slice() {
        [] => Ok(None),
        [(cert, Some(key))] => Ok(Some(ClientPaths {
            cert: cert.clone(),
            key: key.clone(),
        })),
        _ => Err("its `client` is not one [cert, key] pair, which certsd cannot merge".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn host(ca: &str) -> MigratedHost {
        let trust = EndpointTrust {
            ca: vec![ca.to_string()],
            ..EndpointTrust::default()
        };
        MigratedHost {
            dir: "docker.io".into(),
            spec: HostsSpec {
                server: "https://registry-1.docker.io".into(),
                server_trust: EndpointTrust::default(),
                endpoints: vec![Endpoint {
                    url: "https://m.example".into(),
                    trust,
                }],
                keep_capabilities: false,
            },
            secret: false,
            sources: vec![(
                Some("https://m.example".into()),
                "registry.configs.\"m.example\".tls (config.toml:5)".into(),
            )],
            files: Vec::new(),
        }
    }

    fn file(text: &str) -> HostsFile {
        HostsFile::parse(Path::new("/h/hosts.toml"), text.as_bytes()).unwrap()
    }

    fn path() -> NodePath {
        NodePath::fixed("/etc/containerd/certs.d/docker.io/hosts.toml")
    }

    #[test]
    fn legacy_endpoints_first_then_the_files_own() {
        let existing = file(
            "[host.\"https://other.example\"]\n  skip_verify = true\n[host.\"https://m.example\"]\n  dial_timeout = \"3s\"\n",
        );
        let spec = merge(&existing, &host("/ca.pem"), &path()).unwrap();
        let urls: Vec<&str> = spec.endpoints.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(urls, ["https://m.example", "https://other.example"]);
        assert!(spec.endpoints[1].trust.skip_verify && spec.keep_capabilities);
        assert_eq!(spec.endpoints[0].trust.ca, ["/ca.pem"]);
    }

    #[test]
    fn a_conflict_names_both_and_hides_header_values() {
        let existing = file("[host.\"https://m.example\"]\n  ca = \"/other.pem\"\n");
        let err = merge(&existing, &host("/ca.pem"), &path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "/etc/containerd/certs.d/docker.io/hosts.toml [host.\"https://m.example\"]"
            ),
            "{err}"
        );
        assert!(
            err.contains("registry.configs.\"m.example\".tls (config.toml:5)"),
            "{err}"
        );
        let mut with_header = host("/ca.pem");
        with_header.spec.endpoints[0].trust.headers =
            vec![("Authorization".into(), vec!["Basic bWluZQ==".into()])];
        let existing =
            file("[host.\"https://m.example\".header]\n  Authorization = \"Basic dGhlaXJz\"\n");
        let err = merge(&existing, &with_header, &path())
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("bWluZQ") && !err.contains("dGhlaXJz"),
            "{err}"
        );
        let existing = file("server = \"https://elsewhere.example\"\n");
        assert!(merge(&existing, &host("/ca.pem"), &path()).is_err());
    }
}

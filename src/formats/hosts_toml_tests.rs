//! Unit tests for hosts.toml: managed fields exact, everything else kept.

use super::*;

fn trust() -> EndpointTrust {
    EndpointTrust {
        capabilities: vec![Capability::Pull, Capability::Resolve],
        ca: vec!["/etc/containerd/certs.d/r:5000/ca.crt".into()],
        ..EndpointTrust::default()
    }
}

fn spec(endpoints: &[&str]) -> HostsSpec {
    HostsSpec {
        server: "https://r:5000".into(),
        server_trust: trust(),
        endpoints: endpoints
            .iter()
            .map(|u| Endpoint {
                url: (*u).to_string(),
                trust: trust(),
            })
            .collect(),
        keep_capabilities: false,
    }
}

fn parse(text: &str) -> HostsFile {
    HostsFile::parse(
        Path::new("/etc/containerd/certs.d/r:5000/hosts.toml"),
        text.as_bytes(),
    )
    .unwrap()
}

#[test]
fn new_file_has_server_and_a_host_table() {
    let out = HostsFile::new().render(&spec(&["https://r:5000"]));
    let doc: toml_edit::DocumentMut = out.parse().unwrap();
    assert_eq!(doc["server"].as_str(), Some("https://r:5000"));
    let host = &doc["host"]["https://r:5000"];
    assert_eq!(
        host["ca"].as_str(),
        Some("/etc/containerd/certs.d/r:5000/ca.crt")
    );
    assert_eq!(host["capabilities"].as_array().unwrap().len(), 2);
    assert!(out.starts_with("# Registry trust"), "{out}");
}

#[test]
fn rendering_twice_is_a_fixed_point() {
    let once = HostsFile::new().render(&spec(&["https://m1", "https://m2"]));
    let twice = parse(&once).render(&spec(&["https://m1", "https://m2"]));
    assert_eq!(once, twice);
}

#[test]
fn unmanaged_keys_and_comments_survive() {
    let before = "# mine\nserver = \"https://r:5000\"\n\n[host.\"https://r:5000\"]\n  dial_timeout = \"3s\" # slow link\n  skip_verify = true\n";
    let out = parse(before).render(&spec(&["https://r:5000"]));
    assert!(out.starts_with("# mine\n"), "{out}");
    assert!(out.contains("dial_timeout = \"3s\" # slow link"), "{out}");
    assert!(
        !out.contains("skip_verify"),
        "managed field not asked for must go: {out}"
    );
}

#[test]
fn host_tables_follow_the_requested_order() {
    let before = HostsFile::new().render(&spec(&["https://b", "https://a"]));
    let out = parse(&before).render(&spec(&["https://a", "https://b", "https://c"]));
    let a = out.find("[host.\"https://a\"]").unwrap();
    let b = out.find("[host.\"https://b\"]").unwrap();
    let c = out.find("[host.\"https://c\"]").unwrap();
    assert!(a < b && b < c, "{out}");
    let out = parse(&before).render(&spec(&["https://a"]));
    assert!(!out.contains("https://b"), "{out}");
}

#[test]
fn values_are_quoted_whatever_they_hold() {
    let mut s = spec(&["https://r:5000"]);
    s.server_trust.headers = vec![("X-Odd".into(), vec!["a \"quoted\" \\ value".into()])];
    s.endpoints[0].trust.headers = vec![("X-Multi".into(), vec!["1".into(), "2".into()])];
    let out = HostsFile::new().render(&s);
    let doc: toml_edit::DocumentMut = out.parse().unwrap();
    assert_eq!(
        doc["header"]["X-Odd"].as_str(),
        Some("a \"quoted\" \\ value")
    );
    assert_eq!(
        doc["host"]["https://r:5000"]["header"]["X-Multi"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn client_pairs_and_flags() {
    let mut s = spec(&["https://r:5000"]);
    s.endpoints[0].trust.client = Some(ClientPaths {
        cert: "/c.crt".into(),
        key: "/c.key".into(),
    });
    s.endpoints[0].trust.skip_verify = true;
    s.endpoints[0].trust.override_path = true;
    let out = HostsFile::new().render(&s);
    assert!(out.contains("client = [[\"/c.crt\", \"/c.key\"]]"), "{out}");
    assert!(out.contains("skip_verify = true"), "{out}");
    assert!(out.contains("override_path = true"), "{out}");
}

#[test]
fn implicit_and_dotted_host_tables_get_the_requested_order() {
    let mut s = spec(&["https://m1", "https://m2"]);
    s.endpoints[0].trust.headers = vec![("X".into(), vec!["1".into()])];
    s.endpoints[1].trust.headers = vec![("X".into(), vec!["1".into()])];
    for before in [
        "server = \"https://r:5000\"\n[host.\"https://m2\".header]\nX = \"1\"\n[host.\"https://m1\".header]\nX = \"1\"\n",
        "server = \"https://r:5000\"\nhost.\"https://m2\".dial_timeout = \"1s\"\nhost.\"https://m1\".dial_timeout = \"2s\"\n",
    ] {
        let once = parse(before).render(&s);
        let (m1, m2) = (
            once.find("[host.\"https://m1\"]"),
            once.find("[host.\"https://m2\"]"),
        );
        assert!(m1.is_some() && m2.is_some() && m1 < m2, "{once}");
        assert_eq!(parse(&once).render(&s), once, "not a fixed point");
    }
}

#[test]
fn broken_files_are_refused_with_a_place() {
    let file = Path::new("/x/hosts.toml");
    let err = HostsFile::parse(file, b"server = \n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/x/hosts.toml:1:"), "{err}");
    let err = HostsFile::parse(file, b"host = 3\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/x/hosts.toml:1:1") && err.contains("an integer"),
        "{err}"
    );
    let err = HostsFile::parse(file, b"[host]\n\"https://a\" = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains(":2:1"), "{err}");
}

/// Truncated and mangled hosts.toml files are refused or edited, never a panic,
/// and an accepted edit always parses back with the requested server.
#[test]
fn mangled_files_never_panic() {
    let mut s = spec(&["https://m1", "https://r:5000"]);
    s.server_trust.headers = vec![("X-A".into(), vec!["1".into()])];
    let good = HostsFile::new().render(&s);
    let bytes = good.as_bytes();
    let mut accepted = 0;
    for cut in 0..bytes.len() {
        for variant in [
            bytes[..cut].to_vec(),
            [&bytes[..cut], b"[", &bytes[cut..]].concat(),
        ] {
            let Ok(file) = HostsFile::parse(Path::new("/h.toml"), &variant) else {
                continue;
            };
            accepted += 1;
            let out = file.render(&s);
            let doc: toml_edit::DocumentMut = out.parse().unwrap_or_else(|e| panic!("{e}\n{out}"));
            assert_eq!(doc["server"].as_str(), Some("https://r:5000"));
        }
    }
    assert!(accepted > 20, "{accepted}");
}

/// Every hosts.toml a golden case expects certsd to write (files the run
/// left as they were in `in/` are someone else's), with its path.
fn golden_hosts_files() -> Vec<(std::path::PathBuf, String)> {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let written_by_certsd = |path: &Path, text: &str| {
        let input = path.to_string_lossy().replace("/expected/root/", "/in/");
        std::fs::read_to_string(input).ok().as_deref() != Some(text)
    };
    walkdir::WalkDir::new(testdata)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name() == "hosts.toml" && e.path().to_string_lossy().contains("/expected/root/")
        })
        .map(|e| {
            (
                e.path().to_path_buf(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .filter(|(path, text)| written_by_certsd(path, text))
        .collect()
}

#[test]
fn every_field_written_reads_back_and_renders_the_same_bytes() {
    let files = golden_hosts_files();
    assert!(
        files.len() >= 20,
        "too few golden hosts.toml files: {}",
        files.len()
    );
    for (path, text) in files {
        let file = HostsFile::parse(&path, text.as_bytes()).unwrap();
        let read = file.read();
        let spec = HostsSpec {
            // `_default` has no server: the empty string means none.
            server: read.server.clone().unwrap_or_default(),
            server_trust: read.top.trust(),
            endpoints: read
                .hosts
                .iter()
                .map(|h| Endpoint {
                    url: h.url.clone(),
                    trust: h.fields.trust(),
                })
                .collect(),
            // A top level without capabilities is one certsd kept as it was.
            keep_capabilities: read.top.capabilities.is_none(),
        };
        assert!(
            !spec.endpoints.is_empty(),
            "{}: no [host] table",
            path.display()
        );
        assert_eq!(file.render(&spec), text, "{}", path.display());
    }
}

#[test]
fn read_reports_fields_unknown_keys_and_lines() {
    let text = "server = \"https://r\"\nskip_verfy = true\n\n[host.\"https://m\"]\n  capabilities = [\"pull\", \"fly\"]\n  ca = \"a.crt\"\n  client = \"both.pem\"\n  dial_timeout = \"2s\"\n  [host.\"https://m\".header]\n    X-A = [\"1\", \"2\"]\n";
    let file = HostsFile::parse(Path::new("h.toml"), text.as_bytes()).unwrap();
    let read = file.read();
    assert_eq!(read.server.as_deref(), Some("https://r"));
    assert_eq!(read.top.unknown, vec![("skip_verfy".to_string(), 2)]);
    let host = &read.hosts[0];
    assert_eq!((host.url.as_str(), host.line), ("https://m", 4));
    let f = &host.fields;
    assert_eq!(
        f.capabilities,
        Some(vec!["pull".to_string(), "fly".to_string()])
    );
    assert_eq!(f.ca, ["a.crt"]);
    assert_eq!(f.client, vec![("both.pem".to_string(), None)]);
    assert_eq!(f.dial_timeout.as_deref(), Some("2s"));
    assert_eq!(
        f.headers,
        vec![("X-A".to_string(), vec!["1".to_string(), "2".to_string()])]
    );
    // What certsd cannot write is left out of the trust it would write.
    assert_eq!(f.trust().capabilities, [Capability::Pull]);
    assert_eq!(f.trust().client, None);
}

const DIR: &str = "/etc/containerd/certs.d/r:5000";

/// A file as certsd writes it: one CA copy in the host's directory, everywhere.
fn certsd_file() -> HostsFile {
    HostsFile::new()
        .render(&spec(&["https://m1", "https://m2"]))
        .pipe(|text| parse(&text))
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

#[test]
fn existing_tables_keep_their_capabilities_unless_some_were_given() {
    let before =
        "server = \"https://r:5000\"\n\n[host.\"https://m1\"]\n  capabilities = [\"pull\"]\n";
    let keep = HostsSpec {
        keep_capabilities: true,
        ..spec(&["https://m1", "https://m2"])
    };
    let out = parse(before).render(&keep);
    let doc: toml_edit::DocumentMut = out.parse().unwrap();
    assert_eq!(
        doc["host"]["https://m1"]["capabilities"].to_string().trim(),
        "[\"pull\"]"
    );
    // The top level had none (containerd: everything); it stays so.
    assert!(doc.get("capabilities").is_none(), "{out}");
    // The table certsd creates gets the run's.
    assert_eq!(
        doc["host"]["https://m2"]["capabilities"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Capabilities given: every table gets them.
    let out = parse(before).render(&spec(&["https://m1"]));
    assert!(
        out.contains("capabilities = [\"pull\", \"resolve\"]\n  ca"),
        "{out}"
    );
}

#[test]
fn skip_verify_false_is_kept_when_the_run_does_not_turn_it_on() {
    let before = "server = \"https://r:5000\"\n[host.\"https://r:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n  skip_verify = false\n";
    let out = parse(before).render(&spec(&["https://r:5000"]));
    assert!(out.contains("skip_verify = false"), "{out}");
    assert!(
        parse(before)
            .anchor_changes(&spec(&["https://r:5000"]), DIR)
            .is_empty()
    );
}

#[test]
fn replaced_and_dropped_anchors_are_named_added_ones_are_not() {
    let before = "server = \"https://r:5000\"\n\n[host.\"https://m1\"]\n  ca = \"m1.crt\"\n\n[host.\"https://m2\"]\n  skip_verify = true\n  client = [[\"/etc/c.pem\", \"/etc/c.key\"]]\n\n[host.\"https://gone\"]\n  ca = \"/etc/gone.crt\"\n";
    let file = parse(before);
    let changes: Vec<String> = file
        .anchor_changes(&spec(&["https://m1", "https://m2"]), DIR)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        changes,
        [
            "[host.\"https://m1\"]: ca \"m1.crt\" -> \"/etc/containerd/certs.d/r:5000/ca.crt\"",
            "[host.\"https://m2\"]: client [[\"/etc/c.pem\", \"/etc/c.key\"]] -> removed",
            "[host.\"https://m2\"]: skip_verify true -> removed",
        ]
    );
    assert!(!file.anchors_are_certsds(DIR));
    // A relative path naming the very copy the run writes is the same anchor.
    let same = parse("server = \"https://r:5000\"\n[host.\"https://m1\"]\n  ca = \"ca.crt\"\n");
    assert!(same.anchor_changes(&spec(&["https://m1"]), DIR).is_empty());
    // A new file, or anchors only added, change nothing.
    assert!(
        HostsFile::new()
            .anchor_changes(&spec(&["https://m1"]), DIR)
            .is_empty()
    );
    let bare = parse("server = \"https://r:5000\"\n[host.\"https://m1\"]\n");
    assert!(bare.anchor_changes(&spec(&["https://m1"]), DIR).is_empty());
}

#[test]
fn certsds_own_anchors_are_recognised_by_their_shape() {
    let own = certsd_file();
    assert!(own.anchors_are_certsds(DIR));
    let other = EndpointTrust {
        ca: vec![format!("{DIR}/new.crt")],
        ..trust()
    };
    let rotated = HostsSpec {
        server_trust: other.clone(),
        endpoints: vec![Endpoint {
            url: "https://m1".into(),
            trust: other,
        }],
        ..spec(&[])
    };
    assert_eq!(own.anchor_changes(&rotated, DIR).len(), 2);
    // The same CA path but not in the host directory, or not everywhere: not certsd's.
    let elsewhere = certsd_file()
        .render(&spec(&["https://m1"]))
        .replace(DIR, "/etc/pki");
    assert!(!parse(&elsewhere).anchors_are_certsds(DIR));
    let uneven = format!(
        "{}\n[host.\"https://hand\"]\n  capabilities = [\"pull\"]\n",
        own.render(&spec(&["https://m1", "https://m2"]))
    );
    assert!(!parse(&uneven).anchors_are_certsds(DIR));
}

/// The planner skips parsing a hosts.toml that is byte-identical to the new
/// file it would write for the spec (the every-boot rerun). That holds only
/// if editing such a file gives the same bytes, keeps every table and sees
/// no trust change: checked here for each kind of trust and both settings
/// of `keep_capabilities`.
#[test]
fn a_new_files_bytes_read_back_as_unchanged() {
    let dir = "/etc/containerd/certs.d/r:5000";
    let full = EndpointTrust {
        capabilities: vec![Capability::Pull, Capability::Resolve, Capability::Push],
        ca: vec![format!("{dir}/a.crt"), format!("{dir}/b.crt")],
        client: Some(ClientPaths {
            cert: format!("{dir}/c.crt"),
            key: format!("{dir}/c.key"),
        }),
        skip_verify: false,
        headers: vec![
            ("X-Team".into(), vec!["a".into(), "b".into()]),
            ("Authorization".into(), vec!["Basic dTpw".into()]),
        ],
        override_path: true,
        dial_timeout: Some("3s".into()),
    };
    let insecure = EndpointTrust {
        skip_verify: true,
        ca: Vec::new(),
        ..trust()
    };
    for keep in [false, true] {
        for (server, urls) in [
            ("https://r:5000", vec!["https://r:5000"]),
            ("https://r:5000", vec!["https://m1/v2/r", "https://m2"]),
            ("", vec!["https://m1"]),
        ] {
            for t in [
                trust(),
                full.clone(),
                insecure.clone(),
                EndpointTrust::default(),
            ] {
                let spec = HostsSpec {
                    server: server.into(),
                    server_trust: t.clone(),
                    endpoints: urls
                        .iter()
                        .map(|u| Endpoint {
                            url: (*u).to_string(),
                            trust: t.clone(),
                        })
                        .collect(),
                    keep_capabilities: keep,
                };
                let new = HostsFile::new().render(&spec);
                let read = parse(&new);
                assert_eq!(read.render(&spec), new, "{new}");
                assert!(read.anchor_changes(&spec, dir).is_empty(), "{new}");
                let listed: Vec<String> = urls.iter().map(|u| (*u).to_string()).collect();
                assert_eq!(read.endpoint_urls(), listed, "{new}");
            }
        }
    }
}

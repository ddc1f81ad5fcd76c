//! Legacy endpoint URLs and config keys, as containerd 1.x read them, and
//! how a `configs."KEY"` is matched to an endpoint.
//!
//! containerd 1.x looked a config up by the endpoint URL's exact `host[:port]`
//! (`Configs[u.Host]`). certsd also matches a key written as a URL, a key
//! without the endpoint's port (or with a port the endpoint lacks) and
//! `docker.io` for `registry-1.docker.io`: those are guesses, said so in a
//! warning, because containerd itself never applied them.

/// A legacy endpoint, normalised for hosts.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyUrl {
    /// `https://host[:port]`, plus the path when it is not the registry root.
    pub url: String,
    pub scheme: String,
    /// `host[:port]` as written.
    pub authority: String,
    /// The path was the API root itself (not "", "/" or "/v2").
    pub override_path: bool,
    /// The endpoint had no scheme; `https://` was assumed.
    pub assumed_https: bool,
}

/// Parses an endpoint; `Err` says why it is unusable (never repeating a
/// credential that may sit in it).
pub fn endpoint(raw: &str) -> Result<LegacyUrl, String> {
    let raw = raw.trim();
    let (scheme, rest, assumed) = match raw.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest, false),
        None => ("https".to_string(), raw, true),
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("scheme {scheme:?} is not http or https"));
    }
    let full = format!("{scheme}://{rest}");
    let parsed = url::Url::parse(&full).map_err(|e| format!("not a URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("it holds credentials (they are not repeated here)".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("a query or fragment is not allowed".into());
    }
    if full.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("spaces and control characters are not allowed".into());
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err("no host".into());
    }
    let path = path.trim_end_matches('/');
    let root = path.is_empty() || path == "/v2";
    let url = if root {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}://{authority}{path}")
    };
    Ok(LegacyUrl {
        url,
        scheme,
        authority: authority.to_string(),
        override_path: !root,
        assumed_https: assumed,
    })
}

/// A `configs."KEY"` (or `auths."URL"`) key: its `host[:port]`, and whether
/// it was written as a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    pub authority: String,
    /// `http` when the key was an `http://` URL.
    pub scheme: String,
    pub url_keyed: bool,
}

impl ConfigKey {
    pub fn parse(key: &str) -> ConfigKey {
        let key = key.trim();
        match key.split_once("://") {
            Some((scheme, rest)) => ConfigKey {
                authority: rest.split('/').next().unwrap_or(rest).to_string(),
                scheme: scheme.to_ascii_lowercase(),
                url_keyed: true,
            },
            None => ConfigKey {
                authority: key.trim_end_matches('/').to_string(),
                scheme: "https".into(),
                url_keyed: false,
            },
        }
    }
}

/// How surely a key names an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Match {
    /// The host and port differ only in a port one side leaves out, or
    /// `docker.io` for `registry-1.docker.io`.
    NameOnly,
    /// The same `host[:port]`, but the key is a URL.
    UrlKey,
    /// The same `host[:port]`: what containerd 1.x matched.
    Exact,
}

impl Match {
    /// Why a guess is a guess, for the warning.
    pub fn why(self) -> Option<&'static str> {
        match self {
            Match::Exact => None,
            Match::UrlKey => Some(
                "the key is a URL; containerd 1.x looked configs up by host[:port] only and never applied it",
            ),
            Match::NameOnly => Some(
                "the key and the endpoint differ in their port (or name docker.io for \
                 registry-1.docker.io); containerd 1.x never applied it there",
            ),
        }
    }
}

/// Whether `key` names the endpoint `authority`, and how surely. `exact_urls`:
/// the key's URL form is what containerd used (`registry.auths`).
pub fn matches(key: &ConfigKey, authority: &str, exact_urls: bool) -> Option<Match> {
    if key.authority == authority {
        return Some(if key.url_keyed && !exact_urls {
            Match::UrlKey
        } else {
            Match::Exact
        });
    }
    let name = |a: &str| -> String {
        if a.starts_with('[') {
            return a.split(']').next().unwrap_or(a).to_string() + "]";
        }
        a.split(':').next().unwrap_or(a).to_string()
    };
    let has_port = |a: &str| a.rsplit_once(']').map_or(a, |(_, p)| p).contains(':');
    let docker = key.authority == "docker.io" && authority == "registry-1.docker.io";
    let one_port = has_port(&key.authority) != has_port(authority);
    (docker || (one_port && name(&key.authority) == name(authority))).then_some(Match::NameOnly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_need_nothing_other_paths_override() {
        for raw in [
            "https://m:5000",
            "https://m:5000/",
            "https://m:5000/v2",
            "https://m:5000/v2/",
        ] {
            let e = endpoint(raw).unwrap();
            assert_eq!(
                (e.url.as_str(), e.override_path),
                ("https://m:5000", false),
                "{raw}"
            );
        }
        let e = endpoint("https://h.example/v2/proxy-docker/").unwrap();
        assert_eq!(e.url, "https://h.example/v2/proxy-docker");
        assert!(e.override_path);
        let e = endpoint("http://10.0.0.9:5000").unwrap();
        assert_eq!(
            (e.url.as_str(), e.scheme.as_str()),
            ("http://10.0.0.9:5000", "http")
        );
        let e = endpoint("m.example:5000").unwrap();
        assert!(e.assumed_https && e.url == "https://m.example:5000");
    }

    #[test]
    fn bad_endpoints_do_not_repeat_credentials() {
        let err = endpoint("https://user:hunter2@m").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(endpoint("ftp://m").is_err());
        assert!(endpoint("https:///v2").is_err());
        assert!(endpoint("https://m/?q").is_err());
    }

    #[test]
    fn keys_match_exactly_or_as_a_guess() {
        let k = |s: &str| ConfigKey::parse(s);
        assert_eq!(matches(&k("m:5000"), "m:5000", false), Some(Match::Exact));
        assert_eq!(
            matches(&k("https://m:5000"), "m:5000", false),
            Some(Match::UrlKey)
        );
        assert_eq!(
            matches(&k("https://m:5000/"), "m:5000", true),
            Some(Match::Exact)
        );
        assert_eq!(matches(&k("m"), "m:5000", false), Some(Match::NameOnly));
        assert_eq!(matches(&k("m:5000"), "m", false), Some(Match::NameOnly));
        assert_eq!(matches(&k("m:5000"), "m:6000", false), None);
        assert_eq!(matches(&k("n"), "m", false), None);
        assert_eq!(
            matches(&k("docker.io"), "registry-1.docker.io", false),
            Some(Match::NameOnly)
        );
        assert_eq!(
            matches(&k("[::1]"), "[::1]:5000", false),
            Some(Match::NameOnly)
        );
    }
}

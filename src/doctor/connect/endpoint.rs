//! A registry endpoint as containerd dials it: the URL from hosts.toml (or
//! the one containerd makes up when there is no `server`), the registry it
//! serves, and where it came from, since containerd's defaults depend on it.

use std::net::SocketAddr;

/// `http://` or `https://`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// Where containerd got an endpoint from; its defaults apply only to the
/// last one, and only when hosts.toml names no `server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A `[host."URL"]` table.
    Host,
    /// The top-level `server` key.
    Server,
    /// No `server` (or no hosts.toml): containerd made the endpoint up from
    /// the registry name, with its loopback special cases.
    Default,
}

/// One endpoint as containerd would dial it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// A DNS name or an IP literal (no brackets).
    pub host: String,
    /// The port as written; `None` means the scheme's default. Kept apart
    /// from the default because containerd's fallback tests the written port.
    pub port: Option<u16>,
    /// The registry host (`name[:port]` of the image reference) the
    /// endpoint serves; containerd's loopback rules look at this name.
    pub registry: String,
    pub origin: Origin,
    /// Dial this address instead of resolving `host` (tests map a name to
    /// 127.0.0.1 with it); `None` in production.
    pub dial: Option<SocketAddr>,
}

impl Endpoint {
    /// Parses a hosts.toml URL as containerd does (no scheme means `https`).
    pub fn parse(url: &str, registry: &str, origin: Origin) -> Result<Endpoint, String> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else {
            (Scheme::Https, url)
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = split_host_port(authority)
            .ok_or_else(|| format!("{url:?} has no usable host[:port]"))?;
        Ok(Endpoint {
            scheme,
            host,
            port,
            registry: registry.to_owned(),
            origin,
            dial: None,
        })
    }

    /// The endpoint containerd adds when hosts.toml names no `server`:
    /// `https://` + the registry name (`registry-1.docker.io` for
    /// `docker.io`). For a loopback registry [`super::probe`] applies containerd's
    /// version-dependent scheme and skip-verify rules on top.
    pub fn containerd_default(registry: &str) -> Result<Endpoint, String> {
        let name = if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        Endpoint::parse(name, registry, Origin::Default)
    }

    /// The port dialled for `scheme`.
    pub fn port_for(&self, scheme: Scheme) -> u16 {
        self.port.unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        })
    }

    pub(super) fn url(&self, scheme: Scheme) -> String {
        let s = if scheme == Scheme::Http {
            "http"
        } else {
            "https"
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{s}://{host}:{}", self.port_for(scheme))
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → host and written port.
fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else if authority.matches(':').count() == 1 {
        let (host, port) = authority.split_once(':')?;
        (host, Some(port))
    } else {
        (authority, None)
    };
    let port = port.map(str::parse::<u16>).transpose().ok()?;
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Endpoint, String> {
        Endpoint::parse(url, "r", Origin::Host)
    }

    #[test]
    fn parses_urls_as_containerd_writes_them() {
        let e = parse("registry.local:5000").unwrap();
        assert_eq!(
            (e.scheme, e.host.as_str(), e.port),
            (Scheme::Https, "registry.local", Some(5000))
        );
        let e = parse("http://[::1]:5000/v2/").unwrap();
        assert_eq!(
            (e.scheme, e.host.as_str(), e.port),
            (Scheme::Http, "::1", Some(5000))
        );
        assert_eq!(e.url(Scheme::Http), "http://[::1]:5000");
        let e = parse("https://[fd00::1]").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port_for(Scheme::Https)),
            ("fd00::1", 443)
        );
        // A bare IPv6 literal: all colons belong to the address.
        assert_eq!(parse("::1").unwrap().host, "::1");
    }

    #[test]
    fn odd_urls_are_errors_not_panics() {
        for bad in [
            "",
            "https://",
            "http://:80",
            "[::1",
            "h:99999",
            "h:port",
            "https://[]:1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn docker_io_defaults_to_registry_1() {
        let e = Endpoint::containerd_default("docker.io").unwrap();
        assert_eq!(
            (e.host.as_str(), e.registry.as_str(), e.origin),
            ("registry-1.docker.io", "docker.io", Origin::Default)
        );
    }
}

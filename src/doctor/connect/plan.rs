//! What containerd will actually try for an endpoint: TLS or plain HTTP,
//! whether it verifies, whether it falls back from HTTPS to HTTP.
//!
//! From containerd's `core/remotes/docker/config/hosts.go` (`ConfigureHosts`)
//! and `core/remotes/docker/resolver.go` (`IsLocalhost`, `NewHTTPFallback`),
//! read at v1.6.20, v1.6.39, v1.7.30 and main (2.3):
//! - Only the endpoint containerd makes up when hosts.toml names no `server`
//!   ([`Origin::Default`]) gets loopback treatment, and the test is on the
//!   registry name (`localhost`, or a loopback IP, with any port).
//! - Before 1.6.32 / 1.7.16 such a loopback registry is plain `http` (with
//!   skip-verify, unused). From 1.6.32, 1.7.16 and in every 2.x: port none or
//!   443 → `https`, other ports → `http`; every port but 80 → skip-verify.
//! - Same versions: an `http` endpoint whose host has TLS configured (`ca`,
//!   `client` or `skip_verify` set) and whose written port is not `80` is
//!   tried over HTTPS first, and retried over HTTP when the server answers
//!   the hello with `HTTP/`, the handshake times out, or (no port written)
//!   the dial fails. Older versions never fall back.

use super::{Endpoint, Origin, Scheme, Trust};
use crate::version::ContainerdVersion;

/// The attempt [`super::probe`] makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    /// Start with a TLS handshake (otherwise plain HTTP only).
    pub tls: bool,
    /// After the TLS attempt fails the way `httpFallback` catches, retry
    /// over plain HTTP.
    pub http_fallback: bool,
    /// containerd would not verify the chain.
    pub skip_verify: bool,
    /// Why the attempt differs from the URL as written, for the message.
    pub notes: Vec<String>,
}

/// containerd's `docker.IsLocalhost`: `localhost` or a loopback IP, with or
/// without a port (an IPv6 literal with a port in brackets).
pub fn is_localhost(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, port))
            if h.starts_with('[') && h.ends_with(']') && port.parse::<u16>().is_ok() =>
        {
            &h[1..h.len() - 1]
        }
        Some((h, port)) if !h.contains(':') && port.parse::<u16>().is_ok() => h,
        _ => host,
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether this containerd has `httpFallback` and the 2.x loopback defaults.
fn has_fallback(v: ContainerdVersion) -> bool {
    let v = (v.major, v.minor, v.patch);
    v >= (1, 7, 16) || ((1, 6, 32)..(1, 7, 0)).contains(&v)
}

/// The attempt containerd `v` makes for `endpoint` with `trust`.
pub(super) fn plan(endpoint: &Endpoint, trust: &Trust, v: ContainerdVersion) -> Plan {
    if endpoint.origin == Origin::Default && is_localhost(&endpoint.registry) {
        return loopback_default(endpoint, v);
    }
    let skip_verify = trust.skip_verify == Some(true);
    let fallback = endpoint.scheme == Scheme::Http
        && trust.tls_configured()
        && endpoint.port != Some(80)
        && has_fallback(v);
    let mut notes = Vec::new();
    if fallback {
        notes.push(format!(
            "containerd {v} tries HTTPS first on this http:// endpoint because it has TLS \
             settings (ca, client or skip_verify), and falls back to HTTP only when the server \
             answers in plain HTTP"
        ));
    }
    Plan {
        tls: endpoint.scheme == Scheme::Https || fallback,
        http_fallback: fallback,
        skip_verify,
        notes,
    }
}

/// The made-up endpoint of a loopback registry.
fn loopback_default(endpoint: &Endpoint, v: ContainerdVersion) -> Plan {
    let registry = &endpoint.registry;
    if !has_fallback(v) {
        let note = format!(
            "containerd {v} talks plain HTTP to the loopback registry {registry} when hosts.toml \
             names no server (1.6.32/1.7.16 and later try HTTPS first)"
        );
        return Plan {
            tls: false,
            http_fallback: false,
            skip_verify: true,
            notes: vec![note],
        };
    }
    let port_80 = endpoint.port == Some(80);
    let scheme_http = !matches!(endpoint.port, None | Some(443));
    let fallback = scheme_http && !port_80;
    let mut note = format!(
        "{registry} is a loopback registry and hosts.toml names no server, so containerd {v}"
    );
    note.push_str(match (fallback, port_80) {
        (true, _) => {
            " tries HTTPS without verifying the certificate, then falls back to plain HTTP"
        }
        (false, true) => " talks plain HTTP to port 80",
        (false, false) => " uses HTTPS without verifying the certificate",
    });
    Plan {
        tls: !port_80,
        http_fallback: fallback,
        skip_verify: !port_80,
        notes: vec![note],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ContainerdVersion {
        s.parse().unwrap()
    }

    fn default_for(registry: &str) -> Endpoint {
        Endpoint::containerd_default(registry).unwrap()
    }

    #[test]
    fn localhost_names_match_containerd() {
        for yes in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.1.2.3:80",
            "::1",
            "[::1]:5000",
        ] {
            assert!(is_localhost(yes), "{yes}");
        }
        for no in [
            "registry.local",
            "10.0.0.1:5000",
            "localhost.localdomain",
            "[::2]:5000",
            "::1:5000",
        ] {
            assert!(!is_localhost(no), "{no}");
        }
    }

    #[test]
    fn fallback_arrived_in_1_6_32_and_1_7_16() {
        for (version, want) in [
            ("1.6.20", false),
            ("1.6.32", true),
            ("1.7.15", false),
            ("1.7.16", true),
            ("2.0.0", true),
        ] {
            assert_eq!(has_fallback(v(version)), want, "{version}");
        }
    }

    #[test]
    fn loopback_default_on_2x_tries_tls_unverified_then_http() {
        let plan = plan(
            &default_for("localhost:5000"),
            &Trust::default(),
            v("2.1.4"),
        );
        assert!(
            plan.tls && plan.http_fallback && plan.skip_verify,
            "{plan:?}"
        );
        let plan = super::plan(&default_for("127.0.0.1"), &Trust::default(), v("2.1.4"));
        assert!(
            plan.tls && !plan.http_fallback && plan.skip_verify,
            "{plan:?}"
        );
        let plan = super::plan(&default_for("localhost:80"), &Trust::default(), v("2.1.4"));
        assert!(!plan.tls && !plan.skip_verify, "{plan:?}");
    }

    #[test]
    fn loopback_default_on_old_1_6_is_plain_http() {
        let plan = plan(
            &default_for("localhost:5000"),
            &Trust::default(),
            v("1.6.20"),
        );
        assert!(!plan.tls, "{plan:?}");
        assert!(plan.notes[0].contains("plain HTTP"), "{plan:?}");
    }

    #[test]
    fn loopback_rules_skip_explicit_endpoints() {
        let endpoint =
            Endpoint::parse("https://localhost:5000", "localhost:5000", Origin::Host).unwrap();
        let plan = plan(&endpoint, &Trust::default(), v("2.1.4"));
        assert!(
            plan.tls && !plan.skip_verify && plan.notes.is_empty(),
            "{plan:?}"
        );
    }

    #[test]
    fn http_with_tls_settings_tries_https_first_on_new_versions() {
        let endpoint = Endpoint::parse(
            "http://registry.local:5000",
            "registry.local:5000",
            Origin::Host,
        )
        .unwrap();
        let trust = Trust {
            skip_verify: Some(false),
            ..Trust::default()
        };
        assert!(plan(&endpoint, &trust, v("2.0.0")).http_fallback);
        assert!(!plan(&endpoint, &trust, v("1.7.15")).tls);
        assert!(!plan(&endpoint, &Trust::default(), v("2.0.0")).tls);
        let port_80 =
            Endpoint::parse("http://registry.local:80", "registry.local", Origin::Host).unwrap();
        assert!(!plan(&port_80, &trust, v("2.0.0")).tls);
    }
}

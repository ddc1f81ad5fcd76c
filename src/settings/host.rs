//! The registry host as images name it (`HOST[:PORT]`), validated.
//!
//! The host becomes a directory name under certs.d, so anything that could
//! escape that directory or that containerd would never look up is refused.

use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::Result;

use crate::exit_codes::usage;

/// The longest file name Linux takes.
const NAME_MAX: usize = 255;

/// The name of containerd's fallback host directory.
pub const DEFAULT_DIR: &str = "_default";

/// A validated `HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryHost {
    raw: String,
}

impl RegistryHost {
    /// `label` names the setting in messages (`--host`).
    pub fn parse(raw: &str, label: &(impl std::fmt::Display + ?Sized)) -> Result<RegistryHost> {
        if raw.contains('@') {
            // `user:token@host`: never echo what stands before the `@`.
            return Err(usage(format!(
                "{label} {:?}: credentials do not belong in the host name (they would be written to disk in clear); give the registry as images name it, e.g. registry.example.com:5000",
                super::registry::redact(raw)
            )));
        }
        // containerd's fallback directory for every registry without one of its own.
        let why = (raw != DEFAULT_DIR).then(|| host_problem(raw)).flatten();
        match why {
            None => Ok(RegistryHost {
                raw: raw.to_string(),
            }),
            Some(why) => Err(usage(format!(
                "{label} {raw:?}: {why}; give the registry as images name it, e.g. registry.example.com:5000 or [fd00::1]:5000"
            ))),
        }
    }

    /// The name as given, which is also the certs.d directory name.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The name without port or IPv6 brackets: what a certificate must name.
    pub fn name(&self) -> &str {
        let raw = self.raw.as_str();
        if let Some(rest) = raw.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        raw.split(':').next().unwrap_or(raw)
    }

    /// `_default`: the directory containerd reads for any registry without its own.
    pub fn is_default_dir(&self) -> bool {
        self.raw == DEFAULT_DIR
    }

    /// The upstream containerd would use without a hosts.toml (none for
    /// `_default`: containerd then asks the image's own registry).
    pub fn default_server(&self) -> String {
        if self.is_default_dir() {
            String::new()
        } else if self.raw == "docker.io" {
            "https://registry-1.docker.io".to_string()
        } else {
            format!("https://{}", self.raw)
        }
    }
}

/// Why `raw` is no `HOST[:PORT]` certsd writes (also used for the host of
/// an endpoint URL); `None` when it is one.
pub(super) fn host_problem(raw: &str) -> Option<String> {
    if raw.is_empty() {
        return Some("the host name is empty".into());
    }
    if let Some(c) = raw.chars().find(|c| !c.is_ascii()) {
        return Some(format!(
            "{c:?} is not ASCII: write an international name in its xn-- (punycode) form"
        ));
    }
    // The host is also the certs.d/HOST directory name, and Linux holds
    // at most 255 bytes in one: refused here, before plan says anything.
    if raw.len() > NAME_MAX {
        return Some(format!(
            "{} bytes is too long: as the certs.d directory name it must fit in {NAME_MAX}",
            raw.len()
        ));
    }
    if raw.contains("://") {
        return Some("a host has no scheme (drop the http:// or https://)".into());
    }
    if let Some(c) = raw
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\'))
    {
        return Some(format!("{c:?} cannot appear in a host name"));
    }
    let (name, port) = match split_port(raw) {
        Ok(parts) => parts,
        Err(why) => return Some(why),
    };
    if let Some(port) = port
        && let Some(why) = port_reason(port)
    {
        return Some(why);
    }
    name_reason(name)
}

/// Splits `name[:port]`, keeping `[v6]` brackets on the name.
fn split_port(raw: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = raw.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err("an IPv6 address needs a closing `]`".into());
        };
        let after = &rest[end + 1..];
        let name = &raw[..end + 2];
        return match after {
            "" => Ok((name, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((name, Some(port))),
                None => Err(format!("unexpected {after:?} after the IPv6 address")),
            },
        };
    }
    match raw.matches(':').count() {
        0 => Ok((raw, None)),
        1 => {
            let (name, port) = raw.split_once(':').unwrap_or((raw, ""));
            Ok((name, Some(port)))
        }
        _ => Err("an IPv6 address must be in brackets, e.g. [fd00::1]:5000".into()),
    }
}

fn port_reason(port: &str) -> Option<String> {
    match port.parse::<u16>() {
        Ok(0) => Some("port 0 is not a port (1-65535)".into()),
        Ok(_) if port.chars().all(|c| c.is_ascii_digit()) => None,
        _ => Some(format!("{port:?} is not a port (1-65535)")),
    }
}

fn name_reason(name: &str) -> Option<String> {
    if let Some(inner) = name.strip_prefix('[') {
        let inner = inner.trim_end_matches(']');
        return match inner.parse::<Ipv6Addr>() {
            Ok(_) => None,
            Err(_) => Some(format!("{inner:?} is not an IPv6 address")),
        };
    }
    if name.is_empty() {
        return Some("the host name is empty".into());
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return None;
    }
    // A last label of digits reads as an IPv4 address to URL parsers (`0`
    // is 0.0.0.0 to some, a name to others): only a real dotted quad may be numeric.
    if name
        .rsplit('.')
        .next()
        .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(format!(
            "{name:?} is neither an IPv4 address nor a host name (its last label is a number)"
        ));
    }
    if name.len() > 253 {
        return Some("a host name is at most 253 characters".into());
    }
    name.split('.').find_map(label_reason)
}

fn label_reason(label: &str) -> Option<String> {
    if label.is_empty() {
        return Some(
            "a host name cannot have an empty label (`..`, or a leading or trailing dot)".into(),
        );
    }
    if label.len() > 63 {
        return Some(format!("label {label:?} is longer than 63 characters"));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Some(format!("{c:?} is not allowed in a host name"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Some(format!("label {label:?} cannot start or end with `-`"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_images_use() {
        for ok in [
            "docker.io",
            "registry.local:5000",
            "10.0.0.1:443",
            "[::1]:5000",
            "[fd00::1]",
            "my-registry",
        ] {
            assert!(RegistryHost::parse(ok, "--host").is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_could_escape_or_never_match() {
        for bad in [
            "",
            "a/b",
            "..",
            "a..b",
            "https://r.io",
            "r io",
            "r\u{7}io",
            "r:0",
            "r:70000",
            "r:+5",
            "r:",
            "::1",
            "[::1",
            "[zz]:5",
            "-r.io",
            "r_x.io",
            ".r.io",
            "r.io.",
            "r\\io",
            "user:pw@r.io",
            "b\u{fc}cher.example",
            "r%2eio",
            "0",
            "0a.0",
            "1.2.3",
            "256.1.1.1",
        ] {
            assert!(
                RegistryHost::parse(bad, "--host").is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn a_host_that_cannot_be_a_directory_name_is_refused() {
        let label = "a".repeat(63);
        let name = [label.as_str(); 4].join(".")[..249].to_string();
        assert!(RegistryHost::parse(&name, "--host").is_ok());
        assert!(RegistryHost::parse(&format!("{name}:5000"), "--host").is_ok());
        let long = format!("{name}x.b:5000");
        let err = RegistryHost::parse(&long, "--host").unwrap_err();
        assert!(err.to_string().contains("255"), "{err}");
    }

    #[test]
    fn credentials_in_a_host_are_never_echoed() {
        let err = RegistryHost::parse("u:s3cretpw@r.io", "--host").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn name_drops_port_and_brackets() {
        assert_eq!(
            RegistryHost::parse("r.io:5000", "--host").unwrap().name(),
            "r.io"
        );
        assert_eq!(
            RegistryHost::parse("[::1]:5000", "--host").unwrap().name(),
            "::1"
        );
        assert_eq!(
            RegistryHost::parse("10.0.0.1", "--host").unwrap().name(),
            "10.0.0.1"
        );
    }

    #[test]
    fn default_server_follows_docker_io_exception() {
        let h = RegistryHost::parse("docker.io", "--host").unwrap();
        assert_eq!(h.default_server(), "https://registry-1.docker.io");
        let h = RegistryHost::parse("r.local:5000", "--host").unwrap();
        assert_eq!(h.default_server(), "https://r.local:5000");
    }
}

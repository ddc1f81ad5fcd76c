//! Subject alternative names: the only names Go matches (it ignores the CN), so
//! they are checked here before anything is generated.
//!
//! DNS names follow RFC 1123 (letters, digits and inner hyphens; labels of
//! 1–63 bytes; 253 bytes in all), stored lower-case. A wildcard is allowed
//! only as the whole leftmost label of a name with at least two more labels
//! (`*.example.com`), which is all Go and webpki match. A name whose last label
//! is all digits is refused as a mistyped IP address.

use std::fmt;
use std::net::IpAddr;

use anyhow::{Result, bail};

/// One subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum San {
    /// A DNS name, lower-case, possibly `*.`-prefixed.
    Dns(String),
    /// An IP address (v4 or v6).
    Ip(IpAddr),
}

impl San {
    /// Parses an IP address if `s` is one, a DNS name otherwise.
    pub fn parse(s: &str) -> Result<San> {
        match parse_ip(s) {
            Some(ip) => Ok(San::Ip(ip)),
            None => San::dns(s),
        }
    }

    /// A DNS name (for `--dns`): refuses IP addresses with a hint to use `--ip`.
    pub fn dns(s: &str) -> Result<San> {
        if parse_ip(s).is_some() {
            bail!("{s:?} is an IP address, not a DNS name: use --ip");
        }
        check_dns_name(s)?;
        Ok(San::Dns(s.to_ascii_lowercase()))
    }

    /// An IP address (for `--ip`): v4, v6, or v6 in brackets.
    pub fn ip(s: &str) -> Result<San> {
        match parse_ip(s) {
            Some(ip) => Ok(San::Ip(ip)),
            None => bail!("{s:?} is not an IP address"),
        }
    }

    /// Whether this name, as a certificate SAN, matches the host `wanted`
    /// the way Go does (a wildcard covers exactly one leftmost label).
    pub fn matches(&self, wanted: &San) -> bool {
        match (self, wanted) {
            (San::Ip(a), San::Ip(b)) => a == b,
            (San::Dns(pattern), San::Dns(host)) => dns_matches(pattern, host),
            _ => false,
        }
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(name) => write!(f, "DNS:{name}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse().ok()
}

fn dns_matches(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && first != "*" && rest == suffix),
        None => pattern == host,
    }
}

/// Checks one DNS name (see the module doc for the rules).
fn check_dns_name(name: &str) -> Result<()> {
    if name.is_empty() {
        bail!("empty DNS name");
    }
    if !name.is_ascii() {
        bail!("{name:?} is not ASCII: give internationalised names in punycode (xn--...)");
    }
    if name.len() > 253 {
        bail!("{name:?} is longer than 253 characters");
    }
    if name.ends_with('.') {
        bail!("{name:?} ends with a dot: give the name without it");
    }
    let labels: Vec<&str> = name.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        if i == 0 && *label == "*" {
            if labels.len() < 3 {
                bail!("{name:?}: a wildcard needs at least two labels after it (*.example.com)");
            }
            continue;
        }
        check_label(name, label)?;
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        bail!("{name:?} is neither a valid IP address nor a DNS name (its last label is numeric)");
    }
    Ok(())
}

fn check_label(name: &str, label: &str) -> Result<()> {
    if label.is_empty() {
        bail!("{name:?} has an empty label");
    }
    if label.contains('*') {
        bail!("{name:?}: a wildcard is allowed only as the whole leftmost label (*.example.com)");
    }
    if label.len() > 63 {
        bail!("{name:?} has a label longer than 63 characters");
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
    {
        bail!("{name:?} is not a valid DNS name: {bad:?} is not allowed (letters, digits, '-')");
    }
    if label.starts_with('-') || label.ends_with('-') {
        bail!("{name:?} is not a valid DNS name: a label starts or ends with '-'");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn accepts_hosts_wildcards_and_ips() {
        assert_eq!(
            San::dns("Registry.Local").unwrap(),
            San::Dns("registry.local".into())
        );
        assert_eq!(
            San::dns("*.reg.example").unwrap(),
            San::Dns("*.reg.example".into())
        );
        assert_eq!(San::dns("localhost").unwrap(), San::Dns("localhost".into()));
        assert_eq!(San::dns("a-1.b2.c").unwrap(), San::Dns("a-1.b2.c".into()));
        assert_eq!(
            San::ip("10.0.0.1").unwrap(),
            San::Ip("10.0.0.1".parse().unwrap())
        );
        assert_eq!(San::ip("[::1]").unwrap(), San::Ip("::1".parse().unwrap()));
        assert_eq!(San::parse("::1").unwrap(), San::Ip("::1".parse().unwrap()));
        assert_eq!(
            San::parse("reg.local").unwrap(),
            San::Dns("reg.local".into())
        );
    }

    #[test]
    fn refuses_bad_names_naming_them() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}.com", ["abcdefghi"; 26].join("."));
        let bad = [
            ("", "empty"),
            ("reg..local", "empty label"),
            ("-reg.local", "starts or ends"),
            ("reg-.local", "starts or ends"),
            ("reg_1.local", "not allowed"),
            ("reg local", "not allowed"),
            ("reg.local.", "ends with a dot"),
            ("*.com", "two labels"),
            ("*", "two labels"),
            ("a.*.example.com", "leftmost"),
            ("*reg.example.com", "leftmost"),
            ("**.example.com", "leftmost"),
            ("256.1.1.1", "numeric"),
            ("régistry.local", "punycode"),
            (long_label.as_str(), "63"),
            (long_name.as_str(), "253"),
            ("10.0.0.1", "use --ip"),
        ];
        for (name, why) in bad {
            let err = San::dns(name).unwrap_err().to_string();
            assert!(err.contains(why), "{name:?}: {err}");
        }
        let err = San::ip("reg.local").unwrap_err().to_string();
        assert!(err.contains("not an IP address"), "{err}");
        assert!(San::ip("10.0.0.256").is_err());
    }

    #[test]
    fn matching_is_like_go() {
        let wild = San::dns("*.reg.example").unwrap();
        assert!(wild.matches(&San::dns("a.reg.example").unwrap()));
        assert!(!wild.matches(&San::dns("a.b.reg.example").unwrap()));
        assert!(!wild.matches(&San::dns("reg.example").unwrap()));
        let host = San::dns("reg.local").unwrap();
        assert!(host.matches(&San::Dns("REG.local".into())));
        assert!(!host.matches(&San::ip("127.0.0.1").unwrap()));
        assert!(
            San::ip("::1")
                .unwrap()
                .matches(&San::parse("[::1]").unwrap())
        );
    }
}

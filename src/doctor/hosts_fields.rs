//! One hosts.toml's fields as the target containerd parses them (research
//! notes §5): values of the wrong type, an unknown capability, `referrers`
//! before 2.2 and (before 1.7.32) a file without `[host]` tables each make
//! containerd drop the whole file; unknown keys and fields newer than the
//! containerd are ignored in silence.

use std::fmt::Write as _;

use crate::formats::hosts_toml::{FieldsRead, HostsRead, KNOWN_KEYS};
use crate::version::ContainerdVersion;

use super::connect::{Endpoint, Origin};
use super::hosts::{HostDir, fallback_note, parse_error};
use super::{Code, Finding, Severity};

/// Checks the fields; returns whether containerd uses the file at all.
pub fn check(d: &HostDir, read: &HostsRead, v: ContainerdVersion, out: &mut Vec<Finding>) -> bool {
    let mut used = true;
    let mut tables: Vec<(String, &FieldsRead)> = vec![("the top level".to_owned(), &read.top)];
    tables.extend(
        read.hosts
            .iter()
            .map(|h| (format!("[host.{:?}]", h.url), &h.fields)),
    );
    for (name, fields) in &tables {
        for e in &fields.type_errors {
            out.push(parse_error(d, e.line, &format!("{} in {name}", e.message)));
            used = false;
        }
        used &= capabilities(d, fields, v, out);
        unknown_keys(d, fields, out);
        unsupported(d, fields, v, out);
        // One note per file: certsd writes skip_verify for the server and its [host] alike.
        if fields.skip_verify == Some(true)
            && !out
                .iter()
                .any(|f| f.code == Code::SkipVerifySet && f.path == d.hosts_toml.as_str())
        {
            out.push(
                Finding::new(
                    Code::SkipVerifySet,
                    &d.hosts_toml,
                    fields.line("skip_verify"),
                    format!("skip_verify = true in {name}: containerd does not verify this endpoint's certificate"),
                )
                .fix(format!("certsd apply --host {} --ca CA.crt (trust the registry's CA instead)", d.host)),
            );
        }
    }
    used &= urls(d, read, out);
    if read.hosts.is_empty() && drops_hostless_files(v) {
        out.push(
            Finding::new(
                Code::HostsNoHostTable,
                &d.hosts_toml,
                0,
                format!(
                    "no [host.\"URL\"] table: containerd {v} refuses such a file (invalid `host` tree, \
                     fixed in 1.7.32 and 2.0); {}",
                    fallback_note(d)
                ),
            )
            .fix(format!("certsd apply --host {} ... (it always writes a [host] table for the server)", d.host)),
        );
        used = false;
    }
    used
}

/// containerd 1.6 (every release) and 1.7 before 1.7.32.
fn drops_hostless_files(v: ContainerdVersion) -> bool {
    v.major < 2 && (v.minor < 7 || v.patch < 32)
}

/// hosts-bad-capability (file dropped) and hosts-no-resolve; false if dropped.
fn capabilities(
    d: &HostDir,
    fields: &FieldsRead,
    v: ContainerdVersion,
    out: &mut Vec<Finding>,
) -> bool {
    let Some(caps) = &fields.capabilities else {
        return true;
    };
    let line = fields.line("capabilities");
    let lower: Vec<String> = caps.iter().map(|c| c.to_ascii_lowercase()).collect();
    let mut used = true;
    for cap in &lower {
        let why = match cap.as_str() {
            "pull" | "resolve" | "push" => continue,
            "referrers" if (v.major, v.minor) >= (2, 2) => continue,
            "referrers" => format!(
                "`referrers` is a capability only from containerd 2.2; containerd {v} calls it unknown"
            ),
            other => format!("{other:?} is not a capability (pull, resolve, push, referrers)"),
        };
        used = false;
        out.push(
            Finding::new(
                Code::HostsBadCapability,
                &d.hosts_toml,
                line,
                format!(
                    "{why}, and an unknown capability makes containerd drop the whole file; {}",
                    fallback_note(d)
                ),
            )
            .fix(format!(
                "certsd apply --host {} --capabilities pull,resolve",
                d.host
            )),
        );
    }
    if lower.iter().any(|c| c == "pull") && !lower.iter().any(|c| c == "resolve") {
        out.push(
            Finding::new(
                Code::HostsNoResolve,
                &d.hosts_toml,
                line,
                "capabilities has pull but not resolve: containerd skips this endpoint when it resolves a tag, so only pulls by digest use it",
            )
            .fix(format!("certsd apply --host {} --capabilities pull,resolve", d.host)),
        );
    }
    used
}

fn unknown_keys(d: &HostDir, fields: &FieldsRead, out: &mut Vec<Finding>) {
    for (key, line) in &fields.unknown {
        let nearest = crate::nearest::nearest(key, &KNOWN_KEYS);
        let mut message =
            format!("`{key}` is not a key containerd reads: it is ignored in silence");
        let mut fix = format!("remove `{key}`");
        if let Some(k) = nearest {
            let _ = write!(message, " (did you mean `{k}`?)");
            fix = format!("rename `{key}` to `{k}`");
        }
        out.push(Finding::new(Code::HostsUnknownKey, &d.hosts_toml, *line, message).fix(fix));
    }
}

/// hosts-field-unsupported: `dial_timeout` before 2.0.7/2.1, `override_path` before 1.6.
fn unsupported(d: &HostDir, fields: &FieldsRead, v: ContainerdVersion, out: &mut Vec<Finding>) {
    let old_dial = v.major < 2 || (v.major == 2 && v.minor == 0 && v.patch < 7);
    if fields.dial_timeout.is_some() && old_dial {
        out.push(
            Finding::new(
                Code::HostsFieldUnsupported,
                &d.hosts_toml,
                fields.line("dial_timeout"),
                format!(
                    "dial_timeout arrived in containerd 2.0.7 and 2.1: containerd {v} ignores it"
                ),
            )
            .fix("remove it, or upgrade containerd"),
        );
    }
    if fields.override_path == Some(true) && (v.major, v.minor) < (1, 6) {
        out.push(
            Finding::new(
                Code::HostsFieldUnsupported,
                &d.hosts_toml,
                fields.line("override_path"),
                format!("override_path arrived in containerd 1.6: containerd {v} appends /v2 to the URL anyway"),
            )
            .severity(Severity::Error)
            .fix("upgrade containerd to 1.6 or later"),
        );
    }
}

/// The `[host]` URLs and `server` as containerd parses them; false if one fails.
fn urls(d: &HostDir, read: &HostsRead, out: &mut Vec<Finding>) -> bool {
    let mut ok = true;
    let mut all: Vec<(&str, usize, Origin)> = read
        .hosts
        .iter()
        .map(|h| (h.url.as_str(), h.line, Origin::Host))
        .collect();
    if let Some(server) = &read.server {
        all.push((server, read.top.line("server"), Origin::Server));
    }
    for (url, line, origin) in all {
        let trap =
            url.starts_with("http") && !url.starts_with("http://") && !url.starts_with("https://");
        let why = if trap {
            Some(format!(
                "{url:?} starts with \"http\" but has no http:// or https://, so containerd takes it as the scheme"
            ))
        } else {
            Endpoint::parse(url, &d.host, origin).err()
        };
        if let Some(why) = why {
            ok = false;
            out.push(parse_error(d, line, &why));
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostless_files_dropped_before_1_7_32() {
        let v = |s: &str| s.parse().unwrap();
        assert!(drops_hostless_files(v("1.6.39")));
        assert!(drops_hostless_files(v("1.7.31")));
        assert!(!drops_hostless_files(v("1.7.32")));
        assert!(!drops_hostless_files(v("2.0.0")));
    }
}

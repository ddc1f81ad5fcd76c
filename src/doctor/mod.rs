//! `certsd doctor`: say why a node cannot pull, and how to fix it.
//!
//! Doctor reads the node the way the installed containerd would (config.toml
//! with its drop-ins, the hosts directories, every `ca` and `client` file,
//! certsd's own server certificates) and turns each problem into a
//! [`Finding`] with a stable code, the node path and line to look at, and the
//! command that fixes it. It never stops at the first problem and never
//! writes. One module per area: [`config`](self) (config.toml and imports),
//! hosts (the directories and hosts.toml), files (PEM files and
//! certificates), certs (the `--certs` table), probes (`--connect`, on top
//! of the [`connect`] library).

mod certs;
mod codes;
mod config;
pub mod connect;
mod files;
mod hosts;
mod hosts_fields;
mod imports;
mod probes;

use std::fmt::Write as _;

use crate::node::{Node, NodePath, Root};
use crate::settings::DoctorSettings;
use crate::version::{ContainerdVersion, Target};

pub use certs::CertRow;
pub use codes::{Code, Severity};

/// Every finding code, as scripts see it (README documents each).
pub fn all_codes() -> Vec<&'static str> {
    let mut all: Vec<&str> = Code::STATIC.iter().map(|c| c.as_str()).collect();
    all.extend(Code::CONNECT.iter().map(|c| c.as_str()));
    all
}

/// One problem (or fact) doctor reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub code: Code,
    /// A node path (never prefixed by `--root`).
    pub path: String,
    /// 1-based; 0 when the finding is about the file as a whole.
    pub line: usize,
    /// The registry host the finding is about; `None` for the config's.
    pub host: Option<String>,
    /// One line; never holds key material.
    pub message: String,
    /// What to do: a certsd command where one exists.
    pub fix: Option<String>,
}

impl Finding {
    /// A finding with the code's usual severity.
    pub fn new(
        code: Code,
        path: &impl ToString,
        line: usize,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            severity: code.severity(),
            code,
            path: path.to_string(),
            line,
            host: None,
            message: message.into(),
            fix: None,
        }
    }

    #[must_use]
    pub fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }

    #[must_use]
    pub fn host(mut self, host: &str) -> Finding {
        self.host = Some(host.to_owned());
        self
    }

    #[must_use]
    pub fn severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }

    /// `PATH:LINE` (or `PATH` when the line is unknown).
    pub fn place(&self) -> String {
        let mut place = self.path.clone();
        if self.line > 0 {
            let _ = write!(place, ":{}", self.line);
        }
        place
    }
}

/// A format module's message without the advice meant for `plan`/`apply`
/// (doctor gives its own fix) and without a leading `path: `.
fn bare(message: &str, path: &str) -> String {
    let mut m = message
        .strip_prefix(&format!("{path}: "))
        .unwrap_or(message);
    for tail in [
        " (nothing was written)",
        "; fix or remove it",
        "; fix the file",
    ] {
        m = m.strip_suffix(tail).unwrap_or(m);
    }
    m.to_owned()
}

/// What doctor looks at: the node as read (or why config.toml could not be)
/// and the containerd it is judged for.
pub struct Scene<'a> {
    pub root: &'a Root,
    pub config_path: &'a NodePath,
    /// `Err` when config.toml could not be read or parsed.
    pub node: Result<&'a Node, &'a anyhow::Error>,
    /// The containerd the node runs, when known.
    pub target: Option<&'a Target>,
    /// The hosts directory named on the command line, if any.
    pub certs_dir: Option<&'a NodePath>,
}

impl Scene<'_> {
    /// The version the rules are judged for: the one known, else the newest
    /// line that reads the file's `version` as written.
    fn version(&self) -> ContainerdVersion {
        if let Some(t) = self.target {
            return t.version;
        }
        let assumed = match self.node.ok().map(|n| n.config().version() as u8) {
            Some(3) => "2.1.0",
            Some(4) => "2.3.0",
            _ => "1.7.24",
        };
        assumed.parse().unwrap_or(ContainerdVersion {
            major: 1,
            minor: 7,
            patch: 24,
        })
    }
}

/// Everything one doctor run found.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// The `--certs` table (empty unless asked for).
    pub certs: Vec<CertRow>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
}

/// Examines the node. Reads only; a problem never stops the run.
pub fn run(scene: &Scene<'_>, settings: &DoctorSettings) -> Report {
    let version = scene.version();
    let mut findings = Vec::new();
    let facts = config::check(scene, version, &mut findings);
    let hosts = hosts::check(scene, &facts, settings, &mut findings);
    files::check(
        scene.root,
        &hosts,
        version,
        settings.warn_days,
        &mut findings,
    );
    if settings.connect {
        probes::check(scene.root, &hosts, version, settings.timeout, &mut findings);
    }
    let certs = if settings.certs {
        certs::table(scene.root, &hosts)
    } else {
        Vec::new()
    };
    let wanted = |host: Option<&String>| {
        settings.hosts.is_empty()
            || host.is_none_or(|h| hosts.iter().any(|d| d.wanted && d.host == *h))
    };
    findings.retain(|f| wanted(f.host.as_ref()));
    Report {
        findings: order(findings, &hosts),
        certs: certs
            .into_iter()
            .filter(|c| wanted(c.host.as_ref()))
            .collect(),
    }
}

/// The config's findings first, then each host's in directory order
/// (stable within each, so file order is kept).
fn order(mut findings: Vec<Finding>, hosts: &[hosts::HostDir]) -> Vec<Finding> {
    let rank = |f: &Finding| {
        if f.code == Code::CtrNeedsHostsDir {
            return usize::MAX;
        }
        f.host.as_ref().map_or(0, |h| {
            1 + hosts
                .iter()
                .position(|d| d.host == *h)
                .unwrap_or(hosts.len())
        })
    };
    findings.sort_by_key(rank);
    findings
}

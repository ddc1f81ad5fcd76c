//! Validated settings: what the command line means, checked once.
//!
//! `cli` holds what the user typed; this module turns it into values the
//! core can trust (paths, versions, the host request) or a usage error
//! (exit 64). The core never sees a clap type.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::cli::{GlobalArgs, OutputFormat, TrustArgs};
use crate::exit_codes::usage;
use crate::paths::{NodePath, Root};
use crate::request::HostRequest;
use crate::version::{self, Target};

/// Where containerd's files are and which containerd they are for.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: Root,
    /// containerd's config.toml (node path).
    pub config: NodePath,
    /// `--certs-dir`, when given.
    pub certs_dir: Option<NodePath>,
    /// The containerd to write for: `--containerd-version` or detected.
    pub containerd: Option<Target>,
    pub output: OutputFormat,
}

/// The default config path.
pub const DEFAULT_CONFIG: &str = "/etc/containerd/config.toml";
/// The default hosts directory.
pub const DEFAULT_CERTS_DIR: &str = "/etc/containerd/certs.d";

impl Settings {
    /// Validates the global flags; runs `containerd --version` when no version is given.
    pub fn from_cli(global: &GlobalArgs) -> Result<Settings> {
        let root = root_dir(global.root.as_ref())?;
        let config = match &global.config {
            Some(path) => NodePath::parse("--config", path)?,
            None => NodePath::fixed(DEFAULT_CONFIG),
        };
        let certs_dir = global
            .certs_dir
            .as_ref()
            .map(|p| NodePath::parse("--certs-dir", p))
            .transpose()?;
        if let Some(dir) = &certs_dir
            && (dir.as_str().contains(':') || dir.as_str() == "/")
        {
            bail!(usage(format!(
                "--certs-dir {dir}: give one directory of its own (not /, no `:` lists)"
            )));
        }
        let containerd = match &global.containerd_version {
            Some(raw) => Some(Target {
                version: raw
                    .parse()
                    .map_err(|e| usage(format!("--containerd-version: {e}")))?,
                source: "from --containerd-version".into(),
            }),
            None => version::detect(&root),
        };
        Ok(Settings {
            root,
            config,
            certs_dir,
            containerd,
            output: global.output,
        })
    }

    /// Validates the trust flags of `plan`/`apply` (reads and checks the PEM files).
    pub fn host_request(&self, trust: &TrustArgs) -> Result<Option<HostRequest>> {
        HostRequest::from_cli(trust, self.containerd.as_ref())
    }
}

fn root_dir(root: Option<&PathBuf>) -> Result<Root> {
    let Some(root) = root else {
        return Ok(Root::new(PathBuf::from("/")));
    };
    let absolute = std::path::absolute(root)
        .with_context(|| format!("--root {}: cannot resolve this path", root.display()))?;
    if !absolute.is_dir() {
        bail!(
            "--root {}: not a directory; create it first (certsd treats it as /)",
            root.display()
        );
    }
    Ok(Root::new(absolute))
}

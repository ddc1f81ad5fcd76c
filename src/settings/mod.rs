//! Validated settings: what the user asked for, checked once.
//!
//! Input arrives as plain data ([`GlobalInput`], [`RegistryInput`]) from the
//! command line today and from a spec file later; this module turns it into
//! values the core can trust, or a usage error (exit 64) that names the
//! setting the way its [`Origin`] spells it. Nothing here knows clap.

mod cert;
mod host;
mod origin;
mod registry;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::exit_codes::usage;
use crate::node::{NodePath, Root};
use crate::version::Target;

pub use cert::{
    CaSource, CertJob, CertRequest, CsrJob, IssueInput, IssueSettings, IssueSettingsInput, SignJob,
};
pub use origin::{Field, Origin};
pub use registry::{ISSUED_CA_NAME, InputFile, RegistryInput, RegistryRequest};

/// The default config path.
pub const DEFAULT_CONFIG: &str = "/etc/containerd/config.toml";
/// The default hosts directory.
pub const DEFAULT_CERTS_DIR: &str = "/etc/containerd/certs.d";

/// What `--migrate` was asked to do with the legacy registry tables.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Turn `configs."HOST".auth` and `auths` into an `Authorization`
    /// header in hosts.toml instead of leaving them in config.toml.
    pub auth_to_header: bool,
    /// How messages name these settings.
    pub origin: Origin,
}

/// How to print results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// A unified diff on stdout, status lines on stderr.
    #[default]
    Text,
    /// One JSON object on stdout.
    Json,
}

/// The options every command takes, as given.
#[derive(Debug, Clone, Default)]
pub struct GlobalInput {
    pub root: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub certs_dir: Option<PathBuf>,
    pub containerd_version: Option<String>,
    pub output: Output,
}

/// Where containerd's files are and which containerd they are for.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: Root,
    /// containerd's config.toml (node path).
    pub config: NodePath,
    /// The hosts directory, when the user named one.
    pub certs_dir: Option<NodePath>,
    /// The containerd to write for, when the user named it.
    pub containerd: Option<Target>,
    pub output: Output,
}

impl Settings {
    /// Validates the global options.
    pub fn new(input: &GlobalInput, origin: &Origin) -> Result<Settings> {
        let root = root_dir(input.root.as_ref(), origin)?;
        let config = match &input.config {
            Some(path) => NodePath::parse(
                &origin.name(Field::Config),
                path,
                "/etc/containerd/config.toml",
            )?,
            None => NodePath::fixed(DEFAULT_CONFIG),
        };
        let certs_dir = input
            .certs_dir
            .as_ref()
            .map(|p| NodePath::parse(&origin.name(Field::CertsDir), p, "/etc/containerd/certs.d"))
            .transpose()?;
        if let Some(dir) = &certs_dir
            && (dir.as_str().contains(':') || dir.as_str() == "/")
        {
            bail!(usage(format!(
                "{} {dir}: give one directory of its own (not /, no `:` lists)",
                origin.name(Field::CertsDir)
            )));
        }
        let containerd = match &input.containerd_version {
            Some(raw) => Some(Target {
                version: raw.parse().map_err(|e| {
                    usage(format!("{}: {e}", origin.name(Field::ContainerdVersion)))
                })?,
                source: format!("from {}", origin.name(Field::ContainerdVersion)),
            }),
            None => None,
        };
        Ok(Settings {
            root,
            config,
            certs_dir,
            containerd,
            output: input.output,
        })
    }

    /// The containerd to write for: as given, else what the node's binary says.
    pub fn target(&self) -> Option<Target> {
        self.containerd
            .clone()
            .or_else(|| crate::node::containerd::detect(&self.root))
    }
}

fn root_dir(root: Option<&PathBuf>, origin: &Origin) -> Result<Root> {
    let Some(root) = root else {
        return Ok(Root::new(PathBuf::from("/")));
    };
    let label = origin.name(Field::Root);
    let absolute = std::path::absolute(root)
        .with_context(|| format!("{label} {}: cannot resolve this path", root.display()))?;
    if !absolute.is_dir() {
        bail!(
            "{label} {}: not a directory; create it first (certsd treats it as /)",
            root.display()
        );
    }
    Ok(Root::new(absolute))
}

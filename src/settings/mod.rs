//! Validated settings: what the user asked for, checked once.
//!
//! Input arrives as plain data ([`GlobalInput`], [`RegistryInput`]) from the
//! command line today and from a spec file later; this module turns it into
//! values the core can trust, or a usage error (exit 64) that names the
//! setting the way its [`Origin`] spells it. Nothing here knows clap.

pub mod ansible;
mod cert;
mod doctor;
mod endpoint;
mod host;
pub mod k3s;
mod origin;
mod registry;
mod spec;
mod spec_table;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::exit_codes::usage;
use crate::node::{NodePath, Root};
use crate::version::Target;

pub use cert::{
    CaSource, CertJob, CertRequest, CsrJob, IssueInput, IssueSettings, IssueSettingsInput, SignJob,
};
pub use doctor::{DoctorInput, DoctorSettings};
pub use endpoint::AUTHORIZATION;
pub use host::RegistryHost;
pub use origin::{Field, Origin};
pub use registry::{ISSUED_CA_NAME, InputFile, RegistryInput, RegistryRequest};
pub use spec::{RegistryEntry, Spec, SpecSource};

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
    /// A containerd binary on this machine (relative to the working directory).
    pub containerd_bin: Option<PathBuf>,
    /// `apply` only: skip the `config dump` check.
    pub no_validate: bool,
    pub output: Output,
    pub write: WriteSettings,
}

/// How runs that write behave (`--keep-backups`, `--lock-timeout`).
#[derive(Debug, Clone, Copy)]
pub struct WriteSettings {
    /// Backups of a replaced file to keep; 0 makes none.
    pub keep_backups: usize,
    /// How long to wait for another run's lock.
    pub lock_timeout: std::time::Duration,
}

impl Default for WriteSettings {
    fn default() -> Self {
        WriteSettings {
            keep_backups: 5,
            lock_timeout: std::time::Duration::from_secs(120),
        }
    }
}

/// Where `plan`/`apply` take their registries from (a spec, a k3s
/// registries.yaml, or the `--host` flags) and what apply does around writing.
#[derive(Debug, Clone, Default)]
pub struct SourceInput {
    pub spec: Option<PathBuf>,
    pub format: Option<crate::formats::spec::Format>,
    pub from_k3s: Option<PathBuf>,
    pub prune: bool,
    pub restart: bool,
    pub restart_command: Option<String>,
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
    /// The containerd binary the user named (absolute).
    pub containerd_bin: Option<PathBuf>,
    /// Check a new config.toml with containerd's `config dump` before installing it.
    pub validate: bool,
    pub output: Output,
    pub write: WriteSettings,
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
            containerd_bin: containerd_bin(input.containerd_bin.as_ref(), origin)?,
            validate: !input.no_validate,
            output: input.output,
            write: input.write,
        })
    }

    /// The containerd to write for: as given, else what the named binary
    /// (else the node's) says. A named binary that reports no version is
    /// an error when the files are checked; here it just gives no target.
    pub fn target(&self) -> Option<Target> {
        self.containerd
            .clone()
            .or_else(|| match &self.containerd_bin {
                Some(bin) => crate::node::containerd::ask(bin).ok().map(|b| b.target()),
                None => crate::node::containerd::detect(&self.root),
            })
    }
}

/// `--containerd-bin`: a file on this machine, made absolute (containerd
/// runs in the node's `/`, not in our working directory).
fn containerd_bin(bin: Option<&PathBuf>, origin: &Origin) -> Result<Option<PathBuf>> {
    let Some(bin) = bin else {
        return Ok(None);
    };
    let label = origin.name(Field::ContainerdBin);
    let absolute =
        std::path::absolute(bin).map_err(|e| usage(format!("{label} {}: {e}", bin.display())))?;
    if !absolute.is_file() {
        bail!(usage(format!(
            "{label} {}: no such file; name the containerd binary (e.g. /usr/bin/containerd)",
            bin.display()
        )));
    }
    Ok(Some(absolute))
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

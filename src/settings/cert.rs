//! Certificate settings, validated: what `plan`/`apply` issue for a registry
//! (`self_signed`, `ca_dir`), and the options of the `cert` commands.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::host::RegistryHost;
use super::origin::{Field, Origin};
use crate::cert::{self, KeyType, San};
use crate::exit_codes::usage;
use crate::node::{NodePath, read_required};

/// Where issued certificates go by default (`/etc/certsd/HOST`).
pub const DEFAULT_CERT_DIR: &str = "/etc/certsd";

/// Certificates to make for a registry, as given.
#[derive(Debug, Clone, Default)]
pub struct IssueInput {
    /// Sign with the CA in this directory; `None`: certsd's own CA (self-signed).
    pub ca_dir: Option<PathBuf>,
    pub cert_dir: Option<PathBuf>,
    pub sans: Vec<String>,
    pub renew_before: u32,
    pub renew: bool,
}

/// Where the CA comes from.
#[derive(Clone)]
pub enum CaSource {
    /// certsd keeps its own CA in the cert dir.
    Managed,
    /// An existing CA, read from the real filesystem.
    Given {
        dir: PathBuf,
        cert_pem: String,
        key_pem: String,
    },
}

/// The certificate part of a registry request, validated.
#[derive(Clone)]
pub struct CertRequest {
    pub sans: Vec<San>,
    pub cert_dir: NodePath,
    pub ca: CaSource,
    pub renew_before: u32,
    pub renew: bool,
    pub key_type: KeyType,
    /// The CA's common name when one is made.
    pub ca_name: String,
}

impl std::fmt::Debug for CertRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertRequest")
            .field("sans", &self.sans)
            .field("cert_dir", &self.cert_dir)
            .finish_non_exhaustive()
    }
}

/// Validates the certificate settings of one registry.
pub fn cert_request(
    input: &IssueInput,
    host: &RegistryHost,
    origin: &Origin,
) -> Result<CertRequest> {
    let name = |f: Field| origin.name(f);
    if input.renew_before >= cert::LEAF_DAYS {
        bail!(usage(format!(
            "{} {}: must be less than a server certificate's life ({} days), or every run would make a new one",
            name(Field::RenewBefore),
            input.renew_before,
            cert::LEAF_DAYS
        )));
    }
    let sans = sans(host, &input.sans, origin)?;
    let cert_dir = match &input.cert_dir {
        Some(dir) => NodePath::parse(&name(Field::CertDir), dir, "/etc/containerd/certs.d")?,
        None => NodePath::fixed(DEFAULT_CERT_DIR).join(host.as_str()),
    };
    let ca = match &input.ca_dir {
        None => CaSource::Managed,
        Some(dir) => given_ca(dir, origin)?,
    };
    Ok(CertRequest {
        sans,
        cert_dir,
        ca,
        renew_before: input.renew_before,
        renew: input.renew,
        key_type: KeyType::default(),
        ca_name: format!("certsd CA for {}", host.as_str()),
    })
}

/// The host's own name first, then each extra name once.
fn sans(host: &RegistryHost, extra: &[String], origin: &Origin) -> Result<Vec<San>> {
    let first = San::parse(host.name()).map_err(|e| {
        usage(format!(
            "{} {}: {e}",
            origin.name(Field::Host),
            host.as_str()
        ))
    })?;
    let mut sans = vec![first];
    for raw in extra {
        let san = San::parse(raw)
            .map_err(|e| usage(format!("{} {raw:?}: {e}", origin.name(Field::San))))?;
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    Ok(sans)
}

/// DIR/ca.crt and DIR/ca.key of a CA directory (read from the real filesystem).
fn given_ca(dir: &std::path::Path, origin: &Origin) -> Result<CaSource> {
    let read = |file: &str| -> Result<String> {
        let path = dir.join(file);
        let shown = format!("{} {}", origin.name(Field::CaDir), path.display());
        String::from_utf8(read_required(&path, &shown)?)
            .with_context(|| format!("{shown}: not a PEM text file"))
    };
    Ok(CaSource::Given {
        dir: dir.to_path_buf(),
        cert_pem: read("ca.crt")?,
        key_pem: read("ca.key")?,
    })
}

/// `--out`, `--days`, `--key-type`, `--force` of a `cert` command, as given.
#[derive(Debug, Clone)]
pub struct IssueSettingsInput {
    pub out: PathBuf,
    pub days: Option<i64>,
    pub key_type: String,
    pub force: bool,
}

/// The same, validated.
#[derive(Debug, Clone)]
pub struct IssueSettings {
    /// The directory to write into, as given (for messages).
    pub out: PathBuf,
    /// The same directory as the writer takes it: on the machine certsd runs on.
    pub out_path: NodePath,
    pub days: u32,
    pub key: KeyType,
    pub force: bool,
}

impl IssueSettings {
    pub fn new(input: &IssueSettingsInput, default_days: u32, origin: &Origin) -> Result<Self> {
        let days = match input.days {
            None => default_days,
            Some(d) => u32::try_from(d).map_err(|_| {
                usage(format!(
                    "{} must be between 1 and {}, not {d}",
                    origin.name(Field::Days),
                    cert::MAX_DAYS
                ))
            })?,
        };
        if days == 0 || days > cert::MAX_DAYS {
            bail!(usage(format!(
                "{} must be between 1 and {}, not {days}",
                origin.name(Field::Days),
                cert::MAX_DAYS
            )));
        }
        let key = input.key_type.parse().map_err(|err: anyhow::Error| {
            usage(format!("{}: {err}", origin.name(Field::KeyType)))
        })?;
        let absolute = std::path::absolute(&input.out)
            .with_context(|| format!("{}: cannot resolve", input.out.display()))?;
        Ok(IssueSettings {
            out: input.out.clone(),
            out_path: NodePath::on_this_machine(absolute),
            days,
            key,
            force: input.force,
        })
    }
}

/// A `cert` command as given (the command line's shape, without clap).
#[derive(Debug, Clone)]
pub enum CertJob {
    Ca {
        issue: IssueSettingsInput,
        name: String,
    },
    Server {
        issue: IssueSettingsInput,
        /// `None`: self-signed.
        ca_dir: Option<PathBuf>,
        dns: Vec<String>,
        ip: Vec<String>,
    },
    Client {
        issue: IssueSettingsInput,
        ca_dir: PathBuf,
        name: String,
    },
    Csr(CsrJob),
    Sign(SignJob),
    Inspect {
        files: Vec<PathBuf>,
    },
}

/// `cert csr`, as given.
#[derive(Debug, Clone)]
pub struct CsrJob {
    pub out: PathBuf,
    pub dns: Vec<String>,
    pub ip: Vec<String>,
    pub name: Option<String>,
    pub key_type: String,
    pub client: bool,
    /// `--kubernetes NAME --signer SIGNER`.
    pub kubernetes: Option<(String, String)>,
    pub force: bool,
}

/// `cert sign`, as given.
#[derive(Debug, Clone)]
pub struct SignJob {
    pub csr: PathBuf,
    pub ca_dir: PathBuf,
    pub out: PathBuf,
    pub days: Option<i64>,
    pub client: bool,
    pub force: bool,
}

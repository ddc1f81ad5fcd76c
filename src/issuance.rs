//! Certificates `plan`/`apply` make for a registry (`--self-signed`, `--ca-dir`).
//!
//! Planning decides, without generating a key, what must be made: a CA (only
//! with `--self-signed`, when the cert dir has none or it is about to expire)
//! and a server certificate (when there is none, or it no longer covers the
//! names, expires within `--renew-before`, was signed by another CA, or
//! `--renew` is given). So a provisioning hook that runs every boot never
//! rotates certificates by surprise. `apply` then calls [`Issuance::issue`],
//! which generates and returns ordinary file changes for the writer.

use std::fs;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::cert::{self, CaSigner, KeyType, San};
use crate::current::file_change;
use crate::paths::{NodePath, Root};
use crate::plan::FileChange;
use crate::trust_files;

/// Where the CA comes from.
#[derive(Clone)]
pub enum CaSource {
    /// `--self-signed`: certsd keeps its own CA in the cert dir.
    Managed,
    /// `--ca-dir DIR`: an existing CA, read from the real filesystem.
    Given {
        dir: std::path::PathBuf,
        cert_pem: String,
        key_pem: String,
    },
}

/// The certificate part of a request, validated.
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

/// One certificate the run will create, for `plan` to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub path: String,
    pub key_path: String,
    /// `ca` or `server`.
    pub kind: &'static str,
    pub subject: String,
    pub sans: Vec<String>,
    pub key_type: String,
    pub days: u32,
    /// Why it is made: `new`, `expires in 12 days`, `--renew`, ...
    pub reason: String,
}

/// What the run will do with certificates, decided at plan time.
pub struct Issuance {
    request: CertRequest,
    /// `Some(reason)` when a new CA must be made.
    new_ca: Option<String>,
    /// The CA certificate PEM when it exists already.
    ca_cert_pem: Option<String>,
    ca_key_pem: Option<String>,
    /// `Some(reason)` when a new server certificate must be made.
    new_server: Option<String>,
    /// Where the CA certificate must be copied for containerd to trust it.
    trust_copy: NodePath,
}

impl std::fmt::Debug for Issuance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuance")
            .field("new_ca", &self.new_ca)
            .field("new_server", &self.new_server)
            .finish_non_exhaustive()
    }
}

fn read_text(root: &Root, path: &NodePath) -> Result<Option<String>> {
    match fs::read(root.resolve(path)?) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .with_context(|| format!("{path}: not a PEM text file")),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("{path}: cannot read")),
    }
}

impl Issuance {
    /// Decides what to make. `trust_copy` is the certs.d path of the CA copy.
    pub fn plan(root: &Root, request: &CertRequest, trust_copy: NodePath) -> Result<Issuance> {
        let (ca_cert_pem, ca_key_pem, new_ca) = match &request.ca {
            CaSource::Given {
                dir,
                cert_pem,
                key_pem,
            } => {
                // ca.crt is copied to every node: refuse one that carries a key.
                trust_files::check_ca(&dir.join("ca.crt"), cert_pem.as_bytes())?;
                CaSigner::from_pem(cert_pem, key_pem, dir)?;
                (Some(cert_pem.clone()), Some(key_pem.clone()), None)
            }
            CaSource::Managed => managed_ca(root, request)?,
        };
        let new_server = match (&new_ca, &ca_cert_pem) {
            (Some(_), _) | (_, None) => Some("new (the CA is new)".to_string()),
            (None, Some(ca_pem)) => server_reason(root, request, ca_pem)?,
        };
        Ok(Issuance {
            request: request.clone(),
            new_ca,
            ca_cert_pem,
            ca_key_pem,
            new_server,
            trust_copy,
        })
    }

    fn path(&self, name: &str) -> NodePath {
        self.request.cert_dir.join(name)
    }

    /// The CA certificate as it is now, when it is not about to be made.
    pub fn existing_ca_pem(&self) -> Option<&str> {
        self.new_ca
            .is_none()
            .then_some(self.ca_cert_pem.as_deref())
            .flatten()
    }

    /// Whether `apply` will generate anything.
    pub fn generates(&self) -> bool {
        self.new_ca.is_some() || self.new_server.is_some()
    }

    /// Keys that stay: re-asserted at mode 0600 in case something loosened them.
    pub fn kept_keys(&self, root: &Root) -> Result<Vec<FileChange>> {
        let mut keep = Vec::new();
        if self.new_server.is_none() {
            keep.push(self.path("server.key"));
        }
        if self.new_ca.is_none() && matches!(self.request.ca, CaSource::Managed) {
            keep.push(self.path("ca.key"));
        }
        let mut changes = Vec::new();
        for path in keep {
            if let Some(existing) = crate::current::read_existing(root, &path)? {
                changes.push(file_change(root, &path, existing.bytes, 0o600, true)?);
            }
        }
        Ok(changes)
    }

    /// The certificates to create, for display.
    pub fn pending(&self) -> Vec<Pending> {
        let mut out = Vec::new();
        let key_type = self.request.key_type.to_string();
        if let Some(reason) = &self.new_ca {
            out.push(Pending {
                path: self.path("ca.crt").to_string(),
                key_path: self.path("ca.key").to_string(),
                kind: "ca",
                subject: format!("CN={}", self.request.ca_name),
                sans: Vec::new(),
                key_type: key_type.clone(),
                days: cert::CA_DAYS,
                reason: reason.clone(),
            });
        }
        if let Some(reason) = &self.new_server {
            out.push(Pending {
                path: self.path("server.crt").to_string(),
                key_path: self.path("server.key").to_string(),
                kind: "server",
                subject: format!(
                    "CN={}",
                    self.request.sans.first().map(san_text).unwrap_or_default()
                ),
                sans: self.request.sans.iter().map(San::to_string).collect(),
                key_type,
                days: cert::LEAF_DAYS,
                reason: reason.clone(),
            });
        }
        out
    }

    /// Node paths `apply` will write when it generates, with their modes.
    pub fn pending_paths(&self) -> Vec<(NodePath, u32)> {
        let mut out = Vec::new();
        if self.new_ca.is_some() {
            out.extend([
                (self.path("ca.crt"), 0o644),
                (self.path("ca.key"), 0o600),
                (self.trust_copy.clone(), 0o644),
            ]);
        }
        if self.new_server.is_some() {
            out.extend([
                (self.path("server.crt"), 0o644),
                (self.path("server.key"), 0o600),
            ]);
        }
        out
    }

    /// Generates what the plan said, as file changes (read against `root`).
    pub fn issue(&self, root: &Root) -> Result<Vec<FileChange>> {
        let mut files = Vec::new();
        let (ca_cert, ca_key) = if let (None, Some(cert), Some(key)) =
            (&self.new_ca, &self.ca_cert_pem, &self.ca_key_pem)
        {
            (cert.clone(), key.clone())
        } else {
            let ca = cert::new_ca(&self.request.ca_name, cert::CA_DAYS, self.request.key_type)?;
            files.push(change(
                root,
                &self.path("ca.crt"),
                ca.cert_pem.clone(),
                0o644,
                false,
            )?);
            files.push(change(
                root,
                &self.path("ca.key"),
                ca.key_pem.clone(),
                0o600,
                true,
            )?);
            let copy = ca.cert_pem.clone();
            files.push(change(root, &self.trust_copy, copy, 0o644, false)?);
            (ca.cert_pem, ca.key_pem)
        };
        if self.new_server.is_some() {
            let signer = CaSigner::from_pem(&ca_cert, &ca_key, self.request.cert_dir.as_path())?;
            let server = cert::server_cert(
                Some(&signer),
                &self.request.sans,
                cert::LEAF_DAYS,
                self.request.key_type,
            )?;
            files.push(change(
                root,
                &self.path("server.crt"),
                server.cert_pem,
                0o644,
                false,
            )?);
            files.push(change(
                root,
                &self.path("server.key"),
                server.key_pem,
                0o600,
                true,
            )?);
        }
        Ok(files)
    }
}

/// A SAN as a bare name or address (Display prefixes `DNS:`/`IP:`).
fn san_text(san: &San) -> String {
    match san {
        San::Dns(name) => name.clone(),
        San::Ip(ip) => ip.to_string(),
    }
}

fn change(
    root: &Root,
    path: &NodePath,
    text: String,
    mode: u32,
    secret: bool,
) -> Result<FileChange> {
    file_change(root, path, text.into_bytes(), mode, secret)
}

/// certsd's own CA in the cert dir: reuse it while it is good.
type CaState = (Option<String>, Option<String>, Option<String>);

fn managed_ca(root: &Root, request: &CertRequest) -> Result<CaState> {
    let cert_path = request.cert_dir.join("ca.crt");
    let key_path = request.cert_dir.join("ca.key");
    match (read_text(root, &cert_path)?, read_text(root, &key_path)?) {
        (None, None) => Ok((None, None, Some("new".into()))),
        (Some(cert_pem), Some(key_pem)) => {
            trust_files::check_ca(cert_path.as_path(), cert_pem.as_bytes())?;
            let info = cert::inspect_pem(&cert_pem).with_context(|| cert_path.to_string())?;
            let days_left = info.first().map_or(0, cert::CertInfo::days_left);
            if days_left <= i64::from(request.renew_before) {
                return Ok((
                    None,
                    None,
                    Some(format!("the CA expires in {days_left} days")),
                ));
            }
            CaSigner::from_pem(&cert_pem, &key_pem, request.cert_dir.as_path())?;
            Ok((Some(cert_pem), Some(key_pem), None))
        }
        (Some(_), None) => bail!(
            "{cert_path} exists but {key_path} does not; restore the key or remove both to make a new CA"
        ),
        (None, Some(_)) => bail!(
            "{key_path} exists but {cert_path} does not; restore the certificate or remove both to make a new CA"
        ),
    }
}

/// `None` when the server certificate on disk is still right.
fn server_reason(root: &Root, request: &CertRequest, ca_pem: &str) -> Result<Option<String>> {
    let cert_path = request.cert_dir.join("server.crt");
    let (Some(cert_pem), Some(key_pem)) = (
        read_text(root, &cert_path)?,
        read_text(root, &request.cert_dir.join("server.key"))?,
    ) else {
        return Ok(Some("new".into()));
    };
    if request.renew {
        return Ok(Some("--renew".into()));
    }
    let Some(info) = cert::inspect_pem(&cert_pem)
        .ok()
        .and_then(|v| v.into_iter().next())
    else {
        return Ok(Some(format!("{cert_path} does not parse")));
    };
    let ca_subject = cert::inspect_pem(ca_pem)?
        .first()
        .map(|c| c.subject.clone())
        .unwrap_or_default();
    let reason = if !info.covers(&request.sans) {
        Some("the names changed".to_string())
    } else if info.days_left() <= i64::from(request.renew_before) {
        Some(format!("expires in {} days", info.days_left()))
    } else if info.issuer != ca_subject {
        Some("signed by another CA".to_string())
    } else if cert::check_pair(&cert_pem, &key_pem).is_err() {
        Some("server.key does not match server.crt".to_string())
    } else {
        None
    };
    Ok(reason)
}

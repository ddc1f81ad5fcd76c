//! Certificates `plan`/`apply` make for a registry (self-signed, or from a CA dir).
//!
//! [`decide`] works out, without generating a key, what must be made: a CA
//! (only certsd's own, when the cert dir has none or it is about to expire)
//! and a server certificate (when there is none, or it no longer covers the
//! names, expires within renew-before, was signed by another CA, or a renewal
//! is asked for). So a provisioning hook that runs every boot never rotates
//! certificates by surprise. The decision is an [`IssueOrder`] in the plan;
//! `apply` calls [`realize`], which generates and returns ordinary file changes.

use anyhow::{Context, Result, bail};

use super::plan::{CertKind, FileChange, IssueOrder, PendingCert, SecretPem, ServerOrder, Signer};
use crate::cert::{self, CaSigner, San};
use crate::formats::pem;
use crate::node::{Node, NodePath};
use crate::settings::{CaSource, CertRequest};

/// What one registry's certificates need, decided at plan time.
pub struct Decision {
    pub order: IssueOrder,
    /// The CA certificate as it is now, when it stays (it is copied for containerd).
    pub kept_ca_pem: Option<String>,
    /// Keys that stay: re-asserted at 0600 in case something loosened them.
    pub kept_keys: Vec<NodePath>,
    pub pending: Vec<PendingCert>,
}

/// The CA as it stands.
struct ManagedCa {
    /// Certificate and key, when they exist and stay.
    kept: Option<(String, String)>,
    /// Why a new one is made.
    new: Option<String>,
}

/// Decides what to make. `trust_copy` is the certs.d path of the CA copy.
pub fn decide(node: &Node, request: &CertRequest, trust_copy: NodePath) -> Result<Decision> {
    let path = |name: &str| request.cert_dir.join(name);
    let ca = current_ca(node, request)?;
    let new_server = match &ca.kept {
        None => Some("new (the CA is new)".to_string()),
        Some((ca_pem, _)) => server_reason(node, request, ca_pem)?,
    };
    let mut kept_keys = Vec::new();
    if new_server.is_none() {
        kept_keys.push(path("server.key"));
    }
    if ca.new.is_none() && matches!(request.ca, CaSource::Managed) {
        kept_keys.push(path("ca.key"));
    }
    let server = new_server.as_ref().map(|_| ServerOrder {
        sans: request.sans.clone(),
        cert: path("server.crt"),
        key: path("server.key"),
    });
    let pending = pending(request, ca.new.as_deref(), new_server.as_deref());
    let kept_ca_pem = ca
        .new
        .is_none()
        .then(|| ca.kept.clone().map(|(c, _)| c))
        .flatten();
    Ok(Decision {
        kept_ca_pem,
        order: IssueOrder {
            signer: signer(request, ca, trust_copy),
            server,
            key_type: request.key_type,
            cert_dir: request.cert_dir.clone(),
        },
        kept_keys,
        pending,
    })
}

/// The CA as it is: given with a CA directory (checked), or certsd's own.
fn current_ca(node: &Node, request: &CertRequest) -> Result<ManagedCa> {
    match &request.ca {
        CaSource::Given {
            dir,
            cert_pem,
            key_pem,
        } => {
            // ca.crt is copied to every node: refuse one that carries a key.
            pem::check_ca(&dir.join("ca.crt"), cert_pem.as_bytes())?;
            CaSigner::from_pem(cert_pem, key_pem, dir)?;
            Ok(ManagedCa {
                kept: Some((cert_pem.clone(), key_pem.clone())),
                new: None,
            })
        }
        CaSource::Managed => managed_ca(node, request),
    }
}

/// Who signs: the CA that stays, or a new one written beside the server cert.
fn signer(request: &CertRequest, ca: ManagedCa, trust_copy: NodePath) -> Signer {
    match (ca.kept, ca.new) {
        (Some((cert_pem, key_pem)), None) => Signer::Existing {
            cert_pem,
            key_pem: SecretPem(key_pem),
        },
        _ => Signer::New {
            name: request.ca_name.clone(),
            cert: request.cert_dir.join("ca.crt"),
            key: request.cert_dir.join("ca.key"),
            trust_copy,
        },
    }
}

/// The certificates to create, for display.
fn pending(
    request: &CertRequest,
    new_ca: Option<&str>,
    new_server: Option<&str>,
) -> Vec<PendingCert> {
    let path = |name: &str| request.cert_dir.join(name).to_string();
    let key_type = request.key_type.to_string();
    let mut out = Vec::new();
    if let Some(reason) = new_ca {
        out.push(PendingCert {
            path: path("ca.crt"),
            key_path: path("ca.key"),
            kind: CertKind::Ca,
            subject: format!("CN={}", request.ca_name),
            sans: Vec::new(),
            key_type: key_type.clone(),
            days: cert::CA_DAYS,
            reason: reason.to_string(),
        });
    }
    if let Some(reason) = new_server {
        out.push(PendingCert {
            path: path("server.crt"),
            key_path: path("server.key"),
            kind: CertKind::Server,
            subject: format!(
                "CN={}",
                request.sans.first().map(san_text).unwrap_or_default()
            ),
            sans: request.sans.iter().map(San::to_string).collect(),
            key_type,
            days: cert::LEAF_DAYS,
            reason: reason.to_string(),
        });
    }
    out
}

/// Generates what an order says, as file changes (read against the node).
pub fn realize(node: &Node, order: &IssueOrder) -> Result<Vec<FileChange>> {
    let mut files = Vec::new();
    let (ca_cert, ca_key) = match &order.signer {
        Signer::Existing { cert_pem, key_pem } => (cert_pem.clone(), key_pem.0.clone()),
        Signer::New {
            name,
            cert,
            key,
            trust_copy,
        } => {
            let ca = cert::new_ca(name, cert::CA_DAYS, order.key_type)?;
            files.push(owned(node, cert, &ca.cert_pem, 0o644, false)?);
            files.push(owned(node, key, &ca.key_pem, 0o600, true)?);
            files.push(owned(node, trust_copy, &ca.cert_pem, 0o644, false)?);
            (ca.cert_pem, ca.key_pem)
        }
    };
    if let Some(server) = &order.server {
        let signer = CaSigner::from_pem(&ca_cert, &ca_key, order.cert_dir.as_path())?;
        let made = cert::server_cert(Some(&signer), &server.sans, cert::LEAF_DAYS, order.key_type)?;
        files.push(owned(node, &server.cert, &made.cert_pem, 0o644, false)?);
        files.push(owned(node, &server.key, &made.key_pem, 0o600, true)?);
    }
    Ok(files)
}

/// A file certsd owns, compared against what the node has now.
pub fn owned(
    node: &Node,
    path: &NodePath,
    text: &str,
    mode: u32,
    secret: bool,
) -> Result<FileChange> {
    let before = node.file(path)?;
    Ok(FileChange::owned(
        path.clone(),
        before,
        text.as_bytes().to_vec(),
        mode,
        secret,
    ))
}

/// A SAN as a bare name or address (Display prefixes `DNS:`/`IP:`).
fn san_text(san: &San) -> String {
    match san {
        San::Dns(name) => name.clone(),
        San::Ip(ip) => ip.to_string(),
    }
}

/// certsd's own CA in the cert dir: reuse it while it is good.
fn managed_ca(node: &Node, request: &CertRequest) -> Result<ManagedCa> {
    let cert_path = request.cert_dir.join("ca.crt");
    let key_path = request.cert_dir.join("ca.key");
    let new = |reason: String| ManagedCa {
        kept: None,
        new: Some(reason),
    };
    match (node.text(&cert_path)?, node.text(&key_path)?) {
        (None, None) => Ok(new("new".into())),
        (Some(cert_pem), Some(key_pem)) => {
            pem::check_ca(cert_path.as_path(), cert_pem.as_bytes())?;
            let info = cert::inspect_pem(&cert_pem).with_context(|| cert_path.to_string())?;
            let days_left = info.first().map_or(0, cert::CertInfo::days_left);
            if days_left <= i64::from(request.renew_before) {
                return Ok(new(format!("the CA expires in {days_left} days")));
            }
            CaSigner::from_pem(&cert_pem, &key_pem, request.cert_dir.as_path())?;
            Ok(ManagedCa {
                kept: Some((cert_pem, key_pem)),
                new: None,
            })
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
fn server_reason(node: &Node, request: &CertRequest, ca_pem: &str) -> Result<Option<String>> {
    let cert_path = request.cert_dir.join("server.crt");
    let (Some(cert_pem), Some(key_pem)) = (
        node.text(&cert_path)?,
        node.text(&request.cert_dir.join("server.key"))?,
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

//! `doctor --certs`: every certificate the node uses for registries (the
//! `ca` and `client` files hosts.toml names, the docker-style files of a
//! directory containerd reads that way, certsd's server certificates in
//! `/etc/certsd/HOST/`) with subject, issuer, expiry and days left.

use serde::Serialize;

use crate::node::{Root, read_existing};

use super::files::{certificates, referenced};
use super::hosts::HostDir;

/// One row of the table: one certificate of one file.
#[derive(Debug, Clone, Serialize)]
pub struct CertRow {
    /// Node path of the file.
    pub path: String,
    /// `ca`, `client` or `server`.
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub host: Option<String>,
    pub subject: String,
    pub issuer: String,
    /// RFC 3339 UTC.
    pub not_after: String,
    pub days_left: i64,
}

/// The rows for every host, in directory order; unreadable files are left
/// out (their findings say why).
pub fn table(root: &Root, hosts: &[HostDir]) -> Vec<CertRow> {
    let mut rows = Vec::new();
    for d in hosts {
        for r in referenced(d) {
            let Ok(Some(file)) = read_existing(root, &r.path) else {
                continue;
            };
            for c in certificates(&file.bytes) {
                rows.push(CertRow {
                    path: r.path.to_string(),
                    use_: r.use_.as_str(),
                    host: Some(d.host.clone()),
                    subject: c.subject,
                    issuer: c.issuer,
                    not_after: c.not_after,
                    days_left: c.days_left,
                });
            }
        }
    }
    rows
}

//! `certsd cert inspect`: what certificates and CSRs hold, as text or JSON.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cert::{self, CertInfo, CsrInfo};
use crate::node::read_required;
use crate::settings::Output;

/// One inspected file, for `--output json`.
#[derive(Serialize)]
struct InspectedFile {
    path: PathBuf,
    /// A private key sits beside the certificates: such a file must never be a `ca`.
    contains_private_key: bool,
    certificates: Vec<CertInfo>,
    /// Set when the file is a certificate signing request.
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_request: Option<CsrInfo>,
}

pub(super) fn inspect(paths: &[PathBuf], output: Output) -> Result<()> {
    let mut files = Vec::new();
    for path in paths {
        let shown = format!("reading {}", path.display());
        let bytes = read_required(path, &shown)?;
        if let Some(file) = inspect_csr_file(path, &bytes)? {
            files.push(file);
            continue;
        }
        let pem = String::from_utf8(bytes)
            .with_context(|| format!("{shown}: stream did not contain valid UTF-8"))?;
        let certificates = cert::inspect_pem(&pem).with_context(|| path.display().to_string())?;
        files.push(InspectedFile {
            path: path.clone(),
            contains_private_key: pem.contains("PRIVATE KEY-----"),
            certificates,
            certificate_request: None,
        });
    }
    let mut stdout = std::io::stdout().lock();
    match output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut stdout, &serde_json::json!({ "files": files }))?;
            writeln!(stdout)?;
        }
        Output::Text => {
            for file in &files {
                print_file(&mut stdout, file)?;
            }
        }
    }
    Ok(())
}

fn print_file(out: &mut impl Write, file: &InspectedFile) -> Result<()> {
    let count = file.certificates.len();
    if file.contains_private_key {
        writeln!(
            out,
            "warning: {} also holds a PRIVATE KEY; never use it as a `ca` file",
            file.path.display()
        )?;
    }
    if let Some(request) = &file.certificate_request {
        writeln!(out, "{} [certificate request]", file.path.display())?;
        print_csr(out, request)?;
    }
    for (i, c) in file.certificates.iter().enumerate() {
        writeln!(out, "{} [{}/{count}]", file.path.display(), i + 1)?;
        print_cert(out, c)?;
    }
    Ok(())
}

fn print_cert(out: &mut impl Write, c: &CertInfo) -> Result<()> {
    let sans: Vec<String> = c
        .dns_names
        .iter()
        .map(|d| format!("DNS:{d}"))
        .chain(c.ip_addresses.iter().map(|ip| format!("IP:{ip}")))
        .collect();
    let self_signed = if c.self_signed { " (self-signed)" } else { "" };
    let rows = [
        ("subject", c.subject.clone()),
        ("issuer", format!("{}{self_signed}", c.issuer)),
        ("SANs", or_none(&sans)),
        ("key", format!("{} ({} bits)", c.key_type, c.key_bits)),
        ("signature", c.signature_algorithm.clone()),
        ("serial", c.serial.clone()),
        ("not before", c.not_before.clone()),
        (
            "not after",
            format!("{} ({})", c.not_after, days_left(c.days_left)),
        ),
        ("kind", kind(c)),
        ("key usage", or_none(&c.key_usage)),
        ("ext key usage", or_none(&c.extended_key_usage)),
        ("SHA-256", c.sha256_fingerprint.clone()),
    ];
    for (label, value) in rows {
        writeln!(out, "  {:<14} {value}", format!("{label}:"))?;
    }
    Ok(())
}

fn kind(c: &CertInfo) -> String {
    match (c.is_ca, c.path_len) {
        (true, Some(n)) => format!("CA (pathlen {n})"),
        (true, None) => "CA".to_string(),
        (false, _) => "leaf".to_string(),
    }
}

pub(super) fn days_left(days: i64) -> String {
    if days < 0 {
        format!("EXPIRED {} days ago", -days)
    } else {
        format!("{days} days left")
    }
}

pub(super) fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// `DNS:name` and `IP:addr`, as `inspect` prints SANs.
pub(super) fn san_labels(dns: &[String], ips: &[std::net::IpAddr]) -> Vec<String> {
    let dns = dns.iter().map(|d| format!("DNS:{d}"));
    dns.chain(ips.iter().map(|ip| format!("IP:{ip}"))).collect()
}

pub(super) fn print_signed(
    out: &mut impl Write,
    csr: &Path,
    c: &CertInfo,
    not_copied: &[String],
) -> Result<()> {
    let sans = san_labels(&c.dns_names, &c.ip_addresses);
    writeln!(out, "signed {}", csr.display())?;
    let rows = [
        ("subject", c.subject.clone()),
        ("SANs", or_none(&sans)),
        ("issuer", c.issuer.clone()),
        ("serial", c.serial.clone()),
        (
            "not after",
            format!("{} ({})", c.not_after, days_left(c.days_left)),
        ),
        ("ext key usage", or_none(&c.extended_key_usage)),
        ("not copied", or_none(not_copied)),
    ];
    for (label, value) in rows {
        writeln!(out, "  {:<14} {value}", format!("{label}:"))?;
    }
    Ok(())
}

/// A CSR file (PEM, or DER that parses as one) for `inspect`; `None` for anything else.
fn inspect_csr_file(path: &Path, bytes: &[u8]) -> Result<Option<InspectedFile>> {
    let request = if cert::is_pem_csr(bytes) {
        cert::inspect_csr(bytes).with_context(|| path.display().to_string())?
    } else if String::from_utf8_lossy(bytes).contains("-----BEGIN") {
        return Ok(None);
    } else {
        match cert::inspect_csr(bytes) {
            Ok(request) => request,
            Err(_) => return Ok(None),
        }
    };
    Ok(Some(InspectedFile {
        path: path.to_path_buf(),
        contains_private_key: String::from_utf8_lossy(bytes).contains("PRIVATE KEY-----"),
        certificates: Vec::new(),
        certificate_request: Some(request),
    }))
}

fn print_csr(out: &mut impl Write, r: &CsrInfo) -> Result<()> {
    let sans = san_labels(&r.dns_names, &r.ip_addresses);
    let verdict = if r.signature_valid {
        "valid"
    } else {
        "DOES NOT VERIFY"
    };
    let rows = [
        ("subject", r.subject.clone()),
        ("SANs", or_none(&sans)),
        ("key", format!("{} ({} bits)", r.key_type, r.key_bits)),
        (
            "signature",
            format!("{} ({verdict})", r.signature_algorithm),
        ),
        (
            "asks for CA",
            if r.requests_ca { "yes" } else { "no" }.to_string(),
        ),
        ("key usage", or_none(&r.key_usage)),
        ("ext key usage", or_none(&r.extended_key_usage)),
        ("other", or_none(&r.other_extensions)),
    ];
    for (label, value) in rows {
        writeln!(out, "  {:<14} {value}", format!("{label}:"))?;
    }
    Ok(())
}

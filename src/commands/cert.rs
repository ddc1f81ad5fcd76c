//! `certsd cert ca|server|client|inspect`: validates the options, calls the
//! pure `crate::cert` library, and writes the results through the same plan
//! and writer as `apply` (all or nothing), or prints what certificates hold.
//!
//! Paths are used as given: `--root` does not apply to `--out`/`--ca-dir`,
//! which name files on the machine certsd runs on.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::cert::{self, CaSigner, CertInfo, Issued, San};
use crate::core::plan::{FileChange, Plan};
use crate::exit_codes::{Code, usage};
use crate::node::{NodePath, Root, read_existing};
use crate::settings::{CertJob, Field, IssueSettings, Origin, Output};
use crate::writer;

const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;

/// Runs one `cert` command.
pub fn run(job: &CertJob, output: Output, origin: &Origin) -> Result<Code> {
    let name = |f: Field| origin.name(f);
    match job {
        CertJob::Ca { issue, name: cn } => {
            let issue = IssueSettings::new(issue, cert::CA_DAYS, origin)?;
            cert::check_common_name(cn)
                .map_err(|err| usage(format!("{}: {err}", name(Field::Name))))?;
            let targets = targets(&issue, "ca")?;
            let issued = cert::new_ca(cn, issue.days, issue.key)?;
            write(&issue, &targets, issued, output)
        }
        CertJob::Server {
            issue,
            ca_dir,
            dns,
            ip,
        } => {
            let issue = IssueSettings::new(issue, cert::LEAF_DAYS, origin)?;
            let sans = server_sans(dns, ip, origin)?;
            let signer = ca_dir.as_deref().map(load_ca).transpose()?;
            let targets = targets(&issue, "server")?;
            let issued = cert::server_cert(signer.as_ref(), &sans, issue.days, issue.key)?;
            write(&issue, &targets, issued, output)
        }
        CertJob::Client {
            issue,
            ca_dir,
            name: cn,
        } => {
            let issue = IssueSettings::new(issue, cert::LEAF_DAYS, origin)?;
            cert::check_common_name(cn)
                .map_err(|err| usage(format!("{}: {err}", name(Field::Name))))?;
            let signer = load_ca(ca_dir)?;
            let targets = targets(&issue, "client")?;
            let issued = cert::client_cert(&signer, cn, issue.days, issue.key)?;
            write(&issue, &targets, issued, output)
        }
        CertJob::Inspect { files } => inspect(files, output),
    }
    .map(|()| Code::Success)
}

fn server_sans(dns: &[String], ip: &[String], origin: &Origin) -> Result<Vec<San>> {
    let mut sans = Vec::new();
    for name in dns {
        sans.push(
            San::dns(name).map_err(|err| usage(format!("{}: {err}", origin.name(Field::Dns))))?,
        );
    }
    for addr in ip {
        sans.push(
            San::ip(addr).map_err(|err| usage(format!("{}: {err}", origin.name(Field::Ip))))?,
        );
    }
    if sans.is_empty() {
        return Err(usage(format!(
            "a server certificate needs at least one {} NAME or {} IP",
            origin.name(Field::Dns),
            origin.name(Field::Ip)
        )));
    }
    Ok(sans)
}

/// The certificate and key this command writes (`STEM.crt`, `STEM.key`),
/// checked before any key is generated.
struct Targets {
    shown: [PathBuf; 2],
    paths: [NodePath; 2],
}

fn targets(issue: &IssueSettings, stem: &str) -> Result<Targets> {
    let names = [format!("{stem}.crt"), format!("{stem}.key")];
    let shown = names.clone().map(|n| issue.out.join(n));
    check_targets(&shown, issue.force)?;
    Ok(Targets {
        paths: names.map(|n| issue.out_path.join(&n)),
        shown,
    })
}

/// Writes both files as one group; with `--output json`, then prints what
/// was written and what the new certificate holds (never the key).
fn write(issue: &IssueSettings, targets: &Targets, issued: Issued, output: Output) -> Result<()> {
    let info = cert::inspect_pem(&issued.cert_pem)?;
    check_targets(&targets.shown, issue.force)?;
    let root = Root::new(PathBuf::from("/"));
    let [crt, key] = &targets.paths;
    let plan = Plan {
        files: vec![
            owned(&root, crt, issued.cert_pem.into_bytes(), CERT_MODE, false)?,
            owned(&root, key, issued.key_pem.into_bytes(), KEY_MODE, true)?,
        ],
        ..Plan::default()
    };
    writer::apply(&root, &plan)?;
    let modes = [CERT_MODE, KEY_MODE];
    for (path, mode) in targets.shown.iter().zip(modes) {
        eprintln!("wrote {} ({mode:04o})", path.display());
    }
    if output == Output::Json {
        let written: Vec<_> = targets
            .shown
            .iter()
            .zip(modes)
            .map(|(path, mode)| serde_json::json!({ "path": path, "mode": format!("{mode:04o}") }))
            .collect();
        let report = serde_json::json!({ "files": written, "certificate": info.first() });
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    }
    Ok(())
}

/// A file this command makes; it replaces whatever is there (checked by `--force`).
fn owned(
    root: &Root,
    path: &NodePath,
    bytes: Vec<u8>,
    mode: u32,
    secret: bool,
) -> Result<FileChange> {
    let before = read_existing(root, path)?;
    Ok(FileChange::exact(path.clone(), before, bytes, mode, secret))
}

/// Reads DIR/ca.crt and DIR/ca.key.
fn load_ca(dir: &Path) -> Result<CaSigner> {
    let crt = dir.join("ca.crt");
    let key = dir.join("ca.key");
    let cert_pem = fs::read_to_string(&crt)
        .with_context(|| format!("reading the CA certificate {}", crt.display()))?;
    let key_pem = fs::read_to_string(&key)
        .with_context(|| format!("reading the CA key {}", key.display()))?;
    CaSigner::from_pem(&cert_pem, &key_pem, dir)
}

/// Refuses targets that exist (unless `force`) or that are not plain files.
fn check_targets(paths: &[PathBuf], force: bool) -> Result<()> {
    for path in paths {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => bail!("{} is a directory", path.display()),
            Ok(_) if !force => bail!(
                "{} already exists (use --force to replace it)",
                path.display()
            ),
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("checking {}", path.display())),
        }
    }
    Ok(())
}

/// One inspected file, for `--output json`.
#[derive(Serialize)]
struct InspectedFile {
    path: PathBuf,
    /// A private key sits beside the certificates: such a file must never be a `ca`.
    contains_private_key: bool,
    certificates: Vec<CertInfo>,
}

fn inspect(paths: &[PathBuf], output: Output) -> Result<()> {
    let mut files = Vec::new();
    for path in paths {
        let pem =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let certificates = cert::inspect_pem(&pem).with_context(|| path.display().to_string())?;
        files.push(InspectedFile {
            path: path.clone(),
            contains_private_key: pem.contains("PRIVATE KEY-----"),
            certificates,
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

fn days_left(days: i64) -> String {
    if days < 0 {
        format!("EXPIRED {} days ago", -days)
    } else {
        format!("{days} days left")
    }
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

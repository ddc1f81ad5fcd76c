//! `certsd cert ca|server|client|inspect|csr|sign`: turns the clap arguments into
//! validated settings, calls the pure `crate::cert` library, and writes the
//! results (all-or-nothing) or prints what certificates hold.
//!
//! Paths are used as given: `--root` does not apply to `--out`/`--ca-dir`,
//! which name files on the machine certsd runs on.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::cert::{self, CaSigner, CertInfo, CsrInfo, Issued, KeyType, LeafRole, San};
use crate::cli::cert::{
    CaArgs, CertCommand, ClientArgs, CsrArgs, InspectArgs, IssueArgs, ServerArgs, SignArgs,
};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::exit_codes::{Code, usage};
use crate::writer;

const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;

/// Runs one `cert` subcommand.
pub fn run(global: &GlobalArgs, cmd: &CertCommand) -> Result<Code> {
    match cmd {
        CertCommand::Ca(args) => ca(args, global.output),
        CertCommand::Server(args) => server(args, global.output),
        CertCommand::Client(args) => client(args, global.output),
        CertCommand::Inspect(args) => inspect(args, global.output),
        CertCommand::Csr(args) => csr(args, global.output),
        CertCommand::Sign(args) => sign(args, global.output),
    }
    .map(|()| Code::Success)
}

/// `--days`, `--key-type`, `--out`, `--force` and `--output`, validated.
struct Issue {
    out: PathBuf,
    days: u32,
    key: KeyType,
    force: bool,
    output: OutputFormat,
}

impl Issue {
    fn from_args(args: &IssueArgs, default_days: u32, output: OutputFormat) -> Result<Issue> {
        let days = match args.days {
            None => default_days,
            Some(d) => u32::try_from(d).map_err(|_| {
                usage(format!(
                    "--days must be between 1 and {}, not {d}",
                    cert::MAX_DAYS
                ))
            })?,
        };
        cert::check_days(days).map_err(|err| usage(err.to_string()))?;
        let key = args
            .key_type
            .parse()
            .map_err(|err: anyhow::Error| usage(format!("--key-type: {err}")))?;
        Ok(Issue {
            out: args.out.clone(),
            days,
            key,
            force: args.force,
            output,
        })
    }

    /// The two files this command writes, checked for existence before any
    /// key is generated.
    fn targets(&self, stem: &str) -> Result<(PathBuf, PathBuf)> {
        let crt = self.out.join(format!("{stem}.crt"));
        let key = self.out.join(format!("{stem}.key"));
        check_targets(&[&crt, &key], self.force)?;
        Ok((crt, key))
    }

    /// Writes both files; with `--output json`, then prints what was written
    /// and what the new certificate holds (never the key).
    fn write(&self, (crt, key): (PathBuf, PathBuf), issued: Issued) -> Result<()> {
        let info = cert::inspect_pem(&issued.cert_pem)?;
        let files = [
            (crt, issued.cert_pem, CERT_MODE),
            (key, issued.key_pem, KEY_MODE),
        ];
        write_outputs(&files, self.force)?;
        if self.output == OutputFormat::Json {
            let written: Vec<_> = files
                .iter()
                .map(|(path, _, mode)| serde_json::json!({ "path": path, "mode": format!("{mode:04o}") }))
                .collect();
            let report = serde_json::json!({ "files": written, "certificate": info.first() });
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        Ok(())
    }
}

fn ca(args: &CaArgs, output: OutputFormat) -> Result<()> {
    let issue = Issue::from_args(&args.issue, cert::CA_DAYS, output)?;
    cert::check_common_name(&args.name).map_err(|err| usage(format!("--name: {err}")))?;
    let targets = issue.targets("ca")?;
    let issued = cert::new_ca(&args.name, issue.days, issue.key)?;
    issue.write(targets, issued)
}

fn server(args: &ServerArgs, output: OutputFormat) -> Result<()> {
    let issue = Issue::from_args(&args.issue, cert::LEAF_DAYS, output)?;
    let mut sans = Vec::new();
    for name in &args.dns {
        sans.push(San::dns(name).map_err(|err| usage(format!("--dns: {err}")))?);
    }
    for ip in &args.ip {
        sans.push(San::ip(ip).map_err(|err| usage(format!("--ip: {err}")))?);
    }
    if sans.is_empty() {
        return Err(usage(
            "a server certificate needs at least one --dns NAME or --ip IP",
        ));
    }
    let signer = args.ca_dir.as_deref().map(load_ca).transpose()?;
    let targets = issue.targets("server")?;
    let issued = cert::server_cert(signer.as_ref(), &sans, issue.days, issue.key)?;
    issue.write(targets, issued)
}

fn client(args: &ClientArgs, output: OutputFormat) -> Result<()> {
    let issue = Issue::from_args(&args.issue, cert::LEAF_DAYS, output)?;
    cert::check_common_name(&args.name).map_err(|err| usage(format!("--name: {err}")))?;
    let signer = load_ca(&args.ca_dir)?;
    let targets = issue.targets("client")?;
    let issued = cert::client_cert(&signer, &args.name, issue.days, issue.key)?;
    issue.write(targets, issued)
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

fn inspect(args: &InspectArgs, output: OutputFormat) -> Result<()> {
    let mut files = Vec::new();
    for path in &args.files {
        if let Some(file) = inspect_csr_file(path)? {
            files.push(file);
            continue;
        }
        let pem =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
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
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &serde_json::json!({ "files": files }))?;
            writeln!(stdout)?;
        }
        OutputFormat::Text => {
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

/// Refuses targets that exist (unless `force`) or that are not plain files.
fn check_targets(paths: &[&Path], force: bool) -> Result<()> {
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

/// Writes the outputs of a `cert` command through the writer, as one group.
fn write_outputs(files: &[(PathBuf, String, u32)], force: bool) -> Result<()> {
    let paths: Vec<&Path> = files.iter().map(|(p, _, _)| p.as_path()).collect();
    check_targets(&paths, force)?;
    let group = files
        .iter()
        .map(|(path, text, mode)| {
            let path = std::path::absolute(path)
                .with_context(|| format!("{}: cannot resolve", path.display()))?;
            Ok((path, text.clone().into_bytes(), *mode))
        })
        .collect::<Result<Vec<_>>>()?;
    writer::write_group(&group)?;
    for (path, _, mode) in files {
        eprintln!("wrote {} ({mode:04o})", path.display());
    }
    Ok(())
}

// ---- `cert csr`, `cert sign`, and CSRs in `cert inspect` ----

fn csr(args: &CsrArgs, output: OutputFormat) -> Result<()> {
    let issue_args = IssueArgs {
        out: args.out.clone(),
        days: None,
        key_type: args.key_type.clone(),
        force: args.force,
    };
    let issue = Issue::from_args(&issue_args, cert::LEAF_DAYS, output)?;
    let (role, stem) = role(args.client);
    let sans = parse_sans(&args.dns, &args.ip)?;
    if let Some(name) = &args.name {
        cert::check_common_name(name).map_err(|err| usage(format!("--name: {err}")))?;
    }
    if role == LeafRole::Server && sans.is_empty() {
        return Err(usage(
            "a server CSR needs at least one --dns NAME or --ip IP",
        ));
    }
    let kube = kube_target(args)?;
    let (csr_path, key_path) = (
        args.out.join(format!("{stem}.csr")),
        args.out.join(format!("{stem}.key")),
    );
    let mut targets = vec![csr_path.as_path(), key_path.as_path()];
    targets.extend(kube.as_ref().map(|(path, _, _)| path.as_path()));
    check_targets(&targets, args.force)?;
    let made = cert::new_csr(role, args.name.as_deref(), &sans, issue.key)?;
    let mut files = vec![
        (csr_path, made.csr_pem.clone(), CERT_MODE),
        (key_path, made.key_pem, KEY_MODE),
    ];
    if let Some((path, name, signer)) = kube {
        let yaml = cert::kubernetes_csr(name, signer, &made.csr_pem, role, issue.key)?;
        files.push((path, yaml, CERT_MODE));
    }
    write_outputs(&files, args.force)?;
    let request = cert::inspect_csr(made.csr_pem.as_bytes())?;
    print_json(
        output,
        &serde_json::json!({ "files": files_json(&files), "request": request }),
    )
}

/// `--kubernetes NAME --signer SIGNER`, checked: the manifest's path, name and signer.
fn kube_target(args: &CsrArgs) -> Result<Option<(PathBuf, &str, &str)>> {
    let (Some(name), Some(signer)) = (&args.kubernetes, &args.signer) else {
        return Ok(None);
    };
    cert::check_object_name(name).map_err(|err| usage(format!("--kubernetes: {err}")))?;
    cert::check_signer_name(signer).map_err(|err| usage(format!("--signer: {err}")))?;
    Ok(Some((
        args.out.join(format!("{name}.csr.yaml")),
        name,
        signer,
    )))
}

fn sign(args: &SignArgs, output: OutputFormat) -> Result<()> {
    let issue_args = IssueArgs {
        out: args.out.clone(),
        days: args.days,
        key_type: KeyType::default().name().to_string(),
        force: args.force,
    };
    let issue = Issue::from_args(&issue_args, cert::LEAF_DAYS, output)?;
    let (role, stem) = role(args.client);
    let crt = args.out.join(format!("{stem}.crt"));
    check_targets(&[&crt], args.force)?;
    check_not_ca_dir(&args.out, &args.ca_dir)?;
    let at = args.csr.display();
    let bytes = fs::read(&args.csr).with_context(|| format!("reading the CSR {at}"))?;
    let signer = load_ca(&args.ca_dir)?;
    let issued = cert::sign_csr(&signer, &bytes, role, issue.days)
        .with_context(|| format!("CSR {at}: not signed"))?;
    let info = cert::inspect_pem(&issued.cert_pem)?
        .into_iter()
        .next()
        .context("re-reading the signed certificate")?;
    let files = [(crt, issued.cert_pem.clone(), CERT_MODE)];
    write_outputs(&files, args.force)?;
    if output == OutputFormat::Text {
        return print_signed(
            &mut std::io::stdout().lock(),
            &args.csr,
            &info,
            &issued.not_copied,
        );
    }
    let report = serde_json::json!({
        "files": files_json(&files),
        "certificate": info,
        "request": issued.request,
        "not_copied": issued.not_copied,
    });
    print_json(output, &report)
}

fn role(client: bool) -> (LeafRole, &'static str) {
    if client {
        (LeafRole::Client, "client")
    } else {
        (LeafRole::Server, "server")
    }
}

fn parse_sans(dns: &[String], ip: &[String]) -> Result<Vec<San>> {
    let dns = dns
        .iter()
        .map(|d| San::dns(d).map_err(|err| usage(format!("--dns: {err}"))));
    let ip = ip
        .iter()
        .map(|i| San::ip(i).map_err(|err| usage(format!("--ip: {err}"))));
    dns.chain(ip).collect()
}

/// `sign` never writes into the CA directory.
fn check_not_ca_dir(out: &Path, ca_dir: &Path) -> Result<()> {
    if let (Ok(a), Ok(b)) = (fs::canonicalize(out), fs::canonicalize(ca_dir))
        && a == b
    {
        return Err(usage(
            "--out must not be the CA directory (--ca-dir): give another directory",
        ));
    }
    Ok(())
}

fn files_json(files: &[(PathBuf, String, u32)]) -> Vec<serde_json::Value> {
    files
        .iter()
        .map(|(path, _, mode)| serde_json::json!({ "path": path, "mode": format!("{mode:04o}") }))
        .collect()
}

/// Prints `report` when `--output json`; text output is the `wrote` lines alone.
fn print_json(output: OutputFormat, report: &serde_json::Value) -> Result<()> {
    if output == OutputFormat::Json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, report)?;
        writeln!(stdout)?;
    }
    Ok(())
}

/// `DNS:name` and `IP:addr`, as `inspect` prints SANs.
fn san_labels(dns: &[String], ips: &[std::net::IpAddr]) -> Vec<String> {
    let dns = dns.iter().map(|d| format!("DNS:{d}"));
    dns.chain(ips.iter().map(|ip| format!("IP:{ip}"))).collect()
}

fn print_signed(
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
fn inspect_csr_file(path: &Path) -> Result<Option<InspectedFile>> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let request = if cert::is_pem_csr(&bytes) {
        cert::inspect_csr(&bytes).with_context(|| path.display().to_string())?
    } else if String::from_utf8_lossy(&bytes).contains("-----BEGIN") {
        return Ok(None);
    } else {
        match cert::inspect_csr(&bytes) {
            Ok(request) => request,
            Err(_) => return Ok(None),
        }
    };
    Ok(Some(InspectedFile {
        path: path.to_path_buf(),
        contains_private_key: String::from_utf8_lossy(&bytes).contains("PRIVATE KEY-----"),
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

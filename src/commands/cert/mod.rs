//! `certsd cert ...`: validates the options, calls the pure `crate::cert`
//! library, and writes the results through the same plan and writer as
//! `apply` (all or nothing), or prints what certificates and CSRs hold.
//!
//! Paths are used as given: `--root` does not apply to `--out`/`--ca-dir`,
//! which name files on the machine certsd runs on.
//!
//! A write that changes something is recorded, in the same crash-safe
//! group, in `<out>/.certsd-history/` (the history of `core::history`,
//! beside the files written as apply's is beside config.toml), so
//! `certsd rollback --dir <out>` can undo it.

mod inspect;
mod request;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cert::{self, CaSigner, San};
use crate::core::history;
use crate::core::plan::{FileChange, Plan};
use crate::exit_codes::{Code, usage};
use crate::node::{NodePath, Root, read_existing, read_required};
use crate::settings::{CertJob, Field, IssueSettings, Origin, Output, WriteSettings};
use crate::writer;

const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;

/// Runs one `cert` command.
pub fn run(job: &CertJob, output: Output, write: WriteSettings, origin: &Origin) -> Result<Code> {
    match job {
        CertJob::Ca { issue, name } => {
            let issue = IssueSettings::new(issue, cert::CA_DAYS, origin)?;
            check_name(name, origin)?;
            let out = Outputs::new(&issue, write, &["ca.crt", "ca.key"])?;
            let made = cert::new_ca(name, issue.days, issue.key)?;
            out.write_pair(made.cert_pem, made.key_pem, output)
        }
        CertJob::Server {
            issue,
            ca_dir,
            dns,
            ip,
        } => {
            let issue = IssueSettings::new(issue, cert::LEAF_DAYS, origin)?;
            let sans = sans(dns, ip, origin)?;
            if sans.is_empty() {
                return Err(usage(format!(
                    "a server certificate needs at least one {} NAME or {} IP",
                    origin.name(Field::Dns),
                    origin.name(Field::Ip)
                )));
            }
            let signer = ca_dir.as_deref().map(load_ca).transpose()?;
            let out = Outputs::new(&issue, write, &["server.crt", "server.key"])?;
            let made = cert::server_cert(signer.as_ref(), &sans, issue.days, issue.key)?;
            out.write_pair(made.cert_pem, made.key_pem, output)
        }
        CertJob::Client {
            issue,
            ca_dir,
            name,
        } => {
            let issue = IssueSettings::new(issue, cert::LEAF_DAYS, origin)?;
            check_name(name, origin)?;
            let signer = load_ca(ca_dir)?;
            let out = Outputs::new(&issue, write, &["client.crt", "client.key"])?;
            let made = cert::client_cert(&signer, name, issue.days, issue.key)?;
            out.write_pair(made.cert_pem, made.key_pem, output)
        }
        CertJob::Csr(job) => request::csr(job, output, write, origin),
        CertJob::Sign(job) => request::sign(job, output, write, origin),
        CertJob::Inspect { files } => inspect::inspect(files, output),
    }
    .map(|()| Code::Success)
}

fn check_name(name: &str, origin: &Origin) -> Result<()> {
    cert::check_common_name(name)
        .map_err(|err| usage(format!("{}: {err}", origin.name(Field::Name))))
}

/// `--dns` and `--ip` as SANs, in that order.
fn sans(dns: &[String], ip: &[String], origin: &Origin) -> Result<Vec<San>> {
    let dns = dns
        .iter()
        .map(|d| San::dns(d).map_err(|err| usage(format!("{}: {err}", origin.name(Field::Dns)))));
    let ip = ip
        .iter()
        .map(|i| San::ip(i).map_err(|err| usage(format!("{}: {err}", origin.name(Field::Ip)))));
    dns.chain(ip).collect()
}

/// Reads DIR/ca.crt and DIR/ca.key.
fn load_ca(dir: &Path) -> Result<CaSigner> {
    let crt = dir.join("ca.crt");
    let key = dir.join("ca.key");
    let text = |path: &Path, what: &str| -> Result<String> {
        let shown = format!("reading the CA {what} {}", path.display());
        String::from_utf8(read_required(path, &shown)?)
            .with_context(|| format!("{shown}: not a PEM text file"))
    };
    let cert_pem = text(&crt, "certificate")?;
    let key_pem = text(&key, "key")?;
    CaSigner::from_pem(&cert_pem, &key_pem, dir)
}

/// The files a `cert` command writes into `--out`, checked before any key is made.
struct Outputs<'a> {
    issue: &'a IssueSettings,
    /// The lock, held from the first check of the targets to the write.
    session: writer::Session,
    names: Vec<String>,
    /// `--keep-backups`: history entries to keep (0: none recorded).
    keep: usize,
}

impl<'a> Outputs<'a> {
    fn new<S: ToString>(
        issue: &'a IssueSettings,
        write: WriteSettings,
        names: &[S],
    ) -> Result<Outputs<'a>> {
        // Under the lock, which first repairs a killed run's group: the check
        // and the write see the same directory (two `cert ca --out D` at
        // once: one writes, the other is refused).
        let session = writer::Session::for_dir(
            issue.out_path.as_path(),
            writer::Options {
                keep_backups: write.keep_backups,
                lock_timeout: write.lock_timeout,
            },
        )?;
        for repair in session.repairs() {
            eprintln!("certsd: {repair}");
        }
        let out = Outputs {
            issue,
            session,
            names: names.iter().map(ToString::to_string).collect(),
            keep: write.keep_backups,
        };
        check_targets(&out.shown(), issue.force)?;
        Ok(out)
    }

    /// The paths as the user gave them (for messages and JSON).
    fn shown(&self) -> Vec<PathBuf> {
        self.names.iter().map(|n| self.issue.out.join(n)).collect()
    }

    /// A certificate and its key; with `--output json`, then what was
    /// written and what the new certificate holds (never the key).
    fn write_pair(&self, cert_pem: String, key_pem: String, output: Output) -> Result<()> {
        let info = cert::inspect_pem(&cert_pem)?;
        let files = self.write(vec![
            (cert_pem, CERT_MODE, false),
            (key_pem, KEY_MODE, true),
        ])?;
        let report = serde_json::json!({ "files": files, "certificate": info.first() });
        print_json(output, &report)
    }

    /// Writes one `(text, mode, secret)` per name as one group, then says so
    /// on stderr; returns the files written, for JSON.
    fn write(&self, contents: Vec<(String, u32, bool)>) -> Result<Vec<serde_json::Value>> {
        check_targets(&self.shown(), self.issue.force)?;
        let root = Root::new(PathBuf::from("/"));
        let dir = history_dir_of(&self.issue.out_path);
        let mut plan = Plan::default();
        for (name, (text, mode, secret)) in self.names.iter().zip(contents) {
            let path = dir.as_ref().unwrap_or(&self.issue.out_path).join(name);
            let before = read_existing(&root, &path)?;
            plan.files.push(FileChange::exact(
                path,
                before,
                text.into_bytes(),
                mode,
                secret,
            ));
        }
        let history = self.history_of(&root, dir.as_ref(), &plan)?;
        let mut outcome = self
            .session
            .apply(plan.files.iter().chain(&history.files), history.made())?;
        if let Some(dir) = &dir {
            super::trust::without_history(&mut outcome, &dir.join(history::DIR_NAME));
        }
        for note in &outcome.notes {
            eprintln!("certsd: {note}");
        }
        let mut written = Vec::new();
        for (path, change) in self.shown().iter().zip(&plan.files) {
            let mode = format!("{:04o}", change.mode());
            eprintln!("wrote {} ({mode})", path.display());
            written.push(serde_json::json!({ "path": path, "mode": mode }));
        }
        Ok(written)
    }
}

impl Outputs<'_> {
    /// The files that record `plan` in `<dir>/.certsd-history/` (the writer
    /// gets them in one group with the plan's); none when `dir` is `None`.
    fn history_of<'p>(
        &self,
        root: &Root,
        dir: Option<&NodePath>,
        plan: &'p Plan,
    ) -> Result<history::Recording<'p>> {
        let Some(dir) = dir else {
            eprintln!(
                "certsd: {}: not recorded in the history (the path holds `..`), so `certsd rollback --dir` cannot undo this write",
                self.issue.out.display()
            );
            return Ok(history::Recording::default());
        };
        let record = history::Record {
            root,
            // The history goes beside the files written, as apply's beside config.toml.
            config: &dir.join(&self.names[0]),
            keep: self.keep,
            time: super::trust::now(),
        };
        history::record(&record, plan)
    }
}

/// `--out` spelled as the history spells paths (no `.`, no doubled `/`),
/// or `None` when it holds `..`: a history entry names only plain paths,
/// and which directory `..` leads to depends on symlinks at the time.
fn history_dir_of(out: &NodePath) -> Option<NodePath> {
    NodePath::parse("--out", out.as_path(), "/srv/pki").ok()
}

/// Prints `report` when `--output json`; text output is the `wrote` lines alone.
fn print_json(output: Output, report: &serde_json::Value) -> Result<()> {
    if output == Output::Json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, report)?;
        writeln!(stdout)?;
    }
    Ok(())
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

//! The command line as clap sees it, and nothing else.
//!
//! These types mirror what the user typed. `input.rs` hands them on as the
//! plain inputs `settings` validates; nothing past this module sees a clap type.

// Doc comments here are clap's help text, shown as typed: no Markdown backticks.
#![allow(clippy::doc_markdown)]

pub mod cert;
pub mod docs;
mod input;
pub mod replay;

pub use input::flag_name;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Make containerd trust private registries: sets the CRI registry
/// config_path in config.toml and writes certs.d/<host>/hosts.toml,
/// showing a diff before anything is written.
#[derive(Debug, Parser)]
#[command(name = "certsd", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted before or after the subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Read and write inside DIR as if it were / (paths written into files stay as the node sees them).
    #[arg(long, global = true, value_name = "DIR", env = "CERTSD_ROOT")]
    pub root: Option<PathBuf>,
    /// containerd's config file [default: /etc/containerd/config.toml].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The hosts directory [default: the config's config_path when it names one directory, else /etc/containerd/certs.d].
    #[arg(long, global = true, value_name = "DIR")]
    pub certs_dir: Option<PathBuf>,
    /// The containerd version to write for [default: from containerd --version, else inferred from the config].
    #[arg(long, global = true, value_name = "X.Y.Z")]
    pub containerd_version: Option<String>,
    /// The containerd binary to ask for its version and, on apply, to check the new config.toml with
    /// (a path on this machine) [default: the node's, inside --root first].
    #[arg(long, global = true, value_name = "PATH")]
    pub containerd_bin: Option<PathBuf>,
    /// How to print the result.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Backups of a replaced config.toml to keep, newest first (0: make none).
    #[arg(long, global = true, value_name = "N", default_value_t = 5)]
    pub keep_backups: usize,
    /// Seconds to wait for another certsd run that holds the lock.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 120)]
    pub lock_timeout: u64,
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A unified diff on stdout, status lines on stderr.
    Text,
    /// One JSON object on stdout.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the changes as a unified diff; write nothing.
    Plan(PlanArgs),
    /// Print the same diff, then write it.
    Apply(ApplyArgs),
    /// Make and inspect registry certificates.
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Undo the last apply: restore the files it replaced, remove the ones it created.
    Rollback(RollbackArgs),
    /// Say why a node cannot pull: read the node as the installed containerd
    /// would, report every problem with its file, line and fix. Writes nothing.
    Doctor(DoctorArgs),
    /// Print a shell completion script on stdout.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    Man,
}

/// `certsd doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Only this registry's findings (and the config's); repeatable.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub host: Vec<String>,
    /// Also shake hands with each endpoint, with exactly the trust containerd would use.
    #[arg(long)]
    pub connect: bool,
    /// Seconds per endpoint for --connect [default: 5].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<String>,
    /// Warn of certificates that expire within N days [default: 30].
    #[arg(long, value_name = "N")]
    pub warn_days: Option<u32>,
    /// Print a table of every certificate the node uses for registries.
    #[arg(long)]
    pub certs: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Exit 0 when nothing would change, 2 when changes are pending, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also write the plan to FILE (the diff, and the hash of every file it was computed from) for `apply --plan FILE`.
    #[arg(long, value_name = "FILE", conflicts_with = "plan")]
    pub out: Option<PathBuf>,
    /// Show a saved plan again, and whether it still applies.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["host", "file", "from_k3s", "migrate"])]
    pub plan: Option<PathBuf>,
}

/// `certsd rollback`.
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one bool per on/off flag, as the user types them
pub struct RollbackArgs {
    /// Print the diff of the rollback; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: exit 0 when nothing would change, 2 when changes are pending.
    #[arg(long, requires = "dry_run")]
    pub detailed_exitcode: bool,
    /// Go back this many applies (newest first).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub steps: usize,
    /// Restore files even when they changed since their apply.
    #[arg(long)]
    pub force: bool,
    /// Restart containerd when (and only when) config.toml changed.
    #[arg(long)]
    pub restart: bool,
    /// The restart command, run without a shell [default: systemctl restart containerd].
    #[arg(long, value_name = "'CMD ARGS'", requires = "restart")]
    pub restart_command: Option<String>,
    /// Roll back the last `cert` commands' writes into DIR (their --out) instead of applies.
    #[arg(long, value_name = "DIR", conflicts_with = "restart")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Do not have containerd's `config dump` check the new config.toml before it is installed.
    #[arg(long)]
    pub no_validate: bool,
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Apply exactly the plan `plan --out FILE` saved; refused when a file it was computed from changed.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["host", "file", "from_k3s", "migrate"])]
    pub plan: Option<PathBuf>,
}

/// Every registry of the node at once, from a spec file.
#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Spec")]
#[command(group(clap::ArgGroup::new("spec_source").args(["file", "from_k3s"])))]
pub struct SpecArgs {
    /// A spec listing every registry the node trusts (TOML, YAML or JSON); - reads stdin (then --format is required).
    #[arg(short = 'f', long = "file", value_name = "FILE", conflicts_with_all = ["host", "from_k3s"])]
    pub file: Option<PathBuf>,
    /// The spec's format [default: from the extension: .toml .yaml .yml .json].
    #[arg(long, value_enum, value_name = "FORMAT", requires = "file")]
    pub format: Option<SpecFormat>,
    /// Remove the host directories certsd created that the spec no longer lists.
    #[arg(long, requires = "spec_source")]
    pub prune: bool,
    /// Restart containerd when (and only when) config.toml changed.
    #[arg(long)]
    pub restart: bool,
    /// The restart command, run without a shell [default: systemctl restart containerd].
    #[arg(long, value_name = "'CMD ARGS'", requires = "restart")]
    pub restart_command: Option<String>,
    /// Read a k3s/RKE2 registries.yaml instead of a spec.
    #[arg(long, value_name = "FILE", conflicts_with = "host")]
    pub from_k3s: Option<PathBuf>,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpecFormat {
    Toml,
    Yaml,
    Json,
}

/// What to trust for one registry host.
#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Trust")]
#[command(group(clap::ArgGroup::new("issuer").args(["self_signed", "ca_dir"])))]
#[allow(clippy::struct_excessive_bools)] // one bool per on/off flag, as the user types them
pub struct TrustArgs {
    /// The registry as images name it: HOST or HOST:PORT (docker.io, registry.local:5000, [::1]:5000).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub host: Option<String>,
    /// The upstream URL, tried last [default: https://HOST; for docker.io https://registry-1.docker.io].
    #[arg(long, value_name = "URL", requires = "host")]
    pub server: Option<String>,
    /// An endpoint tried before the server; repeat for several, in order.
    #[arg(long, value_name = "URL", requires = "host")]
    pub mirror: Vec<String>,
    /// A PEM CA certificate to trust; copied into certs.d/HOST/. Repeatable.
    #[arg(long, value_name = "FILE", requires = "host")]
    pub ca: Vec<PathBuf>,
    /// A client certificate (PEM) for mTLS; copied into certs.d/HOST/.
    #[arg(long, value_name = "FILE", requires_all = ["host", "client_key"])]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key; copied into certs.d/HOST/ with mode 0600.
    #[arg(long, value_name = "FILE", requires_all = ["host", "client_cert"])]
    pub client_key: Option<PathBuf>,
    /// Do not verify the registry's certificate.
    #[arg(long, requires = "host")]
    pub skip_verify: bool,
    /// Comma list of pull, resolve, push [default: pull,resolve].
    #[arg(long, value_name = "LIST", requires = "host")]
    pub capabilities: Option<String>,
    /// A header sent with every request, 'Name: value'. Repeatable.
    #[arg(long, value_name = "'NAME: VALUE'", requires = "host")]
    pub header: Vec<String>,
    /// Use endpoint URLs as given, without appending /v2.
    #[arg(long, requires = "host")]
    pub override_path: bool,
    /// Accept replacing or dropping a ca, client or skip_verify in an existing hosts.toml that certsd did not write.
    #[arg(long, requires = "host")]
    pub replace_trust: bool,
    /// Move the legacy registry.mirrors and registry.configs tables of config.toml into certs.d/HOST/hosts.toml files and set config_path.
    #[arg(long, help_heading = "Migration")]
    pub migrate: bool,
    /// With --migrate: turn registry.configs.HOST.auth and registry.auths into an Authorization: Basic header in hosts.toml (mode 0600) instead of leaving them in config.toml.
    #[arg(long, requires = "migrate", help_heading = "Migration")]
    pub auth_to_header: bool,
    /// Make a private CA and a server certificate for HOST, and trust the CA.
    #[arg(
        long,
        requires = "host",
        conflicts_with = "ca_dir",
        help_heading = "Certificates"
    )]
    pub self_signed: bool,
    /// Like --self-signed, but sign with the existing CA in DIR (ca.crt, ca.key).
    #[arg(
        long,
        value_name = "DIR",
        requires = "host",
        help_heading = "Certificates"
    )]
    pub ca_dir: Option<PathBuf>,
    /// Where the registry reads its certificate (server.crt, server.key; with
    /// --self-signed also the CA) [default: /etc/certsd/HOST].
    #[arg(
        long,
        value_name = "DIR",
        requires = "issuer",
        help_heading = "Certificates"
    )]
    pub cert_dir: Option<PathBuf>,
    /// An extra name or IP address for the server certificate. Repeatable.
    #[arg(
        long,
        value_name = "NAME|IP",
        requires = "issuer",
        help_heading = "Certificates"
    )]
    pub san: Vec<String>,
    /// Replace a server certificate that expires within DAYS.
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = 30,
        requires = "issuer",
        help_heading = "Certificates"
    )]
    pub renew_before: u32,
    /// Replace the server certificate even if it is still good.
    #[arg(long, requires = "issuer", help_heading = "Certificates")]
    pub renew: bool,
}

/// Every subcommand's name and aliases, and `help`: a command line that is
/// one of these is never taken for Ansible's `certsd ARGS_FILE`.
pub fn subcommand_names() -> Vec<String> {
    use clap::CommandFactory;
    let command = Cli::command();
    let mut names = vec!["help".to_string()];
    for sub in command.get_subcommands() {
        names.push(sub.get_name().to_string());
        names.extend(sub.get_all_aliases().map(ToString::to_string));
    }
    names
}

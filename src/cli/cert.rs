//! clap types for `certsd cert ...`: what the user typed, unvalidated.
//! `commands::cert` turns them into validated settings.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Make a CA: DIR/ca.crt and DIR/ca.key.
    Ca(CaArgs),
    /// Make a registry server certificate: DIR/server.crt and DIR/server.key.
    Server(ServerArgs),
    /// Make a client certificate for mTLS: DIR/client.crt and DIR/client.key.
    Client(ClientArgs),
    /// Print what certificates and CSRs hold: names, key, validity, usages, fingerprint.
    Inspect(InspectArgs),
    /// Make a key and a certificate signing request for another CA: DIR/server.key and
    /// DIR/server.csr (client.* with --client); with --kubernetes also a Kubernetes manifest.
    Csr(CsrArgs),
    /// Sign a CSR (PEM or DER) with the CA in --ca-dir: DIR/server.crt (client.crt with --client).
    Sign(SignArgs),
}

/// Options every issuing subcommand takes.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Validity in days, 1 to 36500 [default: 3650 for a CA, 365 otherwise].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub days: Option<i64>,
    /// ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519.
    #[arg(long, value_name = "T", default_value = "ecdsa-p256")]
    pub key_type: String,
    /// Replace files that already exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CaArgs {
    #[command(flatten)]
    pub issue: IssueArgs,
    /// The CA's common name.
    #[arg(long, value_name = "CN", default_value = "certsd CA")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub issue: IssueArgs,
    /// Sign with the CA in DIR (ca.crt and ca.key).
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "self_signed",
        conflicts_with = "self_signed"
    )]
    pub ca_dir: Option<PathBuf>,
    /// Make a self-signed certificate, to be given as its own `ca`.
    #[arg(long)]
    pub self_signed: bool,
    /// A DNS name the registry is reached by (wildcard: *.example.com). Repeatable.
    #[arg(long, value_name = "NAME")]
    pub dns: Vec<String>,
    /// An IP address the registry is reached by. Repeatable.
    #[arg(long, value_name = "IP")]
    pub ip: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub issue: IssueArgs,
    /// Sign with the CA in DIR (ca.crt and ca.key).
    #[arg(long, value_name = "DIR")]
    pub ca_dir: PathBuf,
    /// The client's common name.
    #[arg(long, value_name = "CN")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// PEM files holding one or more certificates.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CsrArgs {
    /// The directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A DNS name the registry is reached by (wildcard: *.example.com). Repeatable.
    #[arg(long, value_name = "NAME")]
    pub dns: Vec<String>,
    /// An IP address the registry is reached by. Repeatable.
    #[arg(long, value_name = "IP")]
    pub ip: Vec<String>,
    /// The common name [default: the first --dns or --ip]; required with --client.
    #[arg(long, value_name = "CN", required_if_eq("client", "true"))]
    pub name: Option<String>,
    /// ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519.
    #[arg(long, value_name = "T", default_value = "ecdsa-p256")]
    pub key_type: String,
    /// Ask for a client certificate (EKU clientAuth): client.key and client.csr.
    #[arg(long)]
    pub client: bool,
    /// Also write DIR/NAME.csr.yaml, a Kubernetes CertificateSigningRequest named NAME.
    #[arg(long, value_name = "NAME", requires = "signer")]
    pub kubernetes: Option<String>,
    /// The manifest's signerName (example.com/registry-ca, kubernetes.io/kube-apiserver-client).
    #[arg(long, value_name = "SIGNER", requires = "kubernetes")]
    pub signer: Option<String>,
    /// Replace files that already exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The certificate signing request, PEM or DER.
    #[arg(long, value_name = "FILE")]
    pub csr: PathBuf,
    /// Sign with the CA in DIR (ca.crt and ca.key); nothing is written there.
    #[arg(long, value_name = "DIR")]
    pub ca_dir: PathBuf,
    /// The directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Validity in days, 1 to 36500, at most until the CA expires [default: 365].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub days: Option<i64>,
    /// Issue a client certificate (EKU clientAuth) instead of a server certificate.
    #[arg(long)]
    pub client: bool,
    /// Replace a certificate that already exists.
    #[arg(long)]
    pub force: bool,
}

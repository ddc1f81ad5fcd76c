//! PEM files: the checks on the files a user hands certsd (a `ca`, a client
//! certificate and its key) before anything is copied to the node.
//!
//! The checks catch what makes containerd fail later with an opaque message,
//! and one mistake that is worse than a failure: a CA bundle that carries a
//! private key, which would hand the registry's key to every node.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use rcgen::KeyPair;
use x509_parser::pem::Pem;

use crate::cert;
use x509_parser::prelude::X509Certificate;

/// Decoded PEM blocks of a file; errors name the file.
fn blocks(file: &Path, bytes: &[u8]) -> Result<Vec<Pem>> {
    if let Some(found) = split::blocks(bytes).filter(|b| !b.is_empty()) {
        return Ok(found);
    }
    let mut out = Vec::new();
    for block in Pem::iter_from_buffer(bytes) {
        match block {
            Ok(block) => out.push(block),
            Err(err) if out.is_empty() => {
                bail!(
                    "{}: not a PEM file ({err}); give a PEM (Base64 `-----BEGIN CERTIFICATE-----`) file",
                    file.display()
                )
            }
            Err(err) => bail!(
                "{}: a PEM block after the first is broken ({err})",
                file.display()
            ),
        }
    }
    if out.is_empty() {
        bail!(
            "{}: not a PEM file: no `-----BEGIN ...-----` block found",
            file.display()
        );
    }
    Ok(out)
}

fn is_private_key(label: &str) -> bool {
    label.contains("PRIVATE KEY")
}

/// What kind of problem a PEM file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// Not PEM, or a broken block.
    NotPem,
    /// A private key sits in a file every node treats as public.
    HoldsPrivateKey,
    /// No CERTIFICATE block, or one that does not parse.
    NoCertificate,
    /// A certificate outside its validity period.
    NotValidNow,
    /// A client key that is not the certificate's.
    KeyMismatch,
    /// A client key that cannot be used: missing from the file, several,
    /// encrypted, or unreadable.
    KeyUnusable,
}

/// One problem of a PEM file; `fatal` ones stop a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub fatal: bool,
    pub message: String,
}

impl Problem {
    fn fatal(kind: ProblemKind, err: &anyhow::Error) -> Problem {
        Problem {
            kind,
            fatal: true,
            message: err.to_string(),
        }
    }
}

/// Refuses a private key in a file that nodes will treat as public.
fn refuse_keys(file: &Path, blocks: &[Pem], what: &str) -> Result<()> {
    if let Some(key) = blocks.iter().find(|b| is_private_key(&b.label)) {
        bail!(
            "{}: holds a {} block. A {what} file is copied to every node and is readable by all; \
             shipping the registry's private key with it lets anyone impersonate the registry. \
             Give a file with only the certificate(s), e.g. `openssl x509 -in {} -out ca.crt`",
            file.display(),
            key.label,
            file.display()
        );
    }
    Ok(())
}

/// How far a certificate is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// Extensions left as bytes: a CA file is checked for parsing and for
    /// its validity period, and whether a certificate parses does not
    /// depend on what is inside its extensions (`x509_parser` keeps an
    /// extension it cannot read as a value, it does not fail). Reading
    /// them was a third of the check, times every CA of a fleet's rerun.
    Envelope,
    /// Extensions read: a client certificate's key usage is checked.
    Extensions,
}

fn parse_x509(der: &[u8], depth: Depth) -> Result<X509Certificate<'_>, String> {
    use x509_parser::nom::Parser as _;
    let mut parser = x509_parser::certificate::X509CertificateParser::new()
        .with_deep_parse_extensions(depth == Depth::Extensions);
    match parser.parse(der) {
        Ok((_, cert)) => Ok(cert),
        Err(err) => Err(err.to_string()),
    }
}

/// Parses every CERTIFICATE block, requiring at least one.
fn certificates<'a>(
    file: &Path,
    blocks: &'a [Pem],
    depth: Depth,
) -> Result<Vec<X509Certificate<'a>>> {
    let mut certs = Vec::new();
    for block in blocks.iter().filter(|b| b.label == "CERTIFICATE") {
        let cert = parse_x509(&block.contents, depth).map_err(|err| {
            anyhow!(
                "{}: a CERTIFICATE block does not parse ({err}); the file is damaged",
                file.display()
            )
        })?;
        certs.push(cert);
    }
    if certs.is_empty() {
        let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
        bail!(
            "{}: no certificate in this file (found {}); give a PEM CERTIFICATE",
            file.display(),
            labels.join(", ")
        );
    }
    Ok(certs)
}

/// Every problem of a `ca` file, in the order they are checked.
pub fn ca_problems(file: &Path, bytes: &[u8]) -> Vec<Problem> {
    ca_problems_read(file, bytes, Depth::Envelope)
}

fn ca_problems_read(file: &Path, bytes: &[u8], depth: Depth) -> Vec<Problem> {
    let blocks = match blocks(file, bytes) {
        Ok(blocks) => blocks,
        Err(err) => return vec![Problem::fatal(ProblemKind::NotPem, &err)],
    };
    let mut problems = Vec::new();
    if let Err(err) = refuse_keys(file, &blocks, "CA") {
        problems.push(Problem::fatal(ProblemKind::HoldsPrivateKey, &err));
    }
    match certificates(file, &blocks, depth) {
        Err(err) => problems.push(Problem::fatal(ProblemKind::NoCertificate, &err)),
        Ok(certs) => problems.extend(certs.iter().filter_map(|c| {
            expiry_warning(file, c).map(|message| Problem {
                kind: ProblemKind::NotValidNow,
                fatal: false,
                message,
            })
        })),
    }
    problems
}

/// Validates a `ca` file: the first fatal problem is the error; the rest
/// (for example an expired certificate) are returned as warnings.
pub fn check_ca(file: &Path, bytes: &[u8]) -> Result<Vec<String>> {
    let problems = ca_problems(file, bytes);
    if let Some(fatal) = problems.iter().find(|p| p.fatal) {
        bail!("{}", fatal.message);
    }
    Ok(problems.into_iter().map(|p| p.message).collect())
}

fn expiry_warning(file: &Path, cert: &X509Certificate<'_>) -> Option<String> {
    (!cert.validity().is_valid()).then(|| {
        format!(
            "{}: certificate {} is not valid now (valid {} to {}); TLS will fail until it is replaced",
            file.display(),
            cert.subject(),
            cert.validity().not_before,
            cert.validity().not_after
        )
    })
}

/// Validates a client certificate and its key: PEM, no key in the
/// certificate file, an unencrypted key, and the two belong together.
pub fn check_client_pair(
    cert_file: &Path,
    cert: &[u8],
    key_file: &Path,
    key: &[u8],
) -> Result<Vec<String>> {
    let cert_blocks = blocks(cert_file, cert)?;
    refuse_keys(cert_file, &cert_blocks, "client certificate")?;
    let certs = certificates(cert_file, &cert_blocks, Depth::Extensions)?;
    let leaf = &certs[0];
    let key_pair = load_key(key_file, key)?;
    if !cert::matches_public_key(&key_pair, &leaf.public_key().subject_public_key.data) {
        bail!(
            "{} and {} do not match: the key is not the one the certificate was issued for; \
             give the key made together with this certificate",
            cert_file.display(),
            key_file.display()
        );
    }
    let mut warnings: Vec<String> = expiry_warning(cert_file, leaf).into_iter().collect();
    if let Ok(Some(eku)) = leaf.extended_key_usage()
        && !eku.value.client_auth
        && !eku.value.any
    {
        warnings.push(format!(
                "{}: the certificate's extended key usage lacks clientAuth; registries that verify client certificates will refuse it",
                cert_file.display()
            ));
    }
    Ok(warnings)
}

/// Every problem of a client pair as containerd loads it
/// (`tls.X509KeyPair`: certificates from the first file, the key from the
/// second, which may be the same file). Empty when the pair works.
pub fn client_problems(cert_file: &Path, cert: &[u8], key_file: &Path, key: &[u8]) -> Vec<Problem> {
    let leaf_key = blocks(cert_file, cert)
        .map_err(|e| Problem::fatal(ProblemKind::NotPem, &e))
        .and_then(|blocks| {
            let certs = certificates(cert_file, &blocks, Depth::Extensions)
                .map_err(|e| Problem::fatal(ProblemKind::NoCertificate, &e))?;
            Ok(certs[0].public_key().subject_public_key.data.to_vec())
        });
    let pair = load_key(key_file, key).map_err(|e| {
        let kind = if blocks(key_file, key).is_err() {
            ProblemKind::NotPem
        } else {
            ProblemKind::KeyUnusable
        };
        Problem::fatal(kind, &e)
    });
    match (leaf_key, pair) {
        (Ok(leaf), Ok(pair)) if !cert::matches_public_key(&pair, &leaf) => {
            vec![Problem::fatal(
                ProblemKind::KeyMismatch,
                &anyhow!(
                    "{} and {} do not match: the key is not the one the certificate was issued for",
                    cert_file.display(),
                    key_file.display()
                ),
            )]
        }
        (leaf, pair) => leaf.err().into_iter().chain(pair.err()).collect(),
    }
}

fn load_key(file: &Path, bytes: &[u8]) -> Result<KeyPair> {
    let blocks = blocks(file, bytes)?;
    let keys: Vec<&Pem> = blocks.iter().filter(|b| is_private_key(&b.label)).collect();
    let [key] = keys.as_slice() else {
        bail!(
            "{}: expected exactly one PRIVATE KEY block, found {}",
            file.display(),
            keys.len()
        );
    };
    if key.label.contains("ENCRYPTED") {
        bail!(
            "{}: the key is encrypted; containerd cannot use a passphrase, give an unencrypted key (`openssl pkey -in KEY -out plain.key`)",
            file.display()
        );
    }
    let text = std::str::from_utf8(bytes).map_err(|_| anyhow!("{}: not text", file.display()))?;
    cert::load_private_key(text).map_err(|err| {
        anyhow!(
            "{}: the private key cannot be read ({err}); give a PKCS#8, EC or RSA key in PEM",
            file.display()
        )
    })
}

mod split;

#[cfg(test)]
#[path = "pem_tests.rs"]
mod tests;

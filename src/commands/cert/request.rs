//! `certsd cert csr` and `certsd cert sign`: the two halves of working with
//! an organisation's own CA (a key and a CSR on the registry host; the CSR
//! signed with certsd's profile by whoever holds the CA).

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::inspect::print_signed;
use super::{CERT_MODE, KEY_MODE, Outputs, load_ca, print_json, sans};
use crate::cert::{self, KeyType, LeafRole};
use crate::exit_codes::usage;
use crate::node::read_required;
use crate::settings::{
    CsrJob, Field, IssueSettings, IssueSettingsInput, Origin, Output, SignJob, WriteSettings,
};

pub(super) fn csr(
    job: &CsrJob,
    output: Output,
    write: WriteSettings,
    origin: &Origin,
) -> Result<()> {
    let input = IssueSettingsInput {
        out: job.out.clone(),
        days: None,
        key_type: job.key_type.clone(),
        force: job.force,
    };
    let issue = IssueSettings::new(&input, cert::LEAF_DAYS, origin)?;
    let (role, stem) = role(job.client);
    let sans = sans(&job.dns, &job.ip, origin)?;
    if let Some(name) = &job.name {
        super::check_name(name, origin)?;
    }
    if role == LeafRole::Server && sans.is_empty() {
        return Err(usage(format!(
            "a server CSR needs at least one {} NAME or {} IP",
            origin.name(Field::Dns),
            origin.name(Field::Ip)
        )));
    }
    let kube = kube_manifest(job, origin)?;
    let mut names = vec![format!("{stem}.csr"), format!("{stem}.key")];
    names.extend(kube.map(|(name, _)| format!("{name}.csr.yaml")));
    let out = Outputs::new(&issue, write, &names)?;
    let made = cert::new_csr(role, job.name.as_deref(), &sans, issue.key)?;
    let mut contents = vec![
        (made.csr_pem.clone(), CERT_MODE, false),
        (made.key_pem, KEY_MODE, true),
    ];
    if let Some((name, signer)) = kube {
        let yaml = cert::kubernetes_csr(name, signer, &made.csr_pem, role, issue.key)?;
        contents.push((yaml, CERT_MODE, false));
    }
    let files = out.write(contents)?;
    let request = cert::inspect_csr(made.csr_pem.as_bytes())?;
    print_json(
        output,
        &serde_json::json!({ "files": files, "request": request }),
    )
}

/// `--kubernetes NAME --signer SIGNER`, checked: the manifest's name and signer.
fn kube_manifest<'a>(job: &'a CsrJob, origin: &Origin) -> Result<Option<(&'a str, &'a str)>> {
    let Some((name, signer)) = &job.kubernetes else {
        return Ok(None);
    };
    cert::check_object_name(name)
        .map_err(|err| usage(format!("{}: {err}", origin.name(Field::Kubernetes))))?;
    cert::check_signer_name(signer)
        .map_err(|err| usage(format!("{}: {err}", origin.name(Field::Signer))))?;
    Ok(Some((name, signer)))
}

pub(super) fn sign(
    job: &SignJob,
    output: Output,
    write: WriteSettings,
    origin: &Origin,
) -> Result<()> {
    let input = IssueSettingsInput {
        out: job.out.clone(),
        days: job.days,
        key_type: KeyType::default().name().to_string(),
        force: job.force,
    };
    let issue = IssueSettings::new(&input, cert::LEAF_DAYS, origin)?;
    let (role, stem) = role(job.client);
    let out = Outputs::new(&issue, write, &[format!("{stem}.crt")])?;
    check_not_ca_dir(&job.out, &job.ca_dir, origin)?;
    let at = job.csr.display();
    let bytes = read_required(&job.csr, &format!("reading the CSR {at}"))?;
    let signer = load_ca(&job.ca_dir)?;
    let issued = cert::sign_csr(&signer, &bytes, role, issue.days)
        .with_context(|| format!("CSR {at}: not signed"))?;
    let info = cert::inspect_pem(&issued.cert_pem)?
        .into_iter()
        .next()
        .context("re-reading the signed certificate")?;
    let files = out.write(vec![(issued.cert_pem.clone(), CERT_MODE, false)])?;
    if output == Output::Text {
        return print_signed(
            &mut std::io::stdout().lock(),
            &job.csr,
            &info,
            &issued.not_copied,
        );
    }
    let report = serde_json::json!({
        "files": files,
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

/// `sign` never writes into the CA directory.
fn check_not_ca_dir(out: &Path, ca_dir: &Path, origin: &Origin) -> Result<()> {
    if let (Ok(a), Ok(b)) = (fs::canonicalize(out), fs::canonicalize(ca_dir))
        && a == b
    {
        return Err(usage(format!(
            "{} must not be the CA directory ({}): give another directory",
            origin.name(Field::Out),
            origin.name(Field::CaDir)
        )));
    }
    Ok(())
}

//! One registry's trust request (`--host` and the TRUST flags), validated.
//!
//! Everything is checked before anything is planned: the host name, URLs,
//! capabilities, headers, and the PEM files that will be copied to the node.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cert::{KeyType, San};
use crate::cli::TrustArgs;
use crate::exit_codes::usage;
use crate::host::RegistryHost;
use crate::issuance::{CaSource, CertRequest};
use crate::paths::NodePath;
use crate::trust_files;
use crate::version::{ContainerdVersion, Target};

/// The name of the CA copy in certs.d/HOST/ when certsd issues certificates.
pub const ISSUED_CA_NAME: &str = "ca.crt";

/// Where `--self-signed` keeps the registry's certificates by default.
pub const DEFAULT_CERT_DIR: &str = "/etc/certsd";

/// A file given on the command line, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The path as given (read from the real filesystem, not under `--root`).
    pub source: PathBuf,
    /// The name it gets inside certs.d/HOST/.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// What `--host ... TRUST...` asks for.
#[derive(Debug, Clone)]
pub struct HostRequest {
    pub host: RegistryHost,
    pub server: String,
    pub mirrors: Vec<String>,
    pub ca: Vec<InputFile>,
    /// (certificate, key)
    pub client: Option<(InputFile, InputFile)>,
    pub skip_verify: bool,
    pub capabilities: Vec<String>,
    pub headers: Vec<(String, Vec<String>)>,
    /// Applies to the mirrors, and to the server only when `--server` named it:
    /// the default server is a real registry that needs its `/v2`.
    pub override_path: bool,
    /// `--server` was given (not derived from the host name).
    pub server_explicit: bool,
    /// `--self-signed` / `--ca-dir`: certificates to make for this host.
    pub cert: Option<CertRequest>,
    /// Warnings found while checking the inputs.
    pub warnings: Vec<String>,
}

impl HostRequest {
    /// `Ok(None)` when no `--host` was given.
    pub fn from_cli(args: &TrustArgs, target: Option<&Target>) -> Result<Option<HostRequest>> {
        let Some(raw_host) = &args.host else {
            return Ok(None);
        };
        let host = RegistryHost::parse(raw_host)?;
        let server = match &args.server {
            Some(url) => endpoint_url("--server", url)?,
            None => host.default_server(),
        };
        let mirrors = mirrors(&args.mirror)?;
        if args.override_path && mirrors.is_empty() && args.server.is_none() {
            bail!(usage(
                "--override-path applies to URLs that already hold the API path: give them with --mirror or --server (the default server https://HOST needs /v2 appended)"
            ));
        }
        let capabilities = capabilities(args.capabilities.as_deref(), target.map(|t| t.version))?;
        let headers = headers(&args.header)?;
        let mut warnings = Vec::new();
        let ca = ca_files(&args.ca, &mut warnings)?;
        let client = client_pair(args, &mut warnings)?;
        check_names(&ca, client.as_ref())?;
        let cert = cert_request(args, &host)?;
        let copied = ca.iter().chain(client.iter().flat_map(|(c, k)| [c, k]));
        if let Some(file) = copied
            .filter(|_| cert.is_some())
            .find(|f| f.name == ISSUED_CA_NAME)
        {
            bail!(usage(format!(
                "{}: the name {ISSUED_CA_NAME} is taken by the CA of --self-signed/--ca-dir in certs.d/HOST/; rename the file",
                file.source.display()
            )));
        }
        if args.skip_verify && !ca.is_empty() {
            warnings.push("--skip-verify turns certificate checks off: the --ca files are written but not used".into());
        }
        if !args.override_path
            && std::iter::once(&server)
                .chain(&mirrors)
                .any(|u| u.trim_end_matches('/').ends_with("/v2"))
        {
            warnings.push("an endpoint URL ends in /v2: containerd appends /v2 itself unless --override-path is given, so it would ask for /v2/v2/".into());
        }
        if !capabilities.iter().any(|c| c == "resolve") {
            warnings.push("capabilities without `resolve`: containerd will not ask these endpoints to resolve tags, so pulls by tag go to the server".into());
        }
        Ok(Some(HostRequest {
            host,
            server,
            mirrors,
            ca,
            client,
            skip_verify: args.skip_verify,
            capabilities,
            headers,
            override_path: args.override_path,
            server_explicit: args.server.is_some(),
            cert,
            warnings,
        }))
    }
}

/// `--self-signed` / `--ca-dir` with `--cert-dir`, `--san`, `--renew*`.
fn cert_request(args: &TrustArgs, host: &RegistryHost) -> Result<Option<CertRequest>> {
    if !args.self_signed && args.ca_dir.is_none() {
        return Ok(None);
    }
    if args.renew_before >= crate::cert::LEAF_DAYS {
        bail!(usage(format!(
            "--renew-before {}: must be less than a server certificate's life ({} days), or every run would make a new one",
            args.renew_before,
            crate::cert::LEAF_DAYS
        )));
    }
    let mut sans =
        vec![San::parse(host.name()).map_err(|e| usage(format!("--host {}: {e}", host.as_str())))?];
    for raw in &args.san {
        let san = San::parse(raw).map_err(|e| usage(format!("--san {raw:?}: {e}")))?;
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    let cert_dir = match &args.cert_dir {
        Some(dir) => NodePath::parse("--cert-dir", dir)?,
        None => NodePath::fixed(DEFAULT_CERT_DIR).join(host.as_str()),
    };
    let ca = match &args.ca_dir {
        None => CaSource::Managed,
        Some(dir) => {
            let read = |name: &str| {
                let path = dir.join(name);
                std::fs::read_to_string(&path)
                    .with_context(|| format!("--ca-dir {}: cannot read {name}", dir.display()))
            };
            CaSource::Given {
                dir: dir.clone(),
                cert_pem: read("ca.crt")?,
                key_pem: read("ca.key")?,
            }
        }
    };
    Ok(Some(CertRequest {
        sans,
        cert_dir,
        ca,
        renew_before: args.renew_before,
        renew: args.renew,
        key_type: KeyType::default(),
        ca_name: format!("certsd CA for {}", host.as_str()),
    }))
}

/// An http(s) URL; a bare `host:port` gets `https://` as containerd would.
fn endpoint_url(flag: &str, raw: &str) -> Result<String> {
    let raw = raw.trim();
    let full = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let why = match url::Url::parse(&full) {
        Err(err) => Some(err.to_string()),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            Some(format!("scheme {:?} is not http or https", u.scheme()))
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Some("no host".into()),
        Ok(u) if !u.username().is_empty() || u.password().is_some() => Some(
            "credentials do not belong in the URL (they would be written to disk in clear)".into(),
        ),
        Ok(u) if u.query().is_some() || u.fragment().is_some() => {
            Some("a query or fragment is not allowed".into())
        }
        Ok(_) if full.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Some("spaces and control characters are not allowed".into())
        }
        Ok(_) => None,
    };
    match why {
        Some(why) => Err(usage(format!(
            "{flag} {raw:?}: {why}; give an http:// or https:// URL such as https://mirror.example.com:5000"
        ))),
        None => Ok(full),
    }
}

fn mirrors(raw: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for m in raw {
        let url = endpoint_url("--mirror", m)?;
        if out.contains(&url) {
            bail!(usage(format!("--mirror {url} is given twice")));
        }
        out.push(url);
    }
    Ok(out)
}

/// `pull,resolve,push` (and `referrers` on containerd 2.2+).
fn capabilities(raw: Option<&str>, version: Option<ContainerdVersion>) -> Result<Vec<String>> {
    let raw = raw.unwrap_or("pull,resolve");
    let referrers_ok = version.is_some_and(|v| (v.major, v.minor) >= (2, 2));
    let mut out: Vec<String> = Vec::new();
    for cap in raw.split(',').map(str::trim) {
        match cap {
            "pull" | "resolve" | "push" => {}
            "referrers" if referrers_ok => {}
            "referrers" => bail!(usage(
                "--capabilities referrers needs containerd 2.2 or newer (older versions ignore the whole hosts.toml over an unknown capability); pass --containerd-version if yours is newer"
            )),
            other => bail!(usage(format!(
                "--capabilities: {other:?} is not a capability; use a comma list of pull, resolve, push"
            ))),
        }
        if !out.iter().any(|c| c == cap) {
            out.push(cap.to_string());
        }
    }
    Ok(out)
}

/// `Name: value` pairs, grouped by name in the order first given.
fn headers(raw: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for h in raw {
        let Some((name, value)) = h.split_once(':') else {
            bail!(usage(format!("--header {h:?}: write it as 'Name: value'")));
        };
        let (name, value) = (name.trim(), value.trim());
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            bail!(usage(format!(
                "--header {h:?}: {name:?} is not a valid header name"
            )));
        }
        if value.chars().any(char::is_control) {
            bail!(usage(format!(
                "--header {name}: the value holds a control character (a line break would inject headers)"
            )));
        }
        match out.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, values)) => values.push(value.to_string()),
            None => out.push((name.to_string(), vec![value.to_string()])),
        }
    }
    Ok(out)
}

fn read_input(flag: &str, path: &Path) -> Result<InputFile> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.starts_with('.'))
        .ok_or_else(|| {
            usage(format!(
                "{flag} {}: give a file with a plain UTF-8 name",
                path.display()
            ))
        })?
        .to_string();
    if path.is_dir() {
        bail!(
            "{flag} {}: is a directory; give the PEM file itself",
            path.display()
        );
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("{flag} {}: cannot read", path.display()))?;
    Ok(InputFile {
        source: path.to_path_buf(),
        name,
        bytes,
    })
}

fn ca_files(paths: &[PathBuf], warnings: &mut Vec<String>) -> Result<Vec<InputFile>> {
    let mut out = Vec::new();
    for path in paths {
        let file = read_input("--ca", path)?;
        warnings.extend(trust_files::check_ca(path, &file.bytes)?);
        // The same file twice (a script listing a CA again) is harmless: keep one.
        if !out
            .iter()
            .any(|o: &InputFile| o.name == file.name && o.bytes == file.bytes)
        {
            out.push(file);
        }
    }
    Ok(out)
}

fn client_pair(
    args: &TrustArgs,
    warnings: &mut Vec<String>,
) -> Result<Option<(InputFile, InputFile)>> {
    let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) else {
        return Ok(None);
    };
    let cert = read_input("--client-cert", cert)?;
    let key = read_input("--client-key", key)?;
    warnings.extend(trust_files::check_client_pair(
        &cert.source,
        &cert.bytes,
        &key.source,
        &key.bytes,
    )?);
    Ok(Some((cert, key)))
}

/// The copies share one directory with hosts.toml: names must not collide.
fn check_names(ca: &[InputFile], client: Option<&(InputFile, InputFile)>) -> Result<()> {
    let mut seen: Vec<&InputFile> = Vec::new();
    let all = ca
        .iter()
        .chain(client.into_iter().flat_map(|(c, k)| [c, k]));
    for file in all {
        if file.name == "hosts.toml" {
            bail!(usage(format!(
                "{}: a file named hosts.toml cannot be copied next to hosts.toml; rename it",
                file.source.display()
            )));
        }
        if let Some(other) = seen.iter().find(|o| o.name == file.name) {
            bail!(usage(format!(
                "{} and {} would both be copied as {}; rename one",
                other.source.display(),
                file.source.display(),
                file.name
            )));
        }
        seen.push(file);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_https_and_refuse_other_schemes() {
        assert_eq!(
            endpoint_url("--mirror", "m:5000").unwrap(),
            "https://m:5000"
        );
        assert_eq!(endpoint_url("--mirror", "http://m").unwrap(), "http://m");
        for bad in [
            "ftp://m",
            "https://",
            "https://u:p@m",
            "https://m/?q=1",
            "https://m /x",
        ] {
            assert!(endpoint_url("--mirror", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn capabilities_are_checked_and_deduplicated() {
        assert_eq!(capabilities(None, None).unwrap(), ["pull", "resolve"]);
        assert_eq!(
            capabilities(Some("pull,pull,push"), None).unwrap(),
            ["pull", "push"]
        );
        assert!(capabilities(Some("pull,fly"), None).is_err());
        assert!(capabilities(Some("referrers"), None).is_err());
        let v22 = "2.2.0".parse().ok();
        assert!(capabilities(Some("pull,referrers"), v22).is_ok());
    }

    #[test]
    fn headers_group_by_name_and_refuse_injection() {
        let h = headers(&["X-A: 1".into(), "x-a: 2".into(), "B:3".into()]).unwrap();
        assert_eq!(
            h,
            vec![
                ("X-A".into(), vec!["1".into(), "2".into()]),
                ("B".into(), vec!["3".into()])
            ]
        );
        assert!(headers(&["no colon".into()]).is_err());
        assert!(headers(&["Bad Name: v".into()]).is_err());
        assert!(headers(&["X: a\r\nEvil: b".into()]).is_err());
    }
}

//! One registry's trust request, validated.
//!
//! Everything is checked before anything is planned: the host name, URLs,
//! capabilities, headers, and the PEM files that will be copied to the node.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::cert::{self, CertRequest, IssueInput};
use super::endpoint::{self, AUTHORIZATION, AuthInput, MirrorTrust, TrustOverrides};
use super::host::RegistryHost;
use super::origin::{Field, Origin};
use crate::exit_codes::usage;
use crate::formats::hosts_toml::Capability;
use crate::formats::pem;
use crate::node::read_required;
use crate::version::{ContainerdVersion, Target};

/// The name of the CA copy in certs.d/HOST/ when certsd issues certificates.
pub const ISSUED_CA_NAME: &str = "ca.crt";

/// One registry's settings as given (flags or a spec entry), unchecked.
#[derive(Debug, Clone, Default)]
pub struct RegistryInput {
    pub host: String,
    pub server: Option<String>,
    pub mirrors: Vec<String>,
    pub ca: Vec<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub skip_verify: bool,
    /// `None`: the default (pull, resolve).
    pub capabilities: Option<Vec<String>>,
    /// `Name: value` lines.
    pub headers: Vec<String>,
    pub override_path: bool,
    /// Certificates to make for the registry (self-signed or from a CA dir).
    /// Boxed, as `auth`: rare, and a fleet's spec holds thousands of entries.
    pub issue: Option<Box<IssueInput>>,
    /// Replace or drop trust anchors in an existing hosts.toml that certsd did not write.
    pub replace_trust: bool,
    /// containerd's `dial_timeout` (2.0.7+/2.1+).
    pub dial_timeout: Option<String>,
    /// A registry credential, sent as an `Authorization: Basic` header.
    pub auth: Option<Box<AuthInput>>,
    /// A mirror's own settings: the index into `mirrors`, and its overrides.
    pub mirror_trust: Vec<(usize, TrustOverrides)>,
}

/// A file the user gave, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The path as given (read from the real filesystem, not under `--root`).
    pub source: PathBuf,
    /// The name it gets inside certs.d/HOST/.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A client certificate and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPair {
    pub cert: InputFile,
    pub key: InputFile,
}

/// What one registry entry asks for, validated.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // each is one on/off setting of the entry
pub struct RegistryRequest {
    pub host: RegistryHost,
    pub server: String,
    pub mirrors: Vec<String>,
    pub ca: Vec<InputFile>,
    pub client: Option<ClientPair>,
    pub skip_verify: bool,
    pub capabilities: Vec<Capability>,
    /// The capabilities were given (not the default): existing endpoints get them too.
    pub capabilities_given: bool,
    pub headers: Vec<(String, Vec<String>)>,
    /// Applies to the mirrors, and to the server only when it was named:
    /// the default server is a real registry that needs its `/v2`.
    pub override_path: bool,
    /// The server was given (not derived from the host name).
    pub server_explicit: bool,
    /// Certificates to make for this host.
    pub cert: Option<CertRequest>,
    /// Warnings found while checking the inputs.
    pub warnings: Vec<String>,
    /// Replacing or dropping anchors certsd did not write is accepted.
    pub replace_trust: bool,
    /// Where the entry came from, for the planner's messages.
    pub origin: Origin,
    /// containerd's `dial_timeout` for every endpoint that does not set its own.
    pub dial_timeout: Option<String>,
    /// One per mirror, in order: what that mirror sets for itself.
    pub mirror_trust: Vec<MirrorTrust>,
    /// `headers` holds a credential (from `auth`): hosts.toml is written 0600.
    pub credential: bool,
}

impl RegistryRequest {
    /// Checks one entry; `target` is the containerd the files are for.
    pub fn validate(
        input: &RegistryInput,
        origin: &Origin,
        target: Option<&Target>,
    ) -> Result<RegistryRequest> {
        let name = |f: Field| origin.label(f);
        let host = RegistryHost::parse(&input.host, &name(Field::Host))?;
        let (server, mirrors) = endpoints(input, &host, origin)?;
        let capabilities = capabilities(
            input.capabilities.as_deref(),
            target.map(|t| t.version),
            origin,
        )?;
        let mut headers = headers(&name(Field::Header), &input.headers)?;
        let credential = add_auth(input, origin, &mut headers)?;
        let mut warnings = Vec::new();
        let ca = ca_files(&name(Field::Ca), &input.ca, &mut warnings)?;
        let client = client_pair(input, origin, &mut warnings)?;
        let mirror_trust = mirror_trusts(input, mirrors.len(), origin, target, &mut warnings)?;
        check_names(&ca, client.as_ref())?;
        check_mirror_names(&ca, client.as_ref(), &mirror_trust)?;
        let dial_timeout = input
            .dial_timeout
            .as_deref()
            .map(|d| endpoint::dial_timeout(d, target, origin))
            .transpose()?;
        let cert = input
            .issue
            .as_ref()
            .map(|issue| cert::cert_request(issue, &host, origin))
            .transpose()?;
        check_issued_name(&ca, client.as_ref(), cert.is_some(), origin)?;
        let request = RegistryRequest {
            host,
            server,
            mirrors,
            ca,
            client,
            skip_verify: input.skip_verify,
            capabilities,
            capabilities_given: input.capabilities.is_some(),
            headers,
            override_path: input.override_path,
            server_explicit: input.server.is_some(),
            cert,
            warnings,
            replace_trust: input.replace_trust,
            origin: origin.clone(),
            credential: credential || mirror_trust.iter().any(|m| m.credential),
            dial_timeout,
            mirror_trust,
        };
        Ok(request.with_warnings(origin))
    }

    /// Adds the warnings about settings that work but probably surprise.
    fn with_warnings(mut self, origin: &Origin) -> RegistryRequest {
        if self.skip_verify && !self.ca.is_empty() {
            self.warnings.push(format!(
                "{} turns certificate checks off: the {} files are written but not used",
                origin.name(Field::SkipVerify),
                origin.name(Field::Ca)
            ));
        }
        if !self.override_path
            && std::iter::once(&self.server)
                .chain(&self.mirrors)
                .any(|u| u.trim_end_matches('/').ends_with("/v2"))
        {
            self.warnings.push(format!(
                "an endpoint URL ends in /v2: containerd appends /v2 itself unless {} is given, so it would ask for /v2/v2/",
                origin.name(Field::OverridePath)
            ));
        }
        if !self.capabilities.contains(&Capability::Resolve) {
            self.warnings.push("capabilities without `resolve`: containerd will not ask these endpoints to resolve tags, so pulls by tag go to the server".into());
        }
        self
    }
}

/// The server URL and the mirrors, checked.
fn endpoints(
    input: &RegistryInput,
    host: &RegistryHost,
    origin: &Origin,
) -> Result<(String, Vec<String>)> {
    let name = |f: Field| origin.label(f);
    let server = match &input.server {
        Some(url) => endpoint_url(&name(Field::Server), url)?,
        None => host.default_server(),
    };
    let mirrors = mirrors(&name(Field::Mirror), &input.mirrors)?;
    if host.is_default_dir() && (mirrors.is_empty() || input.server.is_some()) {
        bail!(usage(format!(
            "{} _default (every registry without a directory of its own) needs {} and takes no {}: containerd asks the image's own registry last",
            name(Field::Host),
            name(Field::Mirror),
            name(Field::Server)
        )));
    }
    if input.override_path && mirrors.is_empty() && input.server.is_none() {
        bail!(usage(format!(
            "{} applies to URLs that already hold the API path: give them with {} or {} (the default server https://HOST needs /v2 appended)",
            name(Field::OverridePath),
            name(Field::Mirror),
            name(Field::Server)
        )));
    }
    Ok((server, mirrors))
}

/// Adds the `auth` header; says whether one was added.
fn add_auth(
    input: &RegistryInput,
    origin: &Origin,
    headers: &mut Vec<(String, Vec<String>)>,
) -> Result<bool> {
    let Some(auth) = &input.auth else {
        return Ok(false);
    };
    if headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(AUTHORIZATION))
    {
        bail!(usage(format!(
            "{} would set the {AUTHORIZATION} header, which {} already sets; keep one",
            origin.name(Field::Auth),
            origin.name(Field::Header)
        )));
    }
    let line = endpoint::auth_header(auth, origin)?;
    let value = line
        .split_once(": ")
        .map_or(String::new(), |(_, v)| v.to_string());
    headers.push((AUTHORIZATION.to_string(), vec![value]));
    Ok(true)
}

/// Each mirror's overrides, one entry per mirror (empty: inherit everything).
fn mirror_trusts(
    input: &RegistryInput,
    count: usize,
    origin: &Origin,
    target: Option<&Target>,
    warnings: &mut Vec<String>,
) -> Result<Vec<MirrorTrust>> {
    let mut out = vec![MirrorTrust::default(); count];
    for (index, overrides) in &input.mirror_trust {
        let trust = endpoint::mirror_trust(overrides, origin, target, warnings)?;
        if let Some(slot) = out.get_mut(*index) {
            *slot = trust;
        }
    }
    Ok(out)
}

/// A mirror's own files share the host directory with the registry's: the
/// same file twice is one copy, two different files under one name are refused.
fn check_mirror_names(
    ca: &[InputFile],
    client: Option<&ClientPair>,
    mirrors: &[MirrorTrust],
) -> Result<()> {
    let mut seen: Vec<&InputFile> = ca
        .iter()
        .chain(client.into_iter().flat_map(|p| [&p.cert, &p.key]))
        .collect();
    for mirror in mirrors {
        let own = mirror.ca.iter().flatten().chain(
            mirror
                .client
                .as_ref()
                .into_iter()
                .flat_map(|p| [&p.cert, &p.key]),
        );
        for file in own {
            if file.name == "hosts.toml" {
                bail!(usage(format!(
                    "{}: a file named hosts.toml cannot be copied next to hosts.toml; rename it",
                    file.source.display()
                )));
            }
            match seen.iter().find(|o| o.name == file.name) {
                Some(other) if other.bytes != file.bytes => bail!(usage(format!(
                    "{} and {} would both be copied as {}; rename one",
                    other.source.display(),
                    file.source.display(),
                    file.name
                ))),
                Some(_) => {}
                None => seen.push(file),
            }
        }
    }
    Ok(())
}

/// With issued certificates, certs.d/HOST/ca.crt is certsd's: no copy may take the name.
fn check_issued_name(
    ca: &[InputFile],
    client: Option<&ClientPair>,
    issues: bool,
    origin: &Origin,
) -> Result<()> {
    let copied = ca
        .iter()
        .chain(client.into_iter().flat_map(|p| [&p.cert, &p.key]));
    if let Some(file) = copied.filter(|_| issues).find(|f| f.name == ISSUED_CA_NAME) {
        bail!(usage(format!(
            "{}: the name {ISSUED_CA_NAME} is taken by the CA of {}/{} in certs.d/HOST/; rename the file",
            file.source.display(),
            origin.name(Field::SelfSigned),
            origin.name(Field::CaDir)
        )));
    }
    Ok(())
}

/// An http(s) URL; a bare `host:port` gets `https://` as containerd would.
///
/// Only URLs that Go's `net/url` (so containerd) parses back to the same
/// host are accepted: Go and the WHATWG parser behind the `url` crate
/// disagree on backslashes, percent-escapes and non-ASCII hosts, and a
/// URL containerd cannot parse makes it drop the whole hosts.toml. So the
/// authority is checked by hand, the way Go splits it (it ends at the
/// first `/`), and the host must be one certsd would accept as `--host`.
/// A refusal never shows what stands before an `@` (a password or token).
pub fn endpoint_url(label: &(impl Display + ?Sized), raw: &str) -> Result<String> {
    let raw = raw.trim();
    let full = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    match url_problem(&full) {
        Some(why) => Err(usage(format!(
            "{label} {:?}: {why}; give an http:// or https:// URL such as https://mirror.example.com:5000",
            redact(raw)
        ))),
        None => Ok(full),
    }
}

/// `raw` with everything between the scheme and the last `@` replaced by
/// `***`, for messages: the user-info of a URL is a secret.
pub fn redact(raw: &str) -> String {
    let Some(at) = raw.rfind('@') else {
        return raw.to_string();
    };
    let start = raw.find("://").map_or(0, |i| i + 3).min(at);
    format!("{}***{}", &raw[..start], &raw[at..])
}

fn url_problem(full: &str) -> Option<String> {
    if full.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("spaces and control characters are not allowed".into());
    }
    if full.contains('\\') {
        return Some("a backslash is not allowed (containerd and other parsers read it differently); use / in paths".into());
    }
    let (_, rest) = full.split_once("://")?;
    // Go: the authority ends at the first `/` (after `?` and `#` are cut).
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if rest.contains('@') {
        return Some(
            "credentials do not belong in the URL (they would be written to disk in clear)".into(),
        );
    }
    if let Some(why) = super::host::host_problem(authority) {
        return Some(format!("host {authority:?}: {why}"));
    }
    let path = &rest[authority.len()..];
    if !percent_escapes_ok(path) {
        return Some("a `%` in the path must start an escape such as %2F".into());
    }
    match url::Url::parse(full) {
        Err(err) => Some(err.to_string()),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            Some(format!("scheme {:?} is not http or https", u.scheme()))
        }
        Ok(u) if u.query().is_some() || u.fragment().is_some() => {
            Some("a query or fragment is not allowed".into())
        }
        Ok(_) => None,
    }
}

/// Go's `unescape` refuses a `%` not followed by two hex digits.
fn percent_escapes_ok(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

fn mirrors(label: &(impl Display + ?Sized), raw: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for m in raw {
        let url = endpoint_url(label, m)?;
        if out.contains(&url) {
            bail!(usage(format!("{label} {url} is given twice")));
        }
        out.push(url);
    }
    Ok(out)
}

/// `pull`, `resolve`, `push` (and `referrers` on containerd 2.2+).
pub(super) fn capabilities(
    raw: Option<&[String]>,
    version: Option<ContainerdVersion>,
    origin: &Origin,
) -> Result<Vec<Capability>> {
    let Some(raw) = raw else {
        return Ok(vec![Capability::Pull, Capability::Resolve]);
    };
    let label = origin.name(Field::Capabilities);
    let referrers_ok = version.is_some_and(|v| (v.major, v.minor) >= (2, 2));
    let mut out: Vec<Capability> = Vec::new();
    for name in raw.iter().map(|c| c.trim()) {
        let cap = match Capability::parse(name) {
            Some(Capability::Referrers) if !referrers_ok => bail!(usage(format!(
                "{label} referrers needs containerd 2.2 or newer (older versions ignore the whole hosts.toml over an unknown capability); pass {} if yours is newer",
                origin.name(Field::ContainerdVersion)
            ))),
            Some(cap) => cap,
            None => bail!(usage(format!(
                "{label}: {name:?} is not a capability; use a comma list of pull, resolve, push"
            ))),
        };
        if !out.contains(&cap) {
            out.push(cap);
        }
    }
    Ok(out)
}

/// `Name: value` pairs, grouped by name in the order first given.
pub(super) fn headers(
    label: &(impl Display + ?Sized),
    raw: &[String],
) -> Result<Vec<(String, Vec<String>)>> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for h in raw {
        let Some((name, value)) = h.split_once(':') else {
            bail!(usage(format!("{label} {h:?}: write it as 'Name: value'")));
        };
        let (name, value) = (name.trim(), value.trim());
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            bail!(usage(format!(
                "{label} {h:?}: {name:?} is not a valid header name"
            )));
        }
        if value.chars().any(char::is_control) {
            bail!(usage(format!(
                "{label} {name}: the value holds a control character (a line break would inject headers)"
            )));
        }
        match out.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, values)) => values.push(value.to_string()),
            None => out.push((name.to_string(), vec![value.to_string()])),
        }
    }
    Ok(out)
}

fn read_input(label: &(impl Display + ?Sized), path: &Path) -> Result<InputFile> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.starts_with('.'))
        .ok_or_else(|| {
            usage(format!(
                "{label} {}: give a file with a plain UTF-8 name",
                path.display()
            ))
        })?
        .to_string();
    let bytes = read_required(path, &Shown(label, path))?;
    Ok(InputFile {
        source: path.to_path_buf(),
        name,
        bytes,
    })
}

/// `LABEL PATH`, how read errors name an input file (spelled only for one).
struct Shown<'a, L: ?Sized>(&'a L, &'a Path);

impl<L: Display + ?Sized> Display for Shown<'_, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.1.display())
    }
}

pub(super) fn ca_files(
    label: &(impl Display + ?Sized),
    paths: &[PathBuf],
    warnings: &mut Vec<String>,
) -> Result<Vec<InputFile>> {
    let mut out = Vec::new();
    for path in paths {
        let file = read_input(label, path)?;
        warnings.extend(pem::check_ca(path, &file.bytes)?);
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
    input: &RegistryInput,
    origin: &Origin,
    warnings: &mut Vec<String>,
) -> Result<Option<ClientPair>> {
    let (Some(cert), Some(key)) = (&input.client_cert, &input.client_key) else {
        return Ok(None);
    };
    read_pair(cert, key, origin, warnings).map(Some)
}

/// Reads a client certificate and its key and checks they belong together.
pub(super) fn read_pair(
    cert: &Path,
    key: &Path,
    origin: &Origin,
    warnings: &mut Vec<String>,
) -> Result<ClientPair> {
    let cert = read_input(&origin.label(Field::ClientCert), cert)?;
    let key = read_input(&origin.label(Field::ClientKey), key)?;
    warnings.extend(pem::check_client_pair(
        &cert.source,
        &cert.bytes,
        &key.source,
        &key.bytes,
    )?);
    Ok(ClientPair { cert, key })
}

/// The copies share one directory with hosts.toml: names must not collide.
fn check_names(ca: &[InputFile], client: Option<&ClientPair>) -> Result<()> {
    let mut seen: Vec<&InputFile> = Vec::new();
    let all = ca
        .iter()
        .chain(client.into_iter().flat_map(|p| [&p.cert, &p.key]));
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

    fn flags() -> Origin {
        Origin::CommandLine(|f| match f {
            Field::Capabilities => "--capabilities",
            _ => "--flag",
        })
    }

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_string()).collect()
    }

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
            "https://m.example.com\\@evil.example",
            "https://m%2eexample.com",
            "https://b\u{fc}cher.example",
            "https://m:5000:6000",
            "https://[m.example.com]:5000",
            "https://m:",
            "https://m:70000",
            "https://m.example.com./v2",
            "https://m/a%zz",
        ] {
            assert!(endpoint_url("--mirror", bad).is_err(), "{bad}");
        }
        assert_eq!(
            endpoint_url("--mirror", "https://[fd00::1]:5000/v2/x%2Fy").unwrap(),
            "https://[fd00::1]:5000/v2/x%2Fy"
        );
    }

    #[test]
    fn refusals_never_show_credentials() {
        for raw in [
            "https://u:s3cretpw@m.example.com",
            "u:s3cretpw@m.example.com",
            "https://s3cretpw@m.example.com",
            "https://u:s3cret/pw@m.example.com",
            "http://u:s3cret#pw@m",
        ] {
            let err = endpoint_url("--mirror", raw).unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("***@"), "{err}");
        }
    }

    #[test]
    fn capabilities_are_checked_and_deduplicated() {
        use Capability::{Pull, Push, Resolve};
        let o = flags();
        assert_eq!(capabilities(None, None, &o).unwrap(), [Pull, Resolve]);
        let caps = capabilities(Some(&list(&["pull", "pull", "push"])), None, &o).unwrap();
        assert_eq!(caps, [Pull, Push]);
        let err = capabilities(Some(&list(&["pull", "fly"])), None, &o).unwrap_err();
        assert!(
            err.to_string().starts_with("--capabilities: \"fly\""),
            "{err}"
        );
        assert!(capabilities(Some(&list(&["referrers"])), None, &o).is_err());
        let v22 = "2.2.0".parse().ok();
        assert!(capabilities(Some(&list(&["pull", "referrers"])), v22, &o).is_ok());
    }

    #[test]
    fn headers_group_by_name_and_refuse_injection() {
        let h = headers("--header", &list(&["X-A: 1", "x-a: 2", "B:3"])).unwrap();
        assert_eq!(
            h,
            vec![
                ("X-A".into(), vec!["1".into(), "2".into()]),
                ("B".into(), vec!["3".into()])
            ]
        );
        assert!(headers("--header", &list(&["no colon"])).is_err());
        assert!(headers("--header", &list(&["Bad Name: v"])).is_err());
        assert!(headers("--header", &list(&["X: a\r\nEvil: b"])).is_err());
    }
}

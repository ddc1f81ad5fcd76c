//! Per-endpoint settings: a mirror's own trust (each key it sets overrides
//! the registry's, each key it leaves out is inherited), `dial_timeout`, and
//! `auth`, which becomes an `Authorization: Basic ...` header on every
//! endpoint of the registry.
//!
//! A password is read from a file or the environment, never from the spec;
//! no message here ever contains it or the header made from it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use base64::Engine as _;

use super::origin::{Field, Origin};
use super::registry::{self, ClientPair, InputFile};
use crate::exit_codes::usage;
use crate::formats::hosts_toml::Capability;
use crate::version::Target;

/// The header name `auth` writes.
pub const AUTHORIZATION: &str = "Authorization";

/// A mirror's own settings as given; `None` inherits the registry's.
#[derive(Debug, Clone, Default)]
pub struct TrustOverrides {
    pub ca: Option<Vec<PathBuf>>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub skip_verify: Option<bool>,
    pub capabilities: Option<Vec<String>>,
    pub headers: Option<Vec<String>>,
    pub override_path: Option<bool>,
    pub dial_timeout: Option<String>,
    /// This mirror's own credential (k3s: `configs.<endpoint host>.auth`).
    pub auth: Option<AuthInput>,
    /// Inherit none of the registry's `ca`, client, `skip_verify` or headers
    /// (k3s matches TLS to each endpoint's own host).
    pub isolated: bool,
    /// How messages name the mirror's keys (`spec.toml:9:5: mirrors[1].ca`).
    pub origin: Option<Origin>,
}

/// A mirror's own settings, validated; `None` inherits the registry's.
#[derive(Debug, Clone, Default)]
pub struct MirrorTrust {
    pub ca: Option<Vec<InputFile>>,
    pub client: Option<ClientPair>,
    pub skip_verify: Option<bool>,
    pub capabilities: Option<Vec<Capability>>,
    pub headers: Option<Vec<(String, Vec<String>)>>,
    pub override_path: Option<bool>,
    pub dial_timeout: Option<String>,
    /// See [`TrustOverrides::isolated`].
    pub isolated: bool,
    /// `headers` holds a credential.
    pub credential: bool,
}

/// Where a registry password comes from.
#[derive(Clone)]
pub enum Password {
    /// A file holding it (one trailing newline is dropped).
    File(PathBuf),
    /// An environment variable holding it.
    Env(String),
    /// Given in a file format that holds it inline (k3s registries.yaml).
    Given(String),
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Password::File(p) => write!(f, "File({})", p.display()),
            Password::Env(name) => write!(f, "Env({name})"),
            Password::Given(_) => f.write_str("Given([hidden])"),
        }
    }
}

/// `auth = { username, password_file | password_env }`, as given.
#[derive(Debug, Clone)]
pub struct AuthInput {
    pub username: String,
    pub password: Password,
}

/// The `Authorization: Basic base64(user:password)` header line.
pub fn auth_header(auth: &AuthInput, origin: &Origin) -> Result<String> {
    if auth.username.is_empty() || auth.username.contains(':') {
        bail!(usage(format!(
            "{}: give a user name without `:` (Basic authentication splits user and password at the first `:`)",
            origin.name(Field::Username)
        )));
    }
    let password = read_password(&auth.password, origin)?;
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", auth.username));
    Ok(format!("{AUTHORIZATION}: Basic {token}"))
}

fn read_password(source: &Password, origin: &Origin) -> Result<String> {
    let password = match source {
        Password::File(path) => {
            let label = origin.name(Field::PasswordFile);
            let bytes = std::fs::read(path)
                .with_context(|| format!("{label} {}: cannot read", path.display()))?;
            let text = String::from_utf8(bytes).map_err(|_| {
                usage(format!("{label} {}: the password is not UTF-8 text", path.display()))
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            text.strip_suffix('\r').unwrap_or(text).to_string()
        }
        Password::Env(name) => std::env::var(name).map_err(|_| {
            usage(format!(
                "{} {name}: the variable is not set (or not UTF-8); export it before running certsd",
                origin.name(Field::PasswordEnv)
            ))
        })?,
        Password::Given(p) => p.clone(),
    };
    if password.is_empty() {
        bail!(usage(format!(
            "{}: the password is empty",
            origin.name(Field::Auth)
        )));
    }
    if password.chars().any(char::is_control) {
        bail!(usage(format!(
            "{}: the password holds a control character (a line break?); only one trailing newline is dropped",
            origin.name(Field::Auth)
        )));
    }
    Ok(password)
}

/// A Go duration (`5s`, `1m30s`, `500ms`), for containerd 2.0.7+ / 2.1+ only:
/// older versions do not know the key, and a bad value drops the whole file.
pub fn dial_timeout(raw: &str, target: Option<&Target>, origin: &Origin) -> Result<String> {
    let label = origin.name(Field::DialTimeout);
    if !crate::formats::hosts_toml::is_go_duration(raw) {
        bail!(usage(format!(
            "{label} {raw:?}: not a duration; write it as Go does, e.g. \"5s\", \"1m30s\" or \"500ms\""
        )));
    }
    let known = target.is_some_and(|t| {
        let v = t.version;
        (v.major, v.minor) >= (2, 1) || (v.major, v.minor, v.patch) >= (2, 0, 7)
    });
    if !known {
        bail!(usage(format!(
            "{label} needs containerd 2.0.7 / 2.1 or newer (older versions ignore it); {} is {}",
            origin.name(Field::ContainerdVersion),
            target.map_or_else(|| "unknown: give it".to_string(), |t| t.version.to_string())
        )));
    }
    Ok(raw.to_string())
}

/// Validates one mirror's overrides.
pub fn mirror_trust(
    input: &TrustOverrides,
    fallback: &Origin,
    target: Option<&Target>,
    warnings: &mut Vec<String>,
) -> Result<MirrorTrust> {
    let origin = input.origin.as_ref().unwrap_or(fallback);
    let name = |f: Field| origin.label(f);
    let ca = input
        .ca
        .as_ref()
        .map(|paths| registry::ca_files(&name(Field::Ca), paths, warnings))
        .transpose()?;
    let client = match (&input.client_cert, &input.client_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(registry::read_pair(cert, key, origin, warnings)?),
        _ => bail!(usage(format!(
            "{} and {} go together: give both",
            name(Field::ClientCert),
            name(Field::ClientKey)
        ))),
    };
    let capabilities = input
        .capabilities
        .as_ref()
        .map(|c| registry::capabilities(Some(c), target.map(|t| t.version), origin))
        .transpose()?;
    let mut headers = input
        .headers
        .as_ref()
        .map(|h| registry::headers(&name(Field::Header), h))
        .transpose()?;
    if let Some(auth) = &input.auth {
        let line = auth_header(auth, origin)?;
        let value = line
            .split_once(": ")
            .map_or(String::new(), |(_, v)| v.to_string());
        headers
            .get_or_insert_with(Vec::new)
            .push((AUTHORIZATION.to_string(), vec![value]));
    }
    let dial = input
        .dial_timeout
        .as_deref()
        .map(|d| dial_timeout(d, target, origin))
        .transpose()?;
    Ok(MirrorTrust {
        ca,
        client,
        skip_verify: input.skip_verify,
        capabilities,
        headers,
        override_path: input.override_path,
        dial_timeout: dial,
        isolated: input.isolated,
        credential: input.auth.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_never_shows_in_errors() {
        let origin = Origin::CommandLine(Field::key);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pass");
        std::fs::write(&file, "s3cret\n").unwrap();
        let auth = AuthInput {
            username: "puller".into(),
            password: Password::File(file.clone()),
        };
        let header = auth_header(&auth, &origin).unwrap();
        assert_eq!(header, "Authorization: Basic cHVsbGVyOnMzY3JldA==");
        std::fs::write(&file, "s3cret\nmore\n").unwrap();
        let err = auth_header(&auth, &origin).unwrap_err().to_string();
        assert!(
            !err.contains("s3cret") && err.contains("control character"),
            "{err}"
        );
        let colon = AuthInput {
            username: "a:b".into(),
            ..auth
        };
        assert!(auth_header(&colon, &origin).is_err());
    }
}

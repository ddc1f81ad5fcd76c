//! What each legacy `configs`/`auths` entry brings to hosts.toml: TLS
//! settings (`ca`, `client`, `skip_verify`) or, with `--auth-to-header`, an
//! `Authorization: Basic` header. Credentials are held as [`Secret`]s and
//! never appear in a message.

use anyhow::{Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::url::ConfigKey;
use crate::formats::containerd_config::{LegacyAuth, LegacyConfig, LegacyTls, Secret};
use crate::formats::hosts_toml::ClientPaths;

/// The TLS settings of one `configs."HOST".tls`, as hosts.toml takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsTrust {
    pub ca: Option<String>,
    pub client: Option<ClientPaths>,
    pub skip_verify: bool,
}

impl TlsTrust {
    pub fn is_empty(&self) -> bool {
        self.ca.is_none() && self.client.is_none() && !self.skip_verify
    }

    /// `ca, client, skip_verify` as far as set, for the move lines.
    pub fn keys(&self) -> String {
        let keys: Vec<&str> = [
            self.ca.as_ref().map(|_| "ca"),
            self.client.as_ref().map(|_| "client"),
            self.skip_verify.then_some("skip_verify"),
        ]
        .into_iter()
        .flatten()
        .collect();
        keys.join(", ")
    }
}

/// What a source puts on the tables it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gift {
    Tls(TlsTrust),
    /// The `Authorization` header value (`Basic ...`).
    Header(Secret),
}

/// One legacy entry that lands in hosts.toml.
#[derive(Debug, Clone)]
pub struct Source {
    pub key: ConfigKey,
    /// The key as written (`configs."KEY"`).
    pub raw_key: String,
    /// `registry.configs."HOST".tls`, shortened as the move lines show it.
    pub what: String,
    /// `config.toml:LINE`.
    pub at: String,
    pub line: usize,
    pub gift: Gift,
    /// `registry.auths` keys are URLs by design: no guess in that.
    pub exact_urls: bool,
}

/// The TLS of one config entry; a relative path is taken from `/`, where
/// containerd 1.x (a service started by systemd) resolved it.
pub fn tls(config: &LegacyConfig, tls: &LegacyTls) -> Result<(TlsTrust, Vec<String>)> {
    let mut made_absolute = Vec::new();
    let mut abs = |p: &str| {
        if p.starts_with('/') {
            p.to_string()
        } else {
            made_absolute.push(p.to_string());
            format!("/{}", p.trim_start_matches("./"))
        }
    };
    let present = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(String::from);
    let client = match (present(&tls.cert_file), present(&tls.key_file)) {
        (Some(cert), Some(key)) => Some(ClientPaths {
            cert: abs(&cert),
            key: abs(&key),
        }),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => bail!(
            "{}: {} sets only one of cert_file and key_file; containerd refuses that too \
             (`cert file ... was specified, but no corresponding key file`). Give both or \
             neither, then run again. Nothing was written.",
            config.location,
            config.table
        ),
    };
    let trust = TlsTrust {
        ca: present(&tls.ca_file).map(|p| abs(&p)),
        client,
        skip_verify: tls.insecure_skip_verify == Some(true),
    };
    Ok((trust, made_absolute))
}

/// `Basic base64(user:password)`, or why the credential cannot be a static
/// header (it then stays in config.toml).
pub fn basic(auth: &LegacyAuth) -> Result<Secret, &'static str> {
    if let (Some(user), Some(password)) = (&auth.username, &auth.password) {
        let token = STANDARD.encode(format!("{user}:{}", password.expose()));
        return Ok(Secret::new(format!("Basic {token}")));
    }
    if let Some(token) = &auth.auth {
        let token = token.expose().trim();
        let decoded = STANDARD.decode(token).ok();
        if decoded.is_some_and(|d| d.contains(&b':')) {
            return Ok(Secret::new(format!("Basic {token}")));
        }
        return Err("its `auth` is not base64 of user:password");
    }
    if auth.identity_token {
        return Err(
            "an identitytoken is exchanged for tokens at each pull; no static header holds it",
        );
    }
    Err("it has no username and password")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(user: Option<&str>, password: Option<&str>, token: Option<&str>) -> LegacyAuth {
        LegacyAuth {
            username: user.map(String::from),
            password: password.map(|p| Secret::new(p.into())),
            auth: token.map(|t| Secret::new(t.into())),
            identity_token: false,
        }
    }

    #[test]
    fn basic_header_from_user_and_password_or_auth() {
        let h = basic(&auth(Some("u"), Some("p"), None)).unwrap();
        assert_eq!(h.expose(), "Basic dTpw");
        let h = basic(&auth(None, None, Some("dTpw"))).unwrap();
        assert_eq!(h.expose(), "Basic dTpw");
        assert!(basic(&auth(None, None, Some("bm9jb2xvbg=="))).is_err());
        assert!(basic(&auth(Some("u"), None, None)).is_err());
        let token = LegacyAuth {
            identity_token: true,
            ..LegacyAuth::default()
        };
        assert!(basic(&token).unwrap_err().contains("identitytoken"));
    }
}

//! Where a setting came from, so a message names it the way the user wrote it.
//!
//! The command line names settings by flag (`--mirror`); a spec file names
//! them by key and place (`spec.toml:12:1 skip_verify`). Validation only ever
//! says [`Field`]; the origin spells it.

use std::fmt;
use std::sync::Arc;

use crate::formats::spec::Pos;

/// A setting a user can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Root,
    Config,
    CertsDir,
    ContainerdVersion,
    ContainerdBin,
    NoValidate,
    Host,
    Server,
    Mirror,
    Ca,
    ClientCert,
    ClientKey,
    SkipVerify,
    Capabilities,
    Header,
    OverridePath,
    SelfSigned,
    CaDir,
    CertDir,
    San,
    RenewBefore,
    Renew,
    ReplaceTrust,
    Migrate,
    AuthToHeader,
    Out,
    Days,
    KeyType,
    Name,
    Dns,
    Ip,
    Kubernetes,
    Signer,
    Timeout,
    DialTimeout,
    Auth,
    Username,
    PasswordFile,
    PasswordEnv,
}

impl Field {
    /// The spec key that sets this field (`snake_case`, as in the spec).
    pub fn key(self) -> &'static str {
        match self {
            Field::Root => "root",
            Field::Config => "config",
            Field::CertsDir => "certs_dir",
            Field::ContainerdVersion => "containerd_version",
            Field::Host => "host",
            Field::Server => "server",
            Field::Mirror => "mirrors",
            Field::Ca => "ca",
            Field::ClientCert => "client_cert",
            Field::ClientKey => "client_key",
            Field::SkipVerify => "skip_verify",
            Field::Capabilities => "capabilities",
            Field::Header => "headers",
            Field::OverridePath => "override_path",
            Field::SelfSigned => "self_signed",
            Field::CaDir => "ca_dir",
            Field::CertDir => "cert_dir",
            Field::San => "sans",
            Field::RenewBefore => "renew_before",
            Field::Renew => "renew",
            Field::Out => "out",
            Field::Days => "days",
            Field::KeyType => "key_type",
            Field::Name => "name",
            Field::Dns => "dns",
            Field::Ip => "ip",
            Field::Kubernetes => "kubernetes",
            Field::Signer => "signer",
            Field::DialTimeout => "dial_timeout",
            Field::Auth => "auth",
            Field::Username => "auth.username",
            Field::PasswordFile => "auth.password_file",
            Field::PasswordEnv => "auth.password_env",
            Field::Timeout => "timeout",
            Field::ContainerdBin => "containerd_bin",
            Field::NoValidate => "no_validate",
            Field::ReplaceTrust => "replace_trust",
            Field::Migrate => "migrate",
            Field::AuthToHeader => "auth_to_header",
        }
    }
}

/// Where one table of a spec file is, and where each of its keys is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecPlace {
    /// The spec file as given (`-` for stdin is shown as `<stdin>`).
    pub file: String,
    /// `line:column` of the table (a registry entry, a mirror table).
    pub at: Pos,
    /// Printed before each key: `mirrors[2].` inside a mirror table.
    pub prefix: String,
    /// `line:column` of each key the table sets.
    pub keys: Vec<(Field, Pos)>,
}

/// Where a group of settings came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Typed on the command line; the function spells each field as a flag.
    CommandLine(fn(Field) -> &'static str),
    /// A table of a spec file: `FILE:LINE:COL key`, the place of the key
    /// when the table sets it, else the table's own place.
    Spec(Arc<SpecPlace>),
}

impl Origin {
    /// How messages name `field`.
    pub fn name(&self, field: Field) -> String {
        self.label(field).to_string()
    }

    /// [`Origin::name`], spelled only when shown: validating a fleet names
    /// every setting for messages it almost never prints, and spelling them
    /// all up front was a good part of its cost.
    pub fn label(&self, field: Field) -> Label<'_> {
        Label {
            origin: self,
            field,
        }
    }
}

/// One setting's name in messages, as [`Origin::name`] spells it.
#[derive(Clone, Copy)]
pub struct Label<'a> {
    origin: &'a Origin,
    field: Field,
}

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin {
            Origin::CommandLine(spell) => f.write_str(spell(self.field)),
            Origin::Spec(place) => {
                let at = place
                    .keys
                    .iter()
                    .find(|(f, _)| *f == self.field)
                    .map_or(place.at, |(_, at)| *at);
                let (file, prefix, key) = (&place.file, &place.prefix, self.field.key());
                write!(f, "{file}:{at}: {prefix}{key}")
            }
        }
    }
}

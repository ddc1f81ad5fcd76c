//! Where a setting came from, so a message names it the way the user wrote it.
//!
//! The command line names settings by flag (`--mirror`); a spec file will
//! name them by key and line. Validation only ever says [`Field`]; the origin
//! spells it.

/// A setting a user can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Root,
    Config,
    CertsDir,
    ContainerdVersion,
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
}

/// Where a group of settings came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Typed on the command line; the function spells each field as a flag.
    CommandLine(fn(Field) -> &'static str),
}

impl Origin {
    /// How messages name `field`.
    pub fn name(&self, field: Field) -> String {
        match self {
            Origin::CommandLine(spell) => spell(field).to_string(),
        }
    }
}

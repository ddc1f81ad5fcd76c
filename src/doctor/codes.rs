//! The stable finding codes and severities. Scripts and monitoring match on
//! these strings: change one only with a CHANGELOG entry. README's table of
//! codes lists every one (a test checks it).

use super::connect;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A pull will fail, or trust is not what the files say.
    Error,
    /// Works now; breaks on upgrade or expiry, or is ignored in silence.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Declares [`Code`] with each code's string and usual severity in one table.
macro_rules! codes {
    ($($variant:ident = $name:literal, $severity:ident;)*) => {
        /// What a finding is about.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($variant,)*
            /// A `--connect` verdict.
            Connect(connect::Code),
        }

        impl Code {
            /// Every code but the `--connect` verdicts, in README order.
            pub const STATIC: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable string (`config-unreadable`, ...).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                    Code::Connect(code) => code.as_str(),
                }
            }

            /// The severity findings of this code usually have.
            pub fn severity(self) -> Severity {
                match self {
                    $(Code::$variant => Severity::$severity,)*
                    Code::Connect(code) => match code.severity() {
                        connect::Severity::Info => Severity::Info,
                        connect::Severity::Error => Severity::Error,
                    },
                }
            }
        }
    };
}

codes! {
    ConfigUnreadable = "config-unreadable", Error;
    ContainerdTooOld = "containerd-too-old", Error;
    ContainerdUnknown = "containerd-version-unknown", Info;
    ConfigVersionMismatch = "config-version-mismatch", Error;
    ConfigVersionMigrated = "config-version-migrated", Warning;
    ConfigPathWrongTable = "config-path-wrong-table", Error;
    ConfigPathUnset = "config-path-unset", Error;
    ConfigPathList = "config-path-list", Error;
    ConfigPathMissingDir = "config-path-missing-dir", Warning;
    LegacyMirrorsConflict = "legacy-mirrors-conflict", Error;
    LegacyTlsConflict = "legacy-tls-conflict", Error;
    LegacyConfigDeprecated = "legacy-config-deprecated", Warning;
    ImportsOverride = "imports-override", Error;
    ImportsMissing = "imports-missing", Error;
    HostsParseError = "hosts-parse-error", Error;
    HostsNoHostTable = "hosts-no-host-table", Error;
    HostsUnknownKey = "hosts-unknown-key", Warning;
    HostsBadCapability = "hosts-bad-capability", Error;
    HostsNoResolve = "hosts-no-resolve", Warning;
    HostsFieldUnsupported = "hosts-field-unsupported", Warning;
    HostsMissing = "hosts-missing", Warning;
    HostDirShadowed = "host-dir-shadowed", Error;
    FileMissing = "file-missing", Error;
    CaHoldsPrivateKey = "ca-holds-private-key", Error;
    NotPem = "not-pem", Error;
    ClientKeyMismatch = "client-key-mismatch", Error;
    ClientKeyUnusable = "client-key-unusable", Error;
    CertExpired = "cert-expired", Error;
    CertNotYetValid = "cert-not-yet-valid", Error;
    CertExpiring = "cert-expiring", Warning;
    CertNoSan = "cert-no-san", Error;
    CertWrongEku = "cert-wrong-eku", Error;
    SkipVerifySet = "skip-verify-set", Info;
    CtrNeedsHostsDir = "ctr-needs-hosts-dir", Info;
}

impl Code {
    /// Every `--connect` verdict code.
    pub const CONNECT: [connect::Code; 7] = [
        connect::Code::Trusted,
        connect::Code::UnknownAuthority,
        connect::Code::NameMismatch,
        connect::Code::Expired,
        connect::Code::ClientCertRequired,
        connect::Code::PlainHttp,
        connect::Code::Unreachable,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut names: Vec<&str> = Code::STATIC.iter().map(|c| c.as_str()).collect();
        names.extend(Code::CONNECT.iter().map(|c| c.as_str()));
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate code");
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        );
        assert_eq!(
            Code::Connect(connect::Code::Trusted).severity(),
            Severity::Info
        );
    }
}

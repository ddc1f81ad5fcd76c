//! `certsd doctor`'s own options, validated: the hosts to look at, whether
//! to connect and for how long, how many days ahead an expiry is warned of.

use std::time::Duration;

use anyhow::Result;

use super::host::RegistryHost;
use super::origin::{Field, Origin};
use crate::exit_codes::usage;

/// The default `--timeout`, per endpoint.
pub const DEFAULT_TIMEOUT_SECS: f64 = 5.0;
/// The default `--warn-days`.
pub const DEFAULT_WARN_DAYS: u32 = 30;
/// The longest timeout accepted: a typo, not a wish, beyond an hour.
const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// Doctor's options as given.
#[derive(Debug, Clone, Default)]
pub struct DoctorInput {
    pub hosts: Vec<String>,
    pub connect: bool,
    /// Seconds, as typed (`5`, `0.5`); `None` for the default.
    pub timeout: Option<String>,
    pub warn_days: Option<u32>,
    pub certs: bool,
}

/// Doctor's options, checked.
#[derive(Debug, Clone)]
pub struct DoctorSettings {
    /// Only these registries' findings (and the config's); empty = all.
    pub hosts: Vec<RegistryHost>,
    pub connect: bool,
    /// Per endpoint, for `connect`.
    pub timeout: Duration,
    /// A certificate expiring within this many days is a warning.
    pub warn_days: u32,
    /// Print the table of certificates.
    pub certs: bool,
}

impl DoctorSettings {
    pub fn new(input: &DoctorInput, origin: &Origin) -> Result<DoctorSettings> {
        let hosts = input
            .hosts
            .iter()
            .map(|h| RegistryHost::parse(h, &origin.name(Field::Host)))
            .collect::<Result<Vec<_>>>()?;
        let timeout = match &input.timeout {
            None => Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS),
            Some(raw) => parse_timeout(raw).ok_or_else(|| {
                usage(format!(
                    "{} {raw:?}: give seconds above 0 and at most 3600, e.g. 5 or 0.5",
                    origin.name(Field::Timeout)
                ))
            })?,
        };
        Ok(DoctorSettings {
            hosts,
            connect: input.connect,
            timeout,
            warn_days: input.warn_days.unwrap_or(DEFAULT_WARN_DAYS),
            certs: input.certs,
        })
    }
}

fn parse_timeout(raw: &str) -> Option<Duration> {
    let secs: f64 = raw.trim().parse().ok()?;
    (secs.is_finite() && secs > 0.0 && secs <= MAX_TIMEOUT_SECS)
        .then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin::CommandLine(|_| "--flag")
    }

    #[test]
    fn timeouts_are_positive_seconds() {
        for (raw, ok) in [
            ("5", true),
            ("0.5", true),
            ("0", false),
            ("-1", false),
            ("nan", false),
            ("1e9", false),
            ("x", false),
        ] {
            let input = DoctorInput {
                timeout: Some(raw.into()),
                ..DoctorInput::default()
            };
            assert_eq!(DoctorSettings::new(&input, &origin()).is_ok(), ok, "{raw}");
        }
        let d = DoctorSettings::new(&DoctorInput::default(), &origin()).unwrap();
        assert_eq!((d.timeout, d.warn_days), (Duration::from_secs(5), 30));
    }

    #[test]
    fn hosts_are_validated_as_registry_names() {
        let input = DoctorInput {
            hosts: vec!["https://r".into()],
            ..DoctorInput::default()
        };
        let err = DoctorSettings::new(&input, &origin()).unwrap_err();
        assert_eq!(
            crate::exit_codes::Code::for_error(&err),
            crate::exit_codes::Code::Usage
        );
    }
}

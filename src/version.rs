//! containerd versions and the config.toml `version` each one reads.
//! (Asking the installed containerd is `node::containerd`.)
//!
//! containerd 1.x reads config versions 1 and 2; 2.0–2.2 add 3; 2.3+ add 4.
//! 1.x silently ignores a version 3 file's sections, so writing the wrong
//! version is worse than an error: we refuse instead (DESIGN.md §1).
//! Before 1.5 the CRI plugin has no `config_path` at all: refused too.

use std::str::FromStr;

use anyhow::{Result, bail};

/// `major.minor.patch` of a containerd build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContainerdVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl FromStr for ContainerdVersion {
    type Err = anyhow::Error;

    /// Accepts `1.7`, `1.7.24`, `v2.1.4`, `1.6.20~ds1`.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().trim_start_matches('v');
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let mut parts = s[..end].split('.');
        let mut next = || parts.next().map(str::parse::<u32>).transpose();
        match (next(), next(), next()) {
            (Ok(Some(major)), Ok(Some(minor)), Ok(patch)) if major > 0 => Ok(ContainerdVersion {
                major,
                minor,
                patch: patch.unwrap_or(0),
            }),
            _ => bail!("{s:?} is not a containerd version (expected X.Y or X.Y.Z, e.g. 1.7.24)"),
        }
    }
}

impl std::fmt::Display for ContainerdVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The `version` key of containerd's config.toml (absent = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigVersion {
    V1 = 1,
    V2 = 2,
    V3 = 3,
    V4 = 4,
}

impl ConfigVersion {
    pub fn from_number(n: i64) -> Option<ConfigVersion> {
        match n {
            1 => Some(ConfigVersion::V1),
            2 => Some(ConfigVersion::V2),
            3 => Some(ConfigVersion::V3),
            4 => Some(ConfigVersion::V4),
            _ => None,
        }
    }

    /// The version a new config is written in for this containerd.
    pub fn native_for(v: ContainerdVersion) -> ConfigVersion {
        match (v.major, v.minor) {
            (1, _) => ConfigVersion::V2,
            (2, 0..=2) => ConfigVersion::V3,
            _ => ConfigVersion::V4,
        }
    }

    /// The newest config version this containerd reads.
    fn newest_read_by(v: ContainerdVersion) -> ConfigVersion {
        Self::native_for(v)
    }
}

/// The first containerd whose CRI plugin reads `registry.config_path`
/// (containerd 1.5.0, "New `registry.config_path` for CRI plugin").
pub const CONFIG_PATH_SINCE: ContainerdVersion = ContainerdVersion {
    major: 1,
    minor: 5,
    patch: 0,
};

/// Where the containerd version came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub version: ContainerdVersion,
    pub source: String,
}

/// Does a file of `config` version work on `target`? `Ok(Some(warning))`
/// when it works with a caveat, `Err` when containerd would misread it.
pub fn check_fit(config: ConfigVersion, target: &Target) -> Result<Option<String>> {
    let v = target.version;
    if v < CONFIG_PATH_SINCE {
        bail!(
            "containerd {v} ({}) has no registry `config_path` (it came in containerd \
             {CONFIG_PATH_SINCE}), so it would never read hosts.toml: upgrade containerd to 1.5 \
             or newer (1.6+ is maintained), or pass --containerd-version if {v} is wrong. \
             Nothing was written.",
            target.source
        );
    }
    let newest = ConfigVersion::newest_read_by(v);
    if config > newest {
        bail!(
            "config.toml has `version = {}` but containerd {v} ({}) reads at most version {}: \
             it would ignore the registry settings. Use a config written for this containerd \
             (`containerd config default`), or pass --containerd-version if {v} is wrong",
            config as u8,
            target.source,
            newest as u8
        );
    }
    if v.major >= 2 && config == ConfigVersion::V1 {
        return Ok(Some(format!(
            "config.toml has no `version` key (version 1): containerd {v} loads it as version 3 \
             and ignores any `plugins.cri` settings in it (sandbox_image, cni, ...); the file \
             written as version 2, with `plugins.\"io.containerd.grpc.v1.cri\"` names, keeps them"
        )));
    }
    if v.major >= 2 && config < ConfigVersion::V3 {
        return Ok(Some(format!(
            "config.toml has `version = {}`: containerd {v} migrates it in memory on every start \
             and logs a warning; `containerd config migrate` writes it in version {}",
            config as u8, newest as u8
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ContainerdVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_versions_as_packagers_print_them() {
        assert_eq!(v("1.7").to_string(), "1.7.0");
        assert_eq!(v("v2.1.4").to_string(), "2.1.4");
        assert_eq!(v("1.6.20~ds1").to_string(), "1.6.20");
        assert!("x".parse::<ContainerdVersion>().is_err());
        assert!("0.1".parse::<ContainerdVersion>().is_err());
        assert!("2".parse::<ContainerdVersion>().is_err());
        assert!("1..7".parse::<ContainerdVersion>().is_err());
    }

    #[test]
    fn native_config_version_per_line() {
        assert_eq!(ConfigVersion::native_for(v("1.6.20")), ConfigVersion::V2);
        assert_eq!(ConfigVersion::native_for(v("2.0.0")), ConfigVersion::V3);
        assert_eq!(ConfigVersion::native_for(v("2.2.1")), ConfigVersion::V3);
        assert_eq!(ConfigVersion::native_for(v("2.3.0")), ConfigVersion::V4);
    }

    #[test]
    fn refuses_configs_newer_than_containerd() {
        let t = |s: &str| Target {
            version: v(s),
            source: "test".into(),
        };
        assert!(check_fit(ConfigVersion::V3, &t("1.6.20")).is_err());
        assert!(check_fit(ConfigVersion::V4, &t("2.1.0")).is_err());
        assert_eq!(check_fit(ConfigVersion::V2, &t("1.7.0")).unwrap(), None);
        assert!(check_fit(ConfigVersion::V2, &t("2.1.0")).unwrap().is_some());
        assert_eq!(check_fit(ConfigVersion::V4, &t("2.3.0")).unwrap(), None);
    }

    #[test]
    fn refuses_containerd_before_1_5_naming_the_version_needed() {
        let t = |s: &str| Target {
            version: v(s),
            source: "test".into(),
        };
        for old in ["1.4.13", "1.3.0", "1.4"] {
            let err = check_fit(ConfigVersion::V2, &t(old))
                .unwrap_err()
                .to_string();
            assert!(err.contains("came in containerd 1.5.0"), "{old}: {err}");
        }
        assert!(check_fit(ConfigVersion::V2, &t("1.5.0")).is_ok());
        assert!(check_fit(ConfigVersion::V1, &t("1.5.18")).is_ok());
    }
}

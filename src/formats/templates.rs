//! Skeletons for the files certsd creates from nothing, embedded at build time.
//!
//! They hold structure and comments only; values are always filled in through
//! `toml_edit` so they are quoted correctly whatever they contain.

use crate::version::ConfigVersion;

/// A minimal containerd config.toml of the given version.
pub fn containerd_config(version: ConfigVersion) -> &'static str {
    match version {
        // A version 1 file is never created: 1.x reads version 2 just as well.
        ConfigVersion::V1 | ConfigVersion::V2 => include_str!("../../templates/config-v2.toml"),
        ConfigVersion::V3 => include_str!("../../templates/config-v3.toml"),
        ConfigVersion::V4 => include_str!("../../templates/config-v4.toml"),
    }
}

/// A new hosts.toml.
pub fn hosts_toml() -> &'static str {
    include_str!("../../templates/hosts.toml")
}

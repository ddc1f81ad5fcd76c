//! Rules about what containerd does with a config, stated once for every
//! reader: the planner refuses what they forbid, doctor reports it.

use crate::formats::containerd_config::{ContainerdConfig, LegacyConfig, LegacyMirror};
use crate::version::{ConfigVersion, Target};

/// The legacy registry tables that make containerd's CRI plugin fail to
/// load once `config_path` is set (DESIGN.md §1): any `registry.mirrors`
/// entry (1.x: ``invalid plugin config: `mirrors` cannot be set when
/// `config_path` is provided``, 2.x: `invalid cri image config`), and on 1.x
/// any `registry.configs.<host>.tls` (2.x drops that key with a warning).
#[derive(Debug)]
pub struct CriConflicts<'a> {
    pub mirrors: &'a [LegacyMirror],
    pub tls: Vec<&'a LegacyConfig>,
}

/// What in `config` would break the CRI plugin together with `config_path`,
/// for `target` (unknown: the file's own version decides 1.x or 2.x).
pub fn cri_conflicts<'a>(
    config: &'a ContainerdConfig,
    target: Option<&Target>,
) -> CriConflicts<'a> {
    let one_x = match target {
        Some(t) => t.version.major < 2,
        None => config.version() <= ConfigVersion::V2,
    };
    CriConflicts {
        mirrors: config.mirrors(),
        tls: if one_x {
            config.tls_configs()
        } else {
            Vec::new()
        },
    }
}

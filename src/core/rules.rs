//! Rules about what containerd does with a config, stated once for every
//! reader: the planner refuses what they forbid, doctor reports it.

use crate::formats::containerd_config::{Effective, LegacyConfig, LegacyMirror};

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

/// What in the registry table containerd reads (`effective`) would break
/// the CRI plugin together with `config_path`.
pub fn cri_conflicts<'a>(effective: &'a Effective<'_>) -> CriConflicts<'a> {
    CriConflicts {
        mirrors: effective.mirrors(),
        tls: if effective.two_x {
            Vec::new()
        } else {
            effective.tls_configs()
        },
    }
}

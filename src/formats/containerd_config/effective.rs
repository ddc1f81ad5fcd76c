//! Which registry table a containerd takes `config_path` from, given the
//! file's `version` and the containerd's (checked with `containerd config
//! dump` of 1.6.20, 1.7.24 and 2.1.9; notes in DESIGN.md §1):
//!
//! - 1.x reads `plugins.cri.registry` in a version 1 file (the long name is
//!   ignored there) and `plugins."io.containerd.grpc.v1.cri".registry` in a
//!   version 2 file; it never reads the images plugin's table.
//! - 2.x migrates a version 2 file in memory: a grpc `registry` table, when
//!   there is one, replaces the images plugin's whole `registry` table (its
//!   headers, its `config_path`); without one the images table is read as
//!   written. Adding a grpc table to such a file would wipe the images table.
//! - 2.0–2.2 load a version 1 file as version 3, so its `plugins.cri`
//!   settings are all dropped, while an images table in it is read as
//!   written; 2.3+ migrate each file on its own, so there the same
//!   `plugins.cri.registry` replaces the images table. No edit holds on both:
//!   certsd refuses such a file instead of guessing.
//! - Version 3 and 4 files: the images table; the grpc one is ignored.

use anyhow::{Result, bail};

use super::{ContainerdConfig, LegacyConfig, LegacyMirror, RegistryRead, RegistryTable};
use crate::version::{ConfigVersion, ContainerdVersion};

/// The registry table the target containerd takes `config_path` from.
#[derive(Debug)]
pub struct Effective<'a> {
    /// Where `config_path` is read (and where certsd sets it).
    pub table: RegistryTable,
    /// That table as the file has it; `None` when certsd has to create it.
    pub read: Option<&'a RegistryRead>,
    /// The decision is for containerd 2.x (migration rules apply).
    pub two_x: bool,
    /// Without a known containerd: why the file was read as 2.x reads it.
    pub inferred: Option<&'static str>,
    /// The file's other registry tables, which this containerd ignores or
    /// overwrites, each with the reason.
    pub ignored: Vec<(&'a RegistryRead, String)>,
}

impl Effective<'_> {
    /// The `config_path` containerd reads now.
    pub fn config_path(&self) -> Option<&str> {
        self.read.and_then(|r| r.config_path.as_deref())
    }

    /// The legacy mirrors containerd reads (they block `config_path`).
    pub fn mirrors(&self) -> &[LegacyMirror] {
        self.read.map_or(&[], |r| r.mirrors.as_slice())
    }

    /// The `configs."HOST"` entries with a `tls` table.
    pub fn tls_configs(&self) -> Vec<&LegacyConfig> {
        self.read
            .map(|r| r.configs.iter().filter(|c| c.tls.is_some()).collect())
            .unwrap_or_default()
    }
}

impl ContainerdConfig {
    /// Judges the file as `target` reads it; without a target, as the file
    /// shows it was written for. `Err` when no edit would hold (a version 1
    /// file whose CRI registry table containerd 2.x drops or migrates).
    pub fn effective(&self, target: Option<ContainerdVersion>) -> Result<Effective<'_>> {
        let (two_x, inferred) = match target {
            Some(v) => (v.major >= 2, None),
            None => self.written_for(),
        };
        let has = |t: RegistryTable| self.table(t).is_some();
        let table = match self.version {
            ConfigVersion::V3 | ConfigVersion::V4 => RegistryTable::Images,
            ConfigVersion::V1 if !two_x => RegistryTable::Cri,
            ConfigVersion::V1 => {
                self.refuse_version_1(target)?;
                RegistryTable::Images
            }
            // 2.x: a grpc registry table replaces the images one; without
            // it, a file that uses the images plugin is read as written.
            ConfigVersion::V2
                if two_x
                    && !has(RegistryTable::Grpc)
                    && (has(RegistryTable::Images) || self.images_plugin) =>
            {
                RegistryTable::Images
            }
            ConfigVersion::V2 => RegistryTable::Grpc,
        };
        let ignored = self
            .tables
            .iter()
            .filter(|r| r.table != table)
            .map(|r| (r, self.why_ignored(r.table, table, two_x)))
            .collect();
        Ok(Effective {
            table,
            read: self.table(table),
            two_x,
            inferred,
            ignored,
        })
    }

    /// A file of version 1 or 2 that has the images plugin's table and no
    /// older registry table was written for 2.x: 1.x would read no
    /// `config_path` from it at all.
    fn written_for(&self) -> (bool, Option<&'static str>) {
        match self.version {
            ConfigVersion::V3 | ConfigVersion::V4 => (true, None),
            _ if self.images_plugin
                && !self.tables.iter().any(|t| t.table != RegistryTable::Images) =>
            {
                (
                    true,
                    Some(
                        "it has `plugins.\"io.containerd.cri.v1.images\"` tables, which only \
                         containerd 2.x reads",
                    ),
                )
            }
            _ => (false, None),
        }
    }

    fn refuse_version_1(&self, target: Option<ContainerdVersion>) -> Result<()> {
        let Some(old) = self
            .tables
            .iter()
            .find(|t| t.table != RegistryTable::Images)
        else {
            return Ok(());
        };
        let v = target.map_or_else(|| "2.x".to_string(), |v| v.to_string());
        bail!(
            "{}: {} is in a config without `version` (version 1), and containerd {v} does not \
             take it: 2.0–2.2 drop every `plugins.cri` setting of a version 1 file (`containerd \
             config migrate` too), 2.3+ move this table over the images plugin's, so no edit \
             holds on both. Convert the file to version 2 (add `version = 2` and name each \
             `[plugins.cri...]` table `[plugins.\"io.containerd.grpc.v1.cri\"...]`, which keeps \
             its settings), or delete this table if nothing in it is needed, then run certsd \
             again. Nothing was written.",
            old.location,
            old.table.name()
        );
    }

    /// Why `other` has no effect when containerd reads `used`.
    fn why_ignored(&self, other: RegistryTable, used: RegistryTable, two_x: bool) -> String {
        let line = if two_x { "2.x" } else { "1.x" };
        match (other, used) {
            (RegistryTable::Images, RegistryTable::Grpc) if two_x => format!(
                "containerd 2.x migrates this version {} file and replaces it whole by {}: \
                 its settings have no effect",
                self.version as u8,
                used.name()
            ),
            (RegistryTable::Images, RegistryTable::Grpc) => format!(
                "containerd 1.x does not read the images plugin, so it has no effect here; \
                 once the node runs 2.x, {} replaces it whole",
                used.name()
            ),
            (RegistryTable::Images, _) => {
                "containerd 1.x does not read the images plugin: it has no effect".to_string()
            }
            (RegistryTable::Cri, _) if !two_x && self.version >= ConfigVersion::V2 => {
                "containerd 1.x refuses `plugins.cri` in a version 2 file (`invalid plugin key \
                 URI \"cri\"`) and does not start: rename or delete it"
                    .to_string()
            }
            _ => format!(
                "containerd {line} reads {} in a version {} file: it has no effect",
                used.name(),
                self.version as u8
            ),
        }
    }
}

#[cfg(test)]
#[path = "effective_tests.rs"]
mod tests;

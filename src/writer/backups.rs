//! Backups of files certsd replaces (config.toml): their names, and keeping
//! only the newest few (`--keep-backups`), so a provisioning hook that runs
//! at every boot does not fill /etc.

use std::fs;

use anyhow::Result;

use crate::node::{NodePath, Root};

const MARK: &str = ".certsd-backup-";

/// `config.toml.certsd-backup-20261123T154500Z`
fn backup_path(path: &NodePath) -> NodePath {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "now".into());
    let name = format!("{}{MARK}{stamp}", path.file_name());
    path.parent()
        .unwrap_or_else(|| NodePath::fixed("/"))
        .join(&name)
}

/// A backup name no earlier backup uses: two runs in one second (a script
/// applying twice) must not overwrite the first, older backup.
pub(super) fn free_path(root: &Root, path: &NodePath) -> Result<NodePath> {
    let first = backup_path(path);
    let mut candidate = first.clone();
    for n in 2.. {
        if root.resolve(&candidate)?.symlink_metadata().is_err() {
            break;
        }
        let name = format!("{}-{n}", first.file_name());
        candidate = first
            .parent()
            .unwrap_or_else(|| NodePath::fixed("/"))
            .join(&name);
    }
    Ok(candidate)
}

/// Removes all but the newest `keep` backups of `path`; returns how many went.
pub(super) fn prune(root: &Root, path: &NodePath, keep: usize) -> usize {
    let Ok(real) = root.resolve(path) else {
        return 0;
    };
    let (Some(dir), Some(name)) = (real.parent(), real.file_name()) else {
        return 0;
    };
    let prefix = format!("{}{MARK}", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut found: Vec<(String, u64, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix(&prefix)?;
            let (stamp, n) = match rest.split_once('-') {
                Some((stamp, n)) => (stamp.to_string(), n.parse().ok()?),
                None => (rest.to_string(), 1),
            };
            Some((stamp, n, e.path()))
        })
        .collect();
    found.sort();
    let extra = found.len().saturating_sub(keep);
    found
        .iter()
        .take(extra)
        .filter(|(_, _, p)| fs::remove_file(p).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_sit_beside_the_file() {
        let b = backup_path(&NodePath::fixed("/etc/containerd/config.toml"));
        assert!(
            b.as_str()
                .starts_with("/etc/containerd/config.toml.certsd-backup-"),
            "{b}"
        );
    }

    #[test]
    fn only_the_newest_backups_stay() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        for name in [
            "c.toml.certsd-backup-20260101T000000Z",
            "c.toml.certsd-backup-20260101T000000Z-2",
            "c.toml.certsd-backup-20260101T000000Z-10",
            "c.toml.certsd-backup-20270101T000000Z",
            "other.certsd-backup-20200101T000000Z",
        ] {
            fs::write(dir.path().join(name), "x").unwrap();
        }
        assert_eq!(prune(&root, &NodePath::fixed("/c.toml"), 2), 2);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "c.toml.certsd-backup-20260101T000000Z-10",
                "c.toml.certsd-backup-20270101T000000Z",
                "other.certsd-backup-20200101T000000Z"
            ]
        );
    }
}

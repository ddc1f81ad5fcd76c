//! The plan: the list of file changes one run would make, and why.
//!
//! Computed once by the planner, printed by `plan`, printed and written by
//! `apply`. Nothing here touches the disk.

use crate::issuance::Issuance;
use crate::paths::NodePath;

/// What happens to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

/// One file's content and mode before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The path as the node sees it.
    pub path: NodePath,
    /// `None` when the file does not exist yet.
    pub before: Option<Vec<u8>>,
    pub after: Vec<u8>,
    /// The mode the file has now, when it exists.
    pub mode_before: Option<u32>,
    /// The mode it must have.
    pub mode: u32,
    /// A private key: never shown, not even in a diff.
    pub secret: bool,
    /// Keep a copy of the old content before replacing it.
    pub backup: bool,
    /// containerd reads this file only at start.
    pub needs_restart: bool,
}

impl FileChange {
    pub fn action(&self) -> Action {
        match &self.before {
            None => Action::Create,
            Some(before) if *before != self.after || self.mode_before != Some(self.mode) => {
                Action::Update
            }
            Some(_) => Action::Unchanged,
        }
    }

    pub fn changes(&self) -> bool {
        self.action() != Action::Unchanged
    }
}

/// Every file a run touches, in the order they are written.
#[derive(Debug, Default)]
pub struct Plan {
    pub files: Vec<FileChange>,
    /// Things the user should know that do not stop the run.
    pub warnings: Vec<String>,
    /// Certificates to make at apply time (their keys are not made by `plan`).
    pub issuance: Option<Issuance>,
}

impl Plan {
    pub fn changed(&self) -> bool {
        self.files.iter().any(FileChange::changes)
            || self.issuance.as_ref().is_some_and(Issuance::generates)
    }

    /// containerd must be restarted for the change to take effect.
    pub fn restart_required(&self) -> bool {
        self.files.iter().any(|f| f.needs_restart && f.changes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(before: Option<&str>, after: &str, mode_before: Option<u32>) -> FileChange {
        FileChange {
            path: NodePath::fixed("/etc/x"),
            before: before.map(|b| b.as_bytes().to_vec()),
            after: after.as_bytes().to_vec(),
            mode_before,
            mode: 0o644,
            secret: false,
            backup: false,
            needs_restart: true,
        }
    }

    #[test]
    fn actions_follow_content_and_mode() {
        assert_eq!(change(None, "a", None).action(), Action::Create);
        assert_eq!(change(Some("a"), "b", Some(0o644)).action(), Action::Update);
        assert_eq!(change(Some("a"), "a", Some(0o600)).action(), Action::Update);
        assert_eq!(
            change(Some("a"), "a", Some(0o644)).action(),
            Action::Unchanged
        );
    }

    #[test]
    fn restart_only_when_a_restart_file_changes() {
        let mut plan = Plan {
            files: vec![change(Some("a"), "a", Some(0o644))],
            ..Plan::default()
        };
        assert!(!plan.restart_required() && !plan.changed());
        plan.files[0].after = b"b".to_vec();
        assert!(plan.restart_required() && plan.changed());
    }
}

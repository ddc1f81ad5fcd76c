//! The plan: every file change one run would make, and what the user should know.
//!
//! Computed once by the planner, printed by `plan`, printed and written by
//! `apply`. A leaf: it knows node paths, file contents and certificate names,
//! and nothing that reads or writes the disk.

use std::path::Path;

use serde::Serialize;

use crate::cert::{KeyType, San};
use crate::node::reads::Sha256;
use crate::node::{CopyOf, Existing, NodePath};

/// What happens to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
}

/// The bytes a written file gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Made by certsd (hosts.toml, config.toml, a marker, a certificate):
    /// held.
    Held(Vec<u8>),
    /// The bytes the file holds now (`before`), not held twice: the
    /// every-boot rerun finds every file as it should be, and each is then
    /// known unchanged without comparing it again at every step.
    Same,
    /// A copy of an input file (a CA, a client certificate or key) that the
    /// node does not hold yet. Not held: a fleet's copies are megabytes,
    /// and each is read again where it is shown or written, and refused if
    /// it is no longer what was planned ([`CopyOf::read`]).
    Copy(Box<CopyOf>),
}

/// Where the bytes a written file gets are, [`Content::Same`] resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After<'a> {
    /// Held by the plan (its own, or the file's as it is).
    Bytes(&'a [u8]),
    /// An input file, read again where the bytes are needed.
    Copy(&'a CopyOf),
}

impl Content {
    /// `after`, or [`Content::Same`] when `before` holds exactly it.
    fn of(before: Option<&Existing>, after: Vec<u8>) -> Content {
        match before {
            Some(before) if before.bytes == after => Content::Same,
            _ => Content::Held(after),
        }
    }
}

/// The new state of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Write these bytes with this mode.
    Write { after: Content, mode: u32 },
    /// Remove the file.
    Delete,
    /// Remove the (by then empty) directory: `--prune`, after its files.
    RemoveDir,
}

/// One file, as it is and as it will be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The path as the node sees it.
    pub path: NodePath,
    /// `None` when the file does not exist yet.
    pub before: Option<Existing>,
    pub op: Op,
    /// A private key (or a file holding a credential): never shown, not even in a diff.
    pub secret: bool,
    /// Keep a copy of the old content before replacing it.
    pub backup: bool,
    /// containerd reads this file only at start.
    pub needs_restart: bool,
}

impl FileChange {
    /// A change to `after`; an existing file keeps its mode, a new one gets `mode`.
    pub fn write(path: NodePath, before: Option<Existing>, after: Vec<u8>, mode: u32) -> Self {
        let mode = before.as_ref().map_or(mode, |e| e.mode);
        FileChange {
            path,
            op: Op::Write {
                after: Content::of(before.as_ref(), after),
                mode,
            },
            before,
            secret: false,
            backup: false,
            needs_restart: false,
        }
    }

    /// A file whose content certsd owns (a copied CA, an issued
    /// certificate, a key). A key (`secret`) gets `mode` even when it exists,
    /// so a loosened key goes back to 0600; other files keep theirs.
    pub fn owned(
        path: NodePath,
        before: Option<Existing>,
        after: Vec<u8>,
        mode: u32,
        secret: bool,
    ) -> Self {
        if secret {
            FileChange::exact(path, before, after, mode, true)
        } else {
            FileChange::write(path, before, after, mode)
        }
    }

    /// [`FileChange::owned`] for a copy of the input file `source`, whose
    /// bytes are `bytes`: never held (the file holds them already, or they
    /// are read again where needed).
    pub fn copied(
        path: NodePath,
        before: Option<Existing>,
        (source, bytes): (&Path, &[u8]),
        mode: u32,
        secret: bool,
    ) -> Self {
        let content = match &before {
            Some(b) if b.bytes == bytes => Content::Same,
            _ => Content::Copy(Box::new(CopyOf::of(source.to_path_buf(), bytes))),
        };
        let mut change = FileChange::owned(path, before, Vec::new(), mode, secret);
        if let Op::Write { after, .. } = &mut change.op {
            *after = content;
        }
        change
    }

    /// A file that gets exactly `after` and `mode`, whatever it has now.
    pub fn exact(
        path: NodePath,
        before: Option<Existing>,
        after: Vec<u8>,
        mode: u32,
        secret: bool,
    ) -> Self {
        FileChange {
            op: Op::Write {
                after: Content::of(before.as_ref(), after),
                mode,
            },
            secret,
            ..FileChange::write(path, before, Vec::new(), mode)
        }
    }

    /// Removes an existing directory once the files before it in the plan are gone.
    pub fn remove_dir(path: NodePath, mode: u32) -> Self {
        FileChange {
            op: Op::RemoveDir,
            ..FileChange::delete(
                path,
                Existing {
                    bytes: Vec::new(),
                    mode,
                },
            )
        }
    }

    /// Removes an existing file.
    pub fn delete(path: NodePath, before: Existing) -> Self {
        FileChange {
            path,
            before: Some(before),
            op: Op::Delete,
            secret: false,
            backup: false,
            needs_restart: false,
        }
    }

    /// The bytes the file holds now.
    pub fn before_bytes(&self) -> Option<&[u8]> {
        self.before.as_ref().map(|e| e.bytes.as_slice())
    }

    /// What it will hold; `None` for a delete.
    pub fn after(&self) -> Option<&Content> {
        match &self.op {
            Op::Write { after, .. } => Some(after),
            Op::Delete | Op::RemoveDir => None,
        }
    }

    /// Where the bytes it will hold are; `None` for a delete.
    pub fn after_bytes(&self) -> Option<After<'_>> {
        Some(match self.after()? {
            Content::Held(bytes) => After::Bytes(bytes),
            Content::Same => After::Bytes(self.before_bytes()?),
            Content::Copy(copy) => After::Copy(copy),
        })
    }

    /// The bytes it will hold when the plan holds them (`None` for a
    /// delete or a copy it reads again).
    pub fn after_held(&self) -> Option<&[u8]> {
        match self.after_bytes()? {
            After::Bytes(bytes) => Some(bytes),
            After::Copy(_) => None,
        }
    }

    /// The SHA-256 of what it will hold; `None` for a delete.
    pub fn after_sha256(&self) -> Option<Sha256> {
        Some(match self.after_bytes()? {
            After::Bytes(bytes) => Sha256::of(bytes),
            After::Copy(copy) => copy.sha256,
        })
    }

    /// Whether the file's bytes change (its mode aside).
    pub fn content_changes(&self) -> bool {
        match (&self.before, self.after()) {
            (Some(before), Some(Content::Held(after))) => before.bytes != *after,
            (Some(_), Some(Content::Same)) | (None, None) => false,
            // A copy is `Same` when the file already has it (`copied`).
            _ => true,
        }
    }

    /// The mode it has now, when it exists.
    pub fn mode_before(&self) -> Option<u32> {
        self.before.as_ref().map(|e| e.mode)
    }

    /// The mode it will have (a deleted file: the mode it had).
    pub fn mode(&self) -> u32 {
        match &self.op {
            Op::Write { mode, .. } => *mode,
            Op::Delete | Op::RemoveDir => self.mode_before().unwrap_or(0),
        }
    }

    pub fn action(&self) -> Action {
        match (&self.before, &self.op) {
            (None, Op::Write { .. }) => Action::Create,
            (None, Op::Delete | Op::RemoveDir) => Action::Unchanged,
            (Some(_), Op::Delete | Op::RemoveDir) => Action::Delete,
            (Some(before), Op::Write { mode, .. }) => {
                if self.content_changes() || before.mode != *mode {
                    Action::Update
                } else {
                    Action::Unchanged
                }
            }
        }
    }

    pub fn changes(&self) -> bool {
        self.action() != Action::Unchanged
    }
}

/// A new file whose bytes are made as the writer writes them, not held in
/// memory: the history entry of a fleet's apply is megabytes.
pub trait Made {
    /// Where it goes (a file that does not exist yet).
    fn path(&self) -> &NodePath;
    fn mode(&self) -> u32;
    /// Writes the content; the same bytes every time it is called (the
    /// writer makes it once to hash and size it, once to write it).
    fn write_to(&self, out: &mut dyn std::io::Write) -> std::io::Result<()>;
}

/// How much a notice matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(test), expect(dead_code, reason = "Error is doctor's, next"))]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// Where a notice points: a node file, and a line in it when one is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub path: NodePath,
    pub line: Option<usize>,
}

/// Something the user should know that does not stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// A stable name scripts can match (`imports-not-read`, `trust-removed`, ...).
    pub code: &'static str,
    pub severity: Severity,
    pub span: Option<Span>,
    pub message: String,
}

impl Notice {
    /// A warning with no particular place.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Notice {
        Notice {
            code,
            severity: Severity::Warning,
            span: None,
            message: message.into(),
        }
    }

    /// A warning about one file.
    #[must_use]
    pub fn at(mut self, path: &NodePath) -> Notice {
        self.span = Some(Span {
            path: path.clone(),
            line: None,
        });
        self
    }
}

/// Which certificate a pending one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CertKind {
    Ca,
    Server,
}

impl std::fmt::Display for CertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertKind::Ca => "ca",
            CertKind::Server => "server",
        })
    }
}

/// One certificate the run will create, as `plan` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingCert {
    pub path: String,
    pub key_path: String,
    pub kind: CertKind,
    pub subject: String,
    pub sans: Vec<String>,
    pub key_type: String,
    pub days: u32,
    /// Why it is made: `new`, `expires in 12 days`, `--renew`, ...
    pub reason: String,
}

/// A PEM text that must never be shown (a CA's private key).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretPem(pub String);

impl std::fmt::Debug for SecretPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretPem([elided])")
    }
}

/// The CA that signs the server certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// Make a new CA with this common name, written to `cert`/`key` and
    /// copied to `trust_copy` for containerd.
    New {
        name: String,
        cert: NodePath,
        key: NodePath,
        trust_copy: NodePath,
    },
    /// Sign with this CA (already on disk, or given with a CA directory).
    Existing {
        cert_pem: String,
        key_pem: SecretPem,
    },
}

/// A server certificate to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOrder {
    pub sans: Vec<San>,
    pub cert: NodePath,
    pub key: NodePath,
}

/// What `apply` must generate before it writes: data only, so `plan` can
/// show it without making a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueOrder {
    pub signer: Signer,
    pub server: Option<ServerOrder>,
    pub key_type: KeyType,
    /// Where the registry reads its certificates (for messages).
    pub cert_dir: NodePath,
}

impl IssueOrder {
    /// Whether anything will be generated.
    pub fn generates(&self) -> bool {
        matches!(self.signer, Signer::New { .. }) || self.server.is_some()
    }
}

/// Every file a run touches, in the order they are shown.
#[derive(Debug, Default)]
pub struct Plan {
    pub files: Vec<FileChange>,
    pub notices: Vec<Notice>,
    /// Certificates made (apply) or to be made (plan).
    pub certificates: Vec<PendingCert>,
    /// Certificates still to generate; `apply` turns them into files first.
    pub orders: Vec<IssueOrder>,
}

impl Plan {
    pub fn changed(&self) -> bool {
        self.files.iter().any(FileChange::changes) || self.orders.iter().any(IssueOrder::generates)
    }

    /// containerd must be restarted for the change to take effect.
    pub fn restart_required(&self) -> bool {
        self.files.iter().any(|f| f.needs_restart && f.changes())
    }

    /// The warnings' messages, in order.
    pub fn warnings(&self) -> Vec<&str> {
        self.notices
            .iter()
            .filter(|n| n.severity >= Severity::Warning)
            .map(|n| n.message.as_str())
            .collect()
    }

    pub fn warn(&mut self, notice: Notice) {
        self.notices.push(notice);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(bytes: &str, mode: u32) -> Existing {
        Existing {
            bytes: bytes.as_bytes().to_vec(),
            mode,
        }
    }

    fn change(before: Option<(&str, u32)>, after: &str) -> FileChange {
        let before = before.map(|(b, m)| existing(b, m));
        FileChange {
            needs_restart: true,
            ..FileChange::write(NodePath::fixed("/etc/x"), before, after.into(), 0o644)
        }
    }

    #[test]
    fn actions_follow_content_and_mode() {
        assert_eq!(change(None, "a").action(), Action::Create);
        assert_eq!(change(Some(("a", 0o644)), "b").action(), Action::Update);
        assert_eq!(change(Some(("a", 0o644)), "a").action(), Action::Unchanged);
        let mut loosened = change(Some(("a", 0o644)), "a");
        loosened.op = Op::Write {
            after: Content::Held(b"a".to_vec()),
            mode: 0o600,
        };
        assert_eq!(loosened.action(), Action::Update);
        let gone = FileChange::delete(NodePath::fixed("/etc/x"), existing("a", 0o640));
        assert_eq!((gone.action(), gone.mode()), (Action::Delete, 0o640));
    }

    #[test]
    fn bytes_the_file_already_holds_are_not_held_twice() {
        let same = change(Some(("a", 0o644)), "a");
        assert!(matches!(same.after(), Some(Content::Same)));
        assert_eq!(same.after_held(), Some(&b"a"[..]));
        assert_eq!(same.after_sha256(), Some(Sha256::of(b"a")));
        assert_eq!(
            (same.action(), same.content_changes()),
            (Action::Unchanged, false)
        );
        let key = FileChange::exact(
            NodePath::fixed("/k"),
            Some(existing("a", 0o644)),
            b"a".to_vec(),
            0o600,
            true,
        );
        assert!(matches!(key.after(), Some(Content::Same)));
        assert_eq!((key.action(), key.mode()), (Action::Update, 0o600));
        let other = change(Some(("a", 0o644)), "b");
        assert_eq!(other.after(), Some(&Content::Held(b"b".to_vec())));
        assert_eq!(change(None, "").after(), Some(&Content::Held(Vec::new())));
    }

    #[test]
    fn a_copy_is_never_held() {
        let source = std::path::Path::new("/in/ca.crt");
        let copied = |before: Option<Existing>| {
            FileChange::copied(
                NodePath::fixed("/h/ca.crt"),
                before,
                (source, b"ca"),
                0o644,
                false,
            )
        };
        let new = copied(None);
        let Some(Content::Copy(copy)) = new.after() else {
            panic!("a new copy is held: {new:?}");
        };
        assert_eq!((copy.len, copy.sha256), (2, Sha256::of(b"ca")));
        assert_eq!(copy.source, source);
        assert_eq!((new.action(), new.after_held()), (Action::Create, None));
        let changed = copied(Some(existing("old", 0o644)));
        assert!(matches!(changed.after(), Some(Content::Copy(_))));
        assert_eq!(changed.action(), Action::Update);
        assert!(changed.content_changes());
        let same = copied(Some(existing("ca", 0o644)));
        assert!(matches!(same.after(), Some(Content::Same)));
        assert_eq!(same.after_held(), Some(&b"ca"[..]));
        assert_eq!(same.action(), Action::Unchanged);
        // Only the mode differs: an update with the same bytes, held.
        let loose = copied(Some(existing("ca", 0o666)));
        assert_eq!((loose.action(), loose.mode()), (Action::Unchanged, 0o666));
        let key = FileChange::copied(
            NodePath::fixed("/h/c.key"),
            Some(existing("k", 0o644)),
            (source, b"k"),
            0o600,
            true,
        );
        assert_eq!(
            (key.action(), key.content_changes()),
            (Action::Update, false)
        );
    }

    #[test]
    fn an_existing_file_keeps_its_mode_unless_certsd_owns_it() {
        let kept = FileChange::write(
            NodePath::fixed("/k"),
            Some(existing("a", 0o640)),
            b"b".to_vec(),
            0o644,
        );
        assert_eq!(kept.mode(), 0o640);
        let key = FileChange::owned(
            NodePath::fixed("/k"),
            Some(existing("a", 0o644)),
            b"a".to_vec(),
            0o600,
            true,
        );
        assert_eq!((key.mode(), key.secret), (0o600, true));
        assert_eq!(key.action(), Action::Update);
    }

    #[test]
    fn warnings_leave_out_info_notices() {
        let mut plan = Plan::default();
        for (severity, message) in [
            (Severity::Info, "fyi"),
            (Severity::Warning, "careful"),
            (Severity::Error, "broken"),
        ] {
            plan.warn(Notice {
                code: "test",
                severity,
                span: None,
                message: message.into(),
            });
        }
        assert_eq!(plan.warnings(), ["careful", "broken"]);
    }

    #[test]
    fn restart_only_when_a_restart_file_changes() {
        let mut plan = Plan {
            files: vec![change(Some(("a", 0o644)), "a")],
            ..Plan::default()
        };
        assert!(!plan.restart_required() && !plan.changed());
        plan.files[0].op = Op::Write {
            after: Content::Held(b"b".to_vec()),
            mode: 0o644,
        };
        assert!(plan.restart_required() && plan.changed());
    }
}

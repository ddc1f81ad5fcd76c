//! Letting the real containerd judge a new config.toml before it is
//! installed, the way `visudo -c` or `nginx -t` do (issue 15).
//!
//! The new text goes to a scratch file beside the old one and `containerd
//! --config SCRATCH config dump` reads it as the daemon will: imports
//! merged, older versions migrated. A refusal stops the apply, quoting
//! containerd. An accepted file must then mean what the diff says: its dump
//! and the current file's may differ only in `config_path` (see `dump`), and
//! containerd must take the `config_path` certsd wrote.
//!
//! The scratch files are not node state: they are made 0600 with
//! `create_new`, never renamed over anything, and removed when the check
//! ends, whatever its outcome.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::containerd::{self, Binary, Dump};
use super::dump::{self, Effective};
use super::imports::{Imports, Missing, SCRATCH_MARK};
use super::paths::{NodePath, Root};

/// Whether `apply` had containerd check the new config.toml (the JSON
/// report's `validation` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Validation {
    pub ran: bool,
    /// The containerd binary used or found.
    pub binary: Option<String>,
    /// The version it reports.
    pub version: Option<String>,
    /// Why it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Validation {
    /// `binary` checked the file.
    pub fn ran(binary: &Binary) -> Validation {
        Validation {
            ran: true,
            binary: Some(binary.path.display().to_string()),
            version: Some(binary.version.to_string()),
            reason: None,
        }
    }

    /// Not checked, for `reason`.
    pub fn skipped(binary: Option<&Binary>, reason: String) -> Validation {
        Validation {
            ran: false,
            binary: binary.map(|b| b.path.display().to_string()),
            version: binary.map(|b| b.version.to_string()),
            reason: Some(reason),
        }
    }
}

/// What to check.
pub struct Check<'a> {
    pub root: &'a Root,
    pub binary: &'a Binary,
    /// config.toml (node path).
    pub config: &'a NodePath,
    /// Its current text; `None` when it is created.
    pub old: Option<&'a str>,
    pub new: &'a str,
    /// The `config_path` the new text sets.
    pub want: Option<&'a str>,
}

/// Runs the check; `Err` (nothing written) when containerd refuses the new
/// file or reads it differently from what the diff shows.
pub fn check(c: &Check<'_>) -> Result<()> {
    let real = c.root.resolve(c.config)?;
    let mut scratch = Scratch::new(existing_dir(&real));
    let Staged {
        new_file,
        old_file,
        missing,
    } = stage(c, &real, &mut scratch)?;
    let run = Run {
        c,
        cwd: c.root.dir(),
        new_file: &new_file,
    };
    let new_dump = match run.dump(&new_file)? {
        Dump::Accepted(text) => text,
        Dump::Refused(msg) => return Err(run.refused(&msg, old_file.as_deref())),
    };
    if let Some(gone) = missing.first() {
        bail!(
            "{} imports {:?}, which does not exist: containerd {} would not start \
             (its `config dump` does not notice); create the file or remove the entry \
             (nothing was written)",
            gone.file,
            gone.entry,
            c.binary.version
        );
    }
    let new_eff = Effective::parse(&c.config.to_string(), &new_dump)?;
    run.takes_config_path(&new_eff)?;
    if let Some(old_file) = &old_file
        && let Dump::Accepted(old_dump) = run.dump(old_file)?
    {
        let old_eff = Effective::parse(&c.config.to_string(), &old_dump)?;
        let old_name = old_file.to_string_lossy();
        let found = dump::unexpected(&old_eff, &old_name, &new_eff, &new_file.to_string_lossy());
        if !found.is_empty() {
            bail!(run.differs(&found, &old_dump, &new_dump));
        }
    }
    Ok(())
}

/// The files the dumps read, written to the scratch area.
struct Staged {
    new_file: PathBuf,
    /// The current config as the dump reads it (itself, or a copy whose
    /// imports are resolved inside the root); `None` when it is created.
    old_file: Option<PathBuf>,
    missing: Vec<Missing>,
}

fn stage(c: &Check<'_>, real: &Path, scratch: &mut Scratch) -> Result<Staged> {
    let under_root = !c.root.is_system();
    let mut walk = Imports::new(c.root, c.binary.version, under_root.then(|| scratch.dir()));
    let new_text = walk.prepare(c.config, c.new);
    let missing = std::mem::take(&mut walk.missing);
    let old_text = c.old.map(|old| (old, walk.prepare(c.config, old)));
    for (path, text) in &walk.copies {
        scratch.write(path, text)?;
    }
    // Beside the old file, so relative imports mean what they will mean; a
    // config created in a directory that does not exist yet has none.
    let new_file = Scratch::beside(
        &existing_dir(real).join(real.file_name().unwrap_or_default()),
        "new",
    );
    scratch.write(&new_file, &new_text)?;
    let old_file = match &old_text {
        Some((old, prepared)) if old != prepared => {
            let file = Scratch::beside(real, "old");
            scratch.write(&file, prepared)?;
            Some(file)
        }
        Some(_) => Some(real.to_path_buf()),
        None => None,
    };
    Ok(Staged {
        new_file,
        old_file,
        missing,
    })
}

/// The directory of `file`, or the nearest one above it that exists.
fn existing_dir(file: &Path) -> &Path {
    let mut dir = file.parent().unwrap_or(Path::new("/"));
    while !dir.is_dir() {
        dir = dir.parent().unwrap_or(Path::new("/"));
    }
    dir
}

/// One check's dumps and messages.
struct Run<'a> {
    c: &'a Check<'a>,
    cwd: &'a Path,
    new_file: &'a Path,
}

impl Run<'_> {
    fn dump(&self, file: &Path) -> Result<Dump> {
        containerd::config_dump(self.c.binary, file, self.cwd)
    }

    /// containerd, by version and path, for messages.
    fn who(&self) -> String {
        format!(
            "containerd {} ({})",
            self.c.binary.version,
            self.c.binary.path.display()
        )
    }

    /// The refusal, saying whether the current file is refused as well.
    fn refused(&self, msg: &str, old_file: Option<&Path>) -> anyhow::Error {
        let msg = msg.replace(
            &*self.new_file.to_string_lossy(),
            &format!("{} (new)", self.c.config),
        );
        let also = match old_file.map(|f| self.dump(f)) {
            Some(Ok(Dump::Refused(_))) => format!(
                "; it refuses the current {} too: fix that first",
                self.c.config
            ),
            _ => String::new(),
        };
        anyhow::anyhow!(
            "{} refuses the new {}: {msg}{also} (nothing was written)",
            self.who(),
            self.c.config
        )
    }

    /// containerd must read the `config_path` certsd wrote.
    fn takes_config_path(&self, new: &Effective) -> Result<()> {
        let Some(want) = self.c.want else {
            return Ok(());
        };
        let got = new.config_path().unwrap_or_default();
        if got != want {
            bail!(
                "{} would not use the edit: after it, the effective {} is {got:?}, not {want:?} \
                 (the file's version or an import overrides it); nothing was written",
                self.who(),
                new.config_path_name()
            );
        }
        Ok(())
    }

    fn differs(&self, found: &[dump::Difference], old: &str, new: &str) -> String {
        let keys: Vec<String> = found.iter().take(5).map(ToString::to_string).collect();
        let more = found.len().saturating_sub(5);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!(
            "{} would read the new {} differently from the diff above: besides config_path, \
             it changes {}{more}; nothing was written. `config dump` before and after:\n{}",
            self.who(),
            self.c.config,
            keys.join("; "),
            dump::line_diff(old, new, 30).trim_end()
        )
    }
}

/// Scratch files of one check, removed on drop.
struct Scratch {
    dir: PathBuf,
    made_dir: bool,
    files: Vec<PathBuf>,
}

impl Scratch {
    fn new(beside: &Path) -> Scratch {
        Scratch {
            dir: beside.join(format!("{SCRATCH_MARK}{}", std::process::id())),
            made_dir: false,
            files: Vec::new(),
        }
    }

    /// The directory for copies of drop-ins (made on first use).
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// `.config.toml.certsd-validate-new-PID` beside `file`.
    fn beside(file: &Path, what: &str) -> PathBuf {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        file.with_file_name(format!(
            ".{name}{SCRATCH_MARK}{what}-{}",
            std::process::id()
        ))
    }

    fn write(&mut self, path: &Path, text: &str) -> Result<()> {
        if path.starts_with(&self.dir) && !self.made_dir {
            DirBuilder::new()
                .mode(0o700)
                .create(&self.dir)
                .with_context(|| format!("cannot create {}", self.dir.display()))?;
            self.made_dir = true;
        }
        // A leftover of a killed run with our pid is ours to replace.
        let _ = fs::remove_file(path);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create {} to validate", path.display()))?;
        self.files.push(path.to_path_buf());
        file.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for file in &self.files {
            let _ = fs::remove_file(file);
        }
        if self.made_dir {
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// containerd 2.1 from `tests/e2e/setup.sh`, when it is there.
    fn containerd_2_1() -> Option<Binary> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/e2e-containerd/2.1/usr/bin/containerd");
        containerd::ask(&path).ok()
    }

    /// The edit certsd made before issue 8 on a `version = 2` file that
    /// already uses 2.x plugin names: a grpc registry table beside the
    /// images one. 2.1's migration replaces the images registry table with
    /// it, so the headers vanish from the dump: the check must refuse it.
    #[test]
    fn the_pre_issue_8_edit_of_a_v2_file_is_refused() {
        let Some(binary) = containerd_2_1() else {
            eprintln!("containerd 2.1 missing (tests/e2e/setup.sh): SKIPPED");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_path_buf());
        fs::create_dir_all(dir.path().join("etc/containerd")).unwrap();
        let old = "version = 2\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  \
                   config_path = \"/x\"\n[plugins.\"io.containerd.cri.v1.images\".registry.headers]\n  \
                   X-A = [\"b\"]\n";
        let new = format!(
            "{old}\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"/etc/containerd/certs.d\"\n"
        );
        let config = NodePath::fixed("/etc/containerd/config.toml");
        fs::write(root.host_path(&config), old).unwrap();
        let wrong = Check {
            root: &root,
            binary: &binary,
            config: &config,
            old: Some(old),
            new: &new,
            want: Some("/etc/containerd/certs.d"),
        };
        let err = check(&wrong).unwrap_err().to_string();
        assert!(
            err.contains("registry.headers: {X-A = [\"b\"]} -> (absent)"),
            "{err}"
        );
        assert!(
            err.contains("-        X-A = ['b']"),
            "the dump diff is shown: {err}"
        );
        let left: Vec<_> = fs::read_dir(dir.path().join("etc/containerd"))
            .unwrap()
            .collect();
        assert_eq!(left.len(), 1, "scratch files were left");
        // The same file with the edit made where 2.1 reads it passes.
        let right = old.replace("\"/x\"", "\"/etc/containerd/certs.d\"");
        check(&Check {
            new: &right,
            ..wrong
        })
        .unwrap();
    }
}

//! The node as containerd sees it: paths under `--root`, reading its files,
//! the installed containerd (and its judgement of a new config.toml), and
//! the snapshot every command starts from.
//!
//! [`Node::read`] reads config.toml once; the planner (and later doctor and
//! migrate) take their facts from it rather than opening files themselves.

pub mod containerd;
mod copy;
mod dirs;
mod dump;
mod imports;
mod paths;
mod read;
pub mod reads;
mod stat;
pub mod validate;

use std::path::PathBuf;

use anyhow::Result;

pub use copy::CopyOf;
pub use dirs::{DirEntry, list_dir};
pub use paths::{NodePath, Resolver, Root, join};
pub use read::{Existing, read_bounded, read_existing, read_required};

use crate::formats::containerd_config::ContainerdConfig;
use crate::formats::hosts_toml::HostsFile;
use crate::version::{ConfigVersion, Target};

/// What one run knows about the node, read once.
#[derive(Debug)]
pub struct Node {
    /// The root, resolving each directory's links once: a run reads
    /// several files in each of thousands of host directories, and nothing
    /// writes while the snapshot is in use (the writer resolves for itself).
    paths: Resolver,
    config_path: NodePath,
    config_file: Option<Existing>,
    config: ContainerdConfig,
    target: Option<Target>,
}

impl Node {
    /// Reads config.toml at `config_path` (a missing or blank file becomes a
    /// new one from the template for `target`) and keeps the containerd it is for.
    pub fn read(root: Root, config_path: NodePath, target: Option<Target>) -> Result<Node> {
        let config_file = read_existing(&root, &config_path)?;
        let config = match &config_file {
            Some(file) if !is_blank(&file.bytes) => {
                read::refuse_bom(&config_path, &file.bytes)?;
                ContainerdConfig::parse(config_path.as_path(), &file.bytes)?
            }
            _ => {
                let version = target
                    .as_ref()
                    .map_or(ConfigVersion::V2, |t| ConfigVersion::native_for(t.version));
                ContainerdConfig::from_template(version)
            }
        };
        Ok(Node {
            paths: Resolver::new(root),
            config_path,
            config_file,
            config,
            target,
        })
    }

    /// Where a node path really is, as [`Root::resolve`] says.
    pub fn resolve(&self, path: &NodePath) -> Result<PathBuf> {
        self.paths.resolve(path)
    }

    /// Readies the lookup of many children of `dir` (see [`Resolver::prime`]).
    pub fn prime(&self, dir: &NodePath) -> Result<()> {
        self.paths.prime(dir)
    }

    /// The directory treated as `/`.
    pub fn root(&self) -> &Root {
        self.paths.root()
    }

    /// A directory's entries, sorted; `None` when it is not a directory.
    pub fn list(&self, path: &NodePath) -> Result<Option<Vec<DirEntry>>> {
        dirs::list_dir(self.paths.root(), path)
    }

    /// Where config.toml is (node path).
    pub fn config_path(&self) -> &NodePath {
        &self.config_path
    }

    /// config.toml as parsed (or the template it will be made from).
    pub fn config(&self) -> &ContainerdConfig {
        &self.config
    }

    /// config.toml's bytes and mode on disk, when it exists.
    pub fn config_file(&self) -> Option<&Existing> {
        self.config_file.as_ref()
    }

    /// The containerd the files are for, when known.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }

    /// Any other node file; `None` when it does not exist.
    pub fn file(&self, path: &NodePath) -> Result<Option<Existing>> {
        read::read_resolved(&self.paths.locate(path)?, path)
    }

    /// A PEM text file of the node; `None` when it does not exist.
    pub fn text(&self, path: &NodePath) -> Result<Option<String>> {
        read::text_resolved(&self.paths.locate(path)?, path)
    }

    /// The entries of a node directory as (name, is a directory), sorted by
    /// name; empty when it does not exist.
    pub fn dir_entries(&self, path: &NodePath) -> Result<Vec<(String, bool)>> {
        let real = self.resolve(path)?;
        let entries = match std::fs::read_dir(&real) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => {
                return Err(anyhow::Error::new(err).context(format!("{path}: cannot list")));
            }
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| anyhow::Error::new(e).context(format!("{path}: cannot list")))?;
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            out.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
        }
        out.sort();
        Ok(out)
    }

    /// The mode of a node directory, when it exists.
    pub fn dir_mode(&self, path: &NodePath) -> Result<Option<u32>> {
        use std::os::unix::fs::PermissionsExt;
        let real = self.resolve(path)?;
        Ok(std::fs::metadata(real)
            .ok()
            .filter(std::fs::Metadata::is_dir)
            .map(|m| m.permissions().mode() & 0o7777))
    }

    /// A hosts.toml as it is (parsed; a new one when missing or blank).
    pub fn hosts_file(&self, path: &NodePath) -> Result<(Option<Existing>, HostsFile)> {
        let existing = self.file(path)?;
        let file = Self::hosts_file_of(path, existing.as_ref())?;
        Ok((existing, file))
    }

    /// The hosts.toml at `path` parsed from `existing`, its content as read
    /// (a new one when missing or blank).
    pub fn hosts_file_of(path: &NodePath, existing: Option<&Existing>) -> Result<HostsFile> {
        let file = match existing {
            Some(e) if !is_blank(&e.bytes) => {
                read::refuse_bom(path, &e.bytes)?;
                HostsFile::parse(path.as_path(), &e.bytes)?
            }
            _ => HostsFile::new(),
        };
        Ok(file)
    }
}

/// An empty or whitespace-only file counts as missing.
fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

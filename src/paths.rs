//! Node paths and the `--root` they are read and written under.
//!
//! Every path certsd writes *into* a file is a node path: absolute, as the
//! node will see it at run time. `--root` only changes where certsd itself
//! reads and writes, which matters for image builds and for tests.

use std::path::{Component, Path, PathBuf};

use anyhow::Result;

use crate::exit_codes::usage;

/// The directory treated as `/` (`--root`, default `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(dir: PathBuf) -> Root {
        Root(dir)
    }

    /// The real root, `/`.
    pub fn is_system(&self) -> bool {
        self.0 == Path::new("/")
    }

    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// Where a node path lives on this machine.
    pub fn host_path(&self, node: &NodePath) -> PathBuf {
        let relative = node.0.strip_prefix("/").unwrap_or(&node.0);
        self.0.join(relative)
    }
}

/// An absolute, normalised path as the node sees it (no `..`, no `.`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodePath(PathBuf);

impl NodePath {
    /// Validates a path given on the command line or found in a config.
    pub fn parse(flag: &str, raw: &Path) -> Result<NodePath> {
        if !raw.is_absolute() {
            let example = if flag == "--config" {
                "/etc/containerd/config.toml"
            } else {
                "/etc/containerd/certs.d"
            };
            return Err(usage(format!(
                "{flag} {}: give an absolute path as the node sees it (for example {example})",
                raw.display()
            )));
        }
        let mut clean = PathBuf::from("/");
        for part in raw.components() {
            match part {
                Component::Normal(name) => clean.push(name),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(usage(format!(
                        "{flag} {}: `..` is not allowed in this path",
                        raw.display()
                    )));
                }
            }
        }
        Ok(NodePath(clean))
    }

    /// A known-good constant such as `/etc/containerd/config.toml`.
    pub fn fixed(path: &str) -> NodePath {
        debug_assert!(path.starts_with('/'));
        NodePath(PathBuf::from(path))
    }

    /// A child of this path; `name` must be a single, already validated component.
    #[must_use]
    pub fn join(&self, name: &str) -> NodePath {
        NodePath(self.0.join(name))
    }

    pub fn parent(&self) -> Option<NodePath> {
        self.0.parent().map(|p| NodePath(p.to_path_buf()))
    }

    pub fn file_name(&self) -> String {
        self.0
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The path as a string for writing into TOML; non-UTF-8 paths are refused earlier.
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl std::fmt::Display for NodePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_maps_node_paths_inside_it() {
        let root = Root::new(PathBuf::from("/tmp/r"));
        let node = NodePath::fixed("/etc/containerd/config.toml");
        assert_eq!(
            root.host_path(&node),
            PathBuf::from("/tmp/r/etc/containerd/config.toml")
        );
        assert!(!root.is_system());
        assert!(Root::new(PathBuf::from("/")).is_system());
    }

    #[test]
    fn node_paths_are_absolute_and_clean() {
        let p = NodePath::parse("--certs-dir", Path::new("/etc//containerd/./certs.d/")).unwrap();
        assert_eq!(p.as_str(), "/etc/containerd/certs.d");
        assert!(NodePath::parse("--certs-dir", Path::new("certs.d")).is_err());
        assert!(NodePath::parse("--certs-dir", Path::new("/etc/../tmp")).is_err());
    }
}

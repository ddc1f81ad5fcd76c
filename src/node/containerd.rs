//! The containerd process boundary: what the installed binary says of itself.
//!
//! Later `config dump` lives here too; nothing else in certsd runs containerd.

use std::path::Path;
use std::process::Command;

use super::paths::Root;
use crate::version::{ContainerdVersion, Target};

/// Asks the containerd binary of the node. With `--root` other than `/`,
/// looks for the binary inside the root (an image being built) instead.
pub fn detect(root: &Root) -> Option<Target> {
    let candidates: Vec<std::path::PathBuf> = if root.is_system() {
        vec!["containerd".into()]
    } else {
        [
            "usr/local/bin/containerd",
            "usr/bin/containerd",
            "bin/containerd",
        ]
        .iter()
        .map(|p| root.dir().join(p))
        .filter(|p| p.is_file())
        .collect()
    };
    candidates.iter().find_map(|bin| ask(bin))
}

fn ask(bin: &Path) -> Option<Target> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let version = parse_version_output(&text)?;
    Some(Target {
        version,
        source: format!("from `{} --version`", bin.display()),
    })
}

/// Finds the version in `containerd --version` output, e.g.
/// `containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7`.
pub fn parse_version_output(text: &str) -> Option<ContainerdVersion> {
    text.split_whitespace()
        .skip(1)
        .filter(|w| {
            w.trim_start_matches('v')
                .starts_with(|c: char| c.is_ascii_digit())
                && w.contains('.')
        })
        .find_map(|w| w.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ContainerdVersion {
        s.parse().unwrap()
    }

    #[test]
    fn reads_version_output_of_each_line() {
        let deb = "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1\n";
        assert_eq!(parse_version_output(deb), Some(v("1.6.20")));
        let v2 = "containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376\n";
        assert_eq!(parse_version_output(v2), Some(v("2.1.4")));
        assert_eq!(parse_version_output("garbage"), None);
    }
}

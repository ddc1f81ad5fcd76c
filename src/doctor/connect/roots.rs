//! Go's system certificate pool on Linux, which is what containerd starts
//! from (`rootSystemPool` = `x509.SystemCertPool()`), read under a root
//! directory so `--root` works.
//!
//! Go (`crypto/x509/root_linux.go`, `root_unix.go`): the first bundle file
//! of a fixed list that can be read, then every file in the two
//! directories, skipping symlinks that point inside the same directory.
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` in containerd's environment would
//! replace the lists; that environment is not ours to see, so they are not
//! read.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Go's `certFiles` on Linux, in its order: the first readable one wins.
const BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Go's `certDirectories` on Linux: every file in each is read.
const DIRECTORIES: [&str; 2] = ["/etc/ssl/certs", "/etc/pki/tls/certs"];

/// A system pool: the certificates and the node paths they came from.
#[derive(Debug, Clone, Default)]
pub struct SystemRoots {
    pub certs: Vec<CertificateDer<'static>>,
    /// Node paths (not prefixed by the root) that gave at least one
    /// certificate, for messages.
    pub sources: Vec<String>,
}

impl SystemRoots {
    /// A pool from one PEM bundle (tests, or a caller that knows better).
    pub fn from_pem(source: &str, pem: &[u8]) -> SystemRoots {
        let mut roots = SystemRoots::default();
        roots.add(source, pem);
        roots
    }

    /// Adds every certificate of `pem` not already present, as Go's
    /// `AppendCertsFromPEM` does (bad blocks are skipped).
    fn add(&mut self, source: &str, pem: &[u8]) {
        let seen: HashSet<Vec<u8>> = self.certs.iter().map(|c| c.to_vec()).collect();
        let before = self.certs.len();
        let new = CertificateDer::pem_slice_iter(pem).filter_map(Result::ok);
        self.certs
            .extend(new.filter(|c| !seen.contains(c.as_ref())));
        if self.certs.len() > before {
            self.sources.push(source.to_owned());
        }
    }

    /// "N certificates from /etc/ssl/certs/ca-certificates.crt, ...".
    pub(super) fn describe(&self) -> String {
        if self.certs.is_empty() {
            return "system roots (empty)".to_owned();
        }
        let mut from = self
            .sources
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if self.sources.len() > 3 {
            let _ = write!(from, " and {} more files", self.sources.len() - 3);
        }
        let n = self.certs.len();
        let s = if n == 1 { "" } else { "s" };
        format!("system roots ({n} certificate{s} from {from})")
    }
}

/// Loads the pool Go would build on a node whose filesystem is at `root`
/// (`/` for this machine). Unreadable files are skipped, as Go does.
pub fn load_system_roots(root: &Path) -> SystemRoots {
    let mut roots = SystemRoots::default();
    if let Some((node, pem)) = BUNDLES
        .iter()
        .find_map(|node| Some((node, fs::read(under(root, node)).ok()?)))
    {
        roots.add(node, &pem);
    }
    for dir in DIRECTORIES {
        for name in unique_entries(&under(root, dir)) {
            let node = format!("{dir}/{name}");
            if let Ok(pem) = fs::read(under(root, &node)) {
                roots.add(&node, &pem);
            }
        }
    }
    roots
}

fn under(root: &Path, node: &str) -> std::path::PathBuf {
    root.join(node.trim_start_matches('/'))
}

/// Go's `readUniqueDirectoryEntries`: names in `dir`, minus symlinks whose
/// target has no `/` (a hashed alias of a file already listed).
fn unique_entries(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let same_dir_link = e.file_type().is_ok_and(|t| t.is_symlink())
                && fs::read_link(e.path()).is_ok_and(|t| !t.to_string_lossy().contains('/'));
            !same_dir_link
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // Go's ReadDir sorts by name; the order shows in `sources`.
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(name: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .pem()
    }

    #[test]
    fn first_bundle_wins_then_every_directory_file() {
        let root = tempfile::tempdir().unwrap();
        let write = |node: &str, text: &str| {
            let path = under(root.path(), node);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        };
        let (a, b, c, d) = (pem("a.test"), pem("b.test"), pem("c.test"), pem("d.test"));
        write("/etc/pki/tls/certs/ca-bundle.crt", &a);
        write("/etc/ssl/cert.pem", &b); // later in Go's list: never read
        write("/etc/ssl/certs/extra.pem", &c);
        write("/usr/share/ca/d.pem", &d);
        // A link out of the directory counts (Go skips only same-directory links).
        std::os::unix::fs::symlink(
            "../../../usr/share/ca/d.pem",
            under(root.path(), "/etc/ssl/certs/d.pem"),
        )
        .unwrap();
        std::os::unix::fs::symlink("extra.pem", under(root.path(), "/etc/ssl/certs/abcd1234.0"))
            .unwrap();
        let roots = load_system_roots(root.path());
        // a (bundle, and again from /etc/pki/tls/certs: counted once), c, d.
        assert_eq!(roots.certs.len(), 3, "{:?}", roots.sources);
        assert_eq!(
            roots.sources,
            [
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/certs/d.pem",
                "/etc/ssl/certs/extra.pem"
            ]
        );
        assert!(
            roots
                .describe()
                .starts_with("system roots (3 certificates from "),
            "{}",
            roots.describe()
        );
    }

    #[test]
    fn empty_root_gives_empty_pool() {
        let root = tempfile::tempdir().unwrap();
        assert!(load_system_roots(root.path()).certs.is_empty());
    }
}

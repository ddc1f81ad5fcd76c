//! 2. `certsd apply -f` with three registries (CA, mTLS, basic auth), then
//!    `certsd rollback`: the way back.
//!
//! Before: no hosts.toml, every pull fails with x509 unknown authority.
//! After the apply every pull works; after the rollback (and the restart
//! it asks for) the tree under the root is byte-identical to before (the
//! history and config.toml's backups aside: they are the way back), the
//! CRI plugin is `ok`, and every pull fails again as it did.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{AUTH_PASSWORD, AUTH_USER, Expect, Fixture, Run, X509_UNKNOWN, image, s};
use crate::e2e::say;

/// Every file and directory under `root` with its mode and content, but
/// the history and the backups.
fn tree(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".certsd-history")
        .map(Result::unwrap)
        .filter(|e| !e.file_name().to_string_lossy().contains(".certsd-backup-"))
        .map(|e| {
            let meta = e.metadata().unwrap();
            let bytes = if meta.is_dir() {
                Vec::new()
            } else {
                fs::read(e.path()).unwrap()
            };
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            (rel, (meta.permissions().mode() & 0o7777, bytes))
        })
        .collect()
}

impl Run<'_> {
    pub(super) fn spec_rollback(&mut self) {
        let hosts = [
            Fixture::host(&self.fx.tls),
            Fixture::host(&self.fx.mtls),
            Fixture::host(&self.fx.auth),
        ];
        let before = tree(&self.fx.root);
        for host in &hosts {
            self.pull(
                "rollback-before",
                &image(host, "v1"),
                &Expect::Err(X509_UNKNOWN),
            );
        }
        let dir = self.fx.t.join("rollback-spec");
        fs::create_dir_all(&dir).expect("spec dir");
        fs::write(dir.join("pass"), format!("{AUTH_PASSWORD}\n")).expect("password file");
        let ca = s(&self.fx.ca);
        let spec = format!(
            "[[registries]]\nhost = \"{}\"\nca = \"{ca}\"\n\n\
             [[registries]]\nhost = \"{}\"\nca = \"{ca}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n\n\
             [[registries]]\nhost = \"{}\"\nca = \"{ca}\"\nauth = {{ username = \"{AUTH_USER}\", password_file = \"pass\" }}\n",
            hosts[0],
            hosts[1],
            s(&self.fx.client_crt),
            s(&self.fx.client_key),
            hosts[2],
        );
        fs::write(dir.join("node.toml"), spec).expect("spec");
        self.apply_spec(&dir.join("node.toml"));
        for host in &hosts {
            self.pull("rollback-applied", &image(host, "v1"), &Expect::Ok);
        }
        let root = s(&self.fx.root);
        let out = crate::support::certsd()
            .args([
                "rollback",
                "--root",
                &root,
                "--containerd-version",
                &self.version,
            ])
            .output()
            .expect("run certsd rollback");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "certsd rollback failed: {stderr}");
        assert!(
            stderr.contains("restart containerd"),
            "rollback did not ask for a restart: {stderr}"
        );
        self.stop();
        self.start();
        self.assert_cri_ok("after certsd rollback");
        let after = tree(&self.fx.root);
        let differ: Vec<&String> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        assert!(
            differ.is_empty(),
            "containerd {}: rollback left {differ:?} different",
            self.version
        );
        for host in &hosts {
            self.pull(
                "rollback-undone",
                &image(host, "v1"),
                &Expect::Err(X509_UNKNOWN),
            );
        }
        say(&format!(
            "    rollback: {} files compared, all as before",
            before.len()
        ));
        self.ok(
            "spec-rollback (apply -f three registries, rollback: tree as before, pulls fail again)",
        );
    }
}

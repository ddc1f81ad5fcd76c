//! 9. `certsd apply --migrate` on a legacy config: a `registry.mirrors`
//!    entry whose mirror needs a private CA, given in `configs."MIRROR".tls`.
//!
//! Before: containerd 1.x pulls a tag only the mirror has through CRI (the
//! legacy tables work there). containerd 2.x ignores `configs.*.tls`, so on
//! 2.1 the same pull fails with x509 unknown authority: that is the node's
//! real state, shown as such, and the plan says that the migration adds
//! trust the node did not have. After: every version pulls the tag through
//! CRI and through `ctr --hosts-dir`, the CRI plugin is `ok` (no `mirrors`
//! with `config_path`), the legacy tables are gone from the file and from
//! `config dump`, and a second `apply --migrate` changes nothing.

use std::fs;
use std::path::Path;

use toml_edit::{Array, DocumentMut, Item, Table, value};

use super::super::containerd::registry_table;
use super::super::registry::{self, Registry, Tls};
use super::{Expect, Fixture, Run, X509_UNKNOWN, image, s, version_lt};
use crate::e2e::{cri, say};

/// Where the legacy config names the CA: a node path under /etc/containerd.
const LEGACY_CA: &str = "/etc/containerd/legacy/mirror-ca.pem";

/// Runs certsd with `args` (a subcommand first); (exit ok, stdout, stderr).
fn certsd(args: &[&str]) -> (bool, String, String) {
    let out = crate::support::certsd()
        .args(args)
        .output()
        .expect("run certsd");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `default_config` with `mirrors."NS".endpoint = [MIRROR]` and
/// `configs."MIRROR_HOST".tls.ca_file`, in the table this version reads.
fn legacy_config(default_config: &str, ns: &str, mirror_host: &str) -> String {
    let mut doc: DocumentMut = default_config.parse().expect("config parses");
    let registry = registry_table(&mut doc);
    if registry.get("config_path").is_some() {
        // An empty config_path is containerd's default and allowed with mirrors.
        registry["config_path"] = value("");
    }
    let mut mirror = Table::new();
    mirror["endpoint"] = value(Array::from_iter([format!("https://{mirror_host}")]));
    let mut tls = Table::new();
    tls["ca_file"] = value(LEGACY_CA);
    let mut entry = Table::new();
    entry.set_implicit(true);
    entry.insert("tls", Item::Table(tls));
    for (key, name, item) in [("mirrors", ns, mirror), ("configs", mirror_host, entry)] {
        if registry.get(key).is_none() {
            registry[key] = Item::Table(Table::new());
        }
        registry[key][name] = Item::Table(item);
    }
    doc.to_string()
}

impl Run<'_> {
    pub(super) fn legacy_migrate(&mut self, default_config: &str) {
        self.stop();
        let fx = self.fx;
        let certs = fx.root.join("etc/containerd/certs.d");
        let _ = fs::remove_dir_all(&certs);
        fs::create_dir_all(&certs).expect("certs.d");
        let legacy_ca = fx.root.join(LEGACY_CA.trim_start_matches('/'));
        fs::create_dir_all(legacy_ca.parent().expect("dir")).expect("legacy dir");
        fs::copy(&fx.ca, &legacy_ca).expect("copy CA");

        // A mirror of its own with a tag the upstream does not have.
        let pki = fx.t.join("pki");
        let tls = Tls {
            cert: &pki.join("server.crt"),
            key: &pki.join("server.key"),
            client_ca: None,
        };
        let mirror = Registry::start(&fx.t.join("reg-legacy-mirror"), &tls);
        let certs_for_push = registry::skopeo_cert_dir(&fx.t.join("skopeo-legacy"), &fx.ca, None);
        let mirror_host = Fixture::host(&mirror);
        registry::push(
            &fx.ns,
            &fx.layout_dir,
            "v1",
            &image(&mirror_host, "legacy-only"),
            &certs_for_push,
        );
        let ns = Fixture::host(&fx.tls);
        let wanted = image(&ns, "legacy-only");
        let legacy = legacy_config(default_config, &ns, &mirror_host);
        fs::write(&fx.config, &legacy).expect("write legacy config");

        self.start();
        self.assert_cri_ok("with the legacy config");
        let two_x = !version_lt(&self.version, "2.0.0");
        self.before(&wanted, two_x);
        self.migrate_and_check(&ns, two_x);
        self.pull("legacy-migrated-pull", &wanted, &Expect::Ok);
        self.ok("legacy-migrate (pulls through the mirror with its CA after the migration)");
        self.again();
        drop(mirror);
        self.stop();
    }

    /// The node before the migration, through CRI (ctr ignores the CRI config).
    fn before(&self, wanted: &str, two_x: bool) {
        let cd = self.cd();
        let got = cri::pull(&cd.socket, wanted).map(drop);
        let _ = cri::remove(&cd.socket, wanted);
        match (two_x, got) {
            (false, Ok(())) => say("    before: CRI pull through the legacy mirror works"),
            (true, Err(e)) if e.contains(X509_UNKNOWN) => say(&format!(
                "    before: containerd {} ignores configs.tls, CRI pull fails: {}",
                self.version,
                e.trim().lines().last().unwrap_or_default()
            )),
            (_, got) => panic!(
                "containerd {}: legacy CRI pull of {wanted} before migrating gave {got:?}\nlog:\n{}",
                self.version,
                cd.log()
            ),
        }
    }

    /// `plan --migrate` explains the moves (and on 2.x the trust it adds),
    /// `apply --migrate` writes; containerd restarts with the CRI plugin ok.
    fn migrate_and_check(&mut self, ns: &str, two_x: bool) {
        let root = s(&self.fx.root);
        let flags = [
            "--root",
            &root,
            "--containerd-version",
            &self.version,
            "--migrate",
        ];
        let (ok, out, err) = certsd(&[&["plan"][..], &flags].concat());
        assert!(ok, "certsd plan --migrate failed: {err}");
        let moved = format!("# registry.mirrors.{ns:?} (config.toml:");
        assert!(out.contains(&moved), "no move line `{moved}` in:\n{out}");
        let adds = err.contains("containerd 2.x ignores configs.*.tls");
        assert_eq!(
            adds, two_x,
            "containerd {}: the adds-trust warning:\n{err}",
            self.version
        );
        let (ok, _, err) = certsd(&[&["apply"][..], &flags].concat());
        assert!(ok, "certsd apply --migrate failed: {err}");
        self.stop();
        self.start();
        self.assert_cri_ok("after certsd apply --migrate");
        let written = fs::read_to_string(&self.fx.config).expect("read config");
        assert!(
            !written.contains(&format!("mirrors.{ns:?}")) && !written.contains("ca_file"),
            "legacy tables left in config.toml:\n{written}"
        );
        self.check_dump(ns);
        say("    after: config.toml has config_path, no legacy tables (also in config dump)");
    }

    fn check_dump(&self, ns: &str) {
        let dump: DocumentMut = self
            .bin
            .config_dump(&self.fx.config)
            .parse()
            .expect("dump parses");
        let plugin = if version_lt(&self.version, "2.0.0") {
            "io.containerd.grpc.v1.cri"
        } else {
            "io.containerd.cri.v1.images"
        };
        let registry = &dump["plugins"][plugin]["registry"];
        assert_eq!(
            registry["config_path"].as_str(),
            Some("/etc/containerd/certs.d"),
            "{registry}"
        );
        let mirrors = registry.get("mirrors").and_then(Item::as_table_like);
        assert!(
            mirrors.is_none_or(|m| m.get(ns).is_none()),
            "config dump still has the mirror: {registry}"
        );
    }

    /// A second `apply --migrate` writes nothing.
    fn again(&self) {
        let root = s(&self.fx.root);
        let snapshot = |dir: &Path| -> Vec<(String, Vec<u8>)> {
            let mut files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(|e| (s(e.path()), fs::read(e.path()).expect("read")))
                .collect();
            files.sort();
            files
        };
        let before = snapshot(&self.fx.root.join("etc/containerd"));
        let (ok, _, err) = certsd(&[
            "apply",
            "--root",
            &root,
            "--containerd-version",
            &self.version,
            "--migrate",
        ]);
        assert!(
            ok && err.contains("nothing to change"),
            "second apply --migrate: {err}"
        );
        assert_eq!(before, snapshot(&self.fx.root.join("etc/containerd")));
        self.ok("legacy-migrate-again (a second apply --migrate changes nothing)");
    }
}

//! The scenario run against one containerd version: a fixture (certificates,
//! namespace, registries, image) and then the cases in order, each printing
//! `e2e containerd X.Y.Z: CASE ok`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use toml_edit::{Array, DocumentMut, Item, Table, value};

use super::certsd::{certsd_apply, certsd_doctor, self_signed_server_files};
use super::containerd::{Binaries, Containerd, Layout, isolate, registry_table};
use super::daemon::Namespace;
use super::registry::{self, Registry, Tls};
use super::{cri, oci, pki, say};

mod migrate;
mod rollback;

/// The registry's name: not loopback-looking, so containerd applies normal
/// TLS rules; it resolves to 127.0.0.1 only inside the test's namespace.
const NAME: &str = "registry.certsd.test";
const REPO: &str = "e2e/hello";
/// Every version's pull error ends with this when the CA is unknown (1.7+
/// prefix it with `tls: failed to verify certificate: `).
const X509_UNKNOWN: &str = "x509: certificate signed by unknown authority";
/// The registry (distribution 2.8.2, Go 1.19) alerts `bad certificate` when
/// the client sends no certificate (2.1's ctr adds `readLoopPeekFailLocked: `).
const NO_CLIENT_CERT: &str = "remote error: tls: bad certificate";
/// The basic-auth registry's account (a test password, nothing else).
const AUTH_USER: &str = "e2e-puller";
const AUTH_PASSWORD: &str = "e2e-Pa55-not-secret";

enum Expect<'a> {
    Ok,
    /// The error contains this text, through CRI and through ctr.
    Err(&'a str),
}

fn image(host: &str, tag: &str) -> String {
    format!("{host}/{REPO}:{tag}")
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Certificates, the private namespace, the registries with the image in
/// them (the mirror registry is handed out separately: a case stops it).
struct Fixture {
    t: PathBuf,
    root: PathBuf,
    config: PathBuf,
    ca: PathBuf,
    client_crt: PathBuf,
    client_key: PathBuf,
    layout_dir: PathBuf,
    ns: Namespace,
    tls: Registry,
    mtls: Registry,
    auth: Registry,
}

impl Fixture {
    fn new(t: &Path) -> (Fixture, Registry) {
        // One CA, a server certificate for NAME and 127.0.0.1, a client certificate.
        let pki_dir = t.join("pki");
        let ca = pki::ca(&pki_dir, "certsd e2e CA");
        let server_crt = pki::server(&pki_dir, &pki_dir, NAME, "127.0.0.1");
        let server_key = pki_dir.join("server.key");
        let client_crt = pki::client(&pki_dir, &pki_dir, "certsd-e2e-client");
        let client_key = pki_dir.join("client.key");

        // The node as certsd sees it with --root, bind-mounted over
        // /etc/containerd in a private mount namespace with a private /etc/hosts.
        let root = t.join("root");
        let etc_containerd = root.join("etc/containerd");
        fs::create_dir_all(etc_containerd.join("certs.d")).expect("certs.d");
        let hosts = t.join("hosts");
        fs::write(&hosts, format!("127.0.0.1 localhost\n127.0.0.1 {NAME}\n")).expect("hosts");
        let ns = Namespace::new(
            &[
                (&hosts, Path::new("/etc/hosts")),
                (&etc_containerd, Path::new("/etc/containerd")),
            ],
            &t.join("namespace.log"),
        );

        let server = Tls {
            cert: &server_crt,
            key: &server_key,
            client_ca: None,
        };
        let tls = Registry::start(&t.join("reg-tls"), &server);
        let mtls = Registry::start(
            &t.join("reg-mtls"),
            &Tls {
                client_ca: Some(&ca),
                ..server
            },
        );
        let mirror = Registry::start(&t.join("reg-mirror"), &server);
        let auth =
            Registry::start_with_auth(&t.join("reg-auth"), &server, AUTH_USER, AUTH_PASSWORD);

        let layout_dir = t.join("layout");
        oci::build_layout(&layout_dir, "v1");
        let ca_only = registry::skopeo_cert_dir(&t.join("skopeo-ca"), &ca, None);
        let with_client = registry::skopeo_cert_dir(
            &t.join("skopeo-client"),
            &ca,
            Some((&client_crt, &client_key)),
        );
        let push = |host: String, tag: &str, certs: &Path| {
            registry::push(&ns, &layout_dir, "v1", &image(&host, tag), certs);
        };
        push(format!("{NAME}:{}", tls.port), "v1", &ca_only);
        push(format!("{NAME}:{}", mtls.port), "v1", &with_client);
        push(format!("{NAME}:{}", mirror.port), "v1", &ca_only);
        // A tag only the mirror has: finding it proves the mirror was asked.
        push(format!("{NAME}:{}", mirror.port), "mirror-only", &ca_only);
        registry::push_as(
            &ns,
            &layout_dir,
            "v1",
            &image(&format!("{NAME}:{}", auth.port), "v1"),
            &ca_only,
            Some(&format!("{AUTH_USER}:{AUTH_PASSWORD}")),
        );

        let fx = Fixture {
            t: t.to_owned(),
            config: etc_containerd.join("config.toml"),
            root,
            ca,
            client_crt,
            client_key,
            layout_dir,
            ns,
            tls,
            mtls,
            auth,
        };
        (fx, mirror)
    }

    fn host(r: &Registry) -> String {
        format!("{NAME}:{}", r.port)
    }
}

/// One containerd version being driven through the cases.
struct Run<'a> {
    version: String,
    bin: &'a Binaries,
    fx: &'a Fixture,
    layout: Layout,
    containerd: Option<Containerd>,
    starts: usize,
}

impl Run<'_> {
    fn ok(&self, case: &str) {
        say(&format!("e2e containerd {}: {case} ok", self.version));
    }

    fn start(&mut self) {
        self.starts += 1;
        let log = format!("containerd-{}.log", self.starts);
        self.containerd = Some(Containerd::start(self.bin, &self.fx.ns, &self.layout, &log));
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.containerd.take() {
            c.stop();
        }
    }

    fn cd(&self) -> &Containerd {
        self.containerd.as_ref().expect("containerd running")
    }

    /// `--root ROOT` and the default `--config` (/etc/containerd/config.toml,
    /// read under ROOT), so the node paths in the files match what containerd
    /// sees in the namespace.
    fn apply_args<'b>(&'b self, root: &'b str, host: &'b str, flags: &[&'b str]) -> Vec<&'b str> {
        let mut args = vec![
            "--root",
            root,
            "--containerd-version",
            &self.version,
            "--host",
            host,
        ];
        args.extend_from_slice(flags);
        args
    }

    /// `certsd apply` for `host` with `flags`; restarts containerd when
    /// config.toml changed (hosts.toml changes need no restart); checks the
    /// CRI plugins still load.
    fn apply(&mut self, host: &str, flags: &[&str]) {
        let before = fs::read(&self.fx.config).expect("read config");
        let root = s(&self.fx.root);
        let args = self.apply_args(&root, host, flags);
        if let Err(e) = certsd_apply(&args) {
            panic!("certsd apply {args:?} failed: {e}");
        }
        if fs::read(&self.fx.config).expect("read config") != before {
            self.stop();
            self.start();
        }
        self.assert_cri_ok(&format!("after certsd apply {flags:?}"));
    }

    fn assert_cri_ok(&self, when: &str) {
        let rows = self.cd().cri_plugins(&self.fx.ns);
        assert!(
            rows.iter().all(|(_, _, s)| s == "ok"),
            "containerd {} CRI plugins not ok {when}: {rows:?}\nlog {}:\n{}",
            self.version,
            self.cd().log_path().display(),
            self.cd().log()
        );
    }

    /// Pulls `image` through CRI and through `ctr --hosts-dir`, checks the
    /// outcome, removes the image again.
    fn pull(&self, case: &str, image: &str, expect: &Expect<'_>) {
        let cd = self.cd();
        let via_cri = cri::pull(&cd.socket, image).map(drop);
        let _ = cri::remove(&cd.socket, image);
        let via_ctr = cd.ctr_pull(&self.fx.ns, image);
        cd.ctr_remove(&self.fx.ns, image);
        for (path, got) in [("CRI", via_cri), ("ctr", via_ctr)] {
            match (expect, got) {
                (Expect::Ok, Ok(())) => {}
                (Expect::Ok, Err(e)) => panic!(
                    "containerd {} {case}: {path} pull of {image} failed: {e}\nlog:\n{}",
                    self.version,
                    cd.log()
                ),
                (Expect::Err(want), Ok(())) => panic!(
                    "containerd {} {case}: {path} pull of {image} worked, expected `{want}`",
                    self.version
                ),
                (Expect::Err(want), Err(e)) => {
                    assert!(
                        e.contains(want),
                        "containerd {} {case}: {path} pull of {image} failed with\n{e}\nexpected `{want}`",
                        self.version
                    );
                    say(&format!(
                        "    {path} error: {}",
                        e.trim().lines().last().unwrap_or_default()
                    ));
                }
            }
        }
    }

    /// `certsd doctor --connect --host HOST` inside the namespace: its
    /// errors must include each of `errors` (the cause of a failing pull),
    /// and there must be none where the pull works.
    fn doctor(&self, case: &str, host: &str, errors: &[&str]) {
        let root = s(&self.fx.root);
        let (code, found, all) = certsd_doctor(
            &self.fx.ns,
            &[
                "--root",
                &root,
                "--containerd-version",
                &self.version,
                "--host",
                host,
            ],
        );
        let named = errors.iter().all(|e| found.iter().any(|f| f == e));
        assert!(
            named
                && code == i32::from(!errors.is_empty())
                && (errors.is_empty() == found.is_empty()),
            "containerd {} {case}: doctor's errors {found:?} (exit {code}), expected {errors:?} (all findings: {all:?})",
            self.version
        );
        say(&format!(
            "    doctor: {}",
            if all.is_empty() {
                "no findings".to_owned()
            } else {
                all.join(", ")
            }
        ));
    }

    /// 1. Nothing from certsd: the registry's CA is unknown.
    fn no_hosts(&mut self) {
        let host = Fixture::host(&self.fx.tls);
        self.pull("no-hosts", &image(&host, "v1"), &Expect::Err(X509_UNKNOWN));
        self.doctor("no-hosts", &host, &["connect-unknown-authority"]);
        self.ok("no-hosts (x509 unknown authority)");
    }

    /// 2. `--ca`, then 3. `--skip-verify` for the same host.
    ///    Trust is per host: `other` (same CA, no hosts.toml) stays untrusted.
    fn ca_and_skip_verify(&mut self, other: &Registry) {
        let host = Fixture::host(&self.fx.tls);
        self.apply(&host, &["--ca", &s(&self.fx.ca)]);
        self.pull("ca-pull", &image(&host, "v1"), &Expect::Ok);
        self.doctor("ca-pull", &host, &[]);
        self.ok("ca-pull");
        let other = Fixture::host(other);
        self.pull(
            "other-host",
            &image(&other, "v1"),
            &Expect::Err(X509_UNKNOWN),
        );
        self.doctor("other-host", &other, &["connect-unknown-authority"]);
        self.ok("other-host (no hosts.toml: still x509 unknown authority)");
        self.apply(&host, &["--skip-verify"]);
        self.pull("skip-verify-pull", &image(&host, "v1"), &Expect::Ok);
        self.doctor("skip-verify-pull", &host, &[]);
        self.ok("skip-verify-pull");
    }

    /// A probe of containerd itself, not of certsd: a hosts.toml with trust
    /// at top level and no `[host]` table. containerd 1.6 and 1.7 before
    /// 1.7.32 reject it (``invalid `host` tree``, logged only) and fall back
    /// to reading the directory docker-style (`*.crt` = CA), so the CA is
    /// named `ca.pem` here to see the rejection.
    fn no_host_table(&mut self) {
        let host = Fixture::host(&self.fx.tls);
        let dir = self.fx.root.join("etc/containerd/certs.d").join(&host);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("host dir");
        fs::copy(&self.fx.ca, dir.join("ca.pem")).expect("copy ca");
        fs::write(
            dir.join("hosts.toml"),
            format!(
                "server = \"https://{host}\"\nca = \"/etc/containerd/certs.d/{host}/ca.pem\"\n"
            ),
        )
        .expect("write hosts.toml");
        let rejects = version_lt(&self.version, "1.7.32");
        let expect = if rejects {
            Expect::Err(X509_UNKNOWN)
        } else {
            Expect::Ok
        };
        self.pull("no-host-table", &image(&host, "v1"), &expect);
        if rejects {
            self.doctor(
                "no-host-table",
                &host,
                &["hosts-no-host-table", "connect-unknown-authority"],
            );
        } else {
            self.doctor("no-host-table", &host, &[]);
        }
        if rejects {
            let log = self.cd().log();
            let line = log
                .lines()
                .find(|l| l.contains("invalid `host` tree"))
                .unwrap_or_else(|| panic!("no `invalid host tree` in the log:\n{log}"));
            say(&format!("    containerd: {line}"));
        }
        let _ = fs::remove_dir_all(&dir);
        self.ok(if rejects {
            "no-host-table (file ignored by this version: certsd must write [host])"
        } else {
            "no-host-table (accepted by this version)"
        });
    }

    /// 4. mTLS: the CA alone is refused by the registry; with the client pair it works.
    fn mtls(&mut self) {
        let host = Fixture::host(&self.fx.mtls);
        let ca = s(&self.fx.ca);
        self.apply(&host, &["--ca", &ca]);
        self.pull(
            "mtls-no-client",
            &image(&host, "v1"),
            &Expect::Err(NO_CLIENT_CERT),
        );
        self.doctor("mtls-no-client", &host, &["connect-client-cert-required"]);
        self.ok("mtls-no-client (refused)");
        let (crt, key) = (s(&self.fx.client_crt), s(&self.fx.client_key));
        self.apply(
            &host,
            &["--ca", &ca, "--client-cert", &crt, "--client-key", &key],
        );
        self.pull("mtls-pull", &image(&host, "v1"), &Expect::Ok);
        self.doctor("mtls-pull", &host, &[]);
        self.ok("mtls-pull");
    }

    /// 5. `--self-signed`: certsd makes the CA and the server certificate; a
    ///    registry serving that certificate is then trusted.
    fn self_signed(&mut self) {
        let port = registry::free_port();
        let host = format!("{NAME}:{port}");
        self.apply(&host, &["--self-signed"]);
        let (crt, key) = self_signed_server_files(&self.fx.root, &host);
        let ca = self
            .fx
            .root
            .join("etc/containerd/certs.d")
            .join(&host)
            .join("ca.crt");
        let tls = Tls {
            cert: &crt,
            key: &key,
            client_ca: None,
        };
        let _registry = Registry::start_on(&self.fx.t.join("reg-self-signed"), &tls, port);
        let certs = registry::skopeo_cert_dir(&self.fx.t.join("skopeo-ss"), &ca, None);
        registry::push(
            &self.fx.ns,
            &self.fx.layout_dir,
            "v1",
            &image(&host, "v1"),
            &certs,
        );
        self.pull("self-signed-pull", &image(&host, "v1"), &Expect::Ok);
        self.doctor("self-signed-pull", &host, &[]);
        self.ok("self-signed-pull");
    }

    /// 6. `--mirror`: the mirror is asked first (a tag only it has is found);
    ///    when it is down, the server answers.
    fn mirror(&mut self, mirror: &mut Registry) {
        let host = Fixture::host(&self.fx.tls);
        let url = format!("https://{}", Fixture::host(mirror));
        self.apply(&host, &["--ca", &s(&self.fx.ca), "--mirror", &url]);
        self.pull("mirror-first", &image(&host, "mirror-only"), &Expect::Ok);
        self.doctor("mirror-first", &host, &[]);
        self.ok("mirror-first");
        mirror.stop();
        self.pull("mirror-fallback", &image(&host, "v1"), &Expect::Ok);
        // The mirror is down but the server answers: a warning, not an error.
        self.doctor("mirror-fallback", &host, &[]);
        self.ok("mirror-fallback");
    }

    /// 7. One spec, three registries (CA, mTLS, basic auth), one process;
    ///    then the same spec without `auth`: the registry answers 401.
    fn spec_three(&mut self) {
        let spec = self.fx.t.join("spec");
        fs::create_dir_all(&spec).expect("spec dir");
        fs::write(spec.join("puller.pass"), format!("{AUTH_PASSWORD}\n")).expect("password file");
        let (tls, mtls, auth) = (
            Fixture::host(&self.fx.tls),
            Fixture::host(&self.fx.mtls),
            Fixture::host(&self.fx.auth),
        );
        let ca = s(&self.fx.ca);
        let body = |with_auth: bool| {
            format!(
                "[[registries]]\nhost = \"{tls}\"\nca = \"{ca}\"\n\n\
                 [[registries]]\nhost = \"{mtls}\"\nca = \"{ca}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n\n\
                 [[registries]]\nhost = \"{auth}\"\nca = \"{ca}\"\n{}",
                s(&self.fx.client_crt),
                s(&self.fx.client_key),
                if with_auth {
                    "auth = { username = \"e2e-puller\", password_file = \"puller.pass\" }\n"
                } else {
                    ""
                }
            )
        };
        fs::write(spec.join("node.toml"), body(true)).expect("spec");
        fs::write(spec.join("no-auth.toml"), body(false)).expect("spec");
        self.apply_spec(&spec.join("node.toml"));
        for (case, host) in [
            ("spec-ca", &tls),
            ("spec-mtls", &mtls),
            ("spec-basic-auth", &auth),
        ] {
            self.pull(case, &image(host, "v1"), &Expect::Ok);
        }
        self.ok("spec-three-registries (CA, mTLS, basic auth: one apply)");
        self.apply_spec(&spec.join("no-auth.toml"));
        // The registry answers 401 with a Basic challenge: 1.6 reports the
        // status, 1.7 and 2.x that they had no credential to answer it with.
        let refused = if version_lt(&self.version, "1.7.0") {
            "401 Unauthorized"
        } else {
            "authorization failed: no basic auth credentials"
        };
        self.pull("spec-no-auth", &image(&auth, "v1"), &Expect::Err(refused));
        self.ok("spec-no-auth (401 without the credential)");
    }

    fn apply_spec(&mut self, spec: &Path) {
        let before = fs::read(&self.fx.config).expect("read config");
        let root = s(&self.fx.root);
        let spec = s(spec);
        let args = [
            "--root",
            &root,
            "--containerd-version",
            &self.version,
            "-f",
            &spec,
        ];
        if let Err(e) = certsd_apply(&args) {
            panic!("certsd apply {args:?} failed: {e}");
        }
        if fs::read(&self.fx.config).expect("read config") != before {
            self.stop();
            self.start();
        }
        self.assert_cri_ok("after certsd apply -f");
    }

    /// 8. Legacy `registry.mirrors`: certsd refuses and leaves the file as it
    ///    was; containerd's CRI plugin would fail with mirrors + `config_path`.
    fn legacy_mirrors(&mut self, default_config: &str) {
        self.stop();
        let legacy = with_legacy_mirror(default_config);
        fs::write(&self.fx.config, &legacy).expect("write legacy config");
        let root = s(&self.fx.root);
        let host = Fixture::host(&self.fx.tls);
        let ca = s(&self.fx.ca);
        let err = certsd_apply(&self.apply_args(&root, &host, &["--ca", &ca]))
            .expect_err("certsd must refuse a config with registry.mirrors");
        assert_eq!(
            fs::read_to_string(&self.fx.config).expect("read config"),
            legacy,
            "certsd changed a config it refused"
        );
        say(&format!(
            "    certsd: {}",
            err.lines().next().unwrap_or_default()
        ));

        let mut doc: DocumentMut = legacy.parse().expect("legacy parses");
        registry_table(&mut doc)["config_path"] = value("/etc/containerd/certs.d");
        fs::write(&self.fx.config, doc.to_string()).expect("write conflicting config");
        self.start();
        let rows = self.cd().cri_plugins(&self.fx.ns);
        assert!(
            rows.iter().any(|(_, _, s)| s == "error"),
            "containerd {}: mirrors + config_path should break the CRI plugin, got {rows:?}",
            self.version
        );
        let log = self.cd().log();
        self.doctor("legacy-mirrors", &host, &["legacy-mirrors-conflict"]);
        let why = log
            .lines()
            .find(|l| l.contains("`mirrors` cannot be set when `config_path` is provided"))
            .unwrap_or_else(|| panic!("no log line naming mirrors and config_path:\n{log}"));
        say(&format!("    containerd: {why}"));
        self.ok("legacy-mirrors-refused (with config_path the CRI plugin is `error`)");
        self.stop();
    }

    /// A probe of containerd: `registry.configs."HOST".tls` together with
    /// `config_path`. Reports whether the CRI plugin loads.
    fn configs_tls_probe(&mut self, default_config: &str) {
        self.stop();
        let host = Fixture::host(&self.fx.tls);
        let mut doc: DocumentMut = default_config.parse().expect("config parses");
        let v3 = doc.get("version").and_then(Item::as_integer).unwrap_or(1) >= 3;
        registry_table(&mut doc)["config_path"] = value("/etc/containerd/certs.d");
        let mut config = doc.to_string();
        let table = if v3 {
            format!("[plugins.'io.containerd.cri.v1.images'.registry.configs.'{host}'.tls]")
        } else {
            format!("[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"{host}\".tls]")
        };
        let _ = write!(config, "\n{table}\n  insecure_skip_verify = true\n");
        fs::write(&self.fx.config, &config).expect("write config");
        self.start();
        let rows = self.cd().cri_plugins(&self.fx.ns);
        let broken = rows.iter().any(|(_, _, s)| s == "error");
        let log = self.cd().log();
        let line = log
            .lines()
            .find(|l| {
                l.contains("configs")
                    && (l.contains("cannot be set when") || l.contains("unknown key"))
            })
            .unwrap_or("(no log line)");
        say(&format!("    containerd: {line}"));
        // 1.x: "`configs.tls` cannot be set when `config_path` is provided";
        // 2.1: "Ignoring unknown key in TOML for plugin" (the key is dropped).
        let expect_broken = version_lt(&self.version, "2.0.0");
        if expect_broken {
            self.doctor("configs-tls-probe", &host, &["legacy-tls-conflict"]);
        } else {
            self.doctor("configs-tls-probe", &host, &[]);
        }
        assert_eq!(
            broken, expect_broken,
            "containerd {}: configs.tls + config_path, CRI plugins {rows:?}",
            self.version
        );
        self.ok(if broken {
            "configs-tls-probe (with config_path the CRI plugin is `error`)"
        } else {
            "configs-tls-probe (CRI plugin loads)"
        });
        self.stop();
    }
}

impl Run<'_> {
    /// 8. (2.x) A version 2 file that already uses the 2.x images table,
    ///    with registry headers, as cloud node templates ship it: certsd sets
    ///    `config_path` there and adds no grpc table, so containerd's
    ///    migration of version 2 keeps the headers; the CA then works.
    fn v2_file_with_images_table(&mut self, default_config: &str) {
        if version_lt(&self.version, "2.0.0") {
            return;
        }
        self.stop();
        let host = Fixture::host(&self.fx.tls);
        let _ = fs::remove_dir_all(self.fx.root.join("etc/containerd/certs.d").join(&host));
        let mut doc: DocumentMut = default_config.parse().expect("config parses");
        doc["version"] = value(2);
        let mut headers = Table::new();
        headers["X-Certsd-E2e"] = value(Array::from_iter(["kept"]));
        doc["plugins"]["io.containerd.cri.v1.images"]["registry"]["headers"] = Item::Table(headers);
        fs::write(&self.fx.config, doc.to_string()).expect("write v2 config");
        self.start();
        self.apply(&host, &["--ca", &s(&self.fx.ca)]);
        let written = fs::read_to_string(&self.fx.config).expect("read config");
        assert!(
            !written.contains("grpc.v1.cri'.registry")
                && !written.contains("grpc.v1.cri\".registry"),
            "certsd added a grpc registry table, which replaces the images one:\n{written}"
        );
        let dump: DocumentMut = self
            .bin
            .config_dump(&self.fx.config)
            .parse()
            .expect("dump parses");
        let registry = &dump["plugins"]["io.containerd.cri.v1.images"]["registry"];
        assert_eq!(
            registry["config_path"].as_str(),
            Some("/etc/containerd/certs.d")
        );
        let header = registry["headers"]["X-Certsd-E2e"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>());
        assert_eq!(
            header,
            Some(vec!["kept"]),
            "headers lost in config dump:\n{registry}"
        );
        say("    config dump: images registry has config_path and the header X-Certsd-E2e");
        self.pull("v2-images-pull", &image(&host, "v1"), &Expect::Ok);
        self.ok("v2-file-with-images-table (headers kept in config dump, CA trusted)");
        self.stop();
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the test must not change outside its temp dir: the host's
/// /etc/hosts and /etc/containerd, and whether containerd's default
/// directories exist.
fn host_fingerprint() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:?}", fs::read("/etc/hosts").ok());
    if let Ok(entries) = fs::read_dir("/etc/containerd") {
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let _ = writeln!(out, "{} {:?}", p.display(), fs::read(&p).ok());
        }
    }
    for d in [
        "/var/lib/containerd",
        "/run/containerd",
        "/opt/containerd",
        "/var/run/nri",
    ] {
        let _ = writeln!(out, "{d} {}", Path::new(d).exists());
    }
    out
}

/// Compares dotted versions numerically (`1.7.24` < `1.7.32`).
fn version_lt(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

/// The config with one legacy `registry.mirrors` entry added.
fn with_legacy_mirror(config: &str) -> String {
    let doc: DocumentMut = config.parse().expect("config parses");
    let v3 = doc.get("version").and_then(Item::as_integer).unwrap_or(1) >= 3;
    let table = if v3 {
        "[plugins.'io.containerd.cri.v1.images'.registry.mirrors.'docker.io']"
    } else {
        "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]"
    };
    let mut out = config.to_owned();
    let _ = write!(
        out,
        "\n{table}\n  endpoint = [\"https://registry-1.docker.io\"]\n"
    );
    out
}

pub fn run(bin: &Binaries) {
    let t0 = Instant::now();
    let host_before = host_fingerprint();
    let version = bin.version();
    if !version.starts_with(&format!("{}.", bin.series)) {
        say(&format!(
            "e2e containerd {}: note: the binary is version {version}",
            bin.series
        ));
    }
    let tmp = tempfile::Builder::new()
        .prefix(&format!("certsd-e2e-{}-", bin.series))
        .tempdir()
        .expect("temp dir");
    let t = tmp.path();
    let (fx, mut mirror) = Fixture::new(t);
    let fixture_time = t0.elapsed();

    // containerd from its own `config default`, paths moved under the temp dir.
    let layout = Layout::new(&t.join("containerd"));
    let default_config = isolate(&bin.config_default(), &layout);
    fs::write(&fx.config, &default_config).expect("write config");
    let mut run = Run {
        version: version.clone(),
        bin,
        fx: &fx,
        layout,
        containerd: None,
        starts: 0,
    };
    run.start();
    run.assert_cri_ok("with the default config");
    let rows = run.cd().cri_plugins(&fx.ns);
    let rows: Vec<String> = rows
        .iter()
        .map(|(t, id, st)| format!("{t} {id} {st}"))
        .collect();
    say(&format!(
        "e2e containerd {version}: CRI plugins: {}",
        rows.join(", ")
    ));

    run.no_hosts();
    run.spec_rollback();
    run.ca_and_skip_verify(&mirror);
    run.no_host_table();
    run.mtls();
    run.self_signed();
    run.mirror(&mut mirror);
    run.spec_three();
    run.legacy_mirrors(&default_config);
    run.configs_tls_probe(&default_config);
    run.v2_file_with_images_table(&default_config);
    run.legacy_migrate(&default_config);
    drop(run);

    assert_eq!(
        host_fingerprint(),
        host_before,
        "the test changed files outside its temp dir"
    );
    say(&format!(
        "e2e containerd {version}: all cases passed in {:.1}s (certificates, registries, image: {:.1}s)",
        t0.elapsed().as_secs_f64(),
        fixture_time.as_secs_f64()
    ));
    if std::env::var_os("CERTSD_E2E_KEEP").is_some() {
        drop((fx, mirror));
        say(&format!(
            "e2e containerd {version}: kept {}",
            tmp.keep().display()
        ));
    }
}

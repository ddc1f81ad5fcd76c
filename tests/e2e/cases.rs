//! The scenario run against one containerd version.

use std::fs;
use std::path::Path;
use std::time::Instant;

use toml_edit::{DocumentMut, value};

use super::certsd::{certsd_apply, self_signed_server_files};
use super::containerd::{Binaries, Containerd, Layout, isolate, registry_table};
use super::daemon::Namespace;
use super::registry::{self, Registry, Tls};
use super::{cri, oci, pki, say};

/// The registry's name: not loopback-looking, so containerd applies normal
/// TLS rules; it resolves to 127.0.0.1 only inside the test's namespace.
const NAME: &str = "registry.certsd.test";
const REPO: &str = "e2e/hello";
const X509_UNKNOWN: &str = "x509: certificate signed by unknown authority";

enum Expect<'a> {
    Ok,
    /// The error contains this text (CRI and ctr alike).
    Err(&'a str),
}

struct Env<'a> {
    version: String,
    bin: &'a Binaries,
    ns: Namespace,
    layout: Layout,
    root: &'a Path,
    config: std::path::PathBuf,
    containerd: Option<Containerd>,
    starts: usize,
}

impl Env<'_> {
    fn ok(&self, case: &str) {
        say(&format!("e2e containerd {}: {case} ok", self.version));
    }

    fn start(&mut self) {
        self.starts += 1;
        let log = format!("containerd-{}.log", self.starts);
        self.containerd = Some(Containerd::start(self.bin, &self.ns, &self.layout, &log));
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.containerd.take() {
            c.stop();
        }
    }

    fn cd(&self) -> &Containerd {
        self.containerd.as_ref().expect("containerd running")
    }

    /// Runs `certsd apply` for `host` with `flags`; restarts containerd when
    /// config.toml changed; checks the CRI plugins load.
    fn apply(&mut self, host: &str, flags: &[&str]) {
        let before = fs::read(&self.config).expect("read config");
        let root = self.root.to_string_lossy().into_owned();
        let mut args = vec![
            "--root",
            &root,
            "--config",
            "/etc/containerd/config.toml",
            "--containerd-version",
            &self.version,
            "--host",
            host,
        ];
        args.extend_from_slice(flags);
        if let Err(e) = certsd_apply(&args) {
            panic!("certsd apply {args:?} failed: {e}");
        }
        if fs::read(&self.config).expect("read config") != before {
            self.stop();
            self.start();
        }
        self.assert_cri_ok(&format!("after certsd apply {flags:?}"));
    }

    fn assert_cri_ok(&self, when: &str) {
        let rows = self.cd().cri_plugins(&self.ns);
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
        let started = Instant::now();
        let via_cri = cri::pull(&cd.socket, image);
        let _ = cri::remove(&cd.socket, image);
        let via_ctr = cd.ctr_pull(&self.ns, image);
        cd.ctr_remove(&self.ns, image);
        for (path, got) in [("CRI", &via_cri.map(drop)), ("ctr", &via_ctr)] {
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
        let _ = started;
    }
}

impl Drop for Env<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn run(bin: &Binaries) {
    let t0 = Instant::now();
    let version = bin.version();
    let tmp = tempfile::Builder::new()
        .prefix(&format!("certsd-e2e-{}-", bin.series))
        .tempdir()
        .expect("temp dir");
    let t = tmp.path();

    // Certificates: one CA, a server certificate for NAME and 127.0.0.1, a client certificate.
    let pki_dir = t.join("pki");
    let ca = pki::ca(&pki_dir, "certsd e2e CA");
    let server_crt = pki::server(&pki_dir, &pki_dir, NAME, "127.0.0.1");
    let server_key = pki_dir.join("server.key");
    let client_crt = pki::client(&pki_dir, &pki_dir, "certsd-e2e-client");
    let client_key = pki_dir.join("client.key");

    // The node as certsd sees it with --root, bind-mounted over /etc/containerd
    // in a private mount namespace together with a private /etc/hosts.
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

    // Registries and the image.
    let tls = Tls {
        cert: &server_crt,
        key: &server_key,
        client_ca: None,
    };
    let r_tls = Registry::start(&t.join("reg-tls"), &tls);
    let r_mtls = Registry::start(
        &t.join("reg-mtls"),
        &Tls {
            client_ca: Some(&ca),
            ..tls
        },
    );
    let mut r_mirror = Registry::start(&t.join("reg-mirror"), &tls);
    let layout_dir = t.join("layout");
    oci::build_layout(&layout_dir, "v1");
    let ca_only = registry::skopeo_cert_dir(&t.join("skopeo-ca"), &ca, None);
    let with_client =
        registry::skopeo_cert_dir(&t.join("skopeo-client"), &ca, Some((&client_crt, &client_key)));
    let tls_host = format!("{NAME}:{}", r_tls.port);
    let mtls_host = format!("{NAME}:{}", r_mtls.port);
    let mirror_host = format!("{NAME}:{}", r_mirror.port);
    registry::push(&ns, &layout_dir, "v1", &format!("{tls_host}/{REPO}:v1"), &ca_only);
    registry::push(&ns, &layout_dir, "v1", &format!("{mtls_host}/{REPO}:v1"), &with_client);
    registry::push(&ns, &layout_dir, "v1", &format!("{mirror_host}/{REPO}:v1"), &ca_only);
    registry::push(&ns, &layout_dir, "v1", &format!("{mirror_host}/{REPO}:mirror-only"), &ca_only);
    let image = |host: &str, tag: &str| format!("{host}/{REPO}:{tag}");
    let setup_time = t0.elapsed();

    // containerd from its own default config, paths moved under the temp dir.
    let layout = Layout::new(&t.join("containerd"));
    let config = etc_containerd.join("config.toml");
    let default_config = isolate(&bin.config_default(), &layout);
    fs::write(&config, &default_config).expect("write config");
    let mut env = Env {
        version: version.clone(),
        bin,
        ns,
        layout,
        root: &root,
        config: config.clone(),
        containerd: None,
        starts: 0,
    };
    env.start();
    env.assert_cri_ok("with the default config");

    // 1. Nothing from certsd: the registry's CA is unknown.
    env.pull("no-hosts", &image(&tls_host, "v1"), &Expect::Err(X509_UNKNOWN));
    env.ok("no-hosts (x509 unknown authority)");

    // 2. --ca
    env.apply(&tls_host, &["--ca", &ca.to_string_lossy()]);
    env.pull("ca-pull", &image(&tls_host, "v1"), &Expect::Ok);
    env.ok("ca-pull");

    // 3. --skip-verify
    env.apply(&tls_host, &["--skip-verify"]);
    env.pull("skip-verify-pull", &image(&tls_host, "v1"), &Expect::Ok);
    env.ok("skip-verify-pull");

    // 4. mTLS: CA alone is refused by the registry; with the client pair it works.
    env.apply(&mtls_host, &["--ca", &ca.to_string_lossy()]);
    env.pull("mtls-no-client", &image(&mtls_host, "v1"), &Expect::Err("tls: "));
    env.ok("mtls-no-client (refused)");
    env.apply(
        &mtls_host,
        &[
            "--ca",
            &ca.to_string_lossy(),
            "--client-cert",
            &client_crt.to_string_lossy(),
            "--client-key",
            &client_key.to_string_lossy(),
        ],
    );
    env.pull("mtls-pull", &image(&mtls_host, "v1"), &Expect::Ok);
    env.ok("mtls-pull");

    // 5. --self-signed: certsd makes the CA and the server certificate; a
    //    registry serving that certificate is then trusted.
    let ss_port = registry::free_port();
    let ss_host = format!("{NAME}:{ss_port}");
    env.apply(&ss_host, &["--self-signed"]);
    let (ss_crt, ss_key) = self_signed_server_files(&root, &ss_host);
    let ss_ca = etc_containerd.join("certs.d").join(&ss_host).join("ca.crt");
    let r_ss = Registry::start_on(
        &t.join("reg-self-signed"),
        &Tls {
            cert: &ss_crt,
            key: &ss_key,
            client_ca: None,
        },
        ss_port,
    );
    let ss_certs = registry::skopeo_cert_dir(&t.join("skopeo-ss"), &ss_ca, None);
    registry::push(&env.ns, &layout_dir, "v1", &image(&ss_host, "v1"), &ss_certs);
    env.pull("self-signed-pull", &image(&ss_host, "v1"), &Expect::Ok);
    env.ok("self-signed-pull");
    drop(r_ss);

    // 6. --mirror: the mirror is tried first (a tag only it has is found),
    //    and when it is down the server answers.
    let mirror_url = format!("https://{mirror_host}");
    env.apply(&tls_host, &["--ca", &ca.to_string_lossy(), "--mirror", &mirror_url]);
    env.pull("mirror-first", &image(&tls_host, "mirror-only"), &Expect::Ok);
    env.ok("mirror-first");
    r_mirror.stop();
    env.pull("mirror-fallback", &image(&tls_host, "v1"), &Expect::Ok);
    env.ok("mirror-fallback");

    // 7. Legacy registry.mirrors: certsd refuses and leaves the file alone;
    //    containerd's CRI plugin would fail with mirrors plus config_path.
    env.stop();
    let legacy = with_legacy_mirror(&default_config);
    fs::write(&config, &legacy).expect("write legacy config");
    let err = certsd_apply(&[
        "--root",
        &root.to_string_lossy(),
        "--config",
        "/etc/containerd/config.toml",
        "--containerd-version",
        &version,
        "--host",
        &tls_host,
        "--ca",
        &ca.to_string_lossy(),
    ])
    .expect_err("certsd must refuse a config with registry.mirrors");
    assert_eq!(
        fs::read_to_string(&config).expect("read config"),
        legacy,
        "certsd changed a config it refused"
    );
    say(&format!("    certsd: {}", err.lines().next().unwrap_or_default()));
    let mut doc: DocumentMut = legacy.parse().expect("legacy parses");
    registry_table(&mut doc)["config_path"] = value("/etc/containerd/certs.d");
    fs::write(&config, doc.to_string()).expect("write conflicting config");
    env.start();
    let rows = env.cd().cri_plugins(&env.ns);
    assert!(
        rows.iter().any(|(_, _, s)| s == "error"),
        "containerd {version}: mirrors + config_path should break the CRI plugin, got {rows:?}"
    );
    let log = env.cd().log();
    let why = log
        .lines()
        .find(|l| l.contains("mirrors") && l.contains("config_path"))
        .unwrap_or("(no log line naming mirrors and config_path)");
    say(&format!("    containerd: {why}"));
    env.ok("legacy-mirrors-refused (CRI plugin error without certsd's refusal)");
    env.stop();
    drop(r_tls);
    drop(r_mtls);
    say(&format!(
        "e2e containerd {version}: all cases passed in {:.1}s (registries+image {:.1}s)",
        t0.elapsed().as_secs_f64(),
        setup_time.as_secs_f64()
    ));
}

/// The config with one legacy `registry.mirrors` entry added.
fn with_legacy_mirror(config: &str) -> String {
    let doc: DocumentMut = config.parse().expect("config parses");
    let v3 = doc.get("version").and_then(|v| v.as_integer()).unwrap_or(1) >= 3;
    let table = if v3 {
        "[plugins.'io.containerd.cri.v1.images'.registry.mirrors.'docker.io']"
    } else {
        "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]"
    };
    let mut out = config.to_owned();
    out.push_str(&format!(
        "\n{table}\n  endpoint = [\"https://registry-1.docker.io\"]\n"
    ));
    out
}

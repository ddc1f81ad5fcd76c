//! The seam to certsd. `certsd_apply` takes the arguments of `certsd apply`
//! (without the subcommand) and either runs the real binary (when
//! `CERTSD_E2E_REAL_CERTSD=1`) or emulates the files it is specified to write,
//! so the end-to-end harness can be built before `apply` lands on main.
//!
//! Emulated contract (see the issue): with `--root DIR`, read and write
//! `DIR/etc/containerd/config.toml` and `DIR/etc/containerd/certs.d/HOST/`,
//! but write node paths (`/etc/containerd/...`) into the files. Refuse (error,
//! file untouched) when `registry.mirrors` is non-empty.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use toml_edit::{DocumentMut, value};

use super::containerd::registry_table;
use super::pki;

const NODE_CERTS_D: &str = "/etc/containerd/certs.d";

/// Runs `certsd apply ARGS`. Ok(stdout) on exit 0, Err(message) otherwise.
pub fn certsd_apply(args: &[&str]) -> Result<String, String> {
    if std::env::var_os("CERTSD_E2E_REAL_CERTSD").is_some_and(|v| v == "1") {
        let out = Command::new(env!("CARGO_BIN_EXE_certsd"))
            .arg("apply")
            .args(args)
            .output()
            .expect("run certsd");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        return if out.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "certsd apply exited {}: {}{text}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        };
    }
    emulate(args)
}

/// Where the `--self-signed` flow leaves the registry's server certificate
/// and key (emulated: `ROOT/etc/certsd/HOST/server.{crt,key}`). Align with
/// issue 3 when the real flow lands.
pub fn self_signed_server_files(root: &Path, host: &str) -> (PathBuf, PathBuf) {
    let dir = root.join("etc/certsd").join(host);
    (dir.join("server.crt"), dir.join("server.key"))
}

#[derive(Default)]
struct Args<'a> {
    root: Option<&'a str>,
    config: Option<&'a str>,
    host: Option<&'a str>,
    ca: Option<&'a str>,
    client_cert: Option<&'a str>,
    client_key: Option<&'a str>,
    skip_verify: bool,
    self_signed: bool,
    mirrors: Vec<&'a str>,
    server: Option<&'a str>,
}

fn parse<'a>(args: &[&'a str]) -> Result<Args<'a>, String> {
    let mut a = Args::default();
    let mut it = args.iter().copied();
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag {
            "--root" => a.root = Some(val()?),
            "--config" => a.config = Some(val()?),
            "--containerd-version" => {
                val()?;
            }
            "--host" => a.host = Some(val()?),
            "--ca" => a.ca = Some(val()?),
            "--client-cert" => a.client_cert = Some(val()?),
            "--client-key" => a.client_key = Some(val()?),
            "--mirror" => a.mirrors.push(val()?),
            "--server" => a.server = Some(val()?),
            "--skip-verify" => a.skip_verify = true,
            "--self-signed" => a.self_signed = true,
            other => return Err(format!("emulated certsd: unknown flag {other}")),
        }
    }
    Ok(a)
}

fn q(s: &str) -> String {
    value(s).to_string().trim().to_owned()
}

fn emulate(args: &[&str]) -> Result<String, String> {
    let a = parse(args)?;
    let root = Path::new(a.root.unwrap_or("/"));
    let host = a.host.ok_or("--host is required")?;
    let config_node = a.config.unwrap_or("/etc/containerd/config.toml");
    let config = root.join(config_node.trim_start_matches('/'));
    let before = fs::read_to_string(&config).map_err(|e| format!("{}: {e}", config.display()))?;
    let mut doc: DocumentMut = before
        .parse()
        .map_err(|e| format!("{}: {e}", config.display()))?;
    let registry = registry_table(&mut doc);
    let legacy = registry
        .get("mirrors")
        .and_then(|m| m.as_table_like())
        .is_some_and(|m| !m.is_empty());
    if legacy {
        return Err(format!(
            "{}: registry.mirrors is set; containerd refuses mirrors together with \
             config_path. Move the mirrors to hosts.toml files first.",
            config.display()
        ));
    }
    if registry.get("config_path").and_then(|v| v.as_str()) != Some(NODE_CERTS_D) {
        registry["config_path"] = value(NODE_CERTS_D);
        fs::write(&config, doc.to_string()).map_err(|e| e.to_string())?;
    }

    let host_dir = root.join(NODE_CERTS_D.trim_start_matches('/')).join(host);
    let node_dir = format!("{NODE_CERTS_D}/{host}");
    fs::create_dir_all(&host_dir).map_err(|e| e.to_string())?;
    let mut trust = String::new();
    let ca_src = if a.self_signed {
        let ca_dir = root.join("etc/certsd").join(host);
        pki::ca(&ca_dir, &format!("certsd self-signed CA for {host}"));
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        pki::server(&ca_dir, &ca_dir, name, "127.0.0.1");
        Some(ca_dir.join("ca.crt"))
    } else {
        a.ca.map(PathBuf::from)
    };
    if let Some(src) = ca_src {
        fs::copy(&src, host_dir.join("ca.crt")).map_err(|e| format!("{}: {e}", src.display()))?;
        let _ = writeln!(trust, "ca = {}", q(&format!("{node_dir}/ca.crt")));
    }
    if let (Some(crt), Some(key)) = (a.client_cert, a.client_key) {
        fs::copy(crt, host_dir.join("client.crt")).map_err(|e| format!("{crt}: {e}"))?;
        fs::copy(key, host_dir.join("client.key")).map_err(|e| format!("{key}: {e}"))?;
        let _ = writeln!(
            trust,
            "client = [[{}, {}]]",
            q(&format!("{node_dir}/client.crt")),
            q(&format!("{node_dir}/client.key"))
        );
    }
    if a.skip_verify {
        trust.push_str("skip_verify = true\n");
    }
    let server = a
        .server
        .map_or_else(|| format!("https://{host}"), str::to_owned);
    let mut hosts = format!("server = {}\n{trust}", q(&server));
    for endpoint in a.mirrors.iter().copied().chain([server.as_str()]) {
        let _ = write!(
            hosts,
            "\n[host.{}]\n  capabilities = [\"pull\", \"resolve\"]\n",
            q(endpoint)
        );
        for line in trust.lines() {
            let _ = writeln!(hosts, "  {line}");
        }
    }
    fs::write(host_dir.join("hosts.toml"), hosts).map_err(|e| e.to_string())?;
    Ok(String::new())
}

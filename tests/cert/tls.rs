//! Real TLS handshakes on 127.0.0.1 with rustls and its webpki verifier, which
//! judges like Go: names match SANs only (never the CN) and the extended key
//! usage must fit (serverAuth for a server, clientAuth for a client).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection, StreamOwned,
};

/// Only a guard against a hung peer; no test waits on it when things work.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn key(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap()
}

fn roots(ca: &Path) -> Arc<RootCertStore> {
    let mut store = RootCertStore::empty();
    for cert in certs(ca) {
        store.add(cert).unwrap();
    }
    Arc::new(store)
}

fn server_config(cert: &Path, private: &Path, client_ca: Option<&Path>) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder();
    let builder = match client_ca {
        Some(ca) => builder
            .with_client_cert_verifier(WebPkiClientVerifier::builder(roots(ca)).build().unwrap()),
        None => builder.with_no_client_auth(),
    };
    Arc::new(builder.with_single_cert(certs(cert), key(private)).unwrap())
}

fn client_config(ca: &Path, client: Option<(&Path, &Path)>) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder().with_root_certificates(roots(ca));
    Arc::new(match client {
        Some((cert, private)) => builder
            .with_client_auth_cert(certs(cert), key(private))
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

fn serve_one(listener: &TcpListener, config: Arc<ServerConfig>) -> Result<(), String> {
    let (sock, _) = listener.accept().map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
    let mut tls = StreamOwned::new(conn, sock);
    let mut byte = [0u8; 1];
    tls.read_exact(&mut byte)
        .map_err(|e| format!("server: {e}"))?;
    tls.write_all(&byte).map_err(|e| format!("server: {e}"))?;
    tls.flush().map_err(|e| format!("server: {e}"))
}

/// One connection; Ok when a byte made the round trip, else both sides' errors.
fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    name: &str,
) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_side = thread::spawn(move || serve_one(&listener, server));
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let conn =
        ClientConnection::new(client, ServerName::try_from(name.to_string()).unwrap()).unwrap();
    let mut tls = StreamOwned::new(conn, sock);
    let mut byte = [0u8; 1];
    let client_side = tls
        .write_all(b"x")
        .and_then(|()| tls.read_exact(&mut byte))
        .map_err(|e| format!("client: {e}"));
    drop(tls);
    let server_side = server_side.join().unwrap();
    match (client_side, server_side) {
        (Ok(()), Ok(())) => Ok(()),
        (c, s) => Err(format!("{c:?} / {s:?}")),
    }
}

fn expect_failure(result: Result<(), String>, why: &str, what: &str) {
    let err = result.expect_err(what);
    assert!(
        err.to_lowercase().contains(why),
        "{what}: expected {why:?} in {err}"
    );
}

/// Server auth by name and IP, a refused name, then mutual TLS.
pub fn handshakes(dir: &Path, key_type: &str) {
    let ca = dir.join("ca/ca.crt");
    let server = server_config(
        &dir.join("srv/server.crt"),
        &dir.join("srv/server.key"),
        None,
    );
    let client = client_config(&ca, None);
    for name in ["reg.test", "x.wild.test", "127.0.0.1", "::1"] {
        handshake(server.clone(), client.clone(), name)
            .unwrap_or_else(|e| panic!("{key_type} {name}: {e}"));
    }
    for name in ["other.test", "a.b.wild.test", "wild.test", "10.0.0.1"] {
        expect_failure(
            handshake(server.clone(), client.clone(), name),
            "not valid for name",
            name,
        );
    }

    let mtls = server_config(
        &dir.join("srv/server.crt"),
        &dir.join("srv/server.key"),
        Some(&ca),
    );
    let with_client = client_config(
        &ca,
        Some((&dir.join("cli/client.crt"), &dir.join("cli/client.key"))),
    );
    handshake(mtls.clone(), with_client, "reg.test")
        .unwrap_or_else(|e| panic!("{key_type} mTLS: {e}"));
    let server_as_client = client_config(
        &ca,
        Some((&dir.join("srv/server.crt"), &dir.join("srv/server.key"))),
    );
    expect_failure(
        handshake(mtls.clone(), server_as_client, "reg.test"),
        "extended key usage for client authentication",
        "a serverAuth-only cert used as client cert",
    );
    expect_failure(
        handshake(mtls, client_config(&ca, None), "reg.test"),
        "certificate",
        "no client cert",
    );
}

/// A self-signed server certificate given as its own CA.
pub fn self_signed_handshake(dir: &Path) {
    let cert = dir.join("ss/server.crt");
    let server = server_config(&cert, &dir.join("ss/server.key"), None);
    let client = client_config(&cert, None);
    handshake(server.clone(), client.clone(), "reg.test").unwrap();
    handshake(server.clone(), client.clone(), "127.0.0.1").unwrap();
    expect_failure(
        handshake(server, client, "other.test"),
        "not valid for name",
        "other.test",
    );
}

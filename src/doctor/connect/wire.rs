//! The network side: resolve and dial within a deadline, a TLS handshake
//! that records instead of judging, and a bare HTTP request.
//!
//! Every read and write goes through [`Deadlined`], which sets the socket
//! timeout to what is left of the one deadline, so a silent peer costs at
//! most the caller's timeout in total. The first bytes the server sends are
//! kept: Go decides "server gave HTTP response to HTTPS client" from a TLS
//! record header that reads `HTTP/`, and so do we.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection};

use super::record::{ClientResolver, Recorder};
use super::{ClientCert, Endpoint};

/// What a TLS attempt saw.
#[derive(Debug)]
pub(super) struct TlsReport {
    /// The server's chain, leaf first; empty if it never sent one.
    pub chain: Vec<CertificateDer<'static>>,
    /// The server sent a `CertificateRequest`.
    pub asked_client_cert: bool,
    /// A client certificate was offered in reply.
    pub sent_client_cert: bool,
    /// Why the client pair could not be used, if it could not.
    pub client_error: Option<String>,
    pub outcome: TlsOutcome,
}

/// How a TLS attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TlsOutcome {
    /// The handshake completed and the server answered (or stayed silent
    /// until the deadline) an HTTP request: its first line, if any.
    Answered(Option<String>),
    /// The server replied to the `ClientHello` with `HTTP/`.
    PlainHttp,
    /// The deadline passed during the handshake.
    Timeout,
    /// The server sent this TLS alert (`CertificateRequired`, ...).
    Alert(String),
    /// Some other failure, described.
    Error(String),
}

/// How a plain-HTTP request ended.
#[derive(Debug)]
pub(super) enum HttpOutcome {
    /// The status line.
    Http(String),
    /// The reply starts with a TLS record.
    Tls,
    Failed(String),
}

/// Resolves (unless `endpoint.dial` overrides) and connects within `deadline`.
pub(super) fn dial(endpoint: &Endpoint, port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let addrs = match endpoint.dial {
        Some(addr) => vec![addr],
        None => resolve(&endpoint.host, port, deadline)?,
    };
    let mut last = format!("{} has no address", endpoint.host);
    for addr in addrs {
        let Some(left) = remaining(deadline) else {
            break;
        };
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                last = format!("connecting to {addr} timed out");
            }
            Err(err) => last = format!("connecting to {addr}: {err}"),
        }
    }
    if remaining(deadline).is_none() && !last.contains("timed out") {
        last.push_str(" (timed out)");
    }
    Err(last)
}

/// The system resolver in a thread, so a stuck lookup cannot outlive the
/// deadline (the thread is left to finish on its own).
fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = mpsc::channel();
    let name = host.to_owned();
    thread::spawn(move || {
        let _ = tx.send((name.as_str(), port).to_socket_addrs().map(Vec::from_iter));
    });
    match rx.recv_timeout(remaining(deadline).unwrap_or_default()) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(err)) => Err(format!("cannot resolve {host}: {err} (no such name?)")),
        Err(_) => Err(format!("resolving {host} timed out")),
    }
}

fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

/// A stream whose every read and write is bounded by one deadline, and
/// which keeps the first bytes read.
struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
    first: Vec<u8>,
}

impl Deadlined {
    fn arm(&self, set: impl Fn(&TcpStream, Option<Duration>) -> io::Result<()>) -> io::Result<()> {
        let left = remaining(self.deadline).ok_or(io::ErrorKind::TimedOut)?;
        set(&self.stream, Some(left))
    }

    fn starts_with_http(&self) -> bool {
        self.first.starts_with(b"HTTP/")
    }
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(TcpStream::set_read_timeout)?;
        let n = self.stream.read(buf)?;
        let keep = n.min(8usize.saturating_sub(self.first.len()));
        self.first.extend_from_slice(&buf[..keep]);
        Ok(n)
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(TcpStream::set_write_timeout)?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// The request both attempts send: the registry API root, as containerd's
/// first request is.
fn request(host: &str) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    format!(
        "GET /v2/ HTTP/1.1\r\nHost: {host}\r\nUser-Agent: certsd-doctor\r\nConnection: close\r\n\r\n"
    )
}

/// A plain HTTP request on `stream`.
pub(super) fn http_get(stream: TcpStream, host: &str, deadline: Instant) -> HttpOutcome {
    let mut io = Deadlined {
        stream,
        deadline,
        first: Vec::new(),
    };
    if let Err(err) = io.write_all(request(host).as_bytes()) {
        return HttpOutcome::Failed(describe_io("sending the request", &err));
    }
    let mut buf = [0u8; 256];
    let mut got = Vec::new();
    while !got.contains(&b'\n') && got.len() < 256 {
        match io.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(err) => return HttpOutcome::Failed(describe_io("reading the reply", &err)),
        }
    }
    if got.starts_with(b"HTTP/") {
        HttpOutcome::Http(first_line(&got))
    } else if got.first().is_some_and(|b| (0x14..=0x17).contains(b)) && got.get(1) == Some(&3) {
        HttpOutcome::Tls
    } else if got.is_empty() {
        HttpOutcome::Failed("the server closed the connection without an HTTP reply".to_owned())
    } else {
        HttpOutcome::Failed(format!(
            "the reply is not HTTP (starts {:02x?})",
            &got[..got.len().min(8)]
        ))
    }
}

fn first_line(bytes: &[u8]) -> String {
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line)
        .trim_end()
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect()
}

fn describe_io(doing: &str, err: &io::Error) -> String {
    if is_timeout(err) {
        format!("{doing} timed out")
    } else {
        format!("{doing}: {err}")
    }
}

/// A TLS handshake on `stream` that records the chain and the client
/// certificate request, then sends one request so that a TLS 1.3 server's
/// late rejection of the client certificate shows up too.
pub(super) fn tls(
    stream: TcpStream,
    host: &str,
    client: Option<&ClientCert>,
    deadline: Instant,
) -> TlsReport {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let recorder = Arc::new(Recorder::new(provider.signature_verification_algorithms));
    let (resolver, client_error) = ClientResolver::new(client, &provider);
    let resolver = Arc::new(resolver);
    let mut io = Deadlined {
        stream,
        deadline,
        first: Vec::new(),
    };
    let connection = config(provider, recorder.clone(), resolver.clone()).and_then(|config| {
        let name = server_name(host)?;
        ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())
    });
    let outcome = match connection {
        Ok(mut conn) => exchange(&mut conn, &mut io, host),
        Err(err) => TlsOutcome::Error(err),
    };
    let outcome = if io.starts_with_http() {
        TlsOutcome::PlainHttp
    } else {
        outcome
    };
    TlsReport {
        chain: recorder.chain(),
        asked_client_cert: resolver.asked(),
        sent_client_cert: resolver.sent(),
        client_error,
        outcome,
    }
}

fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| format!("{host:?} is not a valid TLS server name"))
}

fn config(
    provider: Arc<CryptoProvider>,
    recorder: Arc<Recorder>,
    resolver: Arc<ClientResolver>,
) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(recorder)
        .with_client_cert_resolver(resolver);
    // Go offers h2 and http/1.1; our one request is HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Handshake, request, first line of the answer.
fn exchange(conn: &mut ClientConnection, io: &mut Deadlined, host: &str) -> TlsOutcome {
    while conn.is_handshaking() {
        if let Err(err) = conn.complete_io(io) {
            return tls_failure(&err, true);
        }
    }
    let mut tls = rustls::Stream::new(conn, io);
    if let Err(err) = tls
        .write_all(request(host).as_bytes())
        .and_then(|()| tls.flush())
    {
        return tls_failure(&err, false);
    }
    let mut buf = [0u8; 256];
    match tls.read(&mut buf) {
        Ok(0) => TlsOutcome::Answered(None),
        Ok(n) => TlsOutcome::Answered(Some(first_line(&buf[..n]))),
        // A server that keeps quiet after a good handshake still shook hands.
        Err(err) if is_timeout(&err) => TlsOutcome::Answered(None),
        Err(err) => tls_failure(&err, false),
    }
}

fn tls_failure(err: &io::Error, handshaking: bool) -> TlsOutcome {
    if let Some(rustls::Error::AlertReceived(alert)) = err.get_ref().and_then(|e| e.downcast_ref())
    {
        return TlsOutcome::Alert(format!("{alert:?}"));
    }
    if is_timeout(err) && handshaking {
        return TlsOutcome::Timeout;
    }
    TlsOutcome::Error(describe_io(
        if handshaking {
            "TLS handshake"
        } else {
            "TLS request"
        },
        err,
    ))
}

//! The two rustls hooks that make the handshake a recording: a server
//! certificate verifier that accepts and keeps the chain, and a client
//! certificate resolver that notes the server asked for one.

use std::sync::{Arc, Mutex};

use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::ClientCert;

/// A verifier that accepts every chain and keeps it. Signatures over the
/// handshake are still checked, so the key really is the certificate's.
#[derive(Debug)]
pub(super) struct Recorder {
    algorithms: WebPkiSupportedAlgorithms,
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl Recorder {
    pub(super) fn new(algorithms: WebPkiSupportedAlgorithms) -> Recorder {
        Recorder {
            algorithms,
            chain: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut chain) = self.chain.lock() {
            *chain = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect();
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Offers the configured client pair (if it loads) and notes that the
/// server asked for one.
#[derive(Debug)]
pub(super) struct ClientResolver {
    key: Option<Arc<CertifiedKey>>,
    asked: Mutex<bool>,
}

impl ClientResolver {
    pub(super) fn new(
        client: Option<&ClientCert>,
        provider: &CryptoProvider,
    ) -> (ClientResolver, Option<String>) {
        let loaded = client.map(|c| load_pair(c, provider));
        let error = loaded.as_ref().and_then(|r| r.as_ref().err().cloned());
        let key = loaded.and_then(Result::ok).map(Arc::new);
        (
            ClientResolver {
                key,
                asked: Mutex::new(false),
            },
            error,
        )
    }

    pub(super) fn asked(&self) -> bool {
        self.asked.lock().is_ok_and(|a| *a)
    }

    pub(super) fn sent(&self) -> bool {
        self.asked() && self.key.is_some()
    }
}

/// The pair as Go's `tls.X509KeyPair` would take it; errors never quote
/// the key.
fn load_pair(client: &ClientCert, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&client.cert_pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", client.path));
    }
    let key = PrivateKeyDer::from_pem_slice(&client.key_pem).map_err(|_| {
        format!(
            "no usable private key for the client certificate {}",
            client.path
        )
    })?;
    CertifiedKey::from_der(certs, key, provider)
        .map_err(|e| format!("the client pair {} does not load ({e})", client.path))
}

impl ResolvesClientCert for ClientResolver {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        if let Ok(mut asked) = self.asked.lock() {
            *asked = true;
        }
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}

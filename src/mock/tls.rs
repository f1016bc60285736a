//! HTTPS for the mock: a fresh self-signed certificate and ALPN `h2` then `http/1.1`, the offer
//! Bedrock's own endpoints answer, so a client negotiates HTTP/2 as it does in production.

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The names the certificate is valid for: the mock only listens on loopback.
const NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A TLS acceptor and the PEM of the certificate it presents (the certificate a client must
/// trust).
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) certificate_pem: String,
}

impl Tls {
    /// Generates a key pair and a self-signed certificate for [`NAMES`].
    pub(crate) fn generate() -> std::io::Result<Tls> {
        let certified = rcgen::generate_simple_self_signed(NAMES.map(str::to_owned))
            .map_err(std::io::Error::other)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .map_err(std::io::Error::other)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate_pem: certified.cert.pem(),
        })
    }
}

//! TLS on `--router-tls-listen` (rustls): the certificate by SNI from the app the name belongs
//! to, ALPN `h2` and `http/1.1`, and the ACME HTTP-01 answers the router gives on plain HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::Routes;

/// The key authorizations of the ACME HTTP-01 challenges under way (RFC 8555 §8.3), by token:
/// the router answers `GET /.well-known/acme-challenge/<token>` with one, for any hostname,
/// before anything else (maintenance, redirects). Clones share one map.
#[derive(Clone, Default)]
pub struct Challenges {
    pending: Arc<Mutex<HashMap<String, String>>>,
}

impl Challenges {
    pub fn insert(&self, token: String, key_authorization: String) {
        self.lock().insert(token, key_authorization);
    }

    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    pub fn key_authorization(&self, token: &str) -> Option<String> {
        self.lock().get(token).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The TLS settings of the router's TLS listener: TLS 1.2 and 1.3 (rustls's safe defaults, with
/// ring), ALPN `h2` then `http/1.1` (RFC 7301), and the certificate of the app the client's SNI
/// names. A client that sends no SNI, or a name no app has a certificate for, is refused in the
/// handshake (an `unrecognized_name` alert): there is no default certificate to fall back on,
/// since any one would be the wrong name.
pub fn server_config(routes: Routes, suffix: String) -> Arc<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports TLS 1.2 and 1.3")
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(BySni { routes, suffix }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

struct BySni {
    routes: Routes,
    suffix: String,
}

impl std::fmt::Debug for BySni {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BySni").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // rustls gives the name lowercase, without a final dot.
        let name = hello.server_name()?;
        self.routes.certificate(name, &self.suffix)
    }
}

/// What a PEM certificate chain without a certificate is told.
pub const NO_CERTIFICATE: &str =
    "no certificate found: expected PEM blocks beginning -----BEGIN CERTIFICATE-----";

/// `chain_pem` (leaf first) with `key_pem` as rustls serves them.
///
/// Errors: a sentence for the user: no certificate in the PEM, no private key (PKCS#8, PKCS#1
/// or SEC1), a key type rustls cannot sign with, or a key that does not match the leaf.
pub fn certified_key(chain_pem: &str, key_pem: &str) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate is not valid PEM ({e})"))?;
    if chain.is_empty() {
        return Err(NO_CERTIFICATE.to_owned());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| {
        "no private key found: expected a PEM block beginning -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)"
            .to_owned()
    })?;
    CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider()).map_err(|e| {
        match e {
            rustls::Error::InconsistentKeys(_) => {
                "the private key does not match the certificate (the first one in the chain)"
                    .to_owned()
            }
            other => format!("the private key cannot be used: {other}"),
        }
    })
}

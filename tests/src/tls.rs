//! Certificates for the TLS tests, made with `rcgen`: a test CA (what clients are told to trust)
//! and leaves it signs, valid now or long expired.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A certificate authority that exists only for one test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// Its self-signed certificate, PEM: what `curl --cacert` trusts.
    pub root_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let root = params.self_signed(&key).expect("CA certificate");
        Self {
            issuer: Issuer::new(params, key),
            root_pem: root.pem(),
        }
    }

    /// A leaf for `names`, valid from yesterday for 90 days: (its PEM chain, leaf then this CA's
    /// certificate; its PEM private key, PKCS#8 ECDSA P-256).
    pub fn leaf(&self, names: &[&str]) -> (String, String) {
        let now = time::OffsetDateTime::now_utc();
        self.signed(
            names,
            now - time::Duration::days(1),
            now + time::Duration::days(90),
        )
    }

    /// A leaf for `names` that expired in 2020.
    pub fn expired_leaf(&self, names: &[&str]) -> (String, String) {
        self.signed(
            names,
            rcgen::date_time_ymd(2020, 1, 1),
            rcgen::date_time_ymd(2020, 2, 1),
        )
    }

    /// A leaf for `names` valid only from 2099.
    pub fn future_leaf(&self, names: &[&str]) -> (String, String) {
        self.signed(
            names,
            rcgen::date_time_ymd(2099, 1, 1),
            rcgen::date_time_ymd(2099, 6, 1),
        )
    }

    fn signed(
        &self,
        names: &[&str],
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> (String, String) {
        let key = KeyPair::generate().expect("leaf key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("leaf params");
        params.not_before = not_before;
        params.not_after = not_after;
        let leaf = params.signed_by(&key, &self.issuer).expect("leaf");
        (
            format!("{}{}", leaf.pem(), self.root_pem),
            key.serialize_pem(),
        )
    }
}

/// A TLS server on loopback for `chain_pem`/`key_pem` (as [`TestCa::leaf`] makes them): each
/// connection, once its handshake is done, is handed to `serve` on a thread of its own. Returns
/// the port. Runs until the test process ends; a client that refuses the certificate never
/// reaches `serve`.
pub fn serve(
    chain_pem: &str,
    key_pem: &str,
    serve: impl Fn(rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>)
    + Send
    + Sync
    + 'static,
) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("chain");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("certificate"),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let serve = std::sync::Arc::new(serve);
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, serve) = (config.clone(), serve.clone());
            std::thread::spawn(move || {
                let mut connection = rustls::ServerConnection::new(config).expect("connection");
                let mut tcp = tcp;
                // The handshake first: a client that refuses the certificate ends here.
                while connection.is_handshaking() {
                    if connection.complete_io(&mut tcp).is_err() {
                        return;
                    }
                }
                serve(rustls::StreamOwned::new(connection, tcp));
            });
        }
    });
    port
}

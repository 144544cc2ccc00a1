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

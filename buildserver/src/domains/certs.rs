//! What a certificate chain says, and whether it can be served: X.509 (RFC 5280) read with
//! `x509-parser`, the key checked against the leaf by rustls.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::extensions::GeneralName;

/// A servable certificate chain's facts.
#[derive(Debug, Clone)]
pub struct Inspected {
    /// The DNS names the leaf covers (its subjectAltName entries), lowercase.
    pub names: Vec<String>,
    /// The leaf's issuer, as a distinguished name (`CN=R11, O=Let's Encrypt, C=US`).
    pub issuer: String,
    /// Validity, unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

/// Checks that `chain_pem` (leaf first, each certificate followed by its issuer) and `key_pem`
/// can be served, and reads what the leaf says. Not its dates: see [`Inspected`].
///
/// Errors: a sentence for the user (not PEM, no certificate, no key, the key does not match the
/// leaf, a certificate not signed by the next one, no DNS name).
pub fn inspect(chain_pem: &str, key_pem: &str) -> Result<Inspected, String> {
    let ders = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate is not valid PEM ({e})"))?;
    if ders.is_empty() {
        return Err(crate::router::NO_CERTIFICATE.to_owned());
    }
    let certs = ders
        .iter()
        .enumerate()
        .map(|(n, der)| {
            x509_parser::parse_x509_certificate(der)
                .map(|(_, cert)| cert)
                .map_err(|_| {
                    format!(
                        "certificate {} of the chain is not a valid X.509 certificate",
                        n + 1
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (n, pair) in certs.windows(2).enumerate() {
        if pair[0]
            .verify_signature(Some(pair[1].public_key()))
            .is_err()
        {
            return Err(format!(
                "certificate {} of the chain is not signed by certificate {}: give the chain leaf first, each certificate followed by the one that issued it",
                n + 1,
                n + 2
            ));
        }
    }
    // The key last: a chain out of order would otherwise be reported as a key that does not
    // match its first certificate.
    crate::router::certified_key(chain_pem, key_pem)?;
    let leaf = &certs[0];
    let names: Vec<String> = match leaf.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        return Err(
            "the certificate names no DNS name (it has no subjectAltName DNS entry)".to_owned(),
        );
    }
    Ok(Inspected {
        names,
        issuer: leaf.issuer().to_string(),
        not_before: leaf.validity().not_before.timestamp(),
        not_after: leaf.validity().not_after.timestamp(),
    })
}

/// When ACM renews a certificate valid from `not_before` to `not_after` (unix seconds): 30 days
/// before the end, or a third of its lifetime before it when that is shorter (as Let's Encrypt
/// advises for its short-lived certificates).
pub fn renew_at(not_before: i64, not_after: i64) -> i64 {
    const THIRTY_DAYS: i64 = 30 * 24 * 3600;
    not_after - THIRTY_DAYS.min((not_after - not_before) / 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_begins_thirty_days_or_a_third_of_the_lifetime_before_the_end() {
        let day = 24 * 3600;
        assert_eq!(renew_at(0, 90 * day), 60 * day);
        assert_eq!(renew_at(0, 6 * day), 4 * day);
        assert_eq!(renew_at(100, 130), 120);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(
            inspect("hello", "world")
                .expect_err("garbage")
                .contains("no certificate")
        );
        let error = inspect(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "x",
        )
        .expect_err("not a certificate");
        assert!(error.contains("not a valid X.509 certificate"), "{error}");
    }
}

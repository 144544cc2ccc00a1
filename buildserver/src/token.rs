//! API tokens: `paas_<id>_<secret>`. The id finds the row; only the SHA-256 of the whole token is
//! stored, and it is compared in constant time, so neither the database nor timing gives a token
//! away.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "paas_";

/// A freshly generated token: show `token` once, store `id` and `sha256`.
pub struct NewToken {
    pub id: String,
    pub sha256: [u8; 32],
    pub token: String,
}

pub fn generate() -> NewToken {
    let mut bytes = [0u8; 40];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let id = crate::oci::hex(&bytes[..8]);
    let token = format!("{PREFIX}{id}_{}", crate::oci::hex(&bytes[8..]));
    NewToken {
        sha256: Sha256::digest(token.as_bytes()).into(),
        id,
        token,
    }
}

/// `bytes` random bytes from the OS, as lowercase hex (twice as many digits): passwords and
/// signing secrets.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    crate::oci::hex(&buf)
}

/// The id part of a well-formed token.
pub fn id_of(token: &str) -> Option<&str> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    let is_hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (is_hex(id, 16) && is_hex(secret, 64)).then_some(id)
}

/// Whether `token` hashes to `stored_sha256`, in constant time.
pub fn verify(token: &str, stored_sha256: &[u8]) -> bool {
    Sha256::digest(token.as_bytes())
        .as_slice()
        .ct_eq(stored_sha256)
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_verify_and_parse() {
        let t = generate();
        assert_eq!(id_of(&t.token), Some(t.id.as_str()));
        assert!(verify(&t.token, &t.sha256));
        let other = generate();
        assert!(!verify(&other.token, &t.sha256));
        assert_ne!(t.token, other.token);
    }

    #[test]
    fn malformed_tokens_have_no_id() {
        for bad in [
            "",
            "paas_",
            "paas_abc_def",
            "xyz_0123456789abcdef_00",
            "paas_0123456789abcdeg_".repeat(2).as_str(),
        ] {
            assert_eq!(id_of(bad), None, "{bad:?}");
        }
    }
}

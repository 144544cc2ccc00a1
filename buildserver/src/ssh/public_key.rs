//! The SSH public keys paas accepts: ed25519, ECDSA (P-256/384/521) and RSA of at least 2048 bits,
//! in OpenSSH `authorized_keys` format. DSA, short RSA keys, certificates and security-key types are
//! refused with the reason.

use crate::store::PublicKey;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::ssh_key::{self, Algorithm, HashAlg};

/// Shortest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not an OpenSSH public key (expected one line like `ssh-ed25519 AAAA… comment`)")]
    Malformed,
    #[error(
        "{0} keys are not accepted: use ed25519 (`ssh-keygen -t ed25519`), ECDSA or RSA of at least 2048 bits"
    )]
    Unsupported(String),
    #[error("this RSA key has {0} bits; at least {MIN_RSA_BITS} are required")]
    RsaTooShort(usize),
}

impl PublicKey {
    pub fn parse(line: &str) -> Result<Self, KeyError> {
        let line = line.trim();
        if line.is_empty() || line.contains('\n') {
            return Err(KeyError::Malformed);
        }
        let key = ssh_key::PublicKey::from_openssh(line).map_err(|_| KeyError::Malformed)?;
        match key.key_data() {
            KeyData::Ed25519(_) | KeyData::Ecdsa(_) => {}
            KeyData::Rsa(rsa) => {
                let bits = rsa.key_size() as usize;
                if bits < MIN_RSA_BITS {
                    return Err(KeyError::RsaTooShort(bits));
                }
            }
            _ => return Err(KeyError::Unsupported(algorithm_name(&key.algorithm()))),
        }
        Ok(Self {
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            algorithm: key.algorithm().as_str().to_owned(),
            comment: key.comment().as_str_lossy().to_owned(),
            openssh: key.to_openssh().map_err(|_| KeyError::Malformed)?,
        })
    }
}

/// The algorithm's name for a message; an unknown one (any text the key brought) cut at 40
/// characters, so that an error never echoes a whole hostile key back.
fn algorithm_name(algorithm: &Algorithm) -> String {
    match algorithm {
        Algorithm::Dsa => "DSA".to_owned(),
        other => {
            let name = other.as_str();
            match name.char_indices().nth(40) {
                Some((cut, _)) => format!("{}…", &name[..cut]),
                None => name.to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

    #[test]
    fn ed25519_fingerprint_matches_ssh_keygen() {
        let key = PublicKey::parse(ED25519).expect("valid key");
        assert_eq!(key.algorithm, "ssh-ed25519");
        assert_eq!(key.comment, "alice@laptop");
        assert!(
            key.fingerprint.starts_with("SHA256:"),
            "{}",
            key.fingerprint
        );
        assert_eq!(key.openssh, ED25519);
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in [
            "",
            "hello",
            "ssh-ed25519 !!!!",
            "ssh-ed25519 AAAA",
            &format!("{ED25519}\n{ED25519}"),
        ] {
            assert_eq!(
                PublicKey::parse(bad).map(|_| ()),
                Err(KeyError::Malformed),
                "{bad:?}"
            );
        }
    }
}

//! The server's SSH host key: ed25519, generated on first start and kept (0600) in the data dir,
//! so that clients' `known_hosts` entries stay valid across restarts.

use std::path::Path;

use anyhow::Context;
use russh::keys::PrivateKey;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;

use crate::data_dir::write_atomic;

pub fn load_or_generate(path: &Path) -> anyhow::Result<PrivateKey> {
    if path.exists() {
        return russh::keys::load_secret_key(path, None)
            .with_context(|| format!("cannot load the SSH host key {}", path.display()));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the OS random source is available");
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let pem = key
        .to_openssh(LineEnding::LF)
        .context("encoding the SSH host key")?;
    write_atomic(path, pem.as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated the SSH host key");
    Ok(key)
}

/// The key's fingerprint as `ssh` shows it when it first meets the server
/// (`SHA256:…`, base64 without padding).
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key()
        .fingerprint(russh::keys::HashAlg::Sha256)
        .to_string()
}

//! The stored login: `$XDG_CONFIG_HOME/paas/credentials.toml` (else `~/.config/paas/…`), in a
//! 0700 dir, the file 0600, replaced atomically.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::env_vars;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub host: String,
    pub token: String,
}

fn dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = env_vars::get(env_vars::XDG_CONFIG_HOME) {
        return Ok(PathBuf::from(dir).join("paas"));
    }
    let home = env_vars::get(env_vars::HOME).context("neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".config/paas"))
}

pub fn path() -> anyhow::Result<PathBuf> {
    Ok(dir()?.join("credentials.toml"))
}

pub fn load() -> anyhow::Result<Option<Credentials>> {
    let path = path()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let credentials = toml::from_str(&text).with_context(|| {
        format!(
            "{} is not a valid credentials file; run `paas login` again",
            path.display()
        )
    })?;
    Ok(Some(credentials))
}

pub fn save(credentials: &Credentials) -> anyhow::Result<PathBuf> {
    let dir = dir()?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let path = dir.join("credentials.toml");
    let tmp = dir.join(".credentials.toml.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(toml::to_string(credentials)?.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Deletes the stored login; false when there was none.
pub fn remove() -> anyhow::Result<bool> {
    let path = path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

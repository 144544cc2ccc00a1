//! `paas keys add [FILE]`: upload a public key (by default `~/.ssh/id_ed25519.pub`, then
//! `~/.ssh/id_rsa.pub`).

use std::path::PathBuf;

use anyhow::Context;
use paas_share::models::{AddKey, SshKey};

use crate::context::Ctx;
use crate::env_vars;
use crate::error::CliError;

/// Public key files are one line; anything much larger is not one.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// Add an SSH public key, so that you can `git push`
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  paas keys add\n  paas keys add ~/.ssh/work.pub")]
pub struct Args {
    /// The public key file [default: ~/.ssh/id_ed25519.pub, then ~/.ssh/id_rsa.pub]
    #[arg(value_name = "PUBKEY_FILE")]
    file: Option<PathBuf>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let path = match args.file {
        Some(path) => path,
        None => default_key()?,
    };
    let size = std::fs::metadata(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > MAX_KEY_FILE_BYTES {
        return Err(CliError::new(
            "invalid_key",
            format!("{} is too large to be a public key", path.display()),
        )
        .hint("pass the .pub file, not the private key")
        .into());
    }
    let public_key = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if public_key.contains("PRIVATE KEY") {
        return Err(CliError::new(
            "invalid_key",
            format!("{} is a private key", path.display()),
        )
        .hint("pass the public half: the file ending in .pub")
        .into());
    }
    let key: SshKey = ctx
        .client()?
        .post("/account/keys", &AddKey { public_key })?;
    ctx.printer.done(
        "Added",
        format_args!("SSH key {} ({})", key.fingerprint, path.display()),
    );
    ctx.printer.print(&key, |_, _| Ok(()))
}

fn default_key() -> anyhow::Result<PathBuf> {
    let home = env_vars::get(env_vars::HOME).context("HOME is not set; pass the key file")?;
    let ssh = PathBuf::from(home).join(".ssh");
    ["id_ed25519.pub", "id_rsa.pub"]
        .iter()
        .map(|name| ssh.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CliError::new(
                "no_key",
                format!(
                    "no public key found in {} (looked for id_ed25519.pub, id_rsa.pub)",
                    ssh.display()
                ),
            )
            .hint("create one with `ssh-keygen -t ed25519`, or pass a file: paas keys add FILE")
            .into()
        })
}

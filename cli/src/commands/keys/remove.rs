//! `paas keys remove FINGERPRINT`.

use crate::api_client::path_segment;
use crate::context::Ctx;

/// Remove one of your SSH keys
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  paas keys remove SHA256:2bU3HrC9kCpqR3aC8Jm1yj+4cYv7QmZ1iJr0xq1u5Xk"
)]
pub struct Args {
    /// The key's fingerprint, as `paas keys` shows it
    fingerprint: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let () = ctx.client()?.delete(&format!(
        "/account/keys/{}",
        path_segment(&args.fingerprint)
    ))?;
    ctx.printer
        .done("Removed", format_args!("SSH key {}", args.fingerprint));
    Ok(())
}

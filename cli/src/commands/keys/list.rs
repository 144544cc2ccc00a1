//! `paas keys list`.

use paas_share::models::SshKey;

use crate::context::Ctx;

/// List your SSH keys
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let keys: Vec<SshKey> = ctx.client()?.get("/account/keys")?;
    if keys.is_empty() && !ctx.printer.json() {
        ctx.printer
            .status("You have no SSH keys. Add one with `paas keys add`.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.fingerprint.clone(),
                k.algorithm.clone(),
                ctx.printer.app_text(&k.comment).into_owned(),
                k.created_at.clone(),
            ]
        })
        .collect();
    ctx.printer.print(&keys, |p, out| {
        p.table(out, &["FINGERPRINT", "TYPE", "COMMENT", "ADDED"], &rows)
    })
}

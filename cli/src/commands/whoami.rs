//! `paas whoami`: the account the current token belongs to.

use paas_share::models::Account;

use crate::context::Ctx;

/// Show the logged-in user
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let account: Account = ctx.client()?.get("/account")?;
    ctx.printer
        .print(&account, |_, out| writeln!(out, "{}", account.name))
}

//! `paas whoami`: the account the current token belongs to.

use paas_share::models::Account;

use crate::context::Ctx;

/// Show the logged-in user
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let account: Account = ctx.client()?.get("/account")?;
    ctx.printer.print(&account, |_, out| match &account.token {
        // A scoped token says what it is limited to: a CI job's refusals make sense then.
        Some(token) => writeln!(
            out,
            "{} (token {} \"{}\": {} on {})",
            account.name,
            token.id,
            token.description,
            token.role.map_or("login", |r| r.as_str()),
            token.app.as_ref().map_or("all their apps", |a| a.as_str()),
        ),
        None => writeln!(out, "{}", account.name),
    })
}

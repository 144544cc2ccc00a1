//! `paas logout`: forget the stored login.

use crate::context::Ctx;
use crate::credentials;

/// Remove the stored login
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    if credentials::remove()? {
        ctx.printer.done(
            "Logged out",
            format_args!("(removed {})", credentials::path()?.display()),
        );
    } else {
        ctx.printer.status("Not logged in");
    }
    Ok(())
}

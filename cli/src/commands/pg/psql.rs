//! `paas pg psql [NAME]` (`pg:psql`).

use crate::context::Ctx;
use crate::error::ExitStatus;

/// Open psql on a PostgreSQL add-on, connected as its app, from any machine with this CLI
///
/// It runs in a one-off dyno on the server; on a terminal it is interactive, otherwise it reads
/// SQL from stdin (`paas pg:psql < schema.sql`).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas pg:psql
  echo 'SELECT count(*) FROM orders' | paas pg:psql postgresql-shaped-12345")]
pub struct Args {
    /// The add-on [default: the app's DATABASE, else its only PostgreSQL add-on]
    #[arg(value_name = "NAME")]
    name: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let client = ctx.client()?;
    let addon = super::database(ctx, &client, args.name.as_deref())?;
    crate::addons::client_session(ctx, &client, &addon)
}

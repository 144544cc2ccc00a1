//! `paas pg`: a PostgreSQL add-on's psql session and backups (Heroku's `pg:psql`, `pg:backups`).

pub mod backups;
pub mod psql;

use crate::context::Ctx;

/// PostgreSQL add-ons: psql and backups
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Psql(psql::Args),
    Backups(backups::Args),
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<crate::error::ExitStatus> {
    match args.command {
        Command::Psql(args) => psql::run(args, ctx),
        Command::Backups(args) => {
            backups::run(args, ctx).map(|()| crate::error::ExitStatus::Success)
        }
    }
}

/// The add-on a `pg:` command acts on: `name`, else the app's `DATABASE`, else its only one.
fn database(
    ctx: &Ctx,
    client: &crate::api_client::ApiClient,
    name: Option<&str>,
) -> anyhow::Result<paas_share::models::Addon> {
    let app = if name.is_some() {
        None
    } else {
        Some(ctx.app()?)
    };
    Ok(crate::addons::pick(
        client,
        app.as_ref(),
        "postgresql",
        "DATABASE",
        name,
    )?)
}

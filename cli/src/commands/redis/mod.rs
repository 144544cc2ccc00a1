//! `paas redis`: a Redis add-on's redis-cli session (Heroku's `redis:cli`).

use crate::context::Ctx;
use crate::error::ExitStatus;

/// Redis add-ons: redis-cli
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Open redis-cli on a Redis add-on, from any machine with this CLI
    ///
    /// It runs in a one-off dyno on the server; without a terminal it reads commands from stdin.
    Cli {
        /// The add-on [default: the app's REDIS, else its only Redis add-on]
        #[arg(value_name = "NAME")]
        name: Option<String>,
    },
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    match args.command {
        Command::Cli { name } => {
            let client = ctx.client()?;
            let app = if name.is_some() {
                None
            } else {
                Some(ctx.app()?)
            };
            let addon =
                crate::addons::pick(&client, app.as_ref(), "redis", "REDIS", name.as_deref())?;
            crate::addons::client_session(ctx, &client, &addon)
        }
    }
}

//! `paas git:remote`: the git side of an app.

pub mod remote;

use crate::context::Ctx;

/// Git integration
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Remote(remote::Args),
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        Command::Remote(args) => remote::run(args, ctx),
    }
}

//! `paas keys`: the SSH public keys you push with.

pub mod add;
pub mod list;
pub mod remove;

use crate::context::Ctx;

/// Manage your SSH keys (lists them without a subcommand)
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    List(list::Args),
    Add(add::Args),
    Remove(remove::Args),
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command.unwrap_or(Command::List(list::Args {})) {
        Command::List(args) => list::run(args, ctx),
        Command::Add(args) => add::run(args, ctx),
        Command::Remove(args) => remove::run(args, ctx),
    }
}

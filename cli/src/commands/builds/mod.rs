//! `paas builds`: the builds of pushed commits, their details and output.

pub mod info;
pub mod list;
pub mod output;

use crate::context::Ctx;

/// Show an app's builds (lists them without a subcommand)
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    List(list::Args),
    Info(info::Args),
    Output(output::Args),
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command.unwrap_or(Command::List(list::Args {})) {
        Command::List(args) => list::run(args, ctx),
        Command::Info(args) => info::run(args, ctx),
        Command::Output(args) => output::run(args, ctx),
    }
}

/// `1.2s`, `3m04s`.
fn duration(ms: Option<u64>) -> String {
    match ms {
        None => "-".to_owned(),
        Some(ms) if ms < 60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        Some(ms) => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
    }
}

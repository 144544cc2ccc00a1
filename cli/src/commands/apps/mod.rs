//! `paas apps`: list, create, show, rename and destroy apps.

pub mod create;
pub mod destroy;
pub mod info;
pub mod list;
pub mod rename;

use crate::context::Ctx;

/// Manage apps (lists them without a subcommand)
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    List(list::Args),
    Create(create::Args),
    Info(info::Args),
    Rename(rename::Args),
    Destroy(destroy::Args),
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command.unwrap_or(Command::List(list::Args {})) {
        Command::List(args) => list::run(args, ctx),
        Command::Create(args) => create::run(args, ctx),
        Command::Info(args) => info::run(args, ctx),
        Command::Rename(args) => rename::run(args, ctx),
        Command::Destroy(args) => destroy::run(args, ctx),
    }
}

/// The line Heroku prints for a new or renamed app: where to browse it and where to push.
fn urls_line(app: &paas_share::models::App) -> String {
    format!("{} | {}", app.web_url, app.git_url)
}

//! `paas addons`: backing services (PostgreSQL, Redis) an app reaches through a config var, as
//! Heroku's add-ons: list, create, info, attach, detach, destroy, rotate credentials.

pub mod attach;
pub mod create;
pub mod destroy;
pub mod detach;
pub mod info;
pub mod list;
pub mod rotate;

use crate::context::Ctx;

/// Add-ons: PostgreSQL and Redis, attached by config var (lists them without a subcommand)
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas addons:create postgresql          # the app gets DATABASE_URL (a new release)
  paas addons:create redis --as CACHE    # CACHE_URL
  paas addons
  paas addons:attach postgresql-shaped-12345 -a other-app
  paas pg:psql                           # a psql session on the app's database
  paas pg:backups:capture
  paas addons:destroy postgresql-shaped-12345 --confirm postgresql-shaped-12345")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    List(list::Args),
    Create(create::Args),
    Info(info::Args),
    Attach(attach::Args),
    Detach(detach::Args),
    Destroy(destroy::Args),
    RotateCredentials(rotate::Args),
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command.unwrap_or(Command::List(list::Args {})) {
        Command::List(args) => list::run(args, ctx),
        Command::Create(args) => create::run(args, ctx),
        Command::Info(args) => info::run(args, ctx),
        Command::Attach(args) => attach::run(args, ctx),
        Command::Detach(args) => detach::run(args, ctx),
        Command::Destroy(args) => destroy::run(args, ctx),
        Command::RotateCredentials(args) => rotate::run(args, ctx),
    }
}

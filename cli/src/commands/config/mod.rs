//! `paas config`: an app's config vars. Every change records a new release.

pub mod get;
pub mod list;
pub mod set;
pub mod unset;

use paas_share::models::{ConfigPatch, Release};

use crate::context::Ctx;

/// Show and change an app's config vars (lists them without a subcommand)
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    list: list::Args,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    List(list::Args),
    Get(get::Args),
    Set(set::Args),
    Unset(unset::Args),
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        None => list::run(args.list, ctx),
        Some(_) if args.list.shell => Err(super::listing_flag_with_subcommand(
            "--shell",
            "paas config --shell",
        )),
        Some(Command::List(list)) => list::run(list, ctx),
        Some(Command::Get(args)) => get::run(args, ctx),
        Some(Command::Set(args)) => set::run(args, ctx),
        Some(Command::Unset(args)) => unset::run(args, ctx),
    }
}

/// Sends one config change and reports the release it made.
fn change(ctx: &Ctx, patch: &ConfigPatch, verb: &str) -> anyhow::Result<Release> {
    let app = ctx.app()?;
    let release: Release = ctx.send_release_request(
        &app,
        &reqwest::Method::PATCH,
        &format!("/apps/{app}/config-vars"),
        patch,
    )?;
    let keys: Vec<&str> = patch.keys().map(String::as_str).collect();
    ctx.printer.done(
        verb,
        format_args!("{} on {app}, release v{}", keys.join(", "), release.version),
    );
    Ok(release)
}

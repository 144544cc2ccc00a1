//! `paas releases`: an app's release history, release phase output, rolling back and retrying.

pub mod info;
pub mod list;
pub mod output;
pub mod retry;
pub mod rollback;

use paas_share::models::{Release, parse_release_version};

use crate::context::Ctx;
use crate::error::CliError;

/// Show an app's releases and roll back (lists them without a subcommand)
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
    Info(info::Args),
    Output(output::Args),
    Rollback(rollback::Args),
    Retry(retry::Args),
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        Some(_) if args.list.num.is_some() => Err(super::listing_flag_with_subcommand(
            "-n/--num",
            "paas releases -n 5",
        )),
        None => list::run(args.list, ctx),
        Some(Command::List(args)) => list::run(args, ctx),
        Some(Command::Info(args)) => info::run(args, ctx),
        Some(Command::Output(args)) => output::run(args, ctx),
        Some(Command::Rollback(args)) => rollback::run(args, ctx),
        Some(Command::Retry(args)) => retry::run(args, ctx),
    }
}

/// Release `version` of the app, or, without one, the release `pick` chooses from the app's
/// releases (newest first); `none` is the error when it chooses none.
fn release_or(
    ctx: &Ctx,
    app: &paas_share::AppName,
    version: Option<u32>,
    pick: impl FnOnce(Vec<Release>) -> Option<Release>,
    none: CliError,
) -> anyhow::Result<Release> {
    let client = ctx.client()?;
    // The list leaves config vars out: the release itself is read whole.
    let version = match version {
        Some(v) => v,
        None => {
            pick(client.get(&format!("/apps/{app}/releases"))?)
                .ok_or(none)?
                .version
        }
    };
    Ok(client.get(&format!("/apps/{app}/releases/{version}"))?)
}

/// clap parser for `v3` / `3`.
fn version_arg(s: &str) -> Result<u32, String> {
    parse_release_version(s).ok_or_else(|| {
        let digits = s.strip_prefix('v').unwrap_or(s);
        let lowest = match digits.parse::<i64>() {
            Ok(n) if n <= 0 => "; versions start at v1",
            Err(_) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                "; that is too large"
            }
            Ok(n) if n > i64::from(u32::MAX) => "; that is too large",
            _ => "",
        };
        format!(
            "expected a release version such as v3, got {:?}{lowest}",
            paas_share::names::excerpt(s)
        )
    })
}

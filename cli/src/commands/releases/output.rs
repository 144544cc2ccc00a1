//! `paas releases output [vN]` (Heroku's `releases:output`): what a release's release phase
//! printed; follows it while it runs.

use paas_share::models::Release;

use crate::context::Ctx;
use crate::error::CliError;

/// Print what a release's release command printed (the newest release by default)
///
/// While the release phase runs, this follows it until it ends.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  paas releases:output\n  paas releases output v12")]
pub struct Args {
    /// Release version, such as v3 [default: the newest release]
    #[arg(value_parser = super::version_arg)]
    version: Option<u32>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let version = match args.version {
        Some(v) => v,
        None => {
            let releases: Vec<Release> = client.get(&format!("/apps/{app}/releases"))?;
            releases.first().map(|r| r.version).ok_or_else(|| {
                CliError::new("not_found", format!("{app} has no releases yet"))
                    .hint("deploy with `git push paas main`")
            })?
        }
    };
    let body = client.stream(&format!("/apps/{app}/releases/{version}/output"))?;
    Ok(ctx.printer.copy_live(body)?)
}

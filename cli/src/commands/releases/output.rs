//! `paas releases output [vN]` (Heroku's `releases:output`): what a release's release phase
//! printed; follows it while it runs.

use crate::context::Ctx;
use crate::error::CliError;

/// Print what a release's release command printed (the newest release by default)
///
/// While the release phase runs, this follows it until it ends. With --json, it waits for the
/// end and prints {"version": N, "output": "…"}.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  paas releases:output\n  paas releases output v12")]
pub struct Args {
    /// Release version, such as v3 [default: the newest release]
    #[arg(value_parser = super::version_arg, allow_negative_numbers = true)]
    version: Option<u32>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let release = super::release_or(
        ctx,
        &app,
        args.version,
        |releases| releases.into_iter().next(),
        CliError::new("not_found", format!("{app} has no releases yet"))
            .hint("deploy with `git push paas main`"),
    )?;
    let client = ctx.client()?;
    let version = release.version;
    if !release.process_types.contains_key("release") && !ctx.printer.json() {
        ctx.printer.status(format_args!(
            "v{version} has no release command (add `release: …` to the Procfile to run one)"
        ));
        return Ok(());
    }
    let body = client.stream(&format!("/apps/{app}/releases/{version}/output"))?;
    ctx.printer.output(body, "version", version.into())
}

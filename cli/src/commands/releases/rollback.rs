//! `paas rollback [vN]` (and `paas releases rollback`): a new release running an earlier one's
//! build and config, with no rebuild.

use paas_share::models::{CreateRelease, Release, ReleaseStatus};

use crate::context::Ctx;
use crate::error::CliError;

/// Roll back to an earlier release (the one before the current by default)
///
/// Creates a new release with the build and config vars of the target; the formation (dyno
/// counts) is kept.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  paas rollback\n  paas rollback v3")]
pub struct Args {
    /// Release to roll back to, such as v3 [default: the newest succeeded release before the running one]
    #[arg(value_parser = super::version_arg, allow_negative_numbers = true)]
    version: Option<u32>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let target = match args.version {
        Some(v) => v,
        None => {
            let releases: Vec<Release> = client.get(&format!("/apps/{app}/releases"))?;
            if !releases.iter().any(|r| r.current) {
                return Err(CliError::new(
                    "no_running_release",
                    format!("{app} has no running release to roll back from"),
                )
                .hint("deploy code first (git push paas main); `paas releases` shows what failed")
                .into());
            }
            previous_release(&releases).ok_or_else(|| {
                CliError::new(
                    "no_previous_release",
                    format!("{app} has no earlier release to roll back to"),
                )
                .hint("run `paas releases` to see its history")
            })?
        }
    };
    let release: Release = ctx.send_release_request(
        &app,
        &reqwest::Method::POST,
        &format!("/apps/{app}/releases"),
        &CreateRelease {
            rollback_to: target,
        },
    )?;
    ctx.printer.done(
        "Rolled back",
        format_args!("{app} to v{target}, release v{}", release.version),
    );
    ctx.printer.print(&release, |_, _| Ok(()))
}

/// The newest release older than the running one that succeeded and has code to run (a
/// config change before the first build has none); `releases` is newest first.
fn previous_release(releases: &[Release]) -> Option<u32> {
    let current = releases.iter().find(|r| r.current)?.version;
    releases
        .iter()
        .find(|r| r.version < current && r.status == ReleaseStatus::Succeeded && r.image.is_some())
        .map(|r| r.version)
}

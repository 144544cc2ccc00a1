//! `paas releases retry` (Heroku's `releases:retry`): the newest release again when it failed.

use paas_share::models::Release;

use crate::context::Ctx;

/// Retry the newest release when it failed: a new release with its build and config vars
///
/// The release phase runs again (after fixing what its command needed, a database say), then
/// the dynos deploy.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  paas releases:retry")]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let release: Release = ctx.send_release_request(
        &app,
        &reqwest::Method::POST,
        &format!("/apps/{app}/releases/retry"),
        &serde_json::json!({}),
    )?;
    ctx.printer.done(
        "Retried",
        format_args!(
            "{app}: release v{}, {}",
            release.version,
            release.status.as_str()
        ),
    );
    ctx.printer.print(&release, |_, _| Ok(()))
}

//! `paas builds list`.

use paas_share::models::Build;

use crate::context::Ctx;

/// List an app's builds, newest first
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let builds: Vec<Build> = ctx.client()?.get(&format!("/apps/{app}/builds"))?;
    if builds.is_empty() && !ctx.printer.json() {
        ctx.printer.status(format_args!(
            "{app} has no builds yet. Deploy with `git push paas main`."
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = builds
        .iter()
        .map(|b| {
            vec![
                b.id.clone(),
                b.status.as_str().to_owned(),
                b.commit.chars().take(7).collect(),
                b.buildpack.clone().unwrap_or_else(|| "-".to_owned()),
                super::duration(b.duration_ms),
                b.user.to_string(),
                b.started_at.clone(),
            ]
        })
        .collect();
    ctx.printer.print(&builds, |p, out| {
        p.table(
            out,
            &[
                "ID",
                "STATUS",
                "COMMIT",
                "BUILDPACK",
                "DURATION",
                "USER",
                "STARTED",
            ],
            &rows,
        )
    })
}

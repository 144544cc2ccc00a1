//! `paas releases list`.

use paas_share::models::Release;

use crate::context::Ctx;

/// List an app's releases, newest first
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let releases: Vec<Release> = ctx.client()?.get(&format!("/apps/{app}/releases"))?;
    if releases.is_empty() && !ctx.printer.json() {
        ctx.printer.status(format_args!(
            "{app} has no releases yet. Push code or set config to make one."
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = releases
        .iter()
        .map(|r| {
            let marker = if r.current { " (current)" } else { "" };
            vec![
                format!("v{}", r.version),
                r.description.clone(),
                format!("{}{marker}", r.status.as_str()),
                r.user.to_string(),
                r.created_at.clone(),
            ]
        })
        .collect();
    ctx.printer.print(&releases, |p, out| {
        p.table(
            out,
            &["VERSION", "DESCRIPTION", "STATUS", "USER", "CREATED"],
            &rows,
        )
    })
}

//! `paas apps info`.

use paas_share::models::App;

use crate::context::Ctx;

/// Show an app's details
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let name = ctx.app()?;
    let app: App = ctx.client()?.get(&format!("/apps/{name}"))?;
    ctx.printer.print(&app, |p, out| {
        p.heading(out, app.name.as_str())?;
        p.fields(
            out,
            &[
                ("Owner", app.owner.to_string()),
                (
                    "Release",
                    app.release
                        .map_or_else(|| "none yet".to_owned(), |v| format!("v{v}")),
                ),
                ("Web URL", app.web_url.clone()),
                ("Git URL", app.git_url.clone()),
                ("Created", app.created_at.clone()),
                ("Updated", app.updated_at.clone()),
                ("ID", app.id.clone()),
            ],
        )
    })
}

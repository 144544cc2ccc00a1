//! `paas apps info [APP]`.

use paas_share::models::App;

use crate::context::Ctx;

/// Show an app's details
#[derive(Debug, clap::Args)]
pub struct Args {
    /// App to act on, instead of -a [default: $PAAS_APP, then the `paas` git remote]
    // Not `app`: that id is the global -a/--app, and clap ids must be unique.
    #[arg(id = "app_arg", value_name = "APP")]
    app: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let name = ctx.app_or(args.app.as_deref())?;
    let app: App = ctx.client()?.get(&format!("/apps/{name}"))?;
    ctx.printer.print(&app, |p, out| {
        p.heading(out, app.name.as_str())?;
        p.fields(
            out,
            &[
                ("Owner", app.owner.to_string()),
                (
                    "Your role",
                    app.role.map_or_else(String::new, |r| r.to_string()),
                ),
                (
                    "Release",
                    app.release
                        .map_or_else(|| "none running".to_owned(), |v| format!("v{v}")),
                ),
                (
                    "Stack",
                    app.stack.clone().unwrap_or_else(|| "none yet".to_owned()),
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

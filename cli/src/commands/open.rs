//! `paas open [APP]`: the app's URL on stdout, and in a browser where there is a desktop.

use std::process::{Command, Stdio};

use paas_share::models::App;

use crate::context::Ctx;
use crate::env_vars;

/// Print the app's URL (and open it in a browser on a desktop)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// App to act on, instead of -a [default: $PAAS_APP, then the `paas` git remote]
    // Not `app`: that id is the global -a/--app, and clap ids must be unique.
    #[arg(id = "app_arg", value_name = "APP")]
    app: Option<String>,
    /// Only print the URL
    #[arg(long)]
    no_browser: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let name = ctx.app_or(args.app.as_deref())?;
    let app: App = ctx.client()?.get(&format!("/apps/{name}"))?;
    ctx.printer
        .print(&serde_json::json!({ "url": app.web_url }), |_, out| {
            writeln!(out, "{}", app.web_url)
        })?;
    let desktop = env_vars::get(env_vars::DISPLAY).is_some()
        || env_vars::get(env_vars::WAYLAND_DISPLAY).is_some();
    if desktop && !args.no_browser && !ctx.printer.json() {
        // The URL is an argument, never shell text.
        let opened = Command::new("xdg-open")
            .arg(&app.web_url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if opened.is_err() {
            ctx.printer
                .warn("could not start a browser (xdg-open); open the URL yourself");
        }
    }
    Ok(())
}

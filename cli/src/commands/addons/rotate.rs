//! `paas addons credentials:rotate NAME` (`addons:credentials:rotate`).

use paas_share::models::Release;

use crate::api_client::path_segment;
use crate::context::Ctx;

/// Give an add-on new passwords; every app it is attached to gets its new URL (a release each)
///
/// Connections made with the old password are closed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The add-on's name
    #[arg(value_name = "NAME")]
    name: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let spinner = ctx
        .printer
        .spinner(format!("Rotating {}'s credentials…", args.name));
    let rotated = client.send_waiting::<(), Vec<Release>>(
        reqwest::Method::POST,
        &format!(
            "/addons/{}/actions/rotate-credentials",
            path_segment(&args.name)
        ),
        None,
    );
    spinner.finish_and_clear();
    let releases = rotated?;
    ctx.printer.done(
        "Rotated",
        format_args!(
            "{}'s credentials: {} app{} got the new URL",
            args.name,
            releases.len(),
            if releases.len() == 1 { "" } else { "s" }
        ),
    );
    ctx.printer.print(&releases, |_, _| Ok(()))
}

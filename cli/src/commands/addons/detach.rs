//! `paas addons detach NAME -a APP`.

use paas_share::models::Release;

use crate::api_client::path_segment;
use crate::context::Ctx;

/// Detach an add-on from an app: its config var goes (a new release); the add-on stays
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The add-on's name
    #[arg(value_name = "NAME")]
    name: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let spinner = ctx
        .printer
        .spinner(format!("Detaching {} from {app}…", args.name));
    let detached = client.send_waiting::<(), Release>(
        reqwest::Method::DELETE,
        &format!("/addons/{}/attachments/{app}", path_segment(&args.name)),
        None,
    );
    spinner.finish_and_clear();
    let release = detached?;
    ctx.printer.done(
        "Detached",
        format_args!("{} from {app}: release v{}", args.name, release.version),
    );
    ctx.printer.print(&release, |_, _| Ok(()))
}

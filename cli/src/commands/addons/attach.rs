//! `paas addons attach NAME -a APP`.

use paas_share::models::{AddonAttachment, AttachAddon};

use crate::api_client::path_segment;
use crate::context::Ctx;

/// Attach an add-on to an app: it gets the add-on's URL as a config var (a new release)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  paas addons:attach postgresql-shaped-12345 -a reporting --as SHOP_DB"
)]
pub struct Args {
    /// The add-on's name
    #[arg(value_name = "NAME")]
    name: String,
    /// The attachment's name: the app gets NAME_URL [default: DATABASE or REDIS when free]
    #[arg(
        long = "as",
        value_name = "NAME",
        value_parser = |s: &str| paas_share::AttachmentName::parse(s).map(|n| n.to_string())
    )]
    attach_as: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let spinner = ctx
        .printer
        .spinner(format!("Attaching {} to {app}…", args.name));
    let attached = client.send_waiting::<_, AddonAttachment>(
        reqwest::Method::POST,
        &format!("/addons/{}/attachments", path_segment(&args.name)),
        Some(&AttachAddon {
            app: app.to_string(),
            attach_as: args.attach_as,
        }),
    );
    spinner.finish_and_clear();
    let attachment = attached?;
    ctx.printer.done(
        "Attached",
        format_args!(
            "{} to {app} as {}: a new release",
            args.name, attachment.config_var
        ),
    );
    ctx.printer.print(&attachment, |_, out| {
        writeln!(out, "{}", attachment.config_var)
    })
}

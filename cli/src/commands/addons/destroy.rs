//! `paas addons destroy NAME --confirm NAME`.

use paas_share::models::Addon;

use crate::api_client::path_segment;
use crate::context::Ctx;

/// Destroy an add-on with its data and backups, for good
///
/// Refused while it is attached to an app other than its owner, unless --force (which detaches
/// it everywhere first). Without a terminal, --confirm NAME is required.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  paas addons:destroy postgresql-shaped-12345 --confirm postgresql-shaped-12345"
)]
pub struct Args {
    /// The add-on's name
    #[arg(value_name = "NAME")]
    name: String,
    /// The add-on's name again, to confirm (required without a terminal)
    #[arg(long, value_name = "NAME")]
    confirm: Option<String>,
    /// Detach it from every app first (one release each)
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    crate::confirm::confirm(
        ctx,
        &args.name,
        args.confirm,
        &crate::confirm::Action {
            doing: &format!("destroying {}", args.name),
            done: "destroyed",
            warning: &format!(
                "this destroys {} with its data and backups; it cannot be undone",
                args.name
            ),
        },
    )?;
    let client = ctx.client()?;
    let spinner = ctx.printer.spinner(format!("Destroying {}…", args.name));
    let force = if args.force { "?force=true" } else { "" };
    let destroyed = client.send_waiting::<(), Addon>(
        reqwest::Method::DELETE,
        &format!("/addons/{}{force}", path_segment(&args.name)),
        None,
    );
    spinner.finish_and_clear();
    let addon = destroyed?;
    ctx.printer
        .done("Destroyed", format_args!("add-on {}", addon.name));
    ctx.printer.print(&addon, |_, _| Ok(()))
}

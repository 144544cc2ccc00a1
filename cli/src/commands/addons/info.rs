//! `paas addons info NAME`.

use paas_share::models::Addon;

use crate::api_client::path_segment;
use crate::context::Ctx;

/// Show an add-on: its plan, state, owner and where it is attached
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The add-on's name
    #[arg(value_name = "NAME")]
    name: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let addon: Addon = ctx
        .client()?
        .get(&format!("/addons/{}", path_segment(&args.name)))?;
    ctx.printer.print(&addon, |p, out| {
        p.heading(out, &addon.name)?;
        p.fields(
            out,
            &[
                ("Plan", addon.plan.clone()),
                ("State", addon.state.clone()),
                ("Owning app", addon.app.clone()),
                ("Attached as", crate::addons::attached_as(&addon)),
                ("Created", addon.created_at.clone()),
            ],
        )
    })
}

//! `paas addons [list]`.

use paas_share::models::Addon;

use crate::context::Ctx;

/// List the add-ons the app owns or has attached
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let addons: Vec<Addon> = ctx.client()?.get(&format!("/apps/{app}/addons"))?;
    if addons.is_empty() && !ctx.printer.json() {
        ctx.printer.status(format_args!(
            "{app} has no add-ons. Create one with `paas addons:create postgresql` (or redis)."
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = addons
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                a.plan.clone(),
                a.state.clone(),
                crate::addons::attached_as(a),
            ]
        })
        .collect();
    ctx.printer.print(&addons, |p, out| {
        p.table(out, &["NAME", "PLAN", "STATE", "ATTACHED AS"], &rows)
    })
}

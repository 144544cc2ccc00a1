//! `paas ps`: the app's dynos.

use paas_share::models::Dyno;

use crate::context::Ctx;

/// List the app's dynos: name, state, release, restarts, since, command
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let dynos: Vec<Dyno> = ctx.client()?.get(&format!("/apps/{app}/dynos"))?;
    if dynos.is_empty() && !ctx.printer.json() {
        ctx.printer.status(format_args!(
            "{app} runs no dynos. Deploy with `git push paas main`, or `paas scale web=1`."
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = dynos
        .iter()
        .map(|d| {
            vec![
                d.name.clone(),
                d.state.clone(),
                format!("v{}", d.release),
                d.since.clone(),
                d.command.clone(),
            ]
        })
        .collect();
    ctx.printer.print(&dynos, |p, out| {
        p.table(
            out,
            &["DYNO", "STATE", "RELEASE", "SINCE", "COMMAND"],
            &rows,
        )
    })
}

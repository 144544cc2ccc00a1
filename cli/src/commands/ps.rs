//! `paas ps`: the app's dynos.

use paas_share::models::Dyno;

use crate::context::Ctx;

/// List the app's dynos: type, name, state and since when, release, restarts, command
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
                d.process_type.clone(),
                d.name.clone(),
                d.state.clone(),
                since(&d.since),
                format!("v{}", d.release),
                d.restarts.to_string(),
                d.command.clone(),
            ]
        })
        .collect();
    ctx.printer.print(&dynos, |p, out| {
        p.table(
            out,
            &[
                "TYPE", "DYNO", "STATE", "SINCE", "RELEASE", "RESTARTS", "COMMAND",
            ],
            &rows,
        )
    })
}

/// `2026-11-26T14:35:10.123456Z` → `2026-11-26 14:35:10Z`: to the second, which is what a reader
/// compares.
fn since(rfc3339: &str) -> String {
    match rfc3339.split_once('.') {
        Some((seconds, _)) => format!("{}Z", seconds.replace('T', " ")),
        None => rfc3339.to_owned(),
    }
}

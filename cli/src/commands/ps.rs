//! `paas ps`: the app's dynos.

use paas_share::models::{App, Dyno, Formation};

use crate::context::Ctx;

/// List the app's dynos: type, name, state and since when, release, restarts, command
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let dynos: Vec<Dyno> = ctx.client()?.get(&format!("/apps/{app}/dynos"))?;
    if dynos.is_empty() && !ctx.printer.json() {
        // Scaling needs a release that runs (one never deployed, or whose every release
        // failed, has none).
        let running: App = ctx.client()?.get(&format!("/apps/{app}"))?;
        if running.release.is_none() {
            ctx.printer.status(format_args!(
                "{app} runs no dynos: no release of it runs yet. Deploy with `git push paas main` (`paas releases` shows why a release failed)."
            ));
            return Ok(());
        }
        // Name a type the app has: `web` is not a given (a worker-only app has none).
        let formation: Vec<Formation> = ctx.client()?.get(&format!("/apps/{app}/formation"))?;
        let first = formation
            .iter()
            .find(|f| f.process_type == "web")
            .or_else(|| formation.first());
        match first {
            Some(f) => ctx.printer.status(format_args!(
                "{app} runs no dynos. Start some with `paas scale {}=1`.",
                f.process_type
            )),
            None => ctx.printer.status(format_args!(
                "{app} runs no dynos. Deploy with `git push paas main`."
            )),
        }
        return Ok(());
    }
    // On Kubernetes each dyno is a pod, named in its own column.
    let pods = dynos.iter().any(|d| d.pod.is_some());
    let rows: Vec<Vec<String>> = dynos
        .iter()
        .map(|d| {
            let mut row = vec![
                d.process_type.clone(),
                d.name.clone(),
                d.state.clone(),
                since(&d.since),
                // Release 0: an add-on session (`pg:psql`), of the services image, no release.
                if d.release == 0 {
                    "-".to_owned()
                } else {
                    format!("v{}", d.release)
                },
                d.restarts.to_string(),
            ];
            if pods {
                row.push(d.pod.clone().unwrap_or_default());
            }
            // A one-off dyno's command is whatever its user typed.
            row.push(ctx.printer.app_text(&d.command).into_owned());
            row
        })
        .collect();
    let mut header = vec!["TYPE", "DYNO", "STATE", "SINCE", "RELEASE", "RESTARTS"];
    if pods {
        header.push("POD");
    }
    header.push("COMMAND");
    ctx.printer
        .print(&dynos, |p, out| p.table(out, &header, &rows))
}

/// `2026-11-26T14:35:10.123456Z` → `2026-11-26 14:35:10Z`: to the second, which is what a reader
/// compares.
fn since(rfc3339: &str) -> String {
    let seconds = rfc3339
        .split_once('.')
        .map_or(rfc3339.trim_end_matches('Z'), |(seconds, _)| seconds);
    format!("{}Z", seconds.replace('T', " "))
}

//! `paas scale web=2 worker=1` (also `web+1`, `web-1`): set dyno counts; no new release.

use std::collections::BTreeMap;

use std::time::{Duration, Instant};

use paas_share::models::{Dyno, Formation, FormationPatch, Quantity};
use paas_share::names::excerpt;

use crate::context::Ctx;
use crate::error::CliError;

/// Show or change how many dynos of each process type run
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Only the named types change; the command waits until their new dynos are \
up (a web dyno is up once it answers HTTP on $PORT).\n\n\
Examples:\n  paas scale\n  paas scale web=2 worker=1\n  paas scale web+1\n  paas scale web=0 --no-wait"
)]
pub struct Args {
    /// TYPE=N, TYPE+N or TYPE-N
    #[arg(value_name = "TYPE=N", value_parser = parse_change)]
    changes: Vec<Change>,
    /// Return once the change is recorded and the dynos are started, without waiting for them to be up
    #[arg(long)]
    no_wait: bool,
}

/// Longest `scale` waits for new dynos (the server gives each its boot timeout, then restarts it).
const WAIT_LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
struct Change {
    process_type: String,
    quantity: Quantity,
}

fn parse_change(arg: &str) -> Result<Change, String> {
    let at = arg
        .find(['=', '+', '-'])
        .ok_or_else(|| format!("expected TYPE=N, TYPE+N or TYPE-N, got {:?}", excerpt(arg)))?;
    let (process_type, rest) = arg.split_at(at);
    let count = &rest[1..];
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{:?} is not a dyno count (a whole number from 0)",
            excerpt(count)
        ));
    }
    let amount: u32 = count.parse().map_err(|_| {
        format!(
            "{} dynos is more than any server runs (each app has a limit, 100 by default)",
            excerpt(count)
        )
    })?;
    if process_type.is_empty() {
        return Err(format!("no process type in {:?}", excerpt(arg)));
    }
    // Relative changes go to the server as they are: it applies them to the counts it has then.
    let quantity = match rest.as_bytes()[0] {
        b'+' => Quantity::Add(amount),
        b'-' => Quantity::Remove(amount),
        _ => Quantity::Set(amount),
    };
    Ok(Change {
        process_type: process_type.to_owned(),
        quantity,
    })
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let formation = if args.changes.is_empty() {
        client.get(&format!("/apps/{app}/formation"))?
    } else {
        let mut patch = FormationPatch::new();
        for change in &args.changes {
            if patch
                .insert(change.process_type.clone(), change.quantity)
                .is_some()
            {
                return Err(CliError::usage(format!(
                    "{} is given more than once",
                    change.process_type
                ))
                .hint("name each process type once: paas scale web=2 worker=1")
                .into());
            }
        }
        let formation: Vec<Formation> = client.patch(&format!("/apps/{app}/formation"), &patch)?;
        // The counts the server recorded for the named types: what to wait for.
        let wanted: BTreeMap<String, u32> = formation
            .iter()
            .filter(|f| patch.contains_key(&f.process_type))
            .map(|f| (f.process_type.clone(), f.quantity))
            .collect();
        let now = if args.no_wait {
            None
        } else {
            wait_up(ctx, &client, app.as_str(), &wanted)?
        };
        ctx.printer.done("Scaled", format_args!("{app}"));
        // What runs, when another scale changed it meanwhile.
        now.unwrap_or(formation)
    };
    ctx.printer.print(&formation, |_, out| {
        let line: Vec<String> = formation
            .iter()
            .map(|f| format!("{}={}", f.process_type, f.quantity))
            .collect();
        writeln!(out, "{}", line.join(" "))
    })
}

/// Polls the app's dynos until every changed type runs exactly its new count, all up; fails if
/// one of them crashes on the way. The formation now when another scale changed those counts
/// meanwhile (this one's are not what runs, and are not waited for).
fn wait_up(
    ctx: &Ctx,
    client: &crate::api_client::ApiClient,
    app: &str,
    patch: &BTreeMap<String, u32>,
) -> anyhow::Result<Option<Vec<Formation>>> {
    let started = Instant::now();
    let spinner = ctx.printer.spinner("Waiting for dynos");
    loop {
        let dynos: Vec<Dyno> = client.get(&format!("/apps/{app}/dynos"))?;
        let mut report = Vec::new();
        let mut settled = true;
        for (process_type, wanted) in patch {
            let mine: Vec<&Dyno> = dynos
                .iter()
                .filter(|d| d.process_type == *process_type)
                .collect();
            if let Some(crashed) = mine.iter().find(|d| d.state == "crashed") {
                spinner.finish_and_clear();
                return Err(CliError::new(
                    "dyno_crashed",
                    format!(
                        "{} crashed while {process_type} was scaled to {wanted}",
                        crashed.name
                    ),
                )
                .hint(format!(
                    "see why with `paas logs --ps {}`; the server keeps restarting it",
                    crashed.name
                ))
                .into());
            }
            let up = mine.iter().filter(|d| d.state == "up").count();
            settled &= up == *wanted as usize && mine.len() == *wanted as usize;
            report.push(format!("{process_type} {up}/{wanted} up"));
        }
        if settled {
            spinner.finish_and_clear();
            return Ok(None);
        }
        // Another scale may have changed a count since: its counts are what runs now, and
        // waiting for ours would never end.
        let formation: Vec<Formation> = client.get(&format!("/apps/{app}/formation"))?;
        let superseded: Vec<String> = formation
            .iter()
            .filter(|f| patch.get(&f.process_type).is_some_and(|n| *n != f.quantity))
            .map(|f| format!("{}={}", f.process_type, f.quantity))
            .collect();
        if !superseded.is_empty() {
            spinner.finish_and_clear();
            ctx.printer.warn(format_args!(
                "another scale changed the formation meanwhile ({}); not waiting for this one",
                superseded.join(" ")
            ));
            return Ok(Some(formation));
        }
        if started.elapsed() > WAIT_LIMIT {
            spinner.finish_and_clear();
            return Err(CliError::new(
                "timeout",
                format!(
                    "the dynos were not all up after {}s ({})",
                    WAIT_LIMIT.as_secs(),
                    report.join(", ")
                ),
            )
            .hint("`paas ps` shows their states and `paas logs` why")
            .into());
        }
        spinner.set_message(format!("Waiting for dynos: {}", report.join(", ")));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::parse_change;

    #[test]
    fn counts_are_whole_numbers_and_a_huge_one_is_called_too_large() {
        assert!(parse_change("web=2").is_ok());
        let said = parse_change("web=two").expect_err("not a number");
        assert!(said.contains("\"two\" is not a dyno count"), "{said}");
        let said = parse_change("web=99999999999").expect_err("too large");
        assert!(said.starts_with("99999999999 dynos is more than"), "{said}");
        let said = parse_change(&"w".repeat(40_000)).expect_err("no =");
        assert!(said.len() < 200, "{said}");
    }
}

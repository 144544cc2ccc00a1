//! `paas scale web=2 worker=1` (also `web+1`, `web-1`): set dyno counts; no new release.

use std::collections::BTreeMap;

use paas_share::models::{Formation, MAX_QUANTITY};

use crate::context::Ctx;
use crate::error::CliError;

/// Show or change how many dynos of each process type run
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  paas scale\n  paas scale web=2 worker=1\n  paas scale web+1")]
pub struct Args {
    /// TYPE=N, TYPE+N or TYPE-N
    #[arg(value_name = "TYPE=N", value_parser = parse_change)]
    changes: Vec<Change>,
}

#[derive(Debug, Clone)]
struct Change {
    process_type: String,
    op: char,
    amount: u32,
}

fn parse_change(arg: &str) -> Result<Change, String> {
    let at = arg
        .find(['=', '+', '-'])
        .ok_or_else(|| format!("expected TYPE=N, TYPE+N or TYPE-N, got {arg:?}"))?;
    let (process_type, rest) = arg.split_at(at);
    let op = rest.chars().next().expect("found above");
    let amount: u32 = rest[1..].parse().map_err(|_| {
        format!(
            "{:?} is not a dyno count (a whole number from 0)",
            &rest[1..]
        )
    })?;
    if process_type.is_empty() {
        return Err(format!("no process type in {arg:?}"));
    }
    if op == '=' && amount > MAX_QUANTITY {
        return Err(format!("at most {MAX_QUANTITY} dynos per process type"));
    }
    Ok(Change {
        process_type: process_type.to_owned(),
        op,
        amount,
    })
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let current: Vec<Formation> = client.get(&format!("/apps/{app}/formation"))?;
    let formation = if args.changes.is_empty() {
        current
    } else {
        let mut patch = BTreeMap::new();
        for change in &args.changes {
            let now = current
                .iter()
                .find(|f| f.process_type == change.process_type)
                .map_or(0, |f| f.quantity);
            let quantity = match change.op {
                '+' => now.saturating_add(change.amount),
                '-' => now.checked_sub(change.amount).ok_or_else(|| {
                    CliError::usage(format!(
                        "cannot scale {} below 0 (it runs {now})",
                        change.process_type
                    ))
                })?,
                _ => change.amount,
            };
            patch.insert(change.process_type.clone(), quantity);
        }
        let formation: Vec<Formation> = client.patch(&format!("/apps/{app}/formation"), &patch)?;
        ctx.printer.done("Scaled", format_args!("{app}"));
        formation
    };
    ctx.printer.print(&formation, |_, out| {
        let line: Vec<String> = formation
            .iter()
            .map(|f| format!("{}={}", f.process_type, f.quantity))
            .collect();
        writeln!(out, "{}", line.join(" "))
    })
}

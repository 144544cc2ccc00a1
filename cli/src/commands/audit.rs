//! `paas audit`: the audit log of an app (its admins), or of the server (`--all`, its admins).

use paas_share::models::AuditEntry;

use crate::context::Ctx;
use crate::error::CliError;

/// The audit log: every change, who made it, from where, and how it ended
///
/// Changes through the API and pushes, allowed or refused: app, config (keys, never values),
/// scale, releases, rollbacks, access, keys, tokens, domains, add-ons. An app's admins read its
/// log; the server's admins read everything with --all. Entries are never changed or removed.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas audit                      # the app of this repo, the last week
  paas audit --since 1h
  paas audit --all --since 30d    # every app (server admins)
  paas audit --json | jq '.[] | select(.outcome == \"denied\")'")]
pub struct Args {
    /// How far back: 10m, 1h, 7d, 90d…
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    since: String,
    /// The most entries to show, newest kept (1 to 1000)
    #[arg(short = 'n', long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    num: u32,
    /// The whole server's log, not one app's (server admins only)
    #[arg(long)]
    all: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let since = humantime::parse_duration(&args.since)
        .ok()
        .map(|d| d.as_secs())
        .filter(|s| (1..=3_155_760_000).contains(s))
        .ok_or_else(|| {
            CliError::usage(format!(
                "{:?} is not a duration from 1 second to 100 years",
                args.since
            ))
            .hint("such as 10m, 1h, 7d or 90d")
        })?;
    let (path, title) = if args.all {
        ("/audit".to_owned(), "Audit log".to_owned())
    } else {
        let app = ctx.app()?;
        (format!("/apps/{app}/audit"), format!("{app} audit log"))
    };
    let entries: Vec<AuditEntry> = ctx
        .client()?
        .get(&format!("{path}?since={since}&limit={}", args.num))?;
    ctx.printer.print(&entries, |p, out| {
        p.heading(out, &format!("{title}, last {}", args.since))?;
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let detail = match &e.detail {
                    serde_json::Value::Object(map) if map.is_empty() => String::new(),
                    other => other.to_string(),
                };
                // Which token did it: a CI token's changes are not its user's own hands.
                let actor = match &e.token {
                    Some(token) => format!("{} (token {})", e.actor, &token[..token.len().min(8)]),
                    None => e.actor.clone(),
                };
                let mut row = vec![e.at.clone(), actor, e.source.clone()];
                if args.all {
                    row.push(e.app.clone().unwrap_or_default());
                }
                row.extend([
                    e.action.clone(),
                    e.outcome.clone(),
                    p.app_text(&detail).into_owned(),
                ]);
                row
            })
            .collect();
        let headers: &[&str] = if args.all {
            &[
                "TIME", "ACTOR", "SOURCE", "APP", "ACTION", "OUTCOME", "DETAIL",
            ]
        } else {
            &["TIME", "ACTOR", "SOURCE", "ACTION", "OUTCOME", "DETAIL"]
        };
        p.table_or(out, "Nothing in that time.", headers, &rows)
    })
}

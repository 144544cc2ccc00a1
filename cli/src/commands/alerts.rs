//! `paas alerts`: webhooks called when an app's dynos crash, a release fails, or its response
//! time or error share crosses a threshold (`alerts:add`, `alerts:remove`).

use paas_share::models::{Alert, CreateAlert};

use crate::api_client::path_segment;
use crate::context::Ctx;

/// Alerts: list them (without a subcommand), add or remove one
///
/// Each delivery is a JSON POST to the webhook ({"id", "alert", "app", "on", "state", "message",
/// "at"}; state is event, firing or resolved), signed as Stripe signs its webhooks: the header
/// `Paas-Signature: t=<unix seconds>,v1=<hex>` holds the HMAC-SHA256 of "<t>.<body>" keyed by the
/// alert's secret, which `alerts:add` shows once. A delivery is tried up to 5 times (1, 2, 4 and
/// 8 s apart); `paas alerts` shows how the last one went.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas alerts:add --on crash --webhook https://hooks.example.com/paas
  paas alerts:add --on deploy-failed --webhook https://hooks.example.com/paas
  paas alerts:add --on 'p95>300ms' --webhook https://hooks.example.com/paas
  paas alerts:add --on '5xx>2%' --webhook https://hooks.example.com/paas
  paas alerts
  paas alerts:remove 6f1c9a0e-…

Check a delivery in a receiver (shell):
  printf '%s.%s' \"$t\" \"$body\" | openssl dgst -sha256 -hmac \"$secret\"   # = v1")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Add(AddArgs),
    Remove(RemoveArgs),
}

/// Call a webhook on an event or threshold
///
/// crash: a dyno crashed and was restarted (at most one delivery per --alert-window of the
/// server, 5 min by default, counting the crashes since the last). deploy-failed: a release
/// failed. canary: a canary started, or was promoted or aborted. p95>TIME and 5xx>PERCENT:
/// web's requests over the window crossed the threshold (delivered as firing, then resolved
/// when it no longer holds).
#[derive(Debug, clap::Args)]
struct AddArgs {
    /// crash, deploy-failed, canary, p95>TIME (p95>300ms) or 5xx>PERCENT (5xx>2%)
    #[arg(long, value_name = "TRIGGER")]
    on: String,
    /// The http:// or https:// URL that gets the deliveries
    #[arg(long, value_name = "URL")]
    webhook: String,
}

/// Remove an alert
#[derive(Debug, clap::Args)]
struct RemoveArgs {
    /// Its id, as `paas alerts` lists it
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    id: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    match args.command {
        None => {
            let alerts: Vec<Alert> = client.get(&format!("/apps/{app}/alerts"))?;
            ctx.printer.print(&alerts, |p, out| {
                p.heading(out, &format!("{app} alerts"))?;
                let rows: Vec<Vec<String>> = alerts
                    .iter()
                    .map(|a| {
                        let on = if a.firing {
                            format!("{} (firing)", a.on)
                        } else {
                            a.on.clone()
                        };
                        let last = a.last_delivery.as_ref().map_or_else(
                            || "none yet".to_owned(),
                            |d| {
                                format!(
                                    "{} {}: {}",
                                    if d.ok { "ok" } else { "failed" },
                                    d.at,
                                    d.status
                                )
                            },
                        );
                        vec![a.id.clone(), on, a.webhook.clone(), last]
                    })
                    .collect();
                p.table_or(
                    out,
                    "None yet. Add one with `paas alerts:add --on crash --webhook URL`.",
                    &["ID", "ON", "WEBHOOK", "LAST DELIVERY"],
                    &rows,
                )
            })
        }
        Some(Command::Add(args)) => {
            let alert: Alert = client.post(
                &format!("/apps/{app}/alerts"),
                &CreateAlert {
                    on: args.on,
                    webhook: args.webhook,
                },
            )?;
            ctx.printer.done(
                "Added",
                format_args!("alert {} on {} for {app}", alert.id, alert.on),
            );
            if let Some(secret) = &alert.secret {
                ctx.printer.status(format_args!(
                    "Signing secret (shown once; deliveries carry Paas-Signature: t=…,v1=HMAC-SHA256 of \"t.body\"):\n{secret}"
                ));
            }
            ctx.printer.print(&alert, |_, _| Ok(()))
        }
        Some(Command::Remove(args)) => {
            let alert: Alert =
                client.delete(&format!("/apps/{app}/alerts/{}", path_segment(&args.id)))?;
            ctx.printer.done(
                "Removed",
                format_args!("alert {} on {} from {app}", alert.id, alert.on),
            );
            ctx.printer.print(&alert, |_, _| Ok(()))
        }
    }
}

//! `paas drains`: forward the app's log to a syslog server or an HTTPS endpoint (Heroku's
//! `heroku drains`): list, `drains:add`, `drains:remove`.

use paas_share::models::{CreateDrain, Drain};

use crate::api_client::path_segment;
use crate::context::Ctx;

/// Log drains: list them (without a subcommand), add or remove one
///
/// A drain gets every line of the app's log: its dynos' output, the router's lines and the
/// platform's (builds, deploys, autoscaling). syslog+tls:// and syslog:// get RFC 5424 messages
/// framed by octet counting (RFC 6587) over TLS or TCP; https:// gets them in batched POSTs as
/// Heroku's Logplex sends them (Content-Type application/logplex-1). A drain that is down or slow
/// never slows the app: it holds up to 4096 lines, then drops and counts them, and reconnects with
/// backoff.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas drains:add syslog+tls://logs.example.com:6514
  paas drains:add https://user:token@logs.example.com/drain
  paas drains                     # state, lines sent and dropped
  paas drains:remove syslog+tls://logs.example.com:6514")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Add(AddArgs),
    Remove(RemoveArgs),
}

/// Forward the app's log to a syslog server or an HTTPS endpoint
#[derive(Debug, clap::Args)]
struct AddArgs {
    /// syslog+tls://HOST:PORT, syslog://HOST:PORT (plain TCP) or https://…
    url: String,
}

/// Stop forwarding to a drain
#[derive(Debug, clap::Args)]
struct RemoveArgs {
    /// Its URL or id, as `paas drains` lists them
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    drain: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let path = format!("/apps/{app}/log-drains");
    match args.command {
        None => {
            let drains: Vec<Drain> = client.get(&path)?;
            ctx.printer.print(&drains, |p, out| {
                p.heading(out, &format!("{app} drains"))?;
                let rows: Vec<Vec<String>> = drains
                    .iter()
                    .map(|d| {
                        vec![
                            d.url.clone(),
                            d.state.clone(),
                            d.sent.to_string(),
                            d.dropped.to_string(),
                            d.id.clone(),
                        ]
                    })
                    .collect();
                p.table_or(
                    out,
                    "None yet. Add one with `paas drains:add syslog+tls://logs.example.com:6514`.",
                    &["URL", "STATE", "SENT", "DROPPED", "ID"],
                    &rows,
                )?;
                for drain in &drains {
                    if let Some(error) = &drain.last_error {
                        writeln!(out, "\n{}: {error}", drain.url)?;
                    }
                }
                Ok(())
            })
        }
        Some(Command::Add(args)) => {
            let drain: Drain = client.post(&path, &CreateDrain { url: args.url })?;
            ctx.printer
                .done("Added", format_args!("drain {} to {app}", drain.url));
            ctx.printer
                .status("Every new log line goes there; `paas drains` shows whether it arrives.");
            ctx.printer.print(&drain, |_, _| Ok(()))
        }
        Some(Command::Remove(args)) => {
            let removed: Drain = client.delete(&format!("{path}/{}", path_segment(&args.drain)))?;
            ctx.printer
                .done("Removed", format_args!("drain {} from {app}", removed.url));
            ctx.printer.print(&removed, |_, _| Ok(()))
        }
    }
}

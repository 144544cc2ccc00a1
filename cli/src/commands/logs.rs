//! `paas logs`: an app's recent log lines; `--tail` follows them, reconnecting (and resuming
//! without repeats) when the stream drops.

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use paas_share::models::LogLine;

use crate::context::Ctx;
use crate::error::CliError;

/// Show an app's logs: dyno output and platform events (builds, releases, router, scheduler)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  paas logs --tail\n  paas logs -n 500 --ps web\n  paas logs --source paas --json"
)]
pub struct Args {
    /// How many recent lines to show first
    #[arg(short = 'n', long = "num", default_value_t = 100, value_name = "N",
          allow_negative_numbers = true, value_parser = line_count)]
    lines: usize,
    /// Keep printing new lines as they come
    #[arg(short, long)]
    tail: bool,
    /// Only this process type or dyno: web, web.1, build…
    #[arg(long = "ps", value_name = "TYPE[.N]")]
    process: Option<String>,
    /// Only dyno output (app) or only platform lines (paas)
    #[arg(long, value_parser = ["app", "paas"])]
    source: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let mut after: Option<u64> = None;
    let mut out = std::io::stdout().lock();
    // Said once per outage: a server down for a minute is one warning, not sixty.
    let mut reconnecting = false;
    loop {
        let mut path = format!("/apps/{app}/logs?lines={}&tail={}", args.lines, args.tail);
        if let Some(process) = &args.process {
            path.push_str(&format!("&ps={}", crate::api_client::path_segment(process)));
        }
        if let Some(source) = &args.source {
            path.push_str(&format!("&source={source}"));
        }
        if let Some(seq) = after {
            path.push_str(&format!("&after={seq}"));
        }
        let stream = match client.stream(&path) {
            Ok(stream) => stream,
            // Only a follow that already started retries; a first failure is reported.
            Err(e) if args.tail && after.is_some() && e.id == "connection_failed" => {
                if !reconnecting {
                    ctx.printer
                        .warn("the log stream dropped; reconnecting (every second)…");
                    reconnecting = true;
                }
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        // Every later end of this stream warns again before reconnecting.
        if reconnecting {
            ctx.printer.status("Reconnected to the log stream.");
        }
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let Ok(parsed) = serde_json::from_str::<LogLine>(&line) else {
                continue;
            };
            after = Some(after.map_or(parsed.seq, |a| a.max(parsed.seq)));
            // The server ended the stream and said why (a revoked token, a destroyed app):
            // following again would only be refused.
            if let Some(reason) = parsed.end_reason() {
                return Err(CliError::new(
                    "stream_ended",
                    format!("the log stream ended: {reason}"),
                )
                .into());
            }
            if ctx.printer.json() {
                writeln!(out, "{line}")?;
            } else {
                writeln!(out, "{}", ctx.printer.app_text(&parsed.to_string()))?;
            }
            out.flush()?;
        }
        if !args.tail {
            return Ok(());
        }
        // The server closed a followed stream (a restart, a proxy timeout): pick up after the
        // last line printed. Nothing printed yet: start from now rather than replaying.
        after.get_or_insert(0);
        ctx.printer
            .warn("the log stream ended; reconnecting (every second)…");
        reconnecting = true;
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `-n`'s value: a whole number from 0 (a negative one gets this message rather than clap's
/// "unexpected argument").
fn line_count(value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{value:?} is not a line count (a whole number from 0)"))
}

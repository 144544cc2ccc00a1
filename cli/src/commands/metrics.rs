//! `paas metrics`: the app's request and resource figures (Heroku's Metrics tab, in a terminal).

use std::io::IsTerminal;

use paas_share::models::{AppMetrics, MetricsPoint};

use crate::api_client::path_segment;
use crate::context::Ctx;
use crate::error::CliError;

/// Show the app's request and resource figures, per process type
///
/// Requests per minute, the 95th percentile of how long responses took to begin (the upper bound
/// of its histogram bucket), the share of 5xx answers (the router's figures, for web dynos), and
/// the CPU (100 % is one core) and memory of each type's dynos together, sampled every 10 s; over
/// the last hour by default, kept for 24 h. On a terminal each figure has a sparkline, one mark
/// per minute with figures.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  paas metrics\n  paas metrics --type web --since 6h\n  paas metrics --json"
)]
pub struct Args {
    /// Only this process type
    #[arg(long = "type", value_name = "TYPE")]
    process_type: Option<String>,
    /// How far back: 10m, 1h, 24h (at most)
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    since: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let since = humantime::parse_duration(&args.since)
        .ok()
        .map(|d| d.as_secs())
        .filter(|s| (60..=86_400).contains(s))
        .ok_or_else(|| {
            CliError::usage(format!("{:?} is not a duration from 1m to 24h", args.since))
                .hint("such as 10m, 1h or 24h")
        })?;
    let app = ctx.app()?;
    let mut path = format!("/apps/{app}/metrics?since={since}");
    if let Some(process_type) = &args.process_type {
        path.push_str(&format!("&type={}", path_segment(process_type)));
    }
    let metrics: AppMetrics = ctx.client()?.get(&path)?;
    let sparklines = std::io::stdout().is_terminal();
    ctx.printer.print(&metrics, |p, out| {
        p.heading(out, &format!("{app} metrics, last {}", args.since))?;
        if metrics.process_types.is_empty() {
            return writeln!(
                out,
                "No figures yet: they come from requests through the router and from running dynos."
            );
        }
        for process in &metrics.process_types {
            let s = &process.summary;
            let now = process.points.last().map_or(0, |p| p.dynos);
            writeln!(
                out,
                "{}  ({now} dyno{} now)",
                process.process_type,
                if now == 1 { "" } else { "s" }
            )?;
            let spark = |figure: fn(&MetricsPoint) -> Option<f64>| {
                if sparklines {
                    sparkline(&process.points.iter().map(figure).collect::<Vec<_>>())
                } else {
                    String::new()
                }
            };
            let mut rows = Vec::new();
            // Request figures are the router's: web dynos only.
            if s.requests > 0 || process.process_type == "web" {
                rows.extend([
                    (
                        "requests",
                        format!("{:.1}/min", s.requests_per_minute),
                        spark(|m| Some(m.requests_per_minute)),
                    ),
                    (
                        "p95",
                        s.p95_ms.map_or("-".to_owned(), |ms| format!("≤ {ms} ms")),
                        spark(|m| m.p95_ms.map(|ms| ms as f64)),
                    ),
                    (
                        "5xx",
                        s.server_errors_percent
                            .map_or("-".to_owned(), |pct| format!("{pct:.1} %")),
                        spark(|m| m.server_errors_percent),
                    ),
                ]);
            }
            rows.extend([
                (
                    "CPU",
                    s.cpu_percent
                        .map_or("-".to_owned(), |pct| format!("{pct:.1} % of a core")),
                    spark(|m| m.cpu_percent),
                ),
                (
                    "memory",
                    s.memory_bytes.map_or("-".to_owned(), |bytes| {
                        let mut text = format!("{} together", indicatif::HumanBytes(bytes));
                        if let Some(limit) = s.memory_limit_bytes {
                            text.push_str(&format!(
                                " ({} each at most)",
                                indicatif::HumanBytes(limit)
                            ));
                        }
                        text
                    }),
                    spark(|m| m.memory_bytes.map(|b| b as f64)),
                ),
            ]);
            for (name, value, line) in rows {
                writeln!(out, "  {name:<9} {value:<34} {line}")?;
            }
            if s.restarts > 0 || s.oom_kills > 0 {
                writeln!(
                    out,
                    "  {} restarts, {} killed for running out of memory",
                    s.restarts, s.oom_kills
                )?;
            }
            if s.limited > 0 || s.shed > 0 {
                writeln!(
                    out,
                    "  {} refused over a rate limit (429), {} shed when too busy (503)",
                    s.limited, s.shed
                )?;
            }
        }
        writeln!(out, "in flight now: {}", metrics.in_flight)
    })
}

/// One mark per value, from ▁ (the least) to █ (the most); a space where there is none. Written
/// here: eight block characters need no crate.
fn sparkline(values: &[Option<f64>]) -> String {
    const MARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().flatten().copied().fold(0.0_f64, f64::max);
    values
        .iter()
        .map(|value| match value {
            None => ' ',
            Some(_) if max <= 0.0 => MARKS[0],
            Some(v) => MARKS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_largest() {
        assert_eq!(sparkline(&[Some(0.0), Some(1.0), None, Some(2.0)]), "▁▅ █");
        assert_eq!(sparkline(&[Some(0.0), Some(0.0)]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }
}

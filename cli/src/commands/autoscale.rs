//! `paas autoscale`: let the platform set a process type's dyno count from its response time
//! and CPU use, within a range (`autoscale:enable`, `autoscale:disable`).

use std::time::Duration;

use paas_share::models::{AutoscaleRule, AutoscaleSettings, Autoscaling};
use paas_share::names::excerpt;

use crate::api_client::path_segment;
use crate::context::Ctx;

/// Autoscaling: show it (without a subcommand), enable or disable it for a process type
///
/// The autoscaler looks every few seconds (the server's --autoscale-interval, 5 s by default).
/// It adds one dyno when a target was missed for --autoscale-up-after (60 s), and removes one
/// when every target stayed under half its value for --autoscale-down-after (300 s); each window
/// starts at the type's last change. Decisions go to the app's log as paas[autoscale] and are
/// listed here. While a type is autoscaled, `paas scale` refuses it. On Kubernetes, a
/// HorizontalPodAutoscaler follows CPU targets; p95 targets need the local scheduler's router.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas autoscale:enable web --min 1 --max 8 --p95 300ms
  paas autoscale:enable worker --min 2 --max 4 --cpu 70%
  paas autoscale                      # settings and the last decisions
  paas autoscale:disable web          # its count stays where it is")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Enable(EnableArgs),
    Disable(DisableArgs),
}

/// Autoscale a process type within a range, to a response-time and/or CPU target
///
/// Running it again replaces the type's settings. A count outside the new range moves to the
/// nearest bound at the autoscaler's next look.
#[derive(Debug, clap::Args)]
struct EnableArgs {
    /// The process type, such as web or worker
    process_type: String,
    /// The fewest dynos (at least 1)
    #[arg(long, value_name = "N")]
    min: u32,
    /// The most dynos (at most the server's per-app limit)
    #[arg(long, value_name = "N")]
    max: u32,
    /// Add dynos while the router's 95th percentile response time is over this (web only)
    #[arg(long, value_name = "TIME", value_parser = parse_p95)]
    p95: Option<u32>,
    /// Add dynos while the dynos' mean CPU use is over this share of one core
    #[arg(long, value_name = "PERCENT", value_parser = parse_cpu)]
    cpu: Option<u32>,
}

/// Stop autoscaling a process type; its dyno count stays where it is
#[derive(Debug, clap::Args)]
struct DisableArgs {
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    process_type: String,
}

/// `300ms`, `1s`, `1s 500ms` → milliseconds.
fn parse_p95(text: &str) -> Result<u32, String> {
    let hint = "expected a response time such as 300ms or 1s";
    let time = humantime::parse_duration(text)
        .map_err(|_| format!("{:?} is not a time: {hint}", excerpt(text)))?;
    if time.is_zero() {
        return Err(format!("{text} is no time: {hint}"));
    }
    if time > Duration::from_secs(3600) {
        return Err(format!(
            "{text} is over the longest router timeout (1h): {hint}"
        ));
    }
    Ok(u32::try_from(time.as_millis().max(1)).expect("at most an hour"))
}

/// `70%` or `70` → 70.
fn parse_cpu(text: &str) -> Result<u32, String> {
    let number = text.strip_suffix('%').unwrap_or(text);
    match number.parse::<u32>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err(format!(
            "{:?} is not a share of one core from 1% to 100%, such as 70%",
            excerpt(text)
        )),
    }
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    match args.command {
        None => show(ctx),
        Some(Command::Enable(args)) => enable(args, ctx),
        Some(Command::Disable(args)) => disable(&args.process_type, ctx),
    }
}

/// `300ms`, `1.5s`.
fn millis(ms: u32) -> String {
    if ms >= 1000 && ms.is_multiple_of(100) {
        format!("{}s", f64::from(ms) / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

fn targets(settings: &AutoscaleSettings) -> String {
    let mut targets = Vec::new();
    if let Some(ms) = settings.p95_ms {
        targets.push(format!("p95 {}", millis(ms)));
    }
    if let Some(cpu) = settings.cpu_percent {
        targets.push(format!("cpu {cpu}%"));
    }
    targets.join(", ")
}

fn show(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let autoscaling: Autoscaling = ctx.client()?.get(&format!("/apps/{app}/autoscale"))?;
    ctx.printer.print(&autoscaling, |p, out| {
        p.heading(out, &format!("{app} autoscaling"))?;
        let rows: Vec<Vec<String>> = autoscaling
            .rules
            .iter()
            .map(|r| {
                vec![
                    r.process_type.clone(),
                    r.settings.min.to_string(),
                    r.settings.max.to_string(),
                    targets(&r.settings),
                ]
            })
            .collect();
        p.table_or(
            out,
            "No process type is autoscaled. Try `paas autoscale:enable web --min 1 --max 4 --p95 300ms`.",
            &["TYPE", "MIN", "MAX", "TARGETS"],
            &rows,
        )?;
        if autoscaling.decisions.is_empty() {
            return Ok(());
        }
        writeln!(out)?;
        p.heading(out, "Last decisions")?;
        for decision in &autoscaling.decisions {
            writeln!(out, "{}  {}", decision.at, decision.reason)?;
        }
        Ok(())
    })
}

fn enable(args: EnableArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let rule: AutoscaleRule = ctx.client()?.patch(
        &format!("/apps/{app}/autoscale/{}", path_segment(&args.process_type)),
        &AutoscaleSettings {
            min: args.min,
            max: args.max,
            p95_ms: args.p95,
            cpu_percent: args.cpu,
        },
    )?;
    ctx.printer.done(
        "Enabled",
        format_args!(
            "autoscaling of {app}'s {} dynos: {} to {}, {}",
            rule.process_type,
            rule.settings.min,
            rule.settings.max,
            targets(&rule.settings)
        ),
    );
    ctx.printer
        .status("Decisions show in `paas autoscale` and in `paas logs` as paas[autoscale].");
    ctx.printer.print(&rule, |_, _| Ok(()))
}

fn disable(process_type: &str, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let rule: AutoscaleRule = ctx.client()?.delete(&format!(
        "/apps/{app}/autoscale/{}",
        path_segment(process_type)
    ))?;
    ctx.printer.done(
        "Disabled",
        format_args!(
            "autoscaling of {app}'s {} dynos; `paas scale` sets their count again",
            rule.process_type
        ),
    );
    ctx.printer.print(&rule, |_, _| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(parse_p95("300ms"), Ok(300));
        assert_eq!(parse_p95("1s"), Ok(1000));
        assert_eq!(parse_p95("1s 500ms"), Ok(1500));
        assert!(parse_p95("fast").is_err());
        assert!(parse_p95("0ms").expect_err("zero").contains("no time"));
        assert!(parse_p95("2h").is_err());
        assert_eq!(parse_cpu("70%"), Ok(70));
        assert_eq!(parse_cpu("70"), Ok(70));
        assert!(parse_cpu("0%").is_err());
        assert!(parse_cpu("120%").is_err());
        assert_eq!(millis(300), "300ms");
        assert_eq!(millis(1500), "1.5s");
    }
}

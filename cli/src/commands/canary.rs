//! `paas canary`: the canary release beside the running one (`git push -o canary=N`), its
//! promotion and abort (`canary:promote`, `canary:abort`) and how the app's canaries run
//! (`canary:config`).

use std::time::Duration;

use paas_share::models::{
    CANARY_MIN_REQUESTS, CanarySettings, CanaryStatus, Release, StartCanary, UpdateCanarySettings,
};

use crate::context::Ctx;
use crate::error::CliError;

/// Canary releases: show the one that runs (without a subcommand), promote or abort it, or set
/// how the app's canaries run
///
/// `git push -o canary=20 paas main` starts the pushed release beside the running one: after
/// its release phase, its own web dynos (`canary.1`, …) boot, and once they are up 20 % of
/// clients go to them; a cookie keeps each client on its side. Its other process types wait for
/// promotion. `paas canary:promote` deploys it (the old dynos drain and stop);
/// `paas canary:abort` sends everyone back and marks the release failed. With a duration
/// (`canary:config --duration 10m`) it decides by itself: aborted as soon as its 5xx share or
/// p95 is over the thresholds relative to the running release's (once it has had 20 requests),
/// promoted when the duration is over. Another release (a push without a canary, a config
/// change) replaces a canary; a server restart aborts it.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  git push -o canary=20 paas main   # 20 % of clients to the new release
  paas canary                       # both releases side by side
  paas canary:start --weight 10 --duration 10m   # the next push is a canary
  paas canary:promote
  paas canary:abort
  paas canary:config --duration 10m --max-5xx 1 --max-p95 2
  paas canary:config --weight 10    # every push a canary (git push -o canary=off to skip)")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Deploy the canary's release to every client: the running release's dynos drain and stop
    Promote,
    /// Send every client back to the running release; the canary's release is marked failed
    Abort,
    Start(StartArgs),
    Config(ConfigArgs),
}

/// Make the app's next push a canary (what it leaves out comes from canary:config)
#[derive(Debug, clap::Args)]
struct StartArgs {
    /// The share of clients the canary gets, in percent
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=99), required_unless_present = "cancel")]
    weight: Option<u8>,
    /// Promote it by itself after this long if healthy (600, 10m, 1h), or `none`
    #[arg(long, value_name = "TIME|none")]
    duration: Option<String>,
    #[command(flatten)]
    thresholds: Thresholds,
    /// Forget the canary set for the next push
    #[arg(long, conflicts_with_all = ["weight", "duration", "max_5xx", "max_p95"])]
    cancel: bool,
}

/// When a canary with a duration aborts itself.
#[derive(Debug, clap::Args)]
struct Thresholds {
    /// Abort when its 5xx share is this many percentage points over the running release's
    #[arg(long = "max-5xx", value_name = "POINTS", value_parser = finite)]
    max_5xx: Option<f64>,
    /// Abort when its p95 is over this many times the running release's (and 50 ms more)
    #[arg(long = "max-p95", value_name = "FACTOR", value_parser = finite)]
    max_p95: Option<f64>,
}

/// How the app's canaries run (the canary that runs keeps the settings it started with)
#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// Make every push a canary with this share of clients (1 to 99), or `none` (also `off`, 0)
    #[arg(long, value_name = "PERCENT|none")]
    weight: Option<String>,
    /// Promote a healthy canary by itself after this long (600, 10m, 1h), or `none`
    #[arg(long, value_name = "TIME|none")]
    duration: Option<String>,
    #[command(flatten)]
    thresholds: Thresholds,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let path = format!("/apps/{app}/canary");
    match args.command {
        None => {
            let status: CanaryStatus = client.get(&path)?;
            show(app.as_str(), &status, ctx)
        }
        Some(command @ (Command::Promote | Command::Abort)) => {
            let (verb, what) = match command {
                Command::Promote => ("promote", "Promoted"),
                _ => ("abort", "Aborted"),
            };
            let release: Release = client.post(&format!("{path}/{verb}"), &())?;
            ctx.printer.done(
                what,
                format_args!(
                    "v{} of {app}{}",
                    release.version,
                    if verb == "promote" {
                        ": every client goes to it"
                    } else {
                        ": every client goes to the running release"
                    }
                ),
            );
            ctx.printer.print(&release, |_, _| Ok(()))
        }
        Some(Command::Start(args)) => {
            if args.cancel {
                let _: CanarySettings = client.delete(&format!("{path}/next"))?;
                ctx.printer
                    .done("Cancelled", format_args!("the canary of {app}'s next push"));
                return Ok(());
            }
            let start = StartCanary {
                weight: args.weight.expect("required unless --cancel"),
                duration_seconds: args.duration.as_deref().map(parse_duration).transpose()?,
                max_5xx_points: args.thresholds.max_5xx,
                max_p95_factor: args.thresholds.max_p95,
            };
            let next: CanarySettings = client.post(&format!("{path}/next"), &start)?;
            ctx.printer.done(
                "Set",
                format_args!(
                    "{app}'s next push to start as a canary at {} %: git push paas main",
                    start.weight
                ),
            );
            ctx.printer.print(&next, |p, out| {
                p.heading(out, &format!("{app}'s next push"))?;
                p.fields(out, &settings_fields(NEXT_PUSH, &next))
            })
        }
        Some(Command::Config(args)) => {
            let settings: CanarySettings = match config_update(&args)? {
                Some(update) => {
                    let settings = client.patch(&format!("{path}/settings"), &update)?;
                    ctx.printer
                        .done("Updated", format_args!("{app}'s canary settings"));
                    settings
                }
                None => client.get::<CanaryStatus>(&path)?.settings,
            };
            ctx.printer.print(&settings, |p, out| {
                p.heading(out, &format!("{app} canary settings"))?;
                p.fields(out, &settings_fields(EVERY_PUSH, &settings))
            })
        }
    }
}

/// A finite number (NaN and infinities have no JSON spelling).
fn finite(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(n),
        _ => Err(format!("{text:?} is not a number")),
    }
}

/// The change `args` ask for; `None` when they ask for none (the settings are shown).
fn config_update(args: &ConfigArgs) -> Result<Option<UpdateCanarySettings>, CliError> {
    if args.weight.is_none()
        && args.duration.is_none()
        && args.thresholds.max_5xx.is_none()
        && args.thresholds.max_p95.is_none()
    {
        return Ok(None);
    }
    let weight = match args.weight.as_deref() {
        None => None,
        Some("none" | "off" | "0") => Some(None),
        Some(text) => match text.trim_end_matches('%').parse::<u8>() {
            Ok(n) if (1..=99).contains(&n) => Some(Some(n)),
            _ => {
                return Err(
                    CliError::usage(format!("{text:?} is not a weight from 1 to 99"))
                        .hint("give a percent of clients (10), or `none`"),
                );
            }
        },
    };
    let duration = args.duration.as_deref().map(parse_duration).transpose()?;
    Ok(Some(UpdateCanarySettings {
        weight,
        duration_seconds: duration,
        max_5xx_points: args.thresholds.max_5xx,
        max_p95_factor: args.thresholds.max_p95,
    }))
}

/// The fields of `settings`, which hold for `whom`: `Every push` (canary:config) or `Next push`
/// (canary:start).
fn settings_fields(whom: &'static str, settings: &CanarySettings) -> Vec<(&'static str, String)> {
    vec![
        (
            whom,
            settings
                .weight
                .map_or("no canary unless pushed with -o canary=N".to_owned(), |w| {
                    format!("a canary at {w} %")
                }),
        ),
        (
            "Decides",
            settings.duration_seconds.map_or(
                "only by hand (canary:promote, canary:abort)".to_owned(),
                |s| {
                    format!(
                        "by itself: promoted after {} if healthy",
                        humantime::format_duration(Duration::from_secs(u64::from(s)))
                    )
                },
            ),
        ),
        (
            "Aborted on",
            format!(
                "5xx over {} more, or p95 over {}× (after {CANARY_MIN_REQUESTS} requests)",
                points(settings.max_5xx_points),
                settings.max_p95_factor
            ),
        ),
    ]
}

/// Bare seconds (600), a duration (10m, 1h) from 10 s to 7 days, or `none`.
fn parse_duration(text: &str) -> Result<Option<u32>, CliError> {
    if text == "none" {
        return Ok(None);
    }
    match text
        .parse::<u64>()
        .map(Duration::from_secs)
        .or_else(|_| humantime::parse_duration(text))
    {
        Ok(d) if (10..=7 * 24 * 3600).contains(&d.as_secs()) => Ok(Some(d.as_secs() as u32)),
        _ => Err(
            CliError::usage(format!("{text:?} is not a duration from 10s to 7 days"))
                .hint("give seconds (600), a time such as 10m or 1h, or `none`"),
        ),
    }
}

const EVERY_PUSH: &str = "Every push";
const NEXT_PUSH: &str = "Next push";

/// `1 point`, `2.5 points`: percentage points.
fn points(n: f64) -> String {
    format!("{n} point{}", if n == 1.0 { "" } else { "s" })
}

fn show(app: &str, status: &CanaryStatus, ctx: &Ctx) -> anyhow::Result<()> {
    ctx.printer.print(status, |p, out| {
        let Some(canary) = &status.canary else {
            match &status.next_push {
                Some(next) => writeln!(
                    out,
                    "No canary runs. The next push starts one at {} % (paas canary:start).",
                    next.weight.unwrap_or_default()
                )?,
                None => writeln!(
                    out,
                    "No canary runs. Start one with: git push -o canary=10 paas main"
                )?,
            }
            return match &status.next_push {
                Some(next) => {
                    p.heading(out, &format!("{app}'s next push"))?;
                    p.fields(out, &settings_fields(NEXT_PUSH, next))
                }
                None => {
                    p.heading(out, &format!("{app} canary settings"))?;
                    p.fields(out, &settings_fields(EVERY_PUSH, &status.settings))
                }
            };
        };
        p.heading(
            out,
            &format!(
                "{app} canary v{}: {} % of clients (v{} has the rest)",
                canary.release, canary.weight, canary.baseline
            ),
        )?;
        let rows: Vec<Vec<String>> = status
            .sides
            .iter()
            .map(|side| {
                vec![
                    format!("v{}", side.release),
                    if side.release == canary.release {
                        "canary".to_owned()
                    } else {
                        "running".to_owned()
                    },
                    side.requests.to_string(),
                    format!("{:.1}", side.requests_per_minute),
                    side.server_errors_percent
                        .map_or("-".to_owned(), |p| format!("{p:.1} %")),
                    side.p95_ms.map_or("-".to_owned(), |ms| format!("≤ {ms} ms")),
                ]
            })
            .collect();
        p.table(
            out,
            &["RELEASE", "ROLE", "REQUESTS", "REQ/MIN", "5XX", "P95"],
            &rows,
        )?;
        match status.promotes_in_seconds {
            Some(seconds) => writeln!(
                out,
                "Promoted by itself in {} if healthy; aborted if its 5xx is over {} more or its p95 over {}× v{}'s.",
                humantime::format_duration(Duration::from_secs(seconds)),
                points(canary.max_5xx_points),
                canary.max_p95_factor,
                canary.baseline
            ),
            None => writeln!(
                out,
                "It runs until `paas canary:promote` or `paas canary:abort`."
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(weight: Option<&str>, duration: Option<&str>) -> ConfigArgs {
        ConfigArgs {
            weight: weight.map(str::to_owned),
            duration: duration.map(str::to_owned),
            thresholds: Thresholds {
                max_5xx: None,
                max_p95: None,
            },
        }
    }

    #[test]
    fn settings_parse_as_written() {
        let update = config_update(&args(Some("10"), Some("10m")))
            .expect("valid")
            .expect("a change");
        assert_eq!(update.weight, Some(Some(10)));
        assert_eq!(update.duration_seconds, Some(Some(600)));
        let seconds = config_update(&args(None, Some("90")))
            .expect("valid")
            .expect("a change");
        assert_eq!(seconds.duration_seconds, Some(Some(90)));
        for off in ["none", "off", "0"] {
            let none = config_update(&args(Some(off), Some("none")))
                .expect("valid")
                .expect("a change");
            assert_eq!(
                (none.weight, none.duration_seconds),
                (Some(None), Some(None))
            );
        }
        assert!(config_update(&args(None, None)).expect("valid").is_none());
        assert!(finite("NaN").is_err() && finite("inf").is_err() && finite("1.5").is_ok());
        for (weight, duration) in [
            (Some("100"), None),
            (Some("half"), None),
            (None, Some("5s")),
            (None, Some("soon")),
        ] {
            assert!(
                config_update(&args(weight, duration)).is_err(),
                "{weight:?} {duration:?}"
            );
        }
    }
}

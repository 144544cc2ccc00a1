//! `paas router`: the app's router settings: the request timeout and the request body limit.

use paas_share::models::{RouterSettings, UpdateRouterSettings};

use crate::commands::domains::on_off;
use crate::context::Ctx;
use crate::error::CliError;

/// The router's settings for the app: show them (without a subcommand), or change the request
/// timeout or the largest request body
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas router
  paas router:timeout 60          # dynos get 60 s to begin a response (504 after)
  paas router:timeout default     # the server's --router-timeout (30 s unless set)
  paas router:max-body-size 10MB  # larger request bodies get 413
  paas router:max-body-size none")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Timeout(TimeoutArgs),
    MaxBodySize(MaxBodyArgs),
}

/// How long a dyno has to begin its response before the router answers 504 (Heroku's H12)
#[derive(Debug, clap::Args)]
struct TimeoutArgs {
    /// Seconds from 1 to 3600 (or a duration: 90s, 2m), or `default`
    #[arg(value_name = "SECONDS|default")]
    timeout: String,
}

/// The largest request body the router passes on to the app (413 beyond)
#[derive(Debug, clap::Args)]
struct MaxBodyArgs {
    /// A size (1048576, 500kB, 10MB, 1GiB), or `none` for no limit
    #[arg(value_name = "SIZE|none")]
    size: String,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let path = format!("/apps/{app}/router");
    let update = match args.command {
        None => {
            let settings: RouterSettings = client.get(&path)?;
            return show(app.as_str(), &settings, ctx);
        }
        Some(Command::Timeout(args)) => UpdateRouterSettings {
            timeout_seconds: Some(parse_timeout(&args.timeout)?),
            ..UpdateRouterSettings::default()
        },
        Some(Command::MaxBodySize(args)) => UpdateRouterSettings {
            max_body_bytes: Some(parse_size(&args.size)?),
            ..UpdateRouterSettings::default()
        },
    };
    let settings: RouterSettings = client.patch(&path, &update)?;
    ctx.printer
        .done("Updated", format_args!("{app}'s router settings"));
    show(app.as_str(), &settings, ctx)
}

fn show(app: &str, settings: &RouterSettings, ctx: &Ctx) -> anyhow::Result<()> {
    ctx.printer.print(settings, |p, out| {
        p.heading(out, &format!("{app} Router"))?;
        p.fields(
            out,
            &[
                (
                    "Timeout",
                    settings
                        .timeout_seconds
                        .map_or("the server's default".to_owned(), |s| format!("{s} s")),
                ),
                (
                    "Max body size",
                    settings.max_body_bytes.map_or("no limit".to_owned(), |b| {
                        format!("{} ({b} bytes)", indicatif::HumanBytes(b))
                    }),
                ),
                ("Maintenance", on_off(settings.maintenance).to_owned()),
                ("Redirect HTTPS", on_off(settings.redirect_https).to_owned()),
                ("ACM", on_off(settings.acm).to_owned()),
            ],
        )
    })
}

/// `60`, `90s`, `2m` or `default`.
fn parse_timeout(text: &str) -> Result<Option<u32>, CliError> {
    if text == "default" {
        return Ok(None);
    }
    let seconds = match text.parse::<u64>() {
        Ok(seconds) => Some(seconds),
        Err(_) => humantime::parse_duration(text).ok().map(|d| d.as_secs()),
    };
    match seconds.and_then(|s| u32::try_from(s).ok()) {
        Some(seconds) if (1..=3600).contains(&seconds) => Ok(Some(seconds)),
        _ => Err(
            CliError::usage(format!("{text:?} is not a timeout from 1 to 3600 seconds"))
                .hint("give seconds (60), a duration (90s, 2m), or `default`"),
        ),
    }
}

/// `1048576`, `500kB`, `10MB`, `1GiB` or `none` (decimal and binary units, as `bytesize` reads
/// them).
fn parse_size(text: &str) -> Result<Option<u64>, CliError> {
    if text == "none" {
        return Ok(None);
    }
    match text.parse::<bytesize::ByteSize>() {
        Ok(size) if (1..=i64::MAX as u64).contains(&size.as_u64()) => Ok(Some(size.as_u64())),
        _ => Err(
            CliError::usage(format!("{text:?} is not a size from 1 byte to 8 EiB"))
                .hint("give bytes (1048576), a size (500kB, 10MB, 1GiB), or `none`"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_sizes() {
        assert_eq!(parse_timeout("60").expect("ok"), Some(60));
        assert_eq!(parse_timeout("2m").expect("ok"), Some(120));
        assert_eq!(parse_timeout("default").expect("ok"), None);
        for bad in ["0", "3601", "-1", "soon", "2h"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_size("10MB").expect("ok"), Some(10_000_000));
        assert_eq!(parse_size("1KiB").expect("ok"), Some(1024));
        assert_eq!(parse_size("512").expect("ok"), Some(512));
        assert_eq!(parse_size("none").expect("ok"), None);
        for bad in ["0", "-5", "lots", "10XB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}

//! `paas limits`: the app's flow control at the router: a rate with a burst, a rate per client
//! address, and how many requests each web dyno gets at once (`limits:set`, `limits:unset`).

use paas_share::models::{RouterSettings, UpdateRouterSettings};

use crate::context::Ctx;
use crate::error::CliError;

/// Flow control: show the app's limits (without a subcommand), set or remove them
///
/// The router enforces them before a request reaches a dyno. Over `rate` (requests per second
/// to the app, with bursts up to `burst` above it) or `per-ip` (requests per second from one
/// client address), a request gets 429 Too Many Requests with `Retry-After`. With `concurrency`,
/// the app's dynos get at most that many times their number at once (pooled, not per dyno); more
/// wait in a queue as deep (up to
/// 5 s, or the router timeout), and beyond it get 503 with `Retry-After: 1` at once (shed,
/// Heroku's H11) instead of piling up. Refusals show in `paas metrics` and the app's log.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  paas limits:set rate=100/s burst=200 concurrency=50 per-ip=20/s
  paas limits
  paas limits:unset per-ip
  paas limits:unset --all")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Set(SetArgs),
    Unset(UnsetArgs),
}

/// Set limits (the others stay as they are)
#[derive(Debug, clap::Args)]
struct SetArgs {
    /// `rate=N/s`, `burst=N`, `concurrency=N`, `per-ip=N/s`; each from 1 to 1000000
    #[arg(value_name = "LIMIT=VALUE", required = true)]
    limits: Vec<String>,
}

/// Remove limits (`rate` takes its `burst` with it)
#[derive(Debug, clap::Args)]
struct UnsetArgs {
    /// rate, burst, concurrency or per-ip
    #[arg(value_name = "LIMIT", required_unless_present = "all")]
    limits: Vec<String>,
    /// Remove every limit
    #[arg(long, conflicts_with = "limits")]
    all: bool,
}

/// The limits' names on the command line.
const NAMES: [&str; 4] = ["rate", "burst", "concurrency", "per-ip"];

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let client = ctx.client()?;
    let path = format!("/apps/{app}/router");
    let (update, verb) = match args.command {
        None => {
            let settings: RouterSettings = client.get(&path)?;
            return show(app.as_str(), &settings, ctx);
        }
        Some(Command::Set(args)) => (parse_set(&args.limits)?, "Set"),
        Some(Command::Unset(args)) => (
            parse_unset(if args.all {
                NAMES.map(str::to_owned).to_vec()
            } else {
                args.limits
            })?,
            "Removed",
        ),
    };
    let settings: RouterSettings = client.patch(&path, &update)?;
    ctx.printer.done(verb, format_args!("{app}'s limits"));
    show(app.as_str(), &settings, ctx)
}

fn show(app: &str, settings: &RouterSettings, ctx: &Ctx) -> anyhow::Result<()> {
    ctx.printer.print(settings, |p, out| {
        p.heading(out, &format!("{app} Limits"))?;
        let none = || "no limit".to_owned();
        p.fields(
            out,
            &[
                (
                    "Rate",
                    settings.rate_per_s.map_or_else(none, |rate| {
                        let burst = settings.burst.unwrap_or(rate);
                        format!("{rate} requests/s (bursts of up to {burst})")
                    }),
                ),
                (
                    "Per client",
                    settings
                        .per_ip_per_s
                        .map_or_else(none, |rate| format!("{rate} requests/s from one address")),
                ),
                (
                    "Concurrency",
                    settings.concurrency.map_or_else(none, |n| {
                        let requests = if n == 1 { "request" } else { "requests" };
                        format!(
                            "{n} {requests} at once per dyno up, pooled (as many more wait, 5 s at most)"
                        )
                    }),
                ),
            ],
        )
    })
}

/// `rate=100/s burst=200 concurrency=50 per-ip=20/s`: each limit at most once.
fn parse_set(words: &[String]) -> Result<UpdateRouterSettings, CliError> {
    let mut update = UpdateRouterSettings::default();
    for word in words {
        let Some((name, value)) = word.split_once('=') else {
            return Err(CliError::usage(format!("{word:?} is not LIMIT=VALUE"))
                .hint("as in `paas limits:set rate=100/s burst=200 concurrency=50 per-ip=20/s`"));
        };
        let slot = field(&mut update, name)?;
        if slot.is_some() {
            return Err(CliError::usage(format!("{name} is given twice")));
        }
        let rate = matches!(name, "rate" | "per-ip");
        *slot = Some(Some(parse_value(name, value, rate)?));
    }
    Ok(update)
}

/// The limits to remove; `rate` takes `burst` along (a burst is above a rate).
fn parse_unset(names: Vec<String>) -> Result<UpdateRouterSettings, CliError> {
    let mut update = UpdateRouterSettings::default();
    for name in names {
        *field(&mut update, &name)? = Some(None);
    }
    if update.rate_per_s.is_some() {
        update.burst = Some(None);
    }
    Ok(update)
}

fn field<'a>(
    update: &'a mut UpdateRouterSettings,
    name: &str,
) -> Result<&'a mut Option<Option<u32>>, CliError> {
    Ok(match name {
        "rate" => &mut update.rate_per_s,
        "burst" => &mut update.burst,
        "concurrency" => &mut update.concurrency,
        "per-ip" => &mut update.per_ip_per_s,
        _ => {
            return Err(
                CliError::usage(format!("there is no limit called {name:?}"))
                    .hint(format!("the limits are {}", NAMES.join(", "))),
            );
        }
    })
}

/// A whole number from 1 to 1000000; a rate may say `/s` (requests per second).
fn parse_value(name: &str, value: &str, rate: bool) -> Result<u32, CliError> {
    let number = match value.split_once('/') {
        Some((number, "s" | "sec" | "second")) if rate => number,
        Some(_) => {
            let hint = if rate {
                format!("rates are per second: {name}=100/s")
            } else {
                format!("{name} is a count: {name}=50")
            };
            return Err(CliError::usage(format!("{name}={value} is not a limit")).hint(hint));
        }
        None => value,
    };
    let digits = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
    match number.parse::<u32>() {
        Ok(n) if digits && (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(CliError::usage(format!(
            "{name}={value}: give a whole number from 1 to 1000000"
        ))
        .hint(format!("to remove the limit: paas limits:unset {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn limits_parse_as_written() {
        let update =
            parse_set(&words("rate=100/s burst=200 concurrency=50 per-ip=20")).expect("valid");
        assert_eq!(update.rate_per_s, Some(Some(100)));
        assert_eq!(update.burst, Some(Some(200)));
        assert_eq!(update.concurrency, Some(Some(50)));
        assert_eq!(update.per_ip_per_s, Some(Some(20)));
        for bad in [
            "rate",
            "rate=0",
            "rate=100/m",
            "rate=1000001",
            "burst=10/s",
            "speed=5",
            "rate=5 rate=6",
            "concurrency=-1",
            "rate=+5/s",
            "rate=",
        ] {
            assert!(parse_set(&words(bad)).is_err(), "{bad}");
        }
        let unset = parse_unset(words("rate")).expect("valid");
        assert_eq!(
            (unset.rate_per_s, unset.burst, unset.concurrency),
            (Some(None), Some(None), None)
        );
        assert!(parse_unset(words("speed")).is_err());
    }
}

//! `paas run`: a one-off dyno of the app's current release (its image, config vars and
//! `.profile.d`), attached to this terminal, or to pipes, or detached. The command's exit status
//! is `paas run`'s (Heroku needs `--exit-code` for that).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::time::Duration;

use paas_share::ConfigKey;
use paas_share::models::{CreateDyno, Dyno, WindowSize};
use paas_share::names::excerpt;

use crate::context::Ctx;
use crate::error::{CliError, ExitStatus};

/// Run a command in a one-off dyno of the app's current release
#[derive(Debug, clap::Args)]
#[command(after_help = "\
One argument is a shell command line; several are a command and its arguments, passed as they
are. On a terminal the dyno gets one (colours, line editing, Ctrl-C reaches the command);
otherwise stdin, stdout and stderr are plain byte streams. `paas run` exits with the command's
status (128 + N if signal N killed it).

Examples:
  paas run -- python manage.py migrate
  paas run bash
  paas run 'echo $DATABASE_URL | cut -d@ -f2'
  echo 'print(6 * 7)' | paas run -- python3
  paas run --env DEBUG=1 --timeout 10m -- ./bin/report
  paas run --detached -- python manage.py rebuild_index    # output: paas logs --ps run.N")]
pub struct Args {
    /// A variable for this run only, over the app's config vars (repeatable)
    #[arg(short, long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(ConfigKey, String)>,
    /// No terminal, even when stdin and stdout are one: separate stdout and stderr
    #[arg(long)]
    no_tty: bool,
    /// Stop the dyno after this long: 90s, 10m, 2h [default: 1h; the server sets a maximum]
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    timeout: Option<Duration>,
    /// Start the dyno and return its name; its output goes to the app's log
    #[arg(short, long)]
    detached: bool,
    /// The command, and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

fn parse_env(arg: &str) -> Result<(ConfigKey, String), String> {
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {:?}", excerpt(arg)))?;
    Ok((
        ConfigKey::parse(key).map_err(|e| e.to_string())?,
        value.to_owned(),
    ))
}

fn parse_timeout(arg: &str) -> Result<Duration, String> {
    // A bare number is seconds, as elsewhere in paas.
    let parsed = match arg.parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(arg),
    };
    match parsed {
        Ok(d) if d.as_secs() >= 1 => Ok(d),
        Ok(_) => Err("the timeout must be at least 1 second".to_owned()),
        // humantime's own words ("expected number at 0") name a parser's position, not the fix.
        Err(_) => Err(format!(
            "{:?} is not a duration: write it like 90s, 10m or 2h",
            paas_share::names::excerpt(arg)
        )),
    }
}

/// The command line the dyno's shell runs: one argument as written, several quoted each.
fn command_line(args: &[OsString]) -> Result<String, CliError> {
    let args: Vec<&str> = args
        .iter()
        .map(|a| {
            a.to_str()
                .ok_or_else(|| CliError::usage("the command must be UTF-8 text"))
        })
        .collect::<Result<_, _>>()?;
    let line = match args.as_slice() {
        [one] => (*one).to_owned(),
        many => shlex::try_join(many.iter().copied())
            .map_err(|_| CliError::usage("the command holds a NUL byte"))?,
    };
    if line.trim().is_empty() {
        return Err(CliError::usage("the command is empty")
            .hint("paas run -- COMMAND [ARGS...], e.g. paas run -- python manage.py migrate"));
    }
    Ok(line)
}

/// Without `--`, an `-a APP` (`--app APP`, `--app=APP`) among the command's words is ambiguous:
/// the user may mean the app (Heroku's `heroku run CMD -a APP`) or the command's own flag. Refused
/// rather than guessed, so that nothing runs on an app nobody meant.
fn no_app_flag_in(command: &[OsString], separated: bool) -> Result<(), CliError> {
    if separated {
        return Ok(());
    }
    let words: Vec<&str> = command.iter().filter_map(|w| w.to_str()).collect();
    let flagged = words.windows(2).any(|w| matches!(w[0], "-a" | "--app"))
        || words.iter().any(|w| w.starts_with("--app="));
    if flagged {
        return Err(CliError::usage(
            "-a/--app after the command is part of the command",
        )
        .hint("put paas's flags before the command and separate it with --: paas run -a APP -- COMMAND"));
    }
    Ok(())
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    no_app_flag_in(&args.command, std::env::args_os().any(|a| a == "--"))?;
    let command = command_line(&args.command)?;
    let app = ctx.app()?;
    let client = ctx.client()?;
    let terminal = !args.detached
        && !args.no_tty
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal();
    let size = terminal.then(crate::attach::window_size).flatten();
    let mut env: std::collections::BTreeMap<String, String> = args
        .env
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    if terminal && let Some(term) = std::env::var("TERM").ok().filter(|t| !t.is_empty()) {
        env.entry("TERM".to_owned()).or_insert(term);
    }
    let request = CreateDyno {
        command: command.clone(),
        attach: !args.detached,
        env,
        tty: terminal.then(|| {
            size.unwrap_or(WindowSize {
                columns: 80,
                lines: 24,
            })
        }),
        time_to_live: args.timeout.map(|t| t.as_secs()),
    };
    let spinner = ctx.printer.spinner(format!(
        "Starting `{}` on {app}…",
        ctx.printer.app_text(&excerpt(&command))
    ));
    let dyno = client.post::<_, Dyno>(&format!("/apps/{app}/dynos"), &request);
    spinner.finish_and_clear();
    let dyno = dyno?;
    if args.detached {
        ctx.printer
            .print(&dyno, |_, out| writeln!(out, "{}", dyno.name))?;
        ctx.printer.status(format_args!(
            "Running `{}` on {app}, detached as {}: `paas logs --ps {}` shows its output, `paas stop {}` stops it.",
            ctx.printer.app_text(&excerpt(&command)),
            dyno.name,
            dyno.name,
            dyno.name
        ));
        return Ok(ExitStatus::Success);
    }
    ctx.printer.status(format_args!(
        "Running `{}` on {app}… up, {}",
        ctx.printer.app_text(&excerpt(&command)),
        dyno.name
    ));
    crate::attach::session(
        ctx,
        &client,
        &format!("/apps/{app}/dynos/{}/attach", dyno.name),
        &dyno.name,
        terminal,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_argument_is_a_command_line_and_several_are_quoted() {
        let line = |args: &[&str]| {
            command_line(&args.iter().map(OsString::from).collect::<Vec<_>>())
                .map_err(|e| e.message)
        };
        assert_eq!(
            line(&["echo $HOME && ls"]).expect("valid"),
            "echo $HOME && ls"
        );
        assert_eq!(
            line(&["python", "-c", "print('hi there')"]).expect("valid"),
            r#"python -c "print('hi there')""#
        );
        assert!(line(&["  "]).expect_err("empty").contains("empty"));
    }

    #[test]
    fn timeouts_read_like_durations() {
        let parsed = |text| parse_timeout(text).expect("valid");
        assert_eq!(parsed("90"), Duration::from_secs(90));
        assert_eq!(parsed("10m"), Duration::from_secs(600));
        assert_eq!(parsed("2h"), Duration::from_secs(7200));
        assert!(parse_timeout("0").is_err());
        assert!(
            parse_timeout("soon")
                .expect_err("not a duration")
                .contains("90s, 10m or 2h")
        );
    }
}

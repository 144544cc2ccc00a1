//! `paas run`: a one-off dyno of the app's current release (its image, config vars and
//! `.profile.d`), attached to this terminal, or to pipes, or detached. The command's exit status
//! is `paas run`'s (Heroku needs `--exit-code` for that).

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use paas_share::ConfigKey;
use paas_share::models::{CreateDyno, Dyno, RunExit, WindowSize};
use paas_share::names::excerpt;
use tokio_tungstenite::tungstenite::Message;

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
        Err(_) => humantime::parse_duration(arg).map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(d) if d.as_secs() >= 1 => Ok(d),
        Ok(_) => Err("the timeout must be at least 1 second".to_owned()),
        Err(e) => Err(format!("{e}: write it like 90s, 10m or 2h")),
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

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let command = command_line(&args.command)?;
    let app = ctx.app()?;
    let client = ctx.client()?;
    let terminal = !args.detached
        && !args.no_tty
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal();
    let size = terminal.then(window_size).flatten();
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
    let request = client.attach_request(&format!("/apps/{app}/dynos/{}/attach", dyno.name))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let raw = terminal.then(RawMode::enter).transpose()?;
    let ended = runtime.block_on(attach(request, terminal));
    drop(raw);
    // The thread reading stdin may still wait for a line: the process ends without it.
    runtime.shutdown_background();
    let exit = ended?;
    if let Some(error) = exit.error {
        return Err(CliError::new("run_failed", error).into());
    }
    if exit.stopped {
        ctx.printer.warn(format_args!(
            "{} was stopped: by `paas stop`, the app's destroy or the server stopping",
            dyno.name
        ));
    } else if exit.timed_out {
        ctx.printer.warn(format_args!(
            "{} was stopped at its time limit (--timeout)",
            dyno.name
        ));
    } else if exit.oom_killed {
        ctx.printer
            .warn(format_args!("{} ran out of memory", dyno.name));
    }
    Ok(ExitStatus::Code(
        u8::try_from(exit.status.clamp(0, 255)).unwrap_or(1),
    ))
}

/// Copies stdin to the dyno and its output here until it ends; how it ended.
async fn attach(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
    terminal: bool,
) -> Result<RunExit, CliError> {
    let lost = |e: &dyn std::fmt::Display| {
        CliError::new(
            "connection_lost",
            format!("the connection to the dyno was lost: {e}"),
        )
        .hint("the dyno is stopped when its client goes away; run the command again")
    };
    let socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        // The server refused to start it, and says why in the API's error body.
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let status = response.status();
            let error = response
                .body()
                .as_deref()
                .and_then(|body| serde_json::from_slice::<paas_share::ApiError>(body).ok());
            return Err(match error {
                Some(error) => {
                    let mut failure = CliError::new(&error.id, error.message);
                    failure.hint = error.hint;
                    failure
                }
                None => CliError::new(
                    "http_error",
                    format!("the server refused to attach the dyno: HTTP {status}"),
                ),
            });
        }
        Err(e) => return Err(lost(&e)),
    };
    let (mut sink, mut incoming) = socket.split();
    let (frames, mut to_send) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    // stdin on a thread of its own (a blocking read cannot be cancelled): channel 0, then the
    // end of stdin (255 0).
    let stdin_frames = frames.clone();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) | Err(_) => {
                    let _ = stdin_frames.blocking_send(vec![255, 0]);
                    return;
                }
                Ok(n) => {
                    let mut frame = Vec::with_capacity(n + 1);
                    frame.push(0);
                    frame.extend_from_slice(&buffer[..n]);
                    if stdin_frames.blocking_send(frame).is_err() {
                        return;
                    }
                }
            }
        }
    });
    if terminal {
        let resize_frames = frames.clone();
        tokio::spawn(async move {
            let Ok(mut changes) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
            else {
                return;
            };
            while changes.recv().await.is_some() {
                if let Some(size) = window_size() {
                    let mut frame = vec![4u8];
                    frame.extend(serde_json::to_vec(&size).expect("sizes serialize"));
                    if resize_frames.send(frame).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
    drop(frames);
    let sending = tokio::spawn(async move {
        while let Some(frame) = to_send.recv().await {
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                return;
            }
        }
    });
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut exit = None;
    while let Some(message) = incoming.next().await {
        let frame = match message {
            Ok(Message::Binary(frame)) => frame,
            Ok(Message::Close(_)) => break,
            Ok(_) => continue,
            Err(e) => return Err(lost(&e)),
        };
        let written = match frame.split_first() {
            Some((1, data)) => stdout.write_all(data).and_then(|()| stdout.flush()),
            Some((2, data)) => stderr.write_all(data).and_then(|()| stderr.flush()),
            Some((3, status)) => {
                exit = serde_json::from_slice::<RunExit>(status).ok();
                Ok(())
            }
            _ => Ok(()),
        };
        if written.is_err() {
            // Our output was closed (`paas run … | head`): end as a writer does on SIGPIPE;
            // closing the connection stops the dyno.
            return Ok(RunExit {
                status: 128 + 13,
                signal: Some(13),
                ..RunExit::default()
            });
        }
    }
    sending.abort();
    exit.ok_or_else(|| lost(&"it closed before saying how the command ended"))
}

/// The terminal's size, from stdout.
fn window_size() -> Option<WindowSize> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (size.ws_col > 0 && size.ws_row > 0).then_some(WindowSize {
        columns: size.ws_col,
        lines: size.ws_row,
    })
}

/// The local terminal in raw mode (every key goes to the dyno as typed, Ctrl-C included) until
/// dropped, then as it was.
struct RawMode {
    saved: rustix::termios::Termios,
}

impl RawMode {
    fn enter() -> std::io::Result<Self> {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw)?;
        Ok(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
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

//! Attaching to a one-off dyno (`paas run`, `pg:psql`, `redis:cli`): the WebSocket attach
//! stream (Kubernetes' `v5.channel.k8s.io` channels) bridged to this terminal in raw mode, or to
//! stdin, stdout and stderr as byte streams, and how the dyno ended as this process's status.

use std::io::{Read, Write};

use futures_util::{SinkExt, StreamExt};
use paas_share::models::{RunExit, WindowSize};
use tokio_tungstenite::tungstenite::Message;

use crate::api_client::ApiClient;
use crate::context::Ctx;
use crate::error::{CliError, ExitStatus};

/// Attaches to one-off dyno `dyno` at `path` (`/apps/APP/dynos/run.3/attach`) until it ends;
/// exits with its status (128 + N if signal N killed it). `terminal`: this terminal, raw.
pub fn session(
    ctx: &Ctx,
    client: &ApiClient,
    path: &str,
    dyno: &str,
    terminal: bool,
) -> anyhow::Result<ExitStatus> {
    let request = client.attach_request(path)?;
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
            dyno
        ));
    } else if exit.timed_out {
        ctx.printer.warn(format_args!(
            "{} was stopped at its time limit (--timeout)",
            dyno
        ));
    } else if exit.oom_killed {
        ctx.printer.warn(format_args!("{} ran out of memory", dyno));
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
pub fn window_size() -> Option<WindowSize> {
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

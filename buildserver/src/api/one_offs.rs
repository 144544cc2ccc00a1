//! One-off dynos (`paas run`): `POST /apps/{app}/dynos` makes one of the running release (as
//! Heroku's Dyno Create), `GET /apps/{app}/dynos/{dyno}/attach` attaches to it over a WebSocket,
//! `POST /apps/{app}/dynos/{dyno}/actions/stop` stops it.
//!
//! The attach stream follows Kubernetes' `v5.channel.k8s.io` exec protocol: binary messages whose
//! first byte names the stream. Client to server: `0` stdin bytes, `4` a resize
//! (`{"columns":N,"lines":N}`), `255 0` stdin closed. Server to client: `1` stdout bytes, `2`
//! stderr bytes (a terminal has only `1`), then `3` how it ended ([`RunExit`] JSON) and a close.
//! A client that goes away stops its dyno.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use paas_share::ConfigKey;
use paas_share::models::{CreateDyno, Dyno, Role, RunExit};
use paas_share::names::excerpt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, RequestHost, find_app};
use crate::container::{Exit, Outcome};
use crate::one_off::{OneOffError, Request};
use crate::scheduler::{Input, OneOffStreams, Output};

/// The longest command line a one-off dyno takes.
const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// The WebSocket subprotocol of the attach stream.
pub const PROTOCOL: &str = "v5.channel.k8s.io";

pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    host: RequestHost,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<CreateDyno>,
) -> ApiResult<(StatusCode, Json<Dyno>)> {
    let request = checked(body)?;
    let app = find_app(&state, &user, &name).await?;
    let Some(deployment) = state.releases.running_deployment(&app).await? else {
        return Err(
            ApiFailure::invalid(format!("app {name:?} has no release to run"))
                .hint("push code first: git push paas main"),
        );
    };
    let attach = request.attach;
    let mut dyno = state
        .one_offs
        .create(deployment, request)
        .map_err(failure)?;
    if attach {
        let authority = host.0.as_deref().unwrap_or("localhost");
        dyno.attach_url = Some(format!(
            "ws://{authority}/apps/{name}/dynos/{}/attach",
            dyno.name
        ));
    }
    tracing::info!(app = %name, dyno = %dyno.name, user = %user.name, "one-off dyno created");
    Ok((StatusCode::CREATED, Json(dyno)))
}

/// The request as the scheduler takes it, or 422 saying what is wrong.
pub(super) fn checked(body: CreateDyno) -> ApiResult<Request> {
    if body.command.trim().is_empty() {
        return Err(ApiFailure::invalid("the command is empty")
            .hint("paas run -- COMMAND [ARGS...], e.g. paas run -- python manage.py migrate"));
    }
    if body.command.len() > MAX_COMMAND_BYTES {
        return Err(ApiFailure::invalid(format!(
            "the command is longer than {} KiB",
            MAX_COMMAND_BYTES / 1024
        ))
        .hint("put a long script in a file of the app and run that"));
    }
    if body.command.contains('\0') {
        return Err(ApiFailure::invalid(
            "the command holds a NUL byte, which no process can take",
        ));
    }
    // As in Procfile commands: other users see it in `paas ps`.
    if body
        .command
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n'))
    {
        return Err(ApiFailure::invalid(
            "the command contains a control character other than tab and newline",
        ));
    }
    let mut env = BTreeMap::new();
    for (key, value) in body.env {
        let key = ConfigKey::parse(&key).map_err(|e| ApiFailure::invalid(e.to_string()))?;
        if matches!(key.as_str(), "PORT" | "DYNO" | "PS") {
            return Err(ApiFailure::invalid(format!(
                "{key} is set by paas in each dyno and cannot be given"
            )));
        }
        if value.contains('\0') {
            return Err(ApiFailure::invalid(format!(
                "the value of {key} holds a NUL byte, which no process environment can take"
            )));
        }
        env.insert(key.to_string(), value);
    }
    if env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > MAX_COMMAND_BYTES {
        return Err(ApiFailure::invalid(format!(
            "the variables are longer than {} KiB together",
            MAX_COMMAND_BYTES / 1024
        )));
    }
    if body.tty.is_some() && !body.attach {
        return Err(ApiFailure::invalid(
            "a terminal needs an attached run (`attach: true`)",
        ));
    }
    if body
        .tty
        .is_some_and(|size| size.columns == 0 || size.lines == 0)
    {
        return Err(ApiFailure::invalid(
            "a terminal needs at least 1 column and 1 line",
        ));
    }
    let timeout = match body.time_to_live {
        Some(0) => {
            return Err(ApiFailure::invalid(
                "time_to_live must be at least 1 second",
            ));
        }
        Some(seconds) => Some(Duration::from_secs(seconds)),
        None => None,
    };
    Ok(Request {
        command: body.command,
        env,
        terminal: body.tty,
        timeout,
        attach: body.attach,
    })
}

pub(super) fn failure(e: OneOffError) -> ApiFailure {
    match e {
        OneOffError::AppLimit(_) | OneOffError::ServerLimit(_) => ApiFailure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_dynos",
            e.to_string(),
        )
        .hint("wait for one to end, or stop one: paas ps, then paas ps:stop run.N"),
        OneOffError::TimeoutTooLong(_) => ApiFailure::invalid(e.to_string()),
        OneOffError::NotFound(_) => {
            ApiFailure::not_found(e.to_string()).hint("run `paas ps` to see the app's dynos")
        }
        OneOffError::Attached(_) => {
            ApiFailure::new(StatusCode::CONFLICT, "conflict", e.to_string())
        }
        OneOffError::Scheduler(e) => super::scheduler_failure("cannot start the one-off dyno", &e),
    }
}

/// `GET /apps/{app}/dynos/{dyno}/attach`: the WebSocket of a one-off dyno made with
/// `attach: true`, which starts it.
pub async fn attach(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: axum::http::HeaderMap,
    Path((name, dyno)): Path<(String, String)>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let app = find_app(&state, &user, &name).await?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiFailure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "this is a WebSocket: {}",
                rejection.body_text().to_lowercase()
            ),
        )
        .hint("`paas run` attaches here; other clients send `Upgrade: websocket` (RFC 6455)")
    })?;
    let attachment = state
        .one_offs
        .attach(&app.id, &dyno)
        .await
        .map_err(failure)?;
    tracing::info!(app = %name, %dyno, user = %user.name, "one-off dyno attached");
    let one_offs = state.one_offs.clone();
    let revoked = super::guard::revoked(state, headers, name, Role::Deployer);
    Ok(upgrade
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| async move {
            let crate::one_off::Attachment {
                one_off,
                stop,
                listed,
            } = attachment;
            let (input, outputs, resize) = match one_off.streams {
                OneOffStreams::Pipes {
                    stdin,
                    stdout,
                    stderr,
                } => (stdin, vec![(1u8, stdout), (2u8, stderr)], None),
                OneOffStreams::Terminal {
                    input,
                    output,
                    resize,
                } => (input, vec![(1u8, output)], Some(resize)),
            };
            let ended =
                one_offs.until_end(&app.id, &dyno, one_off.exit, &*one_off.terminate, &stop);
            if !bridge(socket, input, outputs, resize, ended, revoked).await {
                one_offs.client_gone(&app.id, &dyno);
            }
            drop(listed);
        })
        .into_response())
}

/// Copies the dyno's streams to and from the client until the dyno ends (then sends how; true),
/// the client goes away, or the request may no longer go on (`revoked`: said on stderr first);
/// in those two cases the dyno is killed (`ended` is dropped; false).
async fn bridge(
    socket: WebSocket,
    input: Input,
    outputs: Vec<(u8, Output)>,
    resize: Option<Box<dyn Fn(paas_share::models::WindowSize) + Send + Sync>>,
    ended: impl std::future::Future<Output = (anyhow::Result<Outcome>, bool)>,
    revoked: impl std::future::Future<Output = String>,
) -> bool {
    let (mut sink, mut incoming) = socket.split();
    // Bounded: a client that reads slowly slows the dyno's output down, memory stays flat.
    let (frames, mut to_send) = mpsc::channel::<Vec<u8>>(16);
    let copy_out = futures_util::future::join_all(outputs.into_iter().map(|(channel, reader)| {
        let frames = frames.clone();
        copy_output(channel, reader, frames)
    }));
    drop(frames);
    let send = async {
        while let Some(frame) = to_send.recv().await {
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                return false;
            }
        }
        true
    };
    let run = async {
        let (outcome, _, sent) = tokio::join!(ended, copy_out, send);
        (outcome, sent)
    };
    let client_gone = copy_input(&mut incoming, input, resize);
    tokio::select! {
        ((outcome, stopped), sent) = run => {
            if sent {
                let mut frame = vec![3u8];
                let exit = RunExit { stopped, ..run_exit(outcome) };
                frame.extend(serde_json::to_vec(&exit).expect("RunExit serializes"));
                let _ = sink.send(Message::Binary(frame.into())).await;
                let _ = sink.send(Message::Close(None)).await;
            }
            true
        }
        () = client_gone => false,
        reason = revoked => {
            let mut frame = vec![2u8];
            frame.extend(format!("\r\npaas: this session ended: {reason}\r\n").into_bytes());
            let _ = sink.send(Message::Binary(frame.into())).await;
            let _ = sink.send(Message::Close(None)).await;
            false
        }
    }
}

/// Reads the dyno's `reader` into frames of `channel` until it ends.
async fn copy_output(channel: u8, mut reader: Output, frames: mpsc::Sender<Vec<u8>>) {
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut frame = Vec::with_capacity(n + 1);
                frame.push(channel);
                frame.extend_from_slice(&buffer[..n]);
                if frames.send(frame).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Passes the client's stdin and resizes to the dyno; ends when the client goes away.
async fn copy_input(
    incoming: &mut futures_util::stream::SplitStream<WebSocket>,
    input: Input,
    resize: Option<Box<dyn Fn(paas_share::models::WindowSize) + Send + Sync>>,
) {
    let mut input = Some(input);
    while let Some(Ok(message)) = incoming.next().await {
        let Message::Binary(frame) = message else {
            if matches!(message, Message::Close(_)) {
                return;
            }
            continue;
        };
        match frame.split_first() {
            Some((0, data)) => {
                // Waits while the dyno does not read: the client is slowed down in turn.
                if let Some(writer) = input.as_mut()
                    && (writer.write_all(data).await.is_err() || writer.flush().await.is_err())
                {
                    input = None;
                }
            }
            Some((4, size)) => {
                if let (Some(resize), Ok(size)) = (&resize, serde_json::from_slice(size)) {
                    resize(size);
                }
            }
            Some((255, [0])) => {
                if let Some(mut writer) = input.take() {
                    let _ = writer.shutdown().await;
                }
            }
            _ => {}
        }
    }
}

/// The status message of a run that ended.
fn run_exit(outcome: anyhow::Result<Outcome>) -> RunExit {
    match outcome {
        Ok(outcome) => {
            let (status, signal, timed_out) = match outcome.exit {
                Exit::Code(code) => (code, None, false),
                Exit::Signal(signal) => (128 + signal, Some(signal), false),
                Exit::TimedOut => (128 + 9, Some(9), true),
            };
            RunExit {
                status,
                signal,
                timed_out,
                oom_killed: outcome.oom_killed,
                ..RunExit::default()
            }
        }
        Err(e) => RunExit {
            status: 1,
            error: Some(format!("{e:#}")),
            ..RunExit::default()
        },
    }
}

/// `POST /apps/{app}/dynos/{dyno}/actions/stop`: stops a one-off dyno (SIGTERM, then SIGKILL
/// after 10 s). A formation dyno is not stopped this way: the formation would start it again.
pub async fn stop(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((name, dyno)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Dyno>>> {
    let app = find_app(&state, &user, &name).await?;
    let running = state.one_offs.list(&app.id);
    let Some(stopped) = running.into_iter().find(|d| d.name == dyno) else {
        let formation = super::dynos_of(&state, &app).await?;
        if formation.iter().any(|d| d.name == dyno) {
            return Err(ApiFailure::invalid(format!(
                "{dyno} is part of the formation: it would be started again"
            ))
            .hint("scale its type down (paas ps:scale TYPE=N) or restart it (paas restart DYNO)"));
        }
        return Err(failure(OneOffError::NotFound(excerpt(&dyno))));
    };
    state.one_offs.stop(&app.id, &dyno);
    tracing::info!(app = %name, %dyno, user = %user.name, "one-off dyno stopped");
    Ok(Json(vec![stopped]))
}

//! `/apps/{app}/logs`: the app's recent log lines as NDJSON; with `tail=true`, then every new
//! line until the client goes away, the token is revoked or the app is destroyed (checked every
//! [`super::guard::RECHECK`]; the stream's last line says which).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use paas_share::models::LogLine;
use serde::Deserialize;
use tokio::sync::broadcast;

use super::guard::{refused_now, revoked};
use super::{ApiFailure, ApiQuery, ApiResult, AppState, CurrentUser, find_app};
use crate::logs::{Filter, RING_LINES};
use paas_share::models::Role;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    #[serde(default)]
    tail: bool,
    /// How many recent lines first [default: 100].
    lines: Option<usize>,
    /// `web`, `web.1`, `build`, …
    ps: Option<String>,
    /// `app` or `paas`.
    source: Option<String>,
    /// Resume: only lines with a larger `seq`.
    after: Option<u64>,
}

pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> ApiResult<Response> {
    if let Some(source) = query
        .source
        .as_deref()
        .filter(|s| !matches!(*s, "app" | "paas"))
    {
        return Err(ApiFailure::invalid(format!(
            "unknown log source {source:?}: use app or paas"
        )));
    }
    let app = find_app(&state, &user, &name).await?;
    let filter = Filter {
        process: query.ps,
        source: query.source,
        after: query.after,
    };
    let lines = query.lines.unwrap_or(100).min(RING_LINES);
    let (recent, live) = state.logs.read(&app.id, lines, &filter);
    let last_seq = recent.last().map_or(filter.after.unwrap_or(0), |l| l.seq);
    let past = stream::iter(
        recent
            .into_iter()
            .map(|line| Ok::<_, std::io::Error>(ndjson(&line))),
    );
    let ndjson_type = [(header::CONTENT_TYPE, "application/x-ndjson")];
    if !query.tail {
        return Ok((ndjson_type, Body::from_stream(past)).into_response());
    }
    let tail = Tail {
        live,
        filter,
        last_seq,
        revoked: Box::pin(revoked(
            state.clone(),
            headers.clone(),
            name.clone(),
            Role::Viewer,
        )),
        state,
        headers,
        app: name,
        ended: false,
    };
    let rest = stream::unfold(tail, |mut tail| async move {
        if tail.ended {
            return None;
        }
        let line = tail.next().await?;
        Some((Ok(ndjson(&line)), tail))
    });
    Ok((ndjson_type, Body::from_stream(past.chain(rest))).into_response())
}

/// A tailing stream's state.
struct Tail {
    live: broadcast::Receiver<std::sync::Arc<LogLine>>,
    filter: Filter,
    last_seq: u64,
    /// Resolves once the request may no longer read the app ([`revoked`]).
    revoked: std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>>,
    state: AppState,
    /// The request's, for checking its token again when the log closes.
    headers: HeaderMap,
    app: String,
    /// The last line (why the stream ends) was sent.
    ended: bool,
}

impl Tail {
    /// The next line to send: a matching log line, a notice that lines were skipped, or the
    /// notice that ends the stream; `None` once the log is closed.
    async fn next(&mut self) -> Option<std::sync::Arc<LogLine>> {
        loop {
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(line) if self.filter.matches(&line) => {
                        self.last_seq = line.seq;
                        return Some(line);
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        // Told, not blocked: the writer never waits for a slow reader.
                        return Some(self.notice(format!(
                            "{missed} lines skipped: this reader fell behind"
                        )).into());
                    }
                    // The app's log closed: destroyed (say so), or the server stopping.
                    Err(broadcast::error::RecvError::Closed) => {
                        let reason = self.ended_because().await?;
                        return Some(self.end(&reason));
                    }
                },
                reason = &mut self.revoked => return Some(self.end(&reason)),
            }
        }
    }

    /// Why the stream may no longer go on, if it may not (no borrow of the tail across the
    /// check: its `revoked` future is not `Sync`).
    fn ended_because(&self) -> impl std::future::Future<Output = Option<String>> + Send + use<> {
        let (state, headers, app) = (self.state.clone(), self.headers.clone(), self.app.clone());
        async move { refused_now(&state, &headers, &app, Role::Viewer).await }
    }

    /// The stream's last line, saying why it ends.
    fn end(&mut self, reason: &str) -> std::sync::Arc<LogLine> {
        self.ended = true;
        self.notice(format!("{}{reason}", LogLine::STREAM_ENDED))
            .into()
    }

    fn notice(&self, message: String) -> LogLine {
        LogLine {
            seq: self.last_seq,
            time: crate::logs::rfc3339_micros(std::time::SystemTime::now()),
            source: "paas".to_owned(),
            process: "logs".to_owned(),
            message,
        }
    }
}

fn ndjson(line: &LogLine) -> String {
    let mut text = serde_json::to_string(line).expect("log lines serialize");
    text.push('\n');
    text
}

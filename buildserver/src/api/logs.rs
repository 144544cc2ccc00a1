//! `/apps/{app}/logs`: the app's recent log lines as NDJSON; with `tail=true`, then every new
//! line until the client goes away.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use paas_share::models::LogLine;
use serde::Deserialize;
use tokio::sync::broadcast;

use super::{ApiFailure, ApiQuery, ApiResult, AppState, CurrentUser, find_app};
use crate::logs::{Filter, RING_LINES};

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
    let rest = stream::unfold(
        (live, filter, last_seq),
        |(mut live, filter, mut last_seq)| async move {
            loop {
                match live.recv().await {
                    Ok(line) if filter.matches(&line) => {
                        last_seq = line.seq;
                        return Some((Ok(ndjson(&line)), (live, filter, last_seq)));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        // Told, not blocked: the writer never waits for a slow reader.
                        let notice = LogLine {
                            seq: last_seq,
                            time: crate::logs::rfc3339_micros(std::time::SystemTime::now()),
                            source: "paas".to_owned(),
                            process: "logs".to_owned(),
                            message: format!("{missed} lines skipped: this reader fell behind"),
                        };
                        return Some((Ok(ndjson(&notice)), (live, filter, last_seq)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok((ndjson_type, Body::from_stream(past.chain(rest))).into_response())
}

fn ndjson(line: &LogLine) -> String {
    let mut text = serde_json::to_string(line).expect("log lines serialize");
    text.push('\n');
    text
}

//! `GET /apps/{app}/metrics`: the app's figures minute by minute, per process type.

use axum::Json;
use axum::extract::{Path, State};
use paas_share::models::{AppMetrics, MetricsPoint, ProcessMetrics};

use super::{ApiFailure, ApiQuery, ApiResult, AppState, CurrentUser, find_app};
use crate::metrics::{HISTORY_MINUTES, Minute};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsQuery {
    /// How far back, in seconds [default: 3600; at most 86400].
    since: Option<u32>,
    /// Only this process type (`web`).
    #[serde(rename = "type")]
    process_type: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    ApiQuery(query): ApiQuery<MetricsQuery>,
) -> ApiResult<Json<AppMetrics>> {
    let app = find_app(&state, &user, &app).await?;
    let window = i64::from(query.since.unwrap_or(3600));
    if !(60..=HISTORY_MINUTES * 60).contains(&window) {
        return Err(ApiFailure::invalid(format!(
            "since is a number of seconds from 60 to {} (24 h)",
            HISTORY_MINUTES * 60
        )));
    }
    let now = crate::unix_now();
    let only: Vec<String> = query.process_type.into_iter().collect();
    let history = state.metrics.history(&app.id, now - window, &only);
    if let Some(wanted) = only.first()
        && history.is_empty()
    {
        let known: Vec<String> = state
            .metrics
            .history(&app.id, now - window, &[])
            .into_iter()
            .map(|t| t.process_type)
            .collect();
        return Err(ApiFailure::not_found(format!(
            "app {} has no figures for process type {:?} in that time; it has: {}",
            app.name,
            paas_share::names::excerpt(wanted),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    }
    Ok(Json(AppMetrics {
        app: app.name.to_string(),
        resolution_seconds: 60,
        in_flight: state.metrics.in_flight(&app.id),
        process_types: history
            .into_iter()
            .map(|t| {
                let mut whole = Minute::default();
                for (_, minute) in &t.minutes {
                    whole.merge(minute);
                }
                ProcessMetrics {
                    process_type: t.process_type,
                    summary: point(now - window, now, &whole, usize::MAX),
                    points: t
                        .minutes
                        .iter()
                        .map(|(at, minute)| point(*at, now, minute, 1))
                        .collect(),
                }
            })
            .collect(),
    }))
}

/// `minute`'s figures (`samples` minutes of resource samples merged) from `start` to at most
/// `now`.
fn point(start: i64, now: i64, minute: &Minute, minutes: usize) -> MetricsPoint {
    let span = u32::try_from((now - start).clamp(1, i64::from(u32::MAX))).unwrap_or(u32::MAX);
    let seconds = span
        .min(u32::try_from(minutes.saturating_mul(60)).unwrap_or(u32::MAX))
        .max(1);
    let sampled = minute.memory_samples > 0;
    MetricsPoint {
        time: crate::rfc3339(start),
        seconds,
        responses: ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .iter()
            .zip(minute.requests)
            .map(|(class, n)| ((*class).to_owned(), n))
            .collect(),
        requests: minute.total_requests(),
        requests_per_minute: minute.total_requests() as f64 * 60.0 / f64::from(seconds),
        p50_ms: minute.latency_quantile(0.5),
        p95_ms: minute.latency_quantile(0.95),
        p99_ms: minute.latency_quantile(0.99),
        server_errors_percent: minute.server_error_percent(),
        bytes_out: minute.bytes_out,
        cpu_percent: sampled.then(|| minute.cpu_percent(u64::from(seconds))),
        memory_bytes: minute.memory_mean(),
        memory_max_bytes: sampled.then_some(minute.memory_max),
        memory_limit_bytes: (minute.memory_limit > 0).then_some(minute.memory_limit),
        dynos: minute.dynos,
        restarts: minute.restarts,
        oom_kills: minute.oom_kills,
        limited: minute.limited,
        shed: minute.shed,
    }
}

/// `GET /metrics` on `--metrics-listen`: every app's figures in the Prometheus text format, for
/// admins (they are every user's apps).
pub async fn prometheus(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> ApiResult<impl axum::response::IntoResponse> {
    if !user.admin {
        return Err(ApiFailure::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "the metrics of every app are for admins",
        )
        .hint("scrape with an admin's token (`paas-buildserver user create NAME --admin`)"));
    }
    let names: std::collections::HashMap<String, String> = state
        .store
        .call(|db| db.all_apps())
        .await?
        .into_iter()
        .map(|app| (app.id, app.name.to_string()))
        .collect();
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::prometheus::render(&state.metrics, &names),
    ))
}

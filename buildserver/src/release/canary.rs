//! Canary releases (gray releases): a pushed release starts beside the running one (the
//! baseline) with its own web dynos and a share of the clients, and is then promoted (deployed
//! as usual: the baseline's dynos drain and stop) or aborted (its dynos stop, the release is
//! failed with the reason). With a duration, the watcher decides by itself from the router's
//! figures of both sides: aborted as soon as the canary's 5xx share or p95 is over its
//! thresholds relative to the baseline's, promoted when the duration is over. Every decision is
//! a `paas[canary]` log line and a `canary` alert event. A canary's release stays `deploying`
//! while it runs; a server that stops meanwhile fails it at its next start, as any unfinished
//! release (the canary is aborted, not restored).

use std::sync::Arc;
use std::time::Duration;

use paas_share::models::{CANARY_MIN_REQUESTS, Canary, CanarySettings, Release, ReleaseStatus};
use tokio::sync::mpsc;

use super::{Controller, DeployError};
use crate::app::AppRef;
use crate::build::{Failure, Push};
use crate::metrics::Minute;
use crate::scheduler::Deployment;
use crate::store::StoreError;

/// How an aborted canary's release failure begins.
pub(super) const CANARY_ABORTED: &str = "canary aborted: ";

/// The process name of the canary's log lines (`paas[canary]`).
const CANARY_LOG: &str = "canary";
/// How often the watcher looks at the canaries' figures.
const WATCH_EVERY: Duration = Duration::from_secs(2);
/// A canary's p95 counts as a regression only when it is also this much slower than the
/// baseline's: latency buckets are coarse at the bottom (5, 10, 25 ms), and a factor of two
/// between 5 and 10 ms is noise.
const P95_MARGIN_MS: u64 = 50;

/// Why a canary could not be started, promoted or aborted.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    #[error("the app has no canary running")]
    NoCanary,
    #[error("{0}")]
    Refused(String),
    /// The promotion's deploy failed: the canary was aborted.
    #[error("v{0} could not be promoted, so it was aborted: {1:#}")]
    Promotion(u32, anyhow::Error),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `1 point`, `2.5 points`: percentage points.
fn points(n: f64) -> String {
    format!("{n} point{}", if n == 1.0 { "" } else { "s" })
}

/// What the watcher makes of a canary's figures.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Wait,
    Promote(String),
    Abort(String),
}

/// Judges `canary` at `now` (unix seconds) from both sides' requests since it started. Only a
/// canary with a duration is judged: aborted when it has had [`CANARY_MIN_REQUESTS`] and its
/// 5xx share is more than `max_5xx_points` over the baseline's, or (with as many on each side)
/// its p95 is over `max_p95_factor` times the baseline's and [`P95_MARGIN_MS`] more; promoted
/// once the duration is over (with too few requests to judge, it is promoted all the same, and
/// the reason says so).
pub fn judge(canary: &Canary, now: i64, baseline: &Minute, side: &Minute) -> Verdict {
    let Some(duration) = canary.duration_seconds else {
        return Verdict::Wait;
    };
    let (base_n, n) = (baseline.total_requests(), side.total_requests());
    if n >= CANARY_MIN_REQUESTS {
        let theirs = baseline.server_error_percent().unwrap_or(0.0);
        let ours = side.server_error_percent().unwrap_or(0.0);
        if ours > theirs + canary.max_5xx_points {
            return Verdict::Abort(format!(
                "5xx {ours:.1} % of {n} requests, v{} {theirs:.1} %: over {} more",
                canary.baseline,
                points(canary.max_5xx_points)
            ));
        }
        if base_n >= CANARY_MIN_REQUESTS
            && let (Some(ours), Some(theirs)) =
                (side.latency_quantile(0.95), baseline.latency_quantile(0.95))
            && ours as f64 > theirs as f64 * canary.max_p95_factor
            && ours > theirs + P95_MARGIN_MS
        {
            return Verdict::Abort(format!(
                "p95 {ours}ms over {n} requests, v{} {theirs}ms: over {}× as slow",
                canary.baseline, canary.max_p95_factor
            ));
        }
    }
    if now < canary.started_at + i64::from(duration) {
        return Verdict::Wait;
    }
    let over = humantime::format_duration(Duration::from_secs(u64::from(duration)));
    Verdict::Promote(if n >= CANARY_MIN_REQUESTS {
        format!(
            "healthy over {over}: {n} requests, 5xx {:.1} %, p95 {}",
            side.server_error_percent().unwrap_or(0.0),
            side.latency_quantile(0.95)
                .map_or("-".to_owned(), |ms| format!("{ms}ms"))
        )
    } else {
        format!(
            "{over} over with {n} requests, too few to judge ({CANARY_MIN_REQUESTS} needed): nothing counted against it"
        )
    })
}

impl Controller {
    /// The canary `push` asks for, as (weight, settings): its `-o canary=N` (0: none), else
    /// what `paas canary:start` set for the next push, else the app's `canary:config` weight;
    /// thresholds and duration from `canary:start` when it was used, else `canary:config`.
    /// `None` for none, and when nothing runs yet (the first release has nothing to be compared
    /// with, and is deployed as usual). A `canary:start` is used up once its canary is up.
    pub(super) async fn canary_plan(
        &self,
        push: &Push,
    ) -> Result<Option<(u8, CanarySettings)>, StoreError> {
        let (id, asked) = (push.app.id.clone(), push.canary);
        self.store
            .call(move |db| {
                if db.running_release(&id)?.is_none() || asked == Some(0) {
                    return Ok(None);
                }
                let next = db.next_canary(&id)?;
                let settings = match next {
                    Some(next) => next,
                    None => db.canary_settings(&id)?,
                };
                Ok(asked.or(settings.weight).map(|weight| (weight, settings)))
            })
            .await
    }

    /// Refuses a push that asks for a canary while one runs (before its build); `Err` is what the
    /// pusher is told.
    pub async fn check_canary_push(&self, push: &Push) -> Result<(), String> {
        let unreadable = |_| "the server could not read the canary settings; push again".to_owned();
        if self.canary_plan(push).await.map_err(unreadable)?.is_none() {
            return Ok(());
        }
        let id = push.app.id.clone();
        let (running, formation) = self
            .store
            .call(move |db| Ok::<_, StoreError>((db.canary(&id)?, db.formation(&id)?)))
            .await
            .map_err(unreadable)?;
        if let Some(canary) = running {
            return Err(format!(
                "canary v{} runs already: promote or abort it first (paas canary:promote, paas canary:abort), or push with -o canary=off to replace it",
                canary.release
            ));
        }
        if formation
            .iter()
            .all(|f| f.process_type != "web" || f.quantity == 0)
        {
            return Err(
                "web is scaled to 0 dynos: a canary takes a share of web requests; scale web up first (paas scale web=1), or push with -o canary=off"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// Runs a push's release as a canary (see [`Controller::start_canary`]), telling the push.
    pub(super) async fn canary_pushed(
        &self,
        push: &Push,
        release: &Release,
        weight: u8,
        settings: &CanarySettings,
        out: &super::Progress<'_>,
    ) -> Result<(), Failure> {
        let version = release.version;
        out.line(format!(
            "-----> Starting v{version} as a canary: {weight} % of clients"
        ))
        .await;
        let started = self
            .forwarding_progress(
                push,
                out,
                self.start_canary(&push.app, release, weight, settings, Some(out.push)),
            )
            .await;
        match started {
            Ok(canary) => {
                out.line(format!(
                    "-----> v{version} is a canary: {weight} % of clients go to it, the rest to v{}",
                    canary.baseline
                ))
                .await;
                let how = match canary.duration_seconds {
                    Some(seconds) => format!(
                        "       It is promoted by itself in {} if healthy, aborted if not.",
                        humantime::format_duration(Duration::from_secs(u64::from(seconds)))
                    ),
                    None => "       Promote it with `paas canary:promote`, or abort it with `paas canary:abort`.".to_owned(),
                };
                out.line(how).await;
                out.line("       `paas canary` shows both releases side by side.".to_owned())
                    .await;
                Ok(())
            }
            Err(e) => Err(Failure::release(
                "canary",
                format!(
                    "v{version} did not start as a canary: {e}\nThe running release keeps serving every request."
                ),
            )),
        }
    }

    /// Starts `release` (of a push) as a canary at `weight` % beside the running release, with
    /// `settings`' duration and thresholds: its release phase first, then its web dynos,
    /// health-gated; no request reaches it before they are up. A failure marks the release
    /// failed (the baseline serves all requests, as before).
    ///
    /// Errors: [`CanaryError::Refused`] when nothing runs yet (nothing to compare with) or a
    /// canary runs already; [`CanaryError::Deploy`] when its release phase or dynos fail.
    pub async fn start_canary(
        &self,
        app: &AppRef,
        release: &Release,
        weight: u8,
        settings: &CanarySettings,
        progress: Option<&mpsc::Sender<String>>,
    ) -> Result<Canary, CanaryError> {
        let app_id = app.id.as_str();
        let _turn = self.turns.lock(app_id).await;
        let id = app.id.clone();
        let (running, formation, existing) = self
            .store
            .call(move |db| {
                Ok::<_, StoreError>((
                    db.running_release(&id)?,
                    db.formation(&id)?,
                    db.canary(&id)?,
                ))
            })
            .await?;
        let version = release.version;
        let refuse = |why: String| async move {
            self.fail(app_id, version, why.clone()).await;
            Err(CanaryError::Refused(why))
        };
        if let Some(other) = existing {
            return refuse(format!(
                "canary v{} runs already: promote or abort it first (paas canary:promote, paas canary:abort)",
                other.release
            ))
            .await;
        }
        let Some(baseline) = running else {
            return refuse(
                "nothing runs yet for a canary to be compared with: deploy without -o canary first"
                    .to_owned(),
            )
            .await;
        };
        let Some(deployment) = Deployment::of(app, release, &formation) else {
            return refuse("the release has no image".to_owned()).await;
        };
        if let Err(e) = crate::scheduler::canary_deployment(&deployment, weight) {
            return refuse(format!("{e}")).await;
        }
        if let Some(command) = &deployment.release_command
            && let Err(reason) = self.release_phase(&deployment, command, progress).await
        {
            self.fail(app_id, version, format!("release phase: {reason}"))
                .await;
            return Err(DeployError::ReleasePhase(reason).into());
        }
        // A release recorded meanwhile (during the release phase) replaces this one.
        let id = app.id.clone();
        let newest = self
            .store
            .call(move |db| db.releases(&id))
            .await?
            .first()
            .map_or(version, |r| r.version);
        if newest > version {
            return refuse(format!("superseded by v{newest}, recorded meanwhile")).await;
        }
        self.set(app_id, version, ReleaseStatus::Deploying).await?;
        let canary = Canary {
            release: version,
            baseline: baseline.version,
            weight,
            duration_seconds: settings.duration_seconds,
            max_5xx_points: settings.max_5xx_points,
            max_p95_factor: settings.max_p95_factor,
            started_at: crate::unix_now(),
        };
        let (id, recorded) = (app.id.clone(), canary.clone());
        self.store
            .call(move |db| db.insert_canary(&id, &recorded))
            .await?;
        self.metrics.canary_begin(app_id);
        if let Err(e) = self.scheduler.start_canary(&deployment, weight).await {
            self.forget_canary(app).await;
            self.fail(app_id, version, format!("{e:#}")).await;
            return Err(DeployError::Start(e).into());
        }
        // A `canary:start` did its work.
        let id = app.id.clone();
        self.store
            .call(move |db| db.delete_next_canary(&id))
            .await?;
        let judged = match canary.duration_seconds {
            Some(seconds) => format!(
                "promoted by itself after {} if healthy (5xx at most {} over v{}'s, p95 at most {}× v{}'s)",
                humantime::format_duration(Duration::from_secs(u64::from(seconds))),
                points(canary.max_5xx_points),
                canary.baseline,
                canary.max_p95_factor,
                canary.baseline
            ),
            None => "until paas canary:promote or paas canary:abort".to_owned(),
        };
        self.decided(
            app,
            format!(
                "v{version} started beside v{}: {weight} % of clients go to it, {judged}",
                canary.baseline
            ),
        );
        Ok(canary)
    }

    /// Promotes the app's canary: its release is deployed with the app's formation (web dynos
    /// health-gated, the baseline's dynos drain and stop, workers start), then the canary's own
    /// dynos stop. `why` goes to the log. Returns the release promoted.
    ///
    /// Errors: [`CanaryError::NoCanary`]; [`CanaryError::Promotion`] when the deploy fails (the
    /// canary is then aborted and the baseline serves every request).
    pub async fn promote_canary(&self, app: &AppRef, why: &str) -> Result<u32, CanaryError> {
        let _turn = self.turns.lock(&app.id).await;
        let id = app.id.clone();
        let (canary, formation) = self
            .store
            .call(move |db| Ok::<_, StoreError>((db.canary(&id)?, db.formation(&id)?)))
            .await?;
        let canary = canary.ok_or(CanaryError::NoCanary)?;
        let (id, version) = (app.id.clone(), canary.release);
        let release = self
            .store
            .call(move |db| db.release(&id, version))
            .await?
            .ok_or(CanaryError::NoCanary)?;
        let Some(deployment) = Deployment::of(app, &release, &formation) else {
            return Err(CanaryError::Refused("the release has no image".to_owned()));
        };
        if let Err(e) = self.scheduler.deploy(&deployment).await {
            self.abort_in_turn(
                app,
                &canary,
                &format!("the promotion failed: {e:#}"),
                &Self::back_to_baseline(&canary),
            )
            .await;
            return Err(CanaryError::Promotion(version, e));
        }
        self.set(&app.id, version, ReleaseStatus::Succeeded).await?;
        self.forget_canary(app).await;
        self.decided(
            app,
            format!(
                "v{version} promoted ({why}): every client goes to it; v{}'s dynos stopped",
                canary.baseline
            ),
        );
        Ok(version)
    }

    /// Aborts the app's canary: no more requests go to it, its dynos stop, and its release is
    /// marked failed with `reason`. Returns the release aborted.
    ///
    /// Errors: [`CanaryError::NoCanary`].
    pub async fn abort_canary(&self, app: &AppRef, reason: &str) -> Result<u32, CanaryError> {
        let _turn = self.turns.lock(&app.id).await;
        let id = app.id.clone();
        let canary = self
            .store
            .call(move |db| db.canary(&id))
            .await?
            .ok_or(CanaryError::NoCanary)?;
        self.abort_in_turn(app, &canary, reason, &Self::back_to_baseline(&canary))
            .await;
        Ok(canary.release)
    }

    /// Aborts the app's canary when one runs and it is not `version` (a newer release replaces
    /// it); the caller holds the app's turn.
    pub(super) async fn supersede_canary(
        &self,
        app: &AppRef,
        version: u32,
    ) -> Result<(), StoreError> {
        let id = app.id.clone();
        if let Some(canary) = self.store.call(move |db| db.canary(&id)).await?
            && canary.release != version
        {
            self.abort_in_turn(
                app,
                &canary,
                &format!("superseded by v{version}"),
                &format!("v{version} is deployed instead"),
            )
            .await;
        }
        Ok(())
    }

    /// Aborts `canary`: `reason` says why, `then` what serves now.
    async fn abort_in_turn(&self, app: &AppRef, canary: &Canary, reason: &str, then: &str) {
        self.forget_canary(app).await;
        self.fail(&app.id, canary.release, format!("{CANARY_ABORTED}{reason}"))
            .await;
        self.decided(
            app,
            format!("v{} aborted ({reason}): {then}", canary.release),
        );
    }

    /// What serves once `canary` is aborted without a newer release.
    fn back_to_baseline(canary: &Canary) -> String {
        format!("every client goes to v{} again", canary.baseline)
    }

    /// Stops the canary's dynos (no more requests go to them first) and forgets it.
    async fn forget_canary(&self, app: &AppRef) {
        self.scheduler.stop_canary(app).await;
        self.metrics.canary_end(&app.id);
        let id = app.id.clone();
        if let Err(e) = self.store.call(move |db| db.delete_canary(&id)).await {
            tracing::error!(error = %anyhow::Error::from(e), "cannot forget a canary");
        }
    }

    /// Logs a canary decision and delivers it to the app's `canary` alerts.
    fn decided(&self, app: &AppRef, message: String) {
        self.logs.emit(&app.id, "paas", CANARY_LOG, message.clone());
        self.alerts
            .event(&app.id, crate::alerts::Trigger::Canary, message);
    }
}

/// Judges every running canary every [`WATCH_EVERY`] (see [`judge`]) and promotes or aborts it
/// as the verdict says, until `stop` turns true.
pub async fn watch_forever(
    controller: Arc<Controller>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(WATCH_EVERY) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        let Ok(canaries) = controller.store.call(|db| db.canaries()).await else {
            continue;
        };
        for (app_id, canary) in canaries {
            let Some((baseline, side)) = controller.metrics.canary_figures(&app_id) else {
                continue;
            };
            let id = app_id.clone();
            let Ok(app) = controller.store.call(move |db| db.app_by_id(&id)).await else {
                continue;
            };
            let app = app.app_ref();
            let mut verdict = judge(&canary, crate::unix_now(), &baseline, &side);
            // A canary whose dynos crash is aborted whatever its figures (a crash-looping one
            // may get no request at all).
            if canary.duration_seconds.is_some()
                && let Some(crashed) = crashes(&controller, &app).await
            {
                verdict = Verdict::Abort(crashed);
            }
            let (action, why, outcome) = match verdict {
                Verdict::Wait => continue,
                Verdict::Promote(why) => (
                    "canary.promote",
                    why.clone(),
                    controller.promote_canary(&app, &why).await,
                ),
                Verdict::Abort(why) => (
                    "canary.abort",
                    why.clone(),
                    controller.abort_canary(&app, &why).await,
                ),
            };
            if let Err(e) = &outcome {
                tracing::warn!(app = %app.name, error = %e, "a canary decision did not go through");
            }
            controller
                .store
                .audit(crate::store::AuditRecord {
                    actor: "paas".to_owned(),
                    token_id: None,
                    source: "server".to_owned(),
                    app_id: Some(app.id.clone()),
                    app: Some(app.name.to_string()),
                    action: action.to_owned(),
                    detail: serde_json::json!({ "release": canary.release, "why": why }),
                    outcome: if outcome.is_ok() {
                        "success"
                    } else {
                        "failure"
                    },
                    status: None,
                })
                .await;
        }
    }
}

/// How many times a canary dyno may restart before its canary is aborted.
const MAX_CANARY_RESTARTS: u32 = 2;

/// Why the app's canary counts as crashing, if it does: one of its dynos restarted
/// [`MAX_CANARY_RESTARTS`] times.
async fn crashes(controller: &Controller, app: &AppRef) -> Option<String> {
    let dynos = controller.scheduler.status(app).await.ok()?;
    let dyno = dynos.iter().find(|d| {
        d.process_type == crate::scheduler::CANARY_TYPE && d.restarts >= MAX_CANARY_RESTARTS
    })?;
    Some(format!(
        "{} crashed and restarted {} times",
        dyno.name, dyno.restarts
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(duration: Option<u32>) -> Canary {
        Canary {
            release: 5,
            baseline: 4,
            weight: 20,
            duration_seconds: duration,
            max_5xx_points: 1.0,
            max_p95_factor: 2.0,
            started_at: 1000,
        }
    }

    fn figures(ok: u64, errors: u64, latency_ms: u64) -> Minute {
        let mut minute = Minute::default();
        for _ in 0..ok {
            minute.request(200, latency_ms, 0);
        }
        for _ in 0..errors {
            minute.request(500, latency_ms, 0);
        }
        minute
    }

    #[test]
    fn a_failing_canary_is_aborted_and_a_healthy_one_promoted() {
        let base = figures(100, 0, 20);
        let c = canary(Some(60));
        assert_eq!(judge(&c, 1010, &base, &figures(30, 0, 20)), Verdict::Wait);
        assert!(matches!(
            judge(&c, 1010, &base, &figures(0, 25, 20)),
            Verdict::Abort(why) if why.starts_with("5xx 100.0 % of 25 requests, v4 0.0 %")
        ));
        assert!(matches!(
            judge(&c, 1010, &base, &figures(30, 0, 900)),
            Verdict::Abort(why) if why.starts_with("p95 1000ms")
        ));
        // Too few requests: nothing decided before the end, then promoted with a note.
        assert_eq!(judge(&c, 1010, &base, &figures(0, 5, 20)), Verdict::Wait);
        assert!(matches!(
            judge(&c, 1060, &base, &figures(0, 5, 20)),
            Verdict::Promote(why) if why.contains("too few to judge")
        ));
        assert!(matches!(
            judge(&c, 1060, &base, &figures(40, 0, 20)),
            Verdict::Promote(why) if why.starts_with("healthy over 1m: 40 requests")
        ));
        // 5 ms against 10 ms is bucket noise, not a regression.
        assert_eq!(
            judge(&c, 1010, &figures(100, 0, 4), &figures(30, 0, 9)),
            Verdict::Wait
        );
        // Without a duration, only a person decides.
        assert_eq!(
            judge(&canary(None), 9999, &base, &figures(0, 50, 20)),
            Verdict::Wait
        );
    }
}

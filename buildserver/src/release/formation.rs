//! Changes of what the running release runs: its formation (`paas scale`, and the autoscaler
//! through the same path) and restarts. Scaling records no release (DESIGN §3.4); each change
//! takes the app's turn, so it acts on the release that runs, after any deploy in flight.

use std::collections::BTreeMap;
use std::sync::Arc;

use paas_share::models::{Formation, FormationPatch, Quantity};
use paas_share::names::excerpt;

use super::Controller;
use crate::scheduler::{Deployment, RELEASE_PHASE_TYPE};
use crate::store::{AppRecord, StoreError};

/// Who asks for a formation change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaledBy {
    /// A user (`paas scale`): refused for autoscaled types.
    User,
    /// The autoscaler, for the types it manages.
    Autoscaler,
}

/// Why a change of the dynos was not made; what ran before keeps running.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    /// The request asks for something the rules refuse; `hint` says what to do instead.
    #[error("{message}")]
    Refused {
        message: String,
        hint: Option<String>,
    },
    /// The scheduler did not complete the change.
    #[error("{what}: {error:#}")]
    Scheduler {
        what: &'static str,
        error: anyhow::Error,
    },
    /// The app was destroyed while its dynos changed (what was running is gone too).
    #[error("the app was destroyed meanwhile")]
    Destroyed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn refused(message: String, hint: Option<&str>) -> ScaleError {
    ScaleError::Refused {
        message,
        hint: hint.map(str::to_owned),
    }
}

/// A change to the dynos of the release that runs.
enum DynoChange {
    /// To the formation the store has now.
    Scale,
    /// Fresh dynos for all, one type (`web`) or one dyno (`web.1`).
    Restart(Option<String>),
}

impl Controller {
    /// Applies `{"web": 2, "worker": "+1"}`: sets or changes only the named types, each of which
    /// the running release must define, within the per-app limit, and starts or stops only their
    /// dynos. Relative changes apply to the counts the store has when the change is recorded. A
    /// user may not scale a type the autoscaler manages. Returns the formation once the new
    /// dynos are started.
    pub async fn scale(
        self: &Arc<Self>,
        app: &AppRecord,
        patch: FormationPatch,
        by: ScaledBy,
    ) -> Result<Vec<Formation>, ScaleError> {
        if patch.is_empty() {
            return Err(refused(
                "no process types given".to_owned(),
                Some("send {\"web\": 2} to run two web dynos"),
            ));
        }
        let (app_id, name, limit) = (app.id.clone(), app.name.to_string(), self.max_dynos_per_app);
        let formation = self
            .store
            .call(move |db| {
                let Some(types) = db.running_release(&app_id)?.map(|r| r.process_types) else {
                    return Err(refused(
                        format!(
                            "app {name:?} has no running release to scale: it has not been \
                             built, or none of its releases started"
                        ),
                        Some("push code that starts (git push paas main); `paas releases` shows why the last one failed"),
                    ));
                };
                if patch.contains_key(RELEASE_PHASE_TYPE) {
                    return Err(refused(
                        "release is the release phase's command: it runs once per release, \
                         before the dynos start, and is not scaled"
                            .to_owned(),
                        Some("scale the app's dyno types, such as web or worker"),
                    ));
                }
                if let Some(unknown) = patch.keys().find(|t| !types.contains_key(*t)) {
                    let known: Vec<&str> = types
                        .keys()
                        .map(String::as_str)
                        .filter(|t| *t != RELEASE_PHASE_TYPE)
                        .collect();
                    return Err(refused(
                        format!(
                            "unknown process type {:?}; the current release has: {}",
                            excerpt(unknown),
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                        None,
                    ));
                }
                if by == ScaledBy::User {
                    let rules = db.autoscale_rules(&app_id)?;
                    if let Some(rule) = rules.iter().find(|r| patch.contains_key(&r.process_type)) {
                        let (t, s) = (&rule.process_type, &rule.settings);
                        let targets: String = [
                            s.p95_ms.map(|ms| format!(" --p95 {ms}ms")),
                            s.cpu_percent.map(|cpu| format!(" --cpu {cpu}%")),
                        ]
                        .into_iter()
                        .flatten()
                        .collect();
                        return Err(refused(
                            format!(
                                "{t} is autoscaled between {} and {} dynos: the autoscaler \
                                 sets its count",
                                s.min, s.max
                            ),
                            Some(&format!(
                                "change the range with `paas autoscale:enable {t} --min N --max M{targets}`, or scale by hand after `paas autoscale:disable {t}`"
                            )),
                        ));
                    }
                }
                let now = db.formation(&app_id)?;
                let mut counts = BTreeMap::new();
                for (process_type, change) in &patch {
                    let current = now
                        .iter()
                        .find(|f| f.process_type == *process_type)
                        .map_or(0, |f| f.quantity);
                    let Some(count) = change.apply(current) else {
                        return Err(refused(
                            match change {
                                Quantity::Add(n) => format!(
                                    "cannot run {} dynos: this server allows at most {limit} per app",
                                    u64::from(current) + u64::from(*n)
                                ),
                                _ => format!(
                                    "cannot scale {process_type} below 0 (it runs {current})"
                                ),
                            },
                            None,
                        ));
                    };
                    counts.insert(process_type.clone(), count);
                }
                let unchanged = now
                    .iter()
                    .filter(|f| {
                        types.contains_key(&f.process_type) && !counts.contains_key(&f.process_type)
                    })
                    .map(|f| f.quantity);
                let total: u64 = counts.values().copied().chain(unchanged).map(u64::from).sum();
                if total > u64::from(limit) {
                    return Err(refused(
                        format!("cannot run {total} dynos: this server allows at most {limit} per app"),
                        Some("ask the operator to raise --max-dynos-per-app"),
                    ));
                }
                Ok(db.update_formation(&app_id, &counts)?)
            })
            .await?;
        // After any deploy in flight: the counts recorded above then apply to what it ran.
        self.change_dynos(app, DynoChange::Scale).await?;
        Ok(formation)
    }

    /// Replaces the dynos of all types, of one type (`web`) or one dyno (`web.1`) with fresh
    /// ones; `false` when the app runs no release.
    pub async fn restart(
        self: &Arc<Self>,
        app: &AppRecord,
        target: Option<String>,
    ) -> Result<bool, ScaleError> {
        self.change_dynos(app, DynoChange::Restart(target)).await
    }

    /// What the app should run now: its running release (the newest that succeeded) with its
    /// formation; `None` before its first successful deploy; an error when the app was destroyed.
    pub async fn running_deployment(
        &self,
        app: &AppRecord,
    ) -> Result<Option<Deployment>, StoreError> {
        let app = app.app_ref();
        self.store
            .call(move |db| {
                let Some(release) = db.running_release(&app.id)? else {
                    // Nothing released, or the app was destroyed meanwhile (not "no release").
                    db.app_by_id(&app.id)?;
                    return Ok(None);
                };
                let formation = db.formation(&app.id)?;
                Ok(Deployment::of(&app, &release, &formation))
            })
            .await
    }

    /// Applies `change` to what the app runs, after any deploy in flight, in a task of its own:
    /// a caller that goes away does not stop it half way (dynos started and never recorded, or
    /// taken out of the route and never stopped). `false` when the app runs no release.
    async fn change_dynos(
        self: &Arc<Self>,
        app: &AppRecord,
        change: DynoChange,
    ) -> Result<bool, ScaleError> {
        let (controller, app) = (Arc::clone(self), app.clone());
        tokio::spawn(async move {
            let destroyed = controller.destroyed.token(&app.id);
            let _turn = controller.turn(&app.id).await;
            let Some(deployment) = controller.running_deployment(&app).await? else {
                return Ok(false);
            };
            // (A named dyno or type that does not run is refused before, by the API.)
            if matches!(change, DynoChange::Restart(None))
                && deployment.formation.values().all(|count| *count == 0)
            {
                return Err(refused(
                    format!("{} runs no dynos: there is nothing to restart", app.name),
                    Some("scale it up first: paas scale web=1"),
                ));
            }
            let (done, what) = match &change {
                DynoChange::Scale => (
                    controller.scheduler.scale(&deployment).await,
                    "cannot start the new dynos",
                ),
                DynoChange::Restart(target) => (
                    controller
                        .scheduler
                        .restart(&deployment, target.as_deref())
                        .await,
                    "the restart did not complete",
                ),
            };
            match done {
                Ok(()) => Ok(true),
                // Cut short by a destroy: not "what ran keeps running".
                Err(_) if destroyed.is_cancelled() => Err(ScaleError::Destroyed),
                Err(error) => Err(ScaleError::Scheduler { what, error }),
            }
        })
        .await
        .map_err(|e| ScaleError::Scheduler {
            what: "the dynos' change stopped",
            error: anyhow::anyhow!("{e}"),
        })?
    }
}

//! The release controller (DESIGN §3.4, §5): it records the releases of pushes (a built image)
//! and runs every release — of a push, a config change, a rollback, a retry — one app at a time,
//! in version order, through the states `pending → (release phase) → deploying → succeeded |
//! failed`. `build/` ends at a stored image; schedulers run what this hands them; the API
//! handlers and the push hook call this for every release they ask for.

use std::sync::Arc;
use std::time::Duration;

use paas_share::models::{ConfigPatch, Release, ReleaseStatus};
use tokio::sync::mpsc;

use crate::app::AppRef;
use crate::build::{Built, Failure, Push};
use crate::container::Exit;
use crate::logs::Logs;
use crate::oci::Layout;
use crate::registry::Registry;
use crate::scheduler::{AppLocks, Deployment, Scheduler};
use crate::store::{AppRecord, Idempotency, NewRelease, Store, StoreError, User};
use crate::urls::PublicUrls;

mod canary;
mod formation;

use canary::CANARY_ABORTED;
pub use canary::{CanaryError, Verdict, judge, watch_forever as watch_canaries};
pub use formation::{ScaleError, ScaledBy};

/// What the server says of a release it found `pending` or `deploying` at start.
pub const INTERRUPTED: &str = "interrupted: the server stopped before this release was up";

/// The process name of the controller's own log lines (`paas[deploy]`): not `release`, which
/// `paas logs --ps release` keeps for the release phase's dynos (`app[release.3]`).
const DEPLOY_LOG: &str = "deploy";

/// The most of a release phase's output kept with the release (its log lines all go to the
/// app's log).
const RELEASE_OUTPUT_LIMIT: usize = 1024 * 1024;

/// Runs releases on the scheduler and records their states. Deploys of one app are applied one
/// at a time and in version order: a release older than the one running is never deployed over
/// it (it is marked succeeded, as the newer release includes its changes). A release whose
/// Procfile has a `release` command runs it first, once, as one-off dyno `release.N` of its
/// image with its config (Heroku's release phase); the release deploys only if it exits 0.
pub struct Controller {
    store: Store,
    scheduler: Arc<dyn Scheduler>,
    logs: Logs,
    release_timeout: Duration,
    /// The most dynos one app may run (`--max-dynos-per-app`).
    max_dynos_per_app: u32,
    /// Where images are tagged `<app>-vN`.
    layout: Arc<Layout>,
    /// Where images are tagged `vN` too, when one is configured.
    registry: Option<Arc<Registry>>,
    /// For the app's URL at the end of a push.
    urls: Arc<PublicUrls>,
    /// Told of every failed release (`deploy-failed` alerts) and canary decision.
    alerts: crate::alerts::Alerts,
    /// Where the router counts canaries' requests.
    metrics: crate::metrics::Metrics,
    turns: AppLocks,
    /// Per app, cancelled from when the app is being destroyed until its deploys are over (see
    /// [`Controller::destroying`]).
    destroyed: crate::scheduler::Destroying,
}

/// The controller's bounds, from the server's flags.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest a release phase may run (`--release-timeout`).
    pub release_timeout: Duration,
    /// The most dynos one app may run, all types together (`--max-dynos-per-app`).
    pub max_dynos_per_app: u32,
}

/// How a deploy ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployed {
    /// The release runs.
    Up,
    /// The release has no build (a config change before the first push): nothing to run.
    NothingToRun,
    /// A newer release (this version) already runs and includes this one's changes.
    Superseded(u32),
}

/// Why a release did not go live; it is recorded as failed with this reason, and the previous
/// release keeps serving with its config.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The release command exited non-zero, timed out or could not run.
    #[error("the release phase failed: {0}")]
    ReleasePhase(String),
    /// The new dynos did not come up (with the dyno's last log lines).
    #[error("{0:#}")]
    Start(anyhow::Error),
    /// The app was destroyed before this release ran (or during its release phase).
    #[error("the app was destroyed")]
    Destroyed,
    /// How the deploy of this release ended for the request that made it (a request repeated
    /// with its Idempotency-Key is told the same).
    #[error("{0}")]
    Recorded(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the store did for a request that makes a release.
enum Recorded {
    /// Made this new release.
    New(Release),
    /// Found the release an earlier request with the same Idempotency-Key made.
    Replayed(Release),
}

/// The release an earlier request with `idempotency`'s key made, if any; refused when that
/// request was another one (a key is for one request and its repetitions).
fn replay(
    db: &crate::store::Db,
    app_id: &str,
    idempotency: Option<&Idempotency>,
) -> Result<Option<Release>, ReleaseError> {
    let Some(idempotency) = idempotency else {
        return Ok(None);
    };
    match db.release_for_key(app_id, &idempotency.key)? {
        Some((release, digest)) if digest == idempotency.digest => Ok(Some(release)),
        Some((release, _)) => Err(ReleaseError::Refused {
            message: format!(
                "this Idempotency-Key came with another request before, which made v{}",
                release.version
            ),
            hint: "send a new key with each new request, and the same key only when repeating one",
        }),
        None => Ok(None),
    }
}

impl Controller {
    #[allow(clippy::too_many_arguments)] // each is one service the controller uses
    pub fn new(
        store: Store,
        scheduler: Arc<dyn Scheduler>,
        logs: Logs,
        limits: Limits,
        layout: Arc<Layout>,
        registry: Option<Arc<Registry>>,
        urls: Arc<PublicUrls>,
        alerts: crate::alerts::Alerts,
        metrics: crate::metrics::Metrics,
    ) -> Self {
        Self {
            store,
            scheduler,
            logs,
            release_timeout: limits.release_timeout,
            max_dynos_per_app: limits.max_dynos_per_app,
            layout,
            registry,
            urls,
            alerts,
            metrics,
            turns: AppLocks::default(),
            destroyed: crate::scheduler::Destroying::default(),
        }
    }

    /// The app is being destroyed (its row is gone): its release phase in flight stops, its
    /// releases waiting for their turn never run, its dynos starting stop (the local scheduler;
    /// a Kubernetes rollout ends first, within its deadline), and this returns the app's turn
    /// once no deploy of it runs, so that the scheduler's destroy is the last thing done to the
    /// app.
    pub async fn destroying(&self, app_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.scheduler.destroying(app_id);
        self.destroyed.begin(app_id);
        let turn = self.turns.lock(app_id).await;
        self.destroyed.end(app_id);
        turn
    }

    /// Runs `release` of `app` with the app's formation: its release phase
    /// if it has one, then its dynos, health-gated. A release that does not go live is marked
    /// failed with the reason, the scheduler has left the previous release serving, and that
    /// release's config is the app's config again. `progress` gets the release phase's output
    /// (for a push).
    pub async fn deploy(
        &self,
        app: &AppRef,
        release: &Release,
        progress: Option<&mpsc::Sender<String>>,
    ) -> Result<Deployed, DeployError> {
        let app_id = app.id.as_str();
        let destroyed = self.destroyed.token(app_id);
        let turn = tokio::time::timeout(Duration::from_secs(1), self.turns.lock(app_id)).await;
        let _turn = match (turn, progress) {
            (Ok(turn), _) => turn,
            (Err(_), Some(progress)) => {
                let _ = progress
                    .send(format!(
                        "-----> Waiting for the app's release in progress to end first (`paas releases` shows it; a release phase may run up to {}s, --release-timeout)",
                        self.release_timeout.as_secs()
                    ))
                    .await;
                self.turns.lock(app_id).await
            }
            (Err(_), None) => self.turns.lock(app_id).await,
        };
        let (id, version) = (app.id.clone(), release.version);
        // The app may have been destroyed (its releases with it) while this waited.
        let (recorded, running, formation) = self
            .store
            .call(move |db| {
                Ok::<_, StoreError>((
                    db.release(&id, version)?.is_some(),
                    db.running_release(&id)?,
                    db.formation(&id)?,
                ))
            })
            .await?;
        if !recorded || destroyed.is_cancelled() {
            return Err(DeployError::Destroyed);
        }
        // A newer release replaces a canary (promoting one deploys its release the other way).
        self.supersede_canary(app, release.version).await?;
        let outcome = match (running, Deployment::of(app, release, &formation)) {
            (Some(running), _) if running.version > version => {
                Deployed::Superseded(running.version)
            }
            (_, None) => Deployed::NothingToRun,
            (_, Some(deployment)) => {
                if let Some(command) = &deployment.release_command {
                    let phase = tokio::select! {
                        phase = self.release_phase(&deployment, command, progress) => phase,
                        () = destroyed.cancelled() => return Err(DeployError::Destroyed),
                    };
                    if let Err(reason) = phase {
                        self.fail(app_id, version, format!("release phase: {reason}"))
                            .await;
                        return Err(DeployError::ReleasePhase(reason));
                    }
                }
                if destroyed.is_cancelled() {
                    return Err(DeployError::Destroyed);
                }
                self.set(app_id, version, ReleaseStatus::Deploying).await?;
                if let Err(e) = self.scheduler.deploy(&deployment).await {
                    if destroyed.is_cancelled() {
                        return Err(DeployError::Destroyed);
                    }
                    self.fail(app_id, version, format!("{e:#}")).await;
                    return Err(DeployError::Start(e));
                }
                Deployed::Up
            }
        };
        self.set(app_id, version, ReleaseStatus::Succeeded).await?;
        Ok(outcome)
    }

    /// Records release vN of a push's successful build (its image, its process types, the app's
    /// current config), tags the image `vN` (locally and in the registry), and runs it, telling
    /// the push each step (`Released v3`, the release phase's output, dynos starting, `v3 is up`).
    /// `Err` is the push's failure block: the release failed and the previous one serves.
    pub async fn release_build(
        &self,
        push: &Push,
        build_id: &str,
        commit: &str,
        built: &Built,
        push_lines: &mpsc::Sender<String>,
    ) -> Result<(), Failure> {
        let out = &Progress {
            push: push_lines,
            logs: &self.logs,
            app_id: &push.app.id,
        };
        let result = self
            .record_and_run(push, build_id, commit, built, out)
            .await;
        if let Err(failure) = &result {
            for line in failure.lines() {
                out.line(line).await;
            }
        }
        result
    }

    async fn record_and_run(
        &self,
        push: &Push,
        build_id: &str,
        commit: &str,
        built: &Built,
        out: &Progress<'_>,
    ) -> Result<(), Failure> {
        let new = NewRelease {
            build_id: Some(build_id.to_owned()),
            image: Some(built.manifest.digest.clone()),
            process_types: built.process_types.clone(),
            description: format!("Deploy {}", &commit[..commit.len().min(7)]),
        };
        let (app_id, user) = (push.app.id.clone(), push.user.clone());
        let release = self
            .store
            .call(move |db| db.create_release(&app_id, &user, &new))
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Gone => {
                    Failure::app_destroyed("release", "release", &push.app.name)
                }
                _ => Failure::release(
                    "release",
                    "the server could not record the release; push again",
                ),
            })?;
        if let Err(e) = self.layout.tag(
            &format!("{}-v{}", push.app.name, release.version),
            &built.manifest,
        ) {
            tracing::warn!(error = %e, "cannot tag the image in the local layout");
        }
        let mut image = built.manifest.digest.clone();
        if let Some(registry) = &self.registry {
            let app = push.app.name();
            image = format!("{}@{}", registry.reference(app), built.manifest.digest);
            let tag = format!("v{}", release.version);
            if let Err(e) = registry.tag(&self.layout, &built.manifest, app, &tag).await {
                out.line(format!(
                    " !     warning: the image was released but not tagged v{}: {e}",
                    release.version
                ))
                .await;
            }
        }
        self.logs.emit(
            &push.app.id,
            "paas",
            "api",
            event(&release, &push.user.name),
        );
        out.line(format!("-----> Released v{}: {image}", release.version))
            .await;
        self.deploy_pushed(push, &release, out).await?;
        out.line(format!(
            "-----> Done in {:.1}s",
            built.started.elapsed().as_secs_f64()
        ))
        .await;
        Ok(())
    }

    /// Runs the new release (web first, health-gated); a failure marks the release failed and the
    /// old one keeps serving.
    async fn deploy_pushed(
        &self,
        push: &Push,
        release: &Release,
        out: &Progress<'_>,
    ) -> Result<(), Failure> {
        match self.canary_plan(push).await.map_err(|_| {
            Failure::release(
                "deploy",
                "the server could not read the canary settings; push again",
            )
        })? {
            Some((weight, settings)) => {
                return self
                    .canary_pushed(push, release, weight, &settings, out)
                    .await;
            }
            None if push.canary.is_some_and(|w| w > 0) => {
                out.line(format!(
                    "-----> Nothing runs yet for a canary to be compared with: v{} goes to every client",
                    release.version
                ))
                .await;
            }
            None => {}
        }
        let app_id = push.app.id.clone();
        let formation = self
            .store
            .call(move |db| db.formation(&app_id))
            .await
            .map_err(|_| {
                Failure::release(
                    "deploy",
                    "the server could not read the formation; push again",
                )
            })?;
        let running: Vec<String> = formation
            .iter()
            .filter(|f| f.quantity > 0)
            .map(|f| format!("{}={}", f.process_type, f.quantity))
            .collect();
        out.line(format!(
            "-----> Launching v{} ({})",
            release.version,
            if running.is_empty() {
                "no dynos".to_owned()
            } else {
                running.join(" ")
            }
        ))
        .await;
        // The release phase's output goes to the push as it comes (it is kept with the release).
        let deployed = self
            .forwarding_progress(push, out, self.deploy(&push.app, release, Some(out.push)))
            .await;
        match deployed {
            Ok(Deployed::Superseded(newer)) => {
                out.line(format!(
                    "-----> v{} was not deployed: v{newer}, newer, runs already",
                    release.version
                ))
                .await;
                Ok(())
            }
            Ok(Deployed::NothingToRun) => {
                Err(Failure::release("deploy", "the release has no image"))
            }
            Ok(Deployed::Up) if release.process_types.is_empty() => {
                out.line(format!(
                    "-----> v{} is released; it has no process types, so nothing runs",
                    release.version
                ))
                .await;
                Ok(())
            }
            Ok(Deployed::Up) => {
                // Its name now: the app may have been renamed while this push ran, or
                // destroyed (its destroy waits for this deploy, then takes the dynos down).
                let id = push.app.id.clone();
                let name = match self.store.call(move |db| db.app_by_id(&id)).await {
                    Ok(app) => app.name,
                    Err(crate::store::StoreError::Gone) => {
                        return Err(destroyed_meanwhile(release.version));
                    }
                    Err(_) => push.app.name.clone(),
                };
                let line = if release.process_types.contains_key("web") {
                    format!(
                        "-----> v{} is up: {}",
                        release.version,
                        self.urls.web_url(name.as_str())
                    )
                } else {
                    format!(
                        "-----> v{} is deployed (no web process, so no URL)",
                        release.version
                    )
                };
                out.line(line).await;
                if let (true, Some(first)) =
                    (running.is_empty(), release.process_types.keys().next())
                {
                    out.line(format!(
                        "       No dynos run yet; start some with: paas scale {first}=1"
                    ))
                    .await;
                }
                Ok(())
            }
            Err(e) => {
                let app_id = push.app.id.clone();
                let before = self
                    .store
                    .call(move |db| db.running_release(&app_id))
                    .await
                    .ok()
                    .flatten();
                let serving = match before {
                    Some(running) => format!("v{} keeps serving.", running.version),
                    None => "Nothing ran before it, so the app has no dynos yet.".to_owned(),
                };
                Err(match e {
                    DeployError::Destroyed => destroyed_meanwhile(release.version),
                    DeployError::ReleasePhase(reason) => Failure::release(
                        "release phase",
                        format!(
                            "v{} was not deployed: {reason}.\n{serving} `paas releases:output v{}` shows what it printed.",
                            release.version, release.version
                        ),
                    ),
                    e => Failure::release(
                        "deploy",
                        format!("v{} did not start: {e}\n{serving}", release.version),
                    ),
                })
            }
        }
    }

    /// Awaits `work` while the scheduler's lines (dynos starting, rollouts progressing) go to the
    /// push as its progress.
    async fn forwarding_progress<T>(
        &self,
        push: &Push,
        out: &Progress<'_>,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let progress = crate::logs::Filter {
            process: Some("scheduler".into()),
            ..crate::logs::Filter::default()
        };
        let (_, mut scheduler_lines) = self.logs.read(&push.app.id, 0, &progress);
        tokio::pin!(work);
        let done = loop {
            tokio::select! {
                biased;
                Ok(line) = scheduler_lines.recv() => {
                    if progress.matches(&line) {
                        let _ = out.push.send(format!("       {}", line.message)).await;
                    }
                }
                done = &mut work => break done,
            }
        };
        while let Ok(line) = scheduler_lines.try_recv() {
            if progress.matches(&line) {
                let _ = out.push.send(format!("       {}", line.message)).await;
            }
        }
        done
    }

    /// Records the release of a config change (one release however many keys, on the running
    /// release's build; DESIGN §3.4) and runs it. Before the first build there is nothing to run.
    pub async fn change_config(
        self: &Arc<Self>,
        app: &AppRecord,
        user: &User,
        patch: ConfigPatch,
        idempotency: Option<Idempotency>,
    ) -> Result<Release, ReleaseError> {
        let description = config_change_description(&patch);
        let (app_id, who) = (app.id.clone(), user.clone());
        self.make_and_run(app, user, idempotency, move |db, key| {
            Ok(db.update_config(&app_id, &who, &patch, &description, key)?)
        })
        .await
    }

    /// Records release "Rollback to vN" (vN's build and config vars, no rebuild; the formation
    /// stays) and runs it, release phase included. vN must have succeeded, with a build whose
    /// image garbage collection has not removed.
    pub async fn rollback(
        self: &Arc<Self>,
        app: &AppRecord,
        user: &User,
        target: u32,
        idempotency: Option<Idempotency>,
    ) -> Result<Release, ReleaseError> {
        let (app_id, who, layout) = (app.id.clone(), user.clone(), Arc::clone(&self.layout));
        self.make_and_run(app, user, idempotency, move |db, key| {
            let from = db
                .release(&app_id, target)?
                .ok_or(ReleaseError::NoSuchRelease(target))?;
            rollback_target(&from, &layout)?;
            Ok(db.copy_release(&app_id, &who, &from, &rollback_description(target), key)?)
        })
        .await
    }

    /// Records release "Retry vN" of the newest release when it failed (its build and config
    /// vars; as `heroku releases:retry`) and runs it, release phase included. Refused when that
    /// build never ran in a release: its push was rejected, so the repository lacks its code.
    pub async fn retry(
        self: &Arc<Self>,
        app: &AppRecord,
        user: &User,
        idempotency: Option<Idempotency>,
    ) -> Result<Release, ReleaseError> {
        let (app_id, who) = (app.id.clone(), user.clone());
        self.make_and_run(app, user, idempotency, move |db, key| {
                let releases = db.releases(&app_id)?;
                let Some(newest) = releases.first().filter(|r| r.image.is_some()).cloned() else {
                    return Err(ReleaseError::Refused {
                        message: match releases.first() {
                            // Config changes before any deploy succeeded: no build to run.
                            Some(newest) => format!(
                                "the newest release, v{}, has no build: no push has been \
                                 released yet, so there is no build to retry",
                                newest.version
                            ),
                            None => "there is no build to retry".to_owned(),
                        },
                        hint: "push code first: git push paas main",
                    });
                };
                if newest.status != ReleaseStatus::Failed {
                    return Err(ReleaseError::Refused {
                        message: format!(
                            "v{} {}; there is nothing to retry",
                            newest.version,
                            match newest.status {
                                ReleaseStatus::Succeeded => "succeeded".to_owned(),
                                status => format!("is still {}", status.as_str()),
                            }
                        ),
                        hint: "retry is for a newest release that failed (a release command, say)",
                    });
                }
                // A build no release ever ran came from a push that was rejected: the app's
                // repository does not have that code, so it is not deployed behind its back.
                // (A canary's push was accepted: an aborted one's code is in the repository.)
                let ran = releases
                    .iter()
                    .any(|r| r.status == ReleaseStatus::Succeeded && r.image == newest.image)
                    || newest
                        .failure
                        .as_deref()
                        .is_some_and(|f| f.starts_with(CANARY_ABORTED));
                if !ran {
                    return Err(ReleaseError::Refused {
                        message: format!(
                            "v{} is the release of a push that was rejected: the app's repository does not have its code",
                            newest.version
                        ),
                        hint: "push again (git push paas main); the build cache makes it quick",
                    });
                }
                Ok(db.copy_release(
                    &app_id,
                    &who,
                    &newest,
                    &format!("Retry v{}", newest.version),
                    key,
                )?)
            })
            .await
    }

    /// Records the release `make` makes (an add-on attached or detached, its credentials
    /// rotated) in one store call, and runs it.
    pub async fn run_recorded(
        self: &Arc<Self>,
        app: &AppRecord,
        user: &User,
        make: impl FnOnce(&mut crate::store::Db) -> Result<Release, ReleaseError> + Send + 'static,
    ) -> Result<Release, ReleaseError> {
        self.make_and_run(app, user, None, move |db, _| make(db))
            .await
    }

    /// Records the release `make` makes (given the request's Idempotency-Key to store with it),
    /// in one store call after checking that key, and runs it; a repeated request gets the
    /// release its first one made instead.
    async fn make_and_run(
        self: &Arc<Self>,
        app: &AppRecord,
        user: &User,
        idempotency: Option<Idempotency>,
        make: impl FnOnce(&mut crate::store::Db, Option<&Idempotency>) -> Result<Release, ReleaseError>
        + Send
        + 'static,
    ) -> Result<Release, ReleaseError> {
        let app_id = app.id.clone();
        let recorded = self
            .store
            .call(move |db| {
                Ok::<_, ReleaseError>(match replay(db, &app_id, idempotency.as_ref())? {
                    Some(made) => Recorded::Replayed(made),
                    None => Recorded::New(make(db, idempotency.as_ref())?),
                })
            })
            .await?;
        self.announce_and_run(app, user, recorded).await
    }

    /// Logs a release the API recorded (`paas[api]: Release v5 created by alice: …`), runs it,
    /// and answers with it as it ended. The run goes on if the request goes away (the client
    /// gave up or was stopped): a release never stays pending because its request was dropped.
    /// A request repeated with its Idempotency-Key gets the release the first one made, once
    /// that one has ended, as it ended.
    async fn announce_and_run(
        self: &Arc<Self>,
        app: &AppRecord,
        user: &User,
        recorded: Recorded,
    ) -> Result<Release, ReleaseError> {
        let release = match recorded {
            Recorded::Replayed(release) => return self.ended(&app.id, release).await,
            Recorded::New(release) => release,
        };
        self.logs
            .emit(&app.id, "paas", "api", event(&release, &user.name));
        let (controller, app_ref, running) = (Arc::clone(self), app.app_ref(), release.clone());
        tokio::spawn(async move { controller.deploy(&app_ref, &running, None).await })
            .await
            .map_err(|e| {
                ReleaseError::NotDeployed(
                    release.version,
                    DeployError::Start(anyhow::anyhow!("the deploy stopped: {e}")),
                )
            })?
            .map_err(|e| ReleaseError::NotDeployed(release.version, e))?;
        let (app_id, version) = (app.id.clone(), release.version);
        let ended = self
            .store
            .call(move |db| db.release(&app_id, version))
            .await?;
        Ok(ended.unwrap_or(release))
    }

    /// `release` once it has ended (it may still be running for the request that made it), or
    /// why it failed.
    async fn ended(&self, app_id: &str, release: Release) -> Result<Release, ReleaseError> {
        let version = release.version;
        // A release runs its release phase (bounded) and then its deploy (bounded by the boot
        // timeout); one that has not ended well after that is not waited for.
        let give_up = tokio::time::Instant::now() + self.release_timeout + Duration::from_secs(900);
        loop {
            // Deploys hold the app's turn: once we have it, none of this release's is in flight.
            drop(self.turns.lock(app_id).await);
            let id = app_id.to_owned();
            let Some(now) = self.store.call(move |db| db.release(&id, version)).await? else {
                return Err(ReleaseError::NotDeployed(version, DeployError::Destroyed));
            };
            match now.status {
                ReleaseStatus::Succeeded => return Ok(now),
                ReleaseStatus::Failed => {
                    let why = now.failure.unwrap_or_else(|| "it failed".to_owned());
                    return Err(ReleaseError::NotDeployed(
                        version,
                        DeployError::Recorded(why),
                    ));
                }
                status if tokio::time::Instant::now() >= give_up => {
                    return Err(ReleaseError::Refused {
                        message: format!(
                            "v{version}, which this request made, is still {}",
                            status.as_str()
                        ),
                        hint: "`paas releases` shows when it ends",
                    });
                }
                // Recorded, its deploy not started yet: it takes the turn soon.
                ReleaseStatus::Pending | ReleaseStatus::Deploying => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// The most dynos one app may run (`--max-dynos-per-app`).
    pub fn max_dynos_per_app(&self) -> u32 {
        self.max_dynos_per_app
    }

    /// Waits for the app's turn: deploys, and scales and restarts of what runs, take it one at a
    /// time, so that none of them acts on a release another is replacing. It ends when the guard
    /// is dropped.
    pub async fn turn(&self, app_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.turns.lock(app_id).await
    }

    /// Runs the release command as `release.N`; its lines go to the app's log, to `progress`
    /// and (up to [`RELEASE_OUTPUT_LIMIT`]) to the release's stored output. `Err` says why it
    /// failed.
    async fn release_phase(
        &self,
        deployment: &Deployment,
        command: &str,
        progress: Option<&mpsc::Sender<String>>,
    ) -> Result<(), String> {
        let name = format!("release.{}", deployment.release);
        let say = |line: String| async move {
            if let Some(progress) = progress {
                let _ = progress.send(line).await;
            }
        };
        say(format!("-----> Running release command: {command}")).await;
        let (tx, mut rx) = mpsc::channel::<String>(256);
        let run = self
            .scheduler
            .run_once(deployment, &name, command, self.release_timeout, tx);
        tokio::pin!(run);
        let mut output = String::new();
        // Stored as it comes (each second), so a server killed meanwhile keeps what it printed.
        let mut flush = tokio::time::interval(Duration::from_secs(1));
        let mut stored = 0;
        let outcome = loop {
            tokio::select! {
                Some(line) = rx.recv() => {
                    self.logs.emit(&deployment.app.id, "app", &name, &line);
                    keep(&mut output, &line);
                    say(format!("       {line}")).await;
                }
                _ = flush.tick() => {
                    if output.len() != stored {
                        stored = output.len();
                        self.store_output(deployment, output.clone()).await;
                    }
                }
                outcome = &mut run => break outcome,
            }
        };
        while let Ok(line) = rx.try_recv() {
            self.logs.emit(&deployment.app.id, "app", &name, &line);
            keep(&mut output, &line);
            say(format!("       {line}")).await;
        }
        self.store_output(deployment, output).await;
        let timeout = self.release_timeout.as_secs();
        match outcome {
            Ok(o) if o.oom_killed && o.exit != Exit::Code(0) => {
                Err("the release command ran out of memory".to_owned())
            }
            Ok(o) => match o.exit {
                Exit::Code(0) => {
                    say("-----> Release command done".to_owned()).await;
                    Ok(())
                }
                Exit::Code(code) => Err(format!("the release command exited with status {code}")),
                Exit::Signal(signal) => {
                    Err(format!("the release command was killed by signal {signal}"))
                }
                Exit::TimedOut => Err(format!(
                    "the release command ran longer than {timeout}s (--release-timeout) and was stopped"
                )),
            },
            Err(e) => Err(format!("{e:#}")),
        }
    }

    /// Stores the release phase's output so far with the release.
    async fn store_output(&self, deployment: &Deployment, output: String) {
        let (id, version) = (deployment.app.id.clone(), deployment.release);
        if let Err(e) = self
            .store
            .call(move |db| db.set_release_output(&id, version, &output))
            .await
        {
            tracing::error!(error = %anyhow::Error::from(e), "cannot store the release phase's output");
        }
    }

    async fn set(
        &self,
        app_id: &str,
        version: u32,
        status: ReleaseStatus,
    ) -> Result<(), StoreError> {
        let id = app_id.to_owned();
        self.store
            .call(move |db| db.set_release_status(&id, version, status))
            .await
    }

    async fn fail(&self, app_id: &str, version: u32, reason: String) {
        self.logs.emit(
            app_id,
            "paas",
            DEPLOY_LOG,
            format!("Release v{version} failed: {reason}"),
        );
        self.alerts.deploy_failed(app_id, version, &reason);
        let id = app_id.to_owned();
        if let Err(e) = self
            .store
            .call(move |db| db.fail_release(&id, version, &reason))
            .await
        {
            tracing::error!(error = %anyhow::Error::from(e), "cannot mark the release failed");
        }
    }
}

/// Why the controller did not make or run a release: the rule that refused it, or how its
/// deploy failed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("the app has no release v{0}")]
    NoSuchRelease(u32),
    /// A domain rule refused the request; `hint` says what to do instead.
    #[error("{message}")]
    Refused { message: String, hint: &'static str },
    /// The release was recorded and failed (it is marked failed; the previous one serves).
    #[error("v{0} {1}")]
    NotDeployed(u32, DeployError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Adds a line of the release phase to its stored output, up to [`RELEASE_OUTPUT_LIMIT`].
fn keep(output: &mut String, line: &str) {
    const TRUNCATED: &str = "[output truncated]\n";
    if output.ends_with(TRUNCATED) {
        return;
    }
    if output.len() + line.len() < RELEASE_OUTPUT_LIMIT {
        output.push_str(line);
        output.push('\n');
    } else {
        output.push_str(TRUNCATED);
    }
}

/// A pushed release's deploy found its app destroyed (its release phase stopped, or its
/// dynos about to be taken down).
fn destroyed_meanwhile(version: u32) -> Failure {
    Failure::app_gone(
        "release",
        "deploy",
        format!("v{version} was not deployed: the app was destroyed meanwhile."),
    )
}

/// Which release a rollback may target: one that succeeded, with a build whose image the
/// layout still holds.
fn rollback_target(from: &Release, layout: &Layout) -> Result<(), ReleaseError> {
    let target = from.version;
    let refuse = |message: String, hint| Err(ReleaseError::Refused { message, hint });
    match (&from.image, from.status) {
        (None, _) => refuse(
            format!(
                "v{target} has no build to run: it only changed config vars before the app's first successful deploy"
            ),
            "roll back to a release that deployed code (`paas releases` lists them), or set the config with `paas config set`",
        ),
        (Some(image), _) if !layout.has_blob(image) => refuse(
            format!("v{target}'s image ({image}) was removed by garbage collection"),
            "push that code again to rebuild it, or roll back to a newer release",
        ),
        (_, ReleaseStatus::Succeeded) => Ok(()),
        (_, ReleaseStatus::Failed) => refuse(
            format!("v{target} failed to deploy; roll back to a release that succeeded"),
            "run `paas releases` to see each release's status",
        ),
        (_, status) => refuse(
            format!(
                "v{target} is still {}; roll back to a release that succeeded",
                status.as_str()
            ),
            "run `paas releases` to see each release's status",
        ),
    }
}

/// Where a push's release lines go: the pusher, and the app's log as `paas[deploy]`.
struct Progress<'a> {
    push: &'a mpsc::Sender<String>,
    logs: &'a Logs,
    app_id: &'a str,
}

impl Progress<'_> {
    async fn line(&self, line: impl Into<String>) {
        let line = line.into();
        self.logs.emit(self.app_id, "paas", DEPLOY_LOG, &line);
        // The pusher may be gone; the release still runs to its end.
        let _ = self.push.send(line).await;
    }
}

/// "Set A, B config vars", "Remove C config vars", or "Set A and remove C config vars".
pub fn config_change_description(patch: &ConfigPatch) -> String {
    let set: Vec<&str> = patch
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k.as_str())
        .collect();
    let removed: Vec<&str> = patch
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    match (set.is_empty(), removed.is_empty()) {
        (false, true) => format!("Set {} config vars", set.join(", ")),
        (true, false) => format!("Remove {} config vars", removed.join(", ")),
        _ => format!(
            "Set {} and remove {} config vars",
            set.join(", "),
            removed.join(", ")
        ),
    }
}

/// The log line a new release writes: `Release v5 created by alice: Set GREETING config vars`.
pub fn event(release: &paas_share::models::Release, user: &paas_share::UserName) -> String {
    format!(
        "Release v{} created by {user}: {}",
        release.version, release.description
    )
}

pub fn rollback_description(version: u32) -> String {
    format!("Rollback to v{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        let patch = |pairs: &[(&str, Option<&str>)]| -> ConfigPatch {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect()
        };
        assert_eq!(
            config_change_description(&patch(&[("B", Some("1")), ("A", Some("2"))])),
            "Set A, B config vars"
        );
        assert_eq!(
            config_change_description(&patch(&[("A", None)])),
            "Remove A config vars"
        );
        assert_eq!(
            config_change_description(&patch(&[("A", Some("1")), ("B", None)])),
            "Set A and remove B config vars"
        );
        assert_eq!(rollback_description(3), "Rollback to v3");
    }

    #[test]
    fn release_output_stops_at_its_limit() {
        let mut output = String::new();
        let long = "x".repeat(RELEASE_OUTPUT_LIMIT / 2);
        for line in [long.as_str(), long.as_str(), "after the limit", "short"] {
            keep(&mut output, line);
        }
        assert!(
            output.ends_with("[output truncated]\n"),
            "{}",
            &output[output.len() - 40..]
        );
        assert!(!output.contains("short"));
        assert!(output.len() <= RELEASE_OUTPUT_LIMIT + 32);
    }
}

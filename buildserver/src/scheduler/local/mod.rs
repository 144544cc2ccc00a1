//! The local scheduler: each dyno (`web.1`) is a runc container whose root is an overlay of the
//! image's layers (each unpacked once per digest) under a fresh upper dir, on the host network
//! with its own `$PORT` (which other apps' containers cannot reach: `isolation`), as the image's
//! user with its app's group, with config vars in its environment.
//!
//! Every dyno has a supervising task (`supervisor`) that runs it, tells when it is up and
//! restarts it when it ends. The web dynos of the release that runs are published in the
//! router's route table, which sends traffic only to those that are up.
//!
//! A deploy is health-gated: the new web dynos must be up before the router switches to them and
//! the old dynos stop (SIGTERM, then SIGKILL after a grace period). If they do not come up, the
//! old release keeps serving and the deploy fails with the dyno's last log lines. Scaling starts
//! or stops only the dynos of the types whose counts changed; a restart replaces web dynos one at
//! a time, new before old. Operations on one app run one at a time.
//!
//! Dynos stop with the daemon and start again from the store when it starts; a daemon killed
//! with SIGKILL leaves containers and mounts that the next start removes before it runs anything.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::join_all;
use paas_share::AppName;
use paas_share::models::LogLine;
use tokio::sync::mpsc;

use super::{AppLocks, CANARY_TYPE, Deployment, OneOff, OneOffSpec, OneOffStreams, Scheduler};
use crate::app::AppRef;
use crate::container::{Runtime, Spec, Streams};
use crate::data_dir::DataDir;
use crate::logs::Logs;
use crate::oci::Layout;
use crate::router::{Backend, Routes};

mod isolation;
mod layers;
mod services;
mod supervisor;

use isolation::{AdmittedPort, Isolation};
use layers::{LayerCache, LayerHold};

use supervisor::{FirstBoot, Readiness, State, Supervision, Supervisor};

const DYNO_MEMORY: u64 = 512 << 20;
const DYNO_PIDS: i64 = 1024;

/// The operator's settings for dynos.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a web dyno has to become ready before it is killed and counts as crashed.
    pub boot_timeout: Duration,
    /// Between SIGTERM and SIGKILL when a dyno stops.
    pub stop_grace: Duration,
}

/// How long a container gets between SIGTERM and SIGKILL when it ends (a crashed one: none).
#[derive(Clone, Copy)]
enum Grace {
    /// The stop grace (`[dynos] stop-grace`): services, which flush their data on SIGTERM.
    Full,
    /// The stop grace, unless the dyno has not come up yet (it served nothing): Heroku's
    /// SIGTERM, then SIGKILL after 30 s, for a dyno that is serving.
    UnlessStarting,
    /// None: a destroyed app's dynos.
    None,
}

/// How long a deploy, restart or scale waits for the dynos it replaced or removed to end before
/// going on (see [`LocalScheduler::retire`]).
const RETIRE_WAIT: Duration = Duration::from_secs(2);

/// What stops dynos and services: owned parts of the scheduler, so that a stop can go on in a
/// task of its own.
#[derive(Clone)]
struct Ending {
    runtime: Arc<Runtime>,
    logs: Logs,
    /// Between SIGTERM and SIGKILL ([`Settings::stop_grace`]).
    stop_grace: Duration,
}

impl Ending {
    /// Stops `dynos` of `app_id` together (see [`Self::stop`]).
    async fn stop_all(
        &self,
        app_id: &str,
        dynos: Vec<Dyno>,
        grace: Grace,
        destroyed: &tokio_util::sync::CancellationToken,
    ) {
        join_all(
            dynos
                .into_iter()
                .map(|d| self.stop(app_id, d, grace, destroyed)),
        )
        .await;
    }

    /// Stops `dyno` of `app_id` (see [`Self::end`]), logging it as Heroku does.
    async fn stop(
        &self,
        app_id: &str,
        dyno: Dyno,
        grace: Grace,
        destroyed: &tokio_util::sync::CancellationToken,
    ) {
        let in_time = self
            .end(
                &dyno.container,
                &dyno.supervision,
                dyno.task,
                dyno.dir,
                grace,
                destroyed,
            )
            .await;
        if !in_time {
            // Heroku's words for it.
            self.logs.emit(
                app_id,
                "paas",
                "scheduler",
                format!(
                    "{}.{}: Error R12 (Exit timeout) -> At least one process failed to exit within {} seconds of SIGTERM; stopping remaining processes with SIGKILL",
                    dyno.process_type,
                    dyno.index,
                    self.stop_grace.as_secs()
                ),
            );
        }
        self.logs.emit(
            app_id,
            "paas",
            "scheduler",
            format!("Stopped {}.{}", dyno.process_type, dyno.index),
        );
    }

    /// Ends a supervised container (a dyno or a service): SIGTERM, SIGKILL after `grace` (at
    /// once if it has crashed, or once `destroyed` is cancelled: its app is being destroyed),
    /// then its directory goes. Returns whether it ended before the grace ran out (or was
    /// killed at once on purpose).
    async fn end(
        &self,
        container: &str,
        supervision: &Supervision,
        mut task: tokio::task::JoinHandle<()>,
        dir: PathBuf,
        grace: Grace,
        destroyed: &tokio_util::sync::CancellationToken,
    ) -> bool {
        supervision.stopping.store(true, Ordering::SeqCst);
        let signal = |signal: &'static str| {
            let (runtime, container) = (Arc::clone(&self.runtime), container.to_owned());
            tokio::task::spawn_blocking(move || runtime.signal(&container, signal))
        };
        let _ = signal("TERM").await;
        let grace = match (grace, supervision.state()) {
            (_, State::Crashed) | (Grace::None, _) | (Grace::UnlessStarting, State::Starting) => {
                Duration::ZERO
            }
            _ => self.stop_grace,
        };
        // SIGTERM again each second of the grace: one sent before the dyno's shell set its trap
        // (a dyno stopped as it starts) is lost, and the shell forwards only the first it gets.
        let deadline = tokio::time::Instant::now() + grace;
        let ended = loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break false;
            }
            let wait = (deadline - now).min(Duration::from_secs(1));
            tokio::select! {
                waited = tokio::time::timeout(wait, &mut task) => {
                    if waited.is_ok() {
                        break true;
                    }
                }
                () = destroyed.cancelled() => break false,
            }
            let _ = signal("TERM").await;
        };
        if !ended {
            // Aborting drops the run, which kills and deletes the container.
            task.abort();
            let _ = task.await;
        }
        supervision.set(State::Down);
        let _ = tokio::task::spawn_blocking(move || unmount_and_remove(&dir)).await;
        // Killed at once (by its grace or its app's destroy) is no exit timeout.
        ended || grace.is_zero() || destroyed.is_cancelled()
    }
}

struct Dyno {
    process_type: String,
    index: u32,
    supervision: Arc<Supervision>,
    container: String,
    port: AdmittedPort,
    release: u32,
    command: String,
    task: tokio::task::JoinHandle<()>,
    /// The overlay mount and its dirs, removed when the dyno is gone.
    dir: PathBuf,
}

impl Dyno {
    fn name(&self) -> String {
        format!("{}.{}", self.process_type, self.index)
    }

    /// The dyno as `paas ps` shows it.
    fn view(&self) -> paas_share::models::Dyno {
        let view = paas_share::models::Dyno {
            process_type: self.process_type.clone(),
            name: self.name(),
            state: String::new(),
            restarts: 0,
            release: self.release,
            command: self.command.clone(),
            port: self.port.number,
            since: String::new(),
            pod: None,
            attach_url: None,
        };
        live(view, &self.supervision)
    }

    /// Where the router reaches it: its port on loopback.
    fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port.number))
    }

    fn is_web(&self) -> bool {
        self.process_type == "web"
    }

    /// Whether it serves requests (a web or canary dyno): it has to be up before it counts.
    fn serves(&self) -> bool {
        self.is_web() || self.process_type == CANARY_TYPE
    }
}

/// A dyno of a deploy in flight, as `ps` shows it: as it started, with its live state.
struct IncomingDyno {
    view: paas_share::models::Dyno,
    supervision: Arc<Supervision>,
}

impl IncomingDyno {
    fn of(dyno: &Dyno) -> Self {
        Self {
            view: dyno.view(),
            supervision: Arc::clone(&dyno.supervision),
        }
    }

    fn view(&self) -> paas_share::models::Dyno {
        live(self.view.clone(), &self.supervision)
    }
}

/// `view` with the dyno's state now: since when, and how often it restarted.
fn live(view: paas_share::models::Dyno, supervision: &Supervision) -> paas_share::models::Dyno {
    let (state, since) = supervision.since();
    paas_share::models::Dyno {
        state: state.as_str().to_owned(),
        restarts: supervision.restarts.load(Ordering::SeqCst),
        since: crate::logs::rfc3339_micros(since),
        ..view
    }
}

/// An app's dynos and the release they run.
struct Running {
    release: u32,
    /// The unpacked image layers under the dynos' overlays, held while they run.
    layers: LayerHold,
    dynos: Vec<Dyno>,
}

/// How often the dynos' cgroups are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

pub struct LocalScheduler {
    data: DataDir,
    logs: Logs,
    runtime: Arc<Runtime>,
    settings: Settings,
    pub routes: Routes,
    apps: Mutex<HashMap<String, Running>>,
    /// Each app's canary, while one runs: its web dynos (`canary.N`) and their release.
    canaries: Mutex<HashMap<String, Running>>,
    /// The dynos a deploy in flight has started, until they replace the running ones (or are
    /// stopped): `ps` shows them `starting` next to those they replace.
    incoming: Mutex<HashMap<String, Vec<IncomingDyno>>>,
    /// One operation at a time per app (deploy, scale, restart, destroy).
    operations: AppLocks,
    layers: LayerCache,
    /// Where the dynos' resource use is sampled to.
    metrics: crate::metrics::Metrics,
    /// Add-on services, by add-on id.
    services: Mutex<HashMap<String, services::Service>>,
    /// Keeps apps from each other's dynos.
    isolation: Isolation,
    destroying: super::Destroying,
    ending: Ending,
    /// Stops going on in the background (see [`Self::retire`]); the daemon's stop waits for them.
    retiring: tokio_util::task::TaskTracker,
}

impl LocalScheduler {
    pub fn new(
        data: DataDir,
        layout: Arc<Layout>,
        logs: Logs,
        settings: Settings,
        metrics: crate::metrics::Metrics,
    ) -> anyhow::Result<Self> {
        let isolation = Isolation::install()?;
        let runtime = Arc::new(Runtime {
            state_dir: data.root().join("run/runc-dynos"),
        });
        // Dynos of a previous run of the daemon belong to nobody now.
        for id in runtime.remove_leftovers("dyno-") {
            tracing::warn!(container = %id, "removed a dyno left by the last stop");
        }
        if let Ok(entries) = std::fs::read_dir(data.root().join("dynos")) {
            for entry in entries.flatten() {
                unmount_and_remove(&entry.path());
            }
        }
        let ending = Ending {
            runtime: Arc::clone(&runtime),
            logs: logs.clone(),
            stop_grace: settings.stop_grace,
        };
        Ok(Self {
            layers: LayerCache::new(data.clone(), layout),
            data,
            logs,
            runtime,
            settings,
            ending,
            retiring: tokio_util::task::TaskTracker::new(),
            routes: Routes::default(),
            apps: Mutex::new(HashMap::new()),
            canaries: Mutex::default(),
            incoming: Mutex::new(HashMap::new()),
            operations: AppLocks::default(),
            services: Mutex::default(),
            metrics,
            isolation,
            destroying: super::Destroying::default(),
        })
    }

    /// Samples every dyno's cgroup into the metrics every [`SAMPLE_EVERY`] until `stop` turns
    /// true: per app and process type, the CPU time used since the last sample, the memory of its
    /// dynos together, how many run, and the restarts and OOM kills since (counted by the dynos'
    /// supervisors: a dyno killed for memory takes its cgroup with it). A type whose dynos all
    /// went gets one last sample of none.
    pub async fn sample_forever(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        /// What a dyno had used, restarted and been killed at the last sample.
        #[derive(Clone, Default)]
        struct Seen {
            container: String,
            cpu_ns: u64,
            restarts: u32,
            oom_kills: u32,
            /// To count, once the dyno is gone, what it did after its last sample.
            process_type: String,
            supervision: Option<Arc<Supervision>>,
        }
        /// A dyno to sample: app id, process type, name, container, supervision.
        type ToSample = (Arc<str>, String, String, String, Arc<Supervision>);
        // Per (app, dyno name); and the types sampled last time.
        let mut last: HashMap<(Arc<str>, String), Seen> = HashMap::new();
        let mut types_before: std::collections::HashSet<(Arc<str>, String)> = Default::default();
        let mut sampled_at = std::time::Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep(SAMPLE_EVERY) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            // The wall time this sample's CPU use covers.
            let covered = sampled_at.elapsed();
            sampled_at = std::time::Instant::now();
            let dynos: Vec<ToSample> = self
                .apps()
                .iter()
                .flat_map(|(app_id, running)| {
                    let app_id: Arc<str> = Arc::from(app_id.as_str());
                    running.dynos.iter().map(move |d| {
                        (
                            Arc::clone(&app_id),
                            d.process_type.clone(),
                            d.name(),
                            d.container.clone(),
                            Arc::clone(&d.supervision),
                        )
                    })
                })
                .collect();
            let Ok(read) = tokio::task::spawn_blocking(move || {
                dynos
                    .into_iter()
                    .map(|dyno| {
                        let usage = crate::container::usage(&dyno.3);
                        (dyno, usage)
                    })
                    .collect::<Vec<_>>()
            })
            .await
            else {
                continue;
            };
            let mut per_type: HashMap<(Arc<str>, String), crate::metrics::Minute> = HashMap::new();
            let mut seen = HashMap::new();
            for ((app, kind, name, container, supervision), usage) in read {
                let restarts = supervision.restarts.load(Ordering::SeqCst);
                let oom_kills = supervision.oom_kills.load(Ordering::SeqCst);
                let before = last.remove(&(Arc::clone(&app), name.clone()));
                let minute = per_type
                    .entry((Arc::clone(&app), kind.clone()))
                    .or_default();
                minute.dynos += 1;
                // A dyno first seen started since the daemon did: all its restarts are new.
                let known = before.unwrap_or_default();
                minute.restarts += u64::from(restarts.saturating_sub(known.restarts));
                minute.oom_kills += u64::from(oom_kills.saturating_sub(known.oom_kills));
                let fresh_container = known.container != container;
                let mut now = Seen {
                    container,
                    cpu_ns: known.cpu_ns,
                    restarts,
                    oom_kills,
                    process_type: kind,
                    supervision: Some(supervision),
                };
                if let Some(usage) = usage {
                    // Another container, or a counter that went back: a new run, all of it new.
                    let fresh = fresh_container || usage.cpu_ns < known.cpu_ns;
                    let used = if fresh {
                        usage.cpu_ns
                    } else {
                        usage.cpu_ns - known.cpu_ns
                    };
                    minute.cpu_ms += used / 1_000_000;
                    minute.memory_sum += usage.memory;
                    // No limit reads as u64::MAX (cgroup v2 "max") or near i64::MAX (v1).
                    if usage.memory_limit < 1 << 62 {
                        minute.memory_limit = minute.memory_limit.max(usage.memory_limit);
                    }
                    now.cpu_ns = usage.cpu_ns;
                }
                seen.insert((app, name), now);
            }
            // Dynos stopped since the last sample: the crashes they had after it count too.
            for ((app, _), gone) in last.drain() {
                let Some(supervision) = &gone.supervision else {
                    continue;
                };
                let restarts = supervision.restarts.load(Ordering::SeqCst);
                let oom_kills = supervision.oom_kills.load(Ordering::SeqCst);
                if restarts > gone.restarts || oom_kills > gone.oom_kills {
                    let minute = per_type.entry((app, gone.process_type)).or_default();
                    minute.restarts += u64::from(restarts.saturating_sub(gone.restarts));
                    minute.oom_kills += u64::from(oom_kills.saturating_sub(gone.oom_kills));
                }
            }
            let live: std::collections::HashSet<(Arc<str>, String)> =
                per_type.keys().cloned().collect();
            for gone in types_before.difference(&live) {
                per_type.entry(gone.clone()).or_default();
            }
            types_before = live;
            for ((app, kind), mut minute) in per_type {
                // One sample of the type's dynos together.
                minute.memory_samples = 1;
                minute.sampled_ms = u64::try_from(covered.as_millis()).unwrap_or(u64::MAX);
                minute.memory_max = minute.memory_sum;
                self.metrics.sample(&app, &kind, &minute);
            }
            last = seen;
        }
    }

    fn services(&self) -> std::sync::MutexGuard<'_, HashMap<String, services::Service>> {
        self.services.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A free port for a dyno of `app_id`: not one an add-on service holds (one restarting has
    /// let it go); only the app's own containers may reach it over loopback.
    fn dyno_port(&self, app_id: &str) -> anyhow::Result<AdmittedPort> {
        let held = self.service_ports();
        for _ in 0..100 {
            let port = free_port()?;
            if !held.contains(&port) {
                return self.isolation.admit(port, self.isolation.group(app_id));
            }
        }
        anyhow::bail!("no free port for the dyno")
    }

    fn apps(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.apps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn incoming_dynos(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<IncomingDyno>>> {
        self.incoming.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Points the app's route at its current web dynos.
    fn publish(&self, app: &AppRef) {
        let backends: Vec<Backend> = self
            .apps()
            .get(&app.id)
            .into_iter()
            .flat_map(|r| &r.dynos)
            .filter(|d| d.is_web())
            .map(|d| Backend::new(d.name(), d.addr(), Arc::clone(&d.supervision.up)))
            .collect();
        self.routes.set(app, backends);
    }

    fn running_release(&self, app_id: &str) -> Option<u32> {
        self.apps().get(app_id).map(|r| r.release)
    }

    async fn deploy_locked(&self, deployment: &Deployment) -> anyhow::Result<()> {
        let (layers, started) = self.boot(deployment).await?;
        let old = self.apps().insert(
            deployment.app.id.clone(),
            Running {
                release: deployment.release,
                layers,
                dynos: started,
            },
        );
        self.publish(&deployment.app);
        self.logs.emit(
            &deployment.app.id,
            "paas",
            "scheduler",
            format!("Release v{} is up", deployment.release),
        );
        if let Some(old) = old {
            // Its layers stay held until its dynos are gone.
            self.retire(&deployment.app.id, old.dynos, Some(old.layers))
                .await;
        }
        let layers = self.layers.clone();
        tokio::spawn(async move { layers.collect(layers::IDLE_GRACE).await });
        Ok(())
    }

    /// Starts the deployment's dynos and waits for its web (and canary) dynos to be up; `ps`
    /// shows them `starting` meanwhile. If one does not come up, they are all stopped and the
    /// error says why, with the dynos' last log lines.
    async fn boot(&self, deployment: &Deployment) -> anyhow::Result<(LayerHold, Vec<Dyno>)> {
        let since = self.log_position(&deployment.app.id);
        let layers = self.layers.hold(&deployment.image).await?;
        let mut started = Vec::new();
        for (process_type, count) in &deployment.formation {
            if !deployment.process_types.contains_key(process_type) {
                continue;
            }
            for index in 1..=*count {
                match self.start(
                    deployment,
                    layers.dirs(),
                    process_type,
                    index,
                    FirstBoot::Decides,
                ) {
                    Ok(dyno) => started.push(dyno),
                    Err(e) => {
                        self.stop_all(&deployment.app.id, started).await;
                        return Err(e);
                    }
                }
            }
        }
        let serving: Vec<&Dyno> = started.iter().filter(|d| d.serves()).collect();
        let incoming = started.iter().map(IncomingDyno::of).collect();
        self.incoming_dynos()
            .insert(deployment.app.id.clone(), incoming);
        let waits = serving.iter().map(|d| d.supervision.wait_up());
        let Some(results) = self
            .destroying
            .unless(&deployment.app.id, join_all(waits))
            .await
        else {
            self.incoming_dynos().remove(&deployment.app.id);
            self.stop_all(&deployment.app.id, started).await;
            anyhow::bail!("the app is being destroyed");
        };
        let failed: Vec<&Dyno> = results
            .into_iter()
            .zip(&serving)
            .filter(|(result, _)| result.is_err())
            .map(|(_, d)| *d)
            .collect();
        self.incoming_dynos().remove(&deployment.app.id);
        if !failed.is_empty() {
            let requirement = self.boot_requirement(deployment);
            let why: Vec<String> = failed
                .iter()
                .map(|d| format!("{} {}", d.name(), d.supervision.why_not_up(&requirement)))
                .collect();
            let last = self.last_lines(&deployment.app.id, &failed[0].name(), since);
            self.stop_all(&deployment.app.id, started).await;
            anyhow::bail!("{}{last}", why.join("; "));
        }
        Ok((layers, started))
    }

    /// What a web dyno must do to count as up, for error messages.
    fn boot_requirement(&self, deployment: &Deployment) -> String {
        let within = self.settings.boot_timeout.as_secs();
        match deployment.health_check_path() {
            Some(path) => format!(
                "a web dyno must answer GET {path} with 2xx or 3xx on $PORT within {within}s"
            ),
            None => format!(
                "a web dyno must answer HTTP requests (GET /, any status) on $PORT within {within}s"
            ),
        }
    }

    async fn scale_locked(&self, deployment: &Deployment) -> anyhow::Result<()> {
        let layers = self.layers.hold(&deployment.image).await?;
        let mut stopping = Vec::new();
        let mut started = Vec::new();
        let mut failure = None;
        'types: {
            let mut apps = self.apps();
            let running = apps
                .get_mut(&deployment.app.id)
                .expect("checked by the caller");
            let mut types: Vec<String> = running
                .dynos
                .iter()
                .map(|d| d.process_type.clone())
                .collect();
            types.extend(deployment.formation.keys().cloned());
            types.sort();
            types.dedup();
            for process_type in types {
                let wanted = if deployment.process_types.contains_key(&process_type) {
                    deployment
                        .formation
                        .get(&process_type)
                        .copied()
                        .unwrap_or(0)
                } else {
                    0
                };
                let mut indexes: Vec<u32> = running
                    .dynos
                    .iter()
                    .filter(|d| d.process_type == process_type)
                    .map(|d| d.index)
                    .collect();
                indexes.sort_unstable();
                // Highest numbers go first; new dynos take the lowest free numbers.
                for index in indexes.iter().skip(wanted as usize) {
                    let at = running
                        .dynos
                        .iter()
                        .position(|d| d.process_type == process_type && d.index == *index)
                        .expect("listed above");
                    stopping.push(running.dynos.remove(at));
                }
                let missing = (wanted as usize).saturating_sub(indexes.len());
                let free = (1..).filter(|i| !indexes.contains(i)).take(missing);
                for index in free {
                    match self.start(
                        deployment,
                        layers.dirs(),
                        &process_type,
                        index,
                        FirstBoot::Retries,
                    ) {
                        Ok(dyno) => started.push(dyno),
                        Err(e) => {
                            running.dynos.append(&mut started);
                            failure = Some(e);
                            break 'types;
                        }
                    }
                }
            }
            running.dynos.append(&mut started);
            running
                .dynos
                .sort_by(|a, b| (&a.process_type, a.index).cmp(&(&b.process_type, b.index)));
        }
        self.publish(&deployment.app);
        self.retire(&deployment.app.id, stopping, None).await;
        failure.map_or(Ok(()), Err)
    }

    async fn restart_locked(
        &self,
        deployment: &Deployment,
        target: Option<&str>,
    ) -> anyhow::Result<()> {
        let chosen: Vec<(String, u32)> = self
            .apps()
            .get(&deployment.app.id)
            .into_iter()
            .flat_map(|r| &r.dynos)
            .filter(|d| target.is_none_or(|t| t == d.process_type || t == d.name()))
            .map(|d| (d.process_type.clone(), d.index))
            .collect();
        if chosen.is_empty() {
            anyhow::bail!("no running dyno matches {}", target.unwrap_or("the app"));
        }
        let layers = self.layers.hold(&deployment.image).await?;
        for (process_type, index) in chosen {
            let since = self.log_position(&deployment.app.id);
            let fresh = self.start(
                deployment,
                layers.dirs(),
                &process_type,
                index,
                FirstBoot::Decides,
            )?;
            let name = fresh.name();
            // `ps` shows it starting beside the one it replaces, as during a deploy.
            let up = if fresh.serves() {
                self.incoming_dynos()
                    .insert(deployment.app.id.clone(), vec![IncomingDyno::of(&fresh)]);
                let up = self
                    .destroying
                    .unless(&deployment.app.id, fresh.supervision.wait_up())
                    .await;
                self.incoming_dynos().remove(&deployment.app.id);
                let Some(up) = up else {
                    self.stop_all(&deployment.app.id, vec![fresh]).await;
                    anyhow::bail!("the app is being destroyed");
                };
                up
            } else {
                Ok(())
            };
            if up.is_err() {
                let why = fresh
                    .supervision
                    .why_not_up(&self.boot_requirement(deployment));
                let last = self.last_lines(&deployment.app.id, &name, since);
                self.stop_all(&deployment.app.id, vec![fresh]).await;
                anyhow::bail!("the new {name} {why}; the old one keeps running{last}");
            }
            let old = {
                let mut apps = self.apps();
                let running = apps
                    .get_mut(&deployment.app.id)
                    .expect("checked by the caller");
                let at = running
                    .dynos
                    .iter()
                    .position(|d| d.process_type == process_type && d.index == index)
                    .expect("operations on an app run one at a time");
                std::mem::replace(&mut running.dynos[at], fresh)
            };
            self.publish(&deployment.app);
            self.retire(&deployment.app.id, vec![old], None).await;
        }
        Ok(())
    }

    fn start(
        &self,
        deployment: &Deployment,
        layers: &[PathBuf],
        process_type: &str,
        index: u32,
        first_boot: FirstBoot,
    ) -> anyhow::Result<Dyno> {
        let command = deployment
            .process_types
            .get(process_type)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "release v{} has no {process_type} process type",
                    deployment.release
                )
            })?
            .clone();
        let name = format!("{process_type}.{index}");
        let port = self.dyno_port(&deployment.app.id)?;
        let (container, dir, spec) = self.prepare(
            deployment,
            layers,
            &name,
            super::dyno_args(&command),
            &BTreeMap::new(),
            Some(port.number),
        )?;
        self.logs.emit(
            &deployment.app.id,
            "paas",
            "scheduler",
            format!(
                "Starting {name} (v{}) on port {}: {command}",
                deployment.release, port.number
            ),
        );
        let supervision = Arc::new(Supervision::new());
        let serves = process_type == "web" || process_type == CANARY_TYPE;
        let readiness = match (serves, deployment.health_check_path()) {
            (true, Some(path)) => Readiness::Http(path.to_owned()),
            (true, None) => Readiness::Answers,
            (false, _) => Readiness::Immediate,
        };
        let supervisor = Supervisor {
            runtime: Arc::clone(&self.runtime),
            logs: self.logs.clone(),
            app_id: deployment.app.id.clone(),
            name,
            spec,
            bundle: dir.join("bundle"),
            port: port.number,
            readiness,
            boot_timeout: self.settings.boot_timeout,
            // Only a serving dyno's first boot is waited for; others count as up as they start.
            first_boot: if serves {
                first_boot
            } else {
                FirstBoot::Retries
            },
            supervision: Arc::clone(&supervision),
        };
        Ok(Dyno {
            process_type: process_type.to_owned(),
            index,
            container,
            port,
            release: deployment.release,
            command,
            supervision,
            task: tokio::spawn(supervisor.run()),
            dir,
        })
    }

    /// A container for dyno `name` running `args`: its own overlay over the image's layers
    /// (under `<data>/dynos/<container id>/`), the image's env, the config vars, `env` over them,
    /// `PORT` (if given), `DYNO` and `PS`. Returns the container id, its directory and its spec.
    fn prepare(
        &self,
        deployment: &Deployment,
        layers: &[PathBuf],
        name: &str,
        args: Vec<String>,
        env: &BTreeMap<String, String>,
        port: Option<u16>,
    ) -> anyhow::Result<(String, PathBuf, Spec)> {
        // Unique across the daemon's runs too: a dyno never takes over a predecessor's name.
        let container = format!(
            "dyno-{}-{}.{}-v{}-{name}",
            &deployment.app.id[..8],
            std::process::id(),
            unique(),
            deployment.release
        );
        let (dir, merged) = self.overlay(&container, layers)?;
        let env_base = vec![
            format!("PATH={}", crate::oci::image::PATH),
            "HOME=/app".to_owned(),
        ];
        let mut vars = deployment.config_vars.clone();
        vars.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(port) = port {
            vars.insert("PORT".to_owned(), port.to_string());
        }
        vars.insert("DYNO".to_owned(), name.to_owned());
        vars.insert("PS".to_owned(), name.to_owned());
        let mut env = env_base;
        env.extend(vars.iter().map(|(k, v)| format!("{k}={v}")));
        let spec = Spec {
            id: container.clone(),
            rootfs: merged,
            readonly_root: false,
            args,
            env,
            cwd: "/app",
            uid: crate::build::BUILD_UID,
            gid: self.isolation.group(&deployment.app.id),
            mounts: Vec::new(),
            memory_bytes: DYNO_MEMORY,
            pids_limit: DYNO_PIDS,
            hostname: "dyno",
            terminal: None,
        };
        Ok((container, dir, spec))
    }

    /// A container's own root: an overlay of `layers` (bottom first) under a fresh upper dir, in
    /// `<data>/dynos/<container>/rootfs`. Returns the container's directory and its root.
    fn overlay(&self, container: &str, layers: &[PathBuf]) -> anyhow::Result<(PathBuf, PathBuf)> {
        let dir = self.data.root().join("dynos").join(container);
        let (upper, work, merged) = (dir.join("upper"), dir.join("work"), dir.join("rootfs"));
        for d in [&upper, &work, &merged] {
            std::fs::create_dir_all(d)?;
        }
        // Top layer first.
        let lower: Vec<String> = layers
            .iter()
            .rev()
            .map(|l| l.display().to_string())
            .collect();
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            upper.display(),
            work.display()
        );
        nix::mount::mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(options.as_str()),
        )
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            anyhow::anyhow!("mounting the container's filesystem: {e}")
        })?;
        Ok((dir, merged))
    }

    async fn stop_all(&self, app_id: &str, dynos: Vec<Dyno>) {
        let destroyed = self.destroying.token(app_id);
        self.ending
            .stop_all(app_id, dynos, Grace::UnlessStarting, &destroyed)
            .await;
    }

    /// Stops dynos a deploy, restart or scale replaced or removed, as [`Self::stop_all`], without
    /// holding the operation up for long: it returns once they have ended or after
    /// [`RETIRE_WAIT`]; slower ones (an app draining on SIGTERM) end in the background, within
    /// their stop grace (at once if their app is destroyed meanwhile), as Heroku's old dynos do
    /// after a deploy. `held` (the replaced release's layers) is let go once they have ended.
    async fn retire(&self, app_id: &str, dynos: Vec<Dyno>, held: Option<LayerHold>) {
        let (ending, app) = (self.ending.clone(), app_id.to_owned());
        let destroyed = self.destroying.token(app_id);
        let mut stopping = self.retiring.spawn(async move {
            ending
                .stop_all(&app, dynos, Grace::UnlessStarting, &destroyed)
                .await;
            drop(held);
        });
        let _ = tokio::time::timeout(RETIRE_WAIT, &mut stopping).await;
    }

    /// Stops a destroyed app's dynos: SIGTERM then SIGKILL at once. Nothing waits on them any
    /// more (their routes, logs and add-ons go with the app), so a dyno that ignores SIGTERM
    /// does not hold the destroy for the stop grace.
    async fn kill_all(&self, app_id: &str, dynos: Vec<Dyno>) {
        let destroyed = self.destroying.token(app_id);
        self.ending
            .stop_all(app_id, dynos, Grace::None, &destroyed)
            .await;
    }

    /// The sequence number of the app's newest log line: where an operation's own lines begin.
    fn log_position(&self, app_id: &str) -> Option<u64> {
        let (lines, _) = self.logs.read(app_id, 1, &crate::logs::Filter::default());
        lines.last().map(|l| l.seq)
    }

    /// The log lines of `dyno`'s last run since `after`, its own and the scheduler's about it,
    /// for an error message. One dyno's: those of several that failed alike interleave, and
    /// their shutdown lines push out the one that says why. A run of more than
    /// [`LAST_RUN_LINES`] shows its first lines and its last, with how many were left out: Node
    /// and Ruby print the error first and a long stack after it, Python's traceback ends with it.
    fn last_lines(&self, app_id: &str, dyno: &str, after: Option<u64>) -> String {
        let since = crate::logs::Filter {
            after,
            ..crate::logs::Filter::default()
        };
        // All the app's lines since then, filtered here: a busy app's router lines would push
        // the dynos' out of any fixed number read first.
        let (lines, _) = self.logs.read(app_id, usize::MAX, &since);
        // The scheduler's lines that name it: `web.1: state changed …`, `Starting web.1 (v9) …`.
        let about_it = |message: &str| message.split(' ').any(|w| w.trim_end_matches(':') == dyno);
        let mine: Vec<&LogLine> = lines
            .iter()
            .map(|l| &**l)
            .filter(|l| l.process == dyno || (l.process == "scheduler" && about_it(&l.message)))
            .collect();
        // Its last run begins where the scheduler last started it (or restarted it).
        let run = mine
            .iter()
            .rposition(|l| {
                l.process == "scheduler"
                    && (l.message.starts_with("Starting ") || l.message.ends_with(" to starting"))
            })
            .map_or(&mine[..], |start| &mine[start..]);
        let show = |lines: &[&LogLine]| -> String {
            lines
                .iter()
                .map(|l| format!("\n  {}[{}]: {}", l.source, l.process, l.message))
                .collect()
        };
        if run.is_empty() {
            String::new()
        } else if run.len() <= LAST_RUN_LINES {
            format!("\nLast log lines of {dyno}:{}", show(run))
        } else {
            let (head, tail) = (LAST_RUN_LINES / 3, LAST_RUN_LINES - LAST_RUN_LINES / 3);
            format!(
                "\nLast log lines of {dyno}:{}\n  … {} lines more (paas logs --ps {dyno} shows them) …{}",
                show(&run[..head]),
                run.len() - head - tail,
                show(&run[run.len() - tail..])
            )
        }
    }
}

/// The most log lines of a failed dyno's last run an error message quotes.
const LAST_RUN_LINES: usize = 30;

#[async_trait::async_trait]
impl Scheduler for LocalScheduler {
    async fn deploy(&self, deployment: &Deployment) -> anyhow::Result<()> {
        let _one_at_a_time = self.operations.lock(&deployment.app.id).await;
        self.deploy_locked(deployment).await
    }

    async fn scale(&self, deployment: &Deployment) -> anyhow::Result<()> {
        let _one_at_a_time = self.operations.lock(&deployment.app.id).await;
        match self.running_release(&deployment.app.id) {
            Some(running) if running == deployment.release => self.scale_locked(deployment).await,
            Some(running) => Err(not_running(deployment, running)),
            // Nothing runs (the daemon could not start the release when it started): start it.
            None => self.deploy_locked(deployment).await,
        }
    }

    async fn restart(&self, deployment: &Deployment, target: Option<&str>) -> anyhow::Result<()> {
        let _one_at_a_time = self.operations.lock(&deployment.app.id).await;
        match self.running_release(&deployment.app.id) {
            Some(running) if running == deployment.release => {
                self.restart_locked(deployment, target).await
            }
            Some(running) => Err(not_running(deployment, running)),
            None => self.deploy_locked(deployment).await,
        }
    }

    async fn status(&self, app: &AppRef) -> anyhow::Result<Vec<paas_share::models::Dyno>> {
        let mut dynos: Vec<paas_share::models::Dyno> = self
            .apps()
            .get(&app.id)
            .into_iter()
            .flat_map(|r| &r.dynos)
            .map(Dyno::view)
            .collect();
        dynos.extend(
            self.canaries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&app.id)
                .into_iter()
                .flat_map(|r| &r.dynos)
                .map(Dyno::view),
        );
        dynos.extend(
            self.incoming_dynos()
                .get(&app.id)
                .into_iter()
                .flatten()
                .map(IncomingDyno::view),
        );
        Ok(dynos)
    }

    fn can_rename(&self, _: &AppRef) -> anyhow::Result<()> {
        Ok(())
    }

    async fn renamed(&self, app: &AppRef, new: &AppName) {
        self.routes.rename(&app.id, new.as_str());
    }

    async fn run_once(
        &self,
        deployment: &Deployment,
        name: &str,
        command: &str,
        timeout: Duration,
        lines: mpsc::Sender<String>,
    ) -> anyhow::Result<crate::container::Outcome> {
        let layers = self.layers.hold(&deployment.image).await?;
        let port = self.dyno_port(&deployment.app.id)?;
        let (_, dir, spec) = self.prepare(
            deployment,
            layers.dirs(),
            name,
            super::dyno_args(command),
            &BTreeMap::new(),
            Some(port.number),
        )?;
        // Also when the run is dropped (its app destroyed): its container goes first.
        let dir = RemoveOnDrop(dir);
        self.logs.emit(
            &deployment.app.id,
            "paas",
            "scheduler",
            format!("Running {name} (v{}): {command}", deployment.release),
        );
        Ok(self
            .runtime
            .run(&spec, &dir.0.join("bundle"), timeout, lines)
            .await?)
    }

    async fn start_one_off(
        &self,
        deployment: &Deployment,
        one_off: &OneOffSpec,
    ) -> anyhow::Result<OneOff> {
        // Held until the dyno ends.
        let layers = self.layers.hold(&deployment.image).await?;
        let (container, dir, mut spec) = self.prepare(
            deployment,
            layers.dirs(),
            &one_off.name,
            super::one_off_args(&one_off.command, false),
            &one_off.env,
            None,
        )?;
        spec.terminal = one_off.terminal;
        self.logs.emit(
            &deployment.app.id,
            "paas",
            "scheduler",
            format!(
                "Starting {} ({}): {}",
                one_off.name,
                deployment.label(),
                one_off.command
            ),
        );
        let mut started = match self.runtime.start(&spec, &dir.join("bundle")) {
            Ok(started) => started,
            Err(e) => {
                tokio::task::spawn_blocking(move || unmount_and_remove(&dir)).await?;
                return Err(e.into());
            }
        };
        let streams = match started.streams.take().expect("just started") {
            Streams::Pipes {
                stdin,
                stdout,
                stderr,
            } => OneOffStreams::Pipes {
                stdin: Box::new(stdin),
                stdout: Box::new(stdout),
                stderr: Box::new(stderr),
            },
            Streams::Terminal(terminal) => OneOffStreams::Terminal {
                input: Box::new(terminal.writer()),
                output: Box::new(terminal.reader()),
                resize: Box::new(move |size| terminal.resize(size)),
            },
        };
        let timeout = one_off.timeout;
        let exit = async move {
            // Locals go in reverse order when the future is dropped half way: the container
            // (killed by `started`), then its directory, then the hold on the layers.
            let _layers = layers;
            let _remove = RemoveOnDrop(dir);
            Ok(started.wait(timeout, std::future::ready(())).await)
        };
        let runtime = Arc::clone(&self.runtime);
        Ok(OneOff {
            streams,
            exit: Box::pin(exit),
            terminate: Box::new(move || runtime.signal_all(&container, "TERM")),
        })
    }

    async fn start_service(
        &self,
        spec: &super::ServiceSpec,
        ready_within: Duration,
    ) -> anyhow::Result<()> {
        self.start_service_now(spec, ready_within).await
    }

    async fn remove_service(&self, spec: &super::ServiceSpec) {
        self.stop_service_now(&spec.id).await;
    }

    async fn service_state(&self, spec: &super::ServiceSpec) -> Option<String> {
        self.service_state_now(&spec.id)
    }

    fn service_host(&self, _app: &AppRef, _name: &str) -> String {
        "127.0.0.1".to_owned()
    }

    /// The backups folder is mounted: the file is where the task leaves or finds it.
    async fn run_service_task(
        &self,
        spec: &super::ServiceSpec,
        args: Vec<String>,
        _backup: super::BackupFile,
        timeout: Duration,
        lines: mpsc::Sender<String>,
    ) -> anyhow::Result<crate::container::Outcome> {
        self.run_service_task_now(spec, args, timeout, lines).await
    }

    fn routes_web(&self) -> bool {
        true
    }

    fn autoscales_cpu(&self) -> bool {
        false
    }

    /// The platform's autoscaler scales local dynos: nothing to publish.
    async fn publish_autoscaling(
        &self,
        _app: &AppRef,
        _rules: &[paas_share::models::AutoscaleRule],
    ) -> anyhow::Result<()> {
        Ok(())
    }

    async fn start_canary(&self, deployment: &Deployment, weight: u8) -> anyhow::Result<()> {
        let app = &deployment.app;
        let _one_at_a_time = self.operations.lock(&app.id).await;
        let canary = super::canary_deployment(deployment, weight)?;
        let (layers, dynos) = self.boot(&canary).await?;
        let backends = dynos
            .iter()
            .map(|d| Backend::new(d.name(), d.addr(), Arc::clone(&d.supervision.up)))
            .collect();
        let count = dynos.len();
        let before = self
            .canaries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                app.id.clone(),
                Running {
                    release: deployment.release,
                    layers,
                    dynos,
                },
            );
        self.routes.set_canary(
            app,
            Some(crate::router::Split {
                release: deployment.release,
                weight,
                backends,
            }),
        );
        self.logs.emit(
            &app.id,
            "paas",
            "scheduler",
            format!(
                "Canary v{} is up ({count} dyno{}): {weight} % of clients go to it",
                deployment.release,
                if count == 1 { "" } else { "s" }
            ),
        );
        if let Some(before) = before {
            self.stop_all(&app.id, before.dynos).await;
        }
        Ok(())
    }

    async fn stop_canary(&self, app: &AppRef) {
        let _one_at_a_time = self.operations.lock(&app.id).await;
        self.routes.set_canary(app, None);
        let running = self
            .canaries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&app.id);
        if let Some(running) = running {
            self.stop_all(&app.id, running.dynos).await;
            let layers = self.layers.clone();
            tokio::spawn(async move { layers.collect(layers::IDLE_GRACE).await });
        }
    }

    async fn publish_edge(&self, app: &AppRef, edge: &super::EdgeSpec) -> anyhow::Result<()> {
        self.routes.set_edge(app, super::router_edge(app, edge));
        Ok(())
    }

    async fn destroy(&self, app: &AppRef) {
        let _one_at_a_time = self.operations.lock(&app.id).await;
        self.destroying.end(&app.id);
        self.routes.remove(&app.id);
        let canary = self
            .canaries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&app.id);
        let running = self.apps().remove(&app.id);
        for running in running.into_iter().chain(canary) {
            // Its layers stay held until its dynos are gone.
            self.kill_all(&app.id, running.dynos).await;
        }
        // Its layers go too, unless other dynos use them.
        self.layers.collect(Duration::ZERO).await;
    }

    fn destroying(&self, app_id: &str) {
        self.destroying.begin(app_id);
    }

    async fn shutdown(&self) {
        let mut all: Vec<(String, Running)> = self.apps().drain().collect();
        all.extend(
            self.canaries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain(),
        );
        join_all(
            all.into_iter().map(|(app_id, running)| async move {
                self.stop_all(&app_id, running.dynos).await
            }),
        )
        .await;
        self.retiring.close();
        self.retiring.wait().await;
        // After the dynos: apps close their connections to their databases first.
        self.stop_services().await;
        self.isolation.remove();
    }
}

/// Scale and restart act on the release that runs; the controller deploys releases.
fn not_running(deployment: &Deployment, running: u32) -> anyhow::Error {
    anyhow::anyhow!(
        "v{running} runs, not v{}: a deploy is in flight; try again when it ends",
        deployment.release
    )
}

/// A free port for a dyno's `$PORT`, below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`): outgoing connections and `bind(0)` take their ports from
/// that range, so a port found free there could be taken by any connection before the dyno binds
/// it (`Address already in use`, seen under load). Checked on the wildcard address, which is what
/// apps listen on. An error when the range is full.
pub fn free_port() -> std::io::Result<u16> {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (ephemeral / 3, ephemeral);
    let span = u32::from(high.saturating_sub(low).max(1));
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        % span;
    for step in 0..span.min(500) {
        let port = low + u16::try_from((start + step * 7919) % span).unwrap_or(0);
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return Ok(port);
        }
    }
    // Never one outside the range: the firewall of README's "Firewall the dyno ports" covers
    // only the range.
    Err(std::io::Error::other(format!(
        "no free port for a dyno in {low}-{}: 500 tries found each one taken",
        high - 1
    )))
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Unmounts and removes a one-off dyno's (or release phase's) directory when dropped (its
/// container is gone by then).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let dir = std::mem::take(&mut self.0);
        // Off the async threads: removing what a dyno wrote may take a while.
        std::thread::spawn(move || unmount_and_remove(&dir));
    }
}

fn unmount_and_remove(dir: &std::path::Path) {
    let _ = nix::mount::umount2(&dir.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir_all(dir);
}

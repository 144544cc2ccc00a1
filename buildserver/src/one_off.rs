//! One-off dynos (`paas run`, Heroku's `heroku run`): `run.N` containers of an app's running
//! release, by name, within limits, each stopped at its timeout. An attached one waits (at most
//! [`ATTACH_WITHIN`]) for its client to attach, and the API bridges its streams; a detached one
//! starts at once and its output goes to the app's log as `app[run.N]`. Either is listed by
//! `paas ps` and stopped by `paas ps:stop run.N`. They live in the daemon's memory: a restart
//! ends them (the scheduler removes what they left).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::container::Outcome;
use crate::logs::Logs;
use crate::scheduler::{Deployment, OneOff, OneOffSpec, OneOffStreams, Scheduler};

/// How long an attached one-off dyno waits for its client before it is dropped.
pub const ATTACH_WITHIN: Duration = Duration::from_secs(30);
/// After SIGTERM, how long a stopped one-off dyno gets before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How many one-off dynos may run, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// At once per app (`--max-run-dynos-per-app`).
    pub per_app: usize,
    /// At once on the server (`--max-run-dynos`).
    pub per_server: usize,
    /// The longest `--timeout` a run may ask for (`--run-max-timeout`).
    pub max_timeout: Duration,
}

/// Why a one-off dyno was not started or found.
#[derive(Debug, thiserror::Error)]
pub enum OneOffError {
    #[error("the app has {0} one-off dynos running, as many as it may")]
    AppLimit(usize),
    #[error("the server runs {0} one-off dynos, as many as it may")]
    ServerLimit(usize),
    #[error("a run may last at most {} s (the server's --run-max-timeout)", .0.as_secs())]
    TimeoutTooLong(Duration),
    #[error("the app runs no one-off dyno {0:?}")]
    NotFound(String),
    #[error("one-off dyno {0} has a client attached already")]
    Attached(String),
    #[error(transparent)]
    Scheduler(#[from] anyhow::Error),
}

/// What `paas run` asks for.
#[derive(Debug, Clone)]
pub struct Request {
    pub command: String,
    pub env: std::collections::BTreeMap<String, String>,
    pub terminal: Option<paas_share::models::WindowSize>,
    /// None: [`DEFAULT_TIMEOUT`], or the server's maximum if that is shorter.
    pub timeout: Option<Duration>,
    pub attach: bool,
}

/// A run's time limit when it names none (Heroku's one-off dynos end after a day; an
/// interactive session left open is more often forgotten than wanted).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// The one-off dynos of every app. Clones share them.
#[derive(Clone)]
pub struct OneOffs {
    inner: Arc<Inner>,
}

struct Inner {
    scheduler: Arc<dyn Scheduler>,
    logs: Logs,
    limits: Limits,
    /// App id → its one-off dynos.
    apps: Mutex<HashMap<String, AppOneOffs>>,
}

#[derive(Default)]
struct AppOneOffs {
    /// The `N` of the last `run.N` (from 1 at each start of the daemon).
    last: u32,
    dynos: Vec<Entry>,
}

struct Entry {
    spec: OneOffSpec,
    release: u32,
    /// When it was created (RFC 3339).
    since: String,
    /// Notified to stop it.
    stop: Arc<Notify>,
    /// Waiting for its client: what to start then.
    waiting: Option<Deployment>,
    /// Asked to stop (`ps` shows it `down` until it has).
    stopping: bool,
}

/// An attached one-off dyno, started: bridge [`Attachment::one_off`]'s streams, then
/// [`Attachment::finish`]. Dropped, the dyno is killed and forgotten.
pub struct Attachment {
    pub one_off: OneOff,
    pub stop: Arc<Notify>,
    pub listed: Listed,
}

/// Removes a dyno from the list when dropped.
pub struct Listed {
    one_offs: OneOffs,
    app_id: String,
    name: String,
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.one_offs.forget(&self.app_id, &self.name);
    }
}

impl OneOffs {
    pub fn new(scheduler: Arc<dyn Scheduler>, logs: Logs, limits: Limits) -> Self {
        Self {
            inner: Arc::new(Inner {
                scheduler,
                logs,
                limits,
                apps: Mutex::default(),
            }),
        }
    }

    fn apps(&self) -> std::sync::MutexGuard<'_, HashMap<String, AppOneOffs>> {
        self.inner
            .apps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes one-off dyno `run.N` of `deployment` (the app's running release) for `request`:
    /// started at once when detached, else waiting for [`OneOffs::attach`]. Returns its view.
    pub fn create(
        &self,
        deployment: Deployment,
        request: Request,
    ) -> Result<paas_share::models::Dyno, OneOffError> {
        let timeout = request
            .timeout
            .unwrap_or(DEFAULT_TIMEOUT.min(self.inner.limits.max_timeout));
        if timeout > self.inner.limits.max_timeout {
            return Err(OneOffError::TimeoutTooLong(self.inner.limits.max_timeout));
        }
        let app_id = deployment.app.id.clone();
        let (spec, stop, view) = {
            let mut apps = self.apps();
            let running: usize = apps.values().map(|a| a.dynos.len()).sum();
            if running >= self.inner.limits.per_server {
                return Err(OneOffError::ServerLimit(running));
            }
            let app = apps.entry(app_id.clone()).or_default();
            if app.dynos.len() >= self.inner.limits.per_app {
                return Err(OneOffError::AppLimit(app.dynos.len()));
            }
            app.last += 1;
            let spec = OneOffSpec {
                name: format!("run.{}", app.last),
                command: request.command,
                env: request.env,
                terminal: request.terminal,
                timeout,
            };
            let entry = Entry {
                spec: spec.clone(),
                release: deployment.release,
                since: crate::logs::rfc3339_micros(std::time::SystemTime::now()),
                stop: Arc::new(Notify::new()),
                waiting: request.attach.then(|| deployment.clone()),
                stopping: false,
            };
            let view = entry.view();
            let stop = Arc::clone(&entry.stop);
            app.dynos.push(entry);
            (spec, stop, view)
        };
        if request.attach {
            // Forgotten unless attached in time.
            let one_offs = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(ATTACH_WITHIN).await;
                if one_offs.take_waiting(&app_id, &spec.name).is_some() {
                    one_offs.forget(&app_id, &spec.name);
                    tracing::info!(app = %deployment.app.name, dyno = %spec.name, "one-off dyno dropped: no client attached");
                }
            });
        } else {
            let listed = Listed {
                one_offs: self.clone(),
                app_id,
                name: spec.name.clone(),
            };
            let one_offs = self.clone();
            tokio::spawn(async move {
                one_offs.run_detached(&deployment, &spec, &stop).await;
                drop(listed);
            });
        }
        Ok(view)
    }

    /// Starts waiting one-off dyno `name` for the client attaching to it.
    pub async fn attach(&self, app_id: &str, name: &str) -> Result<Attachment, OneOffError> {
        let (deployment, spec, stop) = {
            let mut apps = self.apps();
            let entry = apps
                .get_mut(app_id)
                .and_then(|a| a.dynos.iter_mut().find(|d| d.spec.name == name))
                .ok_or_else(|| OneOffError::NotFound(paas_share::names::excerpt(name)))?;
            let deployment = entry
                .waiting
                .take()
                .ok_or_else(|| OneOffError::Attached(name.to_owned()))?;
            (deployment, entry.spec.clone(), Arc::clone(&entry.stop))
        };
        let listed = Listed {
            one_offs: self.clone(),
            app_id: app_id.to_owned(),
            name: name.to_owned(),
        };
        let one_off = self
            .inner
            .scheduler
            .start_one_off(&deployment, &spec)
            .await?;
        Ok(Attachment {
            one_off,
            stop,
            listed,
        })
    }

    /// Stops one-off dyno `name` (SIGTERM, then SIGKILL after 10 s); false if there is none.
    pub fn stop(&self, app_id: &str, name: &str) -> bool {
        if self.take_waiting(app_id, name).is_some() {
            self.forget(app_id, name);
            return true;
        }
        let mut apps = self.apps();
        let Some(entry) = apps
            .get_mut(app_id)
            .and_then(|a| a.dynos.iter_mut().find(|d| d.spec.name == name))
        else {
            return false;
        };
        entry.stopping = true;
        entry.stop.notify_one();
        true
    }

    /// Stops every one-off dyno of the app (it is being destroyed).
    pub fn stop_all(&self, app_id: &str) {
        let names: Vec<String> = self
            .apps()
            .get(app_id)
            .map(|a| a.dynos.iter().map(|d| d.spec.name.clone()).collect())
            .unwrap_or_default();
        for name in names {
            self.stop(app_id, &name);
        }
    }

    /// Stops every one-off dyno (the daemon is stopping) and waits until each has ended and its
    /// client was told how (its attachment dropped), for at most the stop grace and a second:
    /// the daemon's runtime must not end under a run's last frame.
    pub async fn stop_everything(&self) {
        let apps: Vec<String> = self.apps().keys().cloned().collect();
        for app_id in &apps {
            self.stop_all(app_id);
        }
        let deadline = tokio::time::Instant::now() + STOP_GRACE + Duration::from_secs(1);
        while self.apps().values().any(|a| !a.dynos.is_empty())
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The app's one-off dynos, as `paas ps` lists them.
    pub fn list(&self, app_id: &str) -> Vec<paas_share::models::Dyno> {
        self.apps()
            .get(app_id)
            .map(|a| a.dynos.iter().map(Entry::view).collect())
            .unwrap_or_default()
    }

    /// Waits for a started one-off dyno to end, stopping it when `stop` is notified: SIGTERM,
    /// then (after 10 s) SIGKILL. Logs how it ended as Heroku does (`Process exited with
    /// status N`). Returns how, and whether it was stopped.
    pub async fn until_end(
        &self,
        app_id: &str,
        name: &str,
        exit: futures_util::future::BoxFuture<'static, anyhow::Result<Outcome>>,
        terminate: &(dyn Fn() + Send + Sync),
        stop: &Notify,
    ) -> (anyhow::Result<Outcome>, bool) {
        tokio::pin!(exit);
        let (ended, stopped) = tokio::select! {
            ended = &mut exit => (ended, false),
            () = stop.notified() => {
                self.log(app_id, name, "Stopping process with SIGTERM");
                terminate();
                let ended = match tokio::time::timeout(STOP_GRACE, &mut exit).await {
                    Ok(ended) => ended,
                    // Returning drops `exit`, which kills the dyno.
                    Err(_) => {
                        self.log(app_id, name, "Stopping process with SIGKILL");
                        Ok(Outcome {
                            exit: crate::container::Exit::Signal(9),
                            oom_killed: false,
                        })
                    }
                };
                (ended, true)
            }
        };
        match &ended {
            Ok(outcome) => self.log(app_id, name, &outcome.describe()),
            Err(e) => self.log(app_id, name, &format!("Process failed: {e:#}")),
        }
        (ended, stopped)
    }

    /// Logs that an attached run's client went away (and so the run was stopped).
    pub fn client_gone(&self, app_id: &str, name: &str) {
        self.log(
            app_id,
            name,
            "Process stopped: its client went away (the connection closed)",
        );
    }

    /// A detached run: its output to the app's log, to its end.
    async fn run_detached(&self, deployment: &Deployment, spec: &OneOffSpec, stop: &Notify) {
        let app_id = &deployment.app.id;
        let one_off = match self.inner.scheduler.start_one_off(deployment, spec).await {
            Ok(one_off) => one_off,
            Err(e) => {
                self.log(app_id, &spec.name, &format!("Process failed: {e:#}"));
                return;
            }
        };
        let OneOffStreams::Pipes {
            stdin,
            stdout,
            stderr,
        } = one_off.streams
        else {
            unreachable!("a detached run has no terminal");
        };
        // No stdin: closed at once.
        drop(stdin);
        let (lines, mut received) = tokio::sync::mpsc::channel::<String>(64);
        let logs = self.inner.logs.clone();
        let (log_app, log_name) = (app_id.clone(), spec.name.clone());
        let logged = tokio::spawn(async move {
            while let Some(line) = received.recv().await {
                logs.emit(&log_app, "app", &log_name, &line);
            }
        });
        let output = {
            let lines = lines.clone();
            async move {
                tokio::join!(
                    crate::container::forward(stdout, &lines),
                    crate::container::forward(stderr, &lines)
                );
            }
        };
        drop(lines);
        let ended = self.until_end(app_id, &spec.name, one_off.exit, &*one_off.terminate, stop);
        let _ = tokio::join!(output, ended);
        let _ = logged.await;
    }

    fn log(&self, app_id: &str, name: &str, message: &str) {
        self.inner.logs.emit(app_id, "paas", name, message);
    }

    /// Takes a waiting dyno's deployment (it is then no longer waiting).
    fn take_waiting(&self, app_id: &str, name: &str) -> Option<Deployment> {
        self.apps()
            .get_mut(app_id)?
            .dynos
            .iter_mut()
            .find(|d| d.spec.name == name)?
            .waiting
            .take()
    }

    fn forget(&self, app_id: &str, name: &str) {
        let mut apps = self.apps();
        if let Some(app) = apps.get_mut(app_id) {
            app.dynos.retain(|d| d.spec.name != name);
        }
    }
}

impl Entry {
    fn view(&self) -> paas_share::models::Dyno {
        paas_share::models::Dyno {
            name: self.spec.name.clone(),
            process_type: "run".to_owned(),
            state: match (self.stopping, self.waiting.is_some()) {
                (true, _) => "down",
                (false, true) => "starting",
                (false, false) => "up",
            }
            .to_owned(),
            release: self.release,
            restarts: 0,
            command: self.spec.command.clone(),
            port: 0,
            since: self.since.clone(),
            pod: None,
            attach_url: None,
        }
    }
}

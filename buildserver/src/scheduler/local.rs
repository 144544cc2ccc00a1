//! The local scheduler: each dyno (`web.1`) is a runc container whose root is an overlay of the
//! image's layers (each unpacked once per digest) under a fresh upper dir, on the host network
//! with its own `$PORT`, as the image's user, with config vars in its environment. A deploy is
//! health-gated: the new web dynos must accept TCP on their port before the router switches to
//! them and the old dynos stop (SIGTERM, then SIGKILL after a grace period). If they do not, the
//! old release keeps serving and the deploy fails with the dyno's last log lines.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::container::{Exit, Runtime, Spec};
use crate::data_dir::DataDir;
use crate::logs::Logs;
use crate::oci::Layout;

/// How long new web dynos have to accept connections.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// Between SIGTERM and SIGKILL when a dyno stops.
const STOP_GRACE: Duration = Duration::from_secs(10);
const DYNO_MEMORY: u64 = 512 << 20;
const DYNO_PIDS: i64 = 1024;
/// Longest wait between restarts of a crashing dyno.
const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// A dyno up this long starts its restart backoff afresh.
const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// What a deploy runs.
pub struct Deployment {
    pub app_id: String,
    pub app: String,
    pub release: u32,
    /// The image's manifest digest in the local layout.
    pub image: String,
    pub process_types: BTreeMap<String, String>,
    /// Process type → dyno count.
    pub formation: BTreeMap<String, u32>,
    pub config_vars: BTreeMap<String, String>,
}

impl Deployment {
    /// Release `release` of the app with its formation; `None` if the release has no image (a
    /// config change before the first build: nothing to run).
    pub fn of(
        app_id: &str,
        app: &str,
        release: &paas_share::models::Release,
        formation: &[paas_share::models::Formation],
    ) -> Option<Self> {
        Some(Self {
            app_id: app_id.to_owned(),
            app: app.to_owned(),
            release: release.version,
            image: release.image.clone()?,
            process_types: release.process_types.clone(),
            formation: formation
                .iter()
                .map(|f| (f.process_type.clone(), f.quantity))
                .collect(),
            config_vars: release.config_vars.clone(),
        })
    }
}

/// Each app's healthy web dynos, by app name: what the router serves.
#[derive(Clone, Default)]
pub struct Routes {
    table: Arc<Mutex<HashMap<String, Route>>>,
}

/// Where an app's traffic goes.
#[derive(Clone, Debug)]
pub struct Route {
    pub app_id: String,
    pub ports: Vec<u16>,
}

impl Routes {
    pub fn get(&self, app: &str) -> Option<Route> {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(app)
            .cloned()
    }

    /// Follows an app's rename.
    pub fn rename(&self, old: &str, new: &str) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(route) = table.remove(old) {
            table.insert(new.to_owned(), route);
        }
    }

    fn set(&self, app: &str, route: Option<Route>) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        match route {
            Some(route) => table.insert(app.to_owned(), route),
            None => table.remove(app),
        };
    }
}

/// What the supervising task tells the rest about its dyno.
#[derive(Default)]
struct Supervision {
    /// Set by `stop`: an exit now is the end, not a crash.
    stopping: AtomicBool,
    /// The dyno's process has ended and waits to be restarted.
    crashed: AtomicBool,
    restarts: AtomicU32,
}

struct Dyno {
    name: String,
    supervision: Arc<Supervision>,
    container: String,
    port: u16,
    release: u32,
    command: String,
    since: String,
    task: tokio::task::JoinHandle<()>,
    /// The overlay mount and its dirs, removed when the dyno is gone.
    dir: PathBuf,
}

pub struct LocalScheduler {
    data: DataDir,
    layout: Arc<Layout>,
    logs: Logs,
    runtime: Arc<Runtime>,
    pub routes: Routes,
    dynos: tokio::sync::Mutex<HashMap<String, Vec<Dyno>>>,
    unpacking: Mutex<()>,
}

impl LocalScheduler {
    pub fn new(data: DataDir, layout: Arc<Layout>, logs: Logs) -> Self {
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
        Self {
            data,
            layout,
            logs,
            runtime,
            routes: Routes::default(),
            dynos: tokio::sync::Mutex::new(HashMap::new()),
            unpacking: Mutex::new(()),
        }
    }

    /// Starts the release's dynos, waits for the web ones, switches the router, stops the old
    /// dynos. On failure the old dynos keep running and the error says why.
    pub async fn deploy(&self, deployment: &Deployment) -> anyhow::Result<()> {
        let layers = self.layer_dirs(&deployment.image).await?;
        let mut started = Vec::new();
        for (process_type, count) in &deployment.formation {
            let Some(command) = deployment.process_types.get(process_type) else {
                continue;
            };
            for index in 1..=*count {
                started.push(self.start(deployment, &layers, process_type, index, command)?);
            }
        }
        let web: Vec<&Dyno> = started
            .iter()
            .filter(|d| d.name.starts_with("web."))
            .collect();
        if let Err(e) = wait_healthy(&web).await {
            let names: Vec<String> = web.iter().map(|d| d.name.clone()).collect();
            for dyno in started {
                self.stop(&deployment.app_id, dyno).await;
            }
            let last = self.last_lines(&deployment.app_id, &names);
            anyhow::bail!("{e}{last}");
        }
        let route = Route {
            app_id: deployment.app_id.clone(),
            ports: web.iter().map(|d| d.port).collect(),
        };
        self.routes.set(&deployment.app, Some(route));
        self.logs.emit(
            &deployment.app_id,
            "paas",
            "scheduler",
            &format!("Release v{} is up", deployment.release),
        );
        let old = self
            .dynos
            .lock()
            .await
            .insert(deployment.app_id.clone(), started)
            .unwrap_or_default();
        for dyno in old {
            self.stop(&deployment.app_id, dyno).await;
        }
        Ok(())
    }

    /// The app's dynos, as `paas ps` shows them.
    pub async fn status(&self, app_id: &str) -> Vec<paas_share::models::Dyno> {
        let dynos = self.dynos.lock().await;
        dynos
            .get(app_id)
            .into_iter()
            .flatten()
            .map(|d| paas_share::models::Dyno {
                process_type: d.name.split('.').next().unwrap_or_default().to_owned(),
                name: d.name.clone(),
                state: if d.supervision.crashed.load(Ordering::SeqCst) {
                    "crashed"
                } else {
                    "up"
                }
                .to_owned(),
                restarts: d.supervision.restarts.load(Ordering::SeqCst),
                release: d.release,
                command: d.command.clone(),
                port: d.port,
                since: d.since.clone(),
            })
            .collect()
    }

    /// Stops every dyno of the app (it is being destroyed).
    pub async fn destroy(&self, app_id: &str, app: &str) {
        self.routes.set(app, None);
        let dynos = self.dynos.lock().await.remove(app_id).unwrap_or_default();
        for dyno in dynos {
            self.stop(app_id, dyno).await;
        }
    }

    /// Stops everything (the daemon is stopping).
    pub async fn shutdown(&self) {
        let all: Vec<(String, Vec<Dyno>)> = self.dynos.lock().await.drain().collect();
        for (app_id, dynos) in all {
            for dyno in dynos {
                self.stop(&app_id, dyno).await;
            }
        }
    }

    async fn layer_dirs(&self, manifest_digest: &str) -> anyhow::Result<Vec<PathBuf>> {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.layout.blob_path(manifest_digest))?)?;
        let digests: Vec<String> = manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["digest"].as_str().map(str::to_owned))
            .collect();
        let (layout, layers_dir) = (Arc::clone(&self.layout), self.data.root().join("layers"));
        let _one_at_a_time = self
            .unpacking
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        digests
            .iter()
            .map(|d| crate::oci::unpack::cached(&layout, &layers_dir, d))
            .collect()
    }

    fn start(
        &self,
        deployment: &Deployment,
        layers: &[PathBuf],
        process_type: &str,
        index: u32,
        command: &str,
    ) -> anyhow::Result<Dyno> {
        let name = format!("{process_type}.{index}");
        let container = format!(
            "dyno-{}-{}-v{}-{name}",
            &deployment.app_id[..8],
            unique(),
            deployment.release
        );
        let dir = self.data.root().join("dynos").join(&container);
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
        .map_err(|e| anyhow::anyhow!("mounting the dyno's filesystem: {e}"))?;
        let port = free_port()?;
        let mut env = vec![
            "PATH=/app/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                .to_owned(),
            "HOME=/app".to_owned(),
        ];
        env.extend(
            deployment
                .config_vars
                .iter()
                .map(|(k, v)| format!("{k}={v}")),
        );
        env.extend([
            format!("PORT={port}"),
            format!("DYNO={name}"),
            format!("PS={name}"),
        ]);
        // The command is the app's own (from its Procfile), run by the dyno's shell after the
        // buildpacks' .profile.d scripts. The shell stays as PID 1 and passes SIGTERM on: an init
        // in a pid namespace ignores signals it has no handler for (stacks need not ship tini).
        let script = format!(
            "for f in /app/.profile.d/*.sh; do [ -f \"$f\" ] && . \"$f\"; done\n\
             trap 'kill -TERM $child 2>/dev/null' TERM INT\n\
             {command} &\nchild=$!\n\
             wait $child; status=$?\n\
             while kill -0 $child 2>/dev/null; do wait $child; status=$?; done\n\
             exit $status"
        );
        let spec = Spec {
            id: container.clone(),
            rootfs: merged,
            readonly_root: false,
            args: vec!["/bin/sh".into(), "-c".into(), script],
            env,
            cwd: "/app",
            uid: crate::build::BUILD_UID,
            gid: crate::build::BUILD_UID,
            mounts: Vec::new(),
            memory_bytes: DYNO_MEMORY,
            pids_limit: DYNO_PIDS,
            hostname: "dyno",
        };
        let (runtime, logs, app_id, dyno_name, bundle) = (
            Arc::clone(&self.runtime),
            self.logs.clone(),
            deployment.app_id.clone(),
            name.clone(),
            dir.join("bundle"),
        );
        self.logs.emit(
            &app_id,
            "paas",
            "scheduler",
            &format!(
                "Starting {name} (v{}) on port {port}: {command}",
                deployment.release
            ),
        );
        let supervision = Arc::new(Supervision::default());
        let watch = Arc::clone(&supervision);
        let task = tokio::spawn(async move {
            let (tx, mut rx) = mpsc::channel::<String>(1024);
            let logs_for_lines = logs.clone();
            let (app_for_lines, dyno_for_lines) = (app_id.clone(), dyno_name.clone());
            tokio::spawn(async move {
                while let Some(line) = rx.recv().await {
                    logs_for_lines.emit(&app_for_lines, "app", &dyno_for_lines, &line);
                }
            });
            let mut delay: Option<Duration> = None;
            loop {
                let started = Instant::now();
                watch.crashed.store(false, Ordering::SeqCst);
                // Dynos run until stopped; a year stands for "no limit".
                let outcome = runtime
                    .run(
                        &spec,
                        &bundle,
                        Duration::from_secs(365 * 86_400),
                        tx.clone(),
                    )
                    .await;
                if watch.stopping.load(Ordering::SeqCst) {
                    return;
                }
                watch.crashed.store(true, Ordering::SeqCst);
                let how = match outcome {
                    Ok(o) if o.oom_killed => "ran out of memory".to_owned(),
                    Ok(o) => match o.exit {
                        Exit::Code(code) => format!("exited with status {code}"),
                        Exit::Signal(signal) => format!("was killed by signal {signal}"),
                        Exit::TimedOut => "timed out".to_owned(),
                    },
                    Err(e) => format!("could not start: {e}"),
                };
                // Immediately once, then 1 s doubling to a cap; a dyno that stayed up long
                // enough starts the count again.
                if started.elapsed() >= BACKOFF_RESET {
                    delay = None;
                }
                let wait = delay.unwrap_or(Duration::ZERO);
                delay = Some(delay.map_or(Duration::from_secs(1), |d| (d * 2).min(BACKOFF_CAP)));
                logs.emit(
                    &app_id,
                    "paas",
                    "scheduler",
                    &format!("{dyno_name} {how}; restarting in {}s", wait.as_secs()),
                );
                tokio::time::sleep(wait).await;
                watch.restarts.fetch_add(1, Ordering::SeqCst);
            }
        });
        Ok(Dyno {
            name,
            container,
            port,
            release: deployment.release,
            command: command.to_owned(),
            since: crate::logs::rfc3339_micros(std::time::SystemTime::now()),
            supervision,
            task,
            dir,
        })
    }

    async fn stop(&self, app_id: &str, dyno: Dyno) {
        dyno.supervision.stopping.store(true, Ordering::SeqCst);
        self.runtime.signal(&dyno.container, "TERM");
        let mut task = dyno.task;
        let grace = if dyno.supervision.crashed.load(Ordering::SeqCst) {
            Duration::ZERO
        } else {
            STOP_GRACE
        };
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            // Aborting drops the run, which kills and deletes the container.
            task.abort();
            let _ = task.await;
        }
        self.logs.emit(
            app_id,
            "paas",
            "scheduler",
            &format!("Stopped {}", dyno.name),
        );
        let dir = dyno.dir;
        let _ = tokio::task::spawn_blocking(move || unmount_and_remove(&dir)).await;
    }

    fn last_lines(&self, app_id: &str, dynos: &[String]) -> String {
        let (lines, _) = self.logs.read(app_id, 200, &crate::logs::Filter::default());
        let mine: Vec<String> = lines
            .iter()
            .filter(|l| dynos.contains(&l.process) || l.process == "scheduler")
            .map(|l| format!("\n  {}[{}]: {}", l.source, l.process, l.message))
            .collect();
        let tail = &mine[mine.len().saturating_sub(8)..];
        if tail.is_empty() {
            String::new()
        } else {
            format!("\nLast log lines:{}", tail.concat())
        }
    }
}

/// Waits until every dyno accepts TCP on its port, or one of them ends, or time runs out.
async fn wait_healthy(dynos: &[&Dyno]) -> anyhow::Result<()> {
    let deadline = Instant::now() + BOOT_TIMEOUT;
    for dyno in dynos {
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", dyno.port))
                .await
                .is_ok()
            {
                break;
            }
            if dyno.supervision.crashed.load(Ordering::SeqCst)
                || dyno.supervision.restarts.load(Ordering::SeqCst) > 0
            {
                anyhow::bail!(
                    "{} stopped before accepting connections on $PORT ({})",
                    dyno.name,
                    dyno.port
                );
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "{} did not accept connections on $PORT ({}) within {}s",
                    dyno.name,
                    dyno.port,
                    BOOT_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn unmount_and_remove(dir: &std::path::Path) {
    let _ = nix::mount::umount2(&dir.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir_all(dir);
}

//! Add-on services on this host: each a runc container of the services image, as the services
//! user, with the add-on's volume bind-mounted, on the host network and its own loopback port,
//! supervised as a dyno is (up once it accepts TCP, restarted with backoff when it ends).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::layers::LayerHold;
use super::supervisor::{FirstBoot, Readiness, Supervision, Supervisor};
use super::{Grace, LocalScheduler, unique, unmount_and_remove};
use crate::build::stack::SERVICE_UID;
use crate::container::{Mount, Spec};
use crate::scheduler::{SERVICE_BACKUPS, SERVICE_VOLUME, ServiceReadiness, ServiceSpec};

const SERVICE_MEMORY: u64 = 512 << 20;
/// How long a service's `init` (initdb) may run.
const INIT_TIMEOUT: Duration = Duration::from_secs(300);
const SERVICE_PIDS: i64 = 512;

/// A running add-on service.
pub(super) struct Service {
    pub(super) port: u16,
    supervision: Arc<Supervision>,
    container: String,
    task: tokio::task::JoinHandle<()>,
    dir: PathBuf,
    _layers: LayerHold,
}

impl LocalScheduler {
    /// A container of the services image for `spec` running `args`, as the services user, with
    /// its volume and backups folder. Returns its id, directory and runc spec.
    fn service_container(
        &self,
        spec: &ServiceSpec,
        layers: &[PathBuf],
        args: Vec<String>,
    ) -> anyhow::Result<(String, PathBuf, Spec)> {
        let container = format!(
            "dyno-svc-{}-{}.{}",
            &spec.id[..8.min(spec.id.len())],
            std::process::id(),
            unique()
        );
        let (dir, rootfs) = self.overlay(&container, layers)?;
        let mut env: Vec<String> = crate::scheduler::SERVICES_ENV
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        // The host's loopback only: dynos share the host's network, nothing else reaches it.
        env.push("PAAS_LISTEN=127.0.0.1".to_owned());
        env.extend(spec.env.iter().map(|(k, v)| format!("{k}={v}")));
        let runc = Spec {
            id: container.clone(),
            rootfs,
            readonly_root: false,
            args,
            env,
            cwd: "/tmp",
            uid: SERVICE_UID,
            gid: SERVICE_UID,
            mounts: vec![
                Mount {
                    source: spec.volume.clone(),
                    destination: SERVICE_VOLUME,
                    read_only: false,
                },
                Mount {
                    source: spec.backups.clone(),
                    destination: SERVICE_BACKUPS,
                    read_only: false,
                },
            ],
            memory_bytes: SERVICE_MEMORY,
            pids_limit: SERVICE_PIDS,
            hostname: "service",
            terminal: None,
        };
        Ok((container, dir, runc))
    }

    pub(super) async fn start_service_now(
        &self,
        spec: &ServiceSpec,
        ready_within: Duration,
    ) -> anyhow::Result<()> {
        self.stop_service_now(&spec.id).await;
        if let Some(init) = &spec.init {
            self.init_service(spec, init.clone()).await?;
        }
        let layers = self.layers.hold(&spec.image).await?;
        let (container, dir, runc) =
            self.service_container(spec, layers.dirs(), spec.args.clone())?;
        let supervision = Arc::new(Supervision::new());
        let position = self.log_position(&spec.app.id);
        self.logs.emit(
            &spec.app.id,
            "paas",
            "scheduler",
            format!("Starting add-on {} on port {}", spec.name, spec.port),
        );
        let supervisor = Supervisor {
            runtime: Arc::clone(&self.runtime),
            logs: self.logs.clone(),
            app_id: spec.app.id.clone(),
            name: spec.name.clone(),
            spec: runc,
            bundle: dir.join("bundle"),
            port: spec.port,
            readiness: match spec.readiness {
                ServiceReadiness::Tcp => Readiness::Tcp,
                ServiceReadiness::Postgres => Readiness::Postgres,
            },
            boot_timeout: ready_within,
            first_boot: FirstBoot::Retries,
            supervision: Arc::clone(&supervision),
        };
        let service = Service {
            port: spec.port,
            supervision: Arc::clone(&supervision),
            container,
            task: tokio::spawn(supervisor.run()),
            dir,
            _layers: layers,
        };
        self.services().insert(spec.id.clone(), service);
        match tokio::time::timeout(ready_within + Duration::from_secs(5), supervision.wait_up())
            .await
        {
            Ok(Ok(())) => Ok(()),
            outcome => {
                let why = match outcome {
                    Ok(Err(_)) => supervision.why_not_up("it did not accept connections"),
                    _ => format!(
                        "it did not accept connections within {}s",
                        ready_within.as_secs()
                    ),
                };
                self.stop_service_now(&spec.id).await;
                let lines = self.last_lines(&spec.app.id, &spec.name, position);
                anyhow::bail!("add-on {} {why}{lines}", spec.name)
            }
        }
    }

    /// Runs the service's `init` to its end (its output to the owning app's log); `Err` says
    /// why it failed, with its last lines.
    async fn init_service(&self, spec: &ServiceSpec, init: Vec<String>) -> anyhow::Result<()> {
        let position = self.log_position(&spec.app.id);
        let (tx, mut rx) = mpsc::channel::<String>(256);
        let (logs, app_id, name) = (self.logs.clone(), spec.app.id.clone(), spec.name.clone());
        let forward = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                logs.emit(&app_id, "app", &name, &line);
            }
        });
        let outcome = self
            .run_service_task_now(spec, init, INIT_TIMEOUT, tx)
            .await;
        let _ = forward.await;
        let lines = self.last_lines(&spec.app.id, &spec.name, position);
        match outcome? {
            o if o.exit == crate::container::Exit::Code(0) => Ok(()),
            o if o.oom_killed => anyhow::bail!(
                "add-on {} ran out of memory as it was made{lines}",
                spec.name
            ),
            o => anyhow::bail!(
                "add-on {} could not be made ({}){lines}",
                spec.name,
                o.describe()
            ),
        }
    }

    pub(super) async fn stop_service_now(&self, id: &str) {
        let Some(service) = self.services().remove(id) else {
            return;
        };
        // Never cut short: services flush their data on SIGTERM.
        let never = tokio_util::sync::CancellationToken::new();
        self.ending
            .end(
                &service.container,
                &service.supervision,
                service.task,
                service.dir,
                Grace::Full,
                &never,
            )
            .await;
    }

    pub(super) fn service_state_now(&self, id: &str) -> Option<String> {
        self.services()
            .get(id)
            .map(|s| s.supervision.state().as_str().to_owned())
    }

    pub(super) async fn run_service_task_now(
        &self,
        spec: &ServiceSpec,
        args: Vec<String>,
        timeout: Duration,
        lines: mpsc::Sender<String>,
    ) -> anyhow::Result<crate::container::Outcome> {
        let layers = self.layers.hold(&spec.image).await?;
        let (_, dir, runc) = self.service_container(spec, layers.dirs(), args)?;
        // Also when this is dropped (a restore whose client went away): its container goes with
        // the run, its overlay with this.
        let overlay = Overlay(dir);
        let outcome = self
            .runtime
            .run(&runc, &overlay.0.join("bundle"), timeout, lines)
            .await;
        drop(overlay);
        drop(layers);
        Ok(outcome?)
    }

    /// Stops every service (the daemon is stopping).
    pub(super) async fn stop_services(&self) {
        let ids: Vec<String> = self.services().keys().cloned().collect();
        futures_util::future::join_all(ids.iter().map(|id| self.stop_service_now(id))).await;
    }

    /// The ports services hold: dynos never get them.
    pub(super) fn service_ports(&self) -> Vec<u16> {
        self.services().values().map(|s| s.port).collect()
    }
}

/// A task container's overlay mount and its dirs, removed when dropped.
struct Overlay(PathBuf);

impl Drop for Overlay {
    fn drop(&mut self) {
        unmount_and_remove(&self.0);
    }
}

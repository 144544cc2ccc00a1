//! Where releases run (DESIGN §1, §3.8, §3.9): the `Scheduler` operations the API, the builder
//! and the daemon use, whatever runs the dynos. `local` runs them as runc containers on this host.
//!
//! Rollback is not an operation here: the controller records the new release and deploys it like
//! any other. Logs are not one either: every scheduler writes its dynos' lines into `logs::Logs`,
//! which is the one place they are read from.

use std::collections::BTreeMap;

use paas_share::AppName;

use crate::app::AppRef;

pub mod kubernetes;
pub mod local;

/// The Procfile type whose command is the release phase (Heroku's `release:`), not a dyno type.
pub const RELEASE_PHASE_TYPE: &str = "release";

/// The process type of a canary's dynos (`canary.1`): they run the canary release's web command
/// beside the running release's dynos, and get a share of its requests.
pub const CANARY_TYPE: &str = "canary";

/// The config var naming an HTTP path that must answer 2xx or 3xx before a web dyno counts as up
/// (without it, accepting TCP on `$PORT` is enough).
pub const HEALTH_CHECK_PATH_VAR: &str = "PAAS_HEALTH_CHECK_PATH";

#[async_trait::async_trait]
pub trait Scheduler: Send + Sync {
    /// Runs the release with its formation, health-gated: the new web dynos must be up before
    /// traffic moves to them and the old dynos stop. On failure the old release keeps running and
    /// the error says why (with the dyno's last log lines).
    async fn deploy(&self, deployment: &Deployment) -> anyhow::Result<()>;

    /// Brings the running release's dyno counts to the deployment's formation, starting or
    /// stopping dynos of the types whose counts changed and no others. Returns once the new dynos
    /// are started: `status` shows when they are up. With nothing running (the daemon could not
    /// start the release when it started), the release is deployed; a deployment of another
    /// release than the one running is an error (the controller deploys releases).
    async fn scale(&self, deployment: &Deployment) -> anyhow::Result<()>;

    /// Replaces running dynos with fresh ones: all of them, one process type (`web`) or one dyno
    /// (`web.1`). Web dynos go one at a time, each new one up before its old one stops.
    async fn restart(&self, deployment: &Deployment, target: Option<&str>) -> anyhow::Result<()>;

    /// The app's dynos, as `paas ps` shows them.
    async fn status(&self, app: &AppRef) -> anyhow::Result<Vec<paas_share::models::Dyno>>;

    /// Refuses to rename the app if it cannot follow (asked before the store records the new
    /// name).
    fn can_rename(&self, app: &AppRef) -> anyhow::Result<()>;

    /// Follows a rename the store has recorded: the app's address changes with its name.
    async fn renamed(&self, app: &AppRef, new: &AppName);

    /// Runs `command` once, to its end, as one-off dyno `name` (`release.3`): a container of the
    /// deployment's image with its config vars, never counted in the formation. Its output lines
    /// go to `lines`; it is killed after `timeout`. Its stdin is empty. Dropped before it ends
    /// (its app destroyed), the run stops and leaves nothing behind on this host (on a cluster,
    /// its Job goes with the app's namespace).
    async fn run_once(
        &self,
        deployment: &Deployment,
        name: &str,
        command: &str,
        timeout: std::time::Duration,
        lines: tokio::sync::mpsc::Sender<String>,
    ) -> anyhow::Result<crate::container::Outcome>;

    /// Starts one-off dyno `spec.name` (`run.3`) of the deployment's release: a container of its
    /// image with its config vars, `spec.env` over them, no `PORT`, and a terminal or pipes,
    /// never counted in the formation. It is killed at `spec.timeout`, or when the returned
    /// [`OneOff::exit`] is dropped.
    async fn start_one_off(
        &self,
        deployment: &Deployment,
        spec: &OneOffSpec,
    ) -> anyhow::Result<OneOff>;

    /// Starts add-on service `spec` (its `init` first) and keeps it running, restarted with
    /// backoff when it ends, until it is stopped or removed. Returns once it is ready (accepts
    /// TCP on its port); if it is not within `ready_within`, it is stopped and the error says
    /// why, with its last log lines.
    async fn start_service(
        &self,
        spec: &ServiceSpec,
        ready_within: std::time::Duration,
    ) -> anyhow::Result<()>;

    /// Stops add-on service `spec` and removes what the scheduler keeps of it (on Kubernetes, its
    /// objects and its volume claim: its data); nothing when there is none.
    async fn remove_service(&self, spec: &ServiceSpec);

    /// Add-on service `spec`'s state (`starting`, `up`, `crashed`), None when it does not run.
    async fn service_state(&self, spec: &ServiceSpec) -> Option<String>;

    /// The host apps reach add-on service `name` of `app` at (`127.0.0.1` on this host).
    fn service_host(&self, app: &AppRef, name: &str) -> String;

    /// Runs `args` once, to its end, in a container of `spec`'s image with its backups folder
    /// (`pg_dump`, `pg_restore`, a password change), reaching the running service at
    /// `$PAAS_HOST:$PAAS_PORT`. `backup` says whether it writes or reads the file `$PAAS_BACKUP`
    /// names there (a scheduler whose containers do not share this host's disk copies that file
    /// out after the task, or in before it). Output lines go to `lines`; it is killed after
    /// `timeout`.
    async fn run_service_task(
        &self,
        spec: &ServiceSpec,
        args: Vec<String>,
        backup: BackupFile,
        timeout: std::time::Duration,
        lines: tokio::sync::mpsc::Sender<String>,
    ) -> anyhow::Result<crate::container::Outcome>;

    /// Starts the deployment's release as a canary beside the running release: its web command
    /// in `⌈web × weight / 100⌉` (at least one) dynos of type [`CANARY_TYPE`], health-gated as a
    /// deploy's web dynos are; then `weight` % of clients (sticky by cookie) go to them. Its
    /// other process types wait for promotion. A canary of the app already running is replaced.
    /// On failure nothing of it runs and no request reached it; the error says why.
    async fn start_canary(&self, deployment: &Deployment, weight: u8) -> anyhow::Result<()>;

    /// Sends no more requests to the app's canary and stops its dynos; nothing when none runs.
    async fn stop_canary(&self, app: &AppRef);

    /// Serves the app's edge from now on: its custom domains (besides `<app>.<domain>`), the
    /// certificates for them and its router settings. Called at start for every app and after
    /// every change; the last one given holds for the app's later deploys too.
    async fn publish_edge(&self, app: &AppRef, edge: &EdgeSpec) -> anyhow::Result<()>;

    /// Whether the paas router carries the web traffic of this scheduler's apps (and so measures
    /// their p95): the local scheduler's, and Kubernetes' with `--k8s-edge router`.
    fn routes_web(&self) -> bool;

    /// Whether this scheduler scales CPU targets by itself (Kubernetes: a
    /// HorizontalPodAutoscaler), instead of the platform's autoscaler, which judges the router's
    /// figures and the local dynos' cgroups (see the autoscale module).
    fn autoscales_cpu(&self) -> bool;

    /// Whether this scheduler scales a type autoscaled with `settings` by itself: a rule with
    /// only a CPU target, on a scheduler that [`Self::autoscales_cpu`]. The platform's autoscaler
    /// scales the others (a p95 target needs the router's figures).
    fn autoscales(&self, settings: &paas_share::models::AutoscaleSettings) -> bool {
        self.autoscales_cpu() && settings.p95_ms.is_none()
    }

    /// Hands the app's autoscaling rules (all of them, after every change and at start) to the
    /// scheduler; one that [`Self::autoscales_cpu`] scales those it [`Self::autoscales`].
    async fn publish_autoscaling(
        &self,
        app: &AppRef,
        rules: &[paas_share::models::AutoscaleRule],
    ) -> anyhow::Result<()>;

    /// The app is being destroyed (before [`Self::destroy`], which waits for the operation in
    /// progress): a deploy or restart waiting for its new dynos (or rollout) stops waiting and
    /// fails, so that a destroy does not wait out a boot or a progress deadline. Later
    /// operations on the app fail the same way ([`Destroying`]).
    fn destroying(&self, app_id: &str);

    /// Stops every dyno of the app and removes its routes (the app is being destroyed).
    async fn destroy(&self, app: &AppRef);

    /// Stops everything this daemon runs (the daemon is stopping).
    async fn shutdown(&self);
}

/// What the edge serves for one app: its custom domains, the certificates it serves them with
/// and its router settings.
#[derive(Debug, Clone, Default)]
pub struct EdgeSpec {
    /// Hostnames besides `<app>.<domain>` (`www.example.com`, `*.example.com`).
    pub domains: Vec<String>,
    pub certs: Vec<EdgeCert>,
    pub settings: paas_share::models::RouterSettings,
}

/// A certificate of an app's, as PEM.
#[derive(Clone)]
pub struct EdgeCert {
    /// `cert-3f9a1c2b`.
    pub name: String,
    /// The DNS names it covers.
    pub names: Vec<String>,
    /// Leaf first.
    pub chain: String,
    pub private_key: String,
    /// Uploaded (`paas certs:add`) rather than ordered by ACM.
    pub manual: bool,
    /// Validity, unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl std::fmt::Debug for EdgeCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeCert")
            .field("name", &self.name)
            .field("names", &self.names)
            .field("manual", &self.manual)
            .finish_non_exhaustive()
    }
}

/// The registry repository of the services image (`<registry>/paas-services@<digest>`), where a
/// scheduler on other machines pulls it from.
pub const SERVICES_REPOSITORY: &str = "paas-services";

/// The environment every container of the services image starts with, before the add-on's own:
/// PostgreSQL's programs on the `PATH` (Debian keeps `initdb` and `postgres` out of `/usr/bin`),
/// a writable `HOME`, a UTF-8 locale.
pub const SERVICES_ENV: [(&str, &str); 3] = [
    (
        "PATH",
        "/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("HOME", "/tmp"),
    ("LANG", "C.UTF-8"),
];

/// Where an add-on service's data is, inside its container (a host folder of its own, 0700, on
/// this host; its volume claim on Kubernetes).
pub const SERVICE_VOLUME: &str = "/var/lib/paas-service";
/// Where its backups are, inside the container running a backup or restore.
pub const SERVICE_BACKUPS: &str = "/var/lib/paas-backups";

/// An add-on's service (DESIGN §5): a container of the services image, as the services user,
/// with the add-on's volume, listening on a port of its own (on the host's loopback with the
/// local scheduler, in its pod on Kubernetes).
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The add-on's id: its container's name comes from it.
    pub id: String,
    /// The add-on's name: its output goes to the owning app's log as `app[<name>]`.
    pub name: String,
    /// The app that owns the add-on.
    pub app: AppRef,
    /// The services image's manifest digest in the local layout (and the registry's
    /// `paas-services` repository, when there is one).
    pub image: String,
    /// The service's command line (never a secret: those go in `env` or the volume).
    pub args: Vec<String>,
    /// Run to its end before the service each time the scheduler starts it (not on a restart
    /// after a crash; it must do nothing once the volume is ready): the provider's `initdb`.
    pub init: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub port: u16,
    /// The host folder mounted at [`SERVICE_VOLUME`].
    pub volume: std::path::PathBuf,
    /// The host folder mounted at [`SERVICE_BACKUPS`].
    pub backups: std::path::PathBuf,
    /// When the service counts as up.
    pub readiness: ServiceReadiness,
}

/// What a service task does with the backup file `$PAAS_BACKUP` names (in [`SERVICE_BACKUPS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupFile {
    /// Nothing (a password change).
    None,
    /// Writes it (`pg_dump`): whole once the task has succeeded.
    Written,
    /// Reads it (`pg_restore`).
    Read,
}

/// When an add-on's service counts as up (and apps may use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceReadiness {
    /// It accepts TCP on its port.
    Tcp,
    /// A PostgreSQL server that accepts sessions: not one that accepts TCP and still refuses
    /// them, as during crash recovery (SQLSTATE 57P03, "the database system is not yet accepting
    /// connections").
    Postgres,
}

/// A one-off dyno to start (`paas run`).
#[derive(Debug, Clone)]
pub struct OneOffSpec {
    /// `run.3`
    pub name: String,
    /// A shell command line, run as the Procfile's commands are.
    pub command: String,
    /// Variables over the release's config vars (`paas run --env`, `TERM`).
    pub env: BTreeMap<String, String>,
    /// A terminal of this size, or (None) separate pipes for stdin, stdout and stderr.
    pub terminal: Option<paas_share::models::WindowSize>,
    /// Killed after this long.
    pub timeout: std::time::Duration,
}

/// A started one-off dyno: its streams, its end, and a way to ask it to stop.
pub struct OneOff {
    pub streams: OneOffStreams,
    /// Ends when its process does (or is killed at the timeout); dropping it kills the dyno
    /// and removes what it left.
    pub exit: futures_util::future::BoxFuture<'static, anyhow::Result<crate::container::Outcome>>,
    /// Sends SIGTERM to the dyno's processes (`paas ps:stop`); [`OneOff::exit`] then ends.
    pub terminate: Box<dyn Fn() + Send + Sync>,
}

pub type Input = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;
pub type Output = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// A one-off dyno's standard streams.
pub enum OneOffStreams {
    Pipes {
        stdin: Input,
        stdout: Output,
        stderr: Output,
    },
    /// One terminal for all three.
    Terminal {
        input: Input,
        output: Output,
        resize: Box<dyn Fn(paas_share::models::WindowSize) + Send + Sync>,
    },
}

/// One operation at a time per app (deploy, scale, restart, destroy), whatever the scheduler.
#[derive(Default)]
pub struct AppLocks {
    locks:
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl AppLocks {
    /// Waits for the app's turn; it ends when the guard is dropped.
    pub async fn lock(&self, app_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = std::sync::Arc::clone(
            self.locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(app_id.to_owned())
                .or_default(),
        );
        lock.lock_owned().await
    }
}

/// Per app (or add-on), a token cancelled once it is being destroyed ([`Scheduler::destroying`])
/// until its destroy ends: what long waits (dynos coming up, a rollout, an add-on's task) stop
/// for.
#[derive(Default)]
pub struct Destroying {
    tokens:
        std::sync::Mutex<std::collections::HashMap<String, tokio_util::sync::CancellationToken>>,
}

impl Destroying {
    /// The app is being destroyed: its waits end, and later ones end at once.
    pub fn begin(&self, app_id: &str) {
        self.token(app_id).cancel();
    }

    /// Whether its destroy has begun and not ended.
    pub fn began(&self, app_id: &str) -> bool {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(app_id)
            .is_some_and(tokio_util::sync::CancellationToken::is_cancelled)
    }

    /// Its destroy has ended.
    pub fn end(&self, app_id: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(app_id);
    }

    /// `wait`, unless the app is being destroyed first (`None`; `wait` is dropped).
    pub async fn unless<T>(
        &self,
        app_id: &str,
        wait: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let destroyed = self.token(app_id);
        tokio::select! {
            out = wait => Some(out),
            () = destroyed.cancelled() => None,
        }
    }

    /// The app's token: cancelled once it is being destroyed.
    pub fn token(&self, app_id: &str) -> tokio_util::sync::CancellationToken {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(app_id.to_owned())
            .or_default()
            .clone()
    }
}

/// What a deploy runs.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub app: AppRef,
    pub release: u32,
    /// The image's manifest digest in the local layout.
    pub image: String,
    /// The registry repository of the image when it is not the app's own: an add-on client
    /// session (`pg:psql`) runs the services image ([`SERVICES_REPOSITORY`]).
    pub image_repository: Option<&'static str>,
    /// Process type → command of the dynos (never `release`).
    pub process_types: BTreeMap<String, String>,
    /// The Procfile's `release` command: the release phase, run once before the dynos start.
    pub release_command: Option<String>,
    /// Process type → dyno count.
    pub formation: BTreeMap<String, u32>,
    pub config_vars: BTreeMap<String, String>,
}

impl Deployment {
    /// Release `release` of the app with its formation; `None` if the release has no image (a
    /// config change before the first build: nothing to run).
    pub fn of(
        app: &AppRef,
        release: &paas_share::models::Release,
        formation: &[paas_share::models::Formation],
    ) -> Option<Self> {
        let mut process_types = release.process_types.clone();
        let release_command = process_types.remove(RELEASE_PHASE_TYPE);
        Some(Self {
            app: app.clone(),
            release: release.version,
            image: release.image.clone()?,
            image_repository: None,
            process_types,
            release_command,
            formation: formation
                .iter()
                .map(|f| (f.process_type.clone(), f.quantity))
                .collect(),
            config_vars: release.config_vars.clone(),
        })
    }

    /// What its dynos run, for log lines: `v3`, or `the services image` for an add-on's client
    /// session (release 0: the add-ons' `client`).
    pub fn label(&self) -> String {
        if self.release == 0 {
            "the services image".to_owned()
        } else {
            format!("v{}", self.release)
        }
    }

    /// The registry repository of its image: the app's, unless [`Deployment::image_repository`]
    /// names another.
    pub fn repository(&self) -> &str {
        self.image_repository.unwrap_or(self.app.name())
    }

    /// The path web dynos must answer on before they count as up, if the app set one.
    pub fn health_check_path(&self) -> Option<&str> {
        self.config_vars
            .get(HEALTH_CHECK_PATH_VAR)
            .map(String::as_str)
    }
}

/// The deployment of `deployment`'s canary at `weight` %: its web command as
/// [`CANARY_TYPE`], in `⌈web × weight / 100⌉` dynos (at least one), no release phase.
pub fn canary_deployment(deployment: &Deployment, weight: u8) -> anyhow::Result<Deployment> {
    let Some(web) = deployment.process_types.get("web") else {
        anyhow::bail!(
            "release v{} has no web process type: a canary takes a share of web requests",
            deployment.release
        );
    };
    if deployment.process_types.contains_key(CANARY_TYPE) {
        anyhow::bail!(
            "release v{} has a process type called {CANARY_TYPE}, the name a canary's dynos take",
            deployment.release
        );
    }
    let web_dynos = deployment.formation.get("web").copied().unwrap_or(0);
    if web_dynos == 0 {
        anyhow::bail!(
            "web is scaled to 0 dynos: a canary takes a share of web requests; scale web up first (paas scale web=1)"
        );
    }
    let count = (web_dynos * u32::from(weight)).div_ceil(100).max(1);
    Ok(Deployment {
        process_types: BTreeMap::from([(CANARY_TYPE.to_owned(), web.clone())]),
        formation: BTreeMap::from([(CANARY_TYPE.to_owned(), count)]),
        release_command: None,
        ..deployment.clone()
    })
}

/// The router's edge of an app (its domains, served certificates and settings) from what the
/// domains manager published; a certificate rustls cannot load is left out and logged (each was
/// checked when it was added, so only a change of rustls gets there).
pub fn router_edge(app: &AppRef, edge: &EdgeSpec) -> crate::router::Edge {
    let certs = edge
        .certs
        .iter()
        .filter_map(
            |cert| match crate::router::certified_key(&cert.chain, &cert.private_key) {
                Ok(key) => Some(crate::router::ServedCert {
                    names: cert.names.clone(),
                    key: std::sync::Arc::new(key),
                    manual: cert.manual,
                    not_before: cert.not_before,
                    not_after: cert.not_after,
                }),
                Err(e) => {
                    tracing::error!(app = %app.name, cert = %cert.name, error = %e, "cannot serve a certificate");
                    None
                }
            },
        )
        .collect();
    crate::router::Edge {
        domains: edge.domains.clone(),
        certs,
        settings: edge.settings.clone(),
        flow: None,
    }
}

/// The script every dyno starts with, on either scheduler, as `/bin/sh -c DYNO_SCRIPT paas-dyno
/// COMMAND` (see [`dyno_args`]). It sources the buildpacks' `.profile.d/*.sh` (as Heroku does),
/// then runs the Procfile command with `eval` in a child shell, from `$1`: the command is never
/// pasted into the script, so no command text (a `# comment`, quotes, `;`, `&`) changes how the
/// wrapper runs.
///
/// Stopping follows Heroku: SIGTERM goes to every process of the command (npm and the node it
/// starts, gunicorn and its workers), which then have the stop grace to exit. The child shell is
/// the leader of its own process group (`setsid`), the wrapper stays PID 1 (an init in a pid
/// namespace ignores signals it has no handler for, and stacks need not ship tini) and sends the
/// first SIGTERM/SIGINT it gets to that group, then waits for the child shell. That shell stays
/// until the command it runs ends (a shell runs a trap only once its foreground command has
/// returned; Debian's dash does not `exec` a `sh -c` command), then exits 143 (130 for SIGINT)
/// as Heroku's shell would die: a Procfile command that is shell code (`while :; do …; done`)
/// stops at the end of its current step instead of looping on. Handlers are not inherited by what
/// it starts. The wrapper's trap is set before anything else, and a stop that comes before the
/// command starts means it never starts; a signal sent before a shell set its trap is lost,
/// which is why the scheduler sends SIGTERM again while it waits.
const DYNO_SCRIPT: &str = "paas_dyno_command=$1 child= stopping=
trap 'if [ -z \"$stopping\" ]; then stopping=1; [ -n \"$child\" ] && { kill -TERM -$child || kill -TERM $child; } 2>/dev/null; fi' TERM INT
for f in /app/.profile.d/*.sh; do [ -f \"$f\" ] && . \"$f\"; done
[ -n \"$stopping\" ] && exit 143
setsid=; command -v setsid > /dev/null && setsid=setsid
$setsid /bin/sh -c 'trap \"exit 143\" TERM; trap \"exit 130\" INT; eval \"$1\"' paas-command \"$paas_dyno_command\" &
child=$!
[ -n \"$stopping\" ] && { kill -TERM -$child || kill -TERM $child; } 2>/dev/null
wait $child; status=$?
while kill -0 $child 2>/dev/null; do wait $child; status=$?; done
exit $status";

/// The argv of a dyno running `command` (a Procfile command, as written): see [`DYNO_SCRIPT`].
pub fn dyno_args(command: &str) -> Vec<String> {
    ["/bin/sh", "-c", DYNO_SCRIPT, "paas-dyno", command]
        .map(str::to_owned)
        .to_vec()
}

/// The script a one-off dyno starts with, as `/bin/sh -c ONE_OFF_SCRIPT paas-run COMMAND`: the
/// `.profile.d` scripts, then the command in a child shell of the wrapper's own session and
/// process group, so that on a terminal it is in the foreground (Ctrl-C reaches it as SIGINT, a
/// shell gets job control) rather than in a session of its own as a dyno's command is; a shell
/// runs a simple command by `exec`, so the command gets signals as it would locally. The wrapper
/// stays PID 1 and exits with the command's status. It traps SIGINT and SIGQUIT (a Ctrl-C the
/// command handles does not end the wrapper with 130) and SIGTERM: stopping signals every process
/// of the container (`runc kill --all`), and a stop that comes before the command has started
/// means it never starts (143).
const ONE_OFF_SCRIPT: &str = "trap 'exit 143' TERM
trap : INT QUIT
for f in /app/.profile.d/*.sh; do [ -f \"$f\" ] && . \"$f\"; done
/bin/sh -c \"$1\" paas-run
status=$?
exit $status";

/// What a one-off dyno on Kubernetes does before [`ONE_OFF_SCRIPT`]: wait for the line the server
/// sends once it has attached. The kubelet starts a pod's process before anyone can attach, so
/// without it a quick command's output would be lost, or it would have ended and left nothing to
/// attach to. An attach's stdin can be live before its stdout is (containerd adds the attach's
/// stdout after it starts copying its stdin), so the gate says [`ATTACH_PING`] on stdout every
/// 0.2 s until the line comes, and the server sends the line only once it has read a ping: the
/// command's first byte then has a reader. On a terminal, echo is off meanwhile, so that the line
/// does not show.
const ATTACH_GATE: &str = "if [ -t 0 ]; then stty -echo 2>/dev/null; fi
while :; do printf '\\033]paas-attach\\007'; sleep 0.2; done &
paas_pinger=$!
IFS= read -r paas_attached
kill $paas_pinger; wait $paas_pinger 2>/dev/null
if [ -t 0 ]; then stty echo 2>/dev/null; fi
";

/// What [`ATTACH_GATE`] writes on stdout until it is let through: an OSC sequence, which a
/// terminal shows as nothing should one ever reach it. The server reads them off the start of the
/// dyno's stdout.
pub const ATTACH_PING: &[u8] = b"\x1b]paas-attach\x07";

/// The line the server sends a gated one-off dyno once attached (see [`ATTACH_GATE`]).
pub const ATTACHED: &[u8] = b"\n";

/// What a one-off dyno on Kubernetes runs after [`ATTACH_GATE`] instead of [`ONE_OFF_SCRIPT`]
/// (the protocol is `scheduler::kubernetes::attach`'s): without a terminal, the command's stdin
/// is a FIFO fed from base64 lines, each decoded as it comes (one `base64 -d` per line: one
/// reading a stream waits for a block), until a line `.` (an attach cannot close stdin); after the
/// command, [`ATTACH_END`] on stdout (and stderr without a terminal), then lines are read until
/// `paas-ack`, which the server sends once it has all the output, and the wrapper exits with the
/// command's status. Only the feeder reads stdin while the command runs without a terminal (from
/// fd 3: an asynchronous list's stdin is `/dev/null` in a shell without job control).
const GATED_ONE_OFF_SCRIPT: &str = "trap 'exit 143' TERM
trap : INT QUIT
for f in /app/.profile.d/*.sh; do [ -f \"$f\" ] && . \"$f\"; done
if [ -t 0 ]; then
  /bin/sh -c \"$1\" paas-run
  status=$?
  stty -echo 2>/dev/null
  printf '\\033]paas-end\\007'
  while IFS= read -r paas_ack && [ \"$paas_ack\" != paas-ack ]; do :; done
  exit $status
fi
paas_in=$(mktemp -u /tmp/paas-stdin.XXXXXX) && mkfifo -m 600 \"$paas_in\" || exit 1
exec 3<&0
(
  while IFS= read -r paas_line && [ \"$paas_line\" != . ]; do printf '%s\\n' \"$paas_line\" | base64 -d; done > \"$paas_in\"
  while IFS= read -r paas_line && [ \"$paas_line\" != paas-ack ]; do :; done
) <&3 &
paas_feeder=$!
/bin/sh -c \"$1\" paas-run < \"$paas_in\" 3<&-
status=$?
rm -f \"$paas_in\"
printf '\\033]paas-end\\007'
printf '\\033]paas-end\\007' >&2
wait $paas_feeder
exit $status";

/// Where a gated one-off's output ends (see [`GATED_ONE_OFF_SCRIPT`]): an OSC sequence, read off
/// by the server.
pub const ATTACH_END: &[u8] = b"\x1b]paas-end\x07";

/// The argv of one-off dyno running `command`: see [`ONE_OFF_SCRIPT`]; `gated` (Kubernetes) first
/// waits for [`ATTACHED`] on stdin (see [`ATTACH_GATE`]) and runs [`GATED_ONE_OFF_SCRIPT`].
pub fn one_off_args(command: &str, gated: bool) -> Vec<String> {
    let script = if gated {
        format!("{ATTACH_GATE}{GATED_ONE_OFF_SCRIPT}")
    } else {
        ONE_OFF_SCRIPT.to_owned()
    };
    vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        script,
        "paas-run".to_owned(),
        command.to_owned(),
    ]
}

/// Whether `path` can be a health check path: absolute, printable ASCII, no spaces.
pub fn valid_health_check_path(path: &str) -> bool {
    path.starts_with('/') && path.len() <= 1024 && path.bytes().all(|b| b.is_ascii_graphic())
}

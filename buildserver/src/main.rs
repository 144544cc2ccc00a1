//! `paas-buildserver`: the daemon (`serve`), its operator commands (`user create`, `stack build`)
//! and the git hook it installs (`hook pre-receive`).
//!
//! `serve` runs a fixed sequence: load config (exit 64 on bad config) → open the store and make
//! the first admin → bind listeners and announce them → serve → on SIGTERM/SIGINT stop accepting
//! and drain in-flight requests with a grace timeout.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures_util::future::join_all;
use paas_buildserver::api::{self, AppState};
use paas_buildserver::build::live::LiveBuilds;
use paas_buildserver::build::{self, Builder, stack};
use paas_buildserver::config::{Config, DataDirArgs, ServeArgs};
use paas_buildserver::config::{KubernetesEdge, SchedulerKind};
use paas_buildserver::container::Runtime;
use paas_buildserver::data_dir::{DataDir, write_atomic};
use paas_buildserver::domains::CertificateAuthority;
use paas_buildserver::git::{self, hook, push::Pushes};
use paas_buildserver::logs::Logs;
use paas_buildserver::oci::Layout;
use paas_buildserver::registry::Registry;
use paas_buildserver::router::Routes;
use paas_buildserver::scheduler::Scheduler;
use paas_buildserver::scheduler::kubernetes::KubernetesScheduler;
use paas_buildserver::scheduler::kubernetes::manifests::ClusterSettings;
use paas_buildserver::scheduler::local::LocalScheduler;
use paas_buildserver::ssh::{self, server::SshShared};
use paas_buildserver::store::{Db, Store, User, UserDeletion};
use paas_buildserver::token;
use paas_buildserver::urls::PublicUrls;
use paas_share::{AppName, UserName};
use tokio::net::{TcpListener, UnixListener};

/// mimalloc: the router and the API allocate per request, and glibc's malloc cost the router
/// about a tenth of its CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// sysexits' EX_CONFIG: the configuration is wrong, retrying will not help.
const EXIT_CONFIG: u8 = 64;
/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The largest request head the API and the router read, 431 beyond: 32 KiB, what nginx's
/// default `large_client_header_buffers 4 8k` holds.
const MAX_HEADER_BYTES: usize = 32 * 1024;

#[derive(Parser)]
#[command(
    name = "paas-buildserver",
    version,
    about = "The paas server: git push, builds, releases and the HTTP API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server
    Serve(Box<ServeArgs>),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage build stacks
    #[command(subcommand)]
    Stack(StackCommand),
    /// Delete images that no recent release uses
    Gc {
        /// How many of each app's newest releases keep their images
        #[arg(long, default_value_t = 10)]
        keep: usize,
        /// Leave blobs younger than this many seconds (builds in progress write them)
        #[arg(long, default_value_t = 3600)]
        grace: u64,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Git hooks (run by git during a push, not by people)
    #[command(subcommand, hide = true)]
    Hook(HookCommand),
}

#[derive(Subcommand)]
enum StackCommand {
    /// Build a stack from a recipe: its run image and its build image (Debian: downloads about 250 MB)
    ///
    /// The stack takes the recipe's name and replaces a stack of that name whole; apps on it use
    /// the new one from their next build. The first stack made becomes the server's default.
    Build {
        /// bookworm (Python 3.11, Node.js 18), trixie (Python 3.13, Node.js 20), or busybox
        /// (static sites and shell Procfiles only)
        #[arg(long, value_enum, default_value = "bookworm")]
        recipe: stack::Recipe,
        /// Keep the stack if it exists and was made from this same recipe (its package lists);
        /// without it the stack is made afresh, with Debian's current packages
        #[arg(long)]
        keep_current: bool,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Use an image from a registry as a stack (host[:port]/repository[:tag|@digest])
    ///
    /// The image is both the stack's run and build image.
    Import {
        reference: String,
        /// The stack's name [default: the repository's last component]
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Plain HTTP to the registry
        #[arg(long)]
        insecure: bool,
        /// Registry user name; the password comes from PAAS_REGISTRY_PASSWORD
        #[arg(long, value_name = "NAME")]
        username: Option<String>,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Make a stack the server's default: the one new apps get (apps keep theirs)
    Default {
        name: String,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Carry the CA certificates added on this host into every stack again (after adding or removing one)
    ///
    /// Copies every *.crt under the CA directory into each stack, refreshes its trust stores with
    /// its own update-ca-certificates, and remakes the stack's CA layer (its other layers stay).
    /// Builds trust them from then on; apps pick them up at their next build.
    UpdateCa {
        /// Where the host's added CA certificates are
        #[arg(long, value_name = "DIR", default_value = stack::HOST_CA_DIR)]
        ca_dir: PathBuf,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Show the stacks (* marks the default), their runtimes and layers
    List {
        #[command(flatten)]
        data: DataDirArgs,
    },
}

#[derive(Subcommand)]
enum HookCommand {
    /// The pre-receive hook: hands the push to the daemon and prints the build
    PreReceive,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print their API token (shown once)
    Create {
        /// 1 to 30 lowercase letters, digits and dashes, starting with a letter
        name: String,
        /// Let the user see and change every app
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Delete a user: their API tokens and SSH keys stop working at once
    ///
    /// A user who owns apps is refused (destroy or hand over their apps first). Builds and
    /// releases they made keep naming them.
    Delete {
        name: String,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// A user's API tokens
    #[command(subcommand)]
    Tokens(TokensCommand),
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Revoke every API token of a user (a lost laptop, a leaked CI secret)
    ///
    /// Requests with them answer 401 from then on. With --new, prints a fresh token for them
    /// (shown once).
    Revoke {
        name: String,
        /// Give the user a new token and print it
        #[arg(long)]
        new: bool,
        #[command(flatten)]
        data: DataDirArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    match cli.command {
        Command::Serve(args) => {
            let config = match args.resolve() {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            report(run_server(config))
        }
        Command::User(UserCommand::Create { name, admin, data }) => {
            report(create_user(&name, admin, &data))
        }
        Command::User(UserCommand::Delete { name, data }) => report(delete_user(&name, &data)),
        Command::User(UserCommand::Tokens(TokensCommand::Revoke { name, new, data })) => {
            report(revoke_tokens(&name, new, &data))
        }
        Command::Stack(StackCommand::Build {
            recipe,
            keep_current,
            data,
        }) => report(build_stack(recipe, keep_current, &data)),
        Command::Stack(StackCommand::Import {
            reference,
            name,
            insecure,
            username,
            data,
        }) => report(import_stack(&reference, name, insecure, username, &data)),
        Command::Stack(StackCommand::Default { name, data }) => report(default_stack(&name, &data)),
        Command::Stack(StackCommand::List { data }) => report(list_stacks(&data)),
        Command::Stack(StackCommand::UpdateCa { ca_dir, data }) => {
            report(update_stack_ca(&ca_dir, &data))
        }
        Command::Gc { keep, grace, data } => report(collect_garbage(keep, grace, &data)),
        Command::Hook(HookCommand::PreReceive) => {
            ExitCode::from(u8::try_from(hook::pre_receive()).unwrap_or(1))
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn open_store(data: &DataDir) -> anyhow::Result<Db> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data.root())
        .with_context(|| format!("cannot create the data dir {}", data.root().display()))?;
    Ok(Db::open(&data.database())?)
}

/// The data dir of a `stack` command, with a stack from before stacks had names moved to its name.
fn stacks_data_dir(data: &DataDirArgs) -> anyhow::Result<DataDir> {
    let data = DataDir::new(data.resolve()?);
    stack::migrate(&data)?;
    Ok(data)
}

fn build_stack(
    recipe: stack::Recipe,
    keep_current: bool,
    data: &DataDirArgs,
) -> anyhow::Result<()> {
    let data = stacks_data_dir(data)?;
    let stack = stack::build(&data, recipe, keep_current)?;
    stack_ready(&data, &stack);
    Ok(())
}

fn stack_ready(data: &DataDir, stack: &stack::Stack) {
    if stack.name == stack::SERVICES {
        return eprintln!(
            "-----> Stack {} ready: add-ons (paas addons:create postgresql | redis) run on it",
            stack.name
        );
    }
    let default = stack::default_name(data);
    eprintln!(
        "-----> Stack {} ready ({}){}",
        stack.name,
        stack.runtimes_line(),
        if default.as_deref() == Some(stack.name.as_str()) {
            ", the server's default".to_owned()
        } else {
            format!(
                "; apps choose it with `paas stack:set {}`, or make it the default: \
                 paas-buildserver stack default {}",
                stack.name, stack.name
            )
        }
    );
}

fn import_stack(
    reference: &str,
    name: Option<String>,
    insecure: bool,
    username: Option<String>,
    data: &DataDirArgs,
) -> anyhow::Result<()> {
    let data = stacks_data_dir(data)?;
    let credentials = match username {
        Some(username) => {
            let password = std::env::var("PAAS_REGISTRY_PASSWORD")
                .context("--username needs PAAS_REGISTRY_PASSWORD")?;
            Some(paas_buildserver::registry::Credentials { username, password })
        }
        None => None,
    };
    let name = match name {
        Some(name) => name,
        None => stack::import_name(reference)?,
    };
    let stack = stack::import(&data, &name, reference, insecure, credentials)?;
    stack_ready(&data, &stack);
    Ok(())
}

fn default_stack(name: &str, data: &DataDirArgs) -> anyhow::Result<()> {
    let data = stacks_data_dir(data)?;
    stack::set_default(&data, name)?;
    eprintln!("-----> {name} is the server's default stack: new apps get it (apps keep theirs)");
    Ok(())
}

fn update_stack_ca(ca_dir: &Path, data: &DataDirArgs) -> anyhow::Result<()> {
    let data = stacks_data_dir(data)?;
    let stacks = stack::installed(&data)?;
    if stacks.is_empty() {
        bail!("there is no stack yet: run `paas-buildserver stack build`");
    }
    for stack in stacks {
        let carried = stack.update_ca(ca_dir, |line| eprintln!("{line}"))?;
        stack.unpack_layers(|line| eprintln!("{line}"))?;
        eprintln!(
            "-----> Stack {} trusts {carried} CA certificates added on the host",
            stack.name
        );
    }
    Ok(())
}

fn list_stacks(data: &DataDirArgs) -> anyhow::Result<()> {
    let data = stacks_data_dir(data)?;
    let stacks = stack::installed(&data)?;
    if stacks.is_empty() {
        eprintln!("No stack yet: run `paas-buildserver stack build`");
        return Ok(());
    }
    let default = stack::default_name(&data);
    let mut out = std::io::stdout().lock();
    for stack in stacks {
        let mark = if default.as_deref() == Some(stack.name.as_str()) {
            '*'
        } else {
            ' '
        };
        writeln!(
            out,
            "{mark} {} ({}; {}; {})",
            stack.name,
            stack.origin(),
            stack.runtimes_line(),
            if stack.has_build_image() {
                "build image with compilers"
            } else {
                "builds on its run image"
            }
        )?;
        for layer in stack.recorded_layers()? {
            writeln!(
                out,
                "    {}  {:.1} MB",
                layer.digest,
                layer.size as f64 / 1e6
            )?;
        }
    }
    Ok(())
}

fn collect_garbage(keep: usize, grace: u64, data: &DataDirArgs) -> anyhow::Result<()> {
    let data = DataDir::new(data.resolve()?);
    let db = open_store(&data)?;
    let images: std::collections::BTreeSet<String> = db.recent_images(keep)?.into_iter().collect();
    let layout = Layout::open(&data.oci())?;
    let report = paas_buildserver::oci::gc::collect(&layout, &images, Duration::from_secs(grace))?;
    let mut build_dirs = 0;
    for id in db.finished_builds()? {
        let dir = data.build(&id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            build_dirs += 1;
        }
    }
    eprintln!(
        "Kept {} images; removed {} blobs ({:.1} MB) and {build_dirs} finished build directories",
        report.kept_images,
        report.removed_blobs,
        report.freed_bytes as f64 / 1e6
    );
    Ok(())
}

/// Names the audit log gives the platform itself and operator commands: no user may hold one,
/// or their changes would read as the platform's.
const RESERVED_USER_NAMES: &[&str] = &["paas", "operator"];

fn create_user(name: &str, admin: bool, data: &DataDirArgs) -> anyhow::Result<()> {
    let name = UserName::parse(name)?;
    if RESERVED_USER_NAMES.contains(&name.as_str()) {
        bail!(
            "{name} is reserved: the audit log names the platform `paas` and operator commands `operator`; pick another name"
        );
    }
    let mut db = open_store(&DataDir::new(data.resolve()?))?;
    let new = token::generate();
    db.create_user(&name, admin, &new)?;
    operator_did(
        &mut db,
        "user.create",
        serde_json::json!({ "user": name, "admin": admin }),
    );
    eprintln!("Created user {name}. Their API token (shown once; log in with `paas login`):");
    writeln!(std::io::stdout(), "{}", new.token).context("writing the token")?;
    Ok(())
}

/// Appends what an operator command did to the audit log (actor `operator`, source `server`).
fn operator_did(db: &mut Db, action: &str, detail: serde_json::Value) {
    let entry = paas_buildserver::store::AuditRecord {
        actor: "operator".to_owned(),
        token_id: None,
        source: "server".to_owned(),
        app_id: None,
        app: None,
        action: action.to_owned(),
        detail,
        outcome: "success",
        status: None,
    };
    if let Err(e) = db.record_audit(&entry) {
        eprintln!("warning: the audit log could not record this: {e}");
    }
}

/// User `name` of the store in `data`, or an error naming the command that lists users.
fn existing_user(name: &str, data: &DataDirArgs) -> anyhow::Result<(Db, User)> {
    let name = UserName::parse(name)?;
    let db = open_store(&DataDir::new(data.resolve()?))?;
    let user = db
        .user_named(&name)?
        .with_context(|| format!("there is no user {name}"))?;
    Ok((db, user))
}

fn delete_user(name: &str, data: &DataDirArgs) -> anyhow::Result<()> {
    let (mut db, user) = existing_user(name, data)?;
    match db.delete_user(&user)? {
        UserDeletion::OwnsApps(apps) => bail!(
            "{name} owns {} app(s): {}; destroy them (or have them destroyed) first",
            apps.len(),
            apps.iter()
                .map(AppName::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        deleted => {
            operator_did(&mut db, "user.delete", serde_json::json!({ "user": name }));
            eprintln!(
                "Deleted user {name}: their API tokens and SSH keys no longer work{}",
                if deleted == UserDeletion::KeptForHistory {
                    " (builds and releases they made still name them)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

fn revoke_tokens(name: &str, new: bool, data: &DataDirArgs) -> anyhow::Result<()> {
    let (mut db, user) = existing_user(name, data)?;
    let fresh = new.then(token::generate);
    let revoked = db.revoke_tokens(&user, fresh.as_ref())?;
    operator_did(
        &mut db,
        "token.revoke",
        serde_json::json!({ "user": name, "revoked": revoked, "new": new }),
    );
    eprintln!("Revoked {revoked} API token(s) of {name}.");
    if let Some(fresh) = fresh {
        eprintln!("Their new API token (shown once; log in with `paas login`):");
        writeln!(std::io::stdout(), "{}", fresh.token).context("writing the token")?;
    }
    Ok(())
}

/// On first start: the admin user, with its token in `<data-dir>/admin-token` (0600).
fn ensure_admin(db: &mut Db, data: &DataDir) -> anyhow::Result<()> {
    if db.user_count()? > 0 {
        return Ok(());
    }
    let new = token::generate();
    let path = data.admin_token();
    // The token file exists before the user does: a crash in between leaves a token that does not
    // work yet, and the next start writes a new one.
    write_atomic(&path, format!("{}\n", new.token).as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", path.display()))?;
    db.create_user(&UserName::parse("admin").expect("a valid name"), true, &new)?;
    eprintln!(
        "Created the admin user; its API token is in {}",
        path.display()
    );
    Ok(())
}

/// Runs [`serve`] on a multi-threaded runtime that, once it returns, waits at most 5 s for tasks
/// still blocked in a thread (a write nobody will read): the daemon's stop is never held up.
fn run_server(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(serve(config));
    runtime.shutdown_timeout(Duration::from_secs(5));
    served
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let data = DataDir::new(config.data_dir.clone());
    let mut db = open_store(&data)?;
    let _one_server = data.lock_for_serving()?;
    ensure_admin(&mut db, &data)?;
    stack::migrate(&data).context("moving the stack to its name")?;
    if let Some(default) = stack::default_name(&data) {
        let assigned = db.assign_default_stack(&default)?;
        if assigned > 0 {
            tracing::info!(apps = assigned, stack = %default, "apps without a stack put on the default");
        }
    }
    // Builds and pushes a killed daemon cut short: recorded as failed, their directories and
    // git's quarantines removed (nothing refers to them).
    let interrupted = db.fail_unfinished_builds()?;
    if !interrupted.is_empty() {
        tracing::warn!(
            builds = interrupted.len(),
            "marked builds interrupted by the last stop as failed"
        );
    }
    for id in &interrupted {
        if let Err(e) = std::fs::remove_dir_all(data.build(id))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, build = %id, "cannot remove an interrupted build's directory");
        }
    }
    // Releases a stopped server left pending or deploying never became current: they are
    // failed (documented rule, README "Releases"), and each app runs its current release again.
    let unfinished = db.fail_unfinished_releases(paas_buildserver::release::INTERRUPTED)?;
    if !unfinished.is_empty() {
        tracing::warn!(releases = ?unfinished, "marked releases interrupted by the last stop as failed");
    }
    let quarantines = paas_buildserver::git::remove_quarantines(&data)
        .context("removing the quarantines of interrupted pushes")?;
    if quarantines > 0 {
        tracing::warn!(
            quarantines,
            "removed the objects of pushes interrupted by the last stop"
        );
    }
    let store = Store::new(db);
    prepare_data_dir(&data)?;

    let api_listener = TcpListener::bind(config.api_listen)
        .await
        .with_context(|| format!("cannot listen on {} (--api-listen)", config.api_listen))?;
    let ssh_listener = TcpListener::bind(config.ssh_listen)
        .await
        .with_context(|| format!("cannot listen on {} (--ssh-listen)", config.ssh_listen))?;
    let _ = std::fs::remove_file(data.hook_socket());
    let hook_listener = UnixListener::bind(data.hook_socket())
        .with_context(|| format!("cannot listen on {}", data.hook_socket().display()))?;
    std::fs::set_permissions(data.hook_socket(), std::fs::Permissions::from_mode(0o600))?;
    let router_listener = TcpListener::bind(config.router_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (--router-listen)",
                config.router_listen
            )
        })?;
    let router_tls_listener = match config.router_tls_listen {
        Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (--router-tls-listen; `off` serves no HTTPS)")
        })?),
        None => None,
    };
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))?,
        ),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(listener) => Some(listener.local_addr()?),
        None => None,
    };
    let router_tls_addr = match &router_tls_listener {
        Some(listener) => Some(listener.local_addr()?),
        None => None,
    };
    let (api_addr, ssh_addr, router_addr) = (
        api_listener.local_addr()?,
        ssh_listener.local_addr()?,
        router_listener.local_addr()?,
    );

    let layout = Arc::new(Layout::open(&data.oci()).context("opening the OCI image layout")?);
    let challenges = paas_buildserver::router::Challenges::default();
    // Every long-running task of the daemon watches it to stop.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics = if config.metrics {
        paas_buildserver::metrics::Metrics::default()
    } else {
        paas_buildserver::metrics::Metrics::off()
    };
    if let Err(e) = metrics.load(&store, paas_buildserver::unix_now()).await {
        tracing::warn!(error = %e, "cannot read the stored metrics back");
    }
    let live_builds = LiveBuilds::default();
    let logs = Logs::new();
    let shutdown_logs = logs.clone();
    // The router serves the local scheduler's dynos; on Kubernetes, pods (`--k8s-edge router`)
    // or nothing (the cluster's ingress controller does).
    // `--k8s-builds job`: builds run on the cluster too.
    let mut build_jobs: Option<Arc<dyn paas_buildserver::build::remote::BuildJobs>> = None;
    let (scheduler, routes, web_port): (Arc<dyn Scheduler>, Routes, u16) = match config.scheduler {
        SchedulerKind::Local => {
            let local = Arc::new(LocalScheduler::new(
                data.clone(),
                Arc::clone(&layout),
                logs.clone(),
                config.dynos,
                metrics.clone(),
            )?);
            tokio::spawn(Arc::clone(&local).sample_forever(stop_rx.clone()));
            let routes = local.routes.clone();
            (local, routes, router_addr.port())
        }
        SchedulerKind::Kubernetes => {
            let registry = config
                .registry
                .as_ref()
                .context("the kubernetes scheduler needs --registry")?;
            let cluster = &config.kubernetes;
            let settings = ClusterSettings {
                registry: registry.to_string(),
                domain: config.domain.clone(),
                ingress_class: cluster.ingress_class.clone(),
                progress_deadline_seconds: cluster.progress_deadline_seconds,
                termination_grace_seconds: config.dynos.stop_grace.as_secs(),
                pull_secret: config.registry_credentials.is_some(),
                auto_rollback: cluster.auto_rollback,
                storage_class: cluster.storage_class.clone(),
                cert_manager_issuer: cluster.cert_manager_issuer.clone(),
            };
            let pull = config.registry_credentials.as_ref().map(|c| {
                (
                    registry.host.clone(),
                    c.username.clone(),
                    c.password.clone(),
                )
            });
            // The paas router serves the apps (from their EndpointSlices), or the cluster's
            // ingress controller on port 80 does.
            let (routes, web_port) = match cluster.edge {
                KubernetesEdge::Router => (Some(Routes::default()), router_addr.port()),
                KubernetesEdge::Ingress => (None, 80),
            };
            let kubernetes = KubernetesScheduler::connect(
                cluster.kubeconfig.as_deref(),
                settings,
                pull,
                logs.clone(),
                routes.clone(),
            )
            .await?;
            let kubernetes = Arc::new(kubernetes);
            if cluster.build_jobs {
                build_jobs = Some(Arc::clone(&kubernetes) as _);
            }
            (kubernetes, routes.unwrap_or_default(), web_port)
        }
    };
    let store_for_restore = store.clone();
    let urls = Arc::new(PublicUrls {
        domain: config.domain.clone(),
        ssh_port: ssh_addr.port(),
        router_port: web_port,
    });
    let registry = config.registry.clone().map(|target| {
        Arc::new(
            Registry::new(
                target,
                config.registry_insecure,
                config.registry_credentials.clone(),
            )
            .with_timeout(config.registry_timeout),
        )
    });
    let drains = Arc::new(paas_buildserver::drains::Drains::new(
        store.clone(),
        logs.clone(),
        config.drain_ca_file.as_deref(),
        config.targets,
    )?);
    tokio::spawn(Arc::clone(&drains).sync_forever(stop_rx.clone()));
    let alerts = paas_buildserver::alerts::Alerts::new(
        store.clone(),
        metrics.clone(),
        config.alert_window,
        config.targets,
    );
    tokio::spawn(alerts.clone().run_forever(stop_rx.clone()));
    let releases = Arc::new(paas_buildserver::release::Controller::new(
        store.clone(),
        Arc::clone(&scheduler),
        logs.clone(),
        paas_buildserver::release::Limits {
            release_timeout: config.release_timeout,
            max_dynos_per_app: config.max_dynos_per_app,
        },
        Arc::clone(&layout),
        registry.clone(),
        Arc::clone(&urls),
        alerts.clone(),
        metrics.clone(),
    ));
    tokio::spawn(paas_buildserver::release::watch_canaries(
        Arc::clone(&releases),
        stop_rx.clone(),
    ));
    let one_offs = paas_buildserver::one_off::OneOffs::new(
        Arc::clone(&scheduler),
        logs.clone(),
        config.one_offs,
    );
    let addons = Arc::new(paas_buildserver::addons::Addons::new(
        store.clone(),
        data.clone(),
        Arc::clone(&layout),
        Arc::clone(&scheduler),
        Arc::clone(&releases),
        registry.clone(),
        logs.clone(),
        paas_buildserver::addons::Settings {
            ready_within: config.dynos.boot_timeout,
            backups_kept: config.addon_backups_kept,
        },
    ));
    // The paas router answers HTTP-01 challenges wherever it is the edge; behind the cluster's
    // ingress controller, cert-manager orders certificates, if the server names its issuer.
    let router_is_edge = config.scheduler == SchedulerKind::Local
        || config.kubernetes.edge == KubernetesEdge::Router;
    let authority = if router_is_edge {
        CertificateAuthority::Acme(paas_buildserver::domains::acme::Acme::new(
            config.acme.clone(),
            data.root().join("acme/account.json"),
            challenges.clone(),
        )?)
    } else if config.kubernetes.cert_manager_issuer.is_some() {
        CertificateAuthority::CertManager
    } else {
        CertificateAuthority::None(
            "on Kubernetes behind an ingress controller, certificates come from cert-manager: the server needs --k8s-cert-manager-issuer NAME (or --k8s-edge router) to turn ACM on",
        )
    };
    let domains = Arc::new(paas_buildserver::domains::Domains::new(
        store.clone(),
        Arc::clone(&scheduler),
        logs.clone(),
        config.domain.clone(),
        authority,
    ));
    let pushes = Pushes::default();
    let state = AppState {
        addons: Arc::clone(&addons),
        domains: Arc::clone(&domains),
        metrics: metrics.clone(),
        alerts,
        drains: Arc::clone(&drains),
        releases: Arc::clone(&releases),
        store: store.clone(),
        data: data.clone(),
        builds: live_builds.clone(),
        logs: logs.clone(),
        layout: Arc::clone(&layout),
        scheduler: Arc::clone(&scheduler),
        urls: Arc::clone(&urls),
        renames: Default::default(),
        one_offs: one_offs.clone(),
        pushes: pushes.clone(),
        token_max_age: config.token_max_age,
    };
    let runtime = Runtime {
        state_dir: data.root().join("run/runc"),
    };
    let leftovers = runtime.remove_leftovers("build-");
    if !leftovers.is_empty() {
        tracing::warn!(containers = ?leftovers, "removed build containers left by the last stop");
    }
    let builder = Arc::new(Builder {
        store: store.clone(),
        layout,
        registry,
        live: live_builds.clone(),
        logs: logs.clone(),
        data: data.clone(),
        runtime,
        limits: build::Limits {
            time: config.build_timeout,
            memory_bytes: config.build_memory_bytes,
        },
        env: config.build_env.clone(),
        jobs: build_jobs,
        build_images: std::sync::Mutex::default(),
    });
    let ssh_shared = Arc::new(SshShared {
        store,
        data: data.clone(),
        pushes: pushes.clone(),
        max_input_bytes: config.max_push_bytes,
    });
    let host_key = ssh::host_key::load_or_generate(&data.ssh_host_key())?;
    // What `git push` asks the user to accept the first time: the log line lets them check it.
    let host_key_fingerprint = ssh::host_key::fingerprint(&host_key);

    let (api_limits, router_limits) = connection_budgets(config.header_timeout);
    if let Some(listener) = metrics_listener {
        let mut metrics_stop = stop_rx.clone();
        tokio::spawn(api::serve_prometheus(
            listener,
            state.clone(),
            api_limits,
            async move {
                let _ = metrics_stop.wait_for(|stop| *stop).await;
            },
        ));
    }
    let mut api_stop = stop_rx.clone();
    let api = tokio::spawn(api::serve(api_listener, state, api_limits, async move {
        let _ = api_stop.wait_for(|stop| *stop).await;
    }));
    let ssh = tokio::spawn(ssh::server::serve(
        ssh_listener,
        ssh::server::config(host_key, config.ssh_idle_timeout),
        ssh_shared,
        stop_rx.clone(),
    ));
    let hooks = tokio::spawn(hook::serve(
        hook_listener,
        pushes,
        builder,
        Arc::clone(&releases),
        stop_rx.clone(),
    ));
    let router = tokio::spawn(paas_buildserver::router::serve(
        paas_buildserver::router::Listeners {
            http: router_listener.into_std()?,
            tls: router_tls_listener.map(|l| l.into_std()).transpose()?,
        },
        paas_buildserver::router::Settings {
            routes,
            challenges,
            metrics: metrics.clone(),
            domain: config.domain.clone(),
            timeout: config.router_timeout,
            limits: router_limits,
        },
        store_for_restore.clone(),
        logs.clone(),
        stop_rx.clone(),
    ));
    // The signal handlers exist from here on: a SIGTERM while releases are restored is handled
    // once they are (their dynos are then stopped), not by dying with dynos left running.
    let stopping = shutdown_signal()?;
    // Services first: the apps' dynos connect to their databases as they start.
    if let Err(e) = addons.start_all().await {
        tracing::error!(error = %format!("{e:#}"), "cannot start the add-ons' services");
    }
    // Domains and certificates before dynos: a restored dyno is reachable at all its names.
    if let Err(e) = domains.publish_all().await {
        tracing::error!(error = %format!("{e:#}"), "cannot publish the apps' domains and certificates");
    }
    let renewals = tokio::spawn(Arc::clone(&domains).renew_forever(stop_rx.clone()));
    if let Err(e) =
        paas_buildserver::autoscale::publish_all(&store_for_restore, scheduler.as_ref()).await
    {
        tracing::error!(error = %format!("{e:#}"), "cannot publish the apps' autoscaling rules");
    }
    // Every rule the scheduler does not scale by itself (all of them on the local scheduler).
    let autoscaler = paas_buildserver::autoscale::Autoscaler::new(
        store_for_restore.clone(),
        metrics.clone(),
        Arc::clone(&releases),
        Arc::clone(&scheduler),
        logs.clone(),
        config.autoscale,
    );
    tokio::spawn(autoscaler.run_forever(stop_rx.clone()));
    let metrics_kept = tokio::spawn(
        metrics
            .clone()
            .persist_forever(store_for_restore.clone(), stop_rx.clone()),
    );
    restore_releases(&store_for_restore, scheduler.as_ref()).await;

    tracing::info!(api = %api_addr, ssh = %ssh_addr, router = %router_addr, router_tls = %router_tls_addr.map_or("off".to_owned(), |a| a.to_string()), metrics = %metrics_addr.map_or("off".to_owned(), |a| a.to_string()), data_dir = %data.root().display(), ssh_host_key = %host_key_fingerprint, "paas-buildserver listening");
    if let Some(path) = &config.ready_file {
        let ready = serde_json::json!({
            "api": api_addr.to_string(),
            "ssh": ssh_addr.to_string(),
            "router": router_addr.to_string(),
            "router_tls": router_tls_addr.map(|a| a.to_string()),
            "metrics": metrics_addr.map(|a| a.to_string()),
        });
        write_ready_file(path, &ready)?;
    }

    stopping.await;
    tracing::info!("shutting down");
    stop_tx.send_replace(true);
    // Log tails never end on their own; end them so that draining does not wait for them.
    shutdown_logs.close_all();
    let _ = tokio::join!(ssh, hooks, router, renewals, metrics_kept);
    // Dynos stop with the daemon (SIGTERM, then SIGKILL) and start again from the store on the
    // next start: nothing outlives the daemon unsupervised. One-off dynos end for good.
    one_offs.stop_everything().await;
    scheduler.shutdown().await;
    match tokio::time::timeout(SHUTDOWN_GRACE, api).await {
        Ok(joined) => joined
            .context("the API task panicked")?
            .context("serving the API")?,
        Err(_) => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "requests still running after the grace period; stopping anyway")
        }
    }
    Ok(())
}

/// The API's and the router's connection budgets, out of the daemon's file descriptors (raised
/// to the hard limit) less a reserve for SSH, git, builds, dynos and the store: the router may
/// use three quarters of the rest (two descriptors a request: the client's and the dyno's), the
/// API an eighth; at most 10,000 and 1,024.
fn connection_budgets(
    header_timeout: Duration,
) -> (
    paas_buildserver::http::Limits,
    paas_buildserver::http::Limits,
) {
    const RESERVE: u64 = 1024;
    let descriptors = paas_buildserver::http::raise_descriptor_limit();
    let spare = descriptors.saturating_sub(RESERVE);
    let budget = |share: u64, most: u64| usize::try_from(share.clamp(16, most)).unwrap_or(16);
    let api = budget(spare / 8, 1024);
    let router = budget(spare * 3 / 8, 10_000);
    tracing::info!(descriptors, api, router, "connection budgets");
    let limits = |max_connections| paas_buildserver::http::Limits {
        header_timeout,
        max_connections,
        max_header_bytes: MAX_HEADER_BYTES,
    };
    (limits(api), limits(router))
}

/// Directories and files the daemon needs before it listens: the git hook, the buildpacks, and
/// the runtime dirs.
fn prepare_data_dir(data: &DataDir) -> anyhow::Result<()> {
    for dir in [data.repos(), data.builds(), data.root().join("run")] {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let binary = std::env::current_exe().context("locating the paas-buildserver binary")?;
    git::install_hooks(data, &binary).context("installing the git hook")?;
    build::buildpacks::install(&data.root().join("buildpacks"))
        .context("installing the buildpacks")?;
    Ok(())
}

/// Runs every app's newest succeeded release again (DESIGN §3.8: the store's desired state).
async fn restore_releases(store: &Store, scheduler: &dyn Scheduler) {
    let deployments = match store.call(|db| db.deployments()).await {
        Ok(deployments) => deployments,
        Err(e) => {
            return tracing::error!(error = %anyhow::Error::from(e), "cannot read the releases to run");
        }
    };
    // Every app at once: a slow or broken app does not hold the others back.
    join_all(deployments.iter().map(|deployment| async move {
        if let Err(e) = scheduler.deploy(deployment).await {
            tracing::error!(app = %deployment.app, release = deployment.release, error = %e, "cannot start the release");
        }
    }))
    .await;
}

/// Installs the SIGTERM and SIGINT handlers now; the future ends at the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Writes the ready file atomically, so a watcher never reads half of it.
fn write_ready_file(path: &Path, content: &serde_json::Value) -> anyhow::Result<()> {
    write_atomic(path, format!("{content}\n").as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", path.display()))
}

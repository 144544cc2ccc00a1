//! `paas-buildserver`: the daemon (`serve`) and its operator commands (`user create`).
//!
//! `serve` runs a fixed sequence: load config (exit 64 on bad config) → open the store and make
//! the first admin → bind listeners and announce them → serve → on SIGTERM/SIGINT stop accepting
//! and drain in-flight requests with a grace timeout.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use paas_buildserver::api::{self, AppState, PublicUrls};
use paas_buildserver::config::{Config, DataDirArgs, ServeArgs};
use paas_buildserver::store::{Db, Store};
use paas_buildserver::token;
use paas_share::UserName;
use tokio::net::TcpListener;

/// sysexits' EX_CONFIG: the configuration is wrong, retrying will not help.
const EXIT_CONFIG: u8 = 64;
/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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
    Serve(ServeArgs),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
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
            report(serve(config))
        }
        Command::User(UserCommand::Create { name, admin, data }) => {
            report(create_user(&name, admin, &data))
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

fn open_store(data_dir: &Path) -> anyhow::Result<Db> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    Ok(Db::open(&data_dir.join("paas.db"))?)
}

fn create_user(name: &str, admin: bool, data: &DataDirArgs) -> anyhow::Result<()> {
    let name = UserName::parse(name)?;
    let mut db = open_store(&data.resolve()?)?;
    let new = token::generate();
    db.create_user(&name, admin, &new)?;
    eprintln!("Created user {name}. Their API token (shown once; log in with `paas login`):");
    writeln!(std::io::stdout(), "{}", new.token).context("writing the token")?;
    Ok(())
}

/// On first start: the admin user, with its token in `<data-dir>/admin-token` (0600).
fn ensure_admin(db: &mut Db, data_dir: &Path) -> anyhow::Result<()> {
    if db.user_count()? > 0 {
        return Ok(());
    }
    let new = token::generate();
    let path = data_dir.join("admin-token");
    let tmp = data_dir.join(".admin-token.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    writeln!(file, "{}", new.token)?;
    file.sync_all()?;
    // The token file exists before the user does: a crash in between leaves a token that does not
    // work yet, and the next start writes a new one.
    std::fs::rename(&tmp, &path)?;
    db.create_user(&UserName::parse("admin").expect("a valid name"), true, &new)?;
    eprintln!(
        "Created the admin user; its API token is in {}",
        path.display()
    );
    Ok(())
}

#[tokio::main]
async fn serve(config: Config) -> anyhow::Result<()> {
    let mut db = open_store(&config.data_dir)?;
    ensure_admin(&mut db, &config.data_dir)?;
    let store = Store::new(db);

    let api_listener = TcpListener::bind(config.api_listen)
        .await
        .with_context(|| format!("cannot listen on {} (--api-listen)", config.api_listen))?;
    let api_addr = api_listener.local_addr()?;
    let state = AppState {
        store,
        urls: Arc::new(PublicUrls {
            domain: config.domain.clone(),
            ssh_port: config.ssh_listen.port(),
            router_port: config.router_listen.port(),
        }),
    };
    tracing::info!(api = %api_addr, data_dir = %config.data_dir.display(), "paas-buildserver listening");
    if let Some(path) = &config.ready_file {
        write_ready_file(path, &serde_json::json!({ "api": api_addr.to_string() }))?;
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut api_stop = stop_rx.clone();
    let api = tokio::spawn(api::serve(api_listener, state, async move {
        let _ = api_stop.wait_for(|stop| *stop).await;
    }));

    shutdown_signal().await;
    tracing::info!("shutting down");
    stop_tx.send_replace(true);
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

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Writes the ready file atomically, so a watcher never reads half of it.
fn write_ready_file(path: &Path, content: &serde_json::Value) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{content}\n"))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

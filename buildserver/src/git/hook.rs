//! The pre-receive hook and its line to the daemon. `git receive-pack` runs
//! `paas-buildserver hook pre-receive`, which reads the ref updates and hands the push to the
//! daemon over a unix socket with the push's token. The daemon checks the updates, has the hook
//! check the pushed commit out (only the hook sees git's quarantined objects), builds, and streams
//! the output back; the hook prints it (git shows it as `remote:` lines) and exits 0 to accept the
//! push or 1 to refuse it. If the hook goes away (the client disconnected), the build is stopped.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream as AsyncUnixStream};
use tokio::sync::{mpsc, watch};

use super::push::Pushes;
use super::receive::{HOOK_SOCKET_ENV, PUSH_TOKEN_ENV};
use crate::build::{Builder, Failure};
use crate::release::Controller;

const ZERO_OID: &str = "0000000000000000000000000000000000000000";

/// One line of pre-receive input: `<old> <new> <ref>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub name: String,
}

/// Hook → daemon.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FromHook {
    Push {
        token: String,
        updates: Vec<RefUpdate>,
        /// `git push -o OPTION`, as git gives them to the hook.
        #[serde(default)]
        options: Vec<String>,
    },
    /// The commit is in the build directory; these submodule paths were left empty. `committed`
    /// is the commit's time (unix seconds).
    CheckedOut {
        submodules: Vec<String>,
        committed: u64,
    },
    CheckoutFailed {
        error: String,
    },
}

/// Daemon → hook.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FromDaemon {
    Refused { message: String },
    Checkout { commit: String, dir: PathBuf },
    Output { line: String },
    Done { ok: bool },
}

/// The commit to build, if the push updates `main` (or `master`) to a commit. Tags pushed along
/// with it (`git push --follow-tags`) are kept, not deployed; tags alone deploy nothing.
pub fn check_updates(updates: &[RefUpdate]) -> Result<&RefUpdate, String> {
    let branches: Vec<&RefUpdate> = updates
        .iter()
        .filter(|u| !u.name.starts_with("refs/tags/"))
        .collect();
    let update = match (branches.as_slice(), updates) {
        ([update], _) => *update,
        ([], [only]) => only,
        ([], []) => return Err("nothing to deploy: the push updates no branch".to_owned()),
        ([], _) => {
            return Err("tags are not deployed; push a branch: git push paas main".to_owned());
        }
        (_, _) => return Err("push one branch at a time: git push paas main".to_owned()),
    };
    match update.name.as_str() {
        "refs/heads/main" | "refs/heads/master" => {}
        name if name.starts_with("refs/tags/") => {
            return Err(format!(
                "tags are not deployed ({name}); push a branch: git push paas main"
            ));
        }
        name => {
            let branch = name.strip_prefix("refs/heads/").unwrap_or(name);
            return Err(format!(
                "only main (or master) deploys, and this push went to {branch}; to deploy a branch, push it to main: git push paas BRANCH:main"
            ));
        }
    }
    if update.new == ZERO_OID {
        let branch = update
            .name
            .strip_prefix("refs/heads/")
            .unwrap_or(&update.name);
        return Err(format!("deleting {branch} is not allowed"));
    }
    if update.new.len() != 40 || !update.new.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("invalid commit id {:?}", update.new));
    }
    Ok(update)
}

/// The push options paas knows, for the message refusing others.
const PUSH_OPTIONS: &str = "canary=PERCENT (1 to 99; 0, off or none for none)";

/// This push's canary weight from its `git push -o` options (`canary=20`; `canary=0` or
/// `canary=off` for none, whatever the app's setting): `None` when not given. An option paas
/// does not know is refused, with the list of those it does.
pub fn push_options(options: &[String]) -> Result<Option<u8>, String> {
    let mut canary = None;
    for option in options {
        let shown = paas_share::names::excerpt(option);
        let Some(value) = option.strip_prefix("canary=") else {
            return Err(format!(
                "unknown push option {shown:?}; paas knows: {PUSH_OPTIONS}"
            ));
        };
        let weight = match value.trim_end_matches('%').to_ascii_lowercase().as_str() {
            "off" | "none" | "0" => 0,
            number => match number.parse::<u8>() {
                Ok(n) if (1..=99).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "push option {shown:?}: a canary's weight is a percent from 1 to 99 (0, off or none for none)"
                    ));
                }
            },
        };
        if canary.replace(weight).is_some() {
            return Err("push option canary= is given twice".to_owned());
        }
    }
    Ok(canary)
}

// ---- daemon side ----

/// Serves hook connections until `shutdown` turns true.
pub async fn serve(
    listener: UnixListener,
    pushes: Pushes,
    builder: Arc<Builder>,
    releases: Arc<Controller>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "hook socket accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let (pushes, builder, releases) =
            (pushes.clone(), Arc::clone(&builder), Arc::clone(&releases));
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &pushes, &builder, &releases).await {
                tracing::info!(error = %e, "hook connection ended early");
            }
        });
    }
}

async fn send(
    writer: &mut (impl AsyncWriteExt + Unpin),
    message: &FromDaemon,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).expect("messages serialize");
    line.push(b'\n');
    writer.write_all(&line).await
}

/// Ends the push with why: its app was destroyed during `stage`.
async fn tell_destroyed(
    writer: &mut (impl AsyncWriteExt + Unpin),
    push: &crate::build::Push,
    stage: &'static str,
) {
    let failure = crate::build::Failure::app_destroyed(stage, stage, &push.app.name);
    for line in failure.lines() {
        let _ = send(writer, &FromDaemon::Output { line }).await;
    }
    let _ = send(writer, &FromDaemon::Done { ok: false }).await;
}

async fn receive(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::net::unix::OwnedReadHalf>>,
) -> std::io::Result<FromHook> {
    let line = lines
        .next_line()
        .await?
        .ok_or(std::io::ErrorKind::UnexpectedEof)?;
    serde_json::from_str(&line).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

async fn handle(
    stream: AsyncUnixStream,
    pushes: &Pushes,
    builder: &Builder,
    releases: &Arc<Controller>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read).lines();
    let FromHook::Push {
        token,
        updates,
        options,
    } = receive(&mut lines).await?
    else {
        return send(
            &mut write,
            &FromDaemon::Refused {
                message: "protocol error".into(),
            },
        )
        .await;
    };
    let Some((mut push, destroyed)) = pushes.find(&token) else {
        let message = "this push is unknown to the server; push again".to_owned();
        return send(&mut write, &FromDaemon::Refused { message }).await;
    };
    push.canary = match push_options(&options) {
        Ok(canary) => canary,
        Err(message) => return send(&mut write, &FromDaemon::Refused { message }).await,
    };
    // Refused before the build rather than after it: a canary while another runs.
    if let Err(message) = releases.check_canary_push(&push).await {
        return send(&mut write, &FromDaemon::Refused { message }).await;
    }
    let commit = match check_updates(&updates) {
        Ok(update) => update.new.clone(),
        Err(message) => return send(&mut write, &FromDaemon::Refused { message }).await,
    };
    let build = match builder.begin(&push, &commit).await {
        Ok(build) => build,
        // Destroyed while the push was uploaded: its rows went before the build could begin.
        Err(_) if destroyed.is_cancelled() => {
            tracing::info!(app = %push.app.name, "app destroyed before its build began");
            tell_destroyed(&mut write, &push, "build").await;
            return Ok(());
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start a build");
            let message = "the server could not start the build; try again".to_owned();
            return send(&mut write, &FromDaemon::Refused { message }).await;
        }
    };
    if let Err(reason) = checkout_and_build(
        &mut lines, &mut write, &push, builder, releases, &build, &commit, &destroyed,
    )
    .await
    {
        builder.abandon(&push.app.id, &build, &reason).await;
    }
    Ok(())
}

/// Has the hook check `commit` out, then builds it, streaming the output to the hook. `Err` says
/// why the build did not run to its end (it is recorded as such). `destroyed` stops the build
/// (the app was destroyed); a release already running reports that itself.
#[allow(clippy::too_many_arguments)] // the hook's two halves, the push and the services it uses
async fn checkout_and_build(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::net::unix::OwnedReadHalf>>,
    write: &mut tokio::net::unix::OwnedWriteHalf,
    push: &crate::build::Push,
    builder: &Builder,
    releases: &Arc<Controller>,
    build: &crate::build::BuildDir,
    commit: &str,
    destroyed: &tokio_util::sync::CancellationToken,
) -> Result<(), String> {
    let gone = |e: std::io::Error| format!("interrupted: the push went away ({e})");
    send(
        write,
        &FromDaemon::Checkout {
            commit: commit.to_owned(),
            dir: build.source(),
        },
    )
    .await
    .map_err(gone)?;
    let (submodules, committed) = match receive(lines).await.map_err(gone)? {
        FromHook::CheckedOut {
            submodules,
            committed,
        } => (submodules, committed),
        FromHook::CheckoutFailed { error } => {
            let message = format!("cannot deploy {commit}: {error}");
            let _ = send(
                write,
                &FromDaemon::Refused {
                    message: message.clone(),
                },
            )
            .await;
            return Err(format!("checkout: {message}"));
        }
        FromHook::Push { .. } => return Err("interrupted: protocol error".to_owned()),
    };
    tracing::info!(app = %push.app.name, build = %build.id, commit = %commit, "build started");
    let (tx, mut rx) = mpsc::channel::<String>(256);
    // The build ends at a stored image. The hook never writes again: a read returning means it
    // is gone, and the build stops.
    let building = builder.run(push, build, commit, committed, &submodules, tx.clone());
    tokio::pin!(building);
    let hook_gone = lines.next_line();
    tokio::pin!(hook_gone);
    let built = loop {
        tokio::select! {
            Some(line) = rx.recv() => send(write, &FromDaemon::Output { line }).await.map_err(gone)?,
            built = &mut building => break built,
            _ = &mut hook_gone => {
                tracing::info!(app = %push.app.name, build = %build.id, "pusher went away; build stopped");
                return Err("interrupted: the client disconnected before the build finished".to_owned());
            }
            // Dropped, the build's sandbox goes, as for a pusher gone.
            () = destroyed.cancelled() => {
                tracing::info!(app = %push.app.name, build = %build.id, "app destroyed; build stopped");
                tell_destroyed(write, push, "build").await;
                return Err("interrupted: the app was destroyed".to_owned());
            }
        }
    };
    // The controller records and runs its release in a task of its own: a pusher gone now does
    // not stop it half way (a release command killed mid-migration, dynos started and never
    // stopped, a release left pending); it runs to its end, as on Heroku.
    let result = match built {
        Err(failure) => Err(failure),
        Ok(built) => {
            let (controller, pushed, build_id, commit, out) = (
                Arc::clone(releases),
                push.clone(),
                build.id.clone(),
                commit.to_owned(),
                tx.clone(),
            );
            let releasing = tokio::spawn(async move {
                controller
                    .release_build(&pushed, &build_id, &commit, &built, &out)
                    .await
            });
            tokio::pin!(releasing);
            let mut pusher_here = true;
            loop {
                tokio::select! {
                    // Read even when the pusher is gone, so that the release never waits on it.
                    Some(line) = rx.recv() => {
                        if pusher_here && send(write, &FromDaemon::Output { line }).await.is_err() {
                            pusher_here = false;
                        }
                    }
                    ended = &mut releasing => {
                        break ended.unwrap_or_else(|e| {
                            Err(Failure::release("release", format!("the release stopped: {e}")))
                        });
                    }
                    _ = &mut hook_gone, if pusher_here => {
                        pusher_here = false;
                        tracing::info!(app = %push.app.name, build = %build.id, "pusher went away; its release runs on");
                    }
                }
            }
        }
    };
    while let Ok(line) = rx.try_recv() {
        // The build is recorded; a pusher gone now only misses the tail of the output.
        let _ = send(write, &FromDaemon::Output { line }).await;
    }
    tracing::info!(app = %push.app.name, build = %build.id, ok = result.is_ok(), "build finished");
    let mut detail = serde_json::json!({ "commit": commit, "build": build.id });
    if let Err(failure) = &result {
        detail["failed"] = format!("{} ({})", failure.stage, failure.step).into();
    }
    builder
        .store
        .audit(crate::store::AuditRecord {
            actor: push.user.name.to_string(),
            token_id: None,
            source: push.source.clone(),
            app_id: Some(push.app.id.clone()),
            app: Some(push.app.name.to_string()),
            action: "push".to_owned(),
            detail,
            outcome: if result.is_ok() { "success" } else { "failure" },
            status: None,
        })
        .await;
    let _ = send(write, &FromDaemon::Done { ok: result.is_ok() }).await;
    Ok(())
}

// ---- hook side ----

/// `paas-buildserver hook pre-receive`: returns the exit status for git (0 accepts the push).
pub fn pre_receive() -> i32 {
    match run_hook() {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(message) => {
            eprintln!(" !     {message}");
            1
        }
    }
}

fn run_hook() -> Result<bool, String> {
    let (Some(socket), Some(token)) = (
        std::env::var_os(HOOK_SOCKET_ENV),
        std::env::var(PUSH_TOKEN_ENV).ok(),
    ) else {
        return Err("this hook runs only inside a push to paas".to_owned());
    };
    let mut updates = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("reading the ref updates: {e}"))?;
        let mut parts = line.split(' ');
        if let (Some(old), Some(new), Some(name), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            updates.push(RefUpdate {
                old: old.to_owned(),
                new: new.to_owned(),
                name: name.to_owned(),
            });
        }
    }
    let stream = UnixStream::connect(&socket)
        .map_err(|e| format!("the paas server is not reachable: {e}"))?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut send = |message: &FromHook| -> Result<(), String> {
        let mut line = serde_json::to_vec(message).expect("messages serialize");
        line.push(b'\n');
        writer
            .write_all(&line)
            .map_err(|e| format!("the paas server went away: {e}"))
    };
    // git gives the hook `git push -o` options as GIT_PUSH_OPTION_0… (receive.advertisePushOptions).
    let count: usize = std::env::var("GIT_PUSH_OPTION_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // Not UTF-8: kept (lossily) so that the daemon refuses it rather than it being dropped.
    let options = (0..count.min(64))
        .filter_map(|i| std::env::var_os(format!("GIT_PUSH_OPTION_{i}")))
        .map(|o| o.to_string_lossy().into_owned())
        .collect();
    send(&FromHook::Push {
        token,
        updates,
        options,
    })?;
    let mut stderr = std::io::stderr().lock();
    for line in BufReader::new(stream).lines() {
        let line = line.map_err(|e| format!("the paas server went away: {e}"))?;
        let message: FromDaemon =
            serde_json::from_str(&line).map_err(|e| format!("protocol error: {e}"))?;
        match message {
            FromDaemon::Refused { message } => {
                let _ = writeln!(stderr, " !     {message}");
                return Ok(false);
            }
            FromDaemon::Checkout { commit, dir } => match checkout(&commit, &dir) {
                Ok(exported) => send(&FromHook::CheckedOut {
                    submodules: exported.submodules,
                    committed: exported.committed,
                })?,
                Err(e) => send(&FromHook::CheckoutFailed {
                    error: e.to_string(),
                })?,
            },
            // The pusher's terminal shows it: colours pass, other controls do not.
            FromDaemon::Output { line } => {
                let _ = writeln!(
                    stderr,
                    "{}",
                    paas_share::terminal::terminal_safe(&line, true)
                );
            }
            FromDaemon::Done { ok } => return Ok(ok),
        }
    }
    Err("the paas server stopped before the build finished".to_owned())
}

/// Writes `commit`'s tree into `dir`, reading objects from git's quarantine (the environment git
/// gives its hooks) and writing nothing into the repository.
fn checkout(
    commit: &str,
    dir: &std::path::Path,
) -> Result<super::export::Exported, super::export::ExportError> {
    let repo = git2::Repository::open_from_env()?;
    super::export::export(&repo, git2::Oid::from_str(commit)?, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(name: &str, new: &str) -> RefUpdate {
        RefUpdate {
            old: ZERO_OID.into(),
            new: new.into(),
            name: name.into(),
        }
    }

    #[test]
    fn push_options_are_checked() {
        let options =
            |all: &[&str]| push_options(&all.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>());
        assert_eq!(options(&[]), Ok(None));
        assert_eq!(options(&["canary=20"]), Ok(Some(20)));
        assert_eq!(options(&["canary=20%"]), Ok(Some(20)));
        assert_eq!(options(&["canary=off"]), Ok(Some(0)));
        assert_eq!(options(&["canary=None"]), Ok(Some(0)));
        for (bad, says) in [
            (&["canary=100"][..], "from 1 to 99"),
            (&["canary=-1"], "from 1 to 99"),
            (&["canary="], "from 1 to 99"),
            (
                &["ci.skip"],
                "unknown push option \"ci.skip\"; paas knows: canary=",
            ),
            (&["canary=5", "canary=6"], "twice"),
        ] {
            let e = options(bad).expect_err(says);
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn ref_policy() {
        let commit = "a".repeat(40);
        assert!(check_updates(&[update("refs/heads/main", &commit)]).is_ok());
        assert!(check_updates(&[update("refs/heads/master", &commit)]).is_ok());
        assert_eq!(
            check_updates(&[update("refs/heads/feature", &commit)]).map(|_| ()),
            Err(
                "only main (or master) deploys, and this push went to feature; to deploy a branch, push it to main: git push paas BRANCH:main"
                    .to_owned()
            )
        );
        assert_eq!(
            check_updates(&[update("refs/tags/v1", &commit)]).map(|_| ()),
            Err(
                "tags are not deployed (refs/tags/v1); push a branch: git push paas main"
                    .to_owned()
            )
        );
        assert_eq!(
            check_updates(&[update("refs/heads/main", ZERO_OID)]).map(|_| ()),
            Err("deleting main is not allowed".to_owned())
        );
        assert!(
            check_updates(&[
                update("refs/heads/main", &commit),
                update("refs/heads/x", &commit)
            ])
            .is_err()
        );
        assert!(check_updates(&[]).is_err());
        // `git push --follow-tags`: the branch deploys, the tags come along.
        assert_eq!(
            check_updates(&[
                update("refs/tags/v1", &commit),
                update("refs/heads/main", &commit)
            ])
            .map(|u| u.name.as_str()),
            Ok("refs/heads/main")
        );
        assert_eq!(
            check_updates(&[update("refs/heads/master", ZERO_OID)]).map(|_| ()),
            Err("deleting master is not allowed".to_owned())
        );
    }
}

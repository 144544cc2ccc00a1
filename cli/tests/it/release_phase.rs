//! Tests for the release phase (the Procfile's `release:` command, as on Heroku): it runs once per
//! release as one-off dyno `release.N` before any new dyno starts, its output reaches the push,
//! the app's log and `paas releases:output`, and a failure keeps the old release serving.

use serde_json::Value;

use super::push::{push_watched, stderr_of};
use super::run::{get, ok, paas, push, serving, serving_with};
use paas_tests::transcript;

const HTTPD: &str = "busybox httpd -f -p $PORT -h /app";

fn release(cli: &paas_tests::CliEnv, repo: &std::path::Path, version: &str) -> Value {
    serde_json::from_str(&ok(cli, repo, &["releases", "info", version, "--json"])).expect("JSON")
}

/// The static fixture with `procfile` as its Procfile (committed as `message`), created as app
/// `app`: its repository.
fn app_with_procfile(
    cli: &paas_tests::CliEnv,
    app: &str,
    procfile: &str,
    message: &str,
) -> std::path::PathBuf {
    let repo = cli.app_repo("static");
    std::fs::write(repo.join("Procfile"), procfile).expect("write");
    cli.commit_all(&repo, message);
    ok(cli, &repo, &["create", app]);
    repo
}

#[test]
fn the_release_command_runs_once_per_release_before_the_dynos() {
    let (server, cli) = serving();
    let repo = app_with_procfile(
        &cli,
        "phased",
        &format!(
            "web: {HTTPD}/public\nrelease: echo \"migrating greeting=$GREETING as $DYNO\"; cat; echo migrated\n"
        ),
        "release phase",
    );
    let output = push(&cli, &repo);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    for line in [
        "remote: -----> Running release command: echo \"migrating greeting=$GREETING as $DYNO\"; cat; echo migrated",
        "remote:        migrating greeting= as release.1",
        "remote:        migrated",
        "remote: -----> Release command done",
        "remote: -----> v1 is up:",
    ] {
        assert!(stderr.contains(line), "{line:?} in {stderr}");
    }
    let phase = stderr.find("Running release command").expect("phase");
    let launch = stderr.find("Starting web.1").expect("dyno");
    assert!(
        phase < launch,
        "the release phase runs before any dyno starts"
    );
    assert_eq!(get(&server, "phased").0, 200);
    assert_eq!(
        ok(&cli, &repo, &["releases:output"]),
        "migrating greeting= as release.1\nmigrated\n"
    );
    let json: Value =
        serde_json::from_str(&ok(&cli, &repo, &["releases:output", "v1", "--json"])).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({"version": 1, "output": "migrating greeting= as release.1\nmigrated\n"})
    );
    let logs = ok(&cli, &repo, &["logs"]);
    assert!(
        logs.contains("app[release.1]: migrating greeting= as release.1"),
        "{logs}"
    );

    // Never a dyno type: not in ps, not scalable.
    let dynos: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
    assert!(dynos.iter().all(|d| d["type"] == "web"), "{dynos:?}");
    let output = paas(&cli, &repo, &["scale", "release=1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("release is the release phase's command"));
    assert_eq!(ok(&cli, &repo, &["scale"]), "web=1\n");

    // A config change and a rollback run it again, with their own config.
    ok(&cli, &repo, &["config", "set", "GREETING=hi"]);
    assert_eq!(
        ok(&cli, &repo, &["releases:output", "v2"]),
        "migrating greeting=hi as release.2\nmigrated\n"
    );
    ok(&cli, &repo, &["rollback", "v1"]);
    assert!(
        ok(&cli, &repo, &["releases:output", "v3"]).starts_with("migrating greeting= as release.3")
    );
    assert_eq!(release(&cli, &repo, "v3")["status"], "succeeded");
}

#[test]
fn a_failing_release_command_keeps_the_running_release_and_can_be_retried() {
    let (server, cli) = serving_with(&["--release-timeout", "3"]);
    let repo = cli.app_repo("static");
    std::fs::write(repo.join("Procfile"), format!("web: {HTTPD}/public\n")).expect("write");
    cli.commit_all(&repo, "v1");
    ok(&cli, &repo, &["create", "guarded"]);
    assert!(push(&cli, &repo).status.success());
    let output = paas(&cli, &repo, &["releases:output"]);
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "{}",
        transcript(&output)
    );
    assert!(stderr_of(&output).contains("v1 has no release command"));
    let output = paas(&cli, &repo, &["releases:retry"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("v1 succeeded; there is nothing to retry"),
        "{}",
        transcript(&output)
    );

    let mut version = 1;
    for (command, reason) in [
        (
            "echo cannot reach the database; exit 3",
            "the release command exited with status 3",
        ),
        (
            "echo stuck; exec sleep 60",
            "the release command ran longer than 3s (--release-timeout) and was stopped",
        ),
        (
            "trap '' TERM; echo deaf; while :; do sleep 1; done",
            "the release command ran longer than 3s",
        ),
    ] {
        version += 1;
        std::fs::write(
            repo.join("Procfile"),
            format!("web: {HTTPD}/public\nrelease: {command}\n"),
        )
        .expect("write");
        cli.commit_all(&repo, command);
        let output = push(&cli, &repo);
        let stderr = stderr_of(&output);
        assert!(!output.status.success(), "{stderr}");
        for line in [
            "Push rejected: the release failed at step `release phase`.".to_owned(),
            format!("v{version} was not deployed: {reason}"),
        ] {
            assert!(stderr.contains(&line), "{line:?} in {stderr}");
        }
        assert!(
            !stderr.contains("Starting web.1 (v"),
            "no dyno of a failed release starts"
        );
        let failed = release(&cli, &repo, &format!("v{version}"));
        assert_eq!(failed["status"], "failed");
        assert!(
            failed["failure"]
                .as_str()
                .is_some_and(|f| f.starts_with(&format!("release phase: {reason}"))),
            "{failed}"
        );
        assert_eq!(get(&server, "guarded").0, 200, "v1 keeps serving");
        assert_eq!(release(&cli, &repo, "v1")["current"], true);
    }

    // The newest release's build never ran: its push was rejected, so retry refuses it.
    let output = paas(&cli, &repo, &["releases:retry"]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(
        stderr_of(&output).contains(
            "v4 is the release of a push that was rejected: the app's repository does not have its code"
        ),
        "{}",
        transcript(&output)
    );
    assert_eq!(release(&cli, &repo, "v1")["current"], true);
}

#[test]
fn retry_before_any_release_ran_says_there_is_no_build() {
    let (_server, cli) = serving();
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "unbuilt"]);
    ok(&cli, &repo, &["config:set", "A=1"]);
    let output = paas(&cli, &repo, &["releases:retry"]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(
        stderr_of(&output).contains("has no build: no push has been released yet")
            && stderr_of(&output).contains("git push paas main"),
        "{}",
        transcript(&output)
    );
}

#[test]
fn a_push_stopped_during_its_release_phase_lets_the_release_run_to_its_end() {
    let (server, cli) = serving();
    let repo = app_with_procfile(
        &cli,
        "stopped",
        &format!(
            "web: {HTTPD}/public\nworker: sleep 3600\nrelease: echo migrating; sleep 2; echo migrated\n"
        ),
        "slow migration",
    );
    let mut git = super::push::push_until(&cli, &repo, "migrating");
    // Ctrl-C: git and its ssh go.
    let group = nix::unistd::Pid::from_raw(i32::try_from(git.id()).expect("pid"));
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).expect("interrupt the push");
    git.wait().expect("wait");
    let ended = (0..150).find_map(|_| {
        let v1 = release(&cli, &repo, "v1");
        std::thread::sleep(std::time::Duration::from_millis(100));
        matches!(v1["status"].as_str(), Some("succeeded" | "failed")).then_some(v1)
    });
    let ended = ended.expect("v1 ended");
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert!(ok(&cli, &repo, &["releases:output", "v1"]).contains("migrated"));
    assert_eq!(get(&server, "stopped").0, 200);
    // Its dynos are the ones `ps` shows, and the only ones that run.
    let dynos: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
    assert_eq!(server.dyno_containers().len(), dynos.len(), "{dynos:?}");
}

/// Destroying an app whose release phase hangs: the destroy does not wait for it, the release
/// command stops, the release queued behind it never runs, and a new app of the same name starts
/// empty.
#[test]
fn destroying_an_app_stops_its_release_phase_and_its_queued_releases() {
    let (server, cli) = serving();
    let repo = app_with_procfile(
        &cli,
        "hung",
        &format!("web: {HTTPD}/public\nrelease: echo migrating; sleep 600\n"),
        "a migration that hangs",
    );
    let (mut git, said, reader) = push_watched(&cli, &repo);
    while !said
        .recv()
        .expect("the push ran its release phase")
        .contains("migrating")
    {}
    // A config change waits for v1's turn.
    let queued = cli
        .command(&["config:set", "LATER=1"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("paas config:set");
    let pending = || {
        let releases: Vec<Value> =
            serde_json::from_str(&ok(&cli, &repo, &["releases", "--json"])).expect("JSON");
        releases.len() == 2
    };
    while !pending() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let started = std::time::Instant::now();
    ok(&cli, &repo, &["destroy", "--confirm", "hung"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the destroy waited for the release phase: {:?}",
        started.elapsed()
    );
    git.wait().expect("git push");
    let pushed = reader.join().expect("reader");
    assert!(
        pushed.contains("v1 was not deployed: the app was destroyed meanwhile"),
        "{pushed}"
    );
    let queued = queued.wait_with_output().expect("config:set");
    assert!(!queued.status.success(), "{}", transcript(&queued));
    assert!(
        stderr_of(&queued).contains("v2 was not deployed: app \"hung\" was destroyed meanwhile"),
        "{}",
        transcript(&queued)
    );
    // Nothing of it runs, and a new app of its name has no releases and no dynos.
    assert_eq!(server.dyno_containers(), Vec::<String>::new());
    ok(&cli, &repo, &["create", "hung"]);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let releases: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["releases", "--json"])).expect("JSON");
    assert_eq!(releases, Vec::<Value>::new());
    assert_eq!(ok(&cli, &repo, &["ps", "--json"]).trim(), "[]");
}

/// A stand-in for a database the release command needs: answers HTTP on a port while it runs.
struct Database {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Database {
    fn start(port: u16) -> Self {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            use std::io::{Read, Write};
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.read(&mut [0; 1024]);
                        let _ = stream.write_all(b"HTTP/1.0 200 OK\r\n\r\nready\n");
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_release_phase_that_failed_for_a_reason_outside_the_app_can_be_retried() {
    let (server, cli) = serving();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let repo = app_with_procfile(
        &cli,
        "retried",
        &format!("web: {HTTPD}/public\nrelease: busybox wget -q -O - http://127.0.0.1:$DB_PORT/\n"),
        "needs its database",
    );
    ok(&cli, &repo, &["config:set", &format!("DB_PORT={port}")]);
    let database = Database::start(port);
    let output = push(&cli, &repo);
    assert!(output.status.success(), "{}", stderr_of(&output));

    // The database is down when the config changes: that release fails, v2 keeps serving.
    drop(database);
    let output = paas(&cli, &repo, &["config:set", "GREETING=hi"]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert_eq!(release(&cli, &repo, "v3")["status"], "failed");
    assert_eq!(release(&cli, &repo, "v2")["current"], true);
    assert_eq!(get(&server, "retried").0, 200);

    // Back up: retry runs v3's release phase again as v4 and deploys it.
    let _database = Database::start(port);
    let output = paas(&cli, &repo, &["releases:retry"]);
    assert!(output.status.success(), "{}", transcript(&output));
    let retried = release(&cli, &repo, "v4");
    assert_eq!(
        (
            retried["description"].as_str(),
            retried["status"].as_str(),
            retried["current"].as_bool()
        ),
        (Some("Retry v3"), Some("succeeded"), Some(true))
    );
    assert_eq!(retried["config_vars"]["GREETING"], "hi");
    assert!(ok(&cli, &repo, &["releases:output", "v4"]).contains("ready"));
}

#[test]
fn long_release_output_is_kept_up_to_a_mebibyte() {
    let (_server, cli) = serving();
    let repo = app_with_procfile(
        &cli,
        "chatty",
        &format!("web: {HTTPD}/public\nrelease: seq 1 300000\n"),
        "chatty",
    );
    let output = push(&cli, &repo);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("remote:        300000"));
    let stored = ok(&cli, &repo, &["releases:output"]);
    assert!(stored.len() <= 1024 * 1024 + 64, "{}", stored.len());
    assert!(stored.starts_with("1\n2\n3\n"));
    assert!(stored.ends_with("[output truncated]\n"));
}

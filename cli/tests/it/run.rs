//! Tests for running releases: pushes go live through the router, config changes and rollbacks
//! restart the dynos, a release that does not start leaves the old one serving, and nothing is
//! left behind by destroy or a server restart.

use std::path::Path;

use nix::sys::signal::Signal;
use paas_tests::{CliEnv, Stack, TestServer, transcript};
use serde_json::Value;

use super::{paas_bin, server_bin};

fn serving() -> (TestServer, CliEnv) {
    let server = TestServer::start(&server_bin());
    server.install_stack(Stack::Busybox);
    let cli = CliEnv::pusher(paas_bin(), &server);
    (server, cli)
}

/// GET / through the router with `Host: <app>.localhost`: (status, body).
fn get(server: &TestServer, app: &str) -> (u16, String) {
    let output = std::process::Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            "-H",
            &format!("Host: {app}.localhost"),
            &format!("http://{}/", server.router),
        ])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("status line");
    (status.parse().expect("status"), body.to_owned())
}

fn paas(cli: &CliEnv, dir: &Path, args: &[&str]) -> std::process::Output {
    cli.command(args).current_dir(dir).output().expect("paas")
}

fn ok(cli: &CliEnv, dir: &Path, args: &[&str]) -> String {
    let output = paas(cli, dir, args);
    assert!(
        output.status.success(),
        "paas {args:?}:\n{}",
        transcript(&output)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn push(cli: &CliEnv, repo: &Path) -> std::process::Output {
    cli.git(repo, &["push", "paas", "main"])
        .output()
        .expect("git push")
}

#[test]
fn a_push_goes_live_through_the_router() {
    let (server, cli) = serving();
    let repo = cli.app_repo("static");
    ok(&cli, &repo, &["create", "site"]);
    assert_eq!(get(&server, "site").0, 503, "created, not yet deployed");
    assert_eq!(get(&server, "nosuchapp").0, 404);
    let output = push(&cli, &repo);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("remote: -----> Launching v1 (web=1)")
            && stderr.contains("remote: -----> v1 is up"),
        "{stderr}"
    );
    let (status, body) = get(&server, "site");
    assert_eq!(status, 200);
    assert!(body.contains("Hello from a static site"), "{body}");
    let logs = ok(&cli, &repo, &["logs"]);
    assert!(
        logs.contains(" paas[router]: at=info method=GET path=/ host=site.localhost"),
        "{logs}"
    );
    assert!(logs.contains(" status=200 "), "{logs}");
    assert!(
        logs.contains(" app[web.1]: "),
        "the dyno's own output is in the log: {logs}"
    );
}

#[test]
fn config_changes_and_rollbacks_restart_the_dynos() {
    let (server, cli) = serving();
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "envy"]);
    assert!(push(&cli, &repo).status.success());
    assert_eq!(
        get(&server, "envy"),
        (200, "greeting= dyno=web.1\n".to_owned())
    );
    ok(&cli, &repo, &["config", "set", "GREETING=hello"]);
    assert_eq!(
        get(&server, "envy"),
        (200, "greeting=hello dyno=web.1\n".to_owned())
    );
    ok(&cli, &repo, &["rollback", "v1"]);
    assert_eq!(
        get(&server, "envy"),
        (200, "greeting= dyno=web.1\n".to_owned())
    );
}

#[test]
fn a_release_that_does_not_start_leaves_the_old_one_serving() {
    let (server, cli) = serving();
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "fragile"]);
    assert!(push(&cli, &repo).status.success());
    std::fs::write(
        repo.join("Procfile"),
        "web: echo crashing on purpose; exit 3\n",
    )
    .expect("write");
    cli.commit_all(&repo, "break it");
    let output = push(&cli, &repo);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("remote:  !     Push rejected: the build failed at step `deploy`."),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "remote:  !     v2 did not start: web.1 stopped before accepting connections on $PORT"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("remote:  !     The previous release keeps serving."),
        "{stderr}"
    );
    assert!(
        stderr.contains("app[web.1]: crashing on purpose"),
        "the dyno's last lines: {stderr}"
    );
    assert_eq!(
        get(&server, "fragile"),
        (200, "greeting= dyno=web.1\n".to_owned())
    );
    let releases: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["releases", "--json"])).expect("JSON");
    assert_eq!(
        (
            releases[0]["version"].as_u64(),
            releases[0]["status"].as_str()
        ),
        (Some(2), Some("failed"))
    );
}

#[test]
fn destroy_and_restart_leave_nothing_behind() {
    let (mut server, cli) = serving();
    let repo = cli.app_repo("static");
    ok(&cli, &repo, &["create", "transient"]);
    assert!(push(&cli, &repo).status.success());
    assert_eq!(get(&server, "transient").0, 200);

    // A restart stops the dynos and starts the release again.
    server.stop(Signal::SIGTERM);
    let mounts = |server: &TestServer| {
        std::fs::read_to_string("/proc/mounts")
            .expect("mounts")
            .lines()
            .filter(|l| l.contains(server.data_dir().to_str().expect("utf-8")))
            .count()
    };
    assert_eq!(mounts(&server), 0, "no overlay left mounted after a stop");
    server.restart();
    assert_eq!(
        get(&server, "transient").0,
        200,
        "the release runs again after a restart"
    );

    ok(&cli, &repo, &["destroy", "--confirm", "transient"]);
    assert_eq!(get(&server, "transient").0, 404);
    assert_eq!(mounts(&server), 0, "no overlay left mounted after destroy");
    let dynos = std::fs::read_dir(server.data_dir().join("dynos"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(dynos, 0);
}

#[test]
fn scale_ps_and_restart() {
    let (server, cli) = serving();
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "scaled"]);
    assert!(push(&cli, &repo).status.success());
    assert_eq!(ok(&cli, &repo, &["scale"]), "web=1\n");
    assert_eq!(ok(&cli, &repo, &["ps:scale", "web=2"]), "web=2\n");
    let dynos: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
    let names: Vec<&str> = dynos
        .iter()
        .map(|d| d["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["web.1", "web.2"]);
    assert!(dynos.iter().all(|d| d["state"] == "up"));
    // The router takes turns.
    let bodies: std::collections::BTreeSet<String> =
        (0..4).map(|_| get(&server, "scaled").1).collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(ok(&cli, &repo, &["scale", "web-1"]), "web=1\n");
    assert_eq!(
        ok(&cli, &repo, &["ps"]).lines().count(),
        2,
        "a header and web.1"
    );

    let before = dynos[0]["since"].clone();
    ok(&cli, &repo, &["restart", "web"]);
    let after: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
    assert_ne!(after[0]["since"], before, "new dynos");
    assert_eq!(get(&server, "scaled").0, 200);

    for (args, code, message) in [
        (&["scale", "web=-1"][..], 2, "invalid value 'web=-1'"),
        (
            &["scale", "web=10000"],
            2,
            "at most 100 dynos per process type",
        ),
        (
            &["scale", "nosuchtype=1"],
            1,
            "unknown process type \"nosuchtype\"; the current release has: web",
        ),
        (
            &["scale", "web-5"],
            2,
            "cannot scale web below 0 (it runs 1)",
        ),
        (&["restart", "worker.3"], 1, "runs no dyno \"worker.3\""),
    ] {
        let output = paas(&cli, &repo, args);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{args:?}: {}",
            transcript(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(message),
            "{args:?}: {}",
            transcript(&output)
        );
    }
    assert_eq!(ok(&cli, &repo, &["scale"]), "web=1\n", "nothing changed");
}

#[test]
fn a_killed_dyno_is_restarted() {
    let (server, cli) = serving();
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "phoenix"]);
    assert!(push(&cli, &repo).status.success());
    let runc = |args: &[&str]| {
        std::process::Command::new("runc")
            .arg("--root")
            .arg(server.data_dir().join("run/runc-dynos"))
            .args(args)
            .output()
            .expect("runc")
    };
    let id = String::from_utf8(runc(&["list", "-q"]).stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let state: Value = serde_json::from_slice(&runc(&["state", &id]).stdout).expect("state");
    let pid = i32::try_from(state["pid"].as_i64().expect("pid")).expect("pid fits");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL)
        .expect("kill the dyno");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let dynos: Vec<Value> =
            serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
        if dynos[0]["restarts"] == 1
            && dynos[0]["state"] == "up"
            && get(&server, "phoenix").0 == 200
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not restarted: {dynos:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let logs = ok(&cli, &repo, &["logs", "--ps", "scheduler"]);
    assert!(
        logs.contains("paas[scheduler]: web.1 was killed by signal 9; restarting in 0s"),
        "{logs}"
    );
}

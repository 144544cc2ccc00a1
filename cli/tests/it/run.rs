//! Tests for running releases: pushes go live through the router, config changes and rollbacks
//! restart the dynos, a release that does not start leaves the old one serving, and nothing is
//! left behind by destroy or a server restart.

use std::io::Write;
use std::path::Path;

use nix::sys::signal::Signal;
use paas_tests::{CliEnv, Stack, TestServer, transcript};
use serde_json::Value;

use super::{paas_bin, server_bin};

pub fn serving() -> (TestServer, CliEnv) {
    serving_with(&[])
}

/// A server with extra flags, the busybox stack, and a CLI that can push to it.
pub fn serving_with(flags: &[&str]) -> (TestServer, CliEnv) {
    let server = TestServer::start_with(&server_bin(), flags, &[]);
    server.install_stack(Stack::Busybox);
    let cli = CliEnv::pusher(paas_bin(), &server);
    (server, cli)
}

/// Fixture app `fixture` with `line` added to its Procfile (a process type of the test's own),
/// committed as `why`.
pub fn fixture_with(cli: &CliEnv, fixture: &str, line: &str, why: &str) -> std::path::PathBuf {
    let repo = cli.app_repo(fixture);
    let procfile = std::fs::read_to_string(repo.join("Procfile")).expect("Procfile");
    std::fs::write(repo.join("Procfile"), format!("{procfile}{line}\n")).expect("write");
    cli.commit_all(&repo, why);
    repo
}

/// The status of `GET path` through the router, on a connection of its own.
pub fn status(server: &TestServer, app: &str, path: &str) -> u16 {
    status_at(&server.router, app, path)
}

/// Requests the app's `/` through the router without pause until `finish`: proof that it kept
/// serving while something else happened.
pub struct Watch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u16>>,
}

impl Watch {
    pub fn start(server: &TestServer, app: &str) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, router, app) = (stop.clone(), server.router.clone(), app.to_owned());
        let thread = std::thread::spawn(move || {
            let mut statuses = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                statuses.push(status_at(&router, &app, "/"));
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            statuses
        });
        Self { stop, thread }
    }

    /// Stops and checks that every request was answered 200 (and that there were some).
    pub fn finish_all_ok(self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let statuses = self.thread.join().expect("watch thread");
        let failed: Vec<&u16> = statuses.iter().filter(|s| **s != 200).collect();
        assert!(
            !statuses.is_empty() && failed.is_empty(),
            "{} of {} requests were not answered 200: {failed:?}",
            failed.len(),
            statuses.len()
        );
        statuses.len()
    }
}

pub fn status_at(router: &str, app: &str, path: &str) -> u16 {
    request(router, app, path, "").status
}

/// What the router answered: its status (0 when there was no answer), its header fields (names
/// lowercase) and its body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` with `Host: <app>.localhost` and the header lines `extra` (each ending in CRLF),
/// over HTTP/1.0 on a connection of its own.
pub fn request(router: &str, app: &str, path: &str, extra: &str) -> Answer {
    use std::io::{Read, Write};
    let mut response = Vec::new();
    if let Ok(mut stream) = std::net::TcpStream::connect(router) {
        let _ = write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {app}.localhost\r\n{extra}\r\n"
        );
        let _ = stream.read_to_end(&mut response);
    }
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.trim().to_owned(),
    }
}

/// GET / through the router with `Host: <app>.localhost`: (status, body).
pub fn get(server: &TestServer, app: &str) -> (u16, String) {
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

pub fn paas(cli: &CliEnv, dir: &Path, args: &[&str]) -> std::process::Output {
    cli.command(args).current_dir(dir).output().expect("paas")
}

/// `paas ARGS` with `input` piped in (no terminal), written from a thread so that a command that
/// answers before reading it all cannot dead-lock the test.
pub fn paas_with_stdin(
    cli: &CliEnv,
    dir: &Path,
    args: &[&str],
    input: &[u8],
) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cli
        .command(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paas");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("paas");
    writer.join().expect("writer");
    output
}

pub fn ok(cli: &CliEnv, dir: &Path, args: &[&str]) -> String {
    let output = paas(cli, dir, args);
    assert!(
        output.status.success(),
        "paas {args:?}:\n{}",
        transcript(&output)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// `paas ARGS` fails with exit status `code`, saying `says`.
pub fn refused(cli: &CliEnv, repo: &Path, args: &[&str], code: i32, says: &str) {
    let output = paas(cli, repo, args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{args:?}: {}",
        transcript(&output)
    );
    assert!(
        super::push::stderr_of(&output).contains(says),
        "{args:?}: {}",
        transcript(&output)
    );
}

pub fn push(cli: &CliEnv, repo: &Path) -> std::process::Output {
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

/// Makes `repo`'s web dyno one that answers paas's health check (`GET /`) and nothing else: a
/// request to any other path is accepted and never answered (a stuck app, for the router's
/// timeouts). Committed.
pub fn silent_dyno(cli: &CliEnv, repo: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let script = repo.join("silent.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nread -r method target version\nif [ \"$target\" = / ]; then printf 'HTTP/1.0 200 OK\\r\\n\\r\\nup\\n'; else exec sleep 3600; fi\n",
    )
    .expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(
        repo.join("Procfile"),
        "web: nc -ll -p $PORT -e /app/silent.sh\n",
    )
    .expect("write");
    cli.commit_all(repo, "a dyno that never answers but its health check");
}

#[test]
fn a_dyno_whose_port_another_process_took_is_never_up_nor_routed_to() {
    let (server, cli) = serving_with(&["--boot-timeout", "5"]);
    let repo = cli.app_repo("envpage");
    std::fs::write(
        repo.join("Procfile"),
        "web: sleep 2; exec busybox httpd -f -p $PORT -h /app\n",
    )
    .expect("write");
    cli.commit_all(&repo, "slow to bind");
    ok(&cli, &repo, &["create", "victim"]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (output, served) = std::thread::scope(|scope| {
        // Another process (this one) takes the new dyno's port before it binds it, and answers.
        let squatter = scope.spawn(|| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let port = loop {
                assert!(std::time::Instant::now() < deadline, "no web.1 port");
                let dynos: Vec<Value> =
                    serde_json::from_slice(&paas(&cli, &repo, &["ps", "--json"]).stdout)
                        .unwrap_or_default();
                if let Some(port) = dynos.iter().find_map(|d| d["port"].as_u64()) {
                    break u16::try_from(port).expect("a port");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            };
            let listener = std::net::TcpListener::bind(("0.0.0.0", port)).expect("squat");
            listener.set_nonblocking(true).expect("nonblocking");
            let mut served = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        served += 1;
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nEVIL\n",
                        );
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
            served
        });
        let output = push(&cli, &repo);
        let served_to_router = get(&server, "victim");
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        (
            output,
            (served_to_router, squatter.join().expect("squatter")),
        )
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("v1 did not start: web.1 exited with status 1 before it was up")
            && stderr.contains("Address already in use"),
        "{stderr}"
    );
    let ((status, body), probed) = served;
    assert!(probed > 0, "the health check reached the squatter");
    assert!(!body.contains("EVIL"), "{status} {body}");
}

#[test]
fn a_release_that_does_not_start_leaves_the_old_one_serving() {
    let (server, cli) = serving_with(&["--boot-timeout", "3"]);
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "fragile"]);
    assert!(push(&cli, &repo).status.success());
    let mut version = 1;
    for (procfile, requirement, last_lines) in [
        (
            "web: echo crashing on purpose; exit 3\n",
            "exited with status 3 before it was up",
            &["app[web.1]: crashing on purpose"][..],
        ),
        (
            // Node's way: what went wrong first, then a long stack.
            "web: echo 'Error: Cannot find module x'; seq 1 80; exit 3\n",
            "exited with status 3 before it was up",
            &[
                "app[web.1]: Error: Cannot find module x",
                "lines more (paas logs --ps web.1 shows them)",
                "app[web.1]: 80",
            ],
        ),
        (
            "web: echo never listening; exec sleep 3600\n",
            "did not come up: a web dyno must answer HTTP requests (GET /, any status) on $PORT within 3s",
            // Among a hundred router lines of the requests to the release that keeps serving.
            &["app[web.1]: never listening"],
        ),
        (
            // Listening and never answering, as a server whose workers never load the app.
            "web: echo listening, never answering; sleep 3600 | busybox nc -l -p $PORT\n",
            "did not come up: a web dyno must answer HTTP requests (GET /, any status) on $PORT within 3s",
            &["app[web.1]: listening, never answering"],
        ),
        (
            // busybox httpd cannot bind port 0 as the dyno's user: it exits.
            "web: echo wrong port; exec busybox httpd -f -p 0 -h /app\n",
            "exited with status 1 before it was up",
            &["app[web.1]: wrong port"],
        ),
    ] {
        version += 1;
        std::fs::write(repo.join("Procfile"), procfile).expect("write");
        cli.commit_all(&repo, "break it");
        let watch = Watch::start(&server, "fragile");
        let output = push(&cli, &repo);
        watch.finish_all_ok();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(
            stderr.contains("remote:  !     Push rejected: the release failed at step `deploy`."),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "remote:  !     v{version} did not start: web.1 {requirement}"
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains("remote:  !     v1 keeps serving."),
            "{stderr}"
        );
        for line in last_lines {
            assert!(stderr.contains(line), "the dyno's last lines: {stderr}");
        }
        // The deploy stops a new dyno whose first boot failed: it is not restarted meanwhile.
        assert!(!stderr.contains("restarting"), "{stderr}");
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
            (Some(version), Some("failed"))
        );
    }
    // A failed release cannot be rolled back to.
    let output = paas(&cli, &repo, &["rollback", "v2"]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("error: v2 failed to deploy; roll back to a release that succeeded"),
        "{}",
        transcript(&output)
    );
    let dynos: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
    assert_eq!(dynos.len(), 1, "only v1's dyno runs: {dynos:?}");
    assert_eq!(
        (dynos[0]["release"].as_u64(), dynos[0]["state"].as_str()),
        (Some(1), Some("up"))
    );
}

#[test]
fn a_health_check_path_gates_deploys() {
    let (server, cli) = serving_with(&["--boot-timeout", "3"]);
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "checked"]);
    assert!(push(&cli, &repo).status.success());
    let output = paas(
        &cli,
        &repo,
        &["config", "set", "PAAS_HEALTH_CHECK_PATH=health"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("PAAS_HEALTH_CHECK_PATH \"health\" is not a URL path"),
        "{}",
        transcript(&output)
    );
    // busybox httpd answers 404 for a missing file: the new release never becomes ready.
    let watch = Watch::start(&server, "checked");
    let output = paas(
        &cli,
        &repo,
        &[
            "config",
            "set",
            "PAAS_HEALTH_CHECK_PATH=/missing",
            "GREETING=new",
        ],
    );
    watch.finish_all_ok();
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "v2 did not start: web.1 did not come up: a web dyno must answer GET /missing with 2xx or 3xx on $PORT within 3s"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: the previous release keeps serving, with its config vars"),
        "{stderr}"
    );
    assert_eq!(get(&server, "checked").1, "greeting= dyno=web.1\n");
    let config = ok(&cli, &repo, &["config", "--json"]);
    assert_eq!(
        config.trim(),
        "{}",
        "the failed change is not the app's config"
    );

    ok(
        &cli,
        &repo,
        &[
            "config",
            "set",
            "PAAS_HEALTH_CHECK_PATH=/index.html",
            "GREETING=ok",
        ],
    );
    assert_eq!(get(&server, "checked").1, "greeting=ok dyno=web.1\n");
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

    let dynos: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
    let containers = server.dyno_containers();
    assert_eq!(containers.len(), 1, "{containers:?}");
    ok(&cli, &repo, &["destroy", "--confirm", "transient"]);
    assert_eq!(get(&server, "transient").0, 404);
    assert_eq!(mounts(&server), 0, "no overlay left mounted after destroy");
    assert!(server.dyno_containers().is_empty(), "no container left");
    for id in &containers {
        for cgroup in [
            format!("/sys/fs/cgroup/memory/paas/{id}"),
            format!("/sys/fs/cgroup/pids/paas/{id}"),
            format!("/sys/fs/cgroup/paas/{id}"),
        ] {
            assert!(!Path::new(&cgroup).exists(), "{cgroup} is left");
        }
    }
    let port = u16::try_from(dynos[0]["port"].as_u64().expect("port")).expect("a port");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on the dyno's port {port}"
    );
    let entries = |dir: &str| {
        std::fs::read_dir(server.data_dir().join(dir))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(entries("dynos"), 0);
    assert_eq!(entries("layers"), 0, "no unpacked layer left");
    assert_eq!(entries("cache"), 0, "no build cache left");
    assert_eq!(entries("repos"), 0, "no repository left");
}

#[test]
fn scale_ps_and_restart() {
    let (server, cli) = serving();
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "scaled"]);
    assert!(push(&cli, &repo).status.success());
    assert_eq!(ok(&cli, &repo, &["scale"]), "web=1\n");
    let ps = |cli: &CliEnv| -> Vec<Value> {
        serde_json::from_str(&ok(cli, &repo, &["ps", "--json"])).expect("JSON")
    };
    let first = ps(&cli);
    let watch = Watch::start(&server, "scaled");
    assert_eq!(ok(&cli, &repo, &["ps:scale", "web=3"]), "web=3\n");
    let dynos = ps(&cli);
    let names: Vec<&str> = dynos
        .iter()
        .map(|d| d["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["web.1", "web.2", "web.3"]);
    assert!(dynos.iter().all(|d| d["state"] == "up"), "{dynos:?}");
    assert_eq!(
        (&dynos[0]["port"], &dynos[0]["since"]),
        (&first[0]["port"], &first[0]["since"]),
        "scaling up leaves web.1 alone"
    );
    // The router takes turns.
    let bodies: std::collections::BTreeSet<String> =
        (0..30).map(|_| get(&server, "scaled").1).collect();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert_eq!(ok(&cli, &repo, &["scale", "web-2"]), "web=1\n");
    let dynos = ps(&cli);
    assert_eq!(dynos.len(), 1, "{dynos:?}");
    assert_eq!(
        dynos[0]["port"], first[0]["port"],
        "the highest numbers stop first"
    );
    let table = ok(&cli, &repo, &["ps"]);
    assert!(
        table.starts_with("TYPE  DYNO   STATE  SINCE")
            && table.contains("RELEASE  RESTARTS  COMMAND")
            && table
                .lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("web   web.1  up     ")),
        "{table}"
    );

    // A rolling restart: a new web.N up before the old one stops, one at a time.
    ok(&cli, &repo, &["scale", "web=2"]);
    let before = ps(&cli);
    ok(&cli, &repo, &["restart", "web"]);
    let after = ps(&cli);
    assert_eq!(after.len(), 2);
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old["name"], new["name"]);
        assert_ne!(old["port"], new["port"], "{} is a new dyno", new["name"]);
    }
    ok(&cli, &repo, &["restart", "web.2"]);
    let again = ps(&cli);
    assert_eq!(again[0]["port"], after[0]["port"], "web.1 was left alone");
    assert_ne!(again[1]["port"], after[1]["port"], "web.2 is new");
    watch.finish_all_ok();
    let scheduler = ok(&cli, &repo, &["logs", "--ps", "scheduler", "-n", "200"]);
    assert!(
        scheduler.contains("paas[scheduler]: web.2: state changed from starting to up"),
        "{scheduler}"
    );

    for (args, code, message) in [
        (&["scale", "web=-1"][..], 2, "invalid value 'web=-1'"),
        (
            &["scale", "web=10000"],
            1,
            "cannot run 10000 dynos: this server allows at most 100 per app",
        ),
        (
            &["scale", "nosuchtype=1"],
            1,
            "unknown process type \"nosuchtype\"; the current release has: web",
        ),
        (
            &["scale", "web-5"],
            1,
            "cannot scale web below 0 (it runs 2)",
        ),
        (
            &["restart", "worker.3"],
            1,
            "runs no dyno or process type \"worker.3\"",
        ),
        (
            &["restart", "worker"],
            1,
            "runs no dyno or process type \"worker\"",
        ),
        (
            &["scale", "web=1", "web=3"],
            2,
            "web is given more than once",
        ),
    ] {
        refused(&cli, &repo, args, code, message);
    }
    assert_eq!(ok(&cli, &repo, &["scale"]), "web=2\n", "nothing changed");
    assert_eq!(ps(&cli).len(), 2);
    ok(&cli, &repo, &["scale", "web=0"]);
    refused(
        &cli,
        &repo,
        &["restart"],
        1,
        "runs no dynos: there is nothing to restart",
    );
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

#[test]
fn a_daemon_killed_with_sigkill_comes_back_to_its_formation_with_nothing_orphaned() {
    let (mut server, cli) = serving();
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "survivor"]);
    assert!(push(&cli, &repo).status.success());
    ok(&cli, &repo, &["scale", "web=2"]);
    let before = server.dyno_containers();
    assert_eq!(before.len(), 2, "{before:?}");
    let before_pids: Vec<(String, i64)> = before
        .iter()
        .map(|id| {
            let state = std::process::Command::new("runc")
                .arg("--root")
                .arg(server.data_dir().join("run/runc-dynos"))
                .args(["state", id])
                .output()
                .expect("runc state");
            let state: Value = serde_json::from_slice(&state.stdout).expect("state JSON");
            (id.clone(), state["pid"].as_i64().expect("pid"))
        })
        .collect();

    server.stop(Signal::SIGKILL);
    server.restart();
    let after = server.dyno_containers();
    assert_eq!(after.len(), 2, "the formation again: {after:?}");
    for (id, pid) in &before_pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{id}'s process {pid} was stopped, not left running"
        );
    }
    for id in &before {
        for cgroup in [
            format!("/sys/fs/cgroup/memory/paas/{id}"),
            format!("/sys/fs/cgroup/paas/{id}"),
        ] {
            assert!(!Path::new(&cgroup).exists(), "{cgroup} is left");
        }
    }
    let mounts = std::fs::read_to_string("/proc/mounts")
        .expect("mounts")
        .lines()
        .filter(|l| l.contains(server.data_dir().to_str().expect("utf-8")))
        .count();
    assert_eq!(mounts, 2, "one overlay per running dyno, none left over");
    let dynos: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
    assert_eq!(dynos.len(), 2);
    assert!(dynos.iter().all(|d| d["state"] == "up"), "{dynos:?}");
    assert_eq!(get(&server, "survivor").0, 200);
}

#[test]
fn waits_show_a_spinner_on_a_terminal_and_only_the_result_elsewhere() {
    let (_server, cli) = serving();
    let repo = cli.app_repo("procfile");
    // A web dyno that takes a second to come up: long enough for the spinner to draw.
    std::fs::write(
        repo.join("Procfile"),
        "web: sleep 1; exec busybox httpd -f -p $PORT -h /app\n",
    )
    .expect("write");
    cli.commit_all(&repo, "slow boot");
    ok(&cli, &repo, &["create", "spun"]);
    assert!(push(&cli, &repo).status.success());

    let (mut screen, mut child) =
        super::one_off::on_terminal(&cli, &repo, &["scale", "web=2"], 100, 30);
    let mut seen = String::new();
    super::one_off::read_until(&mut screen, &mut seen, "Scaled spun");
    assert!(child.wait().expect("paas").success(), "{seen:?}");
    assert!(
        seen.contains("Waiting for dynos: web 1/2 up"),
        "the spinner names what it waits for: {seen:?}"
    );
    // indicatif redraws the line in place and clears it before the result.
    assert!(seen.contains("\r\x1b[2K"), "{seen:?}");

    // Not a terminal (or --json): the result alone, no drawing.
    let output = paas(&cli, &repo, &["scale", "web=1"]);
    assert!(output.status.success());
    assert_eq!(
        (
            String::from_utf8_lossy(&output.stdout).as_ref(),
            String::from_utf8_lossy(&output.stderr).as_ref()
        ),
        ("web=1\n", "Scaled spun\n")
    );
    let restarted = paas(&cli, &repo, &["restart"]);
    assert_eq!(
        String::from_utf8_lossy(&restarted.stderr),
        "Restarted spun\n"
    );
    // A restart's spinner shows the dynos as they change: the new one starting beside the old.
    let (mut screen, mut child) = super::one_off::on_terminal(&cli, &repo, &["restart"], 100, 30);
    let mut seen = String::new();
    super::one_off::read_until(&mut screen, &mut seen, "Restarted spun");
    assert!(child.wait().expect("paas").success(), "{seen:?}");
    assert!(
        seen.contains("Restarting spun (1 up, 1 starting)"),
        "the spinner counts the dynos: {seen:?}"
    );

    // A scale another one supersedes while it waits prints what runs, not its own counts.
    let first = cli
        .command(&["scale", "web=4", "--json"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("paas scale");
    std::thread::sleep(std::time::Duration::from_millis(300));
    ok(&cli, &repo, &["scale", "web=1"]);
    let first = first.wait_with_output().expect("paas scale");
    assert!(first.status.success(), "{}", transcript(&first));
    let formation: Vec<Value> = serde_json::from_slice(&first.stdout).expect("JSON");
    assert_eq!(formation[0]["quantity"], 1, "{}", transcript(&first));
    assert!(
        String::from_utf8_lossy(&first.stderr)
            .contains("another scale changed the formation meanwhile (web=1)"),
        "{}",
        transcript(&first)
    );
}

#[test]
fn a_shell_loop_stops_on_sigterm_and_one_that_ignores_it_gets_r12_and_sigkill() {
    let (_server, cli) = serving_with(&["--stop-grace", "4"]);
    let repo = cli.app_repo("static");
    std::fs::write(
        repo.join("Procfile"),
        "web: busybox httpd -f -p $PORT -h /app/public\n\
         looper: while true; do echo tick; sleep 1; done\n\
         stubborn: trap '' TERM; while true; do echo tock; sleep 1; done\n",
    )
    .expect("write");
    cli.commit_all(&repo, "workers");
    ok(&cli, &repo, &["create", "loops"]);
    assert!(push(&cli, &repo).status.success());
    ok(&cli, &repo, &["scale", "looper=1", "stubborn=1"]);
    let logs_show = |text: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let logs = ok(&cli, &repo, &["logs", "-n", "500"]);
            if logs.contains(text) {
                return logs;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {text:?} in:\n{logs}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    logs_show("app[looper.1]: tick");
    logs_show("app[stubborn.1]: tock");
    ok(&cli, &repo, &["scale", "looper=0", "stubborn=0"]);
    logs_show("Stopped stubborn.1");
    let logs = logs_show("Stopped looper.1");
    assert!(
        logs.contains(
            "paas[scheduler]: stubborn.1: Error R12 (Exit timeout) -> At least one process failed to exit within 4 seconds of SIGTERM; stopping remaining processes with SIGKILL"
        ),
        "{logs}"
    );
    assert!(
        !logs.contains("looper.1: Error R12"),
        "a shell loop ends on SIGTERM, as Heroku's shell does: {logs}"
    );
}

//! `paas run`: one-off dynos of the current release, attached through pipes or a terminal, or
//! detached; exit statuses, limits, stops, and what a lost client leaves (nothing).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paas_tests::{CliEnv, TestServer};

use super::run::{get, ok, paas, paas_with_stdin, push, serving_with};

use std::os::fd::OwnedFd;

/// A server (with `flags`) running app `app` (the static fixture), and the app's repository.
fn deployed(flags: &[&str], app: &str) -> (TestServer, CliEnv, std::path::PathBuf) {
    let (server, cli) = serving_with(flags);
    let repo = cli.app_repo("static");
    ok(&cli, &repo, &["create", app]);
    assert!(push(&cli, &repo).status.success());
    (server, cli, repo)
}

/// `paas run ARGS` with `stdin` piped in: (status, stdout, stderr).
fn run_with(cli: &CliEnv, repo: &Path, args: &[&str], stdin: &[u8]) -> (i32, Vec<u8>, String) {
    let output = paas_with_stdin(cli, repo, &[&["run"], args].concat(), stdin);
    (
        output.status.code().unwrap_or(-1),
        output.stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The runc containers of one-off dynos still on the server.
fn one_off_containers(server: &TestServer) -> Vec<String> {
    let mut containers = server.dyno_containers();
    containers.retain(|id| id.contains("-run."));
    containers
}

#[test]
fn runs_see_the_config_pass_bytes_and_exit_with_the_commands_status() {
    let (server, cli, repo) = deployed(&[], "oneoff");
    ok(&cli, &repo, &["config:set", "GREETING=hello from config"]);

    let (status, stdout, stderr) = run_with(
        &cli,
        &repo,
        &[
            "--",
            "sh",
            "-c",
            "echo \"$GREETING\" $DYNO $(id -un); echo oops >&2; exit 3",
        ],
        b"",
    );
    assert_eq!(status, 3, "{stderr}");
    // The dyno's user has a name (`whoami` and friends fail on a uid without one).
    assert_eq!(
        String::from_utf8_lossy(&stdout),
        "hello from config run.1 dyno\n"
    );
    assert!(stderr.contains("oops\n"), "stderr stays separate: {stderr}");
    assert!(stderr.contains("Running `sh -c"), "{stderr}");

    // stdin passes through, binary data unchanged (every byte value, 1 MiB).
    let data: Vec<u8> = (0..1024 * 1024).map(|i| (i % 256) as u8).collect();
    let (status, stdout, stderr) = run_with(&cli, &repo, &["cat"], &data);
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stdout == data,
        "{} bytes back of {}",
        stdout.len(),
        data.len()
    );

    // One argument is a shell command line; --env adds a variable; PORT is not set.
    let (status, stdout, _) = run_with(
        &cli,
        &repo,
        &[
            "--env",
            "EXTRA=1",
            "echo extra=$EXTRA port=${PORT:-none} | tr a-z A-Z",
        ],
        b"",
    );
    assert_eq!(status, 0);
    assert_eq!(String::from_utf8_lossy(&stdout), "EXTRA=1 PORT=NONE\n");

    // A command killed by a signal: 128 + N.
    let (status, _, _) = run_with(&cli, &repo, &["sh -c 'kill -TERM $$'"], b"");
    assert_eq!(status, 143);

    // A command that never reads stdin while 10 MB is pasted: no deadlock.
    let started = Instant::now();
    let paste = vec![b'x'; 10 * 1024 * 1024];
    let (status, stdout, stderr) = run_with(&cli, &repo, &["sleep 1; echo done"], &paste);
    assert_eq!(
        (status, String::from_utf8_lossy(&stdout).as_ref()),
        (0, "done\n"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    // Nothing stays behind.
    assert!(
        one_off_containers(&server).is_empty(),
        "{:?}",
        one_off_containers(&server)
    );
}

/// Local dynos share the host's network, yet an app's containers cannot reach another app's
/// dynos on loopback (refused at once); they reach their own app's, and the router and the
/// server's health checks reach every dyno.
#[test]
fn apps_on_one_server_cannot_reach_each_others_dynos() {
    let (server, cli, first) = deployed(&[], "first");
    let second = cli.app_repo_in("static", "second");
    ok(&cli, &second, &["create", "second"]);
    assert!(push(&cli, &second).status.success());
    let port = |repo: &Path| {
        let dynos: serde_json::Value =
            serde_json::from_str(&ok(&cli, repo, &["ps", "--json"])).expect("ps --json");
        dynos[0]["port"].as_u64().expect("a port").to_string()
    };
    let (first_port, second_port) = (port(&first), port(&second));
    let fetch = |repo: &Path, host: &str, port: &str| {
        run_with(
            &cli,
            repo,
            &[&format!(
                "busybox wget -q -O /dev/null http://{host}:{port}/ 2>&1; echo status=$?"
            )],
            b"",
        )
    };
    for host in ["127.0.0.1", "[::1]"] {
        let (_, out, err) = fetch(&second, host, &first_port);
        let out = String::from_utf8_lossy(&out);
        assert!(
            out.contains("Connection refused") && !out.contains("status=0"),
            "{host}: {out} {err}"
        );
        let (_, out, err) = fetch(&first, host, &second_port);
        let out = String::from_utf8_lossy(&out);
        assert!(
            out.contains("Connection refused") && !out.contains("status=0"),
            "{host}: {out} {err}"
        );
    }
    // Their own app's dynos, yes.
    let (_, out, err) = fetch(&first, "127.0.0.1", &first_port);
    assert_eq!(String::from_utf8_lossy(&out), "status=0\n", "{err}");
    // Each app has a group of its own.
    let group = |repo: &Path| {
        String::from_utf8_lossy(&run_with(&cli, repo, &["id -g"], b"").1).into_owned()
    };
    assert_ne!(group(&first), group(&second));
    // The router and this machine's other users reach both.
    assert_eq!(get(&server, "first").0, 200);
    assert_eq!(get(&server, "second").0, 200);
    let direct = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{first_port}/"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&direct.stdout), "200");
}

/// `paas ARGS` in `repo` on a new terminal of `columns` × `lines` (stdin, stdout and stderr,
/// `TERM=xterm-256color`): our side of the terminal, and the process.
pub fn on_terminal(
    cli: &CliEnv,
    repo: &Path,
    args: &[&str],
    columns: u16,
    lines: u16,
) -> (std::fs::File, std::process::Child) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let ours = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    grantpt(&ours).expect("grantpt");
    unlockpt(&ours).expect("unlockpt");
    let name = ptsname(&ours, Vec::new()).expect("ptsname");
    let theirs: OwnedFd = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
        rustix::fs::Mode::empty(),
    )
    .expect("open the terminal");
    resize(&ours, columns, lines);
    let stdio = || Stdio::from(theirs.try_clone().expect("dup"));
    let child = cli
        .command(args)
        .current_dir(repo)
        .env("TERM", "xterm-256color")
        .stdin(stdio())
        .stdout(stdio())
        .stderr(stdio())
        .spawn()
        .expect("paas");
    (std::fs::File::from(ours), child)
}

fn resize(fd: impl std::os::fd::AsFd, columns: u16, lines: u16) {
    rustix::termios::tcsetwinsize(
        fd,
        rustix::termios::Winsize {
            ws_row: lines,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .expect("resize");
}

/// Reads what the terminal shows until it contains `wanted` (or 20 s pass); all of it.
pub fn read_until(screen: &mut std::fs::File, seen: &mut String, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let fd = screen.try_clone().expect("clone");
    rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK).expect("non-blocking");
    while !seen.contains(wanted) {
        assert!(
            Instant::now() < deadline,
            "waited for {wanted:?}; the screen showed {seen:?}"
        );
        let mut buffer = [0u8; 4096];
        match screen.read(&mut buffer) {
            Ok(0) => panic!("the terminal closed; it showed {seen:?}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}: the screen showed {seen:?}"),
        }
    }
}

#[test]
fn an_interactive_shell_gets_a_terminal_resizes_and_ctrl_c() {
    let (_server, cli, repo) = deployed(&[], "shell");
    let (mut screen, mut child) = on_terminal(&cli, &repo, &["run", "sh"], 100, 30);
    let mut seen = String::new();
    screen
        .write_all(b"echo tty=$(tty) size=$(stty size) term=$TERM\r")
        .expect("type");
    read_until(&mut screen, &mut seen, "size=30 100 term=xterm-256color");
    assert!(seen.contains("tty=/dev/pts/"), "{seen:?}");
    // A resize reaches the dyno's terminal.
    resize(&screen, 120, 40);
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::WINCH,
    )
    .expect("SIGWINCH");
    std::thread::sleep(Duration::from_millis(300));
    screen.write_all(b"echo now=$(stty size)\r").expect("type");
    read_until(&mut screen, &mut seen, "now=40 120");
    // Ctrl-C stops the command in the foreground, not the session.
    screen.write_all(b"sleep 30; echo slept\r").expect("type");
    std::thread::sleep(Duration::from_millis(500));
    screen.write_all(b"\x03").expect("Ctrl-C");
    screen.write_all(b"echo interrupted=$?\r").expect("type");
    read_until(&mut screen, &mut seen, "interrupted=130");
    assert!(!seen.contains("\nslept"), "{seen:?}");
    screen.write_all(b"exit 7\r").expect("type");
    let status = child.wait().expect("paas run");
    assert_eq!(status.code(), Some(7), "{seen:?}");
    // A Ctrl-C the command handles ends the run with the command's own status.
    let (mut screen, mut child) = on_terminal(
        &cli,
        &repo,
        &["run", "trap 'echo handled' INT; sleep 5; echo after"],
        80,
        24,
    );
    let mut seen = String::new();
    read_until(&mut screen, &mut seen, "up, run.");
    std::thread::sleep(Duration::from_millis(700));
    screen.write_all(b"\x03").expect("Ctrl-C");
    read_until(&mut screen, &mut seen, "after");
    assert!(seen.contains("handled"), "{seen:?}");
    assert_eq!(child.wait().expect("paas run").code(), Some(0), "{seen:?}");
}

#[test]
fn detached_runs_log_are_listed_and_stop() {
    let (server, cli, repo) = deployed(&["--max-run-dynos-per-app", "2"], "jobs");
    let out = ok(
        &cli,
        &repo,
        &[
            "run",
            "--detached",
            "--",
            "sh",
            "-c",
            "echo hello-detached; sleep 60",
        ],
    );
    assert_eq!(out.trim(), "run.1");
    let long = ok(&cli, &repo, &["run:detached", "sleep 60"]);
    assert_eq!(long.trim(), "run.2");
    // The app's limit: a third is refused, saying why.
    let refused = paas(&cli, &repo, &["run", "--detached", "true"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        said.contains("the app has 2 one-off dynos running, as many as it may"),
        "{said}"
    );
    // `paas ps` lists them with their command.
    let ps = ok(&cli, &repo, &["ps"]);
    assert!(
        ps.contains("run.1") && ps.contains("sh -c 'echo hello-detached; sleep 60'"),
        "{ps}\n{}\n{}",
        ok(&cli, &repo, &["logs", "--source", "paas"]),
        server.log()
    );
    assert!(ps.contains("run.2") && ps.contains("sleep 60"), "{ps}");
    // Runs hold their image's layers, and nothing else waits for them: another app's destroy
    // (which removes the layers no dyno uses) and this app's next deploy end while they run.
    let other = cli.app_repo_in("static", "other");
    ok(&cli, &other, &["create", "other"]);
    assert!(push(&cli, &other).status.success());
    let started = Instant::now();
    ok(
        &cli,
        &other,
        &["destroy", "-a", "other", "--confirm", "other"],
    );
    ok(&cli, &repo, &["config:set", "AFTER=destroy"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    // Their output is in the app's log.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = ok(&cli, &repo, &["logs", "--ps", "run.1"]);
        if logs.contains("app[run.1]: hello-detached") {
            break;
        }
        assert!(Instant::now() < deadline, "{logs}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Stopped: `down` at once, gone within the grace (SIGTERM reaches the command), its end
    // logged.
    ok(&cli, &repo, &["ps:stop", "run.1"]);
    ok(&cli, &repo, &["stop", "run.2"]);
    let ps = ok(&cli, &repo, &["ps", "--json"]);
    assert!(ps.contains("\"down\"") || !ps.contains("run."), "{ps}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !one_off_containers(&server).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            one_off_containers(&server)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ps = ok(&cli, &repo, &["ps"]);
    assert!(!ps.contains("run."), "{ps}");
    let logs = ok(&cli, &repo, &["logs", "--ps", "run.1", "--source", "paas"]);
    assert!(
        logs.contains("paas[run.1]: Stopping process with SIGTERM"),
        "{logs}"
    );
    assert!(
        logs.contains("paas[run.1]: Process exited with status 143"),
        "{logs}"
    );
    // A formation dyno is not stopped this way; an unknown one is not found.
    let web = paas(&cli, &repo, &["stop", "web.1"]);
    assert!(String::from_utf8_lossy(&web.stderr).contains("web.1 is part of the formation"));
    let missing = paas(&cli, &repo, &["stop", "run.9"]);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("the app runs no one-off dyno \"run.9\"")
    );
}

#[test]
fn a_lost_client_a_timeout_and_bad_input_leave_nothing_running() {
    let (server, cli, repo) = deployed(&["--run-max-timeout", "600"], "careful");
    // A client killed mid-run: its dyno goes within seconds.
    let mut child = cli
        .command(&["run", "sleep 120"])
        .current_dir(&repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paas run");
    let deadline = Instant::now() + Duration::from_secs(10);
    while one_off_containers(&server).is_empty() {
        if Instant::now() > deadline {
            child.kill().expect("kill");
            let out = child.wait_with_output().expect("out");
            panic!(
                "the run never started: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !one_off_containers(&server).is_empty() || ok(&cli, &repo, &["ps"]).contains("run.") {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            one_off_containers(&server)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The time limit.
    let (status, _, stderr) = run_with(&cli, &repo, &["--timeout", "2s", "sleep 60"], b"");
    assert_eq!(status, 137, "{stderr}");
    assert!(stderr.contains("was stopped at its time limit"), "{stderr}");
    let too_long = paas(&cli, &repo, &["run", "--timeout", "2h", "true"]);
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("a run may last at most 600 s"));
    // Bad commands are refused before anything starts.
    let empty = paas(&cli, &repo, &["run", " "]);
    assert_eq!(empty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("the command is empty"));
    let huge = "x".repeat(100 * 1024);
    let refused = paas(&cli, &repo, &["run", &huge]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("the command is longer than 64 KiB"), "{said}");
    assert!(said.len() < 1000, "not echoed");
    let escapes = paas(&cli, &repo, &["run", "echo \x1b]0;title\x07"]);
    let said = String::from_utf8_lossy(&escapes.stderr);
    assert!(
        said.contains("the command contains a control character"),
        "{said}"
    );
    // A refused argument is quoted in part, not echoed whole (it may be a secret).
    let secret = format!("K{}", "s".repeat(40_000));
    let refused = paas(&cli, &repo, &["config:set", &secret]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.len() < 1000, "{said}");
    // An app with nothing released.
    ok(&cli, &repo, &["create", "empty-app", "--no-remote"]);
    let nothing = paas(&cli, &repo, &["run", "-a", "empty-app", "true"]);
    let said = String::from_utf8_lossy(&nothing.stderr);
    assert!(
        said.contains("has no release to run") && said.contains("git push"),
        "{said}"
    );
    assert!(one_off_containers(&server).is_empty());
}

#[test]
fn a_daemon_that_stops_or_dies_ends_its_runs() {
    let (mut server, cli, repo) = deployed(&[], "restarted");
    let attach = |cli: &CliEnv| {
        cli.command(&["run", "sleep 120"])
            .current_dir(&repo)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("paas run")
    };
    let started = |server: &TestServer| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while one_off_containers(server).is_empty() {
            assert!(Instant::now() < deadline, "the run never started");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Stopped: the run is stopped too, and its client told how it ended.
    let child = attach(&cli);
    started(&server);
    server.stop(nix::sys::signal::Signal::SIGTERM);
    let ended = child.wait_with_output().expect("paas run");
    assert_eq!(ended.status.code(), Some(143), "{ended:?}");
    server.restart();
    // Killed: the client says the connection was lost; the next start removes the dyno.
    let child = attach(&cli);
    started(&server);
    server.stop(nix::sys::signal::Signal::SIGKILL);
    let ended = child.wait_with_output().expect("paas run");
    let said = String::from_utf8_lossy(&ended.stderr);
    assert_eq!(ended.status.code(), Some(1), "{said}");
    assert!(
        said.contains("the connection to the dyno was lost"),
        "{said}"
    );
    server.restart();
    assert!(
        one_off_containers(&server).is_empty(),
        "{:?}",
        one_off_containers(&server)
    );
    assert!(!ok(&cli, &repo, &["ps"]).contains("run."));
}

#[test]
fn typed_input_a_terminal_run_never_read_does_not_hold_the_server() {
    let (mut server, cli, repo) = deployed(&[], "pasted");
    let (mut screen, mut child) = on_terminal(&cli, &repo, &["run", "sleep 2"], 80, 24);
    let mut seen = String::new();
    read_until(&mut screen, &mut seen, "up, run.");
    // 200 KB typed into a command that never reads: more than any terminal buffer holds.
    let line = [b'x'; 999];
    rustix::fs::fcntl_setfl(&screen, rustix::fs::OFlags::NONBLOCK).expect("non-blocking");
    for _ in 0..200 {
        let _ = screen.write_all(&line);
        let _ = screen.write_all(b"\r");
    }
    assert_eq!(child.wait().expect("paas run").code(), Some(0));
    let stopping = Instant::now();
    server.stop(nix::sys::signal::Signal::SIGTERM);
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "the server took {:?} to stop",
        stopping.elapsed()
    );
}

//! Tests for `paas logs`: platform events and build output in the app's log, filters, JSON, and
//! a tail that survives a server restart without repeating lines.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::Signal;
use paas_share::models::LogLine;
use paas_tests::{CliEnv, Stack, TestServer};

use super::{paas_bin, server_bin};

#[test]
fn releases_and_builds_show_in_the_log() {
    let server = TestServer::start(&server_bin());
    server.install_stack(Stack::Busybox);
    let cli = CliEnv::pusher(paas_bin(), &server);
    let repo = cli.app_repo("procfile");
    let run = |args: &[&str]| {
        let output = cli.command(args).current_dir(&repo).output().expect("paas");
        assert!(
            output.status.success(),
            "{}",
            paas_tests::transcript(&output)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    run(&["create", "logged"]);
    run(&["config", "set", "A=1"]);
    assert!(
        cli.git(&repo, &["push", "-q", "paas", "main"])
            .status()
            .expect("push")
            .success()
    );

    let all = run(&["logs"]);
    assert!(
        all.contains(" paas[api]: Release v1 created by admin: Set A config vars\n"),
        "{all}"
    );
    assert!(
        all.contains(" paas[build]: -----> Procfile app detected\n"),
        "{all}"
    );
    assert!(
        all.contains(" paas[api]: Release v2 created by admin: Deploy "),
        "{all}"
    );
    assert!(
        all.contains(" paas[scheduler]: Release v2 is up\n"),
        "{all}"
    );
    let first = all.lines().next().expect("a line");
    assert!(
        first.len() > 28 && first.as_bytes()[26] == b'Z' && first.as_bytes()[10] == b'T',
        "{first}"
    );

    let api = run(&["logs", "--source", "paas", "--ps", "api"]);
    assert_eq!(api.lines().count(), 2, "{api}");
    assert_eq!(run(&["logs", "-n", "1"]).lines().count(), 1);
    for line in run(&["logs", "--json"]).lines() {
        let parsed: LogLine = serde_json::from_str(line).expect("one JSON log line per line");
        assert_eq!(parsed.source, "paas");
    }
    let output = cli
        .command(&["logs", "--source", "dyno"])
        .current_dir(&repo)
        .output()
        .expect("paas");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_tail_follows_new_lines_and_resumes_after_a_restart() {
    let mut server = TestServer::start(&server_bin());
    let cli = CliEnv::new(paas_bin(), &server.api);
    cli.login(&server.admin_token());
    cli.ok(&["create", "tailed"]);
    cli.ok(&["config", "set", "FIRST=1", "-a", "tailed"]);

    let mut tail = cli
        .command(&["logs", "--tail", "-a", "tailed"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tail");
    let (tx, rx) = mpsc::channel();
    let stdout = tail.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait_for = |needle: &str| -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(15))
                .unwrap_or_else(|_| panic!("no {needle:?} in {seen:?}"));
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return seen;
            }
        }
    };
    wait_for("Set FIRST config vars");
    cli.ok(&["config", "set", "SECOND=1", "-a", "tailed"]);
    wait_for("Set SECOND config vars");

    // The server restarts (same port); the tail reconnects and goes on without repeats.
    server.stop(Signal::SIGTERM);
    // Down for a few seconds: the tail tries each second, and says so once.
    std::thread::sleep(Duration::from_secs(3));
    server.restart();
    cli.ok(&["config", "set", "THIRD=1", "-a", "tailed"]);
    let seen = wait_for("Set THIRD config vars");
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("FIRST") || l.contains("SECOND")),
        "no line twice: {seen:?}"
    );
    tail.kill().expect("stop the tail");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut tail.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    let _ = tail.wait();
    assert_eq!(
        stderr.matches("reconnecting").count(),
        1,
        "one warning per outage: {stderr}"
    );
    assert!(
        stderr.contains("Reconnected to the log stream."),
        "{stderr}"
    );
}

//! Tests for autoscaling: under concurrent load, an app whose response time grows with the
//! requests waiting gets more web dynos, and fewer once the load stops; settings are checked,
//! `paas scale` leaves an autoscaled type alone, and the settings survive a `kill -9`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use paas_tests::CliEnv;
use serde_json::Value;

use super::run::{ok, push, refused, serving_with};

/// The web dyno count of the app's formation.
pub(super) fn web_dynos(cli: &CliEnv, repo: &std::path::Path) -> u64 {
    let formation: Value =
        serde_json::from_str(&ok(cli, repo, &["scale", "--json"])).expect("JSON");
    formation
        .as_array()
        .expect("formation")
        .iter()
        .find(|f| f["type"] == "web")
        .and_then(|f| f["quantity"].as_u64())
        .unwrap_or(0)
}

/// Polls until the web count is `wanted`, for at most `within`.
pub(super) fn await_web_dynos(
    server: &paas_tests::TestServer,
    cli: &CliEnv,
    repo: &std::path::Path,
    wanted: u64,
    within: Duration,
) {
    let start = Instant::now();
    while web_dynos(cli, repo) != wanted {
        assert!(
            start.elapsed() < within,
            "web did not reach {wanted} dynos in {within:?}:\n{}\n{}",
            ok(cli, repo, &["autoscale"]),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn load_scales_web_up_and_idleness_back_down() {
    let (mut server, cli) = serving_with(&[
        "--autoscale-interval",
        "1",
        "--autoscale-up-after",
        "4",
        "--autoscale-down-after",
        "8",
        "--max-dynos-per-app",
        "5",
    ]);
    let repo = cli.app_repo("one-at-a-time");
    ok(&cli, &repo, &["create", "queue"]);
    assert!(push(&cli, &repo).status.success(), "{}", server.log());

    // Settings that cannot work are refused, and nothing is recorded.
    for (args, code, says) in [
        (
            &["--min", "3", "--max", "2", "--p95", "300ms"][..],
            1,
            "--min 3 is over --max 2",
        ),
        (
            &["--min", "1", "--max", "9", "--p95", "300ms"],
            1,
            "limit of 5 dynos per app",
        ),
        (
            &["--min", "0", "--max", "2", "--p95", "300ms"],
            1,
            "at least 1",
        ),
        (&["--min", "1", "--max", "2"], 1, "no target given"),
        (
            &["--min", "1", "--max", "2", "--p95", "fast"],
            2,
            "is not a time",
        ),
        (
            &["--min", "1", "--max", "2", "--p95", "0ms"],
            2,
            "is no time",
        ),
        (
            &["--min", "1", "--max", "2", "--cpu", "250%"],
            2,
            "from 1% to 100%",
        ),
    ] {
        let mut all = vec!["autoscale:enable", "web"];
        all.extend(args);
        refused(&cli, &repo, &all, code, says);
    }
    refused(
        &cli,
        &repo,
        &[
            "autoscale:enable",
            "worker",
            "--min",
            "1",
            "--max",
            "2",
            "--cpu",
            "70%",
        ],
        1,
        "unknown process type \"worker\"; the current release has: web",
    );
    refused(
        &cli,
        &repo,
        &["autoscale:disable", "web"],
        1,
        "is not autoscaled",
    );
    let none: Value =
        serde_json::from_str(&ok(&cli, &repo, &["autoscale", "--json"])).expect("JSON");
    assert_eq!(none["rules"], serde_json::json!([]), "{none}");

    let enabled = ok(
        &cli,
        &repo,
        &[
            "autoscale:enable",
            "web",
            "--min",
            "1",
            "--max",
            "3",
            "--p95",
            "300ms",
        ],
    );
    assert!(enabled.is_empty(), "{enabled}");
    refused(
        &cli,
        &repo,
        &["scale", "web=2"],
        1,
        "web is autoscaled between 1 and 3 dynos",
    );

    // Eight clients at once against one-request-at-a-time dynos: requests wait in line.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (stop, router) = (Arc::clone(&stop), server.router.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut statuses = Vec::new();
                // Bounded: a minute at most, whatever happens.
                while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(60) {
                    statuses.push(super::run::status_at(&router, "queue", "/cgi-bin/work"));
                }
                statuses
            })
        })
        .collect();
    await_web_dynos(&server, &cli, &repo, 3, Duration::from_secs(50));
    stop.store(true, Ordering::SeqCst);
    let statuses: Vec<u16> = load
        .into_iter()
        .flat_map(|t| t.join().expect("load"))
        .collect();
    assert!(statuses.len() > 50, "{} requests", statuses.len());
    assert!(
        statuses.iter().all(|s| *s == 200),
        "not all 200 while scaling up: {statuses:?}"
    );
    let shown = ok(&cli, &repo, &["autoscale"]);
    for line in [
        "=== queue autoscaling",
        "web   1    3    p95 300ms",
        "over 4s: web 1 → 2",
        "over 4s: web 2 → 3",
    ] {
        assert!(shown.contains(line), "{line}:\n{shown}");
    }
    let logs = ok(&cli, &repo, &["logs", "--ps", "autoscale"]);
    assert!(
        logs.contains("paas[autoscale]: p95 ") && logs.contains("ms > 300ms over 4s: web 1 → 2"),
        "{logs}"
    );

    // Idle: one fewer per quiet window, down to the minimum.
    await_web_dynos(&server, &cli, &repo, 1, Duration::from_secs(40));
    // The decision is recorded once the scale is done (its dyno stopped), after the formation.
    let recorded = Instant::now();
    loop {
        let shown = ok(&cli, &repo, &["autoscale"]);
        if shown.contains("no requests over 8s: web 2 → 1") {
            break;
        }
        assert!(recorded.elapsed() < Duration::from_secs(20), "{shown}");
        std::thread::sleep(Duration::from_millis(250));
    }

    // The daemon killed: the settings are still there, and still hold.
    server.stop(Signal::SIGKILL);
    server.restart();
    let after: Value =
        serde_json::from_str(&ok(&cli, &repo, &["autoscale", "--json"])).expect("JSON");
    assert_eq!(after["rules"][0]["type"], "web", "{after}");
    assert_eq!(after["rules"][0]["p95_ms"], 300, "{after}");
    assert!(
        after["decisions"].as_array().is_some_and(|d| d.len() >= 4),
        "{after}"
    );
    refused(
        &cli,
        &repo,
        &["scale", "web=2"],
        1,
        "--min N --max M --p95 300ms`, or scale by hand after `paas autoscale:disable web`",
    );

    // A new range moves the count into it at the next look.
    ok(
        &cli,
        &repo,
        &[
            "autoscale:enable",
            "web",
            "--min",
            "2",
            "--max",
            "2",
            "--p95",
            "1s",
        ],
    );
    await_web_dynos(&server, &cli, &repo, 2, Duration::from_secs(20));

    // Disabled: the count stays, and `paas scale` works again.
    ok(&cli, &repo, &["autoscale:disable", "web"]);
    assert_eq!(web_dynos(&cli, &repo), 2);
    ok(&cli, &repo, &["scale", "web=1"]);
    assert_eq!(web_dynos(&cli, &repo), 1);
}

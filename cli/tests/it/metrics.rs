//! Tests for metrics: requests through the router and the dynos' cgroup samples show in `paas
//! metrics` and in the Prometheus exposition (admins only), survive a `kill -9` of the daemon,
//! and go with their app.

use std::time::Duration;

use nix::sys::signal::Signal;
use paas_tests::{CliEnv, transcript};
use serde_json::Value;

use super::push::stderr_of;
use super::run::{ok, paas, push, serving_with};

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

/// `GET /metrics` on the Prometheus listener with `token`: (status, body).
fn scrape(metrics: &str, token: Option<&str>) -> (u16, String) {
    let mut args = vec![
        "-s".to_owned(),
        "--noproxy".to_owned(),
        "*".to_owned(),
        "-w".to_owned(),
        "\n%{http_code}".to_owned(),
    ];
    if let Some(token) = token {
        args.extend(["-H".to_owned(), format!("Authorization: Bearer {token}")]);
    }
    args.push(format!("http://{metrics}/metrics"));
    let output = std::process::Command::new("curl")
        .args(&args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("status");
    (status.parse().expect("status"), body.to_owned())
}

/// The web summary of `paas metrics --json`.
fn web(server: &paas_tests::TestServer, cli: &CliEnv, repo: &std::path::Path) -> Value {
    let output = paas(cli, repo, &["metrics", "--json"]);
    assert!(
        output.status.success(),
        "{}\n{}",
        transcript(&output),
        server.log()
    );
    let metrics = json(&String::from_utf8_lossy(&output.stdout));
    metrics["process_types"]
        .as_array()
        .expect("types")
        .iter()
        .find(|t| t["process_type"] == "web")
        .unwrap_or_else(|| panic!("no web figures: {metrics}"))["summary"]
        .clone()
}

#[test]
fn requests_and_resources_show_in_metrics_and_survive_a_kill() {
    let (mut server, cli) = serving_with(&["--metrics-listen", "127.0.0.1:0"]);
    // And a worker that keeps crashing: its restarts are counted.
    let repo = super::run::fixture_with(
        &cli,
        "envpage",
        "worker: sleep 1; exit 1",
        "a crashing worker",
    );
    ok(&cli, &repo, &["create", "shop"]);
    assert!(push(&cli, &repo).status.success());
    ok(&cli, &repo, &["scale", "worker=1"]);
    for path in ["/"; 20].iter().chain(&["/missing"; 5]) {
        super::run::status(&server, "shop", path);
    }
    // A cgroup sample every 10 s, the store every 15 s.
    std::thread::sleep(Duration::from_secs(16));
    let summary = web(&server, &cli, &repo);
    assert_eq!(summary["requests"], 25, "{summary}");
    assert_eq!(summary["responses"]["2xx"], 20, "{summary}");
    assert_eq!(summary["responses"]["4xx"], 5, "{summary}");
    assert!(summary["p95_ms"].as_u64().is_some(), "{summary}");
    assert_eq!(summary["dynos"], 1, "{summary}");
    assert!(
        summary["memory_bytes"].as_u64().is_some_and(|b| b > 0),
        "{summary}"
    );
    assert!(summary["cpu_percent"].as_f64().is_some(), "{summary}");
    let text = ok(&cli, &repo, &["metrics"]);
    for line in [
        "=== shop metrics, last 1h",
        "web  (1 dyno now)",
        "requests",
        "p95",
        "memory",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let output = paas(&cli, &repo, &["metrics", "--json"]);
    assert!(output.status.success(), "{}", transcript(&output));
    let all = json(&String::from_utf8_lossy(&output.stdout));
    let worker = all["process_types"]
        .as_array()
        .expect("types")
        .iter()
        .find(|t| t["process_type"] == "worker")
        .unwrap_or_else(|| panic!("no worker figures: {all}"))["summary"]
        .clone();
    let ps = json(&ok(&cli, &repo, &["ps", "--json"]));
    let restarted = ps
        .as_array()
        .expect("dynos")
        .iter()
        .find(|d| d["name"] == "worker.1")
        .and_then(|d| d["restarts"].as_u64())
        .expect("worker.1");
    let counted = worker["restarts"].as_u64().expect("restarts");
    assert!(
        counted >= 1 && counted <= restarted,
        "{counted} of {restarted}: {worker}"
    );
    super::run::refused(
        &cli,
        &repo,
        &["metrics", "--type", "nope"],
        1,
        "no figures for process type \"nope\"",
    );

    // Prometheus: admins only.
    let endpoint = server.metrics.clone().expect("metrics listener");
    assert_eq!(scrape(&endpoint, None).0, 401);
    let (status, body) = scrape(&endpoint, Some(&server.admin_token()));
    assert_eq!(status, 200, "{body}");
    for line in [
        "paas_router_requests_total{app=\"shop\",process_type=\"web\",status=\"2xx\"} 20",
        "paas_router_response_seconds_count{app=\"shop\",process_type=\"web\"} 25",
        "paas_dynos{app=\"shop\",process_type=\"web\"} 1",
        "paas_router_requests_in_flight{app=\"shop\",process_type=\"web\"} 0",
    ] {
        assert!(body.contains(line), "{line}\n{body}");
    }
    let created = std::process::Command::new(super::server_bin())
        .args(["user", "create", "eve", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("user create");
    let eve = String::from_utf8(created.stdout).expect("utf-8");
    assert_eq!(scrape(&endpoint, Some(eve.trim())).0, 403);

    // Bad input.
    let output = paas(&cli, &repo, &["metrics", "--since", "2d"]);
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    assert!(
        stderr_of(&output).contains("from 1m to 24h"),
        "{}",
        transcript(&output)
    );

    // The daemon killed: what was stored comes back.
    server.stop(Signal::SIGKILL);
    server.restart();
    let summary = web(&server, &cli, &repo);
    assert_eq!(summary["requests"], 25, "{summary}");

    // Gone with the app.
    ok(&cli, &repo, &["destroy", "shop", "--confirm", "shop"]);
    let endpoint = server.metrics.clone().expect("metrics listener");
    let (_, body) = scrape(&endpoint, Some(&server.admin_token()));
    assert!(!body.contains("app=\"shop\""), "{body}");
}

//! Tests for alerts: a crash, a failed release and a p95 threshold each deliver a signed JSON
//! POST to a webhook receiver in the test; failed tries are retried; bad triggers and URLs are
//! refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use paas_tests::CliEnv;
use serde_json::Value;

use super::run::{ok, push, refused, serving_with};

/// One request a receiver got: its headers (lowercased names) and body.
struct Delivery {
    headers: Vec<(String, String)>,
    body: String,
}

impl Delivery {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A webhook receiver on loopback that answers `failures` requests with 500 first, then 200.
fn receiver(failures: usize) -> (String, mpsc::Receiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hooks/paas", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (answered, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut headers = Vec::new();
            let mut line = String::new();
            let _ = reader.read_line(&mut line); // request line
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.trim_end().split_once(':') {
                    headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let status = if answered < failures {
                "500 Oops"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let delivery = Delivery {
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            if status.starts_with("200") && tx.send(delivery).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// The next delivery within `within`, whose `on` is `on`.
fn next(
    rx: &mpsc::Receiver<Delivery>,
    on: &str,
    within: Duration,
    server: &paas_tests::TestServer,
) -> Delivery {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(delivery) if delivery.json()["on"] == on => return delivery,
            Ok(_) => continue,
            Err(_) => panic!("no {on} delivery in {within:?}:\n{}", server.log()),
        }
    }
}

/// Checks `Paas-Signature` against `secret` with openssl, as a receiver in a shell would.
fn assert_signed(delivery: &Delivery, secret: &str) {
    let header = delivery.header("paas-signature").expect("Paas-Signature");
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("{header}"));
    let t: i64 = t.parse().expect("unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!((now - t).abs() < 60, "{t} is not recent");
    let mut openssl = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    write!(
        openssl.stdin.take().expect("stdin"),
        "{t}.{}",
        delivery.body
    )
    .expect("write");
    let output = openssl.wait_with_output().expect("openssl");
    let digest = String::from_utf8_lossy(&output.stdout);
    assert!(
        digest.trim_end().ends_with(&format!("= {v1}")),
        "{digest} vs {v1}"
    );
}

/// `paas alerts:add --on ON --webhook URL --json`: (id, secret).
fn add(cli: &CliEnv, repo: &std::path::Path, on: &str, webhook: &str) -> (String, String) {
    let alert: Value = serde_json::from_str(&ok(
        cli,
        repo,
        &["alerts:add", "--on", on, "--webhook", webhook, "--json"],
    ))
    .expect("JSON");
    (
        alert["id"].as_str().expect("id").to_owned(),
        alert["secret"].as_str().expect("secret").to_owned(),
    )
}

#[test]
fn crashes_failed_releases_and_thresholds_call_signed_webhooks() {
    // The receivers are this machine's: the operator allows private targets.
    let (server, cli) = serving_with(&["--alert-window", "6", "--allow-private-targets"]);
    let repo = super::run::fixture_with(
        &cli,
        "envpage",
        "worker: sleep 1; exit 1",
        "a worker that crashes",
    );
    ok(&cli, &repo, &["create", "watched"]);
    assert!(push(&cli, &repo).status.success(), "{}", server.log());

    // Bad triggers and URLs are refused; nothing is added.
    for (on, webhook, says) in [
        (
            "crashes",
            "http://127.0.0.1:9/",
            "unknown trigger \"crashes\"",
        ),
        ("p95>0ms", "http://127.0.0.1:9/", "from 1ms to 1h"),
        ("p95>fast", "http://127.0.0.1:9/", "not a time"),
        ("5xx>200%", "http://127.0.0.1:9/", "under 100%"),
        (
            "crash",
            "ftp://hooks.example.com/",
            "must be an http:// or https:// URL",
        ),
        ("crash", "hooks.example.com/paas", "is not a URL"),
    ] {
        refused(
            &cli,
            &repo,
            &["alerts:add", "--on", on, "--webhook", webhook],
            1,
            says,
        );
    }
    refused(
        &cli,
        &repo,
        &["alerts:remove", "nope"],
        1,
        "has no alert \"nope\"",
    );
    assert!(ok(&cli, &repo, &["alerts"]).contains("None yet"));

    let (hooks, deliveries) = receiver(0);
    let (flaky, flaky_deliveries) = receiver(2);
    let (crash_id, crash_secret) = add(&cli, &repo, "crash", &hooks);
    let (_, failed_secret) = add(&cli, &repo, "deploy-failed", &flaky);
    let (_, slow_secret) = add(&cli, &repo, "p95>1ms", &hooks);
    // A webhook nobody listens on: tried, and the failure shown.
    let closed = format!("http://127.0.0.1:{}/gone", paas_tests::free_port());
    let (gone_id, _) = add(&cli, &repo, "crash", &closed);
    let listed: Value =
        serde_json::from_str(&ok(&cli, &repo, &["alerts", "--json"])).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(4), "{listed}");
    assert!(
        listed
            .as_array()
            .expect("alerts")
            .iter()
            .all(|a| a.get("secret").is_none()),
        "secrets are shown once: {listed}"
    );

    // Steady requests: every p95 is over 1 ms (the first bucket's bound is 5 ms): firing.
    let traffic = super::run::Watch::start(&server, "watched");
    let firing = next(&deliveries, "p95>1ms", Duration::from_secs(20), &server);
    assert_signed(&firing, &slow_secret);
    let body = firing.json();
    assert_eq!(body["state"], "firing", "{body}");
    assert_eq!(body["app"], "watched", "{body}");
    // The p95 is a bucket's bound: 5 ms on an idle machine, more on a busy one.
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("web p95 ") && m.contains("ms > 1ms over the last 6s")),
        "{body}"
    );
    assert_eq!(firing.header("content-type"), Some("application/json"));
    traffic.finish_all_ok();
    // No more requests: resolved once the window holds none.
    let resolved = next(&deliveries, "p95>1ms", Duration::from_secs(20), &server);
    assert_eq!(resolved.json()["state"], "resolved", "{}", resolved.body);

    // A crashing worker: one delivery, signed with the crash alert's secret.
    ok(&cli, &repo, &["scale", "worker=1"]);
    let crash = next(&deliveries, "crash", Duration::from_secs(40), &server);
    assert_signed(&crash, &crash_secret);
    let body = crash.json();
    assert_eq!(
        (body["state"].as_str(), body["alert"].as_str()),
        (Some("event"), Some(crash_id.as_str()))
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("worker: ")),
        "{body}"
    );
    ok(&cli, &repo, &["scale", "worker=0"]);

    // A release phase that fails: deploy-failed, delivered on the third try.
    let procfile = std::fs::read_to_string(repo.join("Procfile")).expect("Procfile");
    std::fs::write(
        repo.join("Procfile"),
        format!("{procfile}release: echo migrating; exit 3\n"),
    )
    .expect("write");
    cli.commit_all(&repo, "a release phase that fails");
    assert!(!push(&cli, &repo).status.success());
    let failed = next(
        &flaky_deliveries,
        "deploy-failed",
        Duration::from_secs(30),
        &server,
    );
    assert_signed(&failed, &failed_secret);
    let message = failed.json()["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(
        message.contains("failed: release phase: the release command exited with status 3"),
        "{message}"
    );
    // The app keeps serving its running release.
    assert_eq!(super::run::status(&server, "watched", "/"), 200);

    // How the last deliveries went.
    let start = Instant::now();
    loop {
        let listed: Value =
            serde_json::from_str(&ok(&cli, &repo, &["alerts", "--json"])).expect("JSON");
        let of = |on: &str, id: Option<&str>| {
            listed
                .as_array()
                .expect("alerts")
                .iter()
                .find(|a| a["on"] == on && id.is_none_or(|id| a["id"] == id))
                .map(|a| a["last_delivery"].clone())
                .unwrap_or_default()
        };
        let gone = of("crash", Some(&gone_id));
        let flaky = of("deploy-failed", None);
        if gone["status"].is_string() && flaky["status"].is_string() {
            assert_eq!(flaky["ok"], true, "{listed}");
            assert_eq!(flaky["status"], "200 after 3 attempts", "{listed}");
            assert_eq!(gone["ok"], false, "{listed}");
            assert_eq!(
                gone["status"], "cannot connect after 5 attempts",
                "{listed}"
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(40), "{listed}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let table = ok(&cli, &repo, &["alerts"]);
    assert!(
        table.contains("failed ") && table.contains("cannot connect after 5 attempts"),
        "{table}"
    );
    ok(&cli, &repo, &["alerts:remove", &gone_id]);
    let listed: Value =
        serde_json::from_str(&ok(&cli, &repo, &["alerts", "--json"])).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
}

//! Tests for flow control at the router (`paas limits`): a rate lets through what it says and
//! answers the rest 429 with `Retry-After`; a concurrency cap sheds what its queue cannot hold
//! with 503 at once; a dyno that only fails leaves the rotation; bad limits are refused.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::run::{ok, push, refused, request, serving, status_at};

/// `GET path`: the status and the `Retry-After` header.
fn get_with_retry_after(router: &str, app: &str, path: &str) -> (u16, Option<String>) {
    let answer = request(router, app, path, "");
    let retry_after = answer.header("retry-after").map(str::to_owned);
    (answer.status, retry_after)
}

#[test]
fn a_rate_lets_its_share_through_and_refuses_the_rest() {
    let (server, cli) = serving();
    let repo = cli.app_repo("procfile");
    ok(&cli, &repo, &["create", "limited"]);
    assert!(push(&cli, &repo).status.success(), "{}", server.log());

    for (args, code, says) in [
        (
            &["limits:set", "rate=0"][..],
            2,
            "give a whole number from 1 to 1000000",
        ),
        (&["limits:set", "rate=100/m"], 2, "rates are per second"),
        (
            &["limits:set", "speed=5"],
            2,
            "the limits are rate, burst, concurrency, per-ip",
        ),
        (&["limits:set", "concurrency"], 2, "is not LIMIT=VALUE"),
        (&["limits:set", "burst=50"], 1, "a burst needs a rate"),
        (&["limits:unset"], 2, "required"),
    ] {
        refused(&cli, &repo, args, code, says);
    }
    let none: Value = serde_json::from_str(&ok(&cli, &repo, &["limits", "--json"])).expect("JSON");
    assert_eq!(none["rate_per_s"], Value::Null, "{none}");

    let set = ok(&cli, &repo, &["limits:set", "rate=20/s", "burst=20"]);
    assert!(set.contains("20 requests/s (bursts of up to 20)"), "{set}");

    // Four clients as fast as they can for 5 s: the burst, then 20 a second.
    let started = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let router = server.router.clone();
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while started.elapsed() < Duration::from_secs(5) {
                    answers.push(get_with_retry_after(&router, "limited", "/"));
                }
                answers
            })
        })
        .collect();
    let answers: Vec<(u16, Option<String>)> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    // The fixture has no page at `/`: what passes is busybox httpd's 404.
    let passed = answers.iter().filter(|(s, _)| *s == 404).count() as f64;
    let limited: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    let expected = 20.0 + 20.0 * elapsed;
    assert!(
        (passed - expected).abs() <= expected * 0.1,
        "{passed} passed in {elapsed:.2} s, expected {expected:.0} ± 10 %"
    );
    assert_eq!(
        passed as usize + limited.len(),
        answers.len(),
        "only 404 and 429"
    );
    assert!(limited.len() > 100, "{} refused", limited.len());
    assert!(
        limited.iter().all(|(_, r)| r.as_deref() == Some("1")),
        "429 says when to come back"
    );
    let metrics: Value =
        serde_json::from_str(&ok(&cli, &repo, &["metrics", "--json"])).expect("JSON");
    let web = &metrics["process_types"][0]["summary"];
    assert_eq!(web["limited"], limited.len() as u64, "{web}");
    let logs = ok(&cli, &repo, &["logs", "--ps", "router", "-n", "1500"]);
    assert!(
        logs.contains("at=error desc=\"Rate limit exceeded\"") && logs.contains("status=429"),
        "{logs}"
    );

    // Per client: its own bucket; removing the app's rate takes its burst along.
    let set = ok(&cli, &repo, &["limits:unset", "rate"]);
    assert!(set.contains("Rate:        no limit"), "{set}");
    ok(&cli, &repo, &["limits:set", "per-ip=5/s"]);
    let statuses: Vec<u16> = (0..12)
        .map(|_| status_at(&server.router, "limited", "/"))
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    ok(&cli, &repo, &["limits:unset", "--all"]);
    assert_eq!(status_at(&server.router, "limited", "/"), 404);
}

#[test]
fn a_busy_app_sheds_at_once_and_a_failing_dyno_leaves_the_rotation() {
    let (server, cli) = serving();
    let repo = cli.app_repo("one-at-a-time");
    // A second script that fails on one dyno only.
    std::fs::write(
        repo.join("cgi-bin/flaky"),
        "#!/bin/sh\nif [ \"$DYNO\" = web.2 ]; then printf 'Status: 500 Broken\\r\\n\\r\\nbroken\\n'; \
         else printf 'Content-Type: text/plain\\r\\n\\r\\nfine\\n'; fi\n",
    )
    .expect("write");
    std::fs::set_permissions(
        repo.join("cgi-bin/flaky"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    cli.commit_all(&repo, "a flaky endpoint");
    ok(&cli, &repo, &["create", "busy"]);
    assert!(push(&cli, &repo).status.success(), "{}", server.log());

    // One request at a time per dyno, one more in the queue: of eight at once, the rest are
    // shed at once rather than waiting their turn.
    ok(&cli, &repo, &["limits:set", "concurrency=1"]);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let router = server.router.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let answer = get_with_retry_after(&router, "busy", "/cgi-bin/work");
                (answer, started.elapsed())
            })
        })
        .collect();
    let answers: Vec<_> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    let served = answers.iter().filter(|((s, _), _)| *s == 200).count();
    let shed: Vec<_> = answers.iter().filter(|((s, _), _)| *s == 503).collect();
    assert!(served >= 2, "{answers:?}");
    assert_eq!(served + shed.len(), 8, "{answers:?}");
    assert!(!shed.is_empty(), "{answers:?}");
    assert!(
        shed.iter()
            .all(|((_, r), took)| r.as_deref() == Some("1") && *took < Duration::from_millis(500)),
        "shed at once, with Retry-After: {answers:?}"
    );
    let logs = ok(&cli, &repo, &["logs", "--ps", "router"]);
    assert!(
        logs.contains("code=H11 desc=\"Backlog too deep\""),
        "{logs}"
    );
    let shown = ok(&cli, &repo, &["metrics"]);
    assert!(shown.contains("shed when too busy (503)"), "{shown}");

    // Two dynos, one of which answers only 500: after five failures in a row it is out of
    // rotation, and the requests that follow all reach the other.
    ok(&cli, &repo, &["limits:unset", "--all"]);
    ok(&cli, &repo, &["scale", "web=2"]);
    let first: Vec<u16> = (0..20)
        .map(|_| status_at(&server.router, "busy", "/cgi-bin/flaky"))
        .collect();
    assert_eq!(first.iter().filter(|s| **s == 500).count(), 5, "{first:?}");
    let after: Vec<u16> = (0..20)
        .map(|_| status_at(&server.router, "busy", "/cgi-bin/flaky"))
        .collect();
    assert!(after.iter().all(|s| *s == 200), "{after:?}");
    let logs = ok(&cli, &repo, &["logs", "--ps", "router"]);
    assert!(
        logs.contains(
            "at=warning dyno=web.2 desc=\"taken out of rotation for 10 s after 5 failed responses in a row\""
        ),
        "{logs}"
    );
}

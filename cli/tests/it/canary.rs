//! Tests for canary releases: `git push -o canary=N` splits clients by the weight (sticky by
//! cookie) between the running release and the canary, which is promoted or aborted by hand, or
//! by itself from both sides' figures; bad options and a canary that cannot boot are refused
//! with the running release serving throughout; a server killed mid-canary aborts it.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use paas_tests::{CliEnv, transcript};
use serde_json::Value;

use super::push::stderr_of;
use super::run::{ok, push, refused, request, serving_with};

/// `GET path`, with `cookie` if given: (status, body, Set-Cookie).
fn get(router: &str, app: &str, path: &str, cookie: Option<&str>) -> (u16, String, Option<String>) {
    let extra = cookie.map_or(String::new(), |c| format!("Cookie: theme=dark; {c}\r\n"));
    let answer = request(router, app, path, &extra);
    let set_cookie = answer.header("set-cookie").map(str::to_owned);
    (answer.status, answer.body, set_cookie)
}

pub fn push_with(cli: &CliEnv, repo: &Path, options: &[&str]) -> std::process::Output {
    let mut args = vec!["push"];
    for option in options {
        args.extend(["-o", option]);
    }
    args.extend(["paas", "main"]);
    cli.git(repo, &args).output().expect("git push")
}

fn canary_json(cli: &CliEnv, repo: &Path) -> Value {
    serde_json::from_str(&ok(cli, repo, &["canary", "--json"])).expect("JSON")
}

fn release_status(cli: &CliEnv, repo: &Path, version: u64) -> (String, String) {
    let releases: Value =
        serde_json::from_str(&ok(cli, repo, &["releases", "--json"])).expect("JSON");
    let release = releases
        .as_array()
        .expect("releases")
        .iter()
        .find(|r| r["version"] == version)
        .unwrap_or_else(|| panic!("no v{version}: {releases}"));
    (
        release["status"].as_str().unwrap_or_default().to_owned(),
        release["failure"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn a_pushed_canary_gets_its_share_and_is_promoted_by_hand() {
    let (mut server, cli) = serving_with(&[]);
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "gray"]);
    assert!(push(&cli, &repo).status.success(), "{}", server.log());

    // Options the server does not know, or weights it cannot split by, are refused before the
    // build; nothing changes.
    cli.commit_all(&repo, "a second version");
    for (options, says) in [
        (
            &["canary=150"][..],
            "a canary's weight is a percent from 1 to 99",
        ),
        (
            &["ci.skip"],
            "unknown push option \"ci.skip\"; paas knows: canary=",
        ),
        (&["canary=5", "canary=6"], "twice"),
    ] {
        let output = push_with(&cli, &repo, options);
        assert!(!output.status.success(), "{}", transcript(&output));
        assert!(stderr_of(&output).contains(says), "{}", transcript(&output));
    }
    assert_eq!(canary_json(&cli, &repo)["canary"], Value::Null);

    let output = push_with(&cli, &repo, &["canary=20"]);
    let said = stderr_of(&output);
    assert!(output.status.success(), "{}", transcript(&output));
    for line in [
        "-----> Starting v2 as a canary: 20 % of clients",
        "Starting canary.1 (v2)",
        "-----> v2 is a canary: 20 % of clients go to it, the rest to v1",
        "paas canary:promote",
    ] {
        assert!(said.contains(line), "{line}:\n{said}");
    }
    let ps = ok(&cli, &repo, &["ps"]);
    assert!(ps.contains("canary.1") && ps.contains("web.1"), "{ps}");

    // 2,000 clients without a cookie: the share is the weight (±3 points), and each is told
    // its side.
    let mut to_canary = 0;
    for _ in 0..2000 {
        let (status, body, cookie) = get(&server.router, "gray", "/", None);
        assert_eq!(status, 200, "{body}");
        let cookie = cookie.expect("a new client gets a cookie");
        if body.contains("dyno=canary.1") {
            to_canary += 1;
            assert!(cookie.starts_with("paas-canary=v2.1;"), "{cookie}");
        } else {
            assert!(body.contains("dyno=web.1"), "{body}");
            assert!(cookie.starts_with("paas-canary=v2.0;"), "{cookie}");
        }
    }
    let share = f64::from(to_canary) / 20.0;
    assert!((17.0..=23.0).contains(&share), "{share} % to the canary");
    // A client keeps its side.
    for (cookie, dyno) in [
        ("paas-canary=v2.1", "canary.1"),
        ("paas-canary=v2.0", "web.1"),
    ] {
        for _ in 0..20 {
            let (_, body, set) = get(&server.router, "gray", "/", Some(cookie));
            assert!(body.contains(dyno), "{cookie}: {body}");
            assert!(set.is_none(), "a client with its cookie is not told again");
        }
    }
    let shown = ok(&cli, &repo, &["canary"]);
    for line in [
        "=== gray canary v2: 20 % of clients (v1 has the rest)",
        "RELEASE  ROLE     REQUESTS",
        "v1       running  ",
        "v2       canary   ",
        "It runs until `paas canary:promote` or `paas canary:abort`.",
    ] {
        assert!(shown.contains(line), "{line}:\n{shown}");
    }
    let status = canary_json(&cli, &repo);
    assert_eq!(status["sides"][1]["requests"], to_canary + 20, "{status}");

    // One canary at a time.
    cli.commit_all(&repo, "a third version");
    let output = push_with(&cli, &repo, &["canary=10"]);
    assert!(!output.status.success(), "{}", transcript(&output));
    assert!(
        stderr_of(&output).contains("canary v2 runs already: promote or abort it first"),
        "{}",
        transcript(&output)
    );

    let promoted = paas_stderr(&cli, &repo, &["canary:promote"]);
    assert!(promoted.contains("Promoted v2 of gray"), "{promoted}");
    assert_eq!(release_status(&cli, &repo, 2).0, "succeeded");
    let ps = ok(&cli, &repo, &["ps"]);
    assert!(!ps.contains("canary.1") && ps.contains("v2"), "{ps}");
    for _ in 0..20 {
        let (_, body, cookie) = get(&server.router, "gray", "/", None);
        assert!(body.contains("dyno=web.1") && cookie.is_none(), "{body}");
    }
    refused(
        &cli,
        &repo,
        &["canary:promote"],
        1,
        "the app has no canary running",
    );
    refused(
        &cli,
        &repo,
        &["canary:abort"],
        1,
        "the app has no canary running",
    );

    // Another release replaces a canary: a config change is deployed, its config kept (the
    // canary's abort does not put the old release's config back).
    let output = push_with(&cli, &repo, &["canary=50"]);
    assert!(output.status.success(), "{}", transcript(&output));
    ok(&cli, &repo, &["config:set", "GREETING=hi"]);
    assert_eq!(canary_json(&cli, &repo)["canary"], Value::Null);
    let (status, failure) = release_status(&cli, &repo, 3);
    assert_eq!(
        (status.as_str(), failure.as_str()),
        ("failed", "canary aborted: superseded by v4")
    );
    assert_eq!(ok(&cli, &repo, &["config:get", "GREETING"]).trim(), "hi");
    for _ in 0..20 {
        let (_, body, _) = get(&server.router, "gray", "/", Some("paas-canary=v3.1"));
        assert_eq!(body, "greeting=hi dyno=web.1");
    }
    let logs = ok(&cli, &repo, &["logs", "--ps", "canary"]);
    assert!(
        logs.contains("paas[canary]: v3 aborted (superseded by v4): v4 is deployed instead"),
        "{logs}"
    );

    // A server killed mid-canary: at its start the canary is aborted (its release failed as
    // interrupted), and the running release serves everyone.
    cli.commit_all(&repo, "a fourth version");
    let output = push_with(&cli, &repo, &["canary=50"]);
    assert!(output.status.success(), "{}", transcript(&output));
    server.stop(Signal::SIGKILL);
    server.restart();
    assert_eq!(canary_json(&cli, &repo)["canary"], Value::Null);
    assert_eq!(ok(&cli, &repo, &["config:get", "GREETING"]).trim(), "hi");
    let (status, failure) = release_status(&cli, &repo, 5);
    assert_eq!(status, "failed");
    assert!(failure.starts_with("interrupted"), "{failure}");
    let started = Instant::now();
    loop {
        let (status, body, _) = get(&server.router, "gray", "/", None);
        if status == 200 {
            assert!(body.contains("dyno=web.1"), "{body}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{status} {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // `canary:start` sets the next push's canary (used up by it); `--cancel` with none is refused.
    refused(
        &cli,
        &repo,
        &["canary:start", "--cancel"],
        1,
        "no canary is set for the next push",
    );
    refused(
        &cli,
        &repo,
        &["canary:start", "--weight", "0"],
        2,
        "0 is not in 1..=99",
    );
    ok(
        &cli,
        &repo,
        &["canary:start", "--weight", "30", "--duration", "none"],
    );
    assert!(
        ok(&cli, &repo, &["canary"]).contains("The next push starts one at 30 %"),
        "{}",
        ok(&cli, &repo, &["canary"])
    );
    cli.commit_all(&repo, "a fifth version");
    let output = push(&cli, &repo);
    assert!(
        stderr_of(&output).contains("-----> v6 is a canary: 30 % of clients go to it"),
        "{}",
        transcript(&output)
    );
    let status = canary_json(&cli, &repo);
    assert_eq!(status["canary"]["weight"], 30, "{status}");
    assert_eq!(status["next_push"], Value::Null, "used up: {status}");
    ok(&cli, &repo, &["canary:abort"]);
}

/// `paas ARGS` succeeds: its stderr.
fn paas_stderr(cli: &CliEnv, repo: &Path, args: &[&str]) -> String {
    let output = super::run::paas(cli, repo, args);
    assert!(output.status.success(), "{args:?}: {}", transcript(&output));
    stderr_of(&output)
}

/// Writes a page that answers `status` and commits it.
fn page(cli: &CliEnv, repo: &Path, status: &str, text: &str) {
    std::fs::create_dir_all(repo.join("cgi-bin")).expect("mkdir");
    let script = repo.join("cgi-bin/page");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf 'Status: {status}\\r\\nContent-Type: text/plain\\r\\n\\r\\n{text}\\n'\n"),
    )
    .expect("write");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::fs::write(
        repo.join("Procfile"),
        "web: mkdir -p /tmp/www && cp -r cgi-bin /tmp/www/ && exec busybox httpd -f -p $PORT -h /tmp/www\n",
    )
    .expect("write");
    cli.commit_all(repo, text);
}

/// Requests `/cgi-bin/page` until `done` holds for `paas canary --json`: the answers.
fn load_until(
    server: &paas_tests::TestServer,
    cli: &CliEnv,
    repo: &Path,
    done: impl Fn(&Value) -> bool,
) -> Vec<(u16, String)> {
    let started = Instant::now();
    let mut answers = Vec::new();
    loop {
        for _ in 0..20 {
            let (status, body, _) = get(&server.router, "judged", "/cgi-bin/page", None);
            answers.push((status, body));
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = canary_json(cli, repo);
        if done(&status) {
            return answers;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{status}\n{}",
            server.log()
        );
    }
}

#[test]
fn a_failing_canary_aborts_itself_and_a_healthy_one_promotes_itself() {
    let (server, cli) = serving_with(&["--boot-timeout", "3"]);
    let repo = cli.app_repo("envpage");
    page(&cli, &repo, "200 OK", "one");
    ok(&cli, &repo, &["create", "judged"]);
    assert!(push(&cli, &repo).status.success(), "{}", server.log());
    for (args, code, says) in [
        (
            &["canary:config", "--max-5xx", "nan"][..],
            2,
            "is not a number",
        ),
        (
            &["canary:config", "--weight", "100"],
            2,
            "not a weight from 1 to 99",
        ),
        (
            &["canary:config", "--duration", "5s"],
            2,
            "from 10s to 7 days",
        ),
        (
            &["canary:config", "--max-p95", "0.5"],
            1,
            "a factor of the baseline's p95 from 1 to 100",
        ),
    ] {
        refused(&cli, &repo, args, code, says);
    }
    let shown = ok(&cli, &repo, &["canary:config"]);
    assert!(shown.contains("only by hand"), "{shown}");
    let set = ok(
        &cli,
        &repo,
        &["canary:config", "--duration", "15s", "--weight", "50"],
    );
    assert!(
        set.contains("by itself: promoted after 15s if healthy"),
        "{set}"
    );

    // An app scaled to web=0 cannot have a canary: refused before the build.
    ok(&cli, &repo, &["scale", "web=0"]);
    std::fs::write(repo.join("Procfile"), "web: echo broken; exit 1\n").expect("write");
    cli.commit_all(&repo, "a web that exits");
    let output = push(&cli, &repo);
    assert!(!output.status.success(), "{}", transcript(&output));
    let said = stderr_of(&output);
    assert!(
        said.contains("web is scaled to 0 dynos") && !said.contains("Building"),
        "{said}"
    );
    ok(&cli, &repo, &["scale", "web=1"]);

    // A canary that never boots: the push fails, no request ever reached it, and a
    // `canary:start` is still there for the next push.
    ok(&cli, &repo, &["canary:start", "--weight", "40"]);
    let output = push(&cli, &repo);
    assert!(!output.status.success(), "{}", transcript(&output));
    assert!(
        stderr_of(&output).contains("did not start as a canary"),
        "{}",
        transcript(&output)
    );
    assert_eq!(canary_json(&cli, &repo)["next_push"]["weight"], 40);
    ok(&cli, &repo, &["canary:start", "--cancel"]);
    for _ in 0..20 {
        let (status, body, cookie) = get(&server.router, "judged", "/cgi-bin/page", None);
        assert_eq!((status, body.as_str(), cookie), (200, "one", None));
    }
    assert_eq!(canary_json(&cli, &repo)["canary"], Value::Null);
    assert_eq!(release_status(&cli, &repo, 2).0, "failed");

    // Every push is a canary now (canary:config --weight 50); this one answers 500.
    page(&cli, &repo, "500 Broken", "broken");
    let output = push(&cli, &repo);
    assert!(output.status.success(), "{}", transcript(&output));
    assert!(
        stderr_of(&output).contains("It is promoted by itself in 15s if healthy, aborted if not."),
        "{}",
        transcript(&output)
    );
    let answers = load_until(&server, &cli, &repo, |s| s["canary"].is_null());
    assert!(
        answers.iter().any(|(s, _)| *s == 500),
        "it did get requests"
    );
    let (status, failure) = release_status(&cli, &repo, 3);
    assert_eq!(status, "failed");
    assert!(
        failure.starts_with("canary aborted: 5xx 100.0 % of ") && failure.contains("v1 0.0 %"),
        "{failure}"
    );
    // After the abort no request reaches it.
    for _ in 0..40 {
        let (status, body, _) = get(&server.router, "judged", "/cgi-bin/page", None);
        assert_eq!((status, body.as_str()), (200, "one"));
    }
    let logs = ok(&cli, &repo, &["logs", "--ps", "canary"]);
    assert!(
        logs.contains("paas[canary]: v3 started beside v1: 50 % of clients go to it")
            && logs.contains("paas[canary]: v3 aborted (5xx 100.0 % of "),
        "{logs}"
    );

    // A healthy one is promoted when its time is up, and then serves everyone.
    page(&cli, &repo, "200 OK", "four");
    assert!(push(&cli, &repo).status.success());
    let answers = load_until(&server, &cli, &repo, |s| s["canary"].is_null());
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert!(
        answers.iter().any(|(_, b)| b == "four"),
        "the canary served"
    );
    assert_eq!(release_status(&cli, &repo, 4).0, "succeeded");
    for _ in 0..20 {
        let (status, body, _) = get(&server.router, "judged", "/cgi-bin/page", None);
        assert_eq!((status, body.as_str()), (200, "four"));
    }
    let logs = ok(&cli, &repo, &["logs", "--ps", "canary"]);
    assert!(
        logs.contains("paas[canary]: v4 promoted (healthy over 15s: "),
        "{logs}"
    );

    // A canary that comes up, then crashes again and again, is aborted (it may get no request
    // at all between its crashes, so its figures alone would promote it).
    std::fs::write(
        repo.join("Procfile"),
        "web: mkdir -p /tmp/www && cp -r cgi-bin /tmp/www/ && (busybox httpd -f -p $PORT -h /tmp/www & sleep 2; exit 1)\n",
    )
    .expect("write");
    cli.commit_all(&repo, "a web that dies after 2 s");
    assert!(push(&cli, &repo).status.success());
    load_until(&server, &cli, &repo, |s| s["canary"].is_null());
    let (status, failure) = release_status(&cli, &repo, 5);
    assert_eq!(status, "failed");
    assert!(
        failure.starts_with("canary aborted: canary.1 crashed and restarted 2 times"),
        "{failure}"
    );
}

//! Tests for release states (`pending → deploying → succeeded | failed`, with the reason stored),
//! what a server killed mid-deploy does with the release at its next start, and deploys applied
//! in version order.

use paas_tests::transcript;
use serde_json::Value;

use super::push::{push_until, stderr_of};
use super::run::{get, ok, paas, push, serving, serving_with};

fn releases(cli: &paas_tests::CliEnv, repo: &std::path::Path) -> Vec<Value> {
    serde_json::from_str(&ok(cli, repo, &["releases", "--json"])).expect("JSON")
}

/// Runs these `paas` commands at the same time; each must succeed.
fn all_succeed(
    cli: &paas_tests::CliEnv,
    repo: &std::path::Path,
    commands: impl Iterator<Item = Vec<String>>,
) {
    let children: Vec<_> = commands
        .map(|args| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli.command(&args)
                .current_dir(repo)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("paas")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert!(output.status.success(), "{}", transcript(&output));
    }
}

#[test]
fn a_server_killed_mid_deploy_fails_the_release_and_serves_the_current_one() {
    let (mut server, cli) = serving_with(&["--boot-timeout", "120"]);
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "killed"]);
    assert!(push(&cli, &repo).status.success());
    std::fs::write(
        repo.join("Procfile"),
        "web: echo never ready; exec sleep 3600\n",
    )
    .expect("write");
    cli.commit_all(&repo, "v2 never gets ready");
    let mut git = push_until(&cli, &repo, "Launching v2");
    let during = releases(&cli, &repo);
    assert_eq!(
        (during[0]["version"].as_u64(), during[0]["status"].as_str()),
        (Some(2), Some("deploying")),
        "{during:?}"
    );
    assert_eq!(during[1]["current"], true, "v1 runs while v2 deploys");

    server.stop(nix::sys::signal::Signal::SIGKILL);
    let _ = git.wait();
    server.restart();
    let after = releases(&cli, &repo);
    assert_eq!(
        (after[0]["status"].as_str(), after[0]["failure"].as_str()),
        (
            Some("failed"),
            Some("interrupted: the server stopped before this release was up")
        ),
        "{after:?}"
    );
    assert_eq!(
        (after[1]["version"].as_u64(), &after[1]["current"]),
        (Some(1), &Value::Bool(true))
    );
    assert_eq!(
        get(&server, "killed"),
        (200, "greeting= dyno=web.1\n".to_owned())
    );
    let dynos: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
    assert_eq!(dynos.len(), 1, "{dynos:?}");
    assert_eq!(dynos[0]["release"], 1);
    let info = ok(&cli, &repo, &["releases", "info", "v2"]);
    assert!(
        info.contains("failed: interrupted: the server stopped before this release was up"),
        "{info}"
    );
}

#[test]
fn a_failed_release_keeps_why_and_parallel_config_changes_end_on_the_newest() {
    let (server, cli) = serving_with(&["--boot-timeout", "3"]);
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "ordered"]);
    assert!(push(&cli, &repo).status.success());
    let v1: Value =
        serde_json::from_str(&ok(&cli, &repo, &["releases", "info", "--json"])).expect("JSON");
    assert_eq!(
        (v1["status"].as_str(), &v1["failure"]),
        (Some("succeeded"), &Value::Null)
    );

    // Ten config changes at once: every one succeeds, and the newest runs.
    all_succeed(
        &cli,
        &repo,
        (0..10).map(|i| vec!["config".into(), "set".into(), format!("K{i}=v{i}")]),
    );
    let all = releases(&cli, &repo);
    assert_eq!(all.len(), 11);
    assert!(all.iter().all(|r| r["status"] == "succeeded"), "{all:?}");
    assert_eq!(all[0]["current"], true);
    let dynos: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
    assert_eq!(
        dynos[0]["release"], 11,
        "the newest release runs: {dynos:?}"
    );
    assert!(
        all[0].get("config_vars").is_none(),
        "lists leave config out"
    );
    let newest: Value =
        serde_json::from_str(&ok(&cli, &repo, &["releases", "info", "v11", "--json"]))
            .expect("JSON");
    assert_eq!(
        newest["config_vars"].as_object().map(|c| c.len()),
        Some(10),
        "the newest snapshot has every key"
    );

    // A release that does not start says why, in the API and `releases info`.
    let output = paas(
        &cli,
        &repo,
        &["config", "set", "PAAS_HEALTH_CHECK_PATH=/missing"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    let failed: Value =
        serde_json::from_str(&ok(&cli, &repo, &["releases", "info", "v12", "--json"]))
            .expect("JSON");
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["failure"]
            .as_str()
            .is_some_and(|f| f.contains("web.1 did not come up")),
        "{failed}"
    );
    assert!(stderr_of(&output).contains("v12 did not start"));
    assert_eq!(get(&server, "ordered").0, 200);
}

#[test]
fn a_config_change_whose_answer_was_lost_is_sent_again_and_made_once() {
    let (mut server, cli) = serving();
    let repo = cli.app_repo("envpage");
    std::fs::write(
        repo.join("Procfile"),
        "web: mkdir -p /tmp/www && echo up > /tmp/www/index.html && exec busybox httpd -f -p $PORT -h /tmp/www\nrelease: echo migrating; sleep ${MIGRATION_SECONDS:-0}\n",
    )
    .expect("write");
    cli.commit_all(&repo, "slow migrations");
    ok(&cli, &repo, &["create", "resent"]);
    assert!(push(&cli, &repo).status.success());

    // The server dies while the change's release phase runs: the CLI gets no answer.
    let config_set = cli
        .command(&["config:set", "MIGRATION_SECONDS=600"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("paas");
    let mut pending = false;
    for _ in 0..200 {
        let newest = releases(&cli, &repo)[0].clone();
        if newest["version"] == 2 && newest["status"] == "pending" {
            pending = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(pending, "v2 never started its release phase");
    // The release phase's output is stored each second while it runs.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    server.stop(nix::sys::signal::Signal::SIGKILL);
    server.restart();

    // It sends the same request again with the same Idempotency-Key, and is told how v2 ended.
    let output = config_set.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(
        stderr_of(&output).contains(
            "v2 did not start: interrupted: the server stopped before this release was up"
        ),
        "{}",
        transcript(&output)
    );
    let after = releases(&cli, &repo);
    assert_eq!(after.len(), 2, "no second release: {after:?}");
    assert_eq!(after[1]["current"], true);
    assert!(
        ok(&cli, &repo, &["releases:output", "v2"]).contains("migrating"),
        "what the interrupted release phase printed is kept"
    );
    assert_eq!(get(&server, "resent").0, 200);
}

#[test]
fn parallel_scales_all_return_and_the_last_formation_runs() {
    let (_server, cli) = serving();
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "scaled"]);
    assert!(push(&cli, &repo).status.success());
    let started = std::time::Instant::now();
    all_succeed(
        &cli,
        &repo,
        (1..=8).map(|n| vec!["scale".into(), format!("web={n}")]),
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "superseded scales return instead of waiting for counts that no longer apply"
    );
    let formation = ok(&cli, &repo, &["scale"]);
    let wanted: usize = formation
        .trim()
        .strip_prefix("web=")
        .and_then(|n| n.parse().ok())
        .expect("web=N");
    let runs = |count: usize| {
        (0..100).any(|_| {
            let dynos: Vec<Value> =
                serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
            std::thread::sleep(std::time::Duration::from_millis(100));
            dynos.len() == count && dynos.iter().all(|d| d["state"] == "up")
        })
    };
    assert!(
        runs(wanted),
        "the dynos never matched the formation {formation}"
    );

    // Relative changes in parallel all count: the server applies each to what it has then.
    all_succeed(
        &cli,
        &repo,
        (0..3).map(|_| vec!["scale".into(), "web+1".into()]),
    );
    all_succeed(
        &cli,
        &repo,
        std::iter::once(vec!["scale".into(), "web-1".into()]),
    );
    assert_eq!(
        ok(&cli, &repo, &["scale"]).trim(),
        format!("web={}", wanted + 2)
    );
    assert!(runs(wanted + 2));
}

#[test]
fn a_scale_or_restart_during_a_deploy_acts_on_the_new_release() {
    let (server, cli) = serving();
    let repo = cli.app_repo("envpage");
    std::fs::write(
        repo.join("Procfile"),
        "web: sleep ${WEB_DELAY:-0}; mkdir -p /tmp/www && echo \"delay=$WEB_DELAY\" > /tmp/www/index.html && exec busybox httpd -f -p $PORT -h /tmp/www\n",
    )
    .expect("write");
    cli.commit_all(&repo, "slow start");
    ok(&cli, &repo, &["create", "busy"]);
    assert!(push(&cli, &repo).status.success());
    for during in [&["scale", "web=2"][..], &["restart"]] {
        let delay = if during[0] == "scale" { "3" } else { "2" };
        let mut deploy = cli
            .command(&["config", "set", &format!("WEB_DELAY={delay}")])
            .current_dir(&repo)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("paas");
        std::thread::sleep(std::time::Duration::from_millis(800));
        // `ps` shows the deploy's new dynos starting next to the ones they will replace.
        let dynos: Vec<Value> =
            serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
        let newest = dynos.iter().filter_map(|d| d["release"].as_u64()).max();
        assert!(
            dynos
                .iter()
                .any(|d| d["state"] == "starting" && d["release"].as_u64() == newest)
                && dynos.iter().any(|d| d["state"] == "up"),
            "{dynos:?}"
        );
        ok(&cli, &repo, during);
        assert!(deploy.wait().expect("wait").success());
        let current: Value =
            serde_json::from_str(&ok(&cli, &repo, &["releases", "info", "--json"])).expect("JSON");
        let dynos: Vec<Value> =
            serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
        assert!(
            dynos.iter().all(|d| d["release"] == current["version"]),
            "{during:?} during the deploy of v{}: {dynos:?}",
            current["version"]
        );
        assert_eq!(get(&server, "busy").1, format!("delay={delay}\n"));
    }
}

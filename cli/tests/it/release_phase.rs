//! Tests for the release phase (the Procfile's `release:` command, as on Heroku): it runs once per
//! release as one-off dyno `release.N` before any new dyno starts, its output reaches the push,
//! the app's log and `paas releases:output`, and a failure keeps the old release serving.

use serde_json::Value;

use super::push::stderr_of;
use super::run::{get, ok, paas, push, serving, serving_with};
use paas_tests::transcript;

const HTTPD: &str = "busybox httpd -f -p $PORT -h /app";

fn release(cli: &paas_tests::CliEnv, repo: &std::path::Path, version: &str) -> Value {
    serde_json::from_str(&ok(cli, repo, &["releases", "info", version, "--json"])).expect("JSON")
}

#[test]
fn the_release_command_runs_once_per_release_before_the_dynos() {
    let (server, cli) = serving();
    let repo = cli.app_repo("static");
    std::fs::write(
        repo.join("Procfile"),
        format!("web: {HTTPD}/public\nrelease: echo \"migrating greeting=$GREETING as $DYNO\"; cat; echo migrated\n"),
    )
    .expect("write");
    cli.commit_all(&repo, "release phase");
    ok(&cli, &repo, &["create", "phased"]);
    let output = push(&cli, &repo);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    for line in [
        "remote: -----> Running release command: echo \"migrating greeting=$GREETING as $DYNO\"; cat; echo migrated",
        "remote:        migrating greeting= as release.1",
        "remote:        migrated",
        "remote: -----> Release command done",
        "remote: -----> v1 is up:",
    ] {
        assert!(stderr.contains(line), "{line:?} in {stderr}");
    }
    let phase = stderr.find("Running release command").expect("phase");
    let launch = stderr.find("Starting web.1").expect("dyno");
    assert!(
        phase < launch,
        "the release phase runs before any dyno starts"
    );
    assert_eq!(get(&server, "phased").0, 200);
    assert_eq!(
        ok(&cli, &repo, &["releases:output"]),
        "migrating greeting= as release.1\nmigrated\n"
    );
    let json: Value =
        serde_json::from_str(&ok(&cli, &repo, &["releases:output", "v1", "--json"])).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({"version": 1, "output": "migrating greeting= as release.1\nmigrated\n"})
    );
    let logs = ok(&cli, &repo, &["logs"]);
    assert!(
        logs.contains("app[release.1]: migrating greeting= as release.1"),
        "{logs}"
    );

    // Never a dyno type: not in ps, not scalable.
    let dynos: Vec<Value> =
        serde_json::from_str(&ok(&cli, &repo, &["ps", "--json"])).expect("JSON");
    assert!(dynos.iter().all(|d| d["type"] == "web"), "{dynos:?}");
    let output = paas(&cli, &repo, &["scale", "release=1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("release is the release phase's command"));
    assert_eq!(ok(&cli, &repo, &["scale"]), "web=1\n");

    // A config change and a rollback run it again, with their own config.
    ok(&cli, &repo, &["config", "set", "GREETING=hi"]);
    assert_eq!(
        ok(&cli, &repo, &["releases:output", "v2"]),
        "migrating greeting=hi as release.2\nmigrated\n"
    );
    ok(&cli, &repo, &["rollback", "v1"]);
    assert!(
        ok(&cli, &repo, &["releases:output", "v3"]).starts_with("migrating greeting= as release.3")
    );
    assert_eq!(release(&cli, &repo, "v3")["status"], "succeeded");
}

#[test]
fn a_failing_release_command_keeps_the_running_release_and_can_be_retried() {
    let (server, cli) = serving_with(&["--release-timeout", "3"]);
    let repo = cli.app_repo("static");
    std::fs::write(repo.join("Procfile"), format!("web: {HTTPD}/public\n")).expect("write");
    cli.commit_all(&repo, "v1");
    ok(&cli, &repo, &["create", "guarded"]);
    assert!(push(&cli, &repo).status.success());
    let output = paas(&cli, &repo, &["releases:output"]);
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "{}",
        transcript(&output)
    );
    assert!(stderr_of(&output).contains("v1 has no release command"));
    let output = paas(&cli, &repo, &["releases:retry"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("v1 succeeded; there is nothing to retry"),
        "{}",
        transcript(&output)
    );

    let mut version = 1;
    for (command, reason) in [
        (
            "echo cannot reach the database; exit 3",
            "the release command exited with status 3",
        ),
        (
            "echo stuck; exec sleep 60",
            "the release command ran longer than 3s (--release-timeout) and was stopped",
        ),
        (
            "trap '' TERM; echo deaf; while :; do sleep 1; done",
            "the release command ran longer than 3s",
        ),
    ] {
        version += 1;
        std::fs::write(
            repo.join("Procfile"),
            format!("web: {HTTPD}/public\nrelease: {command}\n"),
        )
        .expect("write");
        cli.commit_all(&repo, command);
        let output = push(&cli, &repo);
        let stderr = stderr_of(&output);
        assert!(!output.status.success(), "{stderr}");
        for line in [
            "Push rejected: the build failed at step `release phase`.".to_owned(),
            format!("v{version} was not deployed: {reason}"),
        ] {
            assert!(stderr.contains(&line), "{line:?} in {stderr}");
        }
        assert!(
            !stderr.contains("Starting web.1 (v"),
            "no dyno of a failed release starts"
        );
        let failed = release(&cli, &repo, &format!("v{version}"));
        assert_eq!(failed["status"], "failed");
        assert!(
            failed["failure"]
                .as_str()
                .is_some_and(|f| f.starts_with(&format!("release phase: {reason}"))),
            "{failed}"
        );
        assert_eq!(get(&server, "guarded").0, 200, "v1 keeps serving");
        assert_eq!(release(&cli, &repo, "v1")["current"], true);
    }

    // Retry runs the phase again for the newest release (still failing here) as a new release.
    let output = paas(&cli, &repo, &["releases:retry"]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    let retried = release(&cli, &repo, "v5");
    assert_eq!(
        (retried["description"].as_str(), retried["status"].as_str()),
        (Some("Retry v4"), Some("failed"))
    );
    assert!(ok(&cli, &repo, &["releases:output", "v5"]).contains("deaf"));
}

#[test]
fn long_release_output_is_kept_up_to_a_mebibyte() {
    let (_server, cli) = serving();
    let repo = cli.app_repo("static");
    std::fs::write(
        repo.join("Procfile"),
        format!("web: {HTTPD}/public\nrelease: seq 1 300000\n"),
    )
    .expect("write");
    cli.commit_all(&repo, "chatty");
    ok(&cli, &repo, &["create", "chatty"]);
    let output = push(&cli, &repo);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("remote:        300000"));
    let stored = ok(&cli, &repo, &["releases:output"]);
    assert!(stored.len() <= 1024 * 1024 + 64, "{}", stored.len());
    assert!(stored.starts_with("1\n2\n3\n"));
    assert!(stored.ends_with("[output truncated]\n"));
}

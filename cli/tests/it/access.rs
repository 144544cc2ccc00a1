//! Access end to end, with real binaries, real SSH pushes and a real log stream: two users share
//! an app with different roles (`paas access`), a scoped expiring token deploys from "CI"
//! (`paas tokens`), and every change lands in the audit log (`paas audit`).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use paas_tests::{CliEnv, transcript};
use serde_json::Value;

use super::run::{ok, push, refused, serving};
use super::{paas_bin, server_bin};

/// A user `name` of `server`, logged in, with an SSH key registered.
fn second_user(server: &paas_tests::TestServer, name: &str) -> CliEnv {
    let output = std::process::Command::new(server_bin())
        .args(["user", "create", name, "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("user create");
    assert!(output.status.success(), "{}", transcript(&output));
    let cli = CliEnv::new(paas_bin(), &server.api);
    cli.login(String::from_utf8(output.stdout).expect("utf-8").trim());
    cli.ssh_key();
    cli.ok(&["keys", "add"]);
    cli
}

#[test]
fn two_users_share_an_app_with_roles_a_scoped_token_deploys_and_the_audit_log_has_it_all() {
    let (server, owner) = serving();
    let repo = owner.app_repo("procfile");
    ok(&owner, &repo, &["create", "team-app"]);
    assert!(push(&owner, &repo).status.success(), "{}", server.log());
    ok(&owner, &repo, &["config:set", "SECRET=hunter2"]);

    let bob = second_user(&server, "bob");
    let url = ok(&owner, &repo, &["apps:info", "--json"]);
    let git_url = serde_json::from_str::<Value>(&url).expect("JSON")["git_url"]
        .as_str()
        .expect("git_url")
        .to_owned();
    let bobs = bob.app_repo("procfile");
    assert!(
        bob.git(&bobs, &["remote", "add", "paas", &git_url])
            .status()
            .expect("git")
            .success()
    );

    // Not yet a collaborator: the app does not exist for bob.
    refused(&bob, &bobs, &["ps"], 1, "app \"team-app\" not found");
    refused(
        &owner,
        &repo,
        &["access:add", "nobody"],
        1,
        "there is no user \"nobody\"",
    );
    refused(
        &owner,
        &repo,
        &["access:add", "bob", "--role", "owner"],
        2,
        "not a role",
    );
    ok(&owner, &repo, &["access:add", "bob", "--role", "viewer"]);
    let people: Value =
        serde_json::from_str(&ok(&owner, &repo, &["access", "--json"])).expect("JSON");
    assert_eq!(people[0]["owner"], true, "{people}");
    assert_eq!(
        (people[1]["user"].as_str(), people[1]["role"].as_str()),
        (Some("bob"), Some("viewer"))
    );
    refused(
        &owner,
        &repo,
        &["access:remove", "admin"],
        1,
        "the owner cannot be removed",
    );

    // A viewer reads (config values redacted), and may neither change nor push.
    let config = ok(&bob, &bobs, &["config", "--json"]);
    assert!(
        config.contains("[redacted]") && !config.contains("hunter2"),
        "{config}"
    );
    ok(&bob, &bobs, &["releases"]);
    refused(
        &bob,
        &bobs,
        &["config", "get", "SECRET"],
        1,
        "hidden from viewers",
    );
    refused(
        &bob,
        &bobs,
        &["scale", "web=2"],
        1,
        "you are a viewer of team-app: this needs deployer",
    );
    refused(
        &bob,
        &bobs,
        &["access:add", "bob", "--role", "admin"],
        1,
        "this needs admin",
    );
    bob.commit_all(&bobs, "bob's change");
    let output = push(&bob, &bobs);
    assert!(!output.status.success());
    assert!(
        transcript(&output).contains("you are a viewer of 'team-app': pushing needs deployer"),
        "{}",
        transcript(&output)
    );

    // A deployer pushes and changes config; not access.
    ok(
        &owner,
        &repo,
        &["access:update", "bob", "--role", "deployer"],
    );
    let output = push(&bob, &bobs);
    assert!(output.status.success(), "{}", transcript(&output));
    ok(&bob, &bobs, &["config:set", "FROM_BOB=1"]);
    assert!(ok(&bob, &bobs, &["config", "get", "SECRET"]).contains("hunter2"));
    refused(
        &bob,
        &bobs,
        &["access:remove", "bob"],
        1,
        "this needs admin",
    );

    // CI: a scoped token that expires, used as PAAS_API_TOKEN (no login, no SSH).
    let created: Value = serde_json::from_str(&ok(
        &bob,
        &bobs,
        &[
            "tokens:create",
            "--description",
            "CI deploy",
            "--role",
            "deployer",
            "--expires",
            "1h",
            "--json",
        ],
    ))
    .expect("JSON");
    let (id, token) = (
        created["id"].as_str().expect("id"),
        created["token"].as_str().expect("token"),
    );
    assert_eq!(created["app"], "team-app");
    assert!(created["expires_at"].is_string(), "{created}");
    let ci = CliEnv::new(paas_bin(), &server.api);
    let with_token = |args: &[&str]| {
        ci.command(args)
            .env("PAAS_API_TOKEN", token)
            .output()
            .expect("paas")
    };
    let output = with_token(&["run", "-a", "team-app", "--", "echo", "from-ci"]);
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("from-ci"),
        "{}",
        transcript(&output)
    );
    assert!(
        with_token(&["releases:rollback", "-a", "team-app"])
            .status
            .success()
    );
    let output = with_token(&["tokens"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        transcript(&output).contains("a scoped token cannot manage keys or tokens"),
        "{}",
        transcript(&output)
    );
    let output = with_token(&["create", "ci-made"]);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    // Listed without its secret.
    let listed = ok(&bob, &bobs, &["tokens"]);
    assert!(
        listed.contains(id) && listed.contains("deployer on team-app") && !listed.contains(token),
        "{listed}"
    );

    // A live log stream of a removed collaborator ends, saying why.
    let mut tail = bob
        .command(&["logs", "--tail", "-a", "team-app"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tail");
    let (tx, rx) = mpsc::channel();
    let stderr = tail.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let session = bob
        .command(&["run", "-a", "team-app", "--", "sleep", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paas run");
    std::thread::sleep(Duration::from_secs(2));
    ok(&owner, &repo, &["access:remove", "bob"]);
    let mut said = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(15)) {
        said.push(line);
    }
    let status = tail.wait().expect("tail ends");
    assert!(!status.success());
    assert!(
        said.join("\n").contains("no longer have access"),
        "{said:?}"
    );
    // So does a one-off dyno's session: said on its stderr, the dyno stopped.
    let ran = session.wait_with_output().expect("paas run ends");
    assert!(!ran.status.success());
    assert!(
        transcript(&ran).contains(
            "this session ended: the app was destroyed, or you no longer have access to it"
        ),
        "{}",
        transcript(&ran)
    );
    // Removed, bob's token goes with his role.
    let output = with_token(&["ps", "-a", "team-app"]);
    assert!(
        transcript(&output).contains("not found"),
        "{}",
        transcript(&output)
    );
    ok(&bob, &bobs, &["tokens:revoke", id]);
    let output = with_token(&["ps", "-a", "team-app"]);
    assert!(
        transcript(&output).contains("invalid or revoked API token"),
        "{}",
        transcript(&output)
    );

    // The audit log: pushes allowed and refused, access changes, config keys without values.
    let entries: Value =
        serde_json::from_str(&ok(&owner, &repo, &["audit", "--json"])).expect("JSON");
    let entries = entries.as_array().expect("entries");
    let has = |actor: &str, action: &str, outcome: &str| {
        entries
            .iter()
            .any(|e| e["actor"] == actor && e["action"] == action && e["outcome"] == outcome)
    };
    assert!(has("admin", "push", "success"), "{entries:?}");
    assert!(has("bob", "push", "denied"), "{entries:?}");
    assert!(has("bob", "push", "success"), "{entries:?}");
    assert!(has("bob", "formation.update", "denied"), "{entries:?}");
    assert!(
        has("admin", "access.add", "success")
            && has("admin", "access.update", "success")
            && has("admin", "access.remove", "success")
    );
    assert!(
        has("bob", "run", "success") && has("bob", "release.rollback", "success"),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "run" && e["token"] == id),
        "the token that did it is named"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["source"].as_str().is_some_and(|s| !s.is_empty()))
    );
    let text = serde_json::to_string(entries).expect("JSON");
    assert!(
        !text.contains("hunter2") && text.contains("SECRET"),
        "keys, never values"
    );
    let human = ok(&owner, &repo, &["audit"]);
    assert!(
        human.contains("team-app audit log") && human.contains("access.add"),
        "{human}"
    );
    // Server-wide for the server's admins; not for bob.
    assert!(ok(&owner, &repo, &["audit", "--all", "--json"]).contains("user.create"));
    refused(
        &bob,
        &bobs,
        &["audit", "--all"],
        1,
        "only the server's admins",
    );
}

#[test]
fn login_tokens_expire_after_the_servers_maximum_age() {
    let server = paas_tests::TestServer::start_with(&server_bin(), &["--token-max-age", "5"], &[]);
    let cli = CliEnv::new(paas_bin(), &server.api);
    cli.login(&server.admin_token());
    cli.ok(&["apps"]);
    std::thread::sleep(Duration::from_secs(6));
    let output = cli.run(&["apps"]);
    assert_eq!(output.status.code(), Some(1));
    let said = transcript(&output);
    assert!(
        said.contains("this API token expired at") && said.contains("paas login"),
        "{said}"
    );
}

#[test]
fn ambiguous_or_conflicting_flags_are_refused_and_reserved_names_are_kept() {
    let server = paas_tests::TestServer::start(&server_bin());
    let cli = CliEnv::new(paas_bin(), &server.api);
    cli.login(&server.admin_token());
    cli.ok(&["create", "flags"]);
    // `-a` after the command, without `--`, is the command's: refused rather than guessed.
    let output = cli.run(&["run", "echo", "hi", "-a", "flags"]);
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    assert!(transcript(&output).contains("paas run -a APP -- COMMAND"));
    let output = cli.run(&["tokens:create", "-d", "CI", "-a", "flags", "--all-apps"]);
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    let output = cli.run(&[
        "tokens:create",
        "-d",
        "CI",
        "-a",
        "flags",
        "--expires",
        "1000y",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    // Heroku's older spellings.
    assert!(
        cli.ok(&["sharing", "-a", "flags"])
            .contains("admin (owner)")
    );
    // A scoped token says what it is limited to.
    let created: Value = serde_json::from_str(&cli.ok(&[
        "authorizations:create",
        "-d",
        "CI",
        "-a",
        "flags",
        "--role",
        "viewer",
        "--json",
    ]))
    .expect("JSON");
    let whoami = cli
        .command(&["whoami"])
        .env("PAAS_API_TOKEN", created["token"].as_str().expect("token"))
        .output()
        .expect("whoami");
    let said = String::from_utf8_lossy(&whoami.stdout);
    assert!(said.contains("viewer on flags"), "{said}");
    // The audit log's names for the platform and the operator are no user's.
    for name in ["paas", "operator"] {
        let output = std::process::Command::new(server_bin())
            .args(["user", "create", name, "--data-dir"])
            .arg(server.data_dir())
            .output()
            .expect("user create");
        assert!(!output.status.success());
        assert!(
            transcript(&output).contains("is reserved"),
            "{}",
            transcript(&output)
        );
    }
}

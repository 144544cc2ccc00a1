//! Tests for the README's workflow: log in, create an app, change config, list releases, roll
//! back, add a key, set the git remote — in human and `--json` form.

use std::process::Command;

use serde_json::Value;

use super::{CliEnv, TestServer, assert_cli_snapshot, logged_in, paas_bin};

fn json(cli: &CliEnv, args: &[&str]) -> Value {
    serde_json::from_str(&cli.ok(args)).expect("stdout is JSON")
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn login_whoami_logout() {
    let server = TestServer::start(&super::server_bin());
    let cli = CliEnv::new(paas_bin(), &server.api);
    let mut login = cli.command(&["login", "--token-stdin"]);
    login
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().expect("spawn");
    std::io::Write::write_all(
        child.stdin.as_mut().expect("stdin"),
        server.admin_token().as_bytes(),
    )
    .expect("token");
    insta::assert_snapshot!(
        "login",
        paas_tests::transcript(&child.wait_with_output().expect("login"))
    );

    let credentials = cli.home().join(".config/paas/credentials.toml");
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(p).expect("exists").permissions(),
        ) & 0o777
    };
    assert_eq!(mode(&credentials), 0o600);
    assert_eq!(mode(credentials.parent().expect("dir")), 0o700);

    assert_cli_snapshot!("whoami", cli, &["whoami"]);
    assert_eq!(json(&cli, &["whoami", "--json"])["name"], "admin");
    assert_cli_snapshot!("logout", cli, &["logout"]);
    assert!(!credentials.exists());
    assert_cli_snapshot!("whoami_logged_out", cli, &["whoami"]);
    // PAAS_API_TOKEN works without a stored login (CI).
    let output = cli
        .command(&["whoami"])
        .env("PAAS_API_TOKEN", server.admin_token())
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "admin\n");
}

#[test]
fn apps_config_releases_rollback() {
    let (_server, cli) = logged_in();
    assert_cli_snapshot!("apps_empty", cli, &["apps"]);
    assert_cli_snapshot!("create", cli, &["create", "demo"]);
    assert_cli_snapshot!("apps", cli, &["apps"]);
    assert_cli_snapshot!("apps_info", cli, &["apps:info", "-a", "demo"]);
    assert_cli_snapshot!(
        "config_set",
        cli,
        &[
            "config:set",
            "-a",
            "demo",
            "GREETING=hello",
            "URL=postgres://u:p@h/db?a=b"
        ]
    );
    assert_cli_snapshot!("config", cli, &["config", "-a", "demo"]);
    assert_cli_snapshot!("config_shell", cli, &["config", "--shell", "-a", "demo"]);
    assert_cli_snapshot!("config_get", cli, &["config", "get", "URL", "-a", "demo"]);
    assert_cli_snapshot!(
        "config_unset",
        cli,
        &["config", "unset", "GREETING", "-a", "demo"]
    );
    assert_cli_snapshot!("releases", cli, &["releases", "-a", "demo"]);
    assert_cli_snapshot!(
        "releases_info",
        cli,
        &["releases", "info", "v2", "-a", "demo"]
    );
    // Config releases before the first build have no code to run: nothing to roll back from or to
    // (the rollback tests with builds are in run.rs).
    assert_cli_snapshot!("rollback_previous", cli, &["rollback", "-a", "demo"]);
    assert_cli_snapshot!(
        "rollback_v2",
        cli,
        &["releases:rollback", "v2", "-a", "demo"]
    );

    let releases = json(&cli, &["releases", "--json", "-a", "demo"]);
    let descriptions: Vec<&str> = releases
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["description"].as_str().expect("text"))
        .collect();
    assert_eq!(
        descriptions,
        [
            "Remove GREETING config vars",
            "Set GREETING, URL config vars"
        ]
    );
    // Heroku's `releases -n`, with the app named before the subcommand-less listing.
    let newest = json(&cli, &["releases", "-a", "demo", "-n", "1", "--json"]);
    assert_eq!(newest.as_array().map(|r| r[..].len()), Some(1), "{newest}");
    assert_eq!(newest[0]["description"], "Remove GREETING config vars");
    assert_eq!(
        json(&cli, &["config", "--json", "-a", "demo"]),
        serde_json::json!({"URL": "postgres://u:p@h/db?a=b"})
    );
    let release = json(&cli, &["config", "set", "A=1", "--json", "-a", "demo"]);
    assert_eq!(release["version"], 3);
    // No release runs before the first build.
    assert_eq!(
        json(&cli, &["apps", "--json"])[0]["release"],
        serde_json::Value::Null
    );

    // PAAS_APP names the app when -a does not.
    let output = cli
        .command(&["config", "get", "A"])
        .env("PAAS_APP", "demo")
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1\n");

    let url = cli.ok(&["open", "-a", "demo"]);
    assert!(
        url.starts_with("http://demo.localhost:") && url.ends_with("/\n"),
        "{url}"
    );
    assert_eq!(
        json(&cli, &["open", "--json", "-a", "demo"])["url"],
        url.trim()
    );
    assert_cli_snapshot!("rename", cli, &["apps", "rename", "demo2", "-a", "demo"]);
    assert_cli_snapshot!(
        "destroy",
        cli,
        &["destroy", "-a", "demo2", "--confirm", "demo2"]
    );
    assert_eq!(json(&cli, &["apps", "--json"]), serde_json::json!([]));
}

#[test]
fn app_as_argument() {
    let (_server, cli) = logged_in();
    cli.ok(&["create", "demo"]);
    cli.ok(&["create", "other"]);
    assert_cli_snapshot!("apps_info_argument", cli, &["apps", "info", "demo"]);
    // The argument wins over PAAS_APP, as -a does.
    let output = cli
        .command(&["apps:info", "demo", "--json"])
        .env("PAAS_APP", "other")
        .output()
        .expect("run");
    let info: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(info["name"], "demo");
    assert_cli_snapshot!("open_argument", cli, &["open", "demo", "--no-browser"]);
    // -a and the argument may both be given when they name the same app.
    assert_eq!(
        cli.ok(&["open", "demo", "-a", "demo", "--no-browser"]),
        cli.ok(&["open", "-a", "demo", "--no-browser"])
    );
    assert_cli_snapshot!(
        "destroy_argument",
        cli,
        &["destroy", "demo", "--confirm", "demo"]
    );
    assert_cli_snapshot!(
        "apps_destroy_argument",
        cli,
        &["apps:destroy", "other", "--confirm", "other"]
    );
    // `create` takes its name from -a too (never from PAAS_APP), and refuses two names.
    let output = cli
        .command(&["create", "-a", "named", "--json"])
        .env("PAAS_APP", "elsewhere")
        .output()
        .expect("run");
    let created: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(created["name"], "named");
    let output = cli.run(&["create", "one", "-a", "two"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("the app is given twice: -a two and one"),
        "{}",
        paas_tests::transcript(&output)
    );
    cli.ok(&["destroy", "named", "--confirm", "named"]);
    assert_eq!(json(&cli, &["apps", "--json"]), serde_json::json!([]));
}

#[test]
fn git_remote_follows_the_app() {
    let (_server, cli) = logged_in();
    let repo = cli.home().join("app");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    let in_repo = |args: &[&str]| {
        let output = cli.command(args).current_dir(&repo).output().expect("run");
        paas_tests::transcript(&output)
    };
    insta::assert_snapshot!("create_in_repo", in_repo(&["create", "web-app"]));
    let remotes = git(&repo, &["remote", "-v"]);
    assert!(remotes.contains("paas\tssh://git@127.0.0.1:"), "{remotes}");
    assert!(remotes.contains("/web-app.git (push)"), "{remotes}");
    // Inside the repo the app comes from the `paas` remote.
    insta::assert_snapshot!("config_set_from_remote", in_repo(&["config", "set", "X=1"]));

    git(&repo, &["remote", "remove", "paas"]);
    insta::assert_snapshot!("git_remote", in_repo(&["git:remote", "-a", "web-app"]));
    insta::assert_snapshot!(
        "git_remote_staging",
        in_repo(&["git:remote", "-a", "web-app", "-r", "staging"])
    );
    insta::assert_snapshot!(
        "rename_updates_remotes",
        in_repo(&["apps", "rename", "site"])
    );
    let remotes = git(&repo, &["remote", "-v"]);
    assert!(!remotes.contains("web-app"), "{remotes}");
    assert_eq!(remotes.matches("/site.git").count(), 4, "{remotes}");
    insta::assert_snapshot!(
        "destroy_removes_remotes",
        in_repo(&["destroy", "--confirm", "site"])
    );
    assert_eq!(git(&repo, &["remote"]), "");
    insta::assert_snapshot!(
        "git_remote_outside_repo",
        paas_tests::transcript(&cli.run(&["git:remote", "-a", "site"]))
    );
}

#[test]
fn keys_add_list_remove() {
    let (_server, cli) = logged_in();
    assert_cli_snapshot!("keys_add_missing_default", cli, &["keys", "add"]);
    let ssh = cli.home().join(".ssh");
    std::fs::create_dir(&ssh).expect("mkdir");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "dev@laptop", "-f"])
        .arg(ssh.join("id_ed25519"))
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    assert_cli_snapshot!("keys_add_default", cli, &["keys:add"]);
    assert_cli_snapshot!("keys_add_again", cli, &["keys", "add"]);
    assert_cli_snapshot!(
        "keys_add_private",
        cli,
        &[
            "keys",
            "add",
            ssh.join("id_ed25519").to_str().expect("utf-8")
        ]
    );
    assert_cli_snapshot!("keys", cli, &["keys"]);
    let fingerprint = json(&cli, &["keys", "--json"])[0]["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    assert!(fingerprint.starts_with("SHA256:"));
    assert_cli_snapshot!("keys_remove", cli, &["keys", "remove", &fingerprint]);
    assert_cli_snapshot!("keys_remove_again", cli, &["keys", "remove", &fingerprint]);
    assert_cli_snapshot!("keys_empty", cli, &["keys"]);
}

//! Tests for every user-facing CLI error: what it says, its hint, and its exit code.

use std::process::Stdio;

use super::{CliEnv, assert_cli_snapshot, logged_in, paas_bin};

#[test]
fn unreachable_server_is_one_line_with_a_hint() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let cli = CliEnv::new(paas_bin(), &format!("http://127.0.0.1:{port}"));
    let output = cli
        .command(&["apps"])
        .env("PAAS_API_TOKEN", "paas_x")
        .output()
        .expect("run");
    insta::assert_snapshot!("unreachable", paas_tests::transcript(&output));
    let output = cli
        .command(&["apps", "--json"])
        .env("PAAS_API_TOKEN", "paas_x")
        .output()
        .expect("run");
    insta::assert_snapshot!("unreachable_json", paas_tests::transcript(&output));
}

#[test]
fn usage_errors_are_json_with_json() {
    let cli = CliEnv::new(paas_bin(), "http://127.0.0.1:9");
    let output = cli
        .command(&["rollback", "v0", "--json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).expect("one JSON object");
    assert_eq!(error["id"], "usage");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("expected a release version such as v3")),
        "{error}"
    );
    // The argument that is missing is named; clap's tip becomes the hint.
    let json_error = |args: &[&str]| -> serde_json::Value {
        let output = cli.command(args).output().expect("run");
        assert_eq!(output.status.code(), Some(2));
        serde_json::from_slice(&output.stderr).expect("one JSON object")
    };
    let error = json_error(&["pg:backups:info", "-a", "x", "--json"]);
    assert_eq!(
        error["error"], "the following required arguments were not provided: <BACKUP>",
        "{error}"
    );
    let error = json_error(&["confg", "--json"]);
    assert_eq!(error["error"], "unrecognized subcommand 'confg'", "{error}");
    assert_eq!(
        error["hint"], "a similar subcommand exists: 'config'",
        "{error}"
    );
    // Help is help, --json or not.
    let output = cli
        .command(&["rollback", "--help", "--json"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Usage:"));
}

#[test]
fn not_logged_in_and_bad_tokens() {
    let (server, cli) = logged_in();
    let fresh = CliEnv::new(paas_bin(), &server.api);
    assert_cli_snapshot!("not_logged_in", fresh, &["apps"]);
    let output = fresh
        .command(&["apps"])
        .env("PAAS_API_TOKEN", "paas_wrong")
        .output()
        .expect("run");
    insta::assert_snapshot!("invalid_token", paas_tests::transcript(&output));
    // A PAAS_API_TOKEN set but empty, or with a line break, is a usage error: never the stored
    // login (`cli` has one), never a "cannot reach the server".
    for (token, says) in [
        ("", "PAAS_API_TOKEN is set but empty"),
        ("paas_a\nb", "PAAS_API_TOKEN has a character no token has"),
    ] {
        let output = cli
            .command(&["apps"])
            .env("PAAS_API_TOKEN", token)
            .output()
            .expect("run");
        let said = paas_tests::transcript(&output);
        assert_eq!(output.status.code(), Some(2), "{said}");
        assert!(
            said.contains(says) && !said.contains("cannot reach"),
            "{said}"
        );
    }
    // So is an empty PAAS_HOST: the token must not go to the stored login's host.
    let output = cli
        .command(&["apps"])
        .env("PAAS_HOST", "")
        .output()
        .expect("run");
    let said = paas_tests::transcript(&output);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(
        said.contains("invalid PAAS_HOST \"\": empty host"),
        "{said}"
    );
    let mut login = fresh.command(&["login", "--token-stdin"]);
    let mut child = login
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), b"paas_wrong\n")
        .expect("write");
    insta::assert_snapshot!(
        "login_invalid_token",
        paas_tests::transcript(&child.wait_with_output().expect("run"))
    );
    assert!(
        !fresh.home().join(".config/paas/credentials.toml").exists(),
        "a failed login stores nothing"
    );
    assert_cli_snapshot!("login_without_terminal", fresh, &["login"]);
    // A --host that is no server address is a usage error, before any token is asked for.
    let output = fresh
        .command(&["login", "--host", "not a url"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with("error: invalid --host \"not a url\""),
        "{}",
        paas_tests::transcript(&output)
    );
    drop(cli);
}

#[test]
fn app_errors() {
    let (_server, cli) = logged_in();
    assert_cli_snapshot!("no_app", cli, &["config"]);
    assert_cli_snapshot!("unknown_app", cli, &["config", "-a", "ghost"]);
    assert_cli_snapshot!("invalid_app_flag", cli, &["config", "-a", "Ghost"]);
    assert_cli_snapshot!("create_invalid_name", cli, &["create", "My_App"]);
    // Not a DNS label: refused as a new name, as an argument or with -a.
    for args in [&["create", "shop-"][..], &["create", "-a", "shop-"]] {
        let output = cli.command(args).output().expect("paas");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("ending with a letter or digit"),
            "{args:?}"
        );
    }
    cli.ok(&["create", "demo"]);
    assert_cli_snapshot!("create_duplicate", cli, &["create", "demo"]);
    assert_cli_snapshot!("rollback_nothing", cli, &["rollback", "-a", "demo"]);
    assert_cli_snapshot!("rollback_unknown", cli, &["rollback", "v7", "-a", "demo"]);
    assert_cli_snapshot!(
        "rollback_bad_version",
        cli,
        &["rollback", "seven", "-a", "demo"]
    );
    assert_cli_snapshot!(
        "releases_info_none",
        cli,
        &["releases", "info", "-a", "demo"]
    );
}

#[test]
fn destroy_needs_a_matching_confirmation() {
    let (_server, cli) = logged_in();
    cli.ok(&["create", "demo"]);
    assert_cli_snapshot!("destroy_no_confirm", cli, &["destroy", "-a", "demo"]);
    assert_cli_snapshot!(
        "destroy_wrong_confirm",
        cli,
        &["apps", "destroy", "-a", "demo", "--confirm", "other"]
    );
    assert!(cli.ok(&["apps"]).contains("demo"), "nothing was destroyed");
}

#[test]
fn app_argument_errors() {
    let (_server, cli) = logged_in();
    cli.ok(&["create", "demo"]);
    assert_cli_snapshot!(
        "destroy_app_twice",
        cli,
        &["destroy", "demo", "-a", "other", "--confirm", "demo"]
    );
    assert_cli_snapshot!("info_app_twice", cli, &["apps:info", "demo", "-a", "other"]);
    assert_cli_snapshot!(
        "open_app_twice",
        cli,
        &["open", "-a", "other", "demo", "--no-browser"]
    );
    assert_cli_snapshot!("invalid_app_argument", cli, &["apps", "info", "Demo"]);
    assert!(cli.ok(&["apps"]).contains("demo"), "nothing was destroyed");
}

#[test]
fn config_usage_errors() {
    let (_server, cli) = logged_in();
    cli.ok(&["create", "demo"]);
    assert_cli_snapshot!(
        "config_set_bare_key",
        cli,
        &["config", "set", "GREETING", "-a", "demo"]
    );
    assert_cli_snapshot!(
        "config_set_bad_key",
        cli,
        &["config", "set", "1X=y", "-a", "demo"]
    );
    assert_cli_snapshot!("config_set_nothing", cli, &["config", "set", "-a", "demo"]);
    assert_cli_snapshot!(
        "config_get_missing",
        cli,
        &["config", "get", "NOPE", "-a", "demo"]
    );
    assert!(
        cli.ok(&["releases", "--json", "-a", "demo"]).trim() == "[]",
        "no release was recorded"
    );
}

#[test]
fn closed_stdout_is_success() {
    let (_server, cli) = logged_in();
    for i in 0..50 {
        cli.ok(&["create", &format!("app-{i}")]);
    }
    let mut child = cli
        .command(&["apps"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{}",
        paas_tests::transcript(&output)
    );
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn colour_follows_flag_then_no_color_then_force_color() {
    let cli = CliEnv::new(paas_bin(), "http://127.0.0.1:9");
    let stderr = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = cli.command(args);
        cmd.env_remove("NO_COLOR").envs(env.iter().copied());
        String::from_utf8(cmd.output().expect("run").stderr).expect("utf-8")
    };
    let red_error = "\x1b[1;31merror:\x1b[0m not logged in";
    assert!(stderr(&["--color", "always", "apps"], &[("NO_COLOR", "1")]).starts_with(red_error));
    assert!(
        stderr(&["apps"], &[("NO_COLOR", "1"), ("FORCE_COLOR", "1")])
            .starts_with("error: not logged in")
    );
    assert!(stderr(&["apps"], &[("FORCE_COLOR", "1")]).starts_with(red_error));
    assert!(
        stderr(&["--color", "never", "apps"], &[("FORCE_COLOR", "1")])
            .starts_with("error: not logged in")
    );
    // Not a terminal, no variables: plain.
    assert!(stderr(&["apps"], &[]).starts_with("error: not logged in"));
}

#[test]
fn create_never_silently_repoints_an_existing_remote() {
    let (_server, cli) = logged_in();
    let repo = cli.app_repo("static");
    let output = cli
        .command(&["create", "first"])
        .current_dir(&repo)
        .output()
        .expect("run");
    assert!(output.status.success());
    // Not on a terminal: refused before anything is made, the remote left as it was.
    let output = cli
        .command(&["create", "second"])
        .current_dir(&repo)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("git remote paas already points at ssh://git@")
            && stderr.contains("first.git; no app was created")
            && stderr.contains("--remote staging"),
        "{stderr}"
    );
    let apps = cli.command(&["apps", "--json"]).output().expect("run");
    assert!(!String::from_utf8_lossy(&apps.stdout).contains("second"));
    let output = cli
        .command(&["create", "second", "--remote", "staging"])
        .current_dir(&repo)
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    // The app made again after a destroy: its remote already names it and is kept.
    let output = cli
        .command(&["destroy", "first", "--confirm", "first"])
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let output = cli
        .command(&["create", "first"])
        .current_dir(&repo)
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Kept git remote paas"),
        "{output:?}"
    );
}

#[test]
fn tls_and_wrong_address_errors_say_what_is_wrong_and_what_to_do() {
    let server = paas_tests::TestServer::start(&super::server_bin());
    let token = server.admin_token();
    let failure = |host: &str| {
        let cli = CliEnv::new(paas_bin(), host);
        let output = cli
            .command(&["apps"])
            .env("PAAS_API_TOKEN", &token)
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(1), "{host}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // https:// to the plain-HTTP API.
    let api = server.api.trim_start_matches("http://");
    let said = failure(&format!("https://{api}"));
    assert!(
        said.contains("does not speak TLS (https://) on that port"),
        "{said}"
    );
    assert!(said.contains("use http:// for it"), "{said}");
    // The router's address instead of the API's.
    let said = failure(&format!("http://{}", server.router));
    assert!(said.contains("not as a paas API does"), "{said}");
    assert!(said.contains("not the router's"), "{said}");
    // TLS servers whose certificates this machine does not accept: a self-signed server
    // certificate, and a CA's certificate used as a server's (what `openssl req -x509` makes).
    let dir = server.scratch();
    // openssl's test server with the certificate made last, on `port`.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let serve_tls = || {
        let tls = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(port.to_string())
            .arg("-cert")
            .arg(dir.join("cert.pem"))
            .arg("-key")
            .arg(dir.join("key.pem"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        assert!(paas_tests::wait_for_port(port), "the TLS server listens");
        tls
    };
    for (constraints, why) in [
        (
            "basicConstraints=critical,CA:FALSE",
            "it is signed by a CA this machine does not trust",
        ),
        (
            "basicConstraints=critical,CA:TRUE",
            "it is a CA's certificate, not a server's",
        ),
    ] {
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .args(["-addext", constraints, "-keyout"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .expect("openssl req");
        assert!(made.status.success(), "{}", paas_tests::transcript(&made));
        let mut tls = serve_tls();
        let said = failure(&format!("https://127.0.0.1:{port}"));
        let _ = tls.kill();
        let _ = tls.wait();
        assert!(
            said.contains(&format!(
                "showed a certificate this machine does not accept: {why}"
            )),
            "{said}"
        );
        assert!(said.contains("SSL_CERT_FILE"), "{said}");
        // The same server, its certificate trusted through SSL_CERT_FILE: TLS is no longer the
        // problem (openssl's page is not the paas API, which is said instead).
        if constraints.ends_with("CA:TRUE") {
            continue;
        }
        let mut tls = serve_tls();
        let output = CliEnv::new(paas_bin(), &format!("https://127.0.0.1:{port}"))
            .command(&["apps"])
            .env("PAAS_API_TOKEN", &token)
            .env("SSL_CERT_FILE", dir.join("cert.pem"))
            .output()
            .expect("run");
        let _ = tls.kill();
        let _ = tls.wait();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(
            said.contains("unexpected response from https://127.0.0.1"),
            "SSL_CERT_FILE is trusted: {said}"
        );
    }
}

//! Tests for the daemon: first start, configuration sources and errors, shutdown, and durability
//! across `kill -9`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use nix::sys::signal::Signal;
use paas_tests::TestServer;
use serde_json::json;

use super::{Http, server};

const BIN: &str = env!("CARGO_BIN_EXE_paas-buildserver");

#[test]
fn first_start_writes_a_private_admin_token_once() {
    let mut server = server();
    let token_path = server.data_dir().join("admin-token");
    let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&token_path), 0o600);
    assert_eq!(mode(&server.data_dir()), 0o700);
    for file in ["paas.db", "paas.db-wal"] {
        assert_eq!(mode(&server.data_dir().join(file)), 0o600, "{file}");
    }
    assert!(
        server
            .log()
            .contains(&format!("its API token is in {}", token_path.display())),
        "{}",
        server.log()
    );
    let token = server.admin_token();
    assert!(token.starts_with("paas_"));
    // The database keeps only a hash of the token.
    let db = std::fs::read(server.data_dir().join("paas.db")).expect("db");
    let wal = std::fs::read(server.data_dir().join("paas.db-wal")).unwrap_or_default();
    let needle = token.as_bytes();
    assert!(
        !db.windows(needle.len())
            .chain(wal.windows(needle.len()))
            .any(|w| w == needle)
    );

    server.stop(Signal::SIGTERM);
    server.restart();
    assert_eq!(
        server.admin_token(),
        token,
        "a restart keeps the admin token"
    );
    assert_eq!(Http::admin(&server).get("/account").0, 200);
}

#[test]
fn sigterm_and_sigint_shut_down_cleanly() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let mut server = server();
        let status = server.stop(signal);
        assert!(status.success(), "{signal}: {status}\n{}", server.log());
        assert!(server.log().contains("shutting down"));
    }
}

#[test]
fn user_create_prints_a_working_token() {
    let server = server();
    let run = |name: &str| {
        Command::new(BIN)
            .args(["user", "create", name, "--data-dir"])
            .arg(server.data_dir())
            .env_clear()
            .output()
            .expect("run")
    };
    let output = run("alice");
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let (status, account) = Http::new(&server, Some(&token)).get("/account");
    assert_eq!(
        (status, account["name"].as_str(), account["admin"].as_bool()),
        (200, Some("alice"), Some(false))
    );

    let again = run("alice");
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&again.stderr),
        "error: user \"alice\" already exists\n"
    );
    let bad = run("Alice!");
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "error: invalid user name \"Alice!\": use 1 to 30 characters, lowercase letters, digits and dashes, starting with a letter\n"
    );
}

/// The domain the server reports in app URLs, under a config file, `PAAS_DOMAIN` and `--domain`.
fn reported_domain(flag: Option<&str>, env: Option<&str>, file: Option<&str>) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut extra = Vec::new();
    let config = dir.path().join("paas.toml");
    let config_arg = config.to_str().expect("utf-8").to_owned();
    if let Some(domain) = file {
        std::fs::write(&config, format!("domain = \"{domain}\"\n")).expect("write config");
        extra.extend(["--config", config_arg.as_str()]);
    }
    if let Some(domain) = flag {
        extra.extend(["--domain", domain]);
    }
    let env: Vec<(&str, &str)> = env.map(|d| ("PAAS_DOMAIN", d)).into_iter().collect();
    let server = TestServer::start_with(Path::new(BIN), &extra, &env);
    let (_, app) = Http::admin(&server).send("POST", "/apps", &json!({"name": "demo"}));
    let url = app["web_url"].as_str().expect("web_url").to_owned();
    url.trim_start_matches("http://demo.")
        .split(':')
        .next()
        .expect("host")
        .to_owned()
}

#[test]
fn flags_beat_environment_beats_config_file() {
    assert_eq!(reported_domain(None, None, None), "localhost");
    assert_eq!(reported_domain(None, None, Some("file.test")), "file.test");
    assert_eq!(
        reported_domain(None, Some("env.test"), Some("file.test")),
        "env.test"
    );
    assert_eq!(
        reported_domain(Some("flag.test"), Some("env.test"), Some("file.test")),
        "flag.test"
    );
}

fn serve_fails(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(BIN)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run serve");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_64_naming_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "api-listen = \"127.0.0.1:0\"\nregion = \"eu\"\n").expect("write");
    let bad_value = dir.path().join("bad.toml");
    std::fs::write(&bad_value, "api-listen = \"localhost\"\n").expect("write");
    let missing = dir.path().join("missing.toml");
    let arg = |p: &Path| p.to_str().expect("utf-8").to_owned();
    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, String);
    let cases: Vec<Case> = vec![
        (
            vec!["--api-listen".into(), "nope".into()],
            vec![],
            "error: invalid value \"nope\" for --api-listen (or PAAS_API_LISTEN): invalid socket address syntax\n".into(),
        ),
        (
            vec![],
            vec![("PAAS_SSH_LISTEN", "1.2.3.4")],
            "error: invalid value \"1.2.3.4\" for --ssh-listen (or PAAS_SSH_LISTEN): invalid socket address syntax\n".into(),
        ),
        (
            vec!["--config".into(), arg(&bad_value)],
            vec![],
            format!("error: invalid api-listen \"localhost\" in {}: invalid socket address syntax\n", bad_value.display()),
        ),
        (
            vec!["--domain".into(), "Apps.Example.com".into()],
            vec![],
            "error: invalid value \"Apps.Example.com\" for --domain (or PAAS_DOMAIN): expected a lowercase DNS name such as apps.example.com\n".into(),
        ),
        (
            vec!["--registry".into(), "http://registry".into()],
            vec![],
            "error: invalid value \"http://registry\" for --registry (or PAAS_REGISTRY): expected host[:port]/prefix, such as registry.example.com:5000/paas\n".into(),
        ),
        (
            vec!["--scheduler".into(), "nomad".into()],
            vec![],
            "error: invalid value \"nomad\" for --scheduler (or PAAS_SCHEDULER): expected `local` or `kubernetes`\n".into(),
        ),
        (
            vec!["--scheduler".into(), "kubernetes".into()],
            vec![],
            "error: the kubernetes scheduler needs --registry: cluster nodes pull app images from it\n".into(),
        ),
        (
            vec!["--header-timeout".into(), "9999999999999999999".into()],
            vec![],
            "error: invalid value \"9999999999999999999\" for --header-timeout (or PAAS_HEADER_TIMEOUT): expected a whole number of seconds from 1 to 315360000 (10 years)\n".into(),
        ),
        (
            vec!["--config".into(), arg(&missing)],
            vec![],
            format!("error: cannot read the config file {}: No such file or directory (os error 2)\n", missing.display()),
        ),
    ];
    for (args, env, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(
            serve_fails(&args, &env),
            (Some(64), expected),
            "{args:?} {env:?}"
        );
    }
    let (code, stderr) = serve_fails(&["--config", &arg(&unknown)], &[]);
    assert_eq!(code, Some(64));
    assert!(
        stderr.starts_with(&format!(
            "error: invalid config file {}: ",
            unknown.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("unknown field `region`"), "{stderr}");
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let (code, stderr) = serve_fails(&["--api-listen", &addr], &[]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "error: cannot listen on {addr} (--api-listen): Address already in use"
        )),
        "{stderr}"
    );
}

#[test]
fn a_data_dir_serves_one_server_at_a_time() {
    let server = server();
    let second = server
        // The same listen addresses too: the data dir is checked first.
        .serve_command(&[])
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("second serve");
    let said = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "the data dir {} is in use by another paas-buildserver (pid {})",
            server.data_dir().display(),
            server.pid()
        )),
        "{said}"
    );
    // The first one goes on as it was.
    assert_eq!(Http::admin(&server).get("/apps").0, 200);
}

#[test]
fn kill_9_loses_no_committed_change() {
    let mut server = server();
    let http = Http::admin(&server);
    for i in 0..20 {
        let (status, _) = http.send("POST", "/apps", &json!({"name": format!("app-{i}")}));
        assert_eq!(status, 201);
        let (status, _) = http.send(
            "PATCH",
            &format!("/apps/app-{i}/config-vars"),
            &json!({"N": i.to_string()}),
        );
        assert_eq!(status, 200);
    }
    // Killed right after the last answer: every change the API acknowledged must be on disk.
    server.stop(Signal::SIGKILL);
    server.restart();
    let http = Http::admin(&server);
    let (_, apps) = http.get("/apps");
    assert_eq!(apps.as_array().map(Vec::len), Some(20));
    for i in 0..20 {
        assert_eq!(
            http.get(&format!("/apps/app-{i}/config-vars")).1,
            json!({"N": i.to_string()})
        );
        assert_eq!(
            http.get(&format!("/apps/app-{i}/releases/1")).1["description"],
            "Set N config vars"
        );
    }
}

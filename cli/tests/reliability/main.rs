//! The reliability suite: the faults hostile clients, full disks and races used to cause, each
//! driven against a real server, with the figures printed (`.config/nextest.toml` shows them in
//! CI). Bounded to a few minutes.

mod disk_full;
mod floods;
mod fuzz;
mod kills;
mod races;

use std::path::PathBuf;

use paas_tests::{CliEnv, Stack, TestServer, bin_next_to};

fn server_bin() -> PathBuf {
    bin_next_to(env!("CARGO_BIN_EXE_paas"), "paas-buildserver")
}

/// A server started with `flags` on the busybox stack, a CLI that pushes to it, and the static
/// fixture's repository with app `app` created for it.
pub fn with_app(flags: &[&str], app: &str) -> (TestServer, CliEnv, std::path::PathBuf) {
    let server = TestServer::start_with(&server_bin(), flags, &[]);
    server.install_stack(Stack::Busybox);
    let cli = CliEnv::pusher(std::path::Path::new(env!("CARGO_BIN_EXE_paas")), &server);
    let repo = cli.app_repo("static");
    let created = cli
        .command(&["create", app])
        .current_dir(&repo)
        .output()
        .expect("create");
    assert!(created.status.success(), "{created:?}");
    (server, cli, repo)
}

/// `git push paas main` in `repo`, which must succeed.
fn pushed(cli: &CliEnv, repo: &std::path::Path) {
    let push = cli
        .git(repo, &["push", "paas", "main"])
        .output()
        .expect("push");
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
}

/// An HTTP client that returns every status as a response (4xx and 5xx are answers here).
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// `METHOD api/path` with the token and an optional JSON body: the status and body.
fn call(
    agent: &ureq::Agent,
    api: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, String) {
    let url = format!("{api}{path}");
    let auth = format!("Bearer {token}");
    let response = match (method, body) {
        ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
        ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
        ("POST", Some(body)) => agent
            .post(&url)
            .header("Authorization", &auth)
            .send_json(body),
        ("PATCH", Some(body)) => agent
            .patch(&url)
            .header("Authorization", &auth)
            .send_json(body),
        other => panic!("no such call: {other:?}"),
    };
    match response {
        Ok(mut response) => (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}

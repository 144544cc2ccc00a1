//! Tests for the HTTP API: auth, apps, keys, config vars, releases, formation and bad input.

use std::process::Command;

use serde_json::json;

use super::{Http, server};

fn create_user(server: &paas_tests::TestServer, name: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_paas-buildserver"))
        .args(["user", "create", name, "--data-dir"])
        .arg(server.data_dir())
        .env_clear()
        .output()
        .expect("run user create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

#[test]
fn healthz_needs_no_token_and_everything_else_does() {
    let server = server();
    let anon = Http::new(&server, None);
    assert_eq!(anon.get("/healthz").0, 200);
    for path in [
        "/account",
        "/apps",
        "/account/keys",
        "/apps/demo/config-vars",
    ] {
        let (status, body) = anon.get(path);
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["id"], "unauthorized");
        assert_eq!(body["message"], "missing API token");
        assert_eq!(
            body["hint"],
            "run `paas login` with a valid token (or set PAAS_API_TOKEN)"
        );
    }
    let forged = format!("paas_{}_{}", "0".repeat(16), "0".repeat(64));
    for token in [
        "nonsense",
        forged.as_str(),
        &format!("{}x", server.admin_token()),
    ] {
        let (status, body) = Http::new(&server, Some(token)).get("/apps");
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some("invalid or revoked API token")),
            "{token}"
        );
    }
    let (status, account) = Http::admin(&server).get("/account");
    assert_eq!(status, 200);
    assert_eq!(account["name"], "admin");
    assert_eq!(account["admin"], true);
}

#[test]
fn app_lifecycle() {
    let server = server();
    let http = Http::admin(&server);
    let (status, app) = http.send("POST", "/apps", &json!({"name": "demo"}));
    assert_eq!(status, 201, "{app}");
    assert_eq!(app["name"], "demo");
    assert!(
        app["git_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("ssh://git@127.0.0.1:") && u.ends_with("/demo.git")),
        "{app}"
    );
    assert!(
        app["web_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://demo.localhost:")),
        "{app}"
    );

    let (status, body) = http.send("POST", "/apps", &json!({"name": "demo"}));
    assert_eq!((status, body["id"].as_str()), (409, Some("conflict")));
    assert_eq!(body["message"], "app \"demo\" already exists");

    let (status, generated) = http.send("POST", "/apps", &json!({}));
    assert_eq!(status, 201);
    assert!(
        generated["name"].as_str().is_some_and(|n| n.len() > 5),
        "{generated}"
    );

    let repo = server
        .data_dir()
        .join("repos")
        .join(format!("{}.git", app["id"].as_str().expect("id")));
    assert!(repo.join("HEAD").is_file(), "the app's bare repo exists");
    assert_eq!(
        std::fs::read_to_string(repo.join("HEAD")).expect("HEAD"),
        "ref: refs/heads/main\n"
    );

    let (status, renamed) = http.send("PATCH", "/apps/demo", &json!({"name": "demo2"}));
    assert_eq!(status, 200);
    assert_eq!(
        (renamed["name"].as_str(), &renamed["id"]),
        (Some("demo2"), &app["id"])
    );
    assert_eq!(http.get("/apps/demo").0, 404);

    let (_, apps) = http.get("/apps");
    assert_eq!(apps.as_array().map(Vec::len), Some(2));
    assert_eq!(http.delete("/apps/demo2").0, 200);
    assert!(!repo.exists(), "the repo goes with the app");
    let (status, body) = http.get("/apps/demo2");
    assert_eq!(status, 404);
    assert_eq!(body["message"], "app \"demo2\" not found");
    assert_eq!(
        body["hint"],
        "run `paas apps` to list the apps you can access"
    );
}

#[test]
fn invalid_app_names_state_the_rule() {
    let server = server();
    let http = Http::admin(&server);
    for bad in [
        "My-App",
        "1app",
        "-app",
        "a_b",
        "a b",
        "../x",
        "abcdefghijklmnopqrstuvwxyz01234",
        "é",
    ] {
        let (status, body) = http.send("POST", "/apps", &json!({"name": bad}));
        assert_eq!(status, 422, "{bad}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("use 1 to 30 characters, lowercase letters, digits and dashes, starting with a letter"),
            "{bad}: {message}"
        );
    }
    // Who may change the app is decided first: an app that is not there is not found, whatever
    // the body; one that is gets the name's rule.
    let (status, _) = http.send("PATCH", "/apps/nope", &json!({"name": "Bad"}));
    assert_eq!(status, 404);
    assert_eq!(http.send("POST", "/apps", &json!({"name": "there"})).0, 201);
    let (status, _) = http.send("PATCH", "/apps/there", &json!({"name": "Bad"}));
    assert_eq!(status, 422);
}

#[test]
fn another_users_app_is_not_found() {
    let server = server();
    let alice = Http::new(&server, Some(&create_user(&server, "alice")));
    let bob = Http::new(&server, Some(&create_user(&server, "bob")));
    assert_eq!(
        alice.send("POST", "/apps", &json!({"name": "secret"})).0,
        201
    );
    for path in [
        "/apps/secret",
        "/apps/secret/config-vars",
        "/apps/secret/releases",
        "/apps/secret/formation",
    ] {
        let (status, body) = bob.get(path);
        assert_eq!(
            (status, body["message"].as_str()),
            (404, Some("app \"secret\" not found")),
            "{path}"
        );
    }
    assert_eq!(bob.delete("/apps/secret").0, 404);
    assert_eq!(
        bob.send("PATCH", "/apps/secret/config-vars", &json!({"A": "1"}))
            .0,
        404
    );
    let (_, apps) = bob.get("/apps");
    assert_eq!(apps, json!([]));
    // The admin sees every app.
    let (_, apps) = Http::admin(&server).get("/apps");
    assert_eq!(apps[0]["owner"], "alice");
}

#[test]
fn config_changes_record_one_release_each() {
    let server = server();
    let http = Http::admin(&server);
    http.send("POST", "/apps", &json!({"name": "demo"}));
    let (status, v1) = http.send(
        "PATCH",
        "/apps/demo/config-vars",
        &json!({"GREETING": "hello", "URL": "a=b=c"}),
    );
    assert_eq!(status, 200, "{v1}");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["description"], "Set GREETING, URL config vars");
    assert_eq!(v1["status"], "succeeded");
    let (_, v2) = http.send(
        "PATCH",
        "/apps/demo/config-vars",
        &json!({"GREETING": null}),
    );
    assert_eq!(
        (v2["version"].as_u64(), v2["description"].as_str()),
        (Some(2), Some("Remove GREETING config vars"))
    );
    assert_eq!(
        http.get("/apps/demo/config-vars").1,
        json!({"URL": "a=b=c"})
    );

    // Before the first build no release runs: none is current, and none can be rolled back to.
    let (status, body) = http.send("POST", "/apps/demo/releases", &json!({"rollback_to": 1}));
    assert_eq!(status, 422);
    assert_eq!(
        body["message"],
        "v1 has no build to run: it only changed config vars before the app's first successful deploy"
    );
    assert_eq!(
        http.get("/apps/demo/config-vars").1,
        json!({"URL": "a=b=c"})
    );

    let (_, releases) = http.get("/apps/demo/releases");
    let versions: Vec<_> = releases
        .as_array()
        .expect("list")
        .iter()
        .map(|r| (r["version"].clone(), r["current"].clone()))
        .collect();
    assert_eq!(
        versions,
        vec![(json!(2), json!(false)), (json!(1), json!(false))]
    );
    assert_eq!(
        http.get("/apps/demo/releases/v2").1["description"],
        "Remove GREETING config vars"
    );
    assert_eq!(http.get("/apps/demo/releases/2").1["version"], 2);
    let (status, body) = http.get("/apps/demo/releases/9");
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("app \"demo\" has no release v9"))
    );
    let (status, body) = http.get("/apps/demo/releases/latest");
    assert_eq!(
        (status, body["message"].as_str()),
        (422, Some("invalid release version \"latest\""))
    );
    let (status, _) = http.send("POST", "/apps/demo/releases", &json!({"rollback_to": 9}));
    assert_eq!(status, 404);
}

#[test]
fn bad_config_vars_are_refused_and_change_nothing() {
    let server = server();
    let http = Http::admin(&server);
    http.send("POST", "/apps", &json!({"name": "demo"}));
    let cases = [
        (
            json!({"1BAD": "x"}),
            "invalid config key \"1BAD\": use 1 to 255 letters, digits and underscores, not starting with a digit",
        ),
        (
            json!({"A-B": "x"}),
            "invalid config key \"A-B\": use 1 to 255 letters, digits and underscores, not starting with a digit",
        ),
        (
            json!({"BIG": "x".repeat(32 * 1024 + 1)}),
            "the value of BIG is longer than 32 KiB",
        ),
        (json!({}), "no config vars given"),
    ];
    for (body, message) in cases {
        let (status, error) = http.send("PATCH", "/apps/demo/config-vars", &body);
        assert_eq!((status, error["message"].as_str()), (422, Some(message)));
    }
    let (status, _) = http.send(
        "PATCH",
        "/apps/demo/config-vars",
        &json!({"OK": "x".repeat(32 * 1024)}),
    );
    assert_eq!(status, 200);
    let (status, error) = http.send("PATCH", "/apps/demo/config-vars", &json!({"A": 1}));
    assert_eq!(status, 422, "{error}");
    assert_eq!(
        http.get("/apps/demo/releases").1.as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn formation_before_the_first_build_is_refused() {
    let server = server();
    let http = Http::admin(&server);
    http.send("POST", "/apps", &json!({"name": "demo"}));
    http.send("PATCH", "/apps/demo/config-vars", &json!({"A": "1"}));
    assert_eq!(http.get("/apps/demo/formation"), (200, json!([])));
    let (status, body) = http.send("PATCH", "/apps/demo/formation", &json!({"web": 2}));
    assert_eq!(status, 422);
    assert_eq!(
        body["message"],
        "app \"demo\" has no running release to scale: it has not been built, or none of its releases started"
    );
    assert_eq!(
        body["hint"],
        "push code that starts (git push paas main); `paas releases` shows why the last one failed"
    );
}

#[test]
fn malformed_bodies() {
    let server = server();
    let http = Http::admin(&server);
    let (status, body) = http.send("POST", "/apps", &json!({"name": "demo", "region": "eu"}));
    assert_eq!(status, 422);
    assert_eq!(body["id"], "invalid_params");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown field `region`")),
        "{body}"
    );
    let (status, body) = http.send_raw("POST", "/apps", "{not json");
    assert_eq!((status, body["id"].as_str()), (400, Some("bad_request")));
    let (status, body) = http.send("POST", "/apps/demo/releases", &json!({"rollback_to": "v1"}));
    assert!(status == 404 || status == 422, "{status} {body}");
    let big = format!("{{\"name\": \"{}\"}}", "a".repeat(1024 * 1024));
    let (status, body) = post_ignoring_early_close(&server, &big);
    assert_eq!(
        (status, body["id"].as_str()),
        (413, Some("payload_too_large"))
    );
    assert_eq!(body["message"], "request body is larger than 1024 KiB");
    let (status, body) = http.send_raw("PUT", "/apps", "{}");
    assert_eq!(
        (status, body["id"].as_str()),
        (405, Some("method_not_allowed"))
    );
    // On a new connection: hyper closes one whose request body the handler left unread (the
    // 405's), and a pooled one may be taken just before its close is seen.
    let (status, body) = Http::admin(&server).get("/nope");
    assert_eq!((status, body["id"].as_str()), (404, Some("not_found")));
}

fn keygen(dir: &std::path::Path, name: &str, args: &[&str]) -> Option<(String, String)> {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen runs");
    if !status.success() {
        return None;
    }
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    let listed = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(path.with_extension("pub"))
        .output()
        .expect("ssh-keygen -l");
    let fingerprint = String::from_utf8(listed.stdout)
        .expect("utf-8")
        .split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_owned();
    Some((public, fingerprint))
}

#[test]
fn ssh_keys_from_ssh_keygen() {
    let server = server();
    let http = Http::admin(&server);
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, args) in [
        ("ed", &["-t", "ed25519"][..]),
        ("ec", &["-t", "ecdsa", "-b", "256"]),
        ("rsa", &["-t", "rsa", "-b", "2048"]),
    ] {
        let (public, fingerprint) =
            keygen(dir.path(), name, args).expect("key type supported by ssh-keygen");
        let (status, key) = http.send("POST", "/account/keys", &json!({"public_key": public}));
        assert_eq!(status, 201, "{name}: {key}");
        assert_eq!(
            key["fingerprint"],
            fingerprint.as_str(),
            "{name} fingerprint matches ssh-keygen -l"
        );
        assert_eq!(key["comment"], name);
    }
    let (public, fingerprint) = keygen(dir.path(), "ed2", &["-t", "ed25519"]).expect("ed25519");
    http.send(
        "POST",
        "/account/keys",
        &json!({"public_key": public.clone()}),
    );
    let (status, body) = http.send("POST", "/account/keys", &json!({"public_key": public}));
    assert_eq!(
        (status, body["message"].as_str()),
        (
            409,
            Some(format!("key {fingerprint} already exists").as_str())
        )
    );
    assert_eq!(
        http.get("/account/keys").1.as_array().map(Vec::len),
        Some(4)
    );

    let encoded: String = fingerprint.replace('/', "%2F").replace('+', "%2B");
    assert_eq!(http.delete(&format!("/account/keys/{encoded}")).0, 204);
    let (status, body) = http.delete(&format!("/account/keys/{encoded}"));
    assert_eq!(status, 404);
    assert_eq!(
        body["message"],
        format!("you have no key with fingerprint {fingerprint}")
    );
}

#[test]
fn weak_and_garbage_keys_are_refused_with_the_reason() {
    let server = server();
    let http = Http::admin(&server);
    let dir = tempfile::tempdir().expect("temp dir");
    let (rsa1024, _) = keygen(dir.path(), "short", &["-t", "rsa", "-b", "1024"])
        .expect("ssh-keygen makes 1024-bit RSA");
    let (status, body) = http.send("POST", "/account/keys", &json!({"public_key": rsa1024}));
    assert_eq!(
        (status, body["message"].as_str()),
        (
            422,
            Some("this RSA key has 1024 bits; at least 2048 are required")
        )
    );
    let (dsa, _) =
        keygen(dir.path(), "dsa", &["-t", "dsa"]).expect("Debian 12's ssh-keygen makes DSA keys");
    let (status, body) = http.send("POST", "/account/keys", &json!({"public_key": dsa}));
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("DSA keys are not accepted")),
        "{body}"
    );
    for garbage in [
        "",
        "hello",
        "ssh-ed25519 !!!",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ] {
        let (status, body) = http.send("POST", "/account/keys", &json!({"public_key": garbage}));
        assert_eq!(status, 422, "{garbage}");
        assert_eq!(
            body["message"],
            "not an OpenSSH public key (expected one line like `ssh-ed25519 AAAA… comment`)"
        );
    }
    assert_eq!(http.get("/account/keys").1, json!([]));
}

#[test]
fn openapi_is_served() {
    let server = server();
    let (status, doc) = Http::new(&server, None).get("/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/apps/{app}/config-vars"]["patch"].is_object());
}

/// POSTs `body` to /apps over a raw socket, writing from a thread that ignores the server
/// closing early (it may answer 413 before reading the body, and a client still writing then sees
/// a reset), and reads the answer.
fn post_ignoring_early_close(
    server: &paas_tests::TestServer,
    body: &str,
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let addr = server.api.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    let head = format!(
        "POST /apps HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.admin_token(),
        body.len()
    );
    let mut writer = stream.try_clone().expect("clone");
    let payload = [head.as_bytes(), body.as_bytes()].concat();
    let sending = std::thread::spawn(move || {
        let _ = writer.write_all(&payload);
    });
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let _ = sending.join();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or_default();
    (status, json)
}

/// `paas-buildserver user ARGS --data-dir …`: (success, stdout, stderr).
fn user_command(server: &paas_tests::TestServer, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_paas-buildserver"))
        .arg("user")
        .args(args)
        .arg("--data-dir")
        .arg(server.data_dir())
        .env_clear()
        .output()
        .expect("run paas-buildserver user");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn operators_revoke_tokens_and_delete_users() {
    let server = server();
    let token = create_user(&server, "bob");
    let bob = Http::new(&server, Some(&token));
    assert_eq!(bob.get("/account").0, 200);

    // A leaked token: every one of bob's stops working; --new gives him one (printed once).
    let (ok, fresh, said) = user_command(&server, &["tokens", "revoke", "bob", "--new"]);
    assert!(ok, "{said}");
    assert!(said.contains("Revoked 1 API token(s) of bob."), "{said}");
    assert_eq!(bob.get("/account").0, 401);
    let bob = Http::new(&server, Some(&fresh));
    assert_eq!(bob.get("/account").0, 200);

    // A user who owns apps is not deleted: the apps would have no owner.
    assert_eq!(
        bob.send("POST", "/apps", &json!({"name": "bobs-app"})).0,
        201
    );
    let (ok, _, said) = user_command(&server, &["delete", "bob"]);
    assert!(!ok);
    assert!(
        said.contains("bob owns 1 app(s): bobs-app; destroy them"),
        "{said}"
    );
    assert_eq!(bob.get("/account").0, 200, "nothing changed");
    assert_eq!(bob.delete("/apps/bobs-app").0, 200);
    let (ok, _, said) = user_command(&server, &["delete", "bob"]);
    assert!(ok, "{said}");
    assert!(said.contains("Deleted user bob"), "{said}");
    assert_eq!(bob.get("/account").0, 401);
    let (ok, _, said) = user_command(&server, &["delete", "bob"]);
    assert!(!ok && said.contains("there is no user bob"), "{said}");
}

#[test]
fn a_revoked_token_ends_its_log_stream_and_one_authorization_header_is_allowed() {
    let server = server();
    let token = create_user(&server, "carol");
    let carol = Http::new(&server, Some(&token));
    assert_eq!(
        carol.send("POST", "/apps", &json!({"name": "tailed"})).0,
        201
    );
    let auth = format!("Authorization: Bearer {token}");
    let twice = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", &auth])
        .args(["-H", "Authorization: Bearer someone-elses"])
        .arg(format!("{}/apps/tailed", server.api))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&twice.stdout), "401");

    // Destroyed while followed: the stream ends, saying so.
    assert_eq!(
        carol.send("POST", "/apps", &json!({"name": "doomed"})).0,
        201
    );
    let doomed = Command::new("curl")
        .args(["-sN", "-m", "30", "-H", &auth])
        .arg(format!("{}/apps/doomed/logs?tail=true", server.api))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(carol.delete("/apps/doomed").0, 200);
    let ended = doomed.wait_with_output().expect("tail");
    let text = String::from_utf8_lossy(&ended.stdout);
    assert!(
        text.lines().last().is_some_and(|l| l.contains(
            "this stream ended: the app was destroyed, or you no longer have access to it"
        )),
        "{text}"
    );

    let tail = Command::new("curl")
        .args(["-sN", "-m", "30", "-H", &auth])
        .arg(format!("{}/apps/tailed/logs?tail=true", server.api))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let revoked = std::time::Instant::now();
    let (ok, _, said) = user_command(&server, &["tokens", "revoke", "carol"]);
    assert!(ok, "{said}");
    let ended = tail.wait_with_output().expect("tail");
    let took = revoked.elapsed();
    let text = String::from_utf8_lossy(&ended.stdout);
    assert!(ended.status.success(), "curl timed out: {text}");
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.contains("this stream ended: invalid or revoked API token")),
        "{text}"
    );
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
}

//! Tests for pushing images to a registry that misbehaves: a proxy in front of the real
//! `docker-registry` answers chosen requests with errors.

use paas_tests::{Fault, FaultyProxy, Stack, TestRegistry, TestServer, transcript};

use super::{paas_bin, server_bin};

fn response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// As the admin with a fresh SSH key: creates `app` from fixture `fixture` and pushes it.
fn push_fixture(
    server: &TestServer,
    fixture: &str,
    app: &str,
) -> (paas_tests::CliEnv, std::process::Output) {
    let cli = paas_tests::CliEnv::pusher(paas_bin(), server);
    let repo = cli.app_repo(fixture);
    let output = cli
        .command(&["create", app])
        .current_dir(&repo)
        .output()
        .expect("create");
    assert!(output.status.success(), "{}", transcript(&output));
    let output = cli
        .git(&repo, &["push", "paas", "main"])
        .output()
        .expect("push");
    (cli, output)
}

/// Pushes the procfile fixture through a proxy with `faults`; returns the push's stderr and
/// whether it succeeded.
fn push_through(faults: Vec<Fault>, extra: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let registry = TestRegistry::start();
    let proxy = FaultyProxy::start(&registry.addr, faults);
    let target = format!("{}/paas", proxy.addr);
    let mut args = vec!["--registry", target.as_str(), "--registry-insecure"];
    args.extend_from_slice(extra);
    let server = TestServer::start_with(&server_bin(), &args, env);
    server.install_stack(Stack::Busybox);
    let (cli, output) = push_fixture(&server, "procfile", "faulty");
    let releases = cli.ok(&["releases", "--json", "-a", "faulty"]);
    if !output.status.success() {
        assert_eq!(
            releases.trim(),
            "[]",
            "a failed registry push records no release"
        );
    }
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn server_errors_are_retried() {
    let faults = vec![
        Fault {
            method: "PUT",
            path_contains: "/blobs/uploads/",
            times: 2,
            response: response("503 Service Unavailable", "", ""),
        },
        Fault {
            method: "HEAD",
            path_contains: "/blobs/",
            times: 1,
            response: response("429 Too Many Requests", "Retry-After: 1\r\n", ""),
        },
    ];
    let (ok, stderr) = push_through(faults, &[], &[]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("-----> Released v1: "), "{stderr}");
}

#[test]
fn a_forbidden_upload_names_the_registry_and_status() {
    let faults = vec![Fault {
        method: "POST",
        path_contains: "/blobs/uploads/",
        times: 100,
        response: response(
            "403 Forbidden",
            "Content-Type: application/json\r\n",
            r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
        ),
    }];
    let (ok, stderr) = push_through(faults, &[], &[]);
    assert!(!ok);
    assert!(
        stderr.contains("remote:  !     Push rejected: the build failed at step `registry`."),
        "{stderr}"
    );
    assert!(
        stderr.contains("with HTTP 403: DENIED (requested access to the resource is denied)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Nothing was released; push again once the registry works."),
        "{stderr}"
    );
}

#[test]
fn a_registry_that_hangs_fails_the_push_after_the_registry_timeout() {
    // Accepts connections, reads what comes, never answers (a registry wedged behind its load
    // balancer): the push used to wait forever.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = hung.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for client in hung.incoming().flatten() {
            std::thread::spawn(move || {
                let mut client = client;
                let _ = std::io::copy(&mut client, &mut std::io::sink());
            });
        }
    });
    let target = format!("{addr}/paas");
    let server = TestServer::start_with(
        &server_bin(),
        &[
            "--registry",
            &target,
            "--registry-insecure",
            "--registry-timeout",
            "2",
        ],
        &[],
    );
    server.install_stack(Stack::Busybox);
    let started = std::time::Instant::now();
    let (cli, output) = push_fixture(&server, "procfile", "hung");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert!(
        stderr.contains(&format!(
            "the registry {target} stopped answering the API check (GET /v2/): nothing moved for 2 s"
        )) && stderr.contains("Nothing was released"),
        "{stderr}"
    );
    assert_eq!(cli.ok(&["releases", "--json", "-a", "hung"]).trim(), "[]");
}

#[test]
fn a_wrong_digest_from_the_registry_fails_the_push() {
    let wrong = format!("sha256:{}", "0".repeat(64));
    let faults = vec![Fault {
        method: "PUT",
        path_contains: "/blobs/uploads/",
        times: 1,
        response: response(
            "201 Created",
            &format!("Docker-Content-Digest: {wrong}\r\n"),
            "",
        ),
    }];
    let (ok, stderr) = push_through(faults, &[], &[]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("as {wrong}, not sha256:")),
        "{stderr}"
    );
}

#[test]
fn a_refused_manifest_shows_the_registry_error() {
    let faults = vec![Fault {
        method: "PUT",
        path_contains: "/manifests/",
        times: 100,
        response: response(
            "400 Bad Request",
            "Content-Type: application/json\r\n",
            r#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#,
        ),
    }];
    let (ok, stderr) = push_through(faults, &[], &[]);
    assert!(!ok);
    assert!(
        stderr.contains("with HTTP 400: MANIFEST_BLOB_UNKNOWN (blob unknown to registry)"),
        "{stderr}"
    );
}

#[test]
fn basic_auth_with_right_and_wrong_credentials() {
    for (password, works) in [("s3cret", true), ("wrong", false)] {
        let registry = TestRegistry::start_with_htpasswd("paas", "s3cret");
        let target = format!("{}/paas", registry.addr);
        let args = [
            "--registry",
            target.as_str(),
            "--registry-insecure",
            "--registry-username",
            "paas",
        ];
        let server = TestServer::start_with(
            &server_bin(),
            &args,
            &[("PAAS_REGISTRY_PASSWORD", password)],
        );
        server.install_stack(Stack::Busybox);
        let (_cli, output) = push_fixture(&server, "procfile", "authed");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.success(), works, "{stderr}");
        if !works {
            assert!(stderr.contains("with HTTP 401"), "{stderr}");
            assert!(
                !stderr.contains("wrong"),
                "the password never shows: {stderr}"
            );
            assert!(!server.log().contains("wrong"), "nor in the server log");
        }
    }
}

/// A registry holding an image made by paas on the busybox stack, as `stacks/busybox:1`.
fn registry_with_stack_image() -> (TestRegistry, Vec<serde_json::Value>) {
    let registry = TestRegistry::start();
    let server = TestServer::start(&server_bin());
    server.install_stack(Stack::Busybox);
    let (_cli, output) = push_fixture(&server, "procfile", "base");
    assert!(output.status.success(), "{}", transcript(&output));
    let source = format!("oci:{}:base-v1", server.data_dir().join("oci").display());
    let target = format!("docker://{}/stacks/busybox:1", registry.addr);
    let output = std::process::Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false", &source, &target])
        .output()
        .expect("skopeo");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &target])
        .output()
        .expect("skopeo");
    let manifest: serde_json::Value = serde_json::from_slice(&output.stdout).expect("manifest");
    (
        registry,
        manifest["layers"].as_array().expect("layers").clone(),
    )
}

fn import(server: &TestServer, reference: &str) -> std::process::Output {
    std::process::Command::new(server_bin())
        .args(["stack", "import", reference, "--insecure", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("stack import")
}

#[test]
fn an_imported_stack_builds_apps_on_its_own_layers() {
    let (registry, source_layers) = registry_with_stack_image();
    let server = TestServer::start(&server_bin());
    let output = import(&server, &format!("{}/stacks/busybox:1", registry.addr));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = std::process::Command::new(server_bin())
        .args(["stack", "list", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("stack list");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.starts_with(&format!(
            "* busybox (imported from {}/stacks/busybox:1; no Python or Node.js; builds on its run image)",
            registry.addr
        )),
        "{listed}"
    );
    for layer in &source_layers {
        assert!(
            listed.contains(layer["digest"].as_str().expect("digest")),
            "{listed}"
        );
    }

    let (_cli, output) = push_fixture(&server, "static", "on-import");
    assert!(output.status.success(), "{}", transcript(&output));
    let inspected = std::process::Command::new("skopeo")
        .args([
            "inspect",
            &format!(
                "oci:{}:on-import-v1",
                server.data_dir().join("oci").display()
            ),
        ])
        .output()
        .expect("skopeo");
    let inspected: serde_json::Value = serde_json::from_slice(&inspected.stdout).expect("JSON");
    let layers = inspected["Layers"].as_array().expect("layers");
    assert_eq!(
        layers.len(),
        source_layers.len() + 1,
        "the stack's layers, then the app layer"
    );
    for (ours, theirs) in layers.iter().zip(&source_layers) {
        assert_eq!(
            ours, &theirs["digest"],
            "stack layers are referenced as they are"
        );
    }
}

#[test]
fn an_import_with_a_bad_blob_stores_nothing() {
    let (registry, _) = registry_with_stack_image();
    let faults = vec![Fault {
        method: "GET",
        path_contains: "/blobs/sha256:",
        times: 100,
        response: response(
            "200 OK",
            "Content-Type: application/octet-stream\r\n",
            "not the blob you asked for",
        ),
    }];
    let proxy = FaultyProxy::start(&registry.addr, faults);
    let server = TestServer::start(&server_bin());
    let output = import(&server, &format!("{}/stacks/busybox:1", proxy.addr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("failed; nothing was stored"), "{stderr}");
    assert!(stderr.contains(", not sha256:"), "{stderr}");
    assert!(!server.data_dir().join("stacks/busybox").exists());
    assert!(!server.data_dir().join("stacks/.busybox.importing").exists());
}

#[test]
fn bearer_tokens_are_fetched_from_the_realm() {
    let token_server = FaultyProxy::start(
        "127.0.0.1:9",
        vec![Fault {
            method: "GET",
            path_contains: "/token?",
            times: 1,
            response: response(
                "200 OK",
                "Content-Type: application/json\r\n",
                r#"{"token":"t0k3n","expires_in":300}"#,
            ),
        }],
    );
    let challenge = format!(
        "WWW-Authenticate: Bearer realm=\"http://{}/token\",service=\"test\"\r\n",
        token_server.addr
    );
    let faults = vec![Fault {
        method: "GET",
        path_contains: "/v2/",
        times: 1,
        response: response("401 Unauthorized", &challenge, ""),
    }];
    let (ok, stderr) = push_through(faults, &[], &[]);
    assert!(ok, "{stderr}");
    assert_eq!(
        token_server.remaining(),
        vec![0],
        "the token was requested once"
    );
}

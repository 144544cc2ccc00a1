//! Tests for custom domains, certificates and the router's edge: hostnames checked and unique,
//! HTTPS by SNI with an uploaded certificate (HTTP/2 and HTTP/1.1, curl trusting a test CA),
//! redirects, maintenance, per-app timeouts and body limits, the request head limit; and ACM
//! against a real ACME server (Debian's pebble): issued, served, renewed before it expires, and
//! kept serving while the ACME server is down.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use paas_tests::acme::TestAcme;
use paas_tests::tls::TestCa;
use paas_tests::{CliEnv, TestServer, transcript};
use serde_json::Value;

use super::push::stderr_of;
use super::run::{ok, paas, push, refused, serving, serving_with};

/// A busybox app whose `/cgi-bin/proto` prints the `X-Forwarded-Proto`, `-Port`,
/// `X-Request-Start` and `Forwarded` it got, and whose `/cgi-bin/slow` takes 5 s to answer.
const PROTO_APP: &str = "web: mkdir -p /tmp/www/cgi-bin && echo hello > /tmp/www/index.html && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho proto=$HTTP_X_FORWARDED_PROTO port=$HTTP_X_FORWARDED_PORT start=$HTTP_X_REQUEST_START fwd=$HTTP_FORWARDED\\n' > /tmp/www/cgi-bin/proto && printf '#!/bin/sh\\nsleep 5\\necho\\n' > /tmp/www/cgi-bin/slow && chmod +x /tmp/www/cgi-bin/proto /tmp/www/cgi-bin/slow && exec busybox httpd -f -p $PORT -h /tmp/www\n";

/// `curl ARGS` (no proxy): (exit code, `%{http_code} %{http_version}` then the body).
/// curl with the tests' common arguments: no proxy, a 20 s limit, the status and HTTP version
/// after the body.
fn curl_command(args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new("curl");
    command
        .args(["-s", "--noproxy", "*", "--max-time", "20"])
        .args(["-w", "\n%{http_code} %{http_version}"])
        .args(args);
    command
}

/// What `curl_command` printed: its exit code and output.
fn run_curl(mut command: std::process::Command) -> (i32, String) {
    let output = command.output().expect("curl");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn curl(args: &[&str]) -> (i32, String) {
    run_curl(curl_command(args))
}

/// curl to `https://HOST:PORT/path` through the router's TLS listener, trusting `ca`.
fn https_command(
    server: &TestServer,
    ca: &Path,
    host: &str,
    path: &str,
    extra: &[&str],
) -> std::process::Command {
    let port = server.router_tls.rsplit_once(':').expect("port").1;
    let resolve = format!("{host}:{port}:127.0.0.1");
    let url = format!("https://{host}:{port}{path}");
    let mut args = vec![
        "--cacert",
        ca.to_str().expect("utf-8"),
        "--resolve",
        &resolve,
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    curl_command(&args)
}

/// `https://HOST:PORT/path` through the router's TLS listener, trusting `ca`: curl's exit code
/// and output (the body, then status and HTTP version).
fn https(server: &TestServer, ca: &Path, host: &str, path: &str, extra: &[&str]) -> (i32, String) {
    run_curl(https_command(server, ca, host, path, extra))
}

/// `http://router/path` with `Host: host`, headers included in the output.
fn http(server: &TestServer, host: &str, path: &str, extra: &[&str]) -> String {
    let header = format!("Host: {host}");
    let url = format!("http://{}{path}", server.router);
    let mut args = vec!["-i", "-H", &header];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args).1
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

/// Sends `head` on a fresh router connection and reads the answer (or what came before it closed).
fn raw(server: &TestServer, head: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(&server.router).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The router may answer and close before it has read it all: a write error is fine.
    let _ = stream.write_all(head);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn custom_domains_serve_https_and_the_edge_settings_hold() {
    let (server, cli) = serving();
    let repo = cli.app_repo("envpage");
    std::fs::write(repo.join("Procfile"), PROTO_APP).expect("write");
    cli.commit_all(&repo, "an app that shows X-Forwarded-Proto");
    ok(&cli, &repo, &["create", "shop"]);
    let pushed = push(&cli, &repo);
    assert!(pushed.status.success(), "{}", stderr_of(&pushed));
    // Another app renamed to this one's name is refused, and this one keeps its hostname (the
    // refused rename used to take it over, then remove it when undone).
    ok(&cli, &repo, &["create", "other", "--no-remote"]);
    // Never deployed: 503, logged in its log as Heroku's H14.
    let answer = http(&server, "other.localhost", "/", &[]);
    assert!(
        answer.starts_with("HTTP/1.1 503") && answer.contains("No web dyno of this app is up."),
        "{answer}"
    );
    let logs = ok(&cli, &repo, &["logs", "-a", "other", "--ps", "router"]);
    assert!(
        logs.contains("code=H14") && logs.contains("status=503"),
        "{logs}"
    );
    let output = paas(&cli, &repo, &["apps", "rename", "shop", "-a", "other"]);
    assert!(
        !output.status.success() && stderr_of(&output).contains("already exists"),
        "{}",
        transcript(&output)
    );
    let output = paas(&cli, &repo, &["apps", "rename", "other", "-a", "other"]);
    assert!(
        !output.status.success() && stderr_of(&output).contains("already named other"),
        "{}",
        transcript(&output)
    );
    assert!(http(&server, "shop.localhost", "/", &[]).contains("hello"));
    ok(
        &cli,
        &repo,
        &["destroy", "-a", "other", "--confirm", "other"],
    );

    // Hostnames users get wrong, each refused with what is wrong.
    let long = format!("{}example.com", "a.".repeat(150));
    for (bad, says) in [
        ("has space.example.com", "not a valid hostname"),
        ("a..example.com", "empty label"),
        (long.as_str(), "253 in all"),
        ("localhost", "single label"),
        ("127.0.0.1", "IP address"),
        ("*.com", "top-level"),
        ("shop.localhost", "server's domain"),
        ("co.uk", "public suffix"),
        ("*.github.io", "public suffix"),
    ] {
        refused(&cli, &repo, &["domains:add", bad], 1, says);
    }
    let added = json(&ok(
        &cli,
        &repo,
        &["domains:add", "WWW.Shop.Test.", "--json"],
    ));
    assert_eq!(added["hostname"], "www.shop.test");
    assert_eq!(added["cname"], "shop.localhost");
    assert_eq!(added["cert_status"], "none");
    ok(&cli, &repo, &["domains:add", "*.shop.test"]);
    let domains = ok(&cli, &repo, &["domains"]);
    for line in [
        "shop.localhost",
        "www.shop.test  CNAME",
        "*.shop.test",
        "ACM (automatic certificates): off",
    ] {
        assert!(domains.contains(line), "{line}: {domains}");
    }
    // Over plain HTTP at once, by either name.
    assert!(http(&server, "www.shop.test", "/", &[]).contains("hello"));
    assert!(http(&server, "any.shop.test", "/", &[]).contains("hello"));

    // Unique across apps: the owner is named to a user who can see it, not to others.
    ok(&cli, &repo, &["create", "other", "--no-remote"]);
    let output = paas(
        &cli,
        &repo,
        &["domains:add", "www.shop.test", "-a", "other"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("already on app shop"),
        "{}",
        transcript(&output)
    );
    let created = std::process::Command::new(super::server_bin())
        .args(["user", "create", "mallory", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("user create");
    let mallory = CliEnv::new(super::paas_bin(), &server.api);
    mallory.login(String::from_utf8(created.stdout).expect("utf-8").trim());
    let theirs = mallory.app_repo("static");
    ok(&mallory, &theirs, &["create", "theirs"]);
    let output = paas(&mallory, &theirs, &["domains:add", "www.shop.test"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("already in use by another app") && !stderr.contains("shop"),
        "{stderr}"
    );
    let output = paas(&mallory, &theirs, &["domains", "-a", "shop"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "another user's app is not found"
    );

    // Certificates: bad ones refused with the reason, nothing recorded.
    let ca = TestCa::new("paas test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8").to_owned()
    };
    let (chain, key) = ca.leaf(&["www.shop.test", "*.shop.test"]);
    let (chain, key) = (file("chain.pem", &chain), file("key.pem", &key));
    let (_, other_key) = ca.leaf(&["www.shop.test"]);
    let other_key = file("other-key.pem", &other_key);
    let (expired, expired_key) = ca.expired_leaf(&["www.shop.test"]);
    let (expired, expired_key) = (
        file("expired.pem", &expired),
        file("expired-key.pem", &expired_key),
    );
    let garbage = file("garbage.pem", "hello, I am not a certificate\n");
    let (future, future_key) = ca.future_leaf(&["www.shop.test"]);
    let (future, future_key) = (
        file("future.pem", &future),
        file("future-key.pem", &future_key),
    );
    let (leaf_only, _) = ca.leaf(&["www.shop.test"]);
    let leaf_only = leaf_only
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .expect("leaf")
        .to_owned();
    let backwards = file("backwards.pem", &format!("{}{leaf_only}", ca.root_pem));
    for (cert, key_file, says) in [
        (garbage.as_str(), key.as_str(), "no certificate found"),
        (chain.as_str(), garbage.as_str(), "no private key found"),
        (chain.as_str(), other_key.as_str(), "does not match"),
        (
            expired.as_str(),
            expired_key.as_str(),
            "expired at 2020-02-01",
        ),
        (
            future.as_str(),
            future_key.as_str(),
            "not valid before 2099-01-01",
        ),
        (
            backwards.as_str(),
            key.as_str(),
            "not signed by certificate 2",
        ),
        (
            chain.as_str(),
            "/nonexistent/key.pem",
            "cannot read the private key",
        ),
    ] {
        let output = paas(&cli, &repo, &["certs:add", cert, key_file]);
        assert_ne!(output.status.code(), Some(0), "{says}");
        assert!(
            stderr_of(&output).contains(says),
            "{says}: {}",
            transcript(&output)
        );
    }
    assert!(
        json(&ok(&cli, &repo, &["certs", "--json"]))
            .as_array()
            .expect("list")
            .is_empty()
    );
    let cert = json(&ok(&cli, &repo, &["certs:add", &chain, &key, "--json"]));
    assert_eq!(cert["source"], "manual");
    assert_eq!(cert["state"], "active");
    assert_eq!(
        cert["domains"],
        serde_json::json!(["www.shop.test", "*.shop.test"])
    );
    assert!(
        cert["issuer"]
            .as_str()
            .expect("issuer")
            .contains("paas test CA")
    );
    let listed = ok(&cli, &repo, &["certs"]);
    assert!(!listed.contains("PRIVATE KEY"), "{listed}");
    assert_eq!(
        json(&ok(&cli, &repo, &["domains", "--json"]))[1]["cert_status"],
        "issued"
    );

    // HTTPS by SNI: HTTP/2 when the client offers it, HTTP/1.1 otherwise; the dyno is told.
    let root = Path::new(&file("root.pem", &ca.root_pem)).to_owned();
    let (code, out) = https(
        &server,
        &root,
        "www.shop.test",
        "/cgi-bin/proto",
        &["--http2", "-H", "Forwarded: for=6.6.6.6"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("200 2"), "{out}");
    // A client's `Forwarded` gets the router's element last (RFC 7239).
    assert!(
        out.contains(" fwd=for=6.6.6.6, for=127.0.0.1;proto=https\n"),
        "{out}"
    );
    let port = |address: &str| address.rsplit_once(':').expect("a port").1.to_owned();
    assert!(
        out.contains(&format!(
            "proto=https port={} start=t=",
            port(&server.router_tls)
        )),
        "{out}"
    );
    let (code, out) = https(&server, &root, "a.shop.test", "/", &["--http1.1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("200 1.1") && out.contains("hello"), "{out}");
    let out = http(&server, "www.shop.test", "/cgi-bin/proto", &[]);
    assert!(
        out.contains(&format!(
            "proto=http port={} start=t=",
            port(&server.router)
        )),
        "{out}"
    );
    // An HTTP/2 client that gives up before its response begins is logged as interrupted
    // (Heroku's H27, 499) as it leaves.
    let (code, out) = https(
        &server,
        &root,
        "www.shop.test",
        "/cgi-bin/slow",
        &["--http2", "--max-time", "0.5"],
    );
    assert_eq!(code, 28, "curl's timeout: {out}");
    std::thread::sleep(Duration::from_millis(300));
    let logs = ok(&cli, &repo, &["logs", "--ps", "router"]);
    let left = logs
        .lines()
        .find(|line| line.contains("path=/cgi-bin/slow"))
        .unwrap_or_default();
    assert!(
        left.contains("code=H27") && left.contains("status=499") && left.contains("protocol=https"),
        "{logs}"
    );
    // No SNI (an IP address in the URL), or a name no app has a certificate for: refused in the
    // handshake (curl's 35).
    let port = server.router_tls.rsplit_once(':').expect("port").1;
    let (code, out) = curl(&["-k", &format!("https://127.0.0.1:{port}/")]);
    assert_eq!(code, 35, "{out}");
    let (code, out) = https(&server, &root, "shop.localhost", "/", &["-k"]);
    assert_eq!(code, 35, "{out}");

    // Redirects to HTTPS for the names with a certificate, keeping the path and query.
    ok(&cli, &repo, &["domains:redirect-https", "on"]);
    let answer = http(&server, "www.shop.test", "/a/b?c=d", &[]);
    assert!(answer.starts_with("HTTP/1.1 301"), "{answer}");
    assert!(
        answer.contains(&format!("location: https://www.shop.test:{port}/a/b?c=d")),
        "{answer}"
    );
    assert!(
        http(&server, "shop.localhost", "/", &[]).contains("hello"),
        "no certificate: served"
    );
    ok(&cli, &repo, &["domains:redirect-https", "off"]);

    // Maintenance: 503 with Retry-After and a page, both listeners; dynos keep running.
    ok(&cli, &repo, &["maintenance:on"]);
    assert_eq!(ok(&cli, &repo, &["maintenance"]).trim(), "on");
    let answer = http(&server, "shop.localhost", "/", &[]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 60"), "{answer}");
    assert!(
        answer.contains("Down for maintenance") && answer.contains("Request ID:"),
        "{answer}"
    );
    let (_, out) = https(&server, &root, "www.shop.test", "/", &[]);
    assert!(out.ends_with("503 2"), "{out}");
    let ps = json(&ok(&cli, &repo, &["ps", "--json"]));
    assert_eq!(ps[0]["state"], "up", "{ps}");
    ok(&cli, &repo, &["maintenance:off"]);
    assert!(http(&server, "shop.localhost", "/", &[]).contains("hello"));

    // Request heads over 32 KiB get 431; a megabyte of header neither hangs nor harms the router.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: shop.localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let answer = raw(&server, big.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: shop.localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let answer = raw(&server, huge.as_bytes());
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert!(http(&server, "shop.localhost", "/", &[]).contains("hello"));

    // Removing: without the certificate, no HTTPS; without the domains, no route.
    let name = cert["name"].as_str().expect("name");
    let output = paas(&cli, &repo, &["certs:remove", name]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "confirmation needed: {}",
        transcript(&output)
    );
    ok(&cli, &repo, &["certs:remove", name, "--confirm", name]);
    let (code, out) = https(&server, &root, "a.shop.test", "/", &[]);
    assert_eq!(code, 35, "{out}");
    ok(&cli, &repo, &["domains:remove", "www.shop.test"]);
    assert!(
        http(&server, "www.shop.test", "/", &[]).contains("hello"),
        "the wildcard has it"
    );
    ok(&cli, &repo, &["domains:remove", "*.shop.test"]);
    assert!(http(&server, "www.shop.test", "/", &[]).starts_with("HTTP/1.1 404"));
    let output = paas(&cli, &repo, &["domains:remove", "www.shop.test"]);
    assert!(
        stderr_of(&output).contains("has no custom domain www.shop.test"),
        "{}",
        transcript(&output)
    );
}

#[test]
fn a_silent_dyno_times_out_at_the_apps_setting_and_big_bodies_are_refused() {
    let (server, cli) = serving_with(&["--header-timeout", "3"]);
    let repo = cli.app_repo("envpage");
    super::run::silent_dyno(&cli, &repo);
    ok(&cli, &repo, &["create", "silent"]);
    assert!(push(&cli, &repo).status.success());

    for (bad, says) in [
        ("0", "from 1 to 3600"),
        ("4000", "from 1 to 3600"),
        ("soon", "from 1 to 3600"),
    ] {
        refused(&cli, &repo, &["router:timeout", bad], 2, says);
    }
    ok(&cli, &repo, &["router:timeout", "2"]);
    let started = Instant::now();
    let answer = http(&server, "silent.localhost", "/stuck", &[]);
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(
        answer.contains("within 2 s") && answer.contains("Request ID:"),
        "{answer}"
    );
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(8),
        "{waited:?}"
    );

    ok(&cli, &repo, &["router:max-body-size", "1kB"]);
    let shown = ok(&cli, &repo, &["router"]);
    assert!(
        shown.contains("1000 bytes") && shown.contains("2 s"),
        "{shown}"
    );
    let body = "x".repeat(2000);
    // Said up front (Content-Length) or found out on the way (chunked): 413 either way.
    let answer = http(
        &server,
        "silent.localhost",
        "/upload",
        &["--data-binary", &body],
    );
    assert!(
        answer.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
        "{answer}"
    );
    let answer = http(
        &server,
        "silent.localhost",
        "/upload",
        &["-H", "Transfer-Encoding: chunked", "--data-binary", &body],
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    ok(&cli, &repo, &["router:max-body-size", "none"]);
    ok(&cli, &repo, &["router:timeout", "default"]);

    // A TLS client that shakes hands and then says nothing is closed at the header deadline.
    let ca = TestCa::new("paas test CA");
    let (chain, key) = ca.leaf(&["silent.localhost"]);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("chain.pem"), chain).expect("write");
    std::fs::write(dir.path().join("key.pem"), key).expect("write");
    let (chain, key) = (dir.path().join("chain.pem"), dir.path().join("key.pem"));
    ok(
        &cli,
        &repo,
        &[
            "certs:add",
            chain.to_str().expect("utf-8"),
            key.to_str().expect("utf-8"),
        ],
    );
    let started = Instant::now();
    let mut quiet = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &server.router_tls])
        .args(["-servername", "silent.localhost"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let ended = loop {
        if let Some(status) = quiet.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = quiet.kill();
            let _ = quiet.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(ended.is_some(), "an idle TLS connection was kept open");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Over HTTP/2 as over HTTP/1.1: a body that stops coming for the header timeout gets 408
    // (H28), and the response's timeout counts from the body's end. (curl ends when its upload
    // does, so the router's log line says when each was answered.)
    std::fs::write(dir.path().join("root.pem"), &ca.root_pem).expect("write");
    let root = dir.path().join("root.pem");
    let hold = Duration::from_secs(6);
    let answer = slow_h2_upload(&server, &root, &["abc"], Duration::ZERO, hold);
    assert!(answer.ends_with("408 2"), "{answer}");
    assert!(
        answer.contains("The request body stopped coming for 3 s."),
        "{answer}"
    );
    ok(&cli, &repo, &["router:timeout", "2"]);
    let gap = Duration::from_millis(900);
    let pieces = ["a", "b", "c", "d", "e"];
    let answer = slow_h2_upload(&server, &root, &pieces, gap, Duration::ZERO);
    assert!(answer.ends_with("504 2"), "{answer}");
    ok(&cli, &repo, &["router:timeout", "default"]);
    let logs = ok(&cli, &repo, &["logs", "--ps", "router"]);
    let service = |status: &str| -> Duration {
        let line = logs
            .lines()
            .find(|l| l.contains("protocol=https") && l.contains(&format!("status={status}")))
            .unwrap_or_else(|| panic!("no HTTPS {status} in {logs}"));
        let ms = line
            .rsplit_once("service=")
            .and_then(|(_, ms)| ms.trim().strip_suffix("ms")?.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        Duration::from_millis(ms)
    };
    let idle = service("408");
    assert!(idle >= Duration::from_secs(3) && idle < hold, "{logs}");
    assert!(logs.contains("code=H28"), "{logs}");
    // Its body took five gaps from its head (curl's start counted in the first).
    assert!(service("504") >= gap * 4 + Duration::from_secs(2), "{logs}");

    let settings = json(&ok(&cli, &repo, &["router", "--json"]));
    assert_eq!(settings["max_body_bytes"], Value::Null);
    assert_eq!(settings["timeout_seconds"], Value::Null);
}

/// `curl --http2 -T -` to `https://silent.localhost/upload` through the router, trusting `ca`:
/// `pieces` of the body `gap` apart, then the body ends after `hold`. The body of the answer,
/// then its status and HTTP version.
fn slow_h2_upload(
    server: &TestServer,
    ca: &Path,
    pieces: &[&str],
    gap: Duration,
    hold: Duration,
) -> String {
    let mut curl = https_command(
        server,
        ca,
        "silent.localhost",
        "/upload",
        &["--http2", "-T", "-"],
    )
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .spawn()
    .expect("curl");
    let mut body = curl.stdin.take().expect("stdin");
    for piece in pieces {
        std::thread::sleep(gap);
        body.write_all(piece.as_bytes()).expect("a piece");
        body.flush().expect("flush");
    }
    std::thread::sleep(hold);
    drop(body);
    let output = curl.wait_with_output().expect("curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn acm_orders_renews_and_keeps_serving_through_an_acme_outage() {
    let router_port = paas_tests::free_port();
    // Certificates for 45 s: renewed 15 s before they end (a third of their lifetime).
    let acme = TestAcme::start_with_validity(router_port, Duration::from_secs(45));
    let ca_file = acme.ca_file().to_str().expect("utf-8").to_owned();
    let directory = acme.directory();
    let server = TestServer::start_with_router(
        &super::server_bin(),
        &format!("127.0.0.1:{router_port}"),
        &[
            "--acme-directory",
            &directory,
            "--acme-ca-file",
            &ca_file,
            "--acme-email",
            "ops@example.com",
        ],
        &[],
    );
    server.install_stack(paas_tests::Stack::Busybox);
    let cli = CliEnv::pusher(super::paas_bin(), &server);
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "shop"]);
    assert!(push(&cli, &repo).status.success());

    let output = paas(&cli, &repo, &["domains:wait", "www.acme.test"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "no such domain yet: {}",
        transcript(&output)
    );
    ok(&cli, &repo, &["domains:add", "www.acme.test"]);
    let output = paas(&cli, &repo, &["domains:wait", "www.acme.test"]);
    assert!(
        stderr_of(&output).contains("ACM is off"),
        "{}",
        transcript(&output)
    );
    ok(&cli, &repo, &["certs:auto:enable"]);
    ok(
        &cli,
        &repo,
        &["domains:wait", "www.acme.test", "--timeout", "60"],
    );
    // Kept here: pebble's own folder goes with it.
    let kept = tempfile::tempdir().expect("temp dir");
    let roots = kept.path().join("roots.pem");
    std::fs::copy(acme.issuer_roots(), &roots).expect("copy the roots");
    let (code, out) = https(&server, &roots, "www.acme.test", "/", &[]);
    assert_eq!(code, 0, "{out}\n{}", server.log());
    assert!(out.contains("greeting=") && out.ends_with("200 2"), "{out}");
    let certs = json(&ok(&cli, &repo, &["certs", "--json"]));
    let first = certs[0].clone();
    assert_eq!(first["source"], "acm");
    assert!(
        first["issuer"].as_str().expect("issuer").contains("Pebble"),
        "{first}"
    );
    let auto = ok(&cli, &repo, &["certs:auto"]);
    assert!(
        auto.contains("enabled") && auto.contains("www.acme.test  issued"),
        "{auto}"
    );
    let account = server.data_dir().join("acme/account.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&account).expect("account").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // Renewed before it ends, with no one asking.
    let deadline = Instant::now() + Duration::from_secs(60);
    let renewed = loop {
        let certs = json(&ok(&cli, &repo, &["certs", "--json"]));
        if certs[0]["not_after"] != first["not_after"] {
            break certs[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "not renewed: {certs}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(renewed["state"], "active");
    let (code, out) = https(&server, &roots, "www.acme.test", "/", &[]);
    assert_eq!(code, 0, "{out}");

    // The ACME server goes away: the next renewal fails and says why, and HTTPS goes on with the
    // certificate it has.
    drop(acme);
    let deadline = Instant::now() + Duration::from_secs(60);
    let failing = loop {
        let domains = json(&ok(&cli, &repo, &["domains", "--json"]));
        if let Some(error) = domains[1]["acm_error"].as_str() {
            break error.to_owned();
        }
        assert!(Instant::now() < deadline, "no failure recorded: {domains}");
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(
        failing.contains("cannot reach the ACME directory") || failing.contains("refused"),
        "{failing}"
    );
    let (code, out) = https(&server, &roots, "www.acme.test", "/", &[]);
    assert_eq!(code, 0, "the old certificate is still served: {out}");
    let output = paas(&cli, &repo, &["certs"]);
    assert!(
        stderr_of(&output).contains("ACM could not get a certificate for www.acme.test"),
        "{}",
        transcript(&output)
    );
    let logs = ok(&cli, &repo, &["logs", "--ps", "acm"]);
    assert!(
        logs.contains("Certificate for www.acme.test issued by"),
        "{logs}"
    );
    assert!(logs.contains("failed (trying again in 60 s)"), "{logs}");
}

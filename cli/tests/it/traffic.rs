//! Traffic the router and the logs must take without harm: WebSocket upgrades, clients that read
//! slowly, and a dyno that floods its log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::run::{Watch, get, ok, push, serving, serving_with, status};

#[test]
fn websockets_pass_through_the_router() {
    let (server, cli) = serving();
    let repo = cli.app_repo("websocket");
    ok(&cli, &repo, &["create", "sockets"]);
    assert!(push(&cli, &repo).status.success());

    let mut stream = TcpStream::connect(&server.router).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The handshake of RFC 6455 §1.3, whose accept value is known.
    write!(
        stream,
        "GET /chat HTTP/1.1\r\nHost: sockets.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("send the handshake");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).expect("read the answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101 "), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=")
            && head.contains("upgrade: websocket"),
        "{head}"
    );
    // The dyno echoes frames: both directions stay open, message after message.
    for text in ["hello", "and again"] {
        let mut frame = vec![0x81, 0x80 | u8::try_from(text.len()).expect("short")];
        let mask = [1u8, 2, 3, 4];
        frame.extend(mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        stream.write_all(&frame).expect("send a frame");
        let mut echoed = vec![0u8; frame.len()];
        stream.read_exact(&mut echoed).expect("read the echo");
        assert_eq!(echoed, frame);
    }
    let logs = ok(&cli, &repo, &["logs", "--ps", "router"]);
    assert!(
        logs.contains("method=GET path=/chat host=sockets.localhost")
            && logs.contains("status=101"),
        "{logs}"
    );
}

#[test]
fn a_slow_client_does_not_hold_up_others() {
    let (server, cli) = serving();
    let repo = cli.app_repo("procfile");
    std::fs::write(
        repo.join("Procfile"),
        "web: mkdir -p /tmp/www && busybox dd if=/dev/zero of=/tmp/www/big bs=1M count=16 2>/dev/null \
         && echo small > /tmp/www/index.html && exec busybox httpd -f -p $PORT -h /tmp/www\n",
    )
    .expect("write");
    cli.commit_all(&repo, "a big file");
    ok(&cli, &repo, &["create", "patient"]);
    assert!(push(&cli, &repo).status.success());

    // Four clients ask for 16 MB and read one byte a second.
    let slow: Vec<std::thread::JoinHandle<usize>> = (0..4)
        .map(|_| {
            let router = server.router.clone();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(&router).expect("connect");
                write!(
                    stream,
                    "GET /big HTTP/1.1\r\nHost: patient.localhost\r\n\r\n"
                )
                .expect("send");
                let mut read = 0;
                for _ in 0..4 {
                    let mut byte = [0u8];
                    read += stream.read(&mut byte).expect("a byte");
                    std::thread::sleep(Duration::from_secs(1));
                }
                read
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    for _ in 0..50 {
        assert_eq!(status(&server, "patient", "/"), 200);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(3),
        "50 requests took {elapsed:?} beside the slow clients"
    );
    for client in slow {
        assert_eq!(client.join().expect("slow client"), 4, "still being served");
    }
}

#[test]
fn a_log_flood_stays_bounded_and_others_are_unaffected() {
    let (server, cli) = serving();
    let quiet = cli.app_repo("envpage");
    ok(&cli, &quiet, &["create", "quiet"]);
    assert!(push(&cli, &quiet).status.success());

    let repo = cli.app_repo("procfile");
    // ~100 MB of output in 91-byte lines, as fast as the dyno can write them.
    std::fs::write(
        repo.join("Procfile"),
        "web: (busybox yes \"$(busybox printf '%090d' 0)\" | busybox head -c 100000000; echo; echo flood done) & exec busybox httpd -f -p $PORT -h /app\n",
    )
    .expect("write");
    cli.commit_all(&repo, "flood");
    ok(&cli, &repo, &["create", "flood"]);
    // A follower that does not read while the flood runs.
    let mut follower = cli
        .command(&["logs", "--tail", "--json", "--ps", "web", "-a", "flood"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("paas logs --tail");
    let watch = Watch::start(&server, "quiet");
    assert!(push(&cli, &repo).status.success());

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let tail = ok(&cli, &repo, &["logs", "-n", "5", "--ps", "web"]);
        if tail.contains("app[web.1]: flood done") {
            break;
        }
        assert!(Instant::now() < deadline, "the flood did not end: {tail}");
        std::thread::sleep(Duration::from_millis(500));
    }
    watch.finish_all_ok();
    assert_eq!(get(&server, "quiet").0, 200);
    let quiet_logs = ok(&cli, &quiet, &["logs", "-n", "1500"]);
    assert!(
        !quiet_logs.contains("app[web.1]: 0000000000"),
        "the flood stays in its own app's log"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("status");
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmHWM");
    assert!(
        peak_kib < 200 * 1024,
        "the daemon's memory peaked at {peak_kib} KiB while 100 MB of logs went through"
    );

    // The follower is told how many lines it missed, then sees the end.
    let stdout = follower.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let (mut skipped, mut done) = (None, false);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let value: serde_json::Value = serde_json::from_str(&line).expect("JSON lines");
            let message = value["message"].as_str().unwrap_or_default().to_owned();
            if message.ends_with("lines skipped: this reader fell behind") {
                skipped = Some(message);
            } else if message == "flood done" {
                done = true;
                break;
            }
        }
        (skipped, done)
    });
    let waited = Instant::now();
    while !reader.is_finished() && waited.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let (skipped, done) = reader.join().expect("reader");
    assert!(done, "the follower saw the last line");
    let skipped = skipped.expect("the follower was told it missed lines");
    let count: u64 = skipped
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(count > 1000, "{skipped}");
}

/// Sends `request` on a connection of its own and reads until the router closes it or `wait`
/// passes; the bytes read, lowercased.
fn exchange(router: &str, request: &str, wait: Duration) -> String {
    let mut stream = TcpStream::connect(router).expect("connect");
    stream.set_read_timeout(Some(wait)).expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut read = Vec::new();
    let _ = stream.read_to_end(&mut read);
    String::from_utf8_lossy(&read).to_ascii_lowercase()
}

#[test]
fn the_router_keeps_hop_by_hop_headers_to_each_hop_and_times_out_silent_dynos() {
    let (server, cli) = serving_with(&["--router-timeout", "2"]);
    // busybox httpd answers every request with `Connection: close`.
    let repo = cli.app_repo("procfile");
    ok(&cli, &repo, &["create", "hops"]);
    assert!(push(&cli, &repo).status.success());
    // Two pipelined requests on one connection: the dyno's `Connection: close` is its own,
    // so both are answered (the second used to be lost), then the client closes.
    let get = "GET / HTTP/1.1\r\nHost: hops.localhost\r\n\r\n";
    // The second names the host fully qualified, with its trailing dot (RFC 1034 §3.1).
    let last = "GET / HTTP/1.1\r\nHost: hops.localhost.:80\r\nConnection: close\r\n\r\n";
    let answer = exchange(
        &server.router,
        &format!("{get}{last}"),
        Duration::from_secs(10),
    );
    assert_eq!(answer.matches("http/1.1 ").count(), 2, "{answer}");
    // Both reached the dyno (busybox httpd's own 404 page), not the router's "No such app".
    assert_eq!(
        answer.matches("the requested url was not found").count(),
        2,
        "{answer}"
    );
    let first = &answer[..answer.find("\r\n\r\n").expect("a head")];
    assert!(!first.contains("connection: close"), "{first}");
    // RFC 9112 §3.2: two Host fields are a bad request, not a guess at one of them.
    let answer = exchange(
        &server.router,
        "GET / HTTP/1.1\r\nHost: hops.localhost\r\nHost: other.localhost\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("http/1.1 400 "), "{answer}");
    // An absolute-form target names the host; Host is then ignored (RFC 9112 §3.2.2).
    let answer = exchange(
        &server.router,
        "GET http://hops.localhost/ HTTP/1.1\r\nHost: other.localhost\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(
        answer.contains("the requested url was not found"),
        "{answer}"
    );
    // `OPTIONS *` is about the server: answered, not sent to a dyno as a path.
    let answer = exchange(
        &server.router,
        "OPTIONS * HTTP/1.1\r\nHost: hops.localhost\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(
        answer.starts_with("http/1.1 200 ") && answer.contains("allow: get, head"),
        "{answer}"
    );

    // A dyno that accepts and never answers: the client gets a 504 at the deadline (Heroku's
    // H12), instead of waiting forever.
    super::run::silent_dyno(&cli, &repo);
    assert!(push(&cli, &repo).status.success());
    let started = Instant::now();
    let answer = exchange(
        &server.router,
        "GET /stuck HTTP/1.1\r\nHost: hops.localhost\r\nConnection: close\r\n\r\n",
        Duration::from_secs(20),
    );
    let waited = started.elapsed();
    assert!(answer.starts_with("http/1.1 504 "), "{answer}");
    assert!(answer.contains("request timeout"), "{answer}");
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    let logs = cli
        .command(&["logs", "--source", "paas", "--ps", "router"])
        .current_dir(&repo)
        .output()
        .expect("logs");
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(
        logs.contains("paas[router]: at=error code=H12 desc=\"Request timeout\" method=GET"),
        "{logs}"
    );
}

/// Sends one request on `stream` (keep-alive) and reads its response: (status, body).
fn keep_alive_request(stream: &mut BufReader<TcpStream>, request: &str) -> (u16, String) {
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .expect("send");
    let mut status = String::new();
    stream.read_line(&mut status).expect("status line");
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().expect("a length");
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("body");
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn a_keep_alive_client_stays_with_its_dyno_until_the_dyno_goes() {
    // Node keeps connections alive (and closes idle ones after 5 s).
    let (server, cli, repo) = node_app(
        "sticky",
        "require('http').createServer((req, res) => { req.resume(); req.on('end', () => \
         res.end(`${process.env.DYNO} ${req.method}`)); }).listen(process.env.PORT);\n",
        &[],
    );
    ok(&cli, &repo, &["scale", "web=2"]);

    let mut stream = BufReader::new(TcpStream::connect(&server.router).expect("connect"));
    stream
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let get = "GET / HTTP/1.1\r\nHost: sticky.localhost\r\n\r\n";
    let answers: std::collections::BTreeSet<String> = (0..10)
        .map(|_| {
            let (status, body) = keep_alive_request(&mut stream, get);
            assert_eq!(status, 200, "{body}");
            body
        })
        .collect();
    assert_eq!(answers.len(), 1, "one connection, one dyno: {answers:?}");
    let dyno = answers
        .first()
        .and_then(|a| a.split(' ').next())
        .expect("a dyno")
        .to_owned();
    // Its dyno replaced: the same connection's next requests go to a dyno that is up.
    ok(&cli, &repo, &["restart", &dyno]);
    assert_eq!(keep_alive_request(&mut stream, get).0, 200);
    // The dyno closed the router's idle connection meanwhile: a POST is not lost to it.
    std::thread::sleep(Duration::from_secs(6));
    let post = "POST / HTTP/1.1\r\nHost: sticky.localhost\r\nContent-Length: 5\r\n\r\nhello";
    let (status, body) = keep_alive_request(&mut stream, post);
    assert_eq!((status, body.ends_with(" POST")), (200, true), "{body}");
}

/// A Node app on the Debian stack named `name`, its `server.js` being `server`, created and
/// pushed: the server, the CLI and the app's repository.
fn node_app(
    name: &str,
    server: &str,
    args: &[&str],
) -> (
    paas_tests::TestServer,
    paas_tests::CliEnv,
    std::path::PathBuf,
) {
    let (test_server, cli) = super::push::debian_server(args);
    let repo = cli.home().join(name);
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::write(repo.join("server.js"), server).expect("write");
    std::fs::write(
        repo.join("package.json"),
        format!(r#"{{"name": "{name}", "version": "1.0.0"}}"#),
    )
    .expect("write");
    std::fs::write(repo.join("Procfile"), "web: node server.js\n").expect("write");
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "-A"],
        &["commit", "-q", "-m", name],
    ] {
        assert!(cli.git(&repo, args).status().expect("git").success());
    }
    ok(&cli, &repo, &["create", name]);
    assert!(push(&cli, &repo).status.success());
    (test_server, cli, repo)
}

/// A Node app named `name` whose `/echo` answers `METHOD LENGTH BODY` (with its
/// `Content-Length`), `/stream` a chunked body (`one`, `two`, `three`) and `/headers` its
/// `X-Forwarded-For|X-Request-Id|X-Forwarded-Port|X-Request-Start|Forwarded|` and the names of the
/// fields it got with an underscore.
fn node_echo(name: &str) -> (paas_tests::TestServer, paas_tests::CliEnv) {
    let (server, cli, _) = node_app(
        name,
        "require('http').createServer((req, res) => {\n\
         if (req.url === '/stream') { res.write('one'); res.write('two'); return res.end('three'); }\n\
         if (req.url === '/headers') return res.end(['x-forwarded-for', 'x-request-id', 'x-forwarded-port', 'x-request-start', 'forwarded'].map((h) => req.headers[h]).concat([Object.keys(req.headers).filter((h) => h.includes('_')).join(',')]).join('|'));\n\
         let body = '';\n\
         req.on('data', (d) => body += d);\n\
         req.on('end', () => {\n\
         const text = `${req.method} ${body.length} ${body}`;\n\
         res.setHeader('Content-Length', Buffer.byteLength(text));\n\
         res.end(req.method === 'HEAD' ? undefined : text);\n\
         });\n\
         }).listen(process.env.PORT);\n",
        &[],
    );
    (server, cli)
}

#[test]
fn the_router_frames_bodies_itself_and_refuses_ambiguous_ones() {
    let (server, _cli) = node_echo("framed");
    let wait = Duration::from_secs(10);
    let host = "Host: framed.localhost\r\n";
    // A chunked body (with a chunk extension) reaches the dyno whole.
    let answer = exchange(
        &server.router,
        &format!(
            "POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        ),
        wait,
    );
    assert!(answer.starts_with("http/1.1 200 "), "{answer}");
    assert!(answer.ends_with("post 11 hello world"), "{answer}");
    // Pipelined requests with bodies, each answered in turn on one connection.
    let answer = exchange(
        &server.router,
        &format!(
            "POST /echo HTTP/1.1\r\n{host}Content-Length: 3\r\n\r\nabcPUT /echo HTTP/1.1\r\n{host}Content-Length: 2\r\nConnection: close\r\n\r\nxy"
        ),
        wait,
    );
    assert!(
        answer.contains("post 3 abc") && answer.ends_with("put 2 xy"),
        "{answer}"
    );
    // Ambiguous lengths are refused before any dyno sees them (request smuggling).
    for (request, status) in [
        (
            format!(
                "POST /echo HTTP/1.1\r\n{host}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            ),
            "400",
        ),
        (
            format!(
                "POST /echo HTTP/1.1\r\n{host}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
            ),
            "400",
        ),
        (
            format!("POST /echo HTTP/1.0\r\n{host}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            "400",
        ),
        (
            format!(
                "POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
            ),
            "501",
        ),
        (
            format!(
                "POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n"
            ),
            "400",
        ),
        (
            format!(
                "POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"
            ),
            "400",
        ),
        // A bare LF in a chunk extension, a trailer line without a colon.
        (
            format!(
                "POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n"
            ),
            "400",
        ),
        (
            format!(
                "POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nno colon\r\n\r\n"
            ),
            "400",
        ),
        // RFC 9112 §3.2: no Host in HTTP/1.1, an invalid one, an authority-form target.
        ("GET /echo HTTP/1.1\r\n\r\n".to_owned(), "400"),
        (
            "GET /echo HTTP/1.1\r\nHost: framed.localhost/x\r\n\r\n".to_owned(),
            "400",
        ),
        (
            format!("GET framed.localhost:80 HTTP/1.1\r\n{host}\r\n"),
            "400",
        ),
        (
            "GET /echo HTTP/1.1\r\nHost: framed.localhost:99999\r\n\r\n".to_owned(),
            "400",
        ),
        // A space in the target, user info, another scheme, a fragment.
        (format!("GET /a b HTTP/1.1\r\n{host}\r\n"), "400"),
        (
            format!("GET http://u:p@framed.localhost/echo HTTP/1.1\r\n{host}\r\n"),
            "400",
        ),
        (
            format!("GET ftp://framed.localhost/echo HTTP/1.1\r\n{host}\r\n"),
            "400",
        ),
        (format!("GET /echo#top HTTP/1.1\r\n{host}\r\n"), "400"),
        // HTTP/2 with prior knowledge over plain TCP (h2c).
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_owned(), "505"),
        (format!("GET /echo HTTP/3.0\r\n{host}\r\n"), "505"),
        (
            format!("CONNECT framed.localhost:443 HTTP/1.1\r\n{host}\r\n"),
            "405",
        ),
    ] {
        let answer = exchange(&server.router, &request, wait);
        assert!(
            answer.starts_with(&format!("http/1.1 {status} ")),
            "{request:?}: {answer}"
        );
        // A 405 says what is allowed (RFC 9110 §15.5.6).
        assert!(
            status != "405" || answer.contains("\r\nallow: get, head"),
            "{answer}"
        );
        // The router's own answers are dated (RFC 9110 §6.6.1), carry a request id and close
        // the connection.
        assert!(
            answer.contains("\r\ndate: ")
                && answer.contains("connection: close")
                && answer.contains("\r\nx-request-id: ")
                && answer.contains("request id: "),
            "{answer}"
        );
    }
    // `Expect: 100-continue`: the router says continue, then the body goes through.
    let mut stream = TcpStream::connect(&server.router).expect("connect");
    stream.set_read_timeout(Some(wait)).expect("timeout");
    write!(
        stream,
        "PUT /echo HTTP/1.1\r\n{host}Content-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).expect("100 Continue");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"data").expect("body");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.ends_with("PUT 4 data"), "{answer}");
    // A later HTTP/1 is served as HTTP/1.1, the highest the router implements (RFC 9110 §6.2).
    let answer = exchange(
        &server.router,
        &format!("GET /echo HTTP/1.2\r\n{host}Connection: close\r\n\r\n"),
        wait,
    );
    assert!(
        answer.starts_with("http/1.1 200 ") && answer.ends_with("get 0 "),
        "{answer}"
    );
    // HTTP/1.0 with keep-alive: both requests answered on one connection, each saying so.
    let keep = format!("GET /echo HTTP/1.0\r\n{host}Connection: keep-alive\r\n\r\n");
    let answer = exchange(
        &server.router,
        &format!("{keep}GET /echo HTTP/1.0\r\n{host}\r\n"),
        wait,
    );
    assert_eq!(answer.matches("get 0 ").count(), 2, "{answer}");
    assert_eq!(
        answer.matches("connection: keep-alive").count(),
        1,
        "{answer}"
    );
    // A chunked response: chunked to an HTTP/1.1 client, whole (closed after) to HTTP/1.0.
    let answer = exchange(
        &server.router,
        &format!("GET /stream HTTP/1.1\r\n{host}Connection: close\r\n\r\n"),
        wait,
    );
    assert!(
        answer.contains("transfer-encoding: chunked") && answer.contains("\r\n3\r\none\r\n"),
        "{answer}"
    );
    let answer = exchange(
        &server.router,
        &format!("GET /stream HTTP/1.0\r\n{host}\r\n"),
        wait,
    );
    assert!(
        !answer.contains("transfer-encoding") && answer.ends_with("\r\n\r\nonetwothree"),
        "{answer}"
    );
    // HEAD: the length the body would have, and no body.
    let answer = exchange(
        &server.router,
        &format!("HEAD /echo HTTP/1.1\r\n{host}Connection: close\r\n\r\n"),
        wait,
    );
    assert!(
        answer.contains("content-length: 7") && answer.ends_with("\r\n\r\n"),
        "{answer}"
    );
    // Every X-Forwarded-For field goes on, in order, before the client; a client's request id
    // is kept when Heroku's router keeps it (20 to 200 of [A-Za-z0-9+/=-]), else replaced. As on
    // Heroku, the dyno is told the port the client connected to and when the router took the
    // request (milliseconds since the epoch), whatever the client said.
    let sent = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let answer = exchange(
        &server.router,
        &format!(
            "GET /headers HTTP/1.1\r\n{host}X-Forwarded-For: 6.6.6.6\r\nX-Request-Id: trace-0123456789abcdef\r\n\
             X-Forwarded-For: 7.7.7.7, 8.8.8.8\r\nX-Forwarded-Port: 1\r\nX-Request-Start: t=1\r\n\
             X_Forwarded_For: 9.9.9.9\r\nx_forwarded_proto: https\r\nX_Request_Start: t=2\r\n\
             X_Custom_Thing: kept\r\nForwarded: for=6.6.6.6;proto=https\r\nConnection: close\r\n\r\n"
        ),
        wait,
    );
    let router_port = server.router.rsplit_once(':').expect("a port").1;
    let (_, echoed) = answer.split_once("\r\n\r\n").expect("a body");
    let (head, start) = echoed.rsplit_once("|t=").expect("X-Request-Start");
    assert_eq!(
        head,
        format!("6.6.6.6, 7.7.7.7, 8.8.8.8, 127.0.0.1|trace-0123456789abcdef|{router_port}"),
        "{answer}"
    );
    // Underscore spellings of the router's fields, which CGI-style servers read as the router's
    // own, are dropped; other names with underscores pass.
    // A client's `Forwarded` gets the router's element last (RFC 7239), the one an app that
    // trusts the router reads.
    let (start, rest) = start.split_once('|').expect("Forwarded");
    let (forwarded, underscored) = rest.split_once('|').expect("the underscored names");
    assert_eq!(
        forwarded, "for=6.6.6.6;proto=https, for=127.0.0.1;proto=http",
        "{answer}"
    );
    assert_eq!(underscored, "x_custom_thing", "{answer}");
    let start: u128 = start.parse().expect("milliseconds");
    assert!(
        (sent..sent + 10_000).contains(&start),
        "{start} is not when the request came ({sent})"
    );
    let answer = exchange(
        &server.router,
        &format!(
            "GET /headers HTTP/1.1\r\n{host}X-Request-Id: short\r\nX-Forwarded-For:\r\nX-Forwarded-For: , ,\r\n\
             Forwarded: for=\"6.6.6.6\r\nConnection: close\r\n\r\n"
        ),
        wait,
    );
    // A client's `Forwarded` with a quote left open (which would swallow the router's element)
    // is dropped: the router's element is all the dyno gets.
    assert!(answer.contains("|for=127.0.0.1;proto=http|"), "{answer}");
    // An empty X-Forwarded-For (or one of commas) adds nothing before the client.
    let (_, id) = answer
        .rsplit_once("\r\n\r\n127.0.0.1|")
        .expect("the dyno's answer");
    let (id, _) = id.split_once('|').expect("more headers");
    assert!(
        id.len() == 36 && id.split('-').count() == 5,
        "a fresh UUID, not {id:?}"
    );
}

#[test]
fn the_router_sends_again_what_a_closing_dyno_never_took_and_times_bodies_fairly() {
    // A dyno that drops each connection's second request: unanswered on `/drop`, after half a
    // status line on `/half` (so the router cannot tell whether it was taken).
    let (server, cli, _) = node_app(
        "closing",
        "let taken = 0;\n\
         require('http').createServer((req, res) => {\n\
         const n = req.socket.n = (req.socket.n || 0) + 1;\n\
         if (req.url === '/taken') return res.end(String(taken));\n\
         if (req.url === '/hang') return;\n\
         let body = '';\n\
         req.on('data', (d) => body += d);\n\
         req.on('end', () => {\n\
         if (req.url === '/half') taken += 1;\n\
         if (n === 2 && req.url === '/drop') return req.socket.destroy();\n\
         if (n === 2 && req.url === '/half') { req.socket.write('HTTP/1.1 200'); return req.socket.destroy(); }\n\
         res.end(`${req.method} ${body}`);\n\
         });\n\
         }).listen(process.env.PORT);\n",
        &["--router-timeout", "2", "--header-timeout", "3"],
    );
    let wait = Duration::from_secs(10);
    let host = "Host: closing.localhost\r\n";
    // The second POST reaches the dyno on the kept connection, which it closes unanswered: sent
    // again on a new one, it is answered (it used to get 502).
    let post = |path: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\n{host}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let connect = || {
        let stream = TcpStream::connect(&server.router).expect("connect");
        stream.set_read_timeout(Some(wait)).expect("timeout");
        BufReader::new(stream)
    };
    let mut stream = connect();
    for body in ["one", "two", "three"] {
        assert_eq!(
            keep_alive_request(&mut stream, &post("/drop", body)),
            (200, format!("POST {body}"))
        );
    }
    // One the dyno began to answer is not sent again (it may have acted on it): 502, and the
    // dyno took it once.
    let mut stream = connect();
    for (body, status) in [("a", 200), ("b", 502)] {
        let (answered, _) = keep_alive_request(&mut stream, &post("/half", body));
        assert_eq!(answered, status, "{body}");
    }
    let answer = exchange(
        &server.router,
        &format!("GET /taken HTTP/1.1\r\n{host}Connection: close\r\n\r\n"),
        wait,
    );
    assert!(answer.ends_with("\r\n\r\n2"), "{answer}");

    // An upload slower than the router's 2 s timeout, never silent for the 3 s header timeout,
    // is answered: the timeout counts from the body's end.
    let mut stream = connect();
    let started = std::time::Instant::now();
    let head = format!("PUT /slow HTTP/1.1\r\n{host}Content-Length: 5\r\n\r\n");
    for piece in [head.as_str(), "a", "b", "c", "d"] {
        stream
            .get_mut()
            .write_all(piece.as_bytes())
            .expect("a piece");
        std::thread::sleep(Duration::from_millis(900));
    }
    assert!(started.elapsed() > Duration::from_secs(4));
    assert_eq!(
        keep_alive_request(&mut stream, "e"),
        (200, "PUT abcde".to_owned())
    );
    // A dyno that never answers a whole body still gets H12's 504.
    assert_eq!(keep_alive_request(&mut stream, &post("/hang", "x")).0, 504);
    // A client that stops sending its body for the header timeout gets 408 (H28).
    let mut stream = connect();
    let started = std::time::Instant::now();
    let stalled = format!("POST /drop HTTP/1.1\r\n{host}Content-Length: 10\r\n\r\nabc");
    let (status, page) = keep_alive_request(&mut stream, &stalled);
    assert_eq!(status, 408, "{page}");
    assert!(
        page.contains("The request body stopped coming for 3 s.") && page.contains("Request ID"),
        "{page}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
    // One that leaves in the middle of its body is logged as gone (499), not malformed.
    let mut stream = connect();
    stream
        .get_mut()
        .write_all(format!("POST /drop HTTP/1.1\r\n{host}Content-Length: 10\r\n\r\nabc").as_bytes())
        .expect("send");
    std::thread::sleep(Duration::from_millis(300));
    drop(stream);
    std::thread::sleep(Duration::from_millis(300));
    let logs = cli.ok(&["logs", "-a", "closing", "--ps", "router"]);
    assert!(
        logs.contains("code=H28") && logs.contains("status=408"),
        "{logs}"
    );
    assert!(
        logs.contains("code=H27 desc=\"Client Request Interrupted\"")
            && logs.contains("status=499"),
        "{logs}"
    );
    assert!(!logs.contains("Malformed request body"), "{logs}");
    // One that leaves before its response begins is logged as interrupted (H27, 499) as it
    // leaves, not as the dyno's timeout (H12, 504) two seconds later.
    let mut stream = connect();
    stream
        .get_mut()
        .write_all(format!("GET /hang HTTP/1.1\r\n{host}\r\n").as_bytes())
        .expect("send");
    std::thread::sleep(Duration::from_millis(300));
    drop(stream);
    std::thread::sleep(Duration::from_millis(300));
    let logs = cli.ok(&["logs", "-a", "closing", "--ps", "router"]);
    let left = logs
        .lines()
        .find(|line| line.contains("method=GET path=/hang"))
        .unwrap_or_default();
    assert!(
        left.contains("code=H27") && left.contains("status=499"),
        "{logs}"
    );
}

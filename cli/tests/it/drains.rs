//! Tests for log drains: the app's log reaches a syslog receiver over TLS and an HTTPS receiver
//! in the test, as RFC 5424 frames; bad URLs are refused; a receiver that is down or stalls is
//! shown failing, drops lines within its bound, and never slows the app.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use paas_tests::CliEnv;
use paas_tests::tls::TestCa;
use serde_json::Value;

use super::run::{ok, push, refused, serving_with};

/// Reads octet-counted frames (`LEN SP MSG`, RFC 6587 §3.4.1) and hands each to `each` until
/// the stream ends or `each` says stop; `None` when a frame is malformed.
fn each_frame(reader: &mut impl BufRead, mut each: impl FnMut(String) -> Option<()>) -> Option<()> {
    loop {
        let mut length = Vec::new();
        if reader.read_until(b' ', &mut length).ok()? == 0 {
            return Some(());
        }
        let length: usize = std::str::from_utf8(&length).ok()?.trim_end().parse().ok()?;
        let mut message = vec![0; length];
        reader.read_exact(&mut message).ok()?;
        each(String::from_utf8(message).ok()?)?;
    }
}

/// The drain of `url` in `paas drains --json`.
fn drain(cli: &CliEnv, repo: &std::path::Path, url: &str) -> Value {
    let drains: Value = serde_json::from_str(&ok(cli, repo, &["drains", "--json"])).expect("JSON");
    drains
        .as_array()
        .expect("drains")
        .iter()
        .find(|d| d["url"] == url)
        .cloned()
        .unwrap_or_else(|| panic!("no drain {url}: {drains}"))
}

/// Waits until `check` holds for the drain of `url`, for at most `within`.
fn await_drain(
    cli: &CliEnv,
    repo: &std::path::Path,
    url: &str,
    within: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let drain = drain(cli, repo, url);
        if check(&drain) {
            return drain;
        }
        assert!(start.elapsed() < within, "{drain}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The next frame from `rx` that contains `text`, within 30 s.
fn frame_with(rx: &mpsc::Receiver<String>, text: &str) -> String {
    frame_within(rx, text, Duration::from_secs(30)).unwrap_or_else(|seen| {
        panic!(
            "no frame with {text:?} in 30 s; the last others:\n{}",
            seen[seen.len().saturating_sub(10)..].join("\n")
        )
    })
}

/// The next frame from `rx` that contains `text`, within `within`; else the others seen.
fn frame_within(
    rx: &mpsc::Receiver<String>,
    text: &str,
    within: Duration,
) -> Result<String, Vec<String>> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(frame) if frame.contains(text) => return Ok(frame),
            Ok(frame) => seen.push(frame),
            Err(_) => return Err(seen),
        }
    }
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn the_log_reaches_syslog_over_tls_and_https_and_a_stalled_drain_stays_bounded() {
    let ca = TestCa::new("drains test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.root_pem).expect("write");
    let (chain, key) = ca.leaf(&["localhost"]);

    // Syslog over TLS: every frame, as it comes.
    let (syslog_tx, syslog) = mpsc::channel::<String>();
    let syslog_port = paas_tests::tls::serve(&chain, &key, move |stream| {
        let _ = each_frame(&mut BufReader::new(stream), |frame| {
            syslog_tx.send(frame).ok()
        });
    });
    // HTTPS: Logplex POSTs, answered 200; the frames of each body.
    let (https_tx, https) = mpsc::channel::<String>();
    let (counts_tx, counts) = mpsc::channel::<(usize, usize, String)>();
    let https_port = paas_tests::tls::serve(&chain, &key, move |stream| {
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut headers = Vec::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((n, v)) = line.trim_end().split_once(':') {
                    headers.push((n.to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let mut body = vec![0; header("content-length").parse().unwrap_or(0)];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let mut frames = Vec::new();
            each_frame(&mut body.as_slice(), |frame| {
                frames.push(frame);
                Some(())
            })
            .expect("octet-counted frames");
            let _ = counts_tx.send((
                header("logplex-msg-count").parse().unwrap_or(0),
                frames.len(),
                header("content-type"),
            ));
            for frame in frames {
                let _ = https_tx.send(frame);
            }
            let stream = reader.get_mut();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            let _ = stream.flush();
        }
    });
    // A receiver whose certificate another CA signed: not trusted.
    let (other_chain, other_key) =
        TestCa::new("a CA the server does not know").leaf(&["localhost"]);
    let untrusted_port = paas_tests::tls::serve(&other_chain, &other_key, |_| {});
    // A receiver that accepts and never reads.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let stalled_url = format!(
        "syslog://127.0.0.1:{}",
        stalled.local_addr().expect("addr").port()
    );
    std::thread::spawn(move || {
        let held: Vec<_> = stalled.incoming().flatten().collect();
        drop(held);
    });

    let ca_path = ca_file.to_str().expect("utf-8").to_owned();
    // The receivers are this machine's: the operator allows private targets.
    let (server, cli) = serving_with(&["--drain-ca-file", &ca_path, "--allow-private-targets"]);
    let repo = super::run::fixture_with(
        &cli,
        "envpage",
        "flood: seq 1 200000 | sed 's/^/flood line /'; sleep 3600",
        "a noisy process",
    );
    ok(&cli, &repo, &["create", "drained"]);
    assert!(push(&cli, &repo).status.success(), "{}", server.log());

    for (url, says) in [
        (
            "ftp://logs.example.com:21",
            "cannot have the scheme \"ftp\"",
        ),
        ("syslog://logs.example.com", "a syslog drain needs a port"),
        ("logs.example.com", "is not a URL"),
    ] {
        refused(&cli, &repo, &["drains:add", url], 1, says);
    }
    assert!(ok(&cli, &repo, &["drains"]).contains("None yet"));

    let syslog_url = format!("syslog+tls://localhost:{syslog_port}");
    let https_url = format!("https://localhost:{https_port}/drain?token=abc");
    let down_url = format!("syslog://127.0.0.1:{}", paas_tests::free_port());
    let untrusted_url = format!("syslog+tls://localhost:{untrusted_port}");
    for url in [&syslog_url, &https_url, &down_url, &stalled_url] {
        ok(&cli, &repo, &["drains:add", url]);
    }
    // Another spelling of a drain's URL is that drain.
    let shouted = syslog_url.replace("syslog+tls://localhost", "SYSLOG+TLS://LocalHost");
    refused(&cli, &repo, &["drains:add", &shouted], 1, "already exists");
    ok(&cli, &repo, &["drains:add", &untrusted_url]);
    refused(
        &cli,
        &repo,
        &["drains:add", "syslog://127.0.0.1:9"],
        1,
        "has 5 drains, the most one app may have",
    );

    // The router's lines and the platform's reach both receivers as RFC 5424 frames.
    assert_eq!(super::run::status(&server, "drained", "/"), 200);
    ok(&cli, &repo, &["config:set", "DRAINED=yes"]);
    for rx in [&syslog, &https] {
        let router = frame_with(rx, " router - - at=info method=GET path=/ ");
        let fields: Vec<&str> = router.splitn(8, ' ').collect();
        assert_eq!(fields[0], "<190>1", "{router}");
        assert!(
            fields[1].len() == 27 && fields[1].ends_with('Z') && fields[1].as_bytes()[19] == b'.',
            "an RFC 3339 time with microseconds: {router}"
        );
        assert_eq!(
            fields[2..7],
            ["drained", "paas", "router", "-", "-"],
            "{router}"
        );
        frame_with(
            rx,
            " drained paas api - - Release v2 created by admin: Set DRAINED",
        );
    }
    let (said, framed, content_type) = counts.recv_timeout(Duration::from_secs(5)).expect("a POST");
    assert_eq!(said, framed, "Logplex-Msg-Count");
    assert_eq!(content_type, "application/logplex-1");
    let synced = await_drain(&cli, &repo, &syslog_url, Duration::from_secs(10), |d| {
        d["state"] == "connected" && d["sent"].as_u64() > Some(0)
    });
    assert_eq!(synced["dropped"], 0, "{synced}");
    let down = await_drain(&cli, &repo, &down_url, Duration::from_secs(10), |d| {
        d["state"] == "failing"
    });
    assert!(
        down["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("cannot connect: Connection refused")),
        "{down}"
    );
    let untrusted = await_drain(&cli, &repo, &untrusted_url, Duration::from_secs(10), |d| {
        d["state"] == "failing"
    });
    assert_eq!(
        untrusted["last_error"],
        "cannot connect: the receiver's certificate is not signed by a CA this server trusts: give the server that CA with --drain-ca-file",
        "{untrusted}"
    );

    // A flood of lines: the stalled drain fills its queue and drops, memory stays bounded, the
    // app keeps serving, and the live drains keep up (or count what they missed).
    let before = rss_kib(server.pid().as_raw());
    ok(&cli, &repo, &["scale", "flood=1"]);
    frame_with(&syslog, "flood line ");
    let stalled_drain = await_drain(&cli, &repo, &stalled_url, Duration::from_secs(60), |d| {
        d["dropped"].as_u64() > Some(0)
    });
    let grown = rss_kib(server.pid().as_raw()).saturating_sub(before);
    assert!(
        grown < 64 * 1024,
        "the server grew {grown} KiB: {stalled_drain}"
    );
    // While the flood fills the live drain's queue too, a line may be dropped (and counted):
    // a request at a time until one's line comes through.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert_eq!(super::run::status(&server, "drained", "/"), 200);
        let line = " router - - at=info method=GET path=/ ";
        if frame_within(&syslog, line, Duration::from_secs(2)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "no router line came through");
    }
    let table = ok(&cli, &repo, &["drains"]);
    assert!(
        table.contains("URL") && table.contains("DROPPED") && table.contains("failing"),
        "{table}"
    );

    // Removed by URL: no more lines go there.
    ok(&cli, &repo, &["drains:remove", &syslog_url]);
    refused(
        &cli,
        &repo,
        &["drains:remove", &syslog_url],
        1,
        "has no drain",
    );
    let left: Value = serde_json::from_str(&ok(&cli, &repo, &["drains", "--json"])).expect("JSON");
    assert_eq!(left.as_array().map(Vec::len), Some(4), "{left}");
    // By another spelling of its URL, or by id.
    ok(
        &cli,
        &repo,
        &["drains:remove", &down_url.replace("syslog://", "SYSLOG://")],
    );
    let id = drain(&cli, &repo, &stalled_url)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    ok(&cli, &repo, &["drains:remove", &id]);
    refused(
        &cli,
        &repo,
        &["drains:remove", ""],
        2,
        "a value is required",
    );
}

/// By default drains and webhooks go to public addresses only: an app's admin cannot have the
/// server probe its own network (its API, registry and add-ons on loopback, a cloud's metadata
/// service) and read the answers in the drain's or the alert's status.
#[test]
fn drains_and_webhooks_reach_public_addresses_only_by_default() {
    let (_server, cli) = serving_with(&[]);
    let repo = cli.app_repo("envpage");
    ok(&cli, &repo, &["create", "fenced"]);
    for url in [
        "https://127.0.0.1:5500/drain",
        "syslog://localhost:514",
        "syslog+tls://[::1]:6514",
        "http://10.0.0.7/logs",
        "https://api.localhost/drain",
        "syslog://127.1:514",
        "syslog://2130706433:514",
    ] {
        refused(
            &cli,
            &repo,
            &["drains:add", url],
            1,
            "is not a public address",
        );
    }
    for webhook in [
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]:5500/",
        "http://localhost./hook",
    ] {
        refused(
            &cli,
            &repo,
            &["alerts:add", "--on", "crash", "--webhook", webhook],
            1,
            "is not a public address",
        );
    }
    assert!(ok(&cli, &repo, &["drains"]).contains("None yet"));
    // A public name is taken; its addresses are checked each time it is resolved.
    ok(
        &cli,
        &repo,
        &["drains:add", "https://logs.example.com/drain"],
    );
}

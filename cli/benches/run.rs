//! Running-release benchmarks, figures printed (not asserted):
//! - `paas rollback` and `paas scale web=1→10`: command start → every dyno up (the commands return
//!   then), median of 5 each;
//! - the router: requests/s and p99 latency with `wrk` (64 connections, keep-alive, 2 threads,
//!   5 s) to a Node web dyno directly, through our router, and through nginx configured as a
//!   keep-alive reverse proxy to the same dyno, in the same run: seven rounds of the three, the
//!   median of each figure (req/s, p99, the proxy's CPU time per request) and of each round's
//!   ratios (with their range);
//! - HTTPS through the router (a certificate for `bench.localhost` uploaded): requests/s with
//!   `h2load` (64 connections, keep-alive, HTTP/1.1 and HTTP/2, 5 s) against plain HTTP through
//!   the router and against nginx terminating TLS with the same certificate and key in front of the
//!   same dyno; and full TLS handshakes per second (16 clients, a new connection each), the router
//!   against that nginx. h2load because it connects to 127.0.0.1 and keeps the URL's host as the
//!   SNI (`bench.localhost` does not resolve here; wrk takes both from the URL);
//! - log latency: a line printed by a dyno → printed by `paas logs --tail`, median and p99 of 500;
//! - `paas run -- true` (create, attach, start, exit status back), median of 10, against `runc run`
//!   of `true` in a bundle on the same stack's root filesystem (the container start that
//!   `paas run` wraps), in the same run.
//!
//! Needs the bookworm stack (built once, cached), `wrk`, `h2load` and `nginx` (`scripts/bench`
//! installs them). Run with `scripts/bench`, as root.

// A benchmark reports its figures on stdout.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::DigitallySignedStruct;
use rustls::SignatureScheme;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use paas_tests::bench::{median, ratio_with_range};
use paas_tests::{CliEnv, Stack, TestServer, bin_next_to};

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn timed(cli: &CliEnv, repo: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let output = cli.command(args).current_dir(repo).output().expect("paas");
    let elapsed = start.elapsed();
    assert!(
        output.status.success(),
        "paas {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

/// What `wrk` measured: requests per second, the 99th percentile latency in ms, and how many
/// requests were answered.
struct Load {
    requests_per_s: f64,
    p99: f64,
    requests: u64,
}

/// A latency as wrk prints it (`850.00us`, `6.98ms`, `1.02s`), in ms.
fn latency_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else {
        (text.strip_suffix('s')?, 1000.0)
    };
    Some(number.parse::<f64>().ok()? * scale)
}

/// `wrk` with 2 threads and 64 keep-alive connections on `url` for `seconds`, sending `Host:
/// host`; `None` when wrk is not installed or printed no figures.
fn wrk(url: &str, host: &str, seconds: u32) -> Option<Load> {
    let output = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{seconds}s"), "--latency", "-H"])
        .arg(format!("Host: {host}"))
        .arg(url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let requests_per_s = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let p99 = latency_ms(
        text.lines()
            .find_map(|l| l.trim().strip_prefix("99%"))?
            .trim(),
    )?;
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))?
        .0
        .parse()
        .ok()?;
    Some(Load {
        requests_per_s,
        p99,
        requests,
    })
}

/// What `h2load` measured: requests per second and the mean time per request.
struct H2Load {
    requests_per_s: f64,
    mean: String,
}

/// `h2load` of `url` (64 connections, keep-alive, one request at a time on each, 2 threads, 5 s
/// after 1 s of warm-up), connecting to `127.0.0.1:port` whatever the URL's host: that stays the
/// SNI and the Host (`bench.localhost` does not resolve here, and wrk takes both from the URL).
/// HTTP/1.1 with `h1`, else HTTP/2. Errors: h2load's output when a request failed or none
/// succeeded.
fn h2load(url: &str, port: u16, h1: bool) -> Result<H2Load, String> {
    let output = Command::new("h2load")
        .args(["-t2", "-c64", "-m1", "-D5s", "--warm-up-time=1s"])
        .arg(format!("--connect-to=127.0.0.1:{port}"))
        .args(h1.then_some("--h1"))
        .arg(url)
        .output()
        .map_err(|e| format!("h2load: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let failed = || format!("h2load {url} failed:\n{text}");
    // `requests: 9 total, 9 started, 9 done, 9 succeeded, 0 failed, 0 errored, 0 timeout`
    let requests: Vec<u64> = text
        .lines()
        .find_map(|l| l.strip_prefix("requests:"))
        .ok_or_else(failed)?
        .split(',')
        .filter_map(|n| n.split_whitespace().next()?.parse().ok())
        .collect();
    let [_, _, _, succeeded, 0, 0, 0] = requests[..] else {
        return Err(failed());
    };
    let want = if h1 { "http/1.1" } else { "h2" };
    let protocol = text
        .lines()
        .find_map(|l| l.strip_prefix("Application protocol:"))
        .map(str::trim);
    if succeeded == 0 || (url.starts_with("https:") && protocol != Some(want)) {
        return Err(failed());
    }
    // `finished in 5.00s, 12345.67 req/s, 1.23MB/s`
    let requests_per_s = text
        .lines()
        .find_map(|l| l.strip_prefix("finished in"))
        .and_then(|l| l.split(", ").nth(1)?.strip_suffix(" req/s")?.parse().ok())
        .ok_or_else(failed)?;
    // `time for request:  85us  1.53ms  793us  797us  100.00%`: min, max, mean, sd.
    let mean = text
        .lines()
        .find_map(|l| l.strip_prefix("time for request:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .ok_or_else(failed)?
        .to_owned();
    Ok(H2Load {
        requests_per_s,
        mean,
    })
}

/// The benchmark's TLS client takes the server's certificate when it is `leaf`, the one both
/// servers were given, and checks no signature: it should cost as little CPU as it can, since it
/// shares the machine with the server whose handshakes it counts (both servers are ours, on
/// loopback).
#[derive(Debug)]
struct Pinned {
    leaf: CertificateDer<'static>,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if *end_entity == self.leaf {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "not the certificate uploaded".to_owned(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// Full TLS handshakes per second with `127.0.0.1:port`, SNI `name`: 16 clients (threads), each
/// for 5 s connecting, handshaking (TLS 1.3, X25519, no resumption), sending close_notify and
/// reading until the server closes, one connection after another. Errors: the first failure.
fn handshakes(port: u16, name: &str, leaf: &CertificateDer<'static>) -> Result<f64, String> {
    const CLIENTS: usize = 16;
    const RUN: Duration = Duration::from_secs(5);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            leaf: leaf.clone(),
            schemes,
        }))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    let config = Arc::new(config);
    let name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let handshake = || -> std::io::Result<()> {
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", port))?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut tls = rustls::ClientConnection::new(Arc::clone(&config), name.clone())
            .map_err(std::io::Error::other)?;
        while tls.is_handshaking() {
            tls.complete_io(&mut socket)?;
        }
        tls.send_close_notify();
        while tls.wants_write() {
            tls.write_tls(&mut socket)?;
        }
        // Whatever the server sent after its handshake (session tickets) is read, so that neither
        // side closes with data unread (a reset).
        socket.shutdown(std::net::Shutdown::Write)?;
        std::io::copy(&mut socket, &mut std::io::sink())?;
        Ok(())
    };
    handshake().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let counts = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    let mut count = 0_u64;
                    while started.elapsed() < RUN {
                        handshake()?;
                        count += 1;
                    }
                    Ok::<_, std::io::Error>(count)
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|client| client.join().expect("a client thread"))
            .collect::<std::io::Result<Vec<u64>>>()
    })
    .map_err(|e| e.to_string())?;
    Ok(counts.iter().sum::<u64>() as f64 / started.elapsed().as_secs_f64())
}

/// nginx as a keep-alive reverse proxy to `127.0.0.1:port`, on a port of its own.
struct Nginx {
    child: std::process::Child,
    port: u16,
}

impl Nginx {
    /// With `tls` (a PEM chain and its key), nginx terminates TLS (1.2 and 1.3, ALPN h2 and
    /// http/1.1) with them, and keeps client connections however many requests they carry, as the
    /// router does (after its default 1000, h2load does not reconnect on HTTP/2's GOAWAY). It is
    /// set up as a Heroku-style router: it adds the headers the paas router adds
    /// (`X-Forwarded-For`/`-Proto`/`-Port`, `X-Request-Id`, `X-Request-Start`), so that both
    /// send the dyno the same requests; its access log stays off (the paas router logs each one).
    fn start(dir: &Path, upstream: u16, tls: Option<(&Path, &Path)>) -> Option<Self> {
        let nginx = ["/usr/sbin/nginx", "/sbin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let prefix = dir.join(if tls.is_some() { "nginx-tls" } else { "nginx" });
        let listen = match tls {
            None => format!("listen 127.0.0.1:{port};"),
            Some((chain, key)) => format!(
                "listen 127.0.0.1:{port} ssl http2; keepalive_requests 1000000;\n    \
                 ssl_protocols TLSv1.2 TLSv1.3;\n    \
                 ssl_certificate {}; ssl_certificate_key {};",
                chain.display(),
                key.display()
            ),
        };
        std::fs::create_dir_all(prefix.join("logs")).ok()?;
        let config = prefix.join("nginx.conf");
        std::fs::write(
            &config,
            format!(
                "worker_processes 1;\npid {pid};\nerror_log {prefix}/logs/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n\
                 upstream dyno {{ server 127.0.0.1:{upstream}; keepalive 64; }}\n\
                 server {{\n    {listen}\n\
                 location / {{ proxy_pass http://dyno; proxy_http_version 1.1; proxy_set_header Connection \"\"; \
                 proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; \
                 proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-Port $server_port; \
                 proxy_set_header X-Request-Id $request_id; proxy_set_header X-Request-Start \"t=${{msec}}\"; }}\n  }}\n}}\n",
                pid = prefix.join("nginx.pid").display(),
                prefix = prefix.display(),
            ),
        )
        .ok()?;
        let child = Command::new(nginx)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&config)
            .args(["-g", "daemon off;"])
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // Not listening in time: dropped, which stops it.
        let started = Self { child, port };
        paas_tests::wait_for_port(port).then_some(started)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its workers (SIGKILL would orphan them).
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("a pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// Creates app `bench` from `repo` and pushes it.
fn create_and_push(cli: &CliEnv, repo: &Path) {
    cli.command(&["create", "bench"])
        .current_dir(repo)
        .output()
        .expect("create");
    git_push(cli, repo, &[]);
}

/// `git push -q [-o OPTION]… paas main`, which must succeed.
fn git_push(cli: &CliEnv, repo: &Path, options: &[&str]) {
    let mut args = vec!["push", "-q"];
    for option in options {
        args.extend(["-o", option]);
    }
    args.extend(["paas", "main"]);
    let push = cli.git(repo, &args).output().expect("git push");
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
}

/// The router's throughput with metrics recorded (`server`, the bench app) and with `--metrics
/// off` (a second server running the same Node app), in [`paired_rounds`].
fn metrics_overhead(paas: &Path, server: &TestServer) {
    let off = TestServer::start_with(
        &bin_next_to(env!("CARGO_BIN_EXE_paas"), "paas-buildserver"),
        &["--metrics", "off"],
        &[],
    );
    off.install_stack(Stack::Bookworm);
    let cli = CliEnv::pusher(paas, &off);
    let repo = cli.app_repo("nodejs");
    create_and_push(&cli, &repo);
    let target = |s: &TestServer| (format!("http://{}/", s.router), vec![server_pid(s)]);
    wrk(&target(&off).0, "bench.localhost", 5); // warm-up
    let Some(rounds) = paired_rounds(&[target(server), target(&off)]) else {
        return;
    };
    // In % of the throughput without metrics, per round.
    let overheads = paired_ratios(&rounds[0], &rounds[1], throughput)
        .into_iter()
        .map(|ratio| (1.0 - ratio) * 100.0)
        .collect();
    let (with, without) = (
        median(rounds[0].iter().map(throughput).collect()),
        median(rounds[1].iter().map(throughput).collect()),
    );
    let (cpu_with, cpu_without) = (
        median(rounds[0].iter().map(cpu).collect()),
        median(rounds[1].iter().map(cpu).collect()),
    );
    let compared = format!(
        "--metrics off {without:.0} req/s ({cpu_without:.1} µs CPU/request): overhead {} % (target < 3 %)",
        ratio_with_range(overheads)
    );
    println!("  router with metrics {with:>9.0} req/s ({cpu_with:.1} µs CPU/request), {compared}");
    paas_tests::bench::figure(
        &format!(
            "router throughput with metrics recorded, `wrk -c64`, medians of {ROUTER_ROUNDS} rounds"
        ),
        &format!("{with:.0} req/s, {cpu_with:.1} µs CPU/request"),
        &compared,
    );
}

/// The router's throughput with the app's flow control on (limits high enough to refuse
/// nothing: the cost of the checks) and with a 50 % canary split (a second commit pushed with
/// `-o canary=50`), each against plain routing measured just before it: the best of three `wrk`
/// runs each.
fn flow_overhead(cli: &CliEnv, repo: &Path, server: &TestServer) {
    let url = format!("http://{}/", server.router);
    let best = || {
        (0..3)
            .filter_map(|_| wrk(&url, "bench.localhost", 5))
            .map(|load| load.requests_per_s)
            .fold(0.0f64, f64::max)
    };
    let paas = |args: &[&str]| {
        let output = cli.command(args).current_dir(repo).output().expect("paas");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let plain = best();
    paas(&[
        "limits:set",
        "rate=1000000/s",
        "burst=1000000",
        "concurrency=100000",
        "per-ip=1000000/s",
    ]);
    let limited = best();
    paas(&["limits:unset", "--all"]);
    let plain_again = best();
    cli.commit_all(repo, "a canary");
    git_push(cli, repo, &["canary=50"]);
    let split = best();
    paas(&["canary:promote"]);
    println!(
        "  router with limits {limited:>9.0} req/s, plain {plain:>9.0} req/s: {:.2}",
        limited / plain
    );
    println!(
        "  router with a 50 % canary split (2 dynos) {split:>9.0} req/s, plain (1) {plain_again:>9.0} req/s: {:.2}",
        split / plain_again
    );
    paas_tests::bench::figure(
        "router with flow limits on / a 50 % canary split, `wrk -c64`",
        &format!("{limited:.0} / {split:.0} req/s"),
        &format!(
            "plain routing {plain:.0} / {plain_again:.0} req/s: {:.2} / {:.2}",
            limited / plain,
            split / plain_again
        ),
    );
}

/// Rounds of (direct, router, nginx) `wrk` runs, each [`ROUTER_ROUND_SECONDS`] long; the median
/// of each figure is reported.
const ROUTER_ROUNDS: usize = 35;
const ROUTER_ROUND_SECONDS: u32 = 1;

/// The paas server's process id.
fn server_pid(server: &TestServer) -> u32 {
    u32::try_from(server.pid().as_raw()).expect("a pid")
}

/// The CPU time the threads of the processes `pids` have run, from the scheduler's own count
/// (`/proc/PID/task/TID/schedstat`, its first field: nanoseconds; the tick-based `stat` times
/// are 10 ms coarse).
fn cpu_time(pids: &[u32]) -> Duration {
    let nanos = pids
        .iter()
        .filter_map(|pid| std::fs::read_dir(format!("/proc/{pid}/task")).ok())
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split(' ').next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// What one target measured in each of [`ROUTER_ROUNDS`] paired rounds: the load, and the CPU
/// time the target's processes (besides the dyno) spent per request, in µs.
type Rounds = Vec<(Load, f64)>;

/// [`ROUTER_ROUNDS`] rounds of one [`ROUTER_ROUND_SECONDS`] `wrk` run on each target (its URL and
/// the processes that serve it besides the dyno), one right after the other, in reverse order
/// every other round so that no target always runs first. Compare two targets with
/// [`paired_ratios`]: one round's throughput varies by up to ±25 % here (two runs of the same
/// proxy differ that much), and a ratio within one round sees the same machine. Many short
/// rounds rather than a few long ones: in 4 runs each of 35 × 1 s and 7 × 5 s (the same 105 s
/// per target), the median router/nginx ratio spread 1.12–1.14 against 1.09–1.15, and the p99
/// ratio 0.87–0.88 against 0.81–0.98. Each target's CPU time per request depends far less on
/// how fast the machine is then. `None` when wrk is not installed.
fn paired_rounds(targets: &[(String, Vec<u32>)]) -> Option<Vec<Rounds>> {
    let mut rounds: Vec<Rounds> = targets.iter().map(|_| Vec::new()).collect();
    for round in 0..ROUTER_ROUNDS {
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for index in order {
            let (url, pids) = &targets[index];
            let before = cpu_time(pids);
            let Some(load) = wrk(url, "bench.localhost", ROUTER_ROUND_SECONDS) else {
                println!("  (wrk not installed: apt-get install wrk)");
                return None;
            };
            let per_request =
                (cpu_time(pids) - before).as_secs_f64() * 1e6 / load.requests.max(1) as f64;
            rounds[index].push((load, per_request));
        }
    }
    Some(rounds)
}

/// `figure(a) / figure(b)` within each of the [`paired_rounds`].
fn paired_ratios(a: &Rounds, b: &Rounds, figure: fn(&(Load, f64)) -> f64) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| figure(x) / figure(y))
        .collect()
}

fn throughput((load, _): &(Load, f64)) -> f64 {
    load.requests_per_s
}

fn p99((load, _): &(Load, f64)) -> f64 {
    load.p99
}

fn cpu((_, per_request): &(Load, f64)) -> f64 {
    *per_request
}

/// The router against the dyno served directly and against nginx in front of it (its master and
/// workers are nginx's processes; the paas server's every thread the router's), in
/// [`paired_rounds`].
fn router_vs_nginx(server: &TestServer, dir: &Path, port: u16) {
    let nginx = Nginx::start(dir, port, None);
    let nginx_pids = nginx.as_ref().map(|nginx| {
        let master = nginx.child.id();
        let workers = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
            .unwrap_or_default();
        let mut pids: Vec<u32> = workers
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        pids.push(master);
        pids
    });
    let mut names = vec!["direct", "router"];
    let mut targets = vec![
        (format!("http://127.0.0.1:{port}/"), Vec::new()),
        (
            format!("http://{}/", server.router),
            vec![server_pid(server)],
        ),
    ];
    if let Some((nginx, pids)) = nginx.as_ref().zip(nginx_pids) {
        names.push("nginx");
        targets.push((format!("http://127.0.0.1:{}/", nginx.port), pids));
    }
    let Some(rounds) = paired_rounds(&targets) else {
        return;
    };
    for (name, loads) in names.iter().zip(&rounds) {
        let each: Vec<String> = loads
            .iter()
            .map(|(l, _)| format!("{:.0} ({:.2}ms)", l.requests_per_s, l.p99))
            .collect();
        println!("  router rounds, {name:<6} req/s (p99): {}", each.join(" "));
    }
    let of = |index: usize, figure: fn(&(Load, f64)) -> f64| {
        median(rounds[index].iter().map(figure).collect())
    };
    let ratio = |a: usize, b: usize, figure: fn(&(Load, f64)) -> f64| {
        ratio_with_range(paired_ratios(&rounds[a], &rounds[b], figure))
    };
    println!(
        "  router, wrk 64 connections: direct to the dyno {:>9.0} req/s  p99 {:.2}ms",
        of(0, throughput),
        of(0, p99)
    );
    println!(
        "                              through paas router {:>9.0} req/s  p99 {:.2}ms  {:.1} µs CPU/request  router/direct {} (target >= 0.9)",
        of(1, throughput),
        of(1, p99),
        of(1, cpu),
        ratio(1, 0, throughput)
    );
    let against_nginx = (rounds.len() == 3).then(|| {
        let compared = format!(
            "nginx {:.0} req/s (p99 {:.2} ms, {:.1} µs CPU/request): {} (target ≥ 1.0), p99 {} (target ≤ 1.0), CPU {}",
            of(2, throughput),
            of(2, p99),
            of(2, cpu),
            ratio(1, 2, throughput),
            ratio(1, 2, p99),
            ratio(1, 2, cpu)
        );
        println!("                              against {compared}");
        compared
    });
    if against_nginx.is_none() {
        println!("  (nginx not installed: apt-get install nginx-light)");
    }
    paas_tests::bench::figure(
        &format!("router, Node dyno, `wrk -c64` keep-alive, medians of {ROUTER_ROUNDS} rounds"),
        &format!(
            "{:.0} req/s, p99 {:.2} ms, {:.1} µs CPU/request",
            of(1, throughput),
            of(1, p99),
            of(1, cpu)
        ),
        &format!(
            "direct {:.0} req/s (p99 {:.2} ms): {} (target ≥ 0.9); {}",
            of(0, throughput),
            of(0, p99),
            ratio(1, 0, throughput),
            against_nginx.unwrap_or_else(|| "nginx not installed".to_owned())
        ),
    );
}

fn main() {
    let paas = Path::new(env!("CARGO_BIN_EXE_paas"));
    let server = TestServer::start(&bin_next_to(env!("CARGO_BIN_EXE_paas"), "paas-buildserver"));
    server.install_stack(Stack::Bookworm);
    let cli = CliEnv::pusher(paas, &server);
    let repo = cli.app_repo("nodejs");
    // A second process type that prints the time, for the log latency figure.
    std::fs::write(
        repo.join("ticker.js"),
        "setInterval(() => console.log(`tick ${Math.round((performance.timeOrigin + performance.now()) * 1000)}`), 10);\n",
    )
    .expect("write");
    std::fs::write(
        repo.join("Procfile"),
        "web: node server.js\nworker: node ticker.js\n",
    )
    .expect("write");
    cli.commit_all(&repo, "ticker");
    create_and_push(&cli, &repo);
    timed(&cli, &repo, &["config", "set", "GREETING=bench"]);

    println!(
        "Run benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let rollbacks: Vec<Duration> = (0..5)
        .map(|i| {
            timed(
                &cli,
                &repo,
                &["rollback", if i % 2 == 0 { "v1" } else { "v2" }],
            )
        })
        .collect();
    let rollbacks = median(rollbacks);
    println!(
        "  paas rollback → new release up              {:>8}  (target < 1 s)",
        ms(rollbacks)
    );
    paas_tests::bench::figure(
        "`paas rollback` → new release up, median of 5",
        &ms(rollbacks),
        "target < 1 s",
    );
    let scales: Vec<Duration> = (0..5)
        .map(|_| {
            let up = timed(&cli, &repo, &["scale", "web=10"]);
            timed(&cli, &repo, &["scale", "web=1"]);
            up
        })
        .collect();
    let scales = median(scales);
    println!(
        "  paas scale web=1→10 → all 10 dynos up       {:>8}  (target < 2 s)",
        ms(scales)
    );
    paas_tests::bench::figure(
        "`paas scale web=1→10` → all 10 dynos up, median of 5",
        &ms(scales),
        "target < 2 s",
    );

    let dynos: Vec<serde_json::Value> = serde_json::from_slice(
        &cli.command(&["ps", "--json"])
            .current_dir(&repo)
            .output()
            .expect("ps")
            .stdout,
    )
    .expect("JSON");
    let port = dynos
        .iter()
        .find(|d| d["name"] == "web.1")
        .and_then(|d| d["port"].as_u64())
        .expect("web.1's port");
    let dir = tempfile::tempdir().expect("temp dir");
    // Warm-up: Node's JIT and the router's connection pool.
    wrk(&format!("http://127.0.0.1:{port}/"), "bench.localhost", 5);
    wrk(&format!("http://{}/", server.router), "bench.localhost", 5);
    let dyno = u16::try_from(port).expect("a port");
    router_vs_nginx(&server, dir.path(), dyno);
    metrics_overhead(paas, &server);
    https(&cli, &repo, &server, dir.path(), dyno);
    // Last of the router's figures: promoting the canary replaces web.1 (and its port).
    flow_overhead(&cli, &repo, &server);

    timed(&cli, &repo, &["scale", "worker=1"]);
    let mut tail = cli
        .command(&["logs", "--tail", "--ps", "worker", "-n", "0"])
        .current_dir(&repo)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("paas logs --tail");
    let mut latencies = Vec::new();
    for line in BufReader::new(tail.stdout.take().expect("piped")).lines() {
        let Ok(line) = line else { break };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_micros();
        let Some(stamp) = line
            .rsplit_once("tick ")
            .and_then(|(_, t)| t.trim().parse::<u128>().ok())
        else {
            continue;
        };
        latencies.push(Duration::from_micros(
            u64::try_from(now.saturating_sub(stamp)).unwrap_or(0),
        ));
        if latencies.len() == 500 {
            break;
        }
    }
    let _ = tail.kill();
    let _ = tail.wait();
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "  log line → paas logs --tail (500 lines)     p50 {:.1} ms  p99 {:.1} ms  (target < 50 ms)",
        pick(0.5).as_secs_f64() * 1000.0,
        pick(0.99).as_secs_f64() * 1000.0
    );
    paas_tests::bench::figure(
        "dyno line → `paas logs --tail`, 500 lines",
        &format!(
            "p50 {:.1} ms, p99 {:.1} ms",
            pick(0.5).as_secs_f64() * 1000.0,
            pick(0.99).as_secs_f64() * 1000.0
        ),
        "target < 50 ms",
    );

    let runs: Vec<Duration> = (0..10)
        .map(|_| timed(&cli, &repo, &["run", "--no-tty", "--", "true"]))
        .collect();
    let floor: Vec<Duration> = (0..10).map(|i| runc_true(&server, dir.path(), i)).collect();
    let (runs, floor) = (median(runs), median(floor));
    println!(
        "  paas run -- true (median of 10)             {:>8}  runc run alone {}  ratio {:.1}  (target < 300 ms)",
        ms(runs),
        ms(floor),
        runs.as_secs_f64() / floor.as_secs_f64()
    );
    paas_tests::bench::figure(
        "`paas run -- true`, median of 10",
        &ms(runs),
        &format!(
            "`runc run` of `true` {}: {:.1}× (target < 300 ms)",
            ms(floor),
            runs.as_secs_f64() / floor.as_secs_f64()
        ),
    );
}

/// The port of `127.0.0.1:PORT`.
fn port_of(address: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .expect("an address with a port")
}

/// The router's TLS listener, with a certificate for `bench.localhost` uploaded: requests/s with
/// `h2load` (HTTP/1.1 and HTTP/2) against plain HTTP through the router and against nginx
/// terminating TLS with the same certificate and key in front of the same dyno, in the same run;
/// then full TLS handshakes per second, the router against that nginx.
fn https(cli: &CliEnv, repo: &Path, server: &TestServer, dir: &Path, dyno: u16) {
    let ca = paas_tests::tls::TestCa::new("paas bench CA");
    let (chain_pem, key_pem) = ca.leaf(&["bench.localhost"]);
    let (chain, key) = (dir.join("bench-chain.pem"), dir.join("bench-key.pem"));
    std::fs::write(&chain, &chain_pem).expect("write the chain");
    std::fs::write(&key, &key_pem).expect("write the key");
    let utf8 = |path: &Path| path.to_str().expect("a UTF-8 path").to_owned();
    timed(cli, repo, &["certs:add", &utf8(&chain), &utf8(&key)]);
    let leaf = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .expect("a certificate")
        .expect("PEM");
    let nginx = Nginx::start(dir, dyno, Some((&chain, &key)));
    let (router, router_tls) = (port_of(&server.router), port_of(&server.router_tls));
    let nginx_said = |result: Option<&Result<f64, String>>| match result {
        Some(Ok(rate)) => format!("{rate:.0}/s"),
        Some(Err(e)) => format!("failed ({})", e.lines().next().unwrap_or_default()),
        None => "not installed".to_owned(),
    };

    if Command::new("h2load").arg("--version").output().is_err() {
        println!("  (h2load not installed: apt-get install nghttp2-client)");
    } else {
        let load = |scheme: &str, port: u16, h1: bool| {
            h2load(&format!("{scheme}://bench.localhost:{port}/"), port, h1)
        };
        let plain = load("http", router, true);
        let secure = load("https", router_tls, true);
        let proxied = nginx.as_ref().map(|n| load("https", n.port, true));
        let secure_h2 = load("https", router_tls, false);
        let proxied_h2 = nginx.as_ref().map(|n| load("https", n.port, false));
        let rate = |load: &Result<H2Load, String>| load.as_ref().ok().map(|l| l.requests_per_s);
        let ratio = |name, ours: Option<f64>, theirs: Option<f64>| Some((name, ours? / theirs?));
        let line =
            |label: &str, load: &Result<H2Load, String>, ratio: Option<(&str, f64)>| match load {
                Ok(load) => println!(
                    "{label} {:>9.0} req/s  mean {:>7}{}",
                    load.requests_per_s,
                    load.mean,
                    ratio.map_or(String::new(), |(name, r)| format!("  {name} {r:.2}"))
                ),
                Err(e) => println!("{label} {e}"),
            };
        let nginx_line = |label: &str, theirs: Option<&Result<H2Load, String>>, ours| match theirs {
            Some(theirs) => line(label, theirs, ratio("paas/nginx", rate(ours), rate(theirs))),
            None => println!("{label} (nginx not installed: apt-get install nginx-light)"),
        };
        line(
            "  router HTTPS, h2load 64 connections, HTTP/1.1: HTTP through paas router ",
            &plain,
            None,
        );
        line(
            "                                                 HTTPS through paas router",
            &secure,
            ratio("HTTPS/HTTP", rate(&secure), rate(&plain)),
        );
        nginx_line(
            "                                                 HTTPS through nginx      ",
            proxied.as_ref(),
            &secure,
        );
        line(
            "                                         HTTP/2: HTTPS through paas router",
            &secure_h2,
            None,
        );
        nginx_line(
            "                                                 HTTPS through nginx      ",
            proxied_h2.as_ref(),
            &secure_h2,
        );
        if let Ok(secure) = &secure {
            let against = |other: Option<f64>| {
                other.map(|other| format!("{other:.0} req/s: {:.2}", secure.requests_per_s / other))
            };
            paas_tests::bench::figure(
                "router HTTPS, Node dyno, `h2load -c64 --h1` keep-alive",
                &format!("{:.0} req/s, mean {}", secure.requests_per_s, secure.mean),
                &format!(
                    "HTTP through the router {}; nginx HTTPS (same cert) {}",
                    against(rate(&plain)).unwrap_or_else(|| "failed".to_owned()),
                    match &proxied {
                        None => "not installed".to_owned(),
                        Some(proxied) =>
                            against(rate(proxied)).unwrap_or_else(|| "failed".to_owned()),
                    }
                ),
            );
        }
    }

    let ours = handshakes(router_tls, "bench.localhost", &leaf);
    let theirs = nginx
        .as_ref()
        .map(|n| handshakes(n.port, "bench.localhost", &leaf));
    match &ours {
        Ok(ours) => {
            println!(
                "  TLS handshakes, 16 clients, new connection each: paas router {ours:>7.0}/s  nginx {}{}",
                nginx_said(theirs.as_ref()),
                match &theirs {
                    Some(Ok(theirs)) => format!("  paas/nginx {:.2}", ours / theirs),
                    _ => String::new(),
                }
            );
            paas_tests::bench::figure(
                "TLS handshakes/s (new connection each), 16 clients",
                &format!("{ours:.0}/s"),
                &match &theirs {
                    Some(Ok(theirs)) => {
                        format!("nginx (same cert) {theirs:.0}/s: {:.2}", ours / theirs)
                    }
                    other => format!("nginx {}", nginx_said(other.as_ref())),
                },
            );
        }
        Err(e) => println!("  TLS handshakes with the router failed: {e}"),
    }
}

/// `runc run` of `/bin/true` on the bookworm stack's root filesystem, read-only, as root: the
/// bare container start.
fn runc_true(server: &TestServer, dir: &Path, i: usize) -> Duration {
    let bundle = dir.join(format!("runc-true-{i}"));
    std::fs::create_dir_all(&bundle).expect("bundle");
    let spec = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .status()
        .expect("runc spec");
    assert!(spec.success());
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("config")).expect("JSON");
    // runc takes no symlink there (the test server's stacks link to a shared cache).
    let rootfs = std::fs::canonicalize(server.data_dir().join("stacks/bookworm/rootfs"))
        .expect("the stack's root filesystem");
    config["root"]["path"] = rootfs.display().to_string().into();
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["/bin/true"]);
    std::fs::write(&path, serde_json::to_vec(&config).expect("JSON")).expect("config");
    let start = Instant::now();
    let status = Command::new("runc")
        .arg("--root")
        .arg(dir.join("runc-state"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(format!("bench-true-{i}-{}", std::process::id()))
        .stdin(Stdio::null())
        .status()
        .expect("runc run");
    let elapsed = start.elapsed();
    assert!(status.success());
    elapsed
}

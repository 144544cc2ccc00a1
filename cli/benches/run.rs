//! Running-release benchmarks, figures printed (not asserted):
//! - `paas rollback` and `paas scale web=1→10`: command start → every dyno up (the commands return
//!   then), median of 5 each;
//! - the router: requests/s and p99 latency with `wrk` (64 connections, keep-alive, 2 threads,
//!   5 s) to a Node web dyno directly, through our router, and through nginx configured as a
//!   keep-alive reverse proxy to the same dyno, in the same run;
//! - log latency: a line printed by a dyno → printed by `paas logs --tail`, median and p99 of 500;
//! - `paas run -- true` (create, attach, start, exit status back), median of 10, against `runc run`
//!   of `true` in a bundle on the same stack's root filesystem (the container start that
//!   `paas run` wraps), in the same run.
//!
//! Needs the bookworm stack (built once, cached) and `wrk` and `nginx` (`scripts/bench` installs
//! them). Run with `scripts/bench`, as root.

// A benchmark reports its figures on stdout.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paas_tests::{CliEnv, Stack, TestServer, bin_next_to};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

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

/// What `wrk` measured: requests per second and the 99th percentile latency.
struct Load {
    requests_per_s: f64,
    p99: String,
}

fn wrk(url: &str, host: &str) -> Option<Load> {
    let output = Command::new("wrk")
        .args(["-t2", "-c64", "-d5s", "--latency", "-H"])
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
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))?
        .trim()
        .to_owned();
    Some(Load {
        requests_per_s,
        p99,
    })
}

/// nginx as a keep-alive reverse proxy to `127.0.0.1:port`, on a port of its own.
struct Nginx {
    child: std::process::Child,
    port: u16,
}

impl Nginx {
    fn start(dir: &Path, upstream: u16) -> Option<Self> {
        let nginx = ["/usr/sbin/nginx", "/sbin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(prefix.join("logs")).ok()?;
        let config = prefix.join("nginx.conf");
        std::fs::write(
            &config,
            format!(
                "worker_processes 1;\npid {pid};\nerror_log {prefix}/logs/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n\
                 upstream dyno {{ server 127.0.0.1:{upstream}; keepalive 64; }}\n\
                 server {{\n    listen 127.0.0.1:{port};\n\
                 location / {{ proxy_pass http://dyno; proxy_http_version 1.1; proxy_set_header Connection \"\"; \
                 proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr; }}\n  }}\n}}\n",
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
    cli.command(&["create", "bench"])
        .current_dir(&repo)
        .output()
        .expect("create");
    let push = cli
        .git(&repo, &["push", "-q", "paas", "main"])
        .output()
        .expect("git push");
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
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
    wrk(&format!("http://127.0.0.1:{port}/"), "bench.localhost");
    wrk(&format!("http://{}/", server.router), "bench.localhost");
    let direct = wrk(&format!("http://127.0.0.1:{port}/"), "bench.localhost");
    let routed = wrk(&format!("http://{}/", server.router), "bench.localhost");
    let nginx = Nginx::start(dir.path(), u16::try_from(port).expect("a port"));
    let proxied = nginx
        .as_ref()
        .and_then(|n| wrk(&format!("http://127.0.0.1:{}/", n.port), "bench.localhost"));
    match (direct, routed) {
        (Some(direct), Some(routed)) => {
            println!(
                "  router, wrk 64 connections: direct to the dyno {:>9.0} req/s  p99 {}",
                direct.requests_per_s, direct.p99
            );
            println!(
                "                              through paas router {:>9.0} req/s  p99 {}  ratio {:.2} (target >= 0.9)",
                routed.requests_per_s,
                routed.p99,
                routed.requests_per_s / direct.requests_per_s
            );
            match &proxied {
                Some(nginx) => println!(
                    "                              through nginx       {:>9.0} req/s  p99 {}  paas/nginx {:.2}",
                    nginx.requests_per_s,
                    nginx.p99,
                    routed.requests_per_s / nginx.requests_per_s
                ),
                None => println!("  (nginx not installed: apt-get install nginx-light)"),
            }
            paas_tests::bench::figure(
                "router, Node dyno, `wrk -c64` keep-alive",
                &format!("{:.0} req/s, p99 {}", routed.requests_per_s, routed.p99),
                &format!(
                    "direct {:.0} req/s (p99 {}): {:.2} (target ≥ 0.9); {}",
                    direct.requests_per_s,
                    direct.p99,
                    routed.requests_per_s / direct.requests_per_s,
                    proxied
                        .as_ref()
                        .map_or("nginx not installed".to_owned(), |nginx| format!(
                            "nginx {:.0} req/s (p99 {}): {:.2} (target ≥ 1.0)",
                            nginx.requests_per_s,
                            nginx.p99,
                            routed.requests_per_s / nginx.requests_per_s
                        ))
                ),
            );
        }
        _ => println!("  (wrk not installed: apt-get install wrk)"),
    }
    drop(nginx);

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

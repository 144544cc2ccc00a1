//! API throughput benchmark: `GET /apps` (100 apps) with 16 concurrent keep-alive clients on this
//! machine — requests per second and p50/p99 latency — next to `GET /healthz` (no auth, no
//! database) on the same server as the ceiling of the HTTP stack. Figures are printed, not
//! asserted. Run with `scripts/bench`.

// A benchmark reports its figures on stdout.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::{Duration, Instant};

use paas_tests::TestServer;

const CLIENTS: usize = 16;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);

struct Figures {
    requests: usize,
    p50: Duration,
    p99: Duration,
}

fn load(url: &str, token: Option<&str>) -> Figures {
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let url = url.to_owned();
            let auth = token.map(|t| format!("Bearer {t}"));
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
                let start = Instant::now();
                let mut latencies = Vec::new();
                while start.elapsed() < WARM_UP + MEASURE {
                    let mut request = agent.get(&url);
                    if let Some(auth) = &auth {
                        request = request.header("Authorization", auth);
                    }
                    let sent = Instant::now();
                    let mut response = request.call().expect("request");
                    response.body_mut().read_to_vec().expect("body");
                    if start.elapsed() > WARM_UP {
                        latencies.push(sent.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect();
    all.sort();
    Figures {
        requests: all.len(),
        p50: all[all.len() / 2],
        p99: all[all.len() * 99 / 100],
    }
}

fn main() {
    let server = TestServer::start(Path::new(env!("CARGO_BIN_EXE_paas-buildserver")));
    let token = server.admin_token();
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    for i in 0..100 {
        agent
            .post(format!("{}/apps", server.api))
            .header("Authorization", format!("Bearer {token}"))
            .send_json(serde_json::json!({ "name": format!("bench-app-{i:03}") }))
            .expect("create app");
    }
    println!(
        "API load: {CLIENTS} concurrent keep-alive clients, {}s measured after {}s warm-up, {} cores shared by clients and server",
        MEASURE.as_secs(),
        WARM_UP.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (label, path, token) in [
        ("GET /apps (100 apps, auth)", "/apps", Some(token.as_str())),
        ("GET /healthz (baseline)", "/healthz", None),
    ] {
        let f = load(&format!("{}{path}", server.api), token);
        paas_tests::bench::figure(
            &format!("{label}, {CLIENTS} clients"),
            &format!(
                "{:.0} req/s, p99 {:.1} ms",
                f.requests as f64 / MEASURE.as_secs_f64(),
                f.p99.as_secs_f64() * 1000.0
            ),
            "",
        );
        println!(
            "  {label:<28} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            f.requests as f64 / MEASURE.as_secs_f64(),
            f.p50.as_secs_f64() * 1000.0,
            f.p99.as_secs_f64() * 1000.0
        );
    }
}

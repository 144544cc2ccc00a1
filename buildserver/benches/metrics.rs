//! Metrics benchmarks, figures printed (not asserted):
//! - what 24 h of figures cost per app (web and worker, every minute filled as a busy app's):
//!   resident memory once read back (the daemon's table) and bytes in the store;
//! - what recording costs the router per request (`Metrics::begin` + `Metrics::request`), alone
//!   and with two threads recording at once, against doing nothing (`--metrics off`).
//!
//! Run with `scripts/bench`.

// A benchmark reports its figures on stdout.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use paas_buildserver::metrics::{HISTORY_MINUTES, Metrics, Minute};
use paas_buildserver::store::{Db, MetricsRow, Store};
use paas_share::{AppName, UserName};

const APPS: usize = 50;

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A busy minute: every status class, latencies across the buckets, resources sampled.
fn busy_minute(i: u64) -> Minute {
    let mut minute = Minute {
        cpu_ms: 30_000 + i,
        memory_sum: (6 * 200) << 20,
        memory_samples: 6,
        memory_max: 210 << 20,
        memory_limit: 512 << 20,
        dynos: 2,
        restarts: i % 2,
        ..Minute::default()
    };
    for n in 0..600 {
        minute.request(
            [200, 201, 302, 404, 503][n % 5],
            (n as u64 * 37) % 20_000,
            1500,
        );
    }
    minute
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("paas.db");
    let mut db = Db::open(&path).expect("store");
    let user = db
        .create_user(
            &UserName::parse("bench").expect("name"),
            true,
            &paas_buildserver::token::generate(),
        )
        .expect("user");
    let now = paas_buildserver::unix_now();
    let first = now - now.rem_euclid(60) - (HISTORY_MINUTES - 1) * 60;
    for a in 0..APPS {
        let app = db
            .create_app(
                &user,
                &AppName::parse(&format!("app-{a}")).expect("name"),
                None,
            )
            .expect("app");
        let rows: Vec<MetricsRow> = ["web", "worker"]
            .iter()
            .flat_map(|t| {
                (0..HISTORY_MINUTES).map(|m| MetricsRow {
                    app_id: app.id.clone(),
                    process_type: (*t).to_owned(),
                    minute: first + m * 60,
                    data: serde_json::to_string(&busy_minute(m as u64)).expect("JSON"),
                })
            })
            .collect();
        db.put_metrics(&rows).expect("put");
    }
    drop(db);
    let store_bytes: u64 = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    let store = Store::new(Db::open(&path).expect("store"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let metrics = Metrics::default();
    let before = rss_kib();
    runtime.block_on(metrics.load(&store, now)).expect("load");
    let per_app_kib = (rss_kib() - before) as f64 / APPS as f64;
    println!("Metrics benchmarks ({APPS} apps, web and worker, 24 h of busy minutes)");
    println!(
        "  memory per app, 24 h                  {per_app_kib:>8.0} KiB  (resident, read back)"
    );
    println!(
        "  store per app, 24 h                   {:>8.0} KiB",
        store_bytes as f64 / 1024.0 / APPS as f64
    );
    paas_tests::bench::figure(
        "metrics: memory per app of 24 h (web + worker)",
        &format!("{per_app_kib:.0} KiB"),
        &format!(
            "{:.0} KiB in the store",
            store_bytes as f64 / 1024.0 / APPS as f64
        ),
    );

    // What the router pays per request.
    const REQUESTS: u64 = 2_000_000;
    let app: Arc<str> = Arc::from("bench-app");
    let per_request = |metrics: &Metrics, threads: u64| {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    for n in 0..REQUESTS / threads {
                        let _in_flight = metrics.begin(&app);
                        metrics.request(&app, 200, n % 300, 1500);
                    }
                });
            }
        });
        start.elapsed().as_nanos() as f64 / REQUESTS as f64 * threads as f64
    };
    let (on, off) = (Metrics::default(), Metrics::off());
    per_request(&on, 1); // warm-up
    let one = per_request(&on, 1);
    let two = per_request(&on, 2);
    let none = per_request(&off, 1);
    println!("  recording per request, 1 thread       {one:>8.0} ns  (off: {none:.0} ns)");
    println!("  recording per request, 2 threads      {two:>8.0} ns  (each thread's)");
    paas_tests::bench::figure(
        "metrics: recording per request (router)",
        &format!("{one:.0} ns, {two:.0} ns with 2 threads"),
        &format!("off {none:.0} ns"),
    );
}

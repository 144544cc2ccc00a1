//! CLI start-up benchmark: median wall time of `paas --version` and `paas apps --json` (against a
//! local server with 100 apps), next to the Heroku CLI's `heroku --version` measured in the same
//! run. Figures are printed, not asserted. Run with `scripts/bench`.

// A benchmark reports its figures on stdout.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paas_tests::{CliEnv, TestServer, bin_next_to};

const RUNS: usize = 30;

fn median_wall_time(mut command: impl FnMut() -> Command, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let mut cmd = command();
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            let start = Instant::now();
            let status = cmd.status().expect("run the command");
            let elapsed = start.elapsed();
            assert!(status.success(), "{cmd:?} failed");
            elapsed
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// The Heroku CLI: `PAAS_BENCH_HEROKU`, else the copy `scripts/bench` installs with npm.
fn heroku() -> Option<PathBuf> {
    let path = std::env::var_os("PAAS_BENCH_HEROKU")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("paas-bench/node_modules/.bin/heroku")
        });
    path.is_file().then_some(path)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let paas = Path::new(env!("CARGO_BIN_EXE_paas"));
    let server = TestServer::start(&bin_next_to(env!("CARGO_BIN_EXE_paas"), "paas-buildserver"));
    let cli = CliEnv::new(paas, &server.api);
    cli.login(&server.admin_token());
    for i in 0..100 {
        cli.ok(&["create", &format!("bench-app-{i:03}"), "--no-remote"]);
    }
    assert_eq!(cli.ok(&["apps", "--json"]).matches("\"name\"").count(), 100);

    let version = median_wall_time(|| cli.command(&["--version"]), RUNS);
    let apps = median_wall_time(|| cli.command(&["apps", "--json"]), RUNS);
    println!(
        "CLI start-up, median of {RUNS} runs ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  paas --version                 {:>10}   (target < 5 ms)",
        ms(version)
    );
    println!(
        "  paas apps --json (100 apps)    {:>10}   (target < 25 ms)",
        ms(apps)
    );
    let peer = heroku().map(|heroku| {
        median_wall_time(
            || {
                let mut cmd = Command::new(&heroku);
                cmd.arg("--version");
                cmd
            },
            20,
        )
    });
    let versus = |ours: Duration| match peer {
        Some(peer) => format!(
            "`heroku --version` {} ({:.0}× slower)",
            ms(peer),
            peer.as_secs_f64() / ours.as_secs_f64()
        ),
        None => "Heroku CLI not installed".to_owned(),
    };
    paas_tests::bench::figure(
        &format!("`paas --version`, median of {RUNS}"),
        &ms(version),
        &format!("{}; target < 5 ms", versus(version)),
    );
    paas_tests::bench::figure(
        &format!("`paas apps --json`, 100 apps, median of {RUNS}"),
        &ms(apps),
        &format!("{}; target < 25 ms", versus(apps)),
    );
    match peer {
        Some(peer) => {
            println!(
                "  heroku --version (Heroku CLI)  {:>10}   (median of 20)",
                ms(peer)
            );
            println!(
                "  heroku --version / paas --version:          {:.0}x",
                peer.as_secs_f64() / version.as_secs_f64()
            );
            println!(
                "  heroku --version / paas apps --json:        {:.0}x",
                peer.as_secs_f64() / apps.as_secs_f64()
            );
        }
        None => println!("  heroku: not installed (scripts/bench installs it with npm), no ratio"),
    }
}

//! Build benchmarks, figures printed (not asserted), on the Debian stack:
//! - a static site's (the `static` fixture, as `examples/hello`) first push on a fresh server
//!   (new data dir, the stack already built), start → release live, median of 5 servers, against
//!   the same app's warm push (a one-line change) on the last of them;
//! - cold and warm `git push` (start → release live) of conformance apps per package manager:
//!   cold is an app's first push (empty build cache: tools and packages download), warm a
//!   one-line change pushed after it (cache kept);
//! - the peer, in the same run: the same install done directly on this host with the host's own
//!   tools (`pip install -r requirements.txt` into a fresh virtualenv; `npm ci`), cold (empty
//!   cache) and warm (cache kept), so the ratio is what paas adds: the sandbox, the image and
//!   the health-gated deploy;
//! - each app's image size (its layers, compressed, stack layers included);
//! - each Debian stack's run image (what every app image starts from) against its build image
//!   (what builds run on), both compressed the same way (`tar | gzip`), and on disk.
//!
//! Run with `scripts/bench`, as root.

// A benchmark reports its figures on stdout.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use paas_tests::{CliEnv, Stack, TestServer, bin_next_to};

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn pushed(cli: &CliEnv, repo: &Path) -> Duration {
    let start = Instant::now();
    let output = cli
        .git(repo, &["push", "-q", "paas", "main"])
        .output()
        .expect("git push");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    start.elapsed()
}

/// Runs `script` with `sh -c` in `dir`; how long it took.
fn on_host(dir: &Path, script: &str) -> Duration {
    let start = Instant::now();
    let output = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    start.elapsed()
}

/// The compressed size of the app's current image, from its manifest in the server's layout.
fn image_mb(server: &TestServer, cli: &CliEnv, repo: &Path) -> f64 {
    let output = cli
        .command(&["releases", "info", "--json"])
        .current_dir(repo)
        .output()
        .expect("paas");
    let release: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let digest = release["image"].as_str().expect("an image");
    let blob = |digest: &str| {
        server
            .data_dir()
            .join("oci/blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(digest)).expect("manifest")).expect("JSON");
    let bytes: u64 = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["size"].as_u64())
        .sum();
    bytes as f64 / 1e6
}

/// First pushes of the static site on fresh servers, then a warm one.
fn first_push(paas: &Path, bin: &Path) {
    let mut firsts = Vec::new();
    let mut warm = Duration::ZERO;
    for _ in 0..5 {
        let server = TestServer::start(bin);
        server.install_stack(Stack::Bookworm);
        let cli = CliEnv::pusher(paas, &server);
        let repo = cli.app_repo("static");
        cli.command(&["create", "hello"])
            .current_dir(&repo)
            .output()
            .expect("create");
        firsts.push(pushed(&cli, &repo));
        std::fs::write(repo.join("CHANGES.txt"), "a one-line change\n").expect("write");
        cli.commit_all(&repo, "change");
        warm = pushed(&cli, &repo);
    }
    firsts.sort();
    println!(
        "First push of a static site on a fresh server: median {} (min {}, max {}; 5 servers); \
         a warm push {} ({:.1}×; target < 2 s)",
        secs(firsts[2]),
        secs(firsts[0]),
        secs(firsts[4]),
        secs(warm),
        firsts[2].as_secs_f64() / warm.as_secs_f64()
    );
    paas_tests::bench::figure(
        "first push of a static site on a fresh server, median of 5",
        &format!(
            "{} (min {}, max {})",
            secs(firsts[2]),
            secs(firsts[0]),
            secs(firsts[4])
        ),
        &format!(
            "its warm push {}: {:.1}× (target < 2 s)",
            secs(warm),
            firsts[2].as_secs_f64() / warm.as_secs_f64()
        ),
    );
}

fn main() {
    let paas = Path::new(env!("CARGO_BIN_EXE_paas"));
    let bin = bin_next_to(env!("CARGO_BIN_EXE_paas"), "paas-buildserver");
    println!(
        "Build benchmarks ({} cores; peer: the same install run on this host)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    first_push(paas, &bin);
    let server = TestServer::start(&bin);
    server.install_stack(Stack::Bookworm);
    let cli = CliEnv::pusher(paas, &server);
    let scratch = tempfile::tempdir().expect("temp dir");
    // (fixture, what installs it, the host's same install: cold and warm share its cache dir)
    let apps: &[(&str, &str, Option<&str>)] = &[
        (
            "python-deps",
            "pip",
            Some(
                "rm -rf v && python3 -m venv v && PIP_CACHE_DIR=$CACHE v/bin/pip install -q -r requirements.txt",
            ),
        ),
        ("python-uv", "uv", None),
        ("python-poetry", "Poetry", None),
        ("python-pipenv", "Pipenv", None),
        ("python-django", "pip (Django)", None),
        (
            "node-deps",
            "npm",
            Some("rm -rf node_modules && npm ci --silent --cache \"$CACHE\""),
        ),
        ("node-yarn", "Yarn classic", None),
        ("node-pnpm", "pnpm", None),
        ("node-build", "npm + build", None),
        ("python-native", "pip (psycopg2 from source)", None),
        ("node-native", "npm (node-gyp addon)", None),
    ];
    println!("| app | installer | cold push | warm push | host cold | host warm | image |");
    println!("|---|---|---|---|---|---|---|");
    for (fixture, installer, peer) in apps {
        let repo = cli.app_repo(fixture);
        cli.command(&["create", &format!("bench-{fixture}")])
            .current_dir(&repo)
            .output()
            .expect("create");
        let cold = pushed(&cli, &repo);
        std::fs::write(repo.join("CHANGES.txt"), "a one-line change\n").expect("write");
        cli.commit_all(&repo, "change");
        let warm = pushed(&cli, &repo);
        let size = image_mb(&server, &cli, &repo);
        let (host_cold, host_warm) = match peer {
            Some(script) => {
                let dir = scratch.path().join(fixture);
                paas_tests::copy_fixture(fixture, &dir);
                let script = format!("CACHE={}/cache; {script}", dir.display());
                let host_cold = on_host(&dir, &script);
                let host_warm = on_host(&dir, &script);
                (
                    format!(
                        "{} ({:.1}×)",
                        secs(host_cold),
                        cold.as_secs_f64() / host_cold.as_secs_f64()
                    ),
                    format!(
                        "{} ({:.1}×)",
                        secs(host_warm),
                        warm.as_secs_f64() / host_warm.as_secs_f64()
                    ),
                )
            }
            None => ("–".to_owned(), "–".to_owned()),
        };
        println!(
            "| {fixture} | {installer} | {} | {} | {host_cold} | {host_warm} | {size:.1} MB |",
            secs(cold),
            secs(warm)
        );
        paas_tests::bench::figure(
            &format!("`{fixture}` ({installer}): cold push / warm push"),
            &format!("{} / {}", secs(cold), secs(warm)),
            &format!(
                "warm/cold {:.2}; on the host: {host_cold} / {host_warm}",
                warm.as_secs_f64() / cold.as_secs_f64()
            ),
        );
    }
    println!("(×: the push's time over the host's install of the same dependencies)");
    server.install_stack(Stack::Trixie);
    println!();
    println!("| stack | run image | build image | run/build |");
    println!("|---|---|---|---|");
    for name in ["bookworm", "trixie"] {
        let dir =
            std::fs::canonicalize(server.data_dir().join("stacks").join(name)).expect("the stack");
        let (run, build) = (
            compressed_mb(&dir.join("rootfs")),
            compressed_mb(&dir.join("build/rootfs")),
        );
        println!(
            "| {name} | {:.0} MB ({:.0} MB on disk) | {:.0} MB ({:.0} MB on disk) | {:.2} |",
            run.0,
            run.1,
            build.0,
            build.1,
            run.0 / build.0
        );
    }
}

/// A root filesystem's size as `tar | gzip` (default level) makes it and on disk, in MB.
fn compressed_mb(root: &Path) -> (f64, f64) {
    let size = |script: &str| -> f64 {
        let output = Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(root)
            .output()
            .expect("sh");
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<f64>().ok())
            .expect("a size")
    };
    (
        size("tar -C \"$1\" -c . | gzip | wc -c") / 1e6,
        size("du -sb \"$1\"") / 1e6,
    )
}

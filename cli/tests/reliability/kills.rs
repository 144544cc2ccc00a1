//! The daemon killed with SIGKILL at points spread over a push (receiving, building, releasing,
//! starting dynos), a storm of config changes and a storm of scales, round after round: after each restart the store is consistent (no build or
//! release left pending), what runs is the current release and it serves, no container is left
//! that `ps` does not show, and the app's repository passes `git fsck`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use super::{pushed, with_app};

/// `paas ARGS --json` in `repo`, parsed.
fn json(cli: &paas_tests::CliEnv, repo: &Path, args: &[&str]) -> Value {
    let output = cli
        .command(args)
        .arg("--json")
        .current_dir(repo)
        .output()
        .expect("paas");
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// The status of `GET /` for `app` through the router (0 when it cannot connect).
fn status(router: &str, app: &str) -> u16 {
    let output = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-m",
            "5",
            "-H",
        ])
        .arg(format!("Host: {app}.localhost"))
        .arg(format!("http://{router}/"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&output.stdout).parse().unwrap_or(0)
}

#[test]
fn a_daemon_killed_in_a_push_or_a_storm_comes_back_consistent() {
    let (mut server, cli, repo) = with_app(&[], "killed");
    pushed(&cli, &repo);
    // Spread over a push of this app (about half a second to live on the busybox stack), then
    // over storms of config changes and of scales (eight at once).
    let delays_ms = [5, 40, 90, 150, 220, 300, 420, 600, 900, 1500];
    let storms: [(&str, Vec<Vec<String>>); 3] = [
        ("push", Vec::new()),
        (
            "config storm",
            (0..8)
                .map(|i| vec!["config".into(), "set".into(), format!("K{i}=v{i}")])
                .collect(),
        ),
        (
            "scale storm",
            (0..8)
                .map(|i| vec!["scale".into(), format!("web={}", 1 + i % 3)])
                .collect(),
        ),
    ];
    let mut survived = 0;
    let mut rounds = 0;
    for (kind, commands) in &storms {
        for (round, delay) in delays_ms.iter().enumerate() {
            rounds += 1;
            let round = format!("{kind} {round}");
            let mut running = Vec::new();
            if commands.is_empty() {
                std::fs::write(repo.join("CHANGES.txt"), format!("{round}\n")).expect("write");
                cli.commit_all(&repo, &round);
                running.push(
                    cli.git(&repo, &["push", "paas", "main"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("push"),
                );
            } else {
                for args in commands {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    running.push(
                        cli.command(&args)
                            .current_dir(&repo)
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .spawn()
                            .expect("paas"),
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(*delay));
            server.stop(Signal::SIGKILL);
            // The CLI retries a config change for up to a minute while the server is away: restart
            // first, then wait for them.
            server.restart();
            for mut child in running {
                let _ = child.wait();
            }

            let builds = json(&cli, &repo, &["builds"]);
            let releases = json(&cli, &repo, &["releases"]);
            let unfinished = |list: &Value, states: &[&str]| {
                list.as_array().map_or(0, |l| {
                    l.iter()
                        .filter(|i| states.iter().any(|s| i["status"] == *s))
                        .count()
                })
            };
            assert_eq!(
                unfinished(&builds, &["pending", "building"]),
                0,
                "round {round}: {builds}"
            );
            assert_eq!(
                unfinished(&releases, &["pending", "deploying"]),
                0,
                "round {round}: {releases}"
            );
            // What runs is the current release, and it serves.
            let current = releases
                .as_array()
                .and_then(|l| l.iter().find(|r| r["current"] == true))
                .and_then(|r| r["version"].as_u64())
                .expect("a current release");
            let deadline = Instant::now() + Duration::from_secs(20);
            let dynos = loop {
                let dynos = json(&cli, &repo, &["ps"]);
                let up = dynos.as_array().is_some_and(|d| {
                    !d.is_empty()
                        && d.iter()
                            .all(|p| p["release"].as_u64() == Some(current) && p["state"] == "up")
                });
                if up || Instant::now() > deadline {
                    break dynos;
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            assert_eq!(
                status(&server.router, "killed"),
                200,
                "round {round}: {dynos}\n{releases}\n{}",
                server.log()
            );
            // No container the server does not account for: no build left running, and the dynos
            // `ps` shows.
            assert_eq!(
                server.build_containers(),
                Vec::<String>::new(),
                "round {round}: a build container is left"
            );
            assert_eq!(
                server.dyno_containers().len(),
                dynos.as_array().map_or(0, Vec::len),
                "round {round}: {dynos}"
            );
            // Build directories belong to builds that ended; no push's quarantine is left; every
            // repository is whole.
            let ended: Vec<&str> = builds
                .as_array()
                .map(|l| l.iter().filter_map(|b| b["id"].as_str()).collect())
                .unwrap_or_default();
            if let Ok(dirs) = std::fs::read_dir(server.data_dir().join("builds")) {
                for dir in dirs {
                    let name = dir.expect("entry").file_name();
                    let name = name.to_string_lossy();
                    assert!(
                        ended.contains(&name.as_ref()),
                        "round {round}: orphaned build dir {name}"
                    );
                }
            }
            for entry in std::fs::read_dir(server.data_dir().join("repos")).expect("repos") {
                let path = entry.expect("entry").path();
                let quarantines = std::fs::read_dir(path.join("objects"))
                    .expect("objects")
                    .filter(|e| {
                        e.as_ref()
                            .is_ok_and(|e| e.file_name().to_string_lossy().contains("incoming"))
                    })
                    .count();
                assert_eq!(quarantines, 0, "round {round}: a push's quarantine is left");
                let fsck = Command::new("git")
                    .arg("--git-dir")
                    .arg(&path)
                    .args(["fsck", "--no-progress"])
                    .output()
                    .expect("git fsck");
                assert!(
                    fsck.status.success(),
                    "round {round}: {}",
                    String::from_utf8_lossy(&fsck.stderr)
                );
            }
            survived += 1;
        }
    }
    #[allow(clippy::print_stdout)]
    {
        println!(
            "kill -9 during pushes, config storms and scale storms: {survived}/{rounds} rounds came back consistent and serving"
        );
    }
}

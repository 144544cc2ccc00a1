//! Push benchmarks, figures printed (not asserted):
//! - throughput: `git push` of a repo with 100 MB of incompressible blobs through our SSH server
//!   versus OpenSSH's `sshd` with `git-shell` (same machine, same repo, `receive.fsckObjects` on
//!   both sides); the ratio (target >= 0.9) compares git-over-SSH only, so the app builds in
//!   ~0.1 s on the busybox stack and that is included on our side; the median of 3 paired
//!   rounds' ratios;
//! - the procfile fixture, push start to new release live (build, image, health-gated deploy),
//!   median of 10 pushes;
//! - the sandbox start overhead: a `/bin/true` container on the same stack, median of 10.
//!
//! Run with `scripts/bench` (as root: sshd, runc).

// A benchmark reports its figures on stdout.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paas_buildserver::container::{Runtime, Spec};
use paas_tests::bench::median;
use paas_tests::{Stack, TestServer};

const BLOB_MB: usize = 100;
/// Pushes of the big repo to each of paas and sshd, alternating.
const PUSH_ROUNDS: usize = 3;

fn run(cmd: &mut Command) {
    let output = cmd.output().expect("run command");
    assert!(
        output.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn git(dir: &Path, key: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(dir).env(
        "GIT_SSH_COMMAND",
        format!(
            "ssh -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            key.display()
        ),
    );
    cmd.env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@b")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@b");
    cmd
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// A repo with a Procfile and `BLOB_MB` MB of random bytes in 10 files.
fn big_repo(dir: &Path, key: &Path) -> PathBuf {
    let repo = dir.join("big");
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::write(
        repo.join("Procfile"),
        "web: busybox httpd -f -p $PORT -h /app\n",
    )
    .expect("write");
    let mut urandom = std::fs::File::open("/dev/urandom").expect("urandom");
    for i in 0..10 {
        let mut blob = vec![0u8; BLOB_MB * 1024 * 1024 / 10];
        std::io::Read::read_exact(&mut urandom, &mut blob).expect("random");
        std::fs::write(repo.join(format!("blob-{i}.bin")), blob).expect("write");
    }
    run(&mut git(&repo, key, &["init", "-q", "-b", "main"]));
    run(&mut git(&repo, key, &["add", "-A"]));
    run(&mut git(&repo, key, &["commit", "-q", "-m", "big"]));
    repo
}

/// OpenSSH's sshd on a loopback port, `git-shell` forced, authorized for `key`.
struct Sshd {
    child: std::process::Child,
    port: u16,
}

impl Sshd {
    fn start(dir: &Path, public_key: &str) -> Option<Self> {
        let sshd = ["/usr/sbin/sshd", "/sbin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let host_key = dir.join("sshd_host_key");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key));
        std::fs::write(dir.join("authorized_keys"), public_key).expect("write");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nStrictModes no\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\n\
                 PidFile {}\nForceCommand git-shell -c \"$SSH_ORIGINAL_COMMAND\"\n",
                host_key.display(),
                dir.join("authorized_keys").display(),
                dir.join("sshd.pid").display()
            ),
        )
        .expect("write");
        std::fs::create_dir_all("/run/sshd").ok();
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // Not listening in time: dropped, which stops it.
        let started = Self { child, port };
        paas_tests::wait_for_port(port).then_some(started)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn timed_push(repo: &Path, key: &Path, url: &str) -> Duration {
    let _ = git(repo, key, &["remote", "remove", "bench"]).output();
    run(&mut git(repo, key, &["remote", "add", "bench", url]));
    let start = Instant::now();
    run(&mut git(repo, key, &["push", "-q", "bench", "main"]));
    start.elapsed()
}

fn main() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_paas-buildserver"));
    let server = TestServer::start(&bin);
    server.install_stack(Stack::Busybox);
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("id_ed25519");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key));
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let auth = format!("Bearer {}", server.admin_token());
    let post = |path: &str, body: serde_json::Value| {
        agent
            .post(format!("{}{path}", server.api))
            .header("Authorization", &auth)
            .send_json(body)
            .expect("API call");
    };
    post("/account/keys", serde_json::json!({ "public_key": public }));
    for round in 1..=PUSH_ROUNDS {
        post(
            "/apps",
            serde_json::json!({ "name": format!("big-ours-{round}") }),
        );
    }
    post("/apps", serde_json::json!({ "name": "proc" }));

    println!(
        "Push benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let repo = big_repo(dir.path(), &key);
    let sshd = Sshd::start(dir.path(), &public);
    // Each round pushes to a new app and a new bare repo, in turn (the other one first every
    // other round): one push of each varies by up to ±20 % here, a ratio within a round less.
    let mut rounds: Vec<(Duration, Option<Duration>)> = Vec::new();
    for round in 1..=PUSH_ROUNDS {
        let ours = || {
            let url = format!("ssh://git@{}/big-ours-{round}.git", server.ssh);
            timed_push(&repo, &key, &url)
        };
        let peer = |sshd: &Sshd| {
            let bare = dir.path().join(format!("peer-{round}.git"));
            run(Command::new("git")
                .args(["init", "-q", "--bare", "-b", "main"])
                .arg(&bare));
            run(Command::new("git").arg("-C").arg(&bare).args([
                "config",
                "receive.fsckObjects",
                "true",
            ]));
            let url = format!("ssh://root@127.0.0.1:{}{}", sshd.port, bare.display());
            timed_push(&repo, &key, &url)
        };
        rounds.push(if round % 2 == 1 {
            (ours(), sshd.as_ref().map(peer))
        } else {
            let peer = sshd.as_ref().map(peer);
            (ours(), peer)
        });
    }
    let ours = median(rounds.iter().map(|(ours, _)| *ours).collect());
    let mb_s = |d: Duration| BLOB_MB as f64 / d.as_secs_f64();
    println!(
        "  {BLOB_MB} MB push, paas SSH server        {:>8}  {:>6.1} MB/s  (median of {PUSH_ROUNDS})",
        ms(ours),
        mb_s(ours)
    );
    let figure = format!(
        "`git push` of {BLOB_MB} MB incompressible (with build and deploy), median of {PUSH_ROUNDS}"
    );
    let paired: Vec<(Duration, Duration)> = rounds
        .iter()
        .filter_map(|(ours, peer)| Some((*ours, (*peer)?)))
        .collect();
    if paired.is_empty() {
        println!("  OpenSSH sshd: not installed (apt-get install openssh-server), no ratio");
        paas_tests::bench::figure(&figure, &ms(ours), "OpenSSH sshd not installed: no ratio");
    } else {
        let peer = median(paired.iter().map(|(_, peer)| *peer).collect());
        let ratios: Vec<f64> = paired
            .iter()
            .map(|(ours, peer)| peer.as_secs_f64() / ours.as_secs_f64())
            .collect();
        let ratio = paas_tests::bench::ratio_with_range(ratios);
        println!(
            "  {BLOB_MB} MB push, OpenSSH sshd + git-shell  {:>8}  {:>6.1} MB/s",
            ms(peer),
            mb_s(peer)
        );
        println!(
            "  throughput ratio paas / sshd, median of the rounds' ratios: {ratio}  (target >= 0.9)"
        );
        paas_tests::bench::figure(
            &figure,
            &ms(ours),
            &format!(
                "OpenSSH sshd + git-shell {}: ratio {ratio} (target ≥ 0.9)",
                ms(peer)
            ),
        );
    }
    drop(sshd);

    // Build time of the procfile fixture: each push is a new commit.
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/apps/procfile/Procfile");
    let app = dir.path().join("proc");
    std::fs::create_dir_all(&app).expect("mkdir");
    std::fs::copy(fixture, app.join("Procfile")).expect("copy");
    run(&mut git(&app, &key, &["init", "-q", "-b", "main"]));
    run(&mut git(&app, &key, &["add", "-A"]));
    run(&mut git(&app, &key, &["commit", "-q", "-m", "0"]));
    run(&mut git(
        &app,
        &key,
        &[
            "remote",
            "add",
            "paas",
            &format!("ssh://git@{}/proc.git", server.ssh),
        ],
    ));
    let pushes: Vec<Duration> = (1..=10)
        .map(|i| {
            run(&mut git(
                &app,
                &key,
                &["commit", "-q", "--allow-empty", "-m", &i.to_string()],
            ));
            let start = Instant::now();
            run(&mut git(&app, &key, &["push", "-q", "paas", "main"]));
            start.elapsed()
        })
        .collect();
    let pushes = median(pushes);
    println!(
        "  procfile app, push start -> live, median of 10   {:>8}  (target < 2 s; Heroku and Dokku take tens of seconds)",
        ms(pushes)
    );
    paas_tests::bench::figure(
        "Procfile app, push start → new release live, median of 10",
        &ms(pushes),
        "target < 2 s",
    );

    let runtime = Runtime {
        state_dir: dir.path().join("runc"),
    };
    let rootfs =
        std::fs::canonicalize(server.data_dir().join("stacks/default/rootfs")).expect("stack");
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let starts: Vec<Duration> = (0..10)
        .map(|i| {
            let spec = Spec {
                id: format!("bench-{}-{i}", std::process::id()),
                rootfs: rootfs.clone(),
                readonly_root: true,
                args: vec!["/bin/true".into()],
                env: vec!["PATH=/bin".into()],
                cwd: "/",
                uid: 2000,
                gid: 2000,
                mounts: Vec::new(),
                memory_bytes: 256 << 20,
                pids_limit: 64,
                hostname: "bench",
                terminal: None,
            };
            let (tx, _rx) = tokio::sync::mpsc::channel(16);
            let start = Instant::now();
            rt.block_on(runtime.run(
                &spec,
                &dir.path().join(format!("bundle-{i}")),
                Duration::from_secs(30),
                tx,
            ))
            .expect("run");
            start.elapsed()
        })
        .collect();
    let starts = median(starts);
    println!(
        "  sandbox start overhead (runc /bin/true), median of 10  {:>8}",
        ms(starts)
    );
    paas_tests::bench::figure(
        "sandbox start (runc `/bin/true`), median of 10",
        &ms(starts),
        "",
    );
}

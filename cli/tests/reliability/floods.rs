//! Floods of connections that never log in, against the SSH server: they cannot lock an address
//! out (the oldest waiting one is closed for a new one, and each is closed at the login
//! deadline), and a CI host's many parallel pushes from that address are all served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use paas_tests::{CliEnv, Stack, TestServer};

use super::server_bin;

#[test]
fn idle_ssh_connections_never_lock_an_address_out() {
    let server = TestServer::start(&server_bin());
    server.install_stack(Stack::Busybox);
    let cli = CliEnv::pusher(std::path::Path::new(env!("CARGO_BIN_EXE_paas")), &server);
    let repo = cli.app_repo("static");
    let created = cli
        .command(&["create", "flooded"])
        .current_dir(&repo)
        .output()
        .expect("create");
    assert!(created.status.success(), "{created:?}");
    // 40 connections from this address that send their SSH identification and then nothing,
    // as a scanner or a slow-loris client does (the old limit was 16 per address, held 30 s).
    let idle: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut stream = TcpStream::connect(&server.ssh).expect("connect");
            stream.write_all(b"SSH-2.0-idle\r\n").expect("id");
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
            stream
        })
        .collect();
    // Meanwhile 17 sessions from the same address at once, as a CI host pushing many apps.
    let started = Instant::now();
    let sessions: Vec<bool> = std::thread::scope(|scope| {
        let running: Vec<_> = (0..17)
            .map(|_| {
                scope.spawn(|| {
                    cli.git(&repo, &["ls-remote", "paas"])
                        .output()
                        .is_ok_and(|o| o.status.success())
                })
            })
            .collect();
        running
            .into_iter()
            .map(|r| r.join().expect("thread"))
            .collect()
    });
    let served = sessions.iter().filter(|ok| **ok).count();
    let push = cli
        .git(&repo, &["push", "paas", "main"])
        .output()
        .expect("push");
    // Every idle connection is closed: evicted by newer ones, or at the 10 s login deadline.
    let closed_within: Vec<Duration> = idle
        .into_iter()
        .map(|mut stream| {
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
            started.elapsed()
        })
        .collect();
    let slowest = closed_within.iter().max().copied().unwrap_or_default();
    #[allow(clippy::print_stdout)]
    {
        println!("ssh flood: 40 idle connections from one address, 17 parallel sessions");
        println!(
            "  sessions served: {served}/17; push: {}",
            push.status.success()
        );
        println!(
            "  idle connections closed within {:.1} s",
            slowest.as_secs_f64()
        );
    }
    assert_eq!(served, 17, "{}", server.log());
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert!(slowest < Duration::from_secs(25), "{slowest:?}");
}

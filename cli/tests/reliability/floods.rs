//! Floods of connections that never log in, against the SSH server: they cannot lock an address
//! out (the oldest waiting one is closed for a new one, and each is closed at the login
//! deadline), and a CI host's many parallel pushes from that address are all served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{pushed, with_app};

#[test]
fn idle_ssh_connections_never_lock_an_address_out() {
    let (server, cli, repo) = with_app(&[], "flooded");
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

/// Whether the peer has closed `stream` (a read gives end of file); `stream` is non-blocking.
fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 256];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_and_idle_http_clients_are_closed_at_the_deadline_and_others_served() {
    let (server, cli, repo) = with_app(&["--header-timeout", "2"], "loris");
    pushed(&cli, &repo);
    let api = server.api.trim_start_matches("http://").to_owned();
    // 100 slow-loris clients on the router (a header byte every half second, never done), 100
    // on the API, and 100 idle connections on each.
    let mut flood: Vec<(TcpStream, bool)> = Vec::new();
    for (address, slow) in [
        (&server.router, true),
        (&api, true),
        (&server.router, false),
        (&api, false),
    ] {
        for _ in 0..100 {
            let mut stream = TcpStream::connect(address).expect("connect");
            if slow {
                stream
                    .write_all(b"GET / HTTP/1.1\r\nHost: loris.localhost\r\nX-Slow: ")
                    .expect("write");
            }
            stream.set_nonblocking(true).expect("non-blocking");
            flood.push((stream, slow));
        }
    }
    let started = Instant::now();
    let mut served = 0;
    let mut slowest_answer = Duration::ZERO;
    let mut closed_at: Vec<Option<Duration>> = vec![None; flood.len()];
    while started.elapsed() < Duration::from_secs(8) && closed_at.iter().any(Option::is_none) {
        // Others are served meanwhile, promptly.
        let asked = Instant::now();
        let router_ok = std::process::Command::new("curl")
            .args([
                "-fsS",
                "-o",
                "/dev/null",
                "-m",
                "5",
                "-H",
                "Host: loris.localhost",
            ])
            .arg(format!("http://{}/", server.router))
            .status()
            .is_ok_and(|s| s.success());
        let api_ok = std::process::Command::new("curl")
            .args(["-fsS", "-o", "/dev/null", "-m", "5"])
            .arg(format!("{}/healthz", server.api))
            .status()
            .is_ok_and(|s| s.success());
        slowest_answer = slowest_answer.max(asked.elapsed());
        served += usize::from(router_ok) + usize::from(api_ok);
        for (index, (stream, slow)) in flood.iter_mut().enumerate() {
            if closed_at[index].is_some() {
                continue;
            }
            if *slow {
                let _ = stream.write_all(b"x");
            }
            if closed(stream) {
                closed_at[index] = Some(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let open = closed_at.iter().filter(|c| c.is_none()).count();
    let last = closed_at
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or_default();
    #[allow(clippy::print_stdout)]
    {
        println!(
            "http flood: 200 slow-loris and 200 idle connections on the router and the API, --header-timeout 2"
        );
        println!(
            "  closed: {}/400, the last after {:.1} s",
            400 - open,
            last.as_secs_f64()
        );
        println!(
            "  other requests served meanwhile: {served}, slowest {:.0} ms",
            slowest_answer.as_secs_f64() * 1000.0
        );
    }
    assert_eq!(open, 0, "connections never closed");
    assert!(last < Duration::from_secs(6), "{last:?}");
    assert!(served >= 4, "{served}");
    assert!(
        slowest_answer < Duration::from_secs(2),
        "{slowest_answer:?}"
    );
}

/// A connection to `to` from source address `from` (any 127.0.0.0/8 address is this host's).
fn connect_from(from: &str, to: &str) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let source: std::net::SocketAddr = format!("{from}:0").parse().expect("address");
    socket.bind(&source.into())?;
    let target: std::net::SocketAddr = to.parse().expect("address");
    socket.connect(&target.into())?;
    Ok(socket.into())
}

#[test]
fn one_address_holds_at_most_a_quarter_of_a_listeners_connections() {
    let server = paas_tests::TestServer::start(&super::server_bin());
    let api = server.api.trim_start_matches("http://").to_owned();
    // 400 idle connections from one address: more than its share of the API's budget (at most
    // 1,024, a quarter per address). Those beyond the share are told 503 and closed at once.
    let mut flood: Vec<TcpStream> = (0..400)
        .map(|_| connect_from("127.0.0.2", &api).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut refused = 0;
    let mut told_503 = 0;
    for stream in &mut flood {
        stream.set_nonblocking(true).expect("non-blocking");
        let mut answer = Vec::new();
        let mut buffer = [0u8; 512];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) if !answer.is_empty() => break,
                Ok(0) => {
                    refused += 1;
                    break;
                }
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        if answer.starts_with(b"HTTP/1.1 503 ") {
            refused += 1;
            told_503 += 1;
        }
    }
    let held = flood.len() - refused;
    // Another address is served meanwhile.
    let other = std::process::Command::new("curl")
        .args(["-fsS", "-o", "/dev/null", "-m", "5"])
        .arg(format!("{}/healthz", server.api))
        .status()
        .is_ok_and(|s| s.success());
    #[allow(clippy::print_stdout)]
    {
        println!("http flood from one address: 400 idle connections to the API");
        println!(
            "  held: {held}, refused: {refused} ({told_503} told 503), another address served: {other}"
        );
    }
    assert!(refused > 0 && held > 0, "held {held}, refused {refused}");
    assert!(held <= 256, "{held}");
    assert_eq!(told_503, refused, "every refused connection is told why");
    assert!(other, "{}", server.log());
    assert!(
        server
            .log()
            .contains("this address's share of the connection budget is spent"),
        "{}",
        server.log()
    );
}

#[test]
fn a_session_beyond_an_addresses_share_is_told_why() {
    let (server, cli, repo) = with_app(&[], "crowded");
    let keys = [cli.ssh_key()];
    let mut held: Vec<std::process::Child> = Vec::new();
    for _ in 0..4 {
        let batch: Vec<std::process::Child> = std::thread::scope(|scope| {
            let starting: Vec<_> = (0..16)
                .map(|_| {
                    scope.spawn(|| server.hold_git_session(&keys, "git-upload-pack 'crowded'"))
                })
                .collect();
            starting
                .into_iter()
                .map(|s| s.join().expect("ssh thread"))
                .collect()
        });
        held.extend(batch);
    }
    let crowded = cli
        .git(&repo, &["ls-remote", "paas"])
        .output()
        .expect("ls-remote");
    let said = String::from_utf8_lossy(&crowded.stderr).into_owned();
    let mut one = held.pop().expect("held");
    let _ = one.kill();
    let _ = one.wait();
    let started = Instant::now();
    let served_again = loop {
        let again = cli
            .git(&repo, &["ls-remote", "paas"])
            .output()
            .expect("ls-remote");
        if again.status.success() || started.elapsed() > Duration::from_secs(10) {
            break again.status.success();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for mut session in held {
        let _ = session.kill();
        let _ = session.wait();
    }
    #[allow(clippy::print_stdout)]
    {
        println!(
            "ssh sessions from one address: 64 held, the 65th told: {}",
            said.trim()
        );
    }
    assert!(!crowded.status.success());
    assert!(
        said.contains(
            "your address has 64 SSH sessions open already; try again when some have ended"
        ),
        "{said}"
    );
    assert!(served_again, "one ended: the next is served");
}

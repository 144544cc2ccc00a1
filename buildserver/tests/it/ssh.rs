//! Tests for the SSH server with a raw SSH client (russh): what exec requests are refused, that
//! refusals spawn nothing, channel message order, and which channel requests are declined.

use std::sync::Arc;

use russh::client::{self, Handle};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use serde_json::json;

use super::{Http, server};

struct AnyHost;

impl client::Handler for AnyHost {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// A fresh ed25519 key registered for the admin, as (private key path, temp dir).
fn registered_key(http: &Http) -> (std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("id_ed25519");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    assert_eq!(
        http.send("POST", "/account/keys", &json!({"public_key": public}))
            .0,
        201
    );
    (path, dir)
}

async fn connect(addr: &str, key: &std::path::Path) -> Handle<AnyHost> {
    connect_as(addr, key, "git").await
}

async fn connect_as(addr: &str, key: &std::path::Path, login: &str) -> Handle<AnyHost> {
    let mut session = client::connect(Arc::new(client::Config::default()), addr, AnyHost)
        .await
        .expect("connect");
    let key = russh::keys::load_secret_key(key, None).expect("load key");
    let auth = session
        .authenticate_publickey(login, PrivateKeyWithHashAlg::new(Arc::new(key), None))
        .await
        .expect("auth");
    assert!(auth.success(), "the registered key logs in");
    session
}

/// What one exec produced.
#[derive(Debug, Default)]
struct Run {
    stdout: Vec<u8>,
    stderr: String,
    exit: Option<u32>,
    /// Message kinds in arrival order.
    order: Vec<&'static str>,
}

async fn exec(
    session: &Handle<AnyHost>,
    command: &[u8],
    env: Option<(&str, &str)>,
    stdin: &[u8],
) -> Run {
    let mut channel = session.channel_open_session().await.expect("open channel");
    if let Some((name, value)) = env {
        channel.set_env(false, name, value).await.expect("env");
    }
    channel.exec(true, command.to_vec()).await.expect("exec");
    if !stdin.is_empty() {
        channel.data(stdin).await.expect("data");
    }
    channel.eof().await.expect("eof");
    let mut run = Run::default();
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => {
                run.order.push("data");
                run.stdout.extend_from_slice(&data);
            }
            ChannelMsg::ExtendedData { data, .. } => {
                run.order.push("stderr");
                run.stderr.push_str(&String::from_utf8_lossy(&data));
            }
            ChannelMsg::ExitStatus { exit_status } => {
                run.order.push("exit-status");
                run.exit = Some(exit_status);
            }
            ChannelMsg::Success => run.order.push("success"),
            ChannelMsg::Failure => run.order.push("failure"),
            ChannelMsg::Eof => run.order.push("eof"),
            ChannelMsg::Close => {
                run.order.push("close");
                break;
            }
            _ => {}
        }
    }
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_log_in_as_git_and_other_names_are_told_so() {
    let server = server();
    let http = Http::admin(&server);
    assert_eq!(http.send("POST", "/apps", &json!({"name": "demo"})).0, 201);
    let (key, _dir) = registered_key(&http);
    let session = connect_as(&server.ssh, &key, "root").await;
    let run = exec(&session, b"git-upload-pack 'demo'", None, b"").await;
    assert_eq!(run.exit, Some(1));
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(
        said.contains(
            "ERR log in as git, not \"root\": the remote is ssh://git@HOST:PORT/demo.git"
        ),
        "{said}"
    );
    let session = connect(&server.ssh, &key).await;
    let run = exec(&session, b"git-upload-pack 'demo'", None, b"0000").await;
    assert_eq!(run.exit, Some(0), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_exec_requests_spawn_nothing() {
    let server = server();
    let http = Http::admin(&server);
    assert_eq!(http.send("POST", "/apps", &json!({"name": "demo"})).0, 201);
    let (key, _dir) = registered_key(&http);
    let session = connect(&server.ssh, &key).await;
    let long = format!("git-receive-pack '{}'", "a".repeat(10 * 1024));
    let bad_paths: Vec<&[u8]> = vec![
        b"git-receive-pack '../../etc'",
        b"git-receive-pack '..'",
        b"git-receive-pack '/etc/passwd'",
        b"git-receive-pack 'a/b'",
        b"git-receive-pack 'App'",
        b"git-receive-pack 'app;id'",
        b"git-receive-pack '$(id)'",
        b"git-receive-pack '--upload-pack=x'",
        b"git-receive-pack demo",
        b"git-receive-pack 'demo",
        b"git-receive-pack 'demo' extra",
        b"git-receive-pack 'demo\0'",
        b"git-receive-pack 'demo\n'",
        "git-receive-pack 'dеmo'".as_bytes(),
        long.as_bytes(),
    ];
    let repos_before = std::fs::read_dir(server.data_dir().join("repos"))
        .expect("repos")
        .count();
    for command in bad_paths {
        let run = exec(&session, command, None, b"").await;
        assert_eq!(run.exit, Some(1), "{:?}", String::from_utf8_lossy(command));
        assert!(
            run.stderr
                .starts_with("paas: invalid repository path: use '<app>.git'"),
            "{}",
            run.stderr
        );
        assert_eq!(
            run.order,
            ["success", "stderr", "exit-status", "eof", "close"]
        );
    }
    for command in [
        &b"ls"[..],
        b"sh -c id",
        b"scp -t /",
        b"git-upload-archive 'demo'",
    ] {
        let run = exec(&session, command, None, b"").await;
        assert_eq!(run.exit, Some(1));
        assert!(
            run.stderr
                .starts_with("paas: only git push and git clone are supported"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(
        std::fs::read_dir(server.data_dir().join("repos"))
            .expect("repos")
            .count(),
        repos_before
    );
    assert_eq!(
        server.children(),
        Vec::<String>::new(),
        "no process was spawned"
    );
    session
        .disconnect(Disconnect::ByApplication, "", "")
        .await
        .expect("disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shells_ptys_and_subsystems_are_declined() {
    let server = server();
    let http = Http::admin(&server);
    let (key, _dir) = registered_key(&http);
    let session = connect(&server.ssh, &key).await;

    let mut channel = session.channel_open_session().await.expect("open");
    channel
        .request_pty(true, "xterm", 80, 24, 0, 0, &[])
        .await
        .expect("pty");
    assert!(matches!(channel.wait().await, Some(ChannelMsg::Failure)));
    channel.request_shell(true).await.expect("shell");
    let mut stderr = String::new();
    let mut exit = None;
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::ExtendedData { data, .. } => {
                stderr.push_str(&String::from_utf8_lossy(&data))
            }
            ChannelMsg::ExitStatus { exit_status } => exit = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    assert_eq!(exit, Some(1));
    assert_eq!(
        stderr,
        "paas: hi admin! You are authenticated, but paas offers no shell; deploy with `git push`\n"
    );

    let channel = session.channel_open_session().await.expect("open");
    channel
        .request_subsystem(true, "sftp")
        .await
        .expect("subsystem");
    let mut channel = channel;
    assert!(matches!(channel.wait().await, Some(ChannelMsg::Failure)));
    assert_eq!(server.children(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_environment_never_reaches_git() {
    let server = server();
    let http = Http::admin(&server);
    assert_eq!(http.send("POST", "/apps", &json!({"name": "demo"})).0, 201);
    let (key, _dir) = registered_key(&http);
    let session = connect(&server.ssh, &key).await;
    // If LD_PRELOAD reached git, the dynamic loader would complain on stderr.
    // A flush packet: "no updates", so that receive-pack ends cleanly.
    let env = Some(("LD_PRELOAD", "/nonexistent/paas-test.so"));
    let run = exec(&session, b"git-receive-pack 'demo'", env, b"0000").await;
    assert_eq!(run.exit, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("LD_PRELOAD"), "{}", run.stderr);
    // receive-pack advertised (no) refs and its capabilities, then saw our EOF and ended.
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("report-status"),
        "{:?}",
        run.stdout
    );
    let tail: Vec<_> = run
        .order
        .iter()
        .filter(|k| **k != "data" && **k != "stderr")
        .collect();
    assert_eq!(
        tail,
        [&"success", &"exit-status", &"eof", &"close"],
        "exit-status, then EOF, then close"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_are_refused_and_attempts_are_limited() {
    let server = server();
    let mut session = client::connect(
        Arc::new(client::Config::default()),
        server.ssh.as_str(),
        AnyHost,
    )
    .await
    .expect("connect");
    let mut refused = 0;
    let mut disconnected = false;
    for _ in 0..10 {
        let key = russh::keys::PrivateKey::from(
            russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&rand_seed()),
        );
        match session
            .authenticate_publickey("git", PrivateKeyWithHashAlg::new(Arc::new(key), None))
            .await
        {
            Ok(result) if !result.success() => refused += 1,
            Ok(_) => panic!("an unknown key logged in"),
            Err(_) => {
                disconnected = true;
                break;
            }
        }
    }
    // Seven attempts are answered (an OpenSSH client's first is the `none` method, then six
    // keys); the eighth is met with a disconnect (which the client may still report as a refusal
    // before its next attempt fails).
    assert!(
        disconnected && (7..=8).contains(&refused),
        "refused {refused}, disconnected {disconnected}"
    );
}

fn rand_seed() -> [u8; 32] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = (nanos >> ((i % 16) * 8)) as u8 ^ i as u8;
    }
    seed
}

#[test]
fn connections_waiting_to_log_in_are_bounded_and_the_oldest_make_room() {
    use std::io::Read;
    let server = server();
    let banner = |stream: &mut std::net::TcpStream| {
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 4];
        stream
            .read(&mut buf)
            .map(|n| buf[..n].to_vec())
            .unwrap_or_default()
    };
    // A burst (parallel pushes starting together) is let in, up to 64 from one address.
    let mut open: Vec<std::net::TcpStream> = Vec::new();
    for _ in 0..64 {
        let mut stream = std::net::TcpStream::connect(&server.ssh).expect("connect");
        assert_eq!(banner(&mut stream), b"SSH-");
        open.push(stream);
    }
    let mut refused = std::net::TcpStream::connect(&server.ssh).expect("connect");
    assert_eq!(
        banner(&mut refused),
        b"paas",
        "the 65th young connection is told why and closed at once"
    );
    let mut why = String::new();
    let _ = refused.read_to_string(&mut why);
    assert!(
        why.starts_with(": too many connections from your address are waiting to log in"),
        "{why}"
    );
    // Once they have waited, a new connection closes the oldest instead of being refused: idle
    // connections cannot lock the address out.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let mut newer = std::net::TcpStream::connect(&server.ssh).expect("connect");
    assert_eq!(banner(&mut newer), b"SSH-");
    // The oldest reaches its end (before the 10 s login deadline; the read times out at 5 s).
    let mut rest = Vec::new();
    assert!(
        open[0].read_to_end(&mut rest).is_ok(),
        "the oldest is closed"
    );
    drop(open);
}

#[test]
fn a_client_that_never_logs_in_is_dropped_after_10_seconds() {
    use std::io::{Read, Write};
    let server = server();
    let mut stream = std::net::TcpStream::connect(&server.ssh).expect("connect");
    stream
        .write_all(b"SSH-2.0-idle_test\r\n")
        .expect("send our id");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    let start = std::time::Instant::now();
    let mut sink = Vec::new();
    // The server's id and key exchange arrive, then nothing, then the connection closes.
    let _ = stream.read_to_end(&mut sink);
    let waited = start.elapsed();
    assert!(
        sink.starts_with(b"SSH-2.0-"),
        "{:?}",
        String::from_utf8_lossy(&sink[..sink.len().min(40)])
    );
    assert!(
        (8..20).contains(&waited.as_secs()),
        "closed after {waited:?}"
    );
}

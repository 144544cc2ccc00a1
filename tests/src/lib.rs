//! Fixtures for the paas crates' integration tests: a real `paas-buildserver` on port 0 with a
//! temporary data dir ([`TestServer`]), and `paas` runs in an isolated HOME ([`CliEnv`]).
//!
//! Every process started here is stopped by its own pid when its fixture is dropped, also when a
//! test fails.

pub mod acme;
pub mod bench;
pub mod k8s;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use regex::Regex;
use tempfile::TempDir;

/// Waits up to five seconds for something to listen on `127.0.0.1:port`; whether it did.
pub fn wait_for_port(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// A binary built next to `sibling` (a `CARGO_BIN_EXE_*` path): cargo builds every workspace binary
/// before running `--workspace` tests, but only names its own package's binaries.
pub fn bin_next_to(sibling: &str, name: &str) -> PathBuf {
    let path = Path::new(sibling).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `--workspace` so it gets built",
        path.display()
    );
    path
}

/// A tmpfs of `size` (mount's syntax: `48m`) mounted over a directory until dropped (then lazily
/// unmounted, so that a panic with a server still using it leaves nothing mounted), for tests of
/// a full disk. Needs root, as the server itself does.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount_over(dir: &Path, size: &str) -> Self {
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "paas-test",
            ])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(status.success(), "mount tmpfs");
        Self(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A port free on 127.0.0.1 now (bound, then let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// An HTTP client that trusts only the CA certificates in `ca_pem` (a test server's own CA), goes
/// through no proxy, answers with every status (not an error) and gives up after `timeout`.
pub fn agent_trusting(ca_pem: &[u8], timeout: Duration) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
            ureq::tls::Certificate::from_pem(ca_pem).expect("a PEM certificate"),
        ])))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// A running `paas-buildserver serve`.
pub struct TestServer {
    bin: PathBuf,
    child: Option<Child>,
    dir: TempDir,
    /// `http://127.0.0.1:PORT`
    pub api: String,
    /// `127.0.0.1:PORT` of the git-over-SSH listener.
    pub ssh: String,
    /// `127.0.0.1:PORT` of the router.
    pub router: String,
    /// `127.0.0.1:PORT` of the router's TLS listener.
    pub router_tls: String,
    /// `127.0.0.1:PORT` of the Prometheus listener, when started with `--metrics-listen`.
    pub metrics: Option<String>,
    /// The server's stderr, for failure messages.
    log: PathBuf,
    /// `--api-listen` and `--ssh-listen`: port 0 at first, the same ports after a restart.
    api_listen: String,
    ssh_listen: String,
    router_listen: String,
    router_tls_listen: String,
    /// The flags and environment it started with, for a restart.
    extra: Vec<String>,
    env: Vec<(String, String)>,
}

impl TestServer {
    pub fn start(bin: &Path) -> Self {
        Self::start_with(bin, &[], &[])
    }

    /// Starts the server with extra flags and environment variables on a fresh data dir.
    pub fn start_with(bin: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_with_router(bin, "127.0.0.1:0", extra, env)
    }

    /// As [`TestServer::start_with`], with the router's HTTP listener on `router_listen`: a port
    /// picked beforehand ([`free_port`]) for a peer that must know it first, as an ACME server
    /// validating HTTP-01 does.
    pub fn start_with_router(
        bin: &Path,
        router_listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let mut server = Self {
            bin: bin.to_owned(),
            child: None,
            dir,
            api: String::new(),
            ssh: String::new(),
            router: String::new(),
            router_tls: String::new(),
            metrics: None,
            log,
            api_listen: "127.0.0.1:0".to_owned(),
            ssh_listen: "127.0.0.1:0".to_owned(),
            router_listen: router_listen.to_owned(),
            router_tls_listen: "127.0.0.1:0".to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        server.launch();
        server
    }

    /// A directory that lives as long as the server, for config files and the like.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The ids of the server's build containers, as runc lists them.
    pub fn build_containers(&self) -> Vec<String> {
        self.runc_list("run/runc")
    }

    /// The ids of the server's dyno containers (one-off dynos and add-on services included), as
    /// runc lists them.
    pub fn dyno_containers(&self) -> Vec<String> {
        self.runc_list("run/runc-dynos")
    }

    fn runc_list(&self, state_dir: &str) -> Vec<String> {
        let output = Command::new("runc")
            .arg("--root")
            .arg(self.data_dir().join(state_dir))
            .args(["list", "-q"])
            .output()
            .expect("runc list");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("admin-token"))
            .expect("admin-token")
            .trim()
            .to_owned()
    }

    /// A `serve` command on this server's data dir, port 0 and a ready file.
    pub fn serve_command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args([
                "--api-listen",
                &self.api_listen,
                "--ssh-listen",
                &self.ssh_listen,
                "--router-listen",
                &self.router_listen,
                "--router-tls-listen",
                &self.router_tls_listen,
            ])
            .arg("--ready-file")
            .arg(self.ready_file())
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd
    }

    fn ready_file(&self) -> PathBuf {
        self.dir.path().join("ready.json")
    }

    fn launch(&mut self) {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let _ = std::fs::remove_file(self.ready_file());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = self
            .serve_command(&extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stderr(log)
            .spawn()
            .expect("spawn paas-buildserver");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(self.ready_file()) {
                let ready: serde_json::Value =
                    serde_json::from_str(&text).expect("ready file is JSON");
                self.api = format!("http://{}", ready["api"].as_str().expect("api address"));
                self.ssh = ready["ssh"].as_str().expect("ssh address").to_owned();
                self.router = ready["router"].as_str().expect("router address").to_owned();
                self.router_tls = ready["router_tls"]
                    .as_str()
                    .expect("router_tls address")
                    .to_owned();
                self.metrics = ready["metrics"].as_str().map(str::to_owned);
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("wait"))
            {
                panic!(
                    "paas-buildserver exited with {status} before it was ready:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "paas-buildserver not ready after 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// PID of the server process.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(
            i32::try_from(self.child.as_ref().expect("server running").id()).expect("pid fits"),
        )
    }

    /// `ssh git@host COMMAND` (OpenSSH, `keys` offered in turn), held open once the command's
    /// first bytes (git's ref advertisement) have arrived: a git session that has started and not
    /// finished. Its stdin is piped; dropping it or killing the child ends the session.
    pub fn hold_git_session(&self, keys: &[PathBuf], command: &str) -> Child {
        let (host, port) = self.ssh.rsplit_once(':').expect("host:port");
        let mut child = Command::new("ssh")
            .args(["-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
            .args(
                keys.iter()
                    .flat_map(|key| [std::ffi::OsStr::new("-i"), key.as_os_str()]),
            )
            .args(["-p", port, &format!("git@{host}"), command])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh");
        let mut first = [0u8; 4];
        std::io::Read::read_exact(child.stdout.as_mut().expect("stdout"), &mut first)
            .expect("the command's first bytes");
        child
    }

    /// PIDs of the server's child processes (across all its threads).
    pub fn children(&self) -> Vec<String> {
        let pid = self.pid().as_raw();
        let mut all = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("tasks")
            .flatten()
        {
            let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(text.split_whitespace().map(str::to_owned));
        }
        all
    }

    /// Sends `signal` and waits for the server to exit.
    pub fn stop(&mut self, signal: Signal) -> ExitStatus {
        kill(self.pid(), signal).expect("signal the server");

        self.child
            .take()
            .expect("server running")
            .wait()
            .expect("wait for the server")
    }

    /// Starts the server again on the same data dir and ports, with the same flags.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        self.api_listen = self.api.trim_start_matches("http://").to_owned();
        self.ssh_listen = self.ssh.clone();
        self.router_listen = self.router.clone();
        self.router_tls_listen = self.router_tls.clone();
        self.launch();
    }
}

/// A build stack for a test server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// The host's static busybox: built in milliseconds, enough for static and Procfile apps.
    Busybox,
    /// Debian bookworm (Python 3.11, Node 18) and its build image: built once per recipe
    /// (minutes, downloads from Debian) into the shared cache ([`stack_cache`]).
    Bookworm,
    /// Debian trixie (Python 3.13, Node 20), cached the same way.
    Trixie,
    /// The add-ons' services image (PostgreSQL 15, Redis 7), cached the same way; never the
    /// server's default stack.
    Services,
}

impl TestServer {
    /// Gives the server a stack; the first one it gets is its default.
    pub fn install_stack(&self, stack: Stack) {
        let name = match stack {
            Stack::Busybox => {
                self.stack_command(&["build", "--recipe", "busybox"]);
                return;
            }
            Stack::Bookworm => "bookworm",
            Stack::Trixie => "trixie",
            Stack::Services => "services",
        };
        let cached = debian_stack(&self.bin, name);
        std::fs::create_dir_all(self.data_dir().join("stacks")).expect("stacks dir");
        std::os::unix::fs::symlink(cached, self.data_dir().join("stacks").join(name))
            .expect("link the stack");
        if stack != Stack::Services
            && std::fs::symlink_metadata(self.data_dir().join("stacks/default")).is_err()
        {
            self.stack_command(&["default", name]);
        }
    }

    /// Runs `paas-buildserver stack ARGS` on the server's data dir, which must succeed.
    fn stack_command(&self, args: &[&str]) {
        let output = Command::new(&self.bin)
            .arg("stack")
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .output()
            .expect("run paas-buildserver stack");
        assert!(
            output.status.success(),
            "stack {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The data dir that caches the Debian stacks for every test and run: `$PAAS_TEST_STACK_CACHE`
/// (set by `scripts/test`, which makes them before the tests start), else
/// `$XDG_CACHE_HOME/paas-tests/stacks`.
fn stack_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("PAAS_TEST_STACK_CACHE") {
        return PathBuf::from(dir);
    }
    cache_dir().join("paas-tests/stacks")
}

/// `$XDG_CACHE_HOME`, else `~/.cache`: where tests keep what is slow to make (stacks, tools).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"))
}

/// Cached Debian stack `name` (its directory), made under a lock when it is missing or its recipe
/// changed (`stack build --keep-current`), and trusting the host's CAs as they are now.
fn debian_stack(bin: &Path, name: &str) -> PathBuf {
    let cache = stack_cache();
    std::fs::create_dir_all(&cache).expect("cache dir");
    let lock = std::fs::File::create(cache.join(".lock")).expect("lock file");
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .expect("lock the stack cache");
    for args in [
        &["build", "--recipe", name, "--keep-current"][..],
        // A stack cached before the host's CAs changed trusts them now; instant otherwise.
        &["update-ca"][..],
    ] {
        let output = Command::new(bin)
            .arg("stack")
            .args(args)
            .arg("--data-dir")
            .arg(&cache)
            .output()
            .expect("run paas-buildserver stack");
        assert!(
            output.status.success(),
            "stack {args:?} failed (the Debian stacks need debootstrap and deb.debian.org):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    cache.join("stacks").join(name)
}

impl Drop for TestServer {
    /// SIGTERM first, so that the server stops its dynos and unmounts their filesystems; SIGKILL
    /// if it has not exited after 30 s.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(30));
        }
    }
}

/// Stops a child process: SIGTERM, then SIGKILL if it is still there after `grace`.
pub fn stop_child(child: &mut Child, grace: Duration) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Debian's `docker-registry` (distribution) on a loopback port with filesystem storage.
pub struct TestRegistry {
    child: Child,
    _dir: TempDir,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

impl TestRegistry {
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// A registry that wants HTTP Basic auth for `user`:`password` (bcrypt cost 4, for speed).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Self {
        Self::launch(Some((user, password)))
    }

    fn launch(login: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.path().join("storage").display()
            ),
        )
        .expect("write registry config");
        if let Some((user, password)) = login {
            let output = Command::new("htpasswd")
                .args(["-Bbn", "-C", "4", user, password])
                .output()
                .expect("htpasswd (apt-get install apache2-utils)");
            assert!(output.status.success());
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, &output.stdout).expect("write htpasswd");
            let mut text = std::fs::read_to_string(&config).expect("config");
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: paas-test\n    path: {}\n",
                htpasswd.display()
            ));
            std::fs::write(&config, text).expect("write registry config");
        }
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (apt-get install docker-registry)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            _dir: dir,
            addr,
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A canned answer a [`FaultyProxy`] gives instead of forwarding, a number of times.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: &'static str,
    /// A request matches when its path contains this.
    pub path_contains: &'static str,
    pub times: usize,
    /// The whole HTTP response, head and body.
    pub response: String,
}

/// An HTTP/1.1 proxy in front of a real server that answers some requests with [`Fault`]s: a
/// registry that fails the way real ones do, on demand.
pub struct FaultyProxy {
    pub addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    faults: std::sync::Arc<std::sync::Mutex<Vec<Fault>>>,
}

impl FaultyProxy {
    pub fn start(upstream: &str, faults: Vec<Fault>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let faults = std::sync::Arc::new(std::sync::Mutex::new(faults));
        let (upstream, stopping, all_faults) = (
            upstream.to_owned(),
            std::sync::Arc::clone(&stop),
            std::sync::Arc::clone(&faults),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (upstream, faults) = (upstream.clone(), std::sync::Arc::clone(&faults));
                std::thread::spawn(move || proxy_connection(client, &upstream, &faults));
            }
        });
        Self {
            addr,
            stop,
            faults: all_faults,
        }
    }

    /// Answers with `faults` from now on, instead of the ones before.
    pub fn set_faults(&self, faults: Vec<Fault>) {
        *self.faults.lock().expect("faults") = faults;
    }

    /// How many more times each fault would answer (in the order given).
    pub fn remaining(&self) -> Vec<usize> {
        self.faults
            .lock()
            .expect("faults")
            .iter()
            .map(|f| f.times)
            .collect()
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(&self.addr);
    }
}

/// Serves one client connection, one request at a time, closing after each answer.
fn proxy_connection(
    mut client: std::net::TcpStream,
    upstream: &str,
    faults: &std::sync::Mutex<Vec<Fault>>,
) {
    use std::io::{BufRead, Read, Write};
    let mut reader = std::io::BufReader::new(client.try_clone().expect("clone"));
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            return;
        }
        let end = line == b"\r\n";
        head.extend_from_slice(&line);
        if end {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split_whitespace();
    let (method, path) = (
        words.next().unwrap_or("").to_owned(),
        words.next().unwrap_or("").to_owned(),
    );
    let length: usize = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let chunked = text
        .to_ascii_lowercase()
        .contains("\ntransfer-encoding: chunked");
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    // A chunked body (a streamed upload), relayed as it came: its chunks up to the last one
    // and the empty line after it.
    let mut last = !chunked;
    while !last {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            return;
        }
        let digits = String::from_utf8_lossy(&line);
        let digits = digits.trim().split(';').next().unwrap_or("");
        let Ok(size) = usize::from_str_radix(digits, 16) else {
            return;
        };
        body.extend_from_slice(&line);
        last = size == 0;
        let mut data = vec![0u8; if last { 2 } else { size + 2 }];
        if reader.read_exact(&mut data).is_err() {
            return;
        }
        body.extend_from_slice(&data);
    }
    let canned = {
        let mut faults = faults.lock().expect("faults");
        faults
            .iter_mut()
            .find(|f| f.times > 0 && f.method == method && path.contains(f.path_contains))
            .map(|f| {
                f.times -= 1;
                f.response.clone()
            })
    };
    if let Some(response) = canned {
        let _ = client.write_all(response.as_bytes());
        return;
    }
    let Ok(mut server) = std::net::TcpStream::connect(upstream) else {
        return;
    };
    // One request per upstream connection: ask it to close, and relay until it does.
    let head = text
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        .trim_end()
        .to_owned()
        + "\r\nConnection: close\r\n\r\n";
    let _ = server.write_all(head.as_bytes());
    let _ = server.write_all(&body);
    let mut response = Vec::new();
    let _ = server.read_to_end(&mut response);
    let _ = client.write_all(&response);
}

/// `paas` runs with their own HOME, no colour, and the server in `PAAS_HOST`.
pub struct CliEnv {
    bin: PathBuf,
    home: TempDir,
    host: String,
}

impl CliEnv {
    pub fn new(bin: &Path, host: &str) -> Self {
        Self {
            bin: bin.to_owned(),
            home: tempfile::tempdir().expect("temp dir"),
            host: host.to_owned(),
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// A `paas` command with a clean environment, run from `cwd` (default: HOME).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("NO_COLOR", "1")
            .env("PAAS_HOST", &self.host)
            .current_dir(self.home())
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run paas")
    }

    /// Runs `paas`, asserts success, and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "paas {args:?} failed:\n{}",
            transcript(&output)
        );
        String::from_utf8(output.stdout).expect("utf-8 stdout")
    }

    /// Logs in with `token` through `--token-stdin`.
    pub fn login(&self, token: &str) {
        let mut child = self
            .command(&["login", "--token-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run paas login");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), token.as_bytes())
            .expect("write token");
        let output = child.wait_with_output().expect("paas login");
        assert!(
            output.status.success(),
            "paas login failed:\n{}",
            transcript(&output)
        );
    }
}

/// Fixed identity and dates, so that fixture commits have the same ids in every run.
/// When test commits are made, unless a test says otherwise: one commit, one image.
const GIT_DATE: &str = "2026-01-01T00:00:00Z";
const GIT_ENV: &[(&str, &str)] = &[
    ("GIT_AUTHOR_NAME", "Test"),
    ("GIT_AUTHOR_EMAIL", "test@example.com"),
    ("GIT_AUTHOR_DATE", GIT_DATE),
    ("GIT_COMMITTER_NAME", "Test"),
    ("GIT_COMMITTER_EMAIL", "test@example.com"),
    ("GIT_COMMITTER_DATE", GIT_DATE),
    ("GIT_CONFIG_NOSYSTEM", "1"),
];

impl CliEnv {
    /// A CLI logged in to `server` as the admin, with an SSH key registered: ready to `git push`.
    pub fn pusher(bin: &Path, server: &TestServer) -> Self {
        let cli = Self::new(bin, &server.api);
        cli.login(&server.admin_token());
        cli.ssh_key();
        cli.ok(&["keys", "add"]);
        cli
    }

    /// `git add -A && git commit -m MESSAGE` in `repo`.
    pub fn commit_all(&self, repo: &Path, message: &str) {
        self.commit_all_at(repo, message, GIT_DATE);
    }

    /// [`CliEnv::commit_all`] as of `date` (its author and committer date, ISO 8601), where a
    /// test needs commits made at different times.
    pub fn commit_all_at(&self, repo: &Path, message: &str, date: &str) {
        for args in [
            &["add", "-A"][..],
            &["commit", "-q", "--allow-empty", "-m", message],
        ] {
            let output = self
                .git(repo, args)
                .env("GIT_AUTHOR_DATE", date)
                .env("GIT_COMMITTER_DATE", date)
                .output()
                .expect("git");
            assert!(
                output.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// `~/.ssh/id_ed25519`, generated on first use.
    pub fn ssh_key(&self) -> PathBuf {
        let key = self.home().join(".ssh/id_ed25519");
        if !key.exists() {
            std::fs::create_dir_all(key.parent().expect("dir")).expect("mkdir .ssh");
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "test@paas", "-f"])
                .arg(&key)
                .status()
                .expect("ssh-keygen");
            assert!(status.success());
        }
        key
    }

    /// A git command run in `dir` with this user's SSH key and no host key checks.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Command {
        let ssh = format!(
            "ssh -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            self.ssh_key().display()
        );
        let mut cmd = Command::new("git");
        cmd.args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("GIT_SSH_COMMAND", ssh)
            .envs(GIT_ENV.iter().copied())
            .stdin(Stdio::null());
        cmd
    }

    /// Copies fixture app `name` (tests/fixtures/apps/NAME) into HOME and commits it on `main`.
    pub fn app_repo(&self, name: &str) -> PathBuf {
        self.app_repo_in(name, name)
    }

    /// Fixture app `name` as a git repository in `$HOME/<dir>` (two copies of one fixture).
    pub fn app_repo_in(&self, name: &str, dir: &str) -> PathBuf {
        let repo = self.home().join(dir);
        copy_fixture(name, &repo);
        for args in [
            &["init", "-q", "-b", "main"][..],
            &["add", "-A"],
            &["commit", "-q", "-m", name],
        ] {
            let output = self.git(&repo, args).output().expect("git");
            assert!(
                output.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        repo
    }
}

/// Copies fixture app `name` (tests/fixtures/apps/NAME) to `to`, as plain files.
pub fn copy_fixture(name: &str, to: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/apps")
        .join(name);
    assert!(source.is_dir(), "no fixture app {name}");
    copy_tree(&source, to);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Exit code, stdout and stderr in one text, with run-specific values redacted: ports, ids,
/// timestamps, tokens, fingerprints and temp paths.
pub fn transcript(output: &Output) -> String {
    let text = format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output
            .status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    redact(&text)
}

pub fn redact(text: &str) -> String {
    static RULES: LazyLock<Vec<(Regex, &str)>> = LazyLock::new(|| {
        [
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]"),
            (
                r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                "[ID]",
            ),
            (r"paas_[0-9a-f]{16}_[0-9a-f]{64}", "[TOKEN]"),
            (r"SHA256:[A-Za-z0-9+/]{43}", "SHA256:[FINGERPRINT]"),
            (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
            (r"localhost:\d+", "localhost:[PORT]"),
            (r"on port \d+", "on port [PORT]"),
            (r"/tmp/\.tmp[A-Za-z0-9]+", "[TEMP]"),
            (r"in \d+\.\ds\b", "in [SECONDS]"),
            (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
            (r" +\n", "\n"),
        ]
        .into_iter()
        .map(|(re, with)| (Regex::new(re).expect("valid regex"), with))
        .collect()
    });
    RULES.iter().fold(text.to_owned(), |text, (re, with)| {
        re.replace_all(&text, *with).into_owned()
    })
}

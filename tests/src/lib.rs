//! Fixtures for the paas crates' integration tests: a real `paas-buildserver` on port 0 with a
//! temporary data dir ([`TestServer`]), and `paas` runs in an isolated HOME ([`CliEnv`]).
//!
//! Every process started here is stopped by its own pid when its fixture is dropped, also when a
//! test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use regex::Regex;
use tempfile::TempDir;

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

/// A running `paas-buildserver serve`.
pub struct TestServer {
    bin: PathBuf,
    child: Option<Child>,
    dir: TempDir,
    /// `http://127.0.0.1:PORT`
    pub api: String,
    /// `127.0.0.1:PORT` of the git-over-SSH listener.
    pub ssh: String,
    /// The server's stderr, for failure messages.
    log: PathBuf,
}

impl TestServer {
    pub fn start(bin: &Path) -> Self {
        Self::start_with(bin, &[], &[])
    }

    /// Starts the server with extra flags and environment variables on a fresh data dir.
    pub fn start_with(bin: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let mut server = Self {
            bin: bin.to_owned(),
            child: None,
            dir,
            api: String::new(),
            ssh: String::new(),
            log,
        };
        server.launch(extra, env);
        server
    }

    /// A directory that lives as long as the server, for config files and the like.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
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
            // The router does not listen yet; its port appears in URLs as configured.
            .args(["--api-listen", "127.0.0.1:0", "--ssh-listen", "127.0.0.1:0"])
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

    fn launch(&mut self, extra: &[&str], env: &[(&str, &str)]) {
        let _ = std::fs::remove_file(self.ready_file());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = self
            .serve_command(extra)
            .envs(env.iter().copied())
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

    fn pid(&self) -> Pid {
        Pid::from_raw(
            i32::try_from(self.child.as_ref().expect("server running").id()).expect("pid fits"),
        )
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

    /// Starts the server again on the same data dir (new ports).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        self.launch(&[], &[]);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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
            (r"/tmp/\.tmp[A-Za-z0-9]+", "[TEMP]"),
        ]
        .into_iter()
        .map(|(re, with)| (Regex::new(re).expect("valid regex"), with))
        .collect()
    });
    RULES.iter().fold(text.to_owned(), |text, (re, with)| {
        re.replace_all(&text, *with).into_owned()
    })
}

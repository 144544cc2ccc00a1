//! runc containers: an OCI bundle (config.json) for a process on a read-only root filesystem with
//! bind mounts, resource limits and no privileges, run in the foreground with its output streamed.
//! Shared by the build sandbox and the local scheduler's dynos (which add an overlay root and a
//! wrapper, `scheduler::dyno_args`). It must not know what runs inside.

use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use paas_share::models::WindowSize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

/// A host directory or file mounted into the container.
#[derive(Debug, Clone)]
pub struct Mount {
    pub source: PathBuf,
    pub destination: &'static str,
    pub read_only: bool,
}

/// Everything about one container run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Unique among running containers; also names its cgroup.
    pub id: String,
    pub rootfs: PathBuf,
    /// A shared stack root is read-only; a dyno's own overlay is writable (and ephemeral).
    pub readonly_root: bool,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: &'static str,
    pub uid: u32,
    pub gid: u32,
    pub mounts: Vec<Mount>,
    pub memory_bytes: u64,
    pub pids_limit: i64,
    pub hostname: &'static str,
    /// A terminal of this size for the process (stdin, stdout and stderr all on it), instead of
    /// pipes.
    pub terminal: Option<WindowSize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
    TimedOut,
}

/// How a container run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub exit: Exit,
    /// Whether the kernel killed a process of the container for exceeding its memory limit.
    pub oom_killed: bool,
}

impl Outcome {
    /// How the run ended, in Heroku's words: `Process exited with status 3`.
    pub fn describe(&self) -> String {
        let oom = if self.oom_killed {
            " (out of memory)"
        } else {
            ""
        };
        match self.exit {
            Exit::Code(code) => format!("Process exited with status {code}{oom}"),
            // As a shell and Heroku say it.
            Exit::Signal(signal) => format!("Process exited with status {}{oom}", 128 + signal),
            Exit::TimedOut => "Process stopped at its time limit".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("cannot write the container bundle at {path}")]
    Bundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start runc (is it installed?)")]
    Spawn(#[source] std::io::Error),
    #[error("cannot make a terminal for the container")]
    Terminal(#[source] std::io::Error),
}

impl Spec {
    /// The OCI runtime config: host network (the host's `/etc/resolv.conf` and `/etc/hosts`),
    /// fresh pid/ipc/uts/mount namespaces, no capabilities, no new privileges, a read-only root,
    /// and memory and pids limits.
    pub fn config_json(&self) -> serde_json::Value {
        let mut mounts = vec![
            serde_json::json!({"destination": "/proc", "type": "proc", "source": "proc"}),
            serde_json::json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
            serde_json::json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
            serde_json::json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
            serde_json::json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]}),
            serde_json::json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777"]}),
            serde_json::json!({"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf",
                "options": ["rbind", "ro"]}),
        ];
        // `localhost` resolves (host network, as /etc/resolv.conf). A read-only root needs its
        // mount point (stacks built by this paas have one; older ones go without).
        let hosts = std::path::Path::new("/etc/hosts").exists();
        if hosts && (!self.readonly_root || self.rootfs.join("etc/hosts").exists()) {
            mounts.push(
                serde_json::json!({"destination": "/etc/hosts", "type": "bind",
                "source": "/etc/hosts", "options": ["rbind", "ro"]}),
            );
        }
        for m in &self.mounts {
            let mode = if m.read_only { "ro" } else { "rw" };
            mounts.push(
                serde_json::json!({"destination": m.destination, "type": "bind",
                "source": m.source, "options": ["rbind", "nosuid", "nodev", mode]}),
            );
        }
        let mut config = serde_json::json!({
            "ociVersion": "1.0.2",
            "hostname": self.hostname,
            "root": {"path": self.rootfs, "readonly": self.readonly_root},
            "process": {
                "terminal": self.terminal.is_some(),
                "user": {"uid": self.uid, "gid": self.gid},
                "args": self.args,
                "env": self.env,
                "cwd": self.cwd,
                "noNewPrivileges": true,
                "capabilities": {"bounding": [], "effective": [], "permitted": [], "ambient": []},
            },
            "mounts": mounts,
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
                "cgroupsPath": format!("/paas/{}", self.id),
                "resources": {
                    "memory": {"limit": self.memory_bytes, "swap": self.memory_bytes},
                    "pids": {"limit": self.pids_limit},
                },
                "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
                "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                    "/proc/sysrq-trigger"],
            },
        });
        if let Some(size) = self.terminal {
            config["process"]["consoleSize"] =
                serde_json::json!({"width": size.columns, "height": size.lines});
        }
        config
    }
}

/// Where runc keeps its state for our containers.
pub struct Runtime {
    pub state_dir: PathBuf,
}

impl Runtime {
    fn runc(&self) -> Command {
        let mut cmd = Command::new("runc");
        cmd.arg("--root").arg(&self.state_dir);
        cmd
    }

    /// Kills and deletes every container whose id starts with `prefix`: at start, containers left
    /// by a previous run of the daemon (killed before it could clean up) belong to nobody.
    pub fn remove_leftovers(&self, prefix: &str) -> Vec<String> {
        let mut removed = self.remove_listed(prefix);
        // A `runc run` of a killed daemon that was still creating a container when `runc list`
        // looked would finish after it, and that container would run on unsupervised. Those of
        // the containers just removed end by themselves (reaping their container's process);
        // what is still there after that is killed, and what it created is removed.
        let strays = self.runc_processes();
        for _ in 0..200 {
            if strays
                .iter()
                .all(|pid| nix::sys::signal::kill(*pid, None).is_err())
            {
                return removed;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for pid in self.runc_processes() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(100));
        removed.extend(self.remove_listed(prefix));
        removed
    }

    /// Kills and deletes every container `runc list` shows whose id starts with `prefix`.
    fn remove_listed(&self, prefix: &str) -> Vec<String> {
        let Ok(output) = std::process::Command::new("runc")
            .arg("--root")
            .arg(&self.state_dir)
            .args(["list", "-q"])
            .output()
        else {
            return Vec::new();
        };
        let ids: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|id| id.starts_with(prefix))
            .map(str::to_owned)
            .collect();
        for id in &ids {
            drop(Cleanup {
                state_dir: self.state_dir.clone(),
                id: id.clone(),
            });
        }
        ids
    }

    /// The `runc` processes working on this state dir (found by their `--root` argument, which
    /// names only this server's containers).
    fn runc_processes(&self) -> Vec<nix::unistd::Pid> {
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let root = self.state_dir.as_os_str().as_encoded_bytes();
        procs
            .flatten()
            .filter_map(|entry| {
                let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
                let ours = args.first().is_some_and(|a| a.ends_with(b"runc"))
                    && args.windows(2).any(|w| w[0] == b"--root" && w[1] == root);
                ours.then(|| nix::unistd::Pid::from_raw(pid))
            })
            .collect()
    }

    /// Sends `signal` (`TERM`, `KILL`) to the container's process.
    pub fn signal(&self, id: &str, signal: &str) {
        self.kill(&["kill", id, signal]);
    }

    /// Sends `signal` to every process of the container.
    pub fn signal_all(&self, id: &str, signal: &str) {
        self.kill(&["kill", "--all", id, signal]);
    }

    fn kill(&self, args: &[&str]) {
        let _ = std::process::Command::new("runc")
            .arg("--root")
            .arg(&self.state_dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Runs `spec` to completion (or `time_limit`), sending each output line (stdout and stderr)
    /// to `lines`; its stdin is empty. If this future is dropped, the container is killed and
    /// removed.
    pub async fn run(
        &self,
        spec: &Spec,
        bundle: &Path,
        time_limit: Duration,
        lines: mpsc::Sender<String>,
    ) -> Result<Outcome, ContainerError> {
        let mut started = self.start(spec, bundle)?;
        let Some(Streams::Pipes { stdout, stderr, .. }) = started.streams.take() else {
            unreachable!("a container without a terminal has pipes");
        };
        let output = async { tokio::join!(forward(stdout, &lines), forward(stderr, &lines)) };
        Ok(started
            .wait(time_limit, async {
                output.await;
            })
            .await)
    }

    /// Starts `spec` with its standard streams attached: pipes, or (with `spec.terminal`) a
    /// terminal. runc in the foreground makes the container's terminal itself and copies it to
    /// and from its own standard streams (it refuses `--console-socket` unless it detaches, and a
    /// detached container's exit status is lost), so runc gets the other end of a terminal of
    /// ours, in raw mode: the bytes pass unchanged, and a resize is ours plus a SIGWINCH to runc,
    /// which copies the size over (runc's `docs/terminals.md`, "foreground, new terminal").
    pub fn start(&self, spec: &Spec, bundle: &Path) -> Result<Started, ContainerError> {
        let bundle_err = |source| ContainerError::Bundle {
            path: bundle.to_owned(),
            source,
        };
        std::fs::create_dir_all(bundle).map_err(bundle_err)?;
        let config = serde_json::to_vec_pretty(&spec.config_json()).expect("JSON values serialize");
        // 0600: the environment may hold secrets (config vars, --build-env).
        crate::data_dir::write_atomic(&bundle.join("config.json"), &config, 0o600)
            .map_err(bundle_err)?;
        let mut runc = self.runc();
        runc.arg("run")
            // Kept after exit until `Cleanup` deletes it, so that its cgroup can still be read.
            .arg("--keep")
            .arg("--bundle")
            .arg(bundle)
            .arg(&spec.id)
            .process_group(0);
        let terminal = match spec.terminal {
            Some(size) => {
                let (master, runc_side) = Terminal::open(size).map_err(ContainerError::Terminal)?;
                let stdio = |fd: &OwnedFd| fd.try_clone().map(Stdio::from);
                let streams =
                    (|| Ok((stdio(&runc_side)?, stdio(&runc_side)?, stdio(&runc_side)?)))()
                        .map_err(ContainerError::Terminal)?;
                runc.stdin(streams.0).stdout(streams.1).stderr(streams.2);
                Some(master)
            }
            None => {
                runc.stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                None
            }
        };
        let mut child = runc.spawn().map_err(ContainerError::Spawn)?;
        let cleanup = Cleanup {
            state_dir: self.state_dir.clone(),
            id: spec.id.clone(),
        };
        let streams = match terminal {
            Some(mut terminal) => {
                terminal.runc = child.id().and_then(|id| i32::try_from(id).ok());
                Streams::Terminal(terminal)
            }
            None => Streams::Pipes {
                stdin: child.stdin.take().expect("piped"),
                stdout: child.stdout.take().expect("piped"),
                stderr: child.stderr.take().expect("piped"),
            },
        };
        Ok(Started {
            child,
            cleanup,
            id: spec.id.clone(),
            streams: Some(streams),
        })
    }
}

/// A container started by [`Runtime::start`]: take its streams, then [`Started::wait`]. Dropped
/// before it ends, the container is killed and removed.
pub struct Started {
    child: tokio::process::Child,
    cleanup: Cleanup,
    id: String,
    pub streams: Option<Streams>,
}

/// A started container's standard streams.
pub enum Streams {
    Pipes {
        stdin: tokio::process::ChildStdin,
        stdout: tokio::process::ChildStdout,
        stderr: tokio::process::ChildStderr,
    },
    /// stdin, stdout and stderr on one terminal.
    Terminal(Terminal),
}

impl Started {
    /// Waits for the container's process to end and for `output` (the copying of its output) to
    /// finish, up to `time_limit` (then it is killed: `Exit::TimedOut`), and removes the
    /// container.
    pub async fn wait(mut self, time_limit: Duration, output: impl Future<Output = ()>) -> Outcome {
        let waited = tokio::time::timeout(time_limit, async {
            let (_, status) = tokio::join!(output, self.child.wait());
            status
        })
        .await;
        let exit = match waited {
            Ok(Ok(status)) => match (
                status.code(),
                std::os::unix::process::ExitStatusExt::signal(&status),
            ) {
                // runc reports a process killed by signal N as exit code 128 + N.
                (Some(code), _) if code > 128 => Exit::Signal(code - 128),
                (Some(code), _) => Exit::Code(code),
                (None, Some(signal)) => Exit::Signal(signal),
                (None, None) => Exit::Code(1),
            },
            Ok(Err(_)) => Exit::Code(1),
            Err(_) => Exit::TimedOut,
        };
        let oom_killed = oom_kills(&self.id) > 0;
        drop(self.cleanup);
        let _ = self.child.wait().await;
        Outcome { exit, oom_killed }
    }
}

/// The master side of a container's terminal (runc copies it to the container's own): what is
/// written is typed, what is read was shown. Clones share it.
///
/// Its descriptor is non-blocking and each direction has a thread that polls it (with a
/// timeout, so that it notices when its side is dropped or the terminal has closed): a blocking
/// write that the container never reads would otherwise hold a thread (and the daemon's exit)
/// forever, and tokio's `AsyncFd` would need `unsafe`.
#[derive(Clone)]
pub struct Terminal {
    master: std::sync::Arc<OwnedFd>,
    /// The `runc run` to tell of a resize.
    runc: Option<i32>,
    /// Set once reading found the terminal closed: the writer gives up then.
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// How long a terminal thread waits before looking again at whether it should stop.
const TERMINAL_POLL: Duration = Duration::from_millis(200);

impl Terminal {
    /// A new terminal of `size` in raw mode: (our side, runc's side).
    fn open(size: WindowSize) -> std::io::Result<(Self, OwnedFd)> {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        use rustix::termios::{OptionalActions, tcgetattr, tcsetattr, tcsetwinsize};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let name = ptsname(&master, Vec::new())?;
        let runc_side = rustix::fs::open(
            name.as_c_str(),
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        let mut raw = tcgetattr(&runc_side)?;
        raw.make_raw();
        tcsetattr(&runc_side, OptionalActions::Now, &raw)?;
        tcsetwinsize(&master, winsize(size))?;
        rustix::io::ioctl_fionbio(&master, true)?;
        Ok((
            Self {
                master: std::sync::Arc::new(master),
                runc: None,
                closed: std::sync::Arc::default(),
            },
            runc_side,
        ))
    }

    /// Waits up to [`TERMINAL_POLL`] for the terminal to be ready for `flags`.
    fn wait_for(&self, flags: rustix::event::PollFlags) {
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: i64::try_from(TERMINAL_POLL.as_nanos()).unwrap_or(200_000_000),
        };
        let mut fds = [rustix::event::PollFd::new(&*self.master, flags)];
        let _ = rustix::event::poll(&mut fds, Some(&timeout));
    }

    /// What the container shows, until it closes its terminal (or the reader is dropped).
    pub fn reader(&self) -> impl tokio::io::AsyncRead + Send + Unpin + use<> {
        let (shown, received) = mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
        let terminal = self.clone();
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 32 * 1024];
            while !shown.is_closed() {
                match rustix::io::read(&*terminal.master, &mut buffer) {
                    Ok(0) => break,
                    Ok(n) => {
                        let chunk = bytes::Bytes::copy_from_slice(&buffer[..n]);
                        if shown.blocking_send(Ok(chunk)).is_err() {
                            break;
                        }
                    }
                    Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {
                        terminal.wait_for(rustix::event::PollFlags::IN);
                    }
                    // The other side is closed: Linux says EIO.
                    Err(rustix::io::Errno::IO) => break,
                    Err(e) => {
                        let _ = shown.blocking_send(Err(e.into()));
                        break;
                    }
                }
            }
            terminal
                .closed
                .store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let chunks = futures_util::stream::unfold(received, |mut received| async move {
            received.recv().await.map(|chunk| (chunk, received))
        });
        tokio_util::io::StreamReader::new(Box::pin(chunks))
    }

    /// Where to type into the container's terminal. What the container does not read waits
    /// (writes are slowed down); once its terminal has closed, the rest is dropped.
    pub fn writer(&self) -> impl tokio::io::AsyncWrite + Send + Unpin + use<> {
        let (typed, mut received) = mpsc::channel::<bytes::Bytes>(8);
        let terminal = self.clone();
        std::thread::spawn(move || {
            while let Some(chunk) = received.blocking_recv() {
                let mut data = &chunk[..];
                while !data.is_empty() {
                    if terminal.closed.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    match rustix::io::write(&*terminal.master, data) {
                        Ok(n) => data = &data[n..],
                        Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {
                            terminal.wait_for(rustix::event::PollFlags::OUT);
                        }
                        Err(_) => return,
                    }
                }
            }
        });
        let sink =
            futures_util::SinkExt::sink_map_err(tokio_util::sync::PollSender::new(typed), |_| {
                std::io::Error::from(std::io::ErrorKind::BrokenPipe)
            });
        tokio_util::io::SinkWriter::new(tokio_util::io::CopyToBytes::new(sink))
    }

    /// Gives the terminal a new size; the container's programs get SIGWINCH.
    pub fn resize(&self, size: WindowSize) {
        let _ = rustix::termios::tcsetwinsize(&*self.master, winsize(size));
        if let Some(pid) = self.runc.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::WINCH);
        }
    }
}

fn winsize(size: WindowSize) -> rustix::termios::Winsize {
    rustix::termios::Winsize {
        ws_row: size.lines,
        ws_col: size.columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// What a running container's cgroup (`cgroupsPath` `/paas/<id>`) says it uses, on cgroup v1 or
/// v2: CPU time since it started, resident memory now (anonymous memory: not the page cache the
/// kernel may reclaim) and its limit, and OOM kills. `None` when it has no cgroup (it is gone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Nanoseconds of CPU time.
    pub cpu_ns: u64,
    /// Bytes.
    pub memory: u64,
    /// Bytes; `u64::MAX` for none.
    pub memory_limit: u64,
    pub oom_kills: u64,
}

pub fn usage(id: &str) -> Option<Usage> {
    let read = |path: String| std::fs::read_to_string(path).ok();
    let field = |text: &str, name: &str| {
        text.lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    let number = |text: String| text.trim().parse::<u64>().ok();
    let v2 = format!("/sys/fs/cgroup/paas/{id}");
    if let Some(cpu) = read(format!("{v2}/cpu.stat")) {
        let memory = read(format!("{v2}/memory.stat")).unwrap_or_default();
        return Some(Usage {
            cpu_ns: field(&cpu, "usage_usec").unwrap_or(0) * 1000,
            memory: field(&memory, "anon").unwrap_or(0),
            memory_limit: read(format!("{v2}/memory.max"))
                .and_then(number)
                .unwrap_or(u64::MAX),
            oom_kills: oom_kills(id),
        });
    }
    let cpu_ns = read(format!("/sys/fs/cgroup/cpuacct/paas/{id}/cpuacct.usage"))
        .or_else(|| {
            read(format!(
                "/sys/fs/cgroup/cpu,cpuacct/paas/{id}/cpuacct.usage"
            ))
        })
        .and_then(number)?;
    let memory = read(format!("/sys/fs/cgroup/memory/paas/{id}/memory.stat")).unwrap_or_default();
    Some(Usage {
        cpu_ns,
        memory: field(&memory, "total_rss")
            .or_else(|| field(&memory, "rss"))
            .unwrap_or(0),
        memory_limit: read(format!(
            "/sys/fs/cgroup/memory/paas/{id}/memory.limit_in_bytes"
        ))
        .and_then(number)
        .unwrap_or(u64::MAX),
        oom_kills: oom_kills(id),
    })
}

/// Who listens on a TCP port of the host's network (which dynos and services share).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortListener {
    Nobody,
    /// A process of the container.
    Container,
    /// Only processes outside it: another app's dyno that took the port first, say.
    Other,
}

/// Who listens on TCP `port` (IPv4 or IPv6, any address): container `id` (a process in its
/// cgroup, `cgroupsPath` `/paas/<id>`, v1 or v2, holds a listening socket of that port) or
/// another process, as `ss -ltnp` tells, from `/proc/net/tcp{,6}` and the processes'
/// descriptors (read with the `procfs` crate; a descriptor's link is read, never followed).
/// A probe that only connects cannot tell the container's listener from one that took its port.
pub fn port_listener(id: &str, port: u16) -> PortListener {
    let procs = [
        format!("/sys/fs/cgroup/paas/{id}/cgroup.procs"),
        format!("/sys/fs/cgroup/pids/paas/{id}/cgroup.procs"),
        format!("/sys/fs/cgroup/memory/paas/{id}/cgroup.procs"),
    ];
    let pids: Vec<i32> = procs
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect();
    listener_among(port, &pids)
}

/// [`port_listener`] for the processes `pids`.
fn listener_among(port: u16, pids: &[i32]) -> PortListener {
    use procfs::process::FDTarget;
    let listening: std::collections::HashSet<u64> = [procfs::net::tcp(), procfs::net::tcp6()]
        .into_iter()
        .flatten()
        .flatten()
        .filter(|socket| {
            socket.state == procfs::net::TcpState::Listen && socket.local_address.port() == port
        })
        .map(|socket| socket.inode)
        .collect();
    if listening.is_empty() {
        return PortListener::Nobody;
    }
    let holds = |pid: i32| {
        procfs::process::Process::new(pid)
            .and_then(|process| process.fd())
            .is_ok_and(|mut fds| {
                fds.any(|fd| {
                    fd.is_ok_and(|fd| {
                        matches!(fd.target, FDTarget::Socket(inode) if listening.contains(&inode))
                    })
                })
            })
    };
    if pids.iter().any(|&pid| holds(pid)) {
        PortListener::Container
    } else {
        PortListener::Other
    }
}

/// OOM kills in the container's memory cgroup (`cgroupsPath` `/paas/<id>`), on cgroup v1 or v2.
fn oom_kills(id: &str) -> u64 {
    let files = [
        format!("/sys/fs/cgroup/memory/paas/{id}/memory.oom_control"),
        format!("/sys/fs/cgroup/paas/{id}/memory.events"),
    ];
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                })
                .collect::<Vec<_>>()
        })
        .sum()
}

/// The longest line forwarded; the rest of a longer one is dropped (and said so), so that output
/// without newlines cannot make the server hold it all (Heroku's log lines stop at 10 KB).
const MAX_LINE_BYTES: usize = 16 * 1024;

/// Sends each line `reader` produces to `lines`: bytes that are not UTF-8 become U+FFFD (apps
/// print Latin-1 and binary too), a line past [`MAX_LINE_BYTES`] is cut. It reads to the end even
/// when nobody listens any more: closing the pipe would kill the writer with SIGPIPE.
pub async fn forward(reader: impl tokio::io::AsyncRead + Unpin, lines: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(reader);
    let (mut line, mut cut, mut listened) = (Vec::new(), false, true);
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => buf,
        };
        let newline = buf.iter().position(|&b| b == b'\n');
        let chunk = &buf[..newline.unwrap_or(buf.len())];
        let room = MAX_LINE_BYTES - line.len();
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        cut |= chunk.len() > room;
        let used = newline.map_or(buf.len(), |at| at + 1);
        reader.consume(used);
        if newline.is_some() {
            let text = finish_line(&mut line, &mut cut);
            listened = listened && lines.send(text).await.is_ok();
        }
    }
    if !line.is_empty() && listened {
        let _ = lines.send(finish_line(&mut line, &mut cut)).await;
    }
}

/// The text of a forwarded line (without its `\r\n` or `\n`), and a fresh start for the next.
fn finish_line(line: &mut Vec<u8>, cut: &mut bool) -> String {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let mut text = String::from_utf8_lossy(line).into_owned();
    if std::mem::take(cut) {
        text.push_str(LINE_CUT);
    }
    line.clear();
    text
}

/// What ends a line [`forward`] cut.
const LINE_CUT: &str = " [line cut at 16 KiB]";

/// A line read whole elsewhere (a pod's log), cut as [`forward`] cuts it: its first
/// [`MAX_LINE_BYTES`] (on a character boundary), marked.
pub fn cut_line(mut line: String) -> String {
    if line.len() > MAX_LINE_BYTES {
        let mut at = MAX_LINE_BYTES;
        while !line.is_char_boundary(at) {
            at -= 1;
        }
        line.truncate(at);
        line.push_str(LINE_CUT);
    }
    line
}

/// Kills and deletes the container when dropped: on completion, timeout or cancellation alike.
struct Cleanup {
    state_dir: PathBuf,
    id: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let runc = |args: &[&str]| {
            let _ = std::process::Command::new("runc")
                .arg("--root")
                .arg(&self.state_dir)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        runc(&["kill", &self.id, "KILL"]);
        runc(&["delete", "--force", &self.id]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_the_containers_only_while_one_of_its_processes_listens_on_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let me = i32::try_from(std::process::id()).expect("a pid");
        assert_eq!(listener_among(port, &[me]), PortListener::Container);
        // Held by this process, not by pid 1 or an empty cgroup's.
        assert_eq!(listener_among(port, &[1]), PortListener::Other);
        assert_eq!(
            port_listener("no-such-container", port),
            PortListener::Other
        );
        drop(listener);
        assert_eq!(listener_among(port, &[me]), PortListener::Nobody);
        // IPv6 listeners count too.
        let v6 = std::net::TcpListener::bind("[::1]:0").expect("bind IPv6");
        let port = v6.local_addr().expect("address").port();
        assert_eq!(listener_among(port, &[me]), PortListener::Container);
    }

    #[tokio::test]
    async fn forwarded_lines_survive_bad_bytes_and_long_lines() {
        let mut input = b"caf\xe9 latin-1\r\nok\n".to_vec();
        input.extend(std::iter::repeat_n(b'a', 3 * MAX_LINE_BYTES));
        input.extend_from_slice(b"\nlast without newline");
        let (tx, mut rx) = mpsc::channel(16);
        forward(&input[..], &tx).await;
        drop(tx);
        let mut got = Vec::new();
        while let Some(line) = rx.recv().await {
            got.push(line);
        }
        assert_eq!(
            got.len(),
            4,
            "{:?}",
            got.iter().map(|l| l.len()).collect::<Vec<_>>()
        );
        assert_eq!(got[0], "caf\u{fffd} latin-1");
        assert_eq!(got[1], "ok");
        assert!(got[2].starts_with("aaaa") && got[2].ends_with(" [line cut at 16 KiB]"));
        assert_eq!(got[2].len(), MAX_LINE_BYTES + LINE_CUT.len());
        assert_eq!(
            cut_line("a".repeat(3 * MAX_LINE_BYTES)),
            got[2],
            "cut alike"
        );
        assert_eq!(
            cut_line("é".repeat(MAX_LINE_BYTES)).len(),
            MAX_LINE_BYTES + LINE_CUT.len()
        );
        assert_eq!(cut_line("short".to_owned()), "short");
        assert_eq!(got[3], "last without newline");
    }

    #[tokio::test]
    async fn forwarding_reads_to_the_end_when_nobody_listens() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let input = b"one\ntwo\nthree\n".repeat(10_000);
        let mut reader = &input[..];
        forward(&mut reader, &tx).await;
        assert!(reader.is_empty(), "the pipe was drained, not closed");
    }
}

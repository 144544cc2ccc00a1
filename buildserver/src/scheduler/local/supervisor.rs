//! A dyno's supervision: the task that runs its container, marks it up once it is ready (a web
//! dyno accepts TCP on `$PORT`, or answers the app's health check path), kills it if it is not
//! ready within the boot timeout, and restarts it when it ends, with backoff, until it is stopped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::container::{Exit, Runtime, Spec};
use crate::logs::Logs;

/// Longest wait between restarts of a crashing dyno.
const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// A dyno up this long starts its restart backoff afresh.
const BACKOFF_RESET: Duration = Duration::from_secs(600);
/// How often readiness is probed while a dyno boots.
const PROBE_INTERVAL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Starting,
    Up,
    Crashed,
    Down,
}

impl State {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Up => "up",
            Self::Crashed => "crashed",
            Self::Down => "down",
        }
    }
}

/// What a dyno's supervising task tells the rest about it.
pub(super) struct Supervision {
    /// The state and when it began.
    state: watch::Sender<(State, SystemTime)>,
    /// Whether the state is `Up`: the router's view of this dyno.
    pub(super) up: Arc<AtomicBool>,
    /// Set by `stop`: an exit now is the end, not a crash.
    pub(super) stopping: AtomicBool,
    pub(super) restarts: AtomicU32,
    /// Runs that ended because the kernel killed the dyno for memory (its cgroup is gone with
    /// it, so the metrics count them here).
    pub(super) oom_kills: AtomicU32,
    /// How its last run ended: whether it ended by itself (rather than being stopped for not
    /// being ready in time), and what happened (`exited with status 3`).
    pub(super) ended: Mutex<Option<(bool, String)>>,
}

impl Supervision {
    /// A dyno that is starting.
    pub(super) fn new() -> Self {
        Self {
            state: watch::channel((State::Starting, SystemTime::now())).0,
            up: Arc::new(AtomicBool::new(false)),
            stopping: AtomicBool::new(false),
            restarts: AtomicU32::new(0),
            oom_kills: AtomicU32::new(0),
            ended: Mutex::new(None),
        }
    }

    /// Why it did not come up, for a deploy's error: `exited with status 3 before it was up`, or
    /// `requirement` when it was stopped for not being ready in time.
    pub(super) fn why_not_up(&self, requirement: &str) -> String {
        match &*self.ended.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((true, how)) => format!("{how} before it was up"),
            _ => format!("did not come up: {requirement}"),
        }
    }

    pub(super) fn state(&self) -> State {
        self.state.borrow().0
    }

    /// The state and when it began.
    pub(super) fn since(&self) -> (State, SystemTime) {
        *self.state.borrow()
    }

    /// Moves to `state`; returns the state it left.
    pub(super) fn set(&self, state: State) -> State {
        let old = self.state.send_replace((state, SystemTime::now())).0;
        self.up.store(state == State::Up, Ordering::Release);
        old
    }

    /// Waits until the dyno is up, or has crashed (or restarted) on its way there.
    pub(super) async fn wait_up(&self) -> Result<(), State> {
        let mut changes = self.state.subscribe();
        let settled = changes
            .wait_for(|(state, _)| {
                *state != State::Starting || self.restarts.load(Ordering::SeqCst) > 0
            })
            .await
            .map(|s| s.0)
            .unwrap_or(State::Down);
        match settled {
            State::Up if self.restarts.load(Ordering::SeqCst) == 0 => Ok(()),
            State::Up | State::Starting => Err(State::Crashed),
            other => Err(other),
        }
    }
}

/// When a dyno counts as up.
pub(super) enum Readiness {
    /// As soon as it runs (not a web dyno).
    Immediate,
    /// When it accepts TCP on `$PORT`.
    Tcp,
    /// When `GET <path>` on `$PORT` answers 2xx or 3xx (`PAAS_HEALTH_CHECK_PATH`).
    Http(String),
    /// When `GET /` on `$PORT` gets an HTTP response, of any status: a web dyno's default. A
    /// server that listens before its app has loaded (gunicorn's master, whose workers fail to
    /// import the app) accepts connections but never answers, and is not up; a `/` that
    /// answers 404 or 500 is, as its server serves.
    Answers,
    /// When a PostgreSQL server on the port accepts sessions (see [`postgres_accepts`]).
    Postgres,
}

impl Readiness {
    async fn probe(&self, port: u16) -> bool {
        let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
        match self {
            Self::Immediate => true,
            Self::Tcp => connect.await.is_ok(),
            Self::Http(path) => http_status(connect, port, path)
                .await
                .is_some_and(|status| matches!(status, b'2' | b'3')),
            Self::Answers => http_status(connect, port, "/").await.is_some(),
            Self::Postgres => match connect.await {
                Ok(stream) => {
                    tokio::time::timeout(Duration::from_secs(5), postgres_accepts(stream))
                        .await
                        .unwrap_or(true)
                }
                Err(_) => false,
            },
        }
    }

    /// Probes until ready (true) or `timeout` passes (false). With `container`, only its own
    /// listener on `port` counts ([`crate::container::port_listener`]): dynos share the host's
    /// ports, and one that took another's port before it bound it must not get its requests.
    async fn wait(&self, port: u16, timeout: Duration, container: Option<&str>) -> bool {
        // Tokio's clock: the same as the system's, and testable with paused time.
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // A probe that waits for an answer ends with the time the dyno has.
            let probe = tokio::time::timeout_at(deadline, self.probe(port));
            if probe.await.unwrap_or(false) && self.listens(port, container).await {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    /// Whether `container` (if any) is who listens on `port` (nothing to tell without a port).
    async fn listens(&self, port: u16, container: Option<&str>) -> bool {
        let Some(id) = container.filter(|_| !matches!(self, Self::Immediate)) else {
            return true;
        };
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || crate::container::port_listener(&id, port))
            .await
            .is_ok_and(|listener| listener == crate::container::PortListener::Container)
    }
}

/// The first digit of the status with which the server `connect` reaches answers `GET path`
/// (HTTP/1.0, as a health checker's request); `None` when it refuses, closes or answers
/// something other than HTTP/1.x. It waits as long as the server takes: the caller's deadline
/// (the boot timeout) bounds it, so that a slow first page (or a server that answers once its
/// app has loaded) is up when it answers, not retried every few seconds until the deadline.
async fn http_status(
    connect: impl Future<Output = std::io::Result<tokio::net::TcpStream>>,
    port: u16,
    path: &str,
) -> Option<u8> {
    let mut stream = connect.await.ok()?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: paas-health-check\r\n\r\n"
    );
    let mut head = [0u8; 12];
    let answered = async {
        stream.write_all(request.as_bytes()).await?;
        stream.read_exact(&mut head).await
    };
    match answered.await {
        // `HTTP/1.x NNN`.
        Ok(_) if head.starts_with(b"HTTP/1.") && head[8] == b' ' => {
            // The rest of the answer is read (the server closes after it: HTTP/1.0) before the
            // socket closes: one closed with unread data sends a reset, which servers report as
            // an error (Python's http.server prints a ConnectionResetError traceback). In the
            // background, bounded: the status is all the probe needs.
            tokio::spawn(async move {
                let (mut rest, mut sink) = (stream.take(1 << 20), tokio::io::sink());
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::io::copy(&mut rest, &mut sink),
                )
                .await;
            });
            Some(head[9])
        }
        _ => None,
    }
}

/// Whether the PostgreSQL server at the other end of `stream` accepts sessions, as `pg_isready`
/// tells (which the host need not have): a startup message (protocol 3.0, user `paas-probe`)
/// gets an authentication request or an error; the error SQLSTATE 57P03 (`cannot_connect_now`:
/// starting up, in crash recovery, shutting down) means no. Anything else counts as yes, as
/// accepting TCP did before: the point is only to wait out a server that says it is not ready.
/// Hand-written because client crates need credentials and a whole session for what is one
/// exchange here (PostgreSQL's "Message Flow: Start-up" and "Error and Notice Message Fields").
async fn postgres_accepts(mut stream: tokio::net::TcpStream) -> bool {
    const PROTOCOL_3_0: u32 = 196_608;
    let parameters = b"user\0paas-probe\0database\0postgres\0\0";
    let length = u32::try_from(8 + parameters.len()).expect("a short message");
    let mut startup = Vec::with_capacity(64);
    startup.extend_from_slice(&length.to_be_bytes());
    startup.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
    startup.extend_from_slice(parameters);
    let mut head = [0u8; 5];
    if stream.write_all(&startup).await.is_err()
        || stream.read_exact(&mut head).await.is_err()
        || head[0] != b'E'
    {
        return true;
    }
    // The length counts itself; an error is a few hundred bytes.
    let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    let mut fields = vec![0u8; (length.saturating_sub(4) as usize).min(4096)];
    if stream.read_exact(&mut fields).await.is_err() {
        return true;
    }
    !fields.split(|&b| b == 0).any(|field| field == b"C57P03")
}

/// What a dyno does when its first boot fails (it ends, or is not ready in time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FirstBoot {
    /// It restarts with backoff, as after any crash (a dyno a scale added).
    Retries,
    /// It stays crashed: the deploy or restart that started it waits for it, fails on it, and
    /// stops it (a restart would only be stopped, and "restarting" in the logs would mislead).
    Decides,
}

/// The task that runs one dyno: starts its container, marks it up when ready, restarts it with
/// backoff when it ends, until it is stopped.
pub(super) struct Supervisor {
    pub(super) runtime: Arc<Runtime>,
    pub(super) logs: Logs,
    pub(super) app_id: String,
    pub(super) name: String,
    pub(super) spec: Spec,
    pub(super) bundle: PathBuf,
    pub(super) port: u16,
    pub(super) readiness: Readiness,
    pub(super) boot_timeout: Duration,
    pub(super) first_boot: FirstBoot,
    pub(super) supervision: Arc<Supervision>,
}

impl Supervisor {
    fn set_state(&self, state: State) {
        let old = self.supervision.set(state);
        if old != state {
            self.log(&format!(
                "{}: state changed from {} to {}",
                self.name,
                old.as_str(),
                state.as_str()
            ));
        }
    }

    fn log(&self, message: &str) {
        self.logs.emit(&self.app_id, "paas", "scheduler", message);
    }

    pub(super) async fn run(self) {
        let mut delay: Option<Duration> = None;
        loop {
            // The run's output lines, into the app's logs: emitted whole (the channel closes as
            // the run ends) before the run's end is told, so that a crash's last lines are
            // in the logs whoever reads them on seeing `crashed`.
            let (tx, mut rx) = mpsc::channel::<String>(1024);
            let (logs, app_id, dyno) = (self.logs.clone(), self.app_id.clone(), self.name.clone());
            let emitted = tokio::spawn(async move {
                while let Some(line) = rx.recv().await {
                    logs.emit(&app_id, "app", &dyno, &line);
                }
            });
            let started = Instant::now();
            self.set_state(State::Starting);
            // Dynos run until stopped; a year stands for "no limit".
            let run = self.runtime.run(
                &self.spec,
                &self.bundle,
                Duration::from_secs(365 * 86_400),
                tx,
            );
            tokio::pin!(run);
            // Not stopped for being slow to get ready; and up on the way.
            let (mut booted, mut was_up) = (true, false);
            let outcome = tokio::select! {
                outcome = &mut run => outcome,
                ready = self.readiness.wait(self.port, self.boot_timeout, Some(&self.spec.id)) => {
                    if ready {
                        was_up = true;
                        self.set_state(State::Up);
                    } else {
                        booted = false;
                        let runtime = Arc::clone(&self.runtime);
                        let id = self.spec.id.clone();
                        let _ = tokio::task::spawn_blocking(move || runtime.signal(&id, "KILL")).await;
                    }
                    run.await
                }
            };
            let _ = emitted.await;
            if self.supervision.stopping.load(Ordering::SeqCst) {
                return;
            }
            let how = match outcome {
                _ if !booted => format!(
                    "was not ready on $PORT ({}) within {}s and was stopped",
                    self.port,
                    self.boot_timeout.as_secs()
                ),
                Ok(o) if o.oom_killed => {
                    self.supervision.oom_kills.fetch_add(1, Ordering::SeqCst);
                    "ran out of memory".to_owned()
                }
                Ok(o) => match o.exit {
                    Exit::Code(code) => format!("exited with status {code}"),
                    Exit::Signal(signal) => format!("was killed by signal {signal}"),
                    Exit::TimedOut => "timed out".to_owned(),
                },
                Err(e) => format!("could not start: {e}"),
            };
            // Before the state: whoever sees `crashed` can read how.
            *self
                .supervision
                .ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some((booted, how.clone()));
            self.set_state(State::Crashed);
            if self.first_boot == FirstBoot::Decides
                && !was_up
                && self.supervision.restarts.load(Ordering::SeqCst) == 0
            {
                self.log(&format!("{} {how}", self.name));
                return;
            }
            // Immediately once, then 1 s doubling to a cap; a dyno that stayed up long enough
            // starts the count again.
            if started.elapsed() >= BACKOFF_RESET {
                delay = None;
            }
            let wait = delay.unwrap_or(Duration::ZERO);
            delay = Some(delay.map_or(Duration::from_secs(1), |d| (d * 2).min(BACKOFF_CAP)));
            self.log(&format!(
                "{} {how}; restarting in {}s",
                self.name,
                wait.as_secs()
            ));
            tokio::time::sleep(wait).await;
            if self.supervision.stopping.load(Ordering::SeqCst) {
                return;
            }
            self.supervision.restarts.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener on a free port of 127.0.0.1, and the port.
    async fn listening() -> (tokio::net::TcpListener, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        (listener, port)
    }

    /// Answers one startup message with `answer` and says whether the probe took it as ready.
    async fn probed(answer: &'static [u8]) -> bool {
        let (listener, port) = listening().await;
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut startup = [0u8; 8];
            stream.read_exact(&mut startup).await.expect("startup");
            stream.write_all(answer).await.expect("answer");
            stream.flush().await.expect("flush");
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let accepts = postgres_accepts(stream).await;
        server.await.expect("server");
        accepts
    }

    fn error(code: &str) -> &'static [u8] {
        let fields = format!("SFATAL\0C{code}\0Mnot now\0\0");
        let length = u32::try_from(4 + fields.len()).expect("short");
        let mut message = vec![b'E'];
        message.extend_from_slice(&length.to_be_bytes());
        message.extend_from_slice(fields.as_bytes());
        message.leak()
    }

    #[tokio::test]
    async fn a_postgres_server_in_recovery_is_not_ready_and_one_that_asks_for_a_password_is() {
        assert!(!probed(error("57P03")).await, "cannot_connect_now");
        assert!(probed(b"R\0\0\0\x08\0\0\0\x05").await, "a password request");
        assert!(
            probed(error("28000")).await,
            "no such role: it accepts sessions"
        );
        assert!(
            probed(b"HTTP/1.1 400 Bad Request\r\n\r\n").await,
            "not PostgreSQL: as TCP"
        );
    }

    /// Whether `readiness` takes a server that answers each connection with `answer` (`None`:
    /// it accepts and never answers) as ready within a second.
    async fn ready(readiness: Readiness, answer: Option<&'static [u8]>) -> bool {
        ready_within(readiness, answer, Duration::ZERO, Duration::from_secs(1)).await
    }

    /// [`ready`] for a server that takes `delay` to answer, within `limit`.
    async fn ready_within(
        readiness: Readiness,
        answer: Option<&'static [u8]>,
        delay: Duration,
        limit: Duration,
    ) -> bool {
        let (listener, port) = listening().await;
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (mut stream, _) = listener.accept().await.expect("accept");
                if let Some(answer) = answer {
                    let mut request = [0u8; 16];
                    let _ = stream.read(&mut request).await;
                    tokio::time::sleep(delay).await;
                    let _ = stream.write_all(answer).await;
                }
                held.push(stream);
            }
        });
        let started = tokio::time::Instant::now();
        let ready = readiness.wait(port, limit, None).await;
        assert!(
            started.elapsed() < limit + Duration::from_secs(1),
            "a probe ends with the time given"
        );
        server.abort();
        ready
    }

    #[tokio::test]
    async fn a_web_dyno_is_up_once_it_answers_http_of_any_status() {
        let answers = |status: &'static str| Some(status.as_bytes());
        assert!(
            !ready(Readiness::Answers, None).await,
            "accepts, never answers"
        );
        assert!(
            ready(
                Readiness::Answers,
                answers("HTTP/1.1 404 Not Found\r\n\r\n")
            )
            .await
        );
        assert!(ready(Readiness::Answers, answers("HTTP/1.0 500 Oops\r\n\r\n")).await);
        assert!(!ready(Readiness::Answers, answers("SSH-2.0-OpenSSH_9.2\r\n")).await);
        let health = || Readiness::Http("/health".to_owned());
        assert!(!ready(health(), answers("HTTP/1.1 404 Not Found\r\n\r\n")).await);
        assert!(ready(health(), answers("HTTP/1.1 302 Found\r\n\r\n")).await);
        assert!(ready(Readiness::Tcp, None).await);
        // A first page slower than any fixed probe timeout is up when it comes.
        let slow = ready_within(
            Readiness::Answers,
            answers("HTTP/1.1 200 OK\r\n\r\n"),
            Duration::from_millis(800),
            Duration::from_secs(1),
        );
        assert!(slow.await);
    }

    /// The probe reads the whole answer before it closes: a server that writes its head, then its
    /// body, then waits for the client to close (as Python's `http.server` shuts its socket down)
    /// sees an orderly close, not a reset (which it would log as an error).
    #[tokio::test]
    async fn the_probe_reads_the_answer_to_its_end() {
        let (listener, port) = listening().await;
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut request = [0u8; 16];
            let _ = stream.read(&mut request).await;
            stream
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n")
                .await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            stream.write_all(&[b'x'; 64 << 10]).await?;
            stream.shutdown().await?;
            // The client's close: end of stream, or a reset.
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).await
        });
        assert!(
            Readiness::Answers
                .wait(port, Duration::from_secs(5), None)
                .await
        );
        let closed = server.await.expect("server");
        assert!(closed.is_ok(), "the probe reset the connection: {closed:?}");
    }

    /// Time paused (it jumps ahead whenever all tasks wait): a first page that takes 30 s comes
    /// within a 60 s boot timeout, with no probe given up on and retried meanwhile.
    #[tokio::test(start_paused = true)]
    async fn a_first_page_slower_than_any_probe_timeout_is_up_when_it_comes() {
        let ok = Some(b"HTTP/1.1 200 OK\r\n\r\n".as_slice());
        let (delay, limit) = (Duration::from_secs(30), Duration::from_secs(60));
        assert!(ready_within(Readiness::Answers, ok, delay, limit).await);
        let health = Readiness::Http("/health".to_owned());
        assert!(ready_within(health, ok, delay, limit).await);
        assert!(!ready_within(Readiness::Answers, ok, limit + delay, limit).await);
    }
}

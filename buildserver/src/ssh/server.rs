//! The SSH server (russh): public-key auth against the store, exec of git services only, one
//! push per app, and the channel rules of DESIGN §3.5.
//!
//! Each accepted connection runs in its own task with a 30 s login deadline and a per-IP limit.
//! An exec spawns `git` in its own process group (see `git::receive`); the channel's data feeds its
//! stdin, its stdout and stderr come back as data and extended data, and only after both are
//! drained does the client get exit-status, EOF and close, in that order. If the connection is
//! lost first, the whole process group is killed (SIGTERM, then SIGKILL).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use russh::keys::PrivateKey;
use russh::server::{Auth, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::exec;
use crate::build::Push;
use crate::data_dir::DataDir;
use crate::git::push::{PushGuard, Pushes};
use crate::git::receive::GitService;
use crate::git::receive::{Spawn, valid_git_protocol};
use crate::store::PublicKey;
use crate::store::{AuditRecord, Store, User};
use paas_share::models::Role;

/// How long a client has from connecting to being authenticated.
const LOGIN_GRACE: Duration = Duration::from_secs(10);
/// Rejected login requests before the connection is closed: russh counts the client's opening
/// `none` request, so this lets 6 keys be tried, as OpenSSH's `MaxAuthTries` (6) does.
const MAX_AUTH_ATTEMPTS: usize = 7;
/// Connections from one address that have not logged in yet, before a new one closes the oldest
/// waiting one that has waited [`EVICT_AFTER`] (OpenSSH's MaxStartups refuses the newest
/// instead, which lets idle connections lock an address out): a client that logs in within a
/// moment always gets through.
const MAX_UNAUTHENTICATED_PER_IP: usize = 8;
/// How long a connection may wait to log in before a newer one from its address may close it.
const EVICT_AFTER: Duration = Duration::from_secs(2);
/// Connections from one address waiting to log in at once, all younger than [`EVICT_AFTER`]
/// (parallel pushes starting together): beyond it a new one is closed at once.
const MAX_WAITING_BURST_PER_IP: usize = 64;
/// Logged-in sessions from one address (a CI host pushing many apps at once).
const MAX_AUTHENTICATED_PER_IP: usize = 64;
/// After SIGTERM, how long a push's processes get before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// What every connection shares.
pub struct SshShared {
    pub store: Store,
    pub data: DataDir,
    pub pushes: Pushes,
    pub max_input_bytes: u64,
}

/// The SSH server's settings. A session where nothing is sent either way for `idle_timeout` is
/// closed; there are no keepalives, since russh counts a keepalive's reply as activity (a silent
/// session would never close), and a dead client is found by the same timeout.
pub fn config(host_key: PrivateKey, idle_timeout: Duration) -> russh::server::Config {
    russh::server::Config {
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        keys: vec![host_key],
        max_auth_attempts: MAX_AUTH_ATTEMPTS,
        auth_rejection_time: Duration::from_millis(200),
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: Some(idle_timeout),
        keepalive_interval: None,
        nodelay: true,
        ..Default::default()
    }
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    config: russh::server::Config,
    shared: Arc<SshShared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    let budgets = Arc::new(Budgets::default());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "ssh accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        // A second handle on the socket: shutting it down ends the session whatever state the
        // protocol is in (a disconnect message would wait for the key exchange to finish).
        let (stream, socket) = match split_socket(stream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot set up the ssh connection");
                continue;
            }
        };
        let deadline_socket = match socket.try_clone() {
            Ok(socket) => socket,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot set up the ssh connection");
                continue;
            }
        };
        let Some(slot) = budgets.admit(peer.ip(), socket) else {
            tracing::warn!(%peer, "too many ssh connections waiting to log in from this address; refused");
            // A line before the version exchange is allowed (RFC 4253 §4.2); `ssh -v` shows it.
            let _ = std::io::Write::write_all(
                &mut &deadline_socket,
                b"paas: too many connections from your address are waiting to log in; try again in a few seconds\r\n",
            );
            continue;
        };
        let mut connection = Connection::new(Arc::clone(&shared), peer);
        connection.slot = Some(slot);
        let authenticated = Arc::clone(&connection.authenticated);
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            let deadline = tokio::spawn(async move {
                tokio::time::sleep(LOGIN_GRACE).await;
                if !authenticated.load(Ordering::SeqCst) {
                    tracing::info!(%peer, "ssh login timed out");
                    let _ = deadline_socket.shutdown(std::net::Shutdown::Both);
                }
            });
            match russh::server::run_stream(config, stream, connection).await {
                Ok(session) => {
                    if let Err(e) = session.await {
                        tracing::debug!(%peer, error = %e, "ssh session ended with an error");
                    }
                }
                Err(e) => tracing::debug!(%peer, error = %e, "ssh handshake failed"),
            }
            deadline.abort();
        });
    }
}

/// The stream for russh and a clone of its socket for the login deadline.
fn split_socket(
    stream: tokio::net::TcpStream,
) -> std::io::Result<(tokio::net::TcpStream, std::net::TcpStream)> {
    let std = stream.into_std()?;
    let clone = std.try_clone()?;
    Ok((tokio::net::TcpStream::from_std(std)?, clone))
}

/// The connections each address holds: those not logged in yet (with their sockets, so that the
/// oldest can be closed for a new one) and the logged-in ones.
#[derive(Default)]
struct Budgets {
    table: Mutex<BudgetTable>,
}

#[derive(Default)]
struct BudgetTable {
    next: u64,
    /// Per address, oldest first: (id, socket, when it connected).
    waiting: HashMap<IpAddr, std::collections::VecDeque<(u64, std::net::TcpStream, Instant)>>,
    logged_in: HashMap<IpAddr, usize>,
}

impl Budgets {
    fn lock(&self) -> std::sync::MutexGuard<'_, BudgetTable> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new connection from `ip` as waiting to log in. With [`MAX_UNAUTHENTICATED_PER_IP`]
    /// waiting already, the oldest is closed if it has waited [`EVICT_AFTER`]; else the new one
    /// is let in too, up to [`MAX_WAITING_BURST_PER_IP`], and refused (None) beyond.
    fn admit(self: &Arc<Self>, ip: IpAddr, socket: std::net::TcpStream) -> Option<Slot> {
        let mut table = self.lock();
        table.next += 1;
        let id = table.next;
        let waiting = table.waiting.entry(ip).or_default();
        if waiting.len() >= MAX_UNAUTHENTICATED_PER_IP {
            if waiting
                .front()
                .is_some_and(|(_, _, since)| since.elapsed() >= EVICT_AFTER)
            {
                let (_, oldest, _) = waiting.pop_front().expect("checked");
                tracing::info!(%ip, "ssh connection waiting to log in closed for a newer one");
                let _ = oldest.shutdown(std::net::Shutdown::Both);
            } else if waiting.len() >= MAX_WAITING_BURST_PER_IP {
                return None;
            }
        }
        waiting.push_back((id, socket, Instant::now()));
        Some(Slot {
            budgets: Arc::clone(self),
            ip,
            id,
            logged_in: false,
        })
    }
}

/// A connection's place in its address's budget; given back on drop.
struct Slot {
    budgets: Arc<Budgets>,
    ip: IpAddr,
    id: u64,
    logged_in: bool,
}

impl Slot {
    /// Moves the connection from waiting to logged in; false (and no change) when the address
    /// already has [`MAX_AUTHENTICATED_PER_IP`] sessions.
    fn log_in(&mut self) -> bool {
        let mut table = self.budgets.lock();
        if table.logged_in.get(&self.ip).copied().unwrap_or(0) >= MAX_AUTHENTICATED_PER_IP {
            return false;
        }
        remove_waiting(&mut table, self.ip, self.id);
        *table.logged_in.entry(self.ip).or_default() += 1;
        self.logged_in = true;
        true
    }
}

fn remove_waiting(table: &mut BudgetTable, ip: IpAddr, id: u64) {
    if let Some(waiting) = table.waiting.get_mut(&ip) {
        waiting.retain(|(other, _, _)| *other != id);
        if waiting.is_empty() {
            table.waiting.remove(&ip);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.budgets.lock();
        if self.logged_in {
            if let Some(count) = table.logged_in.get_mut(&self.ip) {
                *count -= 1;
                if *count == 0 {
                    table.logged_in.remove(&self.ip);
                }
            }
        } else {
            remove_waiting(&mut table, self.ip, self.id);
        }
    }
}

/// Kills a process group that is still running when this is dropped (the connection went away).
/// The task waiting for the group's leader sets `exited`, so that a finished group is left alone.
struct ProcessGroup {
    pgid: Pid,
    exited: Arc<AtomicBool>,
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if self.exited.load(Ordering::SeqCst) {
            return;
        }
        let pgid = self.pgid;
        tracing::info!(
            pgid = pgid.as_raw(),
            "ssh session lost; stopping its git processes"
        );
        let _ = killpg(pgid, Signal::SIGTERM);
        std::thread::spawn(move || {
            std::thread::sleep(KILL_GRACE);
            let _ = killpg(pgid, Signal::SIGKILL);
        });
    }
}

/// The one SSH login name pushes use (`ssh://git@host/app.git`).
const GIT_LOGIN: &str = "git";

/// The per-connection handler.
struct Connection {
    shared: Arc<SshShared>,
    peer: SocketAddr,
    user: Option<User>,
    /// The name the client logged in as (the `git` of `git@host`), cut at 64 characters.
    login: String,
    authenticated: Arc<AtomicBool>,
    /// Logged in while its address had [`MAX_AUTHENTICATED_PER_IP`] sessions: its commands are
    /// refused with the reason (a refused login would read "Permission denied"), and the login
    /// deadline closes it.
    over_budget: bool,
    git_protocol: Option<String>,
    /// The connection's place in its address's budget (None only while it is being set up).
    slot: Option<Slot>,
    /// Stdin of the process each channel runs, until the client's EOF.
    stdin: HashMap<ChannelId, mpsc::Sender<Bytes>>,
    /// Process groups of the channels' commands: dropping the connection kills them.
    groups: Vec<ProcessGroup>,
}

impl Connection {
    fn new(shared: Arc<SshShared>, peer: SocketAddr) -> Self {
        Self {
            shared,
            peer,
            user: None,
            login: String::new(),
            authenticated: Arc::default(),
            over_budget: false,
            slot: None,
            git_protocol: None,
            stdin: HashMap::new(),
            groups: Vec::new(),
        }
    }

    /// Ends a channel with a one-line reason on stderr and exit status 1.
    fn refuse(session: &mut Session, channel: ChannelId, reason: &str) -> Result<(), russh::Error> {
        session.channel_success(channel)?;
        session.extended_data(channel, 1, Bytes::from(format!("paas: {reason}\n")))?;
        Self::finish(session, channel, 1)
    }

    /// Refuses a git command the way git shows it: `fatal: remote error: <reason>`.
    fn refuse_git(
        session: &mut Session,
        channel: ChannelId,
        reason: &str,
    ) -> Result<(), russh::Error> {
        session.channel_success(channel)?;
        let line = format!("ERR {reason}\n");
        session.data(
            channel,
            Bytes::from(format!("{:04x}{line}", line.len() + 4)),
        )?;
        Self::finish(session, channel, 1)
    }

    fn finish(session: &mut Session, channel: ChannelId, status: u32) -> Result<(), russh::Error> {
        session.exit_status_request(channel, status)?;
        session.eof(channel)?;
        session.close(channel)
    }

    async fn start_git(
        &mut self,
        channel: ChannelId,
        command: exec::GitCommand,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        let Some(user) = self.user.clone() else {
            return Self::refuse(session, channel, "not authenticated");
        };
        // One login name for everyone, as on Heroku and GitHub: the key says who it is.
        if self.login != GIT_LOGIN {
            return Self::refuse_git(
                session,
                channel,
                &format!(
                    "log in as {GIT_LOGIN}, not {:?}: the remote is ssh://{GIT_LOGIN}@HOST:PORT/{}.git (`paas git:remote` sets it)",
                    self.login, command.app
                ),
            );
        }
        let name = command.app.clone();
        let lookup = (user.clone(), name.clone());
        let app = self
            .shared
            .store
            .call(move |db| {
                let found = db.app_role(&lookup.0, &lookup.1)?;
                let id = match &found {
                    Some((app, _)) => Some(app.id.clone()),
                    None => db.app_id_named(&lookup.1)?,
                };
                Ok::<_, crate::store::StoreError>((found, id))
            })
            .await;
        // Reading the code is a viewer's; pushing it a deployer's (DESIGN §5 "access").
        let need = match command.service {
            GitService::ReceivePack => Role::Deployer,
            GitService::UploadPack => Role::Viewer,
        };
        let app = match app {
            Ok((Some((app, role)), _)) if role >= need => app,
            Ok((found, app_id)) => {
                tracing::info!(user = %user.name, app = %name, "git access refused");
                let message = match found {
                    Some((_, role)) => format!(
                        "you are a {role} of '{name}': pushing needs deployer (ask an admin of the app: `paas access -a {name}` lists them)"
                    ),
                    None => format!("app '{name}' does not exist or you have no access to it"),
                };
                if command.service == GitService::ReceivePack {
                    self.shared
                        .store
                        .audit(AuditRecord {
                            actor: user.name.to_string(),
                            token_id: None,
                            source: format!("ssh {}", self.peer.ip()),
                            app_id,
                            app: Some(name.to_string()),
                            action: "push".to_owned(),
                            detail: serde_json::json!({}),
                            outcome: "denied",
                            status: None,
                        })
                        .await;
                }
                return Self::refuse_git(session, channel, &message);
            }
            Err(e) => {
                tracing::error!(error = %anyhow::Error::from(e), "store failure during ssh exec");
                return Self::refuse_git(session, channel, "internal server error");
            }
        };
        let guard: Option<PushGuard> = match command.service {
            GitService::ReceivePack => {
                let push = Push {
                    app: app.app_ref(),
                    user: user.clone(),
                    canary: None,
                    source: format!("ssh {}", self.peer.ip()),
                };
                match self.shared.pushes.begin(push) {
                    Some(guard) => Some(guard),
                    None => {
                        return Self::refuse_git(
                            session,
                            channel,
                            &format!(
                                "another push to '{name}' is in progress (follow it with \
                                 `paas builds output -a {name}`, then push again)"
                            ),
                        );
                    }
                }
            }
            GitService::UploadPack => None,
        };
        let spawn = Spawn {
            data: &self.shared.data,
            app_id: &app.id,
            service: command.service,
            token: guard.as_ref().map(|g| g.token.as_str()),
            git_protocol: self.git_protocol.as_deref(),
            max_input_bytes: self.shared.max_input_bytes,
        };
        let mut child = match spawn.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::error!(error = %e, "cannot spawn git");
                return Self::refuse_git(session, channel, "internal server error");
            }
        };
        tracing::info!(user = %user.name, app = %name, service = command.service.subcommand(), peer = %self.peer, "git session started");
        session.channel_success(channel)?;

        let pgid = Pid::from_raw(
            child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .unwrap_or_default(),
        );
        let exited = Arc::new(AtomicBool::new(false));
        self.groups.push(ProcessGroup {
            pgid,
            exited: Arc::clone(&exited),
        });

        let (stdin_tx, mut stdin_rx) = mpsc::channel::<Bytes>(16);
        self.stdin.insert(channel, stdin_tx);
        let mut stdin = child.stdin.take().expect("stdin is piped");
        tokio::spawn(async move {
            while let Some(chunk) = stdin_rx.recv().await {
                if stdin.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            // Dropping stdin closes it: the client's EOF reaches git.
        });

        let handle = session.handle();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        tokio::spawn(async move {
            let _guard = guard;
            let (out, err) = tokio::join!(
                pump(stdout, |chunk| {
                    let handle = handle.clone();
                    async move { handle.data(channel, chunk).await.is_ok() }
                }),
                pump(stderr, |chunk| {
                    let handle = handle.clone();
                    async move { handle.extended_data(channel, 1, chunk).await.is_ok() }
                }),
            );
            let status = child.wait().await;
            exited.store(true, Ordering::SeqCst);
            let code = match status {
                Ok(status) => status.code().map_or(1, |c| u32::try_from(c).unwrap_or(1)),
                Err(_) => 1,
            };
            tracing::info!(app = %name, code, "git session finished");
            if out && err {
                let _ = handle.exit_status_request(channel, code).await;
                let _ = handle.eof(channel).await;
                let _ = handle.close(channel).await;
            }
        });
        Ok(())
    }
}

/// Copies `reader` to `send` in chunks; false once `send` fails (the client is gone).
async fn pump<R, F, Fut>(mut reader: R, send: F) -> bool
where
    R: AsyncRead + Unpin,
    F: Fn(Bytes) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return true,
            Ok(n) => {
                if !send(Bytes::copy_from_slice(&buf[..n])).await {
                    return false;
                }
            }
        }
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // Only say yes to keys that could succeed; the user is bound in `auth_publickey`, once the
        // client has proved it holds the key.
        Ok(if self.known_key(offer.public_key).await.is_some() {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        login: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        match self.known_key(key.public_key).await {
            Some(user) => {
                if self.slot.as_mut().is_some_and(Slot::log_in) {
                    tracing::info!(user = %user.name, peer = %self.peer, "ssh login");
                    self.authenticated.store(true, Ordering::SeqCst);
                } else {
                    tracing::warn!(user = %user.name, peer = %self.peer, "too many ssh sessions from this address; its commands are refused");
                    self.over_budget = true;
                }
                self.user = Some(user);
                self.login = login.chars().take(64).collect();
                Ok(Auth::Accept)
            }
            None => Ok(Auth::reject()),
        }
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.stdin.contains_key(&channel) {
            return Self::refuse(session, channel, "one command per channel");
        }
        if self.over_budget {
            return Self::refuse_git(
                session,
                channel,
                &format!(
                    "your address has {MAX_AUTHENTICATED_PER_IP} SSH sessions open already; try again when some have ended"
                ),
            );
        }
        match exec::parse(data) {
            Ok(command) => self.start_git(channel, command, session).await,
            Err(refusal) => {
                tracing::info!(peer = %self.peer, command = %String::from_utf8_lossy(&data[..data.len().min(80)]), "ssh exec refused");
                Self::refuse(session, channel, &refusal.to_string())
            }
        }
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let name = self
            .user
            .as_ref()
            .map_or_else(String::new, |u| format!(" {}", u.name));
        Self::refuse(
            session,
            channel,
            &format!(
                "hi{name}! You are authenticated, but paas offers no shell; deploy with `git push`"
            ),
        )
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Client environment never reaches git, except a well-formed protocol version request.
        if name == "GIT_PROTOCOL" && valid_git_protocol(value) {
            self.git_protocol = Some(value.to_owned());
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(peer = %self.peer, subsystem = name, "ssh subsystem refused");
        session.channel_failure(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn tcpip_forward(
        &mut self,
        _address: &str,
        _port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(stdin) = self.stdin.get(&channel) {
            // Waits only while git is not reading: that is the backpressure the client should see.
            if stdin.send(Bytes::copy_from_slice(data)).await.is_err() {
                self.stdin.remove(&channel);
            }
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Only git's stdin closes; the channel stays open until git's output is drained.
        self.stdin.remove(&channel);
        Ok(())
    }
}

impl Connection {
    /// The owner of `key`, if it is registered and of an accepted type.
    async fn known_key(&self, key: &russh::keys::PublicKey) -> Option<User> {
        let openssh = key.to_openssh().ok()?;
        let key = PublicKey::parse(&openssh).ok()?;
        let fingerprint = key.fingerprint;
        self.shared
            .store
            .call(move |db| db.key_owner(&fingerprint))
            .await
            .ok()
            .flatten()
    }
}

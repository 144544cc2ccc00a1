//! Spawning `git receive-pack` / `git upload-pack` for one SSH exec: in the app's bare repo, in
//! its own process group, with a cleared environment (DESIGN §3.5) and the receive limits.

use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::data_dir::DataDir;

/// Environment variables the pre-receive hook reads to reach the daemon.
pub const HOOK_SOCKET_ENV: &str = "PAAS_HOOK_SOCKET";
pub const PUSH_TOKEN_ENV: &str = "PAAS_PUSH_TOKEN";

/// Which git service an SSH exec asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitService {
    /// `git push`
    ReceivePack,
    /// `git clone` / `git fetch`
    UploadPack,
}

impl GitService {
    /// The `git` subcommand that serves it.
    pub fn subcommand(self) -> &'static str {
        match self {
            Self::ReceivePack => "receive-pack",
            Self::UploadPack => "upload-pack",
        }
    }
}

pub struct Spawn<'a> {
    pub data: &'a DataDir,
    pub app_id: &'a str,
    pub service: GitService,
    /// The push token, for receive-pack.
    pub token: Option<&'a str>,
    /// The client's `GIT_PROTOCOL` request, already validated.
    pub git_protocol: Option<&'a str>,
    pub max_input_bytes: u64,
}

/// Whether a client's `GIT_PROTOCOL` value may be passed on: `version=2` and the like.
pub fn valid_git_protocol(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b':' | b'.'))
}

impl Spawn<'_> {
    pub fn spawn(&self) -> std::io::Result<Child> {
        let repo = self.data.repo(self.app_id);
        let mut cmd = Command::new("git");
        cmd.arg("-c")
            .arg(format!("core.hooksPath={}", self.data.hooks().display()));
        if self.service == GitService::ReceivePack {
            cmd.args([
                "-c",
                "receive.fsckObjects=true",
                "-c",
                "receive.denyDeletes=true",
                // Keepalives every 2 s while the pre-receive hook is silent (receive-pack sends
                // them during its hooks): a long quiet build or release phase is not an idle SSH
                // session.
                "-c",
                "receive.keepAlive=2",
                // `git push -o canary=20`: the options reach the hook (see `git::hook`).
                "-c",
                "receive.advertisePushOptions=true",
            ])
            .arg("-c")
            .arg(format!("receive.maxInputSize={}", self.max_input_bytes));
        }
        cmd.arg(self.service.subcommand());
        if self.service == GitService::UploadPack {
            cmd.arg("--strict");
        }
        cmd.arg(&repo)
            .current_dir(&repo)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            // An empty HOME: no user or global git config applies to pushes.
            .env("HOME", self.data.hooks())
            .env("LANG", "C.UTF-8")
            .env(HOOK_SOCKET_ENV, self.data.hook_socket());
        if let Some(token) = self.token {
            cmd.env(PUSH_TOKEN_ENV, token);
        }
        if let Some(protocol) = self.git_protocol {
            cmd.env("GIT_PROTOCOL", protocol);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        cmd.spawn()
    }
}

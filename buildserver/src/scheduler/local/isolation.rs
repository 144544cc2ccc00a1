//! Apps on one server cannot reach each other's dynos over the host's loopback. Local dynos
//! share the host's network (DESIGN §3.8), so without this any app (or build) could connect to
//! another app's `$PORT` on 127.0.0.1 and skip the router: its maintenance mode, limits, access
//! log and TLS. Each app's containers run with a group of their own (a primary gid from
//! [`FIRST_GID`] up, given out in order while the server runs), and an nftables table of this
//! server (`inet paas_dynos_<pid>`) refuses, with a TCP reset, a connection that a process of
//! [`BUILD_UID`] (dynos and builds) or [`SERVICE_UID`] (add-on services: a Redis told to
//! replicate from a dyno's port) opens over loopback to a dyno's port unless its group is the
//! app's that owns the port:
//!
//! ```text
//! meta skuid { 2000, 2100 } oif "lo" tcp flags syn / syn,ack tcp dport @ports
//!     tcp dport . meta skgid != @owned reject with tcp reset
//! ```
//!
//! The router, health checks and everything else the server runs are other users and pass; so
//! does a dyno calling its own app's dynos (a process calling its own `$PORT`). Builds and
//! add-on services run with groups of their own and reach no dyno. The rule matches SYNs only, with no connection
//! tracking, so traffic that is allowed costs nothing more than three comparisons per packet.
//! A dyno cannot change its group (no capabilities, no new privileges).
//!
//! The rules are text for `nft -f -`, nftables' own interface: they hold only numbers this
//! module makes, never user input (the `nftables` crate would generate the same input as JSON).
//! A table left by a server that was killed is removed by the next one to start.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;

use crate::build::BUILD_UID;
use crate::build::stack::SERVICE_UID;

/// The first app group: far above the groups a Debian host gives out (and its subgid ranges).
pub const FIRST_GID: u32 = 1_000_000_000;

/// This server's nftables table name's prefix; the server's pid follows.
const TABLE_PREFIX: &str = "paas_dynos_";

/// The server's isolation of apps, installed when the local scheduler starts.
#[derive(Clone)]
pub struct Isolation {
    inner: Arc<Inner>,
}

struct Inner {
    table: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Each app's group, by app id.
    groups: HashMap<String, u32>,
    next: u32,
    /// The groups that own each admitted port (one, unless a port went from a dyno that is
    /// ending to a new one).
    ports: HashMap<u16, Vec<u32>>,
    /// Whether the table is gone (the server stops): ports ending after it have nothing to do.
    removed: bool,
}

/// A dyno port that only its app's containers may reach over loopback, until this is dropped.
pub struct AdmittedPort {
    pub number: u16,
    gid: u32,
    inner: Arc<Inner>,
}

impl Isolation {
    /// Installs this server's table (and removes those of servers that are gone).
    ///
    /// Errors: `nft` missing, or the kernel refusing the table (no nf_tables); the message says
    /// what to install.
    pub fn install() -> anyhow::Result<Self> {
        let table = format!("{TABLE_PREFIX}{}", std::process::id());
        let mut script = String::new();
        // `table` then `delete table`: one transaction that succeeds also when another server
        // starting at the same time removed the table first.
        for pid in leftover_tables()? {
            let gone = format!("{TABLE_PREFIX}{pid}");
            script.push_str(&format!("table inet {gone}\ndelete table inet {gone}\n"));
        }
        script.push_str(&format!(
            "table inet {table}\ndelete table inet {table}\n\
             table inet {table} {{\n\
               set ports {{ type inet_service; }}\n\
               set owned {{ type inet_service . gid; }}\n\
               chain output {{\n\
                 type filter hook output priority 0; policy accept;\n\
                 meta skuid {{ {BUILD_UID}, {SERVICE_UID} }} oif \"lo\" tcp flags & (syn | ack) == syn tcp dport @ports \
                   tcp dport . meta skgid != @owned reject with tcp reset\n\
               }}\n\
             }}\n"
        ));
        nft(&script).context(
            "cannot install the nftables table that keeps apps from reaching each other's dynos \
             (is the nftables package installed? `apt-get install nftables`)",
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                table,
                state: Mutex::new(State {
                    next: FIRST_GID,
                    ..State::default()
                }),
            }),
        })
    }

    /// The group `app_id`'s containers run with (the same for all of them while the server runs).
    pub fn group(&self, app_id: &str) -> u32 {
        let mut state = self.inner.state();
        if let Some(gid) = state.groups.get(app_id) {
            return *gid;
        }
        let gid = state.next;
        state.next += 1;
        state.groups.insert(app_id.to_owned(), gid);
        gid
    }

    /// Lets only the containers of group `gid` reach `port` over loopback.
    pub fn admit(&self, port: u16, gid: u32) -> anyhow::Result<AdmittedPort> {
        let mut state = self.inner.state();
        let table = &self.inner.table;
        nft(&format!(
            "add element inet {table} ports {{ {port} }}\n\
             add element inet {table} owned {{ {port} . {gid} }}\n"
        ))
        .with_context(|| format!("cannot keep other apps from the dyno's port {port}"))?;
        state.ports.entry(port).or_default().push(gid);
        Ok(AdmittedPort {
            number: port,
            gid,
            inner: Arc::clone(&self.inner),
        })
    }

    /// Removes the server's table (at shutdown, after the dynos).
    pub fn remove(&self) {
        self.inner.state().removed = true;
        if let Err(e) = nft(&format!("delete table inet {}\n", self.inner.table)) {
            tracing::warn!(error = %format!("{e:#}"), "cannot remove the dyno isolation table");
        }
    }
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `gid`'s claim on `port` back (the port itself once no group claims it).
    fn withdraw(&self, port: u16, gid: u32) {
        let mut state = self.state();
        if state.removed {
            return;
        }
        let table = &self.table;
        let claims = state.ports.entry(port).or_default();
        if let Some(i) = claims.iter().position(|g| *g == gid) {
            claims.remove(i);
        }
        let (still_owned, unclaimed) = (claims.contains(&gid), claims.is_empty());
        let mut script = String::new();
        if !still_owned {
            script.push_str(&format!(
                "delete element inet {table} owned {{ {port} . {gid} }}\n"
            ));
        }
        if unclaimed {
            state.ports.remove(&port);
            script.push_str(&format!("delete element inet {table} ports {{ {port} }}\n"));
        }
        if let Err(e) = nft(&script) {
            tracing::warn!(port, error = %format!("{e:#}"), "cannot withdraw a dyno's port");
        }
    }
}

impl Drop for AdmittedPort {
    fn drop(&mut self) {
        let (inner, port, gid) = (Arc::clone(&self.inner), self.number, self.gid);
        // Off the async threads: `nft` takes a few milliseconds.
        std::thread::spawn(move || inner.withdraw(port, gid));
    }
}

/// The pids of servers whose tables are still there although they are gone.
fn leftover_tables() -> anyhow::Result<Vec<u32>> {
    let output = Command::new("nft")
        .args(["list", "tables", "inet"])
        .output()
        .context("cannot run nft")?;
    anyhow::ensure!(
        output.status.success(),
        "nft list tables: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("table inet ")?.strip_prefix(TABLE_PREFIX))
        .filter_map(|pid| pid.trim().parse::<u32>().ok())
        .filter(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        .collect())
}

/// Runs `nft -f -` on `script`.
fn nft(script: &str) -> anyhow::Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run nft")?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .context("cannot write to nft")?;
    let output = child.wait_with_output().context("cannot run nft")?;
    anyhow::ensure!(
        output.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

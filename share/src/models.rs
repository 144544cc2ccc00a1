//! Request and response bodies of the HTTP API (DESIGN §3.3). Requests reject unknown fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::names::{AppName, UserName};

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// `GET /account`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub name: UserName,
    pub admin: bool,
    pub created_at: String,
    /// The scoped token the request came with, if it did: what it is limited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenInfo>,
}

/// An SSH public key that may push as its owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshKey {
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The key type, such as `ssh-ed25519`.
    pub algorithm: String,
    pub comment: String,
    pub public_key: String,
    pub created_at: String,
}

/// `POST /account/keys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    /// One line in OpenSSH `authorized_keys` format: `ssh-ed25519 AAAA… comment`.
    pub public_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct App {
    pub id: String,
    pub name: AppName,
    pub owner: UserName,
    /// Where to `git push`: `ssh://git@<host>:<port>/<app>.git`.
    pub git_url: String,
    /// Where the app is served: `http://<app>.<domain>:<port>/`.
    pub web_url: String,
    /// The version of the release that runs (the current one), if one has run.
    pub release: Option<u32>,
    /// The stack its next build runs on (Heroku's `build_stack`): the app's own, else the
    /// server's default; None while the server has no stack.
    pub stack: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// What the caller may do on it ([`Role`]): `admin` for its owner and the server's admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// `GET /stacks`: a stack installed on the server, with the language runtimes it has.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stack {
    pub name: String,
    /// Whether new apps get it.
    pub default: bool,
    /// The Python version (`3.11.2`), if the stack has Python.
    pub python: Option<String>,
    /// The Node.js version (`18.19.0`), if the stack has Node.js.
    pub node: Option<String>,
}

impl Stack {
    /// `Python 3.11.2, Node.js 18.19.0`, or `no Python or Node.js`.
    pub fn runtimes_line(&self) -> String {
        runtimes_line(self.python.as_deref(), self.node.as_deref())
    }
}

/// A stack's runtimes for people: `Python 3.11.2, Node.js 18.19.0`, the ones it has, or
/// `no Python or Node.js`.
pub fn runtimes_line(python: Option<&str>, node: Option<&str>) -> String {
    let parts: Vec<String> = [("Python", python), ("Node.js", node)]
        .into_iter()
        .filter_map(|(what, version)| version.map(|v| format!("{what} {v}")))
        .collect();
    if parts.is_empty() {
        "no Python or Node.js".to_owned()
    } else {
        parts.join(", ")
    }
}

/// `POST /apps`. Without a name the server picks one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    #[serde(default, deserialize_with = "crate::names::new_app_name")]
    pub name: Option<AppName>,
}

/// `PATCH /apps/{app}`: a new name, a new stack (from the next build), or both.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::names::new_app_name"
    )]
    pub name: Option<AppName>,
    /// An installed stack's name (`GET /stacks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// `GET /apps/{app}/config-vars`.
pub type ConfigVars = BTreeMap<String, String>;

/// What a viewer sees instead of a config var's value.
pub const REDACTED: &str = "[redacted]";

/// `PATCH /apps/{app}/config-vars`: a value sets the key, `null` removes it.
pub type ConfigPatch = BTreeMap<String, Option<String>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseStatus {
    /// Recorded; not yet deploying (waiting for the app's earlier deploys).
    Pending,
    /// Its dynos are starting; the previous release serves until they are up. A canary stays
    /// here while it runs beside the previous release (`paas canary`).
    Deploying,
    /// It ran (or, with no build yet, there was nothing to run).
    Succeeded,
    /// It did not start, or the server stopped during its deploy; `failure` says why.
    Failed,
}

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Deploying => "deploying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// An immutable release (DESIGN §3.4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub version: u32,
    pub description: String,
    pub status: ReleaseStatus,
    /// The build whose image this release runs; none before the first build.
    pub build_id: Option<String>,
    /// The image, by digest.
    pub image: Option<String>,
    /// Process type → command, from the build.
    pub process_types: BTreeMap<String, String>,
    /// The config vars snapshot this release runs with. Lists (`GET /apps/{app}/releases`) leave
    /// it out, so that they stay small; `GET /apps/{app}/releases/{version}` has it (absent
    /// there when the release has no config vars).
    #[serde(default, skip_serializing_if = "ConfigVars::is_empty")]
    pub config_vars: ConfigVars,
    pub user: UserName,
    /// Whether this release runs: the newest that succeeded and has a build (failed releases
    /// never are).
    pub current: bool,
    /// Why a failed release failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub created_at: String,
}

/// A release version as users write it: `3` or `v3`.
pub fn parse_release_version(s: &str) -> Option<u32> {
    let digits = s.strip_prefix('v').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|v| *v > 0)
}

/// `POST /apps/{app}/releases`: roll back by creating a new release from version `rollback_to`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRelease {
    pub rollback_to: u32,
}

/// A build of a pushed commit (`GET /apps/{app}/builds`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Build {
    pub id: String,
    pub status: ReleaseStatus,
    /// The pushed commit.
    pub commit: String,
    /// The buildpack(s) that built it, space-separated.
    pub buildpack: Option<String>,
    pub process_types: Option<BTreeMap<String, String>>,
    /// The step that failed and why.
    pub failure: Option<String>,
    pub user: UserName,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Milliseconds from start to finish (so far, while running).
    pub duration_ms: Option<u64>,
}

/// One line of an app's log (DESIGN §3.10): `GET /apps/{app}/logs` streams these as NDJSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Increases with every line of the app, also across server restarts: a reader resumes with
    /// `after=<seq>` and sees no line twice.
    pub seq: u64,
    /// RFC 3339 with microseconds, UTC.
    pub time: String,
    /// `app` (dyno output) or `paas` (build, api, router, scheduler).
    pub source: String,
    /// `web.1`, `build`, `api`, `router`, `scheduler`.
    pub process: String,
    pub message: String,
}

impl LogLine {
    /// How the server's last line of a followed stream it ends (a revoked token, a destroyed
    /// app) begins; it comes from `paas[logs]`.
    pub const STREAM_ENDED: &str = "this stream ended: ";

    /// Why the server ended the followed stream, if this is its last line.
    pub fn end_reason(&self) -> Option<&str> {
        (self.source == "paas" && self.process == "logs")
            .then(|| self.message.strip_prefix(Self::STREAM_ENDED))
            .flatten()
    }
}

impl std::fmt::Display for LogLine {
    /// `2026-11-26T02:10:06.123456Z app[web.1]: message`; each line of a message of several
    /// (a platform message quoting a dyno's output) gets the prefix, as Heroku's log lines all do.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, line) in self.message.split('\n').enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{} {}[{}]: {line}", self.time, self.source, self.process)?;
        }
        Ok(())
    }
}

/// A running (or ended) dyno: `GET /apps/{app}/dynos`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dyno {
    /// `web.1`
    pub name: String,
    #[serde(rename = "type")]
    pub process_type: String,
    /// `starting`, `up`, `crashed` (waiting to restart) or `down` (stopping).
    pub state: String,
    pub release: u32,
    /// How many times it crashed and was restarted.
    pub restarts: u32,
    pub command: String,
    pub port: u16,
    /// When it entered its state (RFC 3339).
    pub since: String,
    /// The pod that runs it, on Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Where to attach to a one-off dyno made with `attach: true` (a WebSocket URL, within 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_url: Option<String>,
}

/// `POST /apps/{app}/dynos`: a one-off dyno (`paas run`) of the app's running release, as
/// Heroku's Dyno Create.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDyno {
    /// A shell command line (`python manage.py migrate`), at most 64 KiB, no NUL.
    pub command: String,
    /// Wait for a client at `attach_url` (else start now, output to the app's log).
    #[serde(default)]
    pub attach: bool,
    /// Variables over the app's config vars.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// A terminal of this size (attached runs only); without it, separate stdin, stdout and
    /// stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<WindowSize>,
    /// Seconds before it is stopped [default: 3600].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_live: Option<u64>,
}

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSize {
    pub columns: u16,
    pub lines: u16,
}

/// How an attached one-off dyno ended: the last message of its attach stream (channel 3).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunExit {
    /// The command's exit status; 128 + N when signal N killed it (as shells report it).
    pub status: i32,
    /// The signal that killed it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Stopped at its time limit.
    #[serde(default)]
    pub timed_out: bool,
    /// Stopped before it ended: `paas stop`, the app's destroy, or the server stopping.
    #[serde(default)]
    pub stopped: bool,
    /// The kernel killed a process of it for exceeding its memory.
    #[serde(default)]
    pub oom_killed: bool,
    /// It could not run (status is then 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /apps/{app}/dynos/restart`: one process type, one dyno, or (empty) all.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub process_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dyno: Option<String>,
}

/// One row of `GET /apps/{app}/formation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Formation {
    #[serde(rename = "type")]
    pub process_type: String,
    pub quantity: u32,
    pub command: String,
}

/// `PATCH /apps/{app}/autoscale/{type}`: the range a process type's dynos are kept in, and the
/// targets that move it (at least one). Latency targets need the platform's router (the local
/// scheduler); CPU targets work on both schedulers (a HorizontalPodAutoscaler on Kubernetes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleSettings {
    /// The fewest dynos, at least 1.
    pub min: u32,
    /// The most dynos, at most the server's per-app limit.
    pub max: u32,
    /// Scale up while the router's p95 response time is over this, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<u32>,
    /// Scale up while the dynos' mean CPU use is over this, in percent of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<u32>,
}

/// One autoscaled process type, as `GET /apps/{app}/autoscale` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoscaleRule {
    #[serde(rename = "type")]
    pub process_type: String,
    #[serde(flatten)]
    pub settings: AutoscaleSettings,
    /// RFC 3339.
    pub updated_at: String,
}

/// One decision of the autoscaler: a change of a type's dyno count, or why it could not make one
/// (`from` = `to`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoscaleDecision {
    /// RFC 3339.
    pub at: String,
    #[serde(rename = "type")]
    pub process_type: String,
    pub from: u32,
    pub to: u32,
    /// What the autoscaler saw: `p95 412ms > 300ms over 60s`.
    pub reason: String,
}

/// `GET /apps/{app}/autoscale`: the autoscaled types and the last decisions, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Autoscaling {
    pub rules: Vec<AutoscaleRule>,
    pub decisions: Vec<AutoscaleDecision>,
}

/// How an app's canaries run (`paas canary:config`): the share of clients a canary gets, and
/// when it decides by itself. Pushes with `-o canary=N` take these with their own weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanarySettings {
    /// With a weight, every push is a canary with this share of clients, in percent (1 to 99).
    pub weight: Option<u8>,
    /// After this long (seconds), a healthy canary is promoted by itself; while it runs, one
    /// over a threshold is aborted by itself. `None`: only `canary:promote` and `canary:abort`
    /// end it.
    pub duration_seconds: Option<u32>,
    /// Aborted when its share of 5xx responses is more than this many percentage points over the
    /// baseline's (at least [`CANARY_MIN_REQUESTS`] of its requests seen).
    pub max_5xx_points: f64,
    /// Aborted when its p95 response time is over this many times the baseline's (and 50 ms
    /// more; at least [`CANARY_MIN_REQUESTS`] requests on each side).
    pub max_p95_factor: f64,
}

/// The fewest requests a canary (and, for latency, its baseline) must have had for its figures to
/// decide anything: a quiet app does not flap on one slow request.
pub const CANARY_MIN_REQUESTS: u64 = 20;

impl Default for CanarySettings {
    fn default() -> Self {
        Self {
            weight: None,
            duration_seconds: None,
            max_5xx_points: 1.0,
            max_p95_factor: 2.0,
        }
    }
}

/// `PATCH /apps/{app}/canary/settings`. `Some(None)` in an optional field goes back to none.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCanarySettings {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub weight: Option<Option<u8>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub duration_seconds: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_5xx_points: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p95_factor: Option<f64>,
}

/// `POST /apps/{app}/canary/next` (`paas canary:start`): the app's next push is a canary at
/// `weight` percent; the fields left out are the app's `canary:config` ones (`Some(None)` for
/// `duration_seconds`: none).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartCanary {
    pub weight: u8,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub duration_seconds: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_5xx_points: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p95_factor: Option<f64>,
}

/// A canary that runs: its release beside the baseline (the release that ran before it), the
/// share of clients it gets and the settings it decides by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    pub release: u32,
    pub baseline: u32,
    /// Percent of clients (1 to 99).
    pub weight: u8,
    pub duration_seconds: Option<u32>,
    pub max_5xx_points: f64,
    pub max_p95_factor: f64,
    /// Unix seconds.
    pub started_at: i64,
}

/// One side of a canary split since the canary started, as the router counted it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanarySide {
    pub release: u32,
    pub requests: u64,
    pub requests_per_minute: f64,
    pub server_errors_percent: Option<f64>,
    /// The upper bound of the latency bucket the 95th percentile falls in.
    pub p95_ms: Option<u64>,
}

/// `GET /apps/{app}/canary`: the canary that runs (with both sides' figures), and the settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CanaryStatus {
    pub canary: Option<Canary>,
    /// [baseline, canary], while one runs.
    pub sides: Vec<CanarySide>,
    /// Seconds until it is promoted by itself, when it has a duration.
    pub promotes_in_seconds: Option<u64>,
    pub settings: CanarySettings,
    /// What `paas canary:start` set for the app's next push (its weight is always there).
    pub next_push: Option<CanarySettings>,
}

/// `POST /apps/{app}/alerts`: when to call a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAlert {
    /// `crash`, `deploy-failed`, `p95>300ms` or `5xx>2%`.
    pub on: String,
    /// An `http://` or `https://` URL that gets each delivery as a signed JSON POST.
    pub webhook: String,
}

/// An alert: a trigger and the webhook it calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    /// The trigger as given (`p95>300ms`).
    pub on: String,
    pub webhook: String,
    /// The key deliveries are signed with (HMAC-SHA256): in the answer that creates the alert
    /// only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// For `p95>…` and `5xx>…`: whether the condition holds now.
    pub firing: bool,
    /// RFC 3339.
    pub created_at: String,
    /// The last delivery, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<AlertDelivery>,
}

/// How an alert's last delivery went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertDelivery {
    /// RFC 3339, when it ended.
    pub at: String,
    /// Whether the webhook answered 2xx.
    pub ok: bool,
    /// `200 after 1 attempt`, or why it failed (`connection refused after 5 attempts`).
    pub status: String,
}

/// `POST /apps/{app}/log-drains`: where to forward the app's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDrain {
    /// `syslog+tls://host:port`, `syslog://host:port` (TCP) or `https://…` (`http://…`).
    pub url: String,
}

/// A log drain (Heroku's): every line of the app's log, forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    pub id: String,
    pub url: String,
    /// `d.<uuid>`: the syslog HOSTNAME field and HTTPS drains' `Logplex-Drain-Token` header, so
    /// a receiver can tell drains apart.
    pub token: String,
    /// RFC 3339.
    pub created_at: String,
    /// `connected`, `connecting` or `failing` (see `last_error`).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Lines written to the receiver's connection (syslog) or accepted by its endpoint (HTTPS)
    /// since the server started.
    pub sent: u64,
    /// Lines dropped since the server started because the drain could not keep up.
    pub dropped: u64,
}

/// `PATCH /apps/{app}/formation`: `{"web": 4, "worker": "+1"}`.
pub type FormationPatch = BTreeMap<String, Quantity>;

/// A process type's dyno count in a formation change: a number sets it (`2`); a string `"+N"` or
/// `"-N"` changes the count the server has when it applies the change, so that parallel
/// `paas scale web+1` all count (Heroku's API takes numbers only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Set(u32),
    Add(u32),
    Remove(u32),
}

impl Quantity {
    /// The count after this change to `now`; `None` below 0 or above `u32::MAX`.
    pub fn apply(self, now: u32) -> Option<u32> {
        match self {
            Self::Set(n) => Some(n),
            Self::Add(n) => now.checked_add(n),
            Self::Remove(n) => now.checked_sub(n),
        }
    }
}

impl Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Set(n) => serializer.serialize_u32(*n),
            Self::Add(n) => serializer.serialize_str(&format!("+{n}")),
            Self::Remove(n) => serializer.serialize_str(&format!("-{n}")),
        }
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u32),
            Text(String),
        }
        let expected = "a dyno count: a whole number from 0, or \"+N\" or \"-N\"";
        match Raw::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom(format!("expected {expected}")))?
        {
            Raw::Number(n) => Ok(Self::Set(n)),
            Raw::Text(text) => {
                let change = |digits: &str| {
                    digits
                        .parse::<u32>()
                        .ok()
                        .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
                };
                let parsed = match text.split_at_checked(1) {
                    Some(("+", digits)) => change(digits).map(Self::Add),
                    Some(("-", digits)) => change(digits).map(Self::Remove),
                    _ => None,
                };
                parsed.ok_or_else(|| {
                    serde::de::Error::custom(format!("expected {expected}, got {text:?}"))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request body refuses a field it does not know (the OpenAPI document says
    /// `additionalProperties: false`; a misspelt field must not be dropped in silence).
    #[test]
    fn request_bodies_refuse_unknown_fields() {
        fn refuses<T: serde::de::DeserializeOwned>() {
            let err = serde_json::from_str::<T>(r#"{"zzz": 1}"#).err();
            let err = err.map(|e| e.to_string()).unwrap_or_default();
            let name = std::any::type_name::<T>();
            assert!(err.starts_with("unknown field `zzz`"), "{name}: {err:?}");
        }
        refuses::<AddKey>();
        refuses::<CreateApp>();
        refuses::<UpdateApp>();
        refuses::<CreateRelease>();
        refuses::<CreateDyno>();
        refuses::<Restart>();
        refuses::<AutoscaleSettings>();
        refuses::<CreateAlert>();
        refuses::<CreateDrain>();
        refuses::<CreateAddon>();
        refuses::<AttachAddon>();
        refuses::<CreateDomain>();
        refuses::<CreateCertificate>();
        refuses::<UpdateRouterSettings>();
        refuses::<UpdateCanarySettings>();
        refuses::<StartCanary>();
        refuses::<AddCollaborator>();
        refuses::<UpdateCollaborator>();
        refuses::<CreateToken>();
        refuses::<CreateSession>();
    }

    #[test]
    fn a_log_line_of_several_lines_prefixes_each() {
        let line = LogLine {
            seq: 1,
            time: "2026-12-05T10:00:00.000000Z".into(),
            source: "paas".into(),
            process: "api".into(),
            message: "Release v3 failed:\n  app[web.1]: boom".into(),
        };
        assert_eq!(
            line.to_string(),
            "2026-12-05T10:00:00.000000Z paas[api]: Release v3 failed:\n\
             2026-12-05T10:00:00.000000Z paas[api]:   app[web.1]: boom"
        );
    }

    #[test]
    fn quantities() {
        let patch: FormationPatch =
            serde_json::from_str(r#"{"web": 2, "worker": "+1", "clock": "-3"}"#).expect("valid");
        assert_eq!(patch["web"], Quantity::Set(2));
        assert_eq!(patch["worker"].apply(4), Some(5));
        assert_eq!(patch["clock"].apply(2), None);
        assert_eq!(
            serde_json::to_string(&patch).expect("JSON"),
            r#"{"clock":"-3","web":2,"worker":"+1"}"#
        );
        for bad in [
            r#"{"web": -1}"#,
            r#"{"web": "2"}"#,
            r#"{"web": "+"}"#,
            r#"{"web": "+-1"}"#,
            r#"{"web": 1.5}"#,
        ] {
            assert!(
                serde_json::from_str::<FormationPatch>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn release_versions() {
        assert_eq!(parse_release_version("3"), Some(3));
        assert_eq!(parse_release_version("v12"), Some(12));
        for bad in ["", "v", "0", "v0", "-1", "3a", "vv3", "99999999999", "+3"] {
            assert_eq!(parse_release_version(bad), None, "{bad:?}");
        }
    }
}

/// An add-on: a backing service (PostgreSQL, Redis) that apps reach through a config var
/// (`DATABASE_URL`), as Heroku's Add-on object: `GET /apps/{app}/addons`, `GET /addons/{addon}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Addon {
    /// `postgresql-shaped-12345`: unique on the server.
    pub name: String,
    /// `postgresql` or `redis`.
    pub kind: String,
    /// The service and its major version: `postgresql 15`, `redis 7`.
    pub plan: String,
    /// `provisioning`, `starting`, `up`, `crashed` or `down`.
    pub state: String,
    /// The app that owns it (it goes when that app is destroyed).
    pub app: String,
    pub attachments: Vec<AddonAttachment>,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// Where an add-on is attached: app `app` has its URL in config var `config_var`
/// (`<name>_URL`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AddonAttachment {
    pub app: String,
    /// `DATABASE`, `HEROKU_POSTGRESQL_AMBER`, or the `--as` given.
    pub name: String,
    /// `DATABASE_URL`
    pub config_var: String,
    /// What the app's config has in that var now: `current` (the add-on's URL), `changed`
    /// (another value: credentials from before a rotation whose release failed), or `missing` (a
    /// rollback to a release from before the attach took it away; rolling forward brings it
    /// back). The add-on stays attached either way.
    pub config: String,
}

/// `POST /apps/{app}/addons`: provision an add-on owned by the app and attach it there.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAddon {
    /// `postgresql` (also `postgres`, `heroku-postgresql`) or `redis` (also `heroku-redis`).
    pub kind: String,
    /// The add-on's name; generated (`postgresql-shaped-12345`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The attachment's name (config var `<as>_URL`); `DATABASE` / `REDIS` when free, else
    /// `HEROKU_POSTGRESQL_<COLOR>` / `HEROKU_REDIS_<COLOR>`.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub attach_as: Option<String>,
}

/// `POST /addons/{addon}/attachments`: attach an add-on to an app (one new release there).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachAddon {
    pub app: String,
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub attach_as: Option<String>,
}

/// A PostgreSQL backup (`pg_dump` custom format): `GET /addons/{addon}/backups`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    /// `b001`, as Heroku numbers them.
    pub id: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// Bytes, once it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// A hostname an app answers to, as Heroku's Domain object: `GET /apps/{app}/domains`. The app's
/// default `<app>.<domain>` is listed first, with `kind` `default`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Domain {
    /// Lowercase ASCII (IDNA A-labels for internationalised names): `www.example.com`,
    /// `xn--bcher-kva.example`, `*.example.com`.
    pub hostname: String,
    /// `default` (`<app>.<domain>`, always there) or `custom` (`paas domains:add`).
    pub kind: String,
    /// The name a custom domain's DNS record points at (a CNAME, or an ALIAS/ANAME at the apex):
    /// the app's default hostname.
    pub cname: Option<String>,
    /// Whether HTTPS is served for it: `none` (no certificate covers it), `issued` (an ACM or
    /// uploaded certificate does), `pending` (ACM is ordering one) or `failing` (ACM's last
    /// order failed; it is tried again later, see `acm_error`).
    pub cert_status: String,
    /// Why ACM's last order for it failed (it tries again later), until one succeeds; while a
    /// certificate it was to renew still serves, `cert_status` stays `issued`.
    pub acm_error: Option<String>,
    /// When it was added (RFC 3339); `None` for the default domain.
    pub created_at: Option<String>,
}

/// `POST /apps/{app}/domains`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDomain {
    pub hostname: String,
}

/// A TLS certificate the router serves for some of an app's hostnames, as Heroku's SNI Endpoint:
/// `GET /apps/{app}/certs`. The private key is never part of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificate {
    /// `cert-3f9a1c2b`: unique on the server.
    pub name: String,
    /// `acm` (ordered by Automated Certificate Management) or `manual` (`paas certs:add`).
    pub source: String,
    /// The DNS names it covers (its subjectAltName entries).
    pub names: Vec<String>,
    /// Which of the app's hostnames it is served for now.
    pub domains: Vec<String>,
    /// The issuer's distinguished name (`CN=R11,O=Let's Encrypt,C=US`).
    pub issuer: String,
    /// Validity, RFC 3339.
    pub not_before: String,
    pub not_after: String,
    /// `active`, `expiring` (ACM renews from 30 days, or a third of its lifetime, before the end)
    /// or `expired`.
    pub state: String,
}

/// `POST /apps/{app}/certs`: a PEM certificate chain (leaf first) and its PEM private key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCertificate {
    pub certificate_chain: String,
    pub private_key: String,
}

/// What the router does for one app: `GET|PATCH /apps/{app}/router`. In a PATCH each field is
/// optional and only those given change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouterSettings {
    /// Automated Certificate Management: certificates for every custom domain, ordered with ACME
    /// (RFC 8555) and renewed before they expire (`paas certs:auto:enable`).
    pub acm: bool,
    /// HTTP requests for a hostname with a certificate are answered 301 to `https://`.
    pub redirect_https: bool,
    /// Every request is answered 503 with a maintenance page; dynos keep running.
    pub maintenance: bool,
    /// Seconds a dyno has to begin its response before the router answers 504 (Heroku's H12);
    /// `None` is the server's `--router-timeout`.
    pub timeout_seconds: Option<u32>,
    /// The largest request body the router passes on, in bytes (413 beyond); `None` for no limit.
    pub max_body_bytes: Option<u64>,
    /// Requests per second the app takes (a token bucket refilled at this rate); more are
    /// answered 429 with `Retry-After`. `None`: no limit.
    #[serde(default)]
    pub rate_per_s: Option<u32>,
    /// How many requests above the rate a burst may bring (the bucket's size); `None` is one
    /// second's worth of the rate.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Requests per web (or canary) dyno that is up the app is given at once, pooled (the app's
    /// capacity, not a cap on one dyno); more wait in a queue as long as all the slots together
    /// (at most 5 s each, or the router timeout), and beyond it are answered 503 with
    /// `Retry-After` at once (shed, Heroku's H11). `None`: no limit.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Requests per second from one client address (its own bucket, one second's worth deep);
    /// more are answered 429 with `Retry-After`. `None`: no limit.
    #[serde(default)]
    pub per_ip_per_s: Option<u32>,
}

/// `PATCH /apps/{app}/router`. `Some(None)` in an optional field goes back to the default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRouterSettings {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "not_null"
    )]
    pub acm: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "not_null"
    )]
    pub redirect_https: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "not_null"
    )]
    pub maintenance: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub timeout_seconds: Option<Option<u32>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub max_body_bytes: Option<Option<u64>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub rate_per_s: Option<Option<u32>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub burst: Option<Option<u32>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub concurrency: Option<Option<u32>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub per_ip_per_s: Option<Option<u32>>,
}

/// A field that may be absent (`None`) but not `null`: a JSON `null` is refused.
fn not_null<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// `Option<Option<T>>` as JSON: absent, `null` (`Some(None)`) or a value.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// An app's figures minute by minute: `GET /apps/{app}/metrics?since=SECONDS&type=TYPE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppMetrics {
    pub app: String,
    /// Seconds each point covers (60).
    pub resolution_seconds: u32,
    /// Requests to the app the router is waiting on a dyno for, now.
    pub in_flight: i64,
    pub process_types: Vec<ProcessMetrics>,
}

/// One process type's figures: the whole window, then each minute (oldest first; the last one
/// is the current minute so far).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessMetrics {
    pub process_type: String,
    pub summary: MetricsPoint,
    pub points: Vec<MetricsPoint>,
}

/// Figures over a span of time. Request figures are the router's (web dynos only); latency is how
/// long the response took to begin, as a histogram's bucket bounds (5, 10, 25, 50, 75, 100, 150,
/// 250, 400, 600, 1000… ms); resource figures are sampled from the dynos' cgroups every 10 s
/// (local scheduler only), `None` without a sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricsPoint {
    /// Its start, RFC 3339.
    pub time: String,
    /// Seconds it spans (the current minute: so far).
    pub seconds: u32,
    /// Responses by status class: `1xx` … `5xx`.
    pub responses: BTreeMap<String, u64>,
    pub requests: u64,
    pub requests_per_minute: f64,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    /// The share of responses that were 5xx, in percent.
    pub server_errors_percent: Option<f64>,
    /// Response bytes (of responses that said their length).
    pub bytes_out: u64,
    /// CPU use of the type's dynos together, in percent of one core.
    pub cpu_percent: Option<f64>,
    /// Resident memory of the type's dynos together: mean and highest sample, in bytes; and one
    /// dyno's limit.
    pub memory_bytes: Option<u64>,
    pub memory_max_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    /// The most dynos of the type seen running.
    pub dynos: u32,
    pub restarts: u64,
    pub oom_kills: u64,
    /// Requests refused by the app's limits (`paas limits`): over a rate (429), and shed when
    /// its queue was full (503). Counted in `responses` too.
    #[serde(default)]
    pub limited: u64,
    #[serde(default)]
    pub shed: u64,
}

/// What a user may do on an app (DESIGN §5 "access"), least to most. The app's owner and the
/// server's admins have `admin` on it; a collaborator has the role they were given; a scoped token
/// has at most its own role.
///
/// - `viewer`: read everything (releases, dynos, logs, build output, metrics) but config values,
///   which are shown redacted.
/// - `deployer`: also push, scale, restart, run, config, rollback, canaries, backups.
/// - `admin`: also collaborators, domains and certificates, add-ons, drains, alerts, router
///   settings, rename and destroy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Deployer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Deployer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
        }
    }
}

/// A role name other than `viewer`, `deployer` and `admin`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a role: use viewer, deployer or admin")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    /// `viewer`, `deployer` or `admin`, as written.
    fn from_str(text: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| UnknownRole(text.to_owned()))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `GET /apps/{app}/collaborators`: who may use the app, the owner first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collaborator {
    pub user: UserName,
    /// `admin` for the owner.
    pub role: Role,
    /// The app's owner, who cannot be removed or given another role.
    pub owner: bool,
    /// A server admin, who has `admin` on every app whatever the role here says.
    pub server_admin: bool,
    /// RFC 3339, when they were added (the app's creation for its owner).
    pub created_at: String,
}

/// `POST /apps/{app}/collaborators`: give a user a role on the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddCollaborator {
    pub user: UserName,
    pub role: Role,
}

/// `PATCH /apps/{app}/collaborators/{user}`: change a collaborator's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCollaborator {
    pub role: Role,
}

/// An API token of the caller's (`GET /account/tokens`). The secret is never shown again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The 16 hex digits after `paas_` in the token.
    pub id: String,
    pub description: String,
    /// The app the token is limited to; None for every app its user may use.
    pub app: Option<AppName>,
    /// The most the token may do; None for a login token (everything its user may, including
    /// keys and tokens).
    pub role: Option<Role>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, to the minute; None if never used.
    pub last_used_at: Option<String>,
    /// RFC 3339; None if it never expires.
    pub expires_at: Option<String>,
    /// Whether `expires_at` has passed (it answers 401 now).
    pub expired: bool,
    /// Whether this is the token the request was made with.
    pub current: bool,
}

/// `POST /account/tokens`: a scoped token for CI and scripts. It works for the API, `paas run`
/// and log streams within its app and role, never to manage keys, tokens or collaborators'
/// users, and never for more than its user may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What it is for (`CI`), 1 to 100 characters.
    pub description: String,
    /// Limit it to this app; omitted for every app the user may use.
    #[serde(default)]
    pub app: Option<AppName>,
    pub role: Role,
    /// Seconds until it stops working (1 to 10 years); omitted for never.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// The answer to `POST /account/tokens`: the token, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    pub token: String,
}

/// One entry of the audit log (`GET /apps/{app}/audit`, `GET /audit`): a change someone made,
/// or tried to. Entries are never changed or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing: later entries have larger ids.
    pub id: u64,
    /// RFC 3339 with milliseconds.
    pub at: String,
    /// The user's name; `paas` for the platform itself (autoscaling, canary decisions), `operator`
    /// for `paas-buildserver` commands on the server.
    pub actor: String,
    /// The id of the API token used, if one was.
    pub token: Option<String>,
    /// The client's IP address (`ssh 192.0.2.1` for a push); `server` for the platform.
    pub source: String,
    /// The app's name at the time, if the change was to an app.
    pub app: Option<String>,
    /// What was done: `config.update`, `formation.update`, `release.rollback`, `push`, … as
    /// `GET /apps/{app}/audit` lists them.
    pub action: String,
    /// What it was done to: config keys (never values), the scale, a user, a domain, …
    pub detail: serde_json::Value,
    /// `success`, `failure` (it was allowed and did not succeed) or `denied` (the actor may not).
    pub outcome: String,
    /// The HTTP status of the answer, for API requests.
    pub status: Option<u16>,
}

/// `POST /session`: sign in to the dashboard with an API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    pub token: String,
}

/// A dashboard session (`POST`/`GET /session`); its cookie is HttpOnly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user: UserName,
    /// A server admin.
    pub admin: bool,
    /// Sent back in `X-CSRF-Token` with every request of the session that changes something.
    pub csrf: String,
}

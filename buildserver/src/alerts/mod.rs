//! Alerts (DESIGN §5, monitoring events): webhooks called when an app's dynos crash, a release
//! fails, or the web p95 or 5xx share crosses a threshold.
//!
//! A delivery is a JSON POST (`{"id", "alert", "app", "on", "state", "message", "at"}`) signed
//! as Stripe signs webhooks: header `Paas-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" keyed by the alert's secret>`, so a receiver checks both who sent it and that it
//! is recent. It is tried up to [`ATTEMPTS`] times, waiting 1, 2, 4 and 8 s between tries (each
//! try times out after 10 s; a 2xx ends it), never following redirects; how the last delivery
//! went is kept with the alert.
//!
//! Thresholds (`p95>300ms`, `5xx>2%`) judge web's requests over the last `--alert-window` (or
//! since the alert's first look, if less) every [`EVALUATE_EVERY`], and deliver `firing` when the
//! condition starts to hold and `resolved` when it stops. `crash` delivers when the dynos'
//! restarts or OOM kills grew (the local scheduler samples them every 10 s), at most once per
//! window per alert, counting what happened since the last delivery. `deploy-failed` delivers
//! when the release controller marks a release failed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use paas_share::models::AlertDelivery;
use serde_json::json;

use crate::metrics::{Metrics, Minute};
use crate::outbound::Targets;
use crate::store::{AlertRecord, Store};

/// How often thresholds and crashes are evaluated.
pub const EVALUATE_EVERY: Duration = Duration::from_secs(5);
/// Tries per delivery.
pub const ATTEMPTS: u32 = 5;
/// The longest webhook URL.
const MAX_URL_BYTES: usize = 2048;

/// When an alert delivers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// A dyno crashed (exited unasked, or was OOM-killed) and was restarted.
    Crash,
    /// A release failed (its build, release phase or start).
    DeployFailed,
    /// A canary started, or was promoted or aborted (by a person or by itself).
    Canary,
    /// The web p95 response time is over this, in ms.
    P95Over(u64),
    /// The share of web responses that are 5xx is over this, in percent.
    ServerErrorsOver(f64),
}

impl Trigger {
    /// `crash`, `deploy-failed`, `p95>300ms` (`1s`, `1s 500ms`), `5xx>2%` (`0.5%`); `Err` says
    /// what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let spelled =
            "expected crash, deploy-failed, canary, p95>TIME (p95>300ms) or 5xx>PERCENT (5xx>2%)";
        let text = text.trim();
        match text {
            "crash" => return Ok(Self::Crash),
            "deploy-failed" => return Ok(Self::DeployFailed),
            "canary" => return Ok(Self::Canary),
            _ => {}
        }
        if let Some(time) = text.strip_prefix("p95>") {
            let time = humantime::parse_duration(time.trim())
                .map_err(|_| format!("{time:?} is not a time such as 300ms or 1s"))?;
            let ms = u64::try_from(time.as_millis()).unwrap_or(u64::MAX);
            if ms == 0 || ms > 3_600_000 {
                return Err(format!(
                    "a p95 threshold is from 1ms to 1h (the longest router timeout), not {}",
                    humantime::format_duration(time)
                ));
            }
            return Ok(Self::P95Over(ms));
        }
        if let Some(percent) = text.strip_prefix("5xx>") {
            let number = percent.trim().strip_suffix('%').unwrap_or(percent.trim());
            return match number.parse::<f64>() {
                Ok(p) if p > 0.0 && p < 100.0 => Ok(Self::ServerErrorsOver(p)),
                _ => Err(format!(
                    "{percent:?} is not a share over 0% and under 100%, such as 2%"
                )),
            };
        }
        Err(format!(
            "unknown trigger {:?}: {spelled}",
            paas_share::names::excerpt(text)
        ))
    }

    fn is_threshold(self) -> bool {
        matches!(self, Self::P95Over(_) | Self::ServerErrorsOver(_))
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Crash => f.write_str("crash"),
            Self::DeployFailed => f.write_str("deploy-failed"),
            Self::Canary => f.write_str("canary"),
            Self::P95Over(ms) => write!(f, "p95>{ms}ms"),
            Self::ServerErrorsOver(p) => write!(f, "5xx>{p}%"),
        }
    }
}

/// Checks a webhook URL: `http` or `https`, with a host, at most 2 KiB, no spaces or control
/// characters. Returns it normalized (WHATWG URL); `Err` says why not.
pub fn check_webhook(url: &str) -> Result<String, String> {
    if url.len() > MAX_URL_BYTES {
        return Err(format!("the webhook URL is over {MAX_URL_BYTES} bytes"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "the webhook URL holds spaces or control characters: percent-encode them".to_owned(),
        );
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        format!(
            "{:?} is not a URL ({e}): give one such as https://hooks.example.com/paas",
            paas_share::names::excerpt(url)
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "the webhook must be an http:// or https:// URL with a host, not {:?}",
            paas_share::names::excerpt(url)
        ));
    }
    if parsed.port() == Some(0) {
        return Err(
            "the webhook URL has port 0, which nothing listens on: give its port, or none"
                .to_owned(),
        );
    }
    Ok(parsed.to_string())
}

/// `Paas-Signature`'s value for `body` sent at `t` (unix seconds) with `secret`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = ring::hmac::Context::with_key(&key);
    context.update(format!("{t}.").as_bytes());
    context.update(body);
    format!("t={t},v1={}", crate::oci::hex(context.sign().as_ref()))
}

/// What an alert watches between evaluations.
#[derive(Default)]
struct Watch {
    /// Web's running totals, oldest first (thresholds).
    samples: VecDeque<(Instant, Minute)>,
    firing: bool,
    /// Per process type, restarts and OOM kills seen (crash); crashes not yet delivered, and
    /// when the last delivery went.
    seen: HashMap<String, (u64, u64)>,
    pending: Vec<String>,
    last_sent: Option<Instant>,
}

/// Delivers alerts. Clones share one state.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    metrics: Metrics,
    http: reqwest::Client,
    /// Where webhooks may connect (`--allow-private-targets`).
    targets: Targets,
    /// `--alert-window`.
    window: Duration,
    /// Alert id → its watch.
    watches: Mutex<HashMap<String, Watch>>,
}

impl Alerts {
    pub fn new(store: Store, metrics: Metrics, window: Duration, targets: Targets) -> Self {
        crate::registry::use_ring();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(targets.resolver())
            .user_agent(concat!("paas/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest takes a rustls::ClientConfig of the rustls it is built with");
        Self {
            inner: Arc::new(Inner {
                store,
                metrics,
                http,
                targets,
                window,
                watches: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Where webhooks may connect.
    pub fn targets(&self) -> Targets {
        self.inner.targets
    }

    /// Whether threshold alert `id` holds now.
    pub fn firing(&self, id: &str) -> bool {
        self.watches().get(id).is_some_and(|w| w.firing)
    }

    /// A release of the app failed: its `deploy-failed` alerts deliver.
    pub fn deploy_failed(&self, app_id: &str, version: u32, reason: &str) {
        self.event(
            app_id,
            Trigger::DeployFailed,
            format!("v{version} failed: {reason}"),
        );
    }

    /// Something happened to the app that its alerts on `trigger` (an event, not a threshold)
    /// deliver, as `message`.
    pub fn event(&self, app_id: &str, trigger: Trigger, message: String) {
        let (alerts, id) = (self.clone(), app_id.to_owned());
        tokio::spawn(async move {
            let Ok(all) = alerts.inner.store.call(move |db| db.alerts(&id)).await else {
                return;
            };
            for alert in all {
                if Trigger::parse(&alert.trigger) == Ok(trigger) {
                    alerts.deliver(alert, "event", message.clone());
                }
            }
        });
    }

    /// Evaluates every [`EVALUATE_EVERY`] until `stop` turns true.
    pub async fn run_forever(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(EVALUATE_EVERY) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            match self.inner.store.call(|db| db.all_alerts()).await {
                Ok(alerts) => self.evaluate(alerts, Instant::now()),
                Err(e) => tracing::warn!(error = %e, "cannot read the alerts"),
            }
        }
    }

    fn watches(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watch>> {
        self.inner
            .watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// One pass over every alert: deliveries for those whose condition changed.
    fn evaluate(&self, alerts: Vec<AlertRecord>, now: Instant) {
        let window = self.inner.window;
        let mut due = Vec::new();
        {
            let mut watches = self.watches();
            watches.retain(|id, _| alerts.iter().any(|a| a.id == *id));
            for alert in alerts {
                let Ok(trigger) = Trigger::parse(&alert.trigger) else {
                    continue;
                };
                let watch = watches.entry(alert.id.clone()).or_default();
                if trigger.is_threshold() {
                    let total = self
                        .inner
                        .metrics
                        .total(&alert.app_id, "web")
                        .unwrap_or_default();
                    watch.samples.push_back((now, total));
                    while watch
                        .samples
                        .get(1)
                        .is_some_and(|(at, _)| now.duration_since(*at) >= window)
                    {
                        watch.samples.pop_front();
                    }
                    let (latest, base) = (
                        &watch.samples.back().expect("just pushed").1,
                        &watch.samples.front().expect("just pushed").1,
                    );
                    let figures = latest.minus(base);
                    let seen = match trigger {
                        Trigger::P95Over(ms) => figures
                            .latency_quantile(0.95)
                            .filter(|p95| *p95 > ms)
                            .map(|p95| format!("web p95 {p95}ms > {ms}ms")),
                        Trigger::ServerErrorsOver(limit) => figures
                            .server_error_percent()
                            .filter(|p| *p > limit)
                            .map(|p| format!("web 5xx {p:.1}% > {limit}%")),
                        _ => None,
                    };
                    let secs = window.as_secs();
                    match (seen, watch.firing) {
                        (Some(what), false) => {
                            watch.firing = true;
                            due.push((alert, "firing", format!("{what} over the last {secs}s")));
                        }
                        (None, true) => {
                            watch.firing = false;
                            let message =
                                format!("{trigger} no longer holds over the last {secs}s");
                            due.push((alert, "resolved", message));
                        }
                        _ => {}
                    }
                } else if trigger == Trigger::Crash {
                    let types = self.inner.metrics.history(&alert.app_id, 0, &[]);
                    let first_look = watch.seen.is_empty();
                    for history in types {
                        let Some(total) = self
                            .inner
                            .metrics
                            .total(&alert.app_id, &history.process_type)
                        else {
                            continue;
                        };
                        let now_seen = (total.restarts, total.oom_kills);
                        let before = watch
                            .seen
                            .insert(history.process_type.clone(), now_seen)
                            .unwrap_or(if first_look { now_seen } else { (0, 0) });
                        let (restarts, ooms) = (
                            now_seen.0.saturating_sub(before.0),
                            now_seen.1.saturating_sub(before.1),
                        );
                        if restarts > 0 || ooms > 0 {
                            watch.pending.push(crash_message(
                                &history.process_type,
                                restarts,
                                ooms,
                            ));
                        }
                    }
                    let quiet = watch
                        .last_sent
                        .is_none_or(|at| now.duration_since(at) >= window);
                    if !watch.pending.is_empty() && quiet {
                        watch.last_sent = Some(now);
                        let message = std::mem::take(&mut watch.pending).join("; ");
                        due.push((alert, "event", message));
                    }
                }
            }
        }
        for (alert, state, message) in due {
            self.deliver(alert, state, message);
        }
    }

    /// Sends one delivery of `alert` in a task of its own, retrying, and records how it went.
    fn deliver(&self, alert: AlertRecord, state: &'static str, message: String) {
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let app_id = alert.app_id.clone();
            let Ok(app) = inner.store.call(move |db| db.app_by_id(&app_id)).await else {
                return; // destroyed meanwhile
            };
            let body = json!({
                "id": uuid::Uuid::new_v4().to_string(),
                "alert": alert.id,
                "app": app.name.to_string(),
                "on": alert.trigger,
                "state": state,
                "message": message,
                "at": crate::rfc3339(crate::unix_now()),
            })
            .to_string();
            let mut status = String::new();
            let mut ok = false;
            // reqwest resolves names through `targets`; an address literal is checked here.
            let attempts = if let Some(why) = inner.targets.url_refusal(&alert.webhook) {
                status = format!("cannot connect: {why}");
                0
            } else {
                ATTEMPTS
            };
            for attempt in 1..=attempts {
                let t = crate::unix_now();
                let sent = inner
                    .http
                    .post(&alert.webhook)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(
                        "Paas-Signature",
                        signature(&alert.secret, t, body.as_bytes()),
                    )
                    .body(body.clone())
                    .send()
                    .await;
                let tries = if attempt == 1 {
                    "1 attempt".to_owned()
                } else {
                    format!("{attempt} attempts")
                };
                match sent {
                    Ok(response) if response.status().is_success() => {
                        status = format!("{} after {tries}", response.status().as_u16());
                        ok = true;
                        break;
                    }
                    Ok(response) => {
                        status = format!("answered {} after {tries}", response.status().as_u16());
                    }
                    Err(e) => {
                        let (reason, refused) = reqwest_reason(e);
                        status = format!("{reason} after {tries}");
                        if refused {
                            break; // it would be refused again
                        }
                    }
                }
                if attempt < ATTEMPTS {
                    tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
                }
            }
            let delivery = AlertDelivery {
                at: crate::rfc3339(crate::unix_now()),
                ok,
                status,
            };
            let id = alert.id.clone();
            if let Err(e) = inner
                .store
                .call(move |db| db.set_alert_delivery(&id, &delivery))
                .await
            {
                tracing::warn!(error = %e, "cannot record an alert's delivery");
            }
        });
    }
}

/// `worker: 2 crashes (1 out of memory)`.
fn crash_message(process_type: &str, restarts: u64, ooms: u64) -> String {
    let crashes = restarts.max(ooms);
    let mut message = format!(
        "{process_type}: {crashes} crash{}",
        if crashes == 1 { "" } else { "es" }
    );
    if ooms > 0 {
        message.push_str(&format!(" ({ooms} out of memory)"));
    }
    message
}

/// Why a request did not get an answer, without the URL (it may hold a token), and whether it
/// was refused for its address ([`crate::outbound::Targets`]): trying again would not help.
fn reqwest_reason(e: reqwest::Error) -> (String, bool) {
    if e.is_timeout() {
        ("timed out".to_owned(), false)
    } else if e.is_connect() {
        // A name whose addresses `Targets` refused says so; other causes stay short.
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::PermissionDenied
            {
                return (format!("cannot connect: {io}"), true);
            }
            source = cause.source();
        }
        ("cannot connect".to_owned(), false)
    } else {
        let e = e.without_url();
        let mut reason = e.to_string();
        if let Some(source) = std::error::Error::source(&e) {
            reason = format!("{reason}: {source}");
        }
        (reason, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_parse_and_print() {
        for (text, trigger) in [
            ("crash", Trigger::Crash),
            ("deploy-failed", Trigger::DeployFailed),
            ("canary", Trigger::Canary),
            ("p95>300ms", Trigger::P95Over(300)),
            ("p95>1s", Trigger::P95Over(1000)),
            ("5xx>2%", Trigger::ServerErrorsOver(2.0)),
            ("5xx>0.5", Trigger::ServerErrorsOver(0.5)),
        ] {
            assert_eq!(Trigger::parse(text), Ok(trigger), "{text}");
        }
        assert_eq!(Trigger::P95Over(1000).to_string(), "p95>1000ms");
        assert_eq!(Trigger::ServerErrorsOver(0.5).to_string(), "5xx>0.5%");
        for (text, says) in [
            ("crashes", "unknown trigger"),
            ("p95>fast", "not a time"),
            ("p95>0ms", "from 1ms to 1h"),
            ("5xx>120%", "under 100%"),
            ("5xx>0%", "over 0%"),
        ] {
            let e = Trigger::parse(text).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    /// A webhook whose name the resolver refuses is not tried again (nothing would change).
    #[tokio::test]
    async fn a_refused_address_is_not_worth_another_attempt() {
        crate::registry::use_ring();
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(crate::outbound::Targets::Public.resolver())
            .build()
            .expect("client");
        let refused = client
            .get("http://localhost:9/")
            .send()
            .await
            .expect_err("refused");
        let (reason, final_) = reqwest_reason(refused);
        assert!(final_, "{reason}");
        assert!(reason.contains("is not a public address"), "{reason}");
        // A connection that fails for another reason is tried again (reqwest does not resolve
        // an address literal: it goes straight to a port nothing listens on).
        let failed = client
            .get("http://127.0.0.1:9/")
            .send()
            .await
            .expect_err("closed");
        let (reason, final_) = reqwest_reason(failed);
        assert!(!final_, "{reason}");
    }

    #[test]
    fn webhooks_are_http_urls() {
        assert_eq!(
            check_webhook("HTTPS://Hooks.Example.com/paas?k=v").as_deref(),
            Ok("https://hooks.example.com/paas?k=v")
        );
        assert!(check_webhook("http://127.0.0.1:9000/").is_ok());
        for bad in [
            "ftp://example.com/",
            "example.com/hook",
            "https://",
            "file:///etc/passwd",
            "http://127.0.0.1:9000/a\nb",
            "http://127.0.0.1:9000/a b",
            "https://hooks.example.com:0/paas",
        ] {
            assert!(check_webhook(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signatures_are_stripes() {
        // HMAC-SHA256("key", "1.body"), from `printf 1.body | openssl dgst -sha256 -hmac key`.
        assert_eq!(
            signature("key", 1, b"body"),
            "t=1,v1=91b5374b153842ad05b2c4eab9349b8321b14703165bd3fb8b034dfb8be98ae5"
        );
        assert_eq!(
            crash_message("web", 2, 1),
            "web: 2 crashes (1 out of memory)"
        );
        assert_eq!(crash_message("worker", 1, 0), "worker: 1 crash");
    }
}

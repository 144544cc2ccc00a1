//! The autoscaler (DESIGN §5, the lifecycle loop): monitoring's figures drive each autoscaled
//! process type's dyno count, through the release controller's scale path (the one `paas scale`
//! takes).
//!
//! Every [`Timing::interval`] it reads each type's running totals ([`Metrics::total`]) and
//! decides, one dyno at a time:
//! - below `min` or above `max` (a range just set): straight to the nearest bound;
//! - **up** by one when a target has been missed without a break for [`Timing::up_after`]: every
//!   look in that time that saw requests found the web p95 since the look before over its target,
//!   or every one that saw a CPU sample found the mean CPU per dyno over its target (a look with
//!   no figures neither breaks nor starts the run); a short burst does not add a dyno;
//! - **down** by one when, over the last [`Timing::down_after`], every target was under half its
//!   value (no requests counts as under): the band between half and the target holds the count
//!   (hysteresis);
//! - a window starts at the type's last change (the cooldown): a decision only looks at figures
//!   of the count it judges.
//!
//! Each decision goes to the app's log as `paas[autoscale]` ("p95 412ms > 300ms over 60s: web 2
//! → 3") and to the store (`paas autoscale` lists the last ones). The figures are the router's
//! (web only: the local scheduler's, and Kubernetes' with `--k8s-edge router`) and the local
//! scheduler's cgroup samples; on Kubernetes the cluster's HorizontalPodAutoscaler scales CPU
//! targets instead (the scheduler publishes it), and a rule has one kind of target or the other.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paas_share::models::{AutoscaleRule, AutoscaleSettings, FormationPatch, Quantity};

use crate::logs::Logs;
use crate::metrics::{Metrics, Minute};
use crate::release::{Controller, ScaledBy};
use crate::scheduler::Scheduler;
use crate::store::Store;

/// The process name of the autoscaler's log lines (`paas[autoscale]`).
const LOG: &str = "autoscale";

/// The largest p95 target: the longest router timeout (1 h), in ms.
pub const MAX_P95_MS: u32 = 3_600_000;

/// When the autoscaler looks and how long a signal must hold (`--autoscale-interval`,
/// `--autoscale-up-after`, `--autoscale-down-after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How often it evaluates.
    pub interval: Duration,
    /// How long a target must be exceeded before one more dyno.
    pub up_after: Duration,
    /// How long every target must be under half before one fewer (by default 300 s, as
    /// Kubernetes' scale-down stabilization window).
    pub down_after: Duration,
}

/// Why settings were refused, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub hint: String,
}

fn refusal(message: impl Into<String>, hint: impl Into<String>) -> Refusal {
    Refusal {
        message: message.into(),
        hint: hint.into(),
    }
}

/// Checks `settings` for `process_type` under a per-app limit of `max_dynos` (the caller checks
/// that the running release has the type). `latency` is whether the scheduler's web traffic
/// passes the platform's router, which measures p95 ([`crate::scheduler::Scheduler::routes_web`]);
/// `cpu_by_scheduler` whether CPU targets are the scheduler's to follow (Kubernetes), so that
/// one rule cannot have both kinds of target.
pub fn check(
    process_type: &str,
    settings: &AutoscaleSettings,
    max_dynos: u32,
    latency: bool,
    cpu_by_scheduler: bool,
) -> Result<(), Refusal> {
    let range_hint = "give a range such as --min 1 --max 4";
    if settings.min == 0 {
        return Err(refusal(
            "--min must be at least 1: the autoscaler judges running dynos",
            format!(
                "to stop {process_type}, run `paas autoscale:disable {process_type}` and then `paas scale {process_type}=0`"
            ),
        ));
    }
    if settings.min > settings.max {
        return Err(refusal(
            format!("--min {} is over --max {}", settings.min, settings.max),
            range_hint,
        ));
    }
    if settings.max > max_dynos {
        return Err(refusal(
            format!(
                "--max {} is over this server's limit of {max_dynos} dynos per app",
                settings.max
            ),
            "ask the operator to raise --max-dynos-per-app",
        ));
    }
    match (settings.p95_ms, settings.cpu_percent) {
        (None, None) => {
            return Err(refusal(
                "no target given: the autoscaler needs --p95, --cpu or both",
                format!(
                    "for example `paas autoscale:enable {process_type} --min 1 --max 4 --cpu 70%`"
                ),
            ));
        }
        (Some(0), _) => {
            return Err(refusal(
                "the p95 target must be over 0 ms",
                "give a response time such as --p95 300ms",
            ));
        }
        (Some(ms), _) if ms > MAX_P95_MS => {
            return Err(refusal(
                format!("the p95 target {ms} ms is over the longest router timeout (1 h)"),
                "give a response time such as --p95 300ms",
            ));
        }
        (_, Some(cpu)) if !(1..=100).contains(&cpu) => {
            return Err(refusal(
                format!("the CPU target {cpu}% is not from 1% to 100% (of one core)"),
                "give a share such as --cpu 70%",
            ));
        }
        _ => {}
    }
    if settings.p95_ms.is_some() && !latency {
        return Err(refusal(
            "p95 targets need the paas router, which this server's Kubernetes apps are not behind",
            "use a CPU target (--cpu 70%), which a HorizontalPodAutoscaler follows, or run the server with --k8s-edge router",
        ));
    }
    if settings.p95_ms.is_some() && settings.cpu_percent.is_some() && cpu_by_scheduler {
        return Err(refusal(
            "on Kubernetes a type autoscales on p95 (the paas router's figures) or on CPU (a HorizontalPodAutoscaler), not both",
            "give --p95 or --cpu",
        ));
    }
    if settings.p95_ms.is_some() && process_type != "web" {
        return Err(refusal(
            format!(
                "a p95 target needs web dynos: the router measures only web's responses, not {process_type}'s"
            ),
            format!("use a CPU target for {process_type} (--cpu 70%)"),
        ));
    }
    Ok(())
}

/// One type's watch: the running totals seen since its last change, oldest first.
struct Watch {
    /// The last change (or the start of watching): windows do not reach before it.
    since: Instant,
    samples: VecDeque<(Instant, Minute)>,
    /// Since when every look with figures found a target missed.
    missed_since: Option<Instant>,
}

impl Watch {
    fn new(now: Instant) -> Self {
        Self {
            since: now,
            samples: VecDeque::new(),
            missed_since: None,
        }
    }

    /// Takes the look at `now`: whether what happened since the look before missed a target
    /// (`None`: no figures came). Keeps [`Self::missed_since`].
    fn look(&mut self, now: Instant, rule: &AutoscaleSettings, current: u32) {
        let [.., (_, before), (_, latest)] = self.samples.make_contiguous() else {
            return;
        };
        let since = latest.minus(before);
        let p95 = rule
            .p95_ms
            .zip(since.latency_quantile(0.95))
            .map(|(target, p95)| p95 > u64::from(target));
        let cpu = rule
            .cpu_percent
            .filter(|_| since.sampled_ms > 0)
            .map(|target| since.cpu_percent(0) / f64::from(current.max(1)) > f64::from(target));
        match (p95, cpu) {
            (None, None) => {}
            (Some(true), _) | (_, Some(true)) => {
                self.missed_since.get_or_insert(now);
            }
            _ => self.missed_since = None,
        }
    }

    /// What happened over the last `window`, if the watch covers it.
    fn over(&self, now: Instant, window: Duration) -> Option<Minute> {
        if now.duration_since(self.since) < window {
            return None;
        }
        let (_, latest) = self.samples.back()?;
        let start = now.checked_sub(window)?;
        let (_, base) = self.samples.iter().rev().find(|(at, _)| *at <= start)?;
        Some(latest.minus(base))
    }
}

/// A decision: the new count and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub to: u32,
    pub reason: String,
}

/// What `rule` asks of a type running `current` dynos, given what happened over the up window
/// (`up`, `None` until the watch covers it) and the down window (`down`).
pub fn decide(
    rule: &AutoscaleSettings,
    current: u32,
    timing: &Timing,
    up: Option<&Minute>,
    down: Option<&Minute>,
) -> Option<Decision> {
    if current < rule.min {
        return Some(Decision {
            to: rule.min,
            reason: format!("below the minimum of {}", rule.min),
        });
    }
    if current > rule.max {
        return Some(Decision {
            to: rule.max,
            reason: format!("above the maximum of {}", rule.max),
        });
    }
    let cpu = |figures: &Minute, window: Duration| {
        figures.cpu_percent(window.as_secs()) / f64::from(current.max(1))
    };
    // `up` is given only once a target has been missed for the whole up window.
    if let Some(figures) = up
        && current < rule.max
    {
        let secs = timing.up_after.as_secs();
        let mut over = Vec::new();
        if let (Some(target), Some(p95)) = (rule.p95_ms, figures.latency_quantile(0.95))
            && p95 > u64::from(target)
        {
            over.push(format!("p95 {p95}ms > {target}ms"));
        }
        if let Some(target) = rule.cpu_percent {
            let used = cpu(figures, timing.up_after);
            if used > f64::from(target) {
                over.push(format!("cpu {used:.0}% > {target}%"));
            }
        }
        if !over.is_empty() {
            return Some(Decision {
                to: current + 1,
                reason: format!("{} over {secs}s", over.join(", ")),
            });
        }
    }
    if let Some(figures) = down
        && current > rule.min
    {
        let secs = timing.down_after.as_secs();
        let mut under = Vec::new();
        if let Some(target) = rule.p95_ms {
            match figures.latency_quantile(0.95) {
                Some(p95) if 2 * p95 < u64::from(target) => {
                    under.push(format!("p95 {p95}ms < {}ms", target / 2));
                }
                Some(_) => return None,
                None => under.push("no requests".to_owned()),
            }
        }
        if let Some(target) = rule.cpu_percent {
            let used = cpu(figures, timing.down_after);
            if 2.0 * used >= f64::from(target) {
                return None;
            }
            under.push(format!("cpu {used:.0}% < {}%", target / 2));
        }
        return Some(Decision {
            to: current - 1,
            reason: format!("{} over {secs}s", under.join(", ")),
        });
    }
    None
}

/// Hands every app's autoscaling rules to the scheduler (the daemon is starting).
pub async fn publish_all(
    store: &Store,
    scheduler: &dyn crate::scheduler::Scheduler,
) -> anyhow::Result<()> {
    let apps = store.call(|db| db.all_apps()).await?;
    for app in apps {
        let id = app.id.clone();
        let rules = store.call(move |db| db.autoscale_rules(&id)).await?;
        if let Err(e) = scheduler.publish_autoscaling(&app.app_ref(), &rules).await {
            tracing::error!(app = %app.name, error = %format!("{e:#}"), "cannot publish the app's autoscaling rules");
        }
    }
    Ok(())
}

/// Runs the lifecycle loop for a scheduler that does not autoscale by itself; one per server.
pub struct Autoscaler {
    store: Store,
    metrics: Metrics,
    releases: Arc<Controller>,
    /// Which rules are not the scheduler's own to follow.
    scheduler: Arc<dyn Scheduler>,
    logs: Logs,
    timing: Timing,
    /// (app id, process type) → its watch.
    watches: HashMap<(String, String), Watch>,
}

impl Autoscaler {
    pub fn new(
        store: Store,
        metrics: Metrics,
        releases: Arc<Controller>,
        scheduler: Arc<dyn Scheduler>,
        logs: Logs,
        timing: Timing,
    ) -> Self {
        Self {
            store,
            metrics,
            releases,
            scheduler,
            logs,
            timing,
            watches: HashMap::new(),
        }
    }

    /// Evaluates every [`Timing::interval`] until `stop` turns true.
    pub async fn run_forever(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.timing.interval) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            if let Err(e) = self.evaluate().await {
                tracing::warn!(error = %format!("{e:#}"), "the autoscaler cannot evaluate");
            }
        }
    }

    /// One pass over every autoscaled type.
    async fn evaluate(&mut self) -> anyhow::Result<()> {
        let scheduler = Arc::clone(&self.scheduler);
        let rules = self
            .store
            .call(move |db| {
                let rules = db.all_autoscale_rules()?;
                let mut counted = Vec::with_capacity(rules.len());
                for (app_id, rule) in rules {
                    if scheduler.autoscales(&rule.settings) {
                        continue; // the cluster's HorizontalPodAutoscaler scales it
                    }
                    // Types the running release does not define are left alone.
                    let Some(release) = db.running_release(&app_id)? else {
                        continue;
                    };
                    if !release.process_types.contains_key(&rule.process_type) {
                        continue;
                    }
                    let current = db
                        .formation(&app_id)?
                        .iter()
                        .find(|f| f.process_type == rule.process_type)
                        .map_or(0, |f| f.quantity);
                    counted.push((app_id, rule, current));
                }
                Ok::<_, crate::store::StoreError>(counted)
            })
            .await?;
        let now = Instant::now();
        let keep = self.timing.up_after.max(self.timing.down_after) + self.timing.interval * 2;
        self.watches.retain(|(app, t), _| {
            rules
                .iter()
                .any(|(a, r, _)| a == app && r.process_type == *t)
        });
        for (app_id, rule, current) in rules {
            let key = (app_id.clone(), rule.process_type.clone());
            let watch = self.watches.entry(key).or_insert_with(|| Watch::new(now));
            let total = self
                .metrics
                .total(&app_id, &rule.process_type)
                .unwrap_or_default();
            watch.samples.push_back((now, total));
            while watch
                .samples
                .get(1)
                .is_some_and(|(at, _)| now.duration_since(*at) > keep)
            {
                watch.samples.pop_front();
            }
            watch.look(now, &rule.settings, current);
            let missed_long_enough = watch
                .missed_since
                .is_some_and(|at| now.duration_since(at) >= self.timing.up_after);
            let up = watch
                .over(now, self.timing.up_after)
                .filter(|_| missed_long_enough);
            let down = watch.over(now, self.timing.down_after);
            let Some(decision) = decide(
                &rule.settings,
                current,
                &self.timing,
                up.as_ref(),
                down.as_ref(),
            ) else {
                continue;
            };
            // The next windows start here, whether the change is made or refused.
            *watch = Watch::new(now);
            self.apply(&app_id, &rule, current, decision).await;
        }
        Ok(())
    }

    /// Scales the type to `decision.to`, and records and logs the decision.
    async fn apply(&self, app_id: &str, rule: &AutoscaleRule, current: u32, decision: Decision) {
        let process_type = rule.process_type.clone();
        let id = app_id.to_owned();
        let app = match self.store.call(move |db| db.app_by_id(&id)).await {
            Ok(app) => app,
            Err(_) => return, // destroyed meanwhile
        };
        let patch = FormationPatch::from([(process_type.clone(), Quantity::Set(decision.to))]);
        let (to, reason) = match self.releases.scale(&app, patch, ScaledBy::Autoscaler).await {
            Ok(_) => (
                decision.to,
                format!(
                    "{}: {process_type} {current} → {}",
                    decision.reason, decision.to
                ),
            ),
            Err(e) => (
                current,
                format!(
                    "{}: {process_type} stays at {current}, cannot scale to {}: {e}",
                    decision.reason, decision.to
                ),
            ),
        };
        self.logs.emit(app_id, "paas", LOG, reason.clone());
        self.store
            .audit(crate::store::AuditRecord {
                actor: "paas".to_owned(),
                token_id: None,
                source: "server".to_owned(),
                app_id: Some(app_id.to_owned()),
                app: Some(app.name.to_string()),
                action: "autoscale".to_owned(),
                detail: serde_json::json!({ "process_type": process_type, "from": current, "to": to, "reason": reason }),
                outcome: if to == decision.to { "success" } else { "failure" },
                status: None,
            })
            .await;
        let id = app_id.to_owned();
        if let Err(e) = self
            .store
            .call(move |db| db.add_autoscale_decision(&id, &process_type, current, to, &reason))
            .await
        {
            tracing::warn!(error = %e, "cannot record an autoscale decision");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p95: Option<u32>, cpu: Option<u32>) -> AutoscaleSettings {
        AutoscaleSettings {
            min: 1,
            max: 4,
            p95_ms: p95,
            cpu_percent: cpu,
        }
    }

    fn latency(ms: u64, n: usize) -> Minute {
        let mut minute = Minute::default();
        for _ in 0..n {
            minute.request(200, ms, 0);
        }
        minute
    }

    #[test]
    fn settings_are_checked() {
        let ok = rule(Some(300), None);
        assert_eq!(check("web", &ok, 100, true, false), Ok(()));
        let bad = [
            (
                AutoscaleSettings {
                    min: 0,
                    ..ok.clone()
                },
                "at least 1",
            ),
            (
                AutoscaleSettings {
                    min: 5,
                    max: 2,
                    ..ok.clone()
                },
                "--min 5 is over --max 2",
            ),
            (
                AutoscaleSettings {
                    max: 101,
                    ..ok.clone()
                },
                "limit of 100",
            ),
            (rule(None, None), "no target"),
            (rule(Some(0), None), "over 0 ms"),
            (rule(None, Some(0)), "from 1% to 100%"),
            (rule(None, Some(150)), "from 1% to 100%"),
        ];
        for (settings, says) in bad {
            let refused = check("web", &settings, 100, true, false).expect_err(says);
            assert!(refused.message.contains(says), "{refused:?}");
        }
        let refused = check("worker", &ok, 100, true, false).expect_err("p95 of a worker");
        assert!(refused.message.contains("needs web dynos"), "{refused:?}");
        let refused = check("web", &ok, 100, false, true).expect_err("p95 on Kubernetes");
        assert!(refused.message.contains("paas router"), "{refused:?}");
        assert!(refused.hint.contains("--k8s-edge router"), "{refused:?}");
        let both = rule(Some(300), Some(70));
        assert_eq!(check("web", &both, 100, true, false), Ok(()), "locally");
        let refused = check("web", &both, 100, true, true).expect_err("both on Kubernetes");
        assert!(refused.message.contains("not both"), "{refused:?}");
        assert_eq!(
            check("web", &ok, 100, true, true),
            Ok(()),
            "p95 behind the router"
        );
        assert_eq!(
            check("worker", &rule(None, Some(70)), 100, false, true),
            Ok(())
        );
    }

    #[test]
    fn only_a_target_missed_without_a_break_counts() {
        let rule = rule(Some(300), Some(70));
        let start = Instant::now();
        let mut watch = Watch::new(start);
        let mut total = Minute::default();
        let mut look = |watch: &mut Watch, secs: u64, slow: usize, fast: usize, cpu_ms: u64| {
            for _ in 0..slow {
                total.request(200, 500, 0);
            }
            for _ in 0..fast {
                total.request(200, 20, 0);
            }
            total.cpu_ms += cpu_ms;
            total.sampled_ms += if cpu_ms > 0 { 10_000 } else { 0 };
            let at = start + Duration::from_secs(secs);
            watch.samples.push_back((at, total.clone()));
            watch.look(at, &rule, 1);
            watch
                .missed_since
                .map(|since| since.duration_since(start).as_secs())
        };
        assert_eq!(look(&mut watch, 0, 0, 0, 0), None);
        assert_eq!(
            look(&mut watch, 5, 4, 0, 0),
            Some(5),
            "a slow look starts a run"
        );
        assert_eq!(
            look(&mut watch, 10, 0, 0, 0),
            Some(5),
            "no figures: no break"
        );
        assert_eq!(
            look(&mut watch, 15, 0, 20, 0),
            None,
            "fast requests break it"
        );
        assert_eq!(
            look(&mut watch, 20, 0, 20, 9_000),
            Some(20),
            "90% CPU of one core"
        );
        assert_eq!(look(&mut watch, 25, 0, 20, 1_000), None);
    }

    #[test]
    fn decisions_follow_the_targets_with_a_band() {
        let timing = Timing {
            interval: Duration::from_secs(5),
            up_after: Duration::from_secs(60),
            down_after: Duration::from_secs(300),
        };
        let p95 = rule(Some(300), None);
        // Out of range: straight to the bound, before any figures.
        let to = |current, up: Option<&Minute>, down: Option<&Minute>| {
            decide(&p95, current, &timing, up, down).map(|d| (d.to, d.reason))
        };
        assert_eq!(
            to(0, None, None),
            Some((1, "below the minimum of 1".into()))
        );
        assert_eq!(
            to(6, None, None),
            Some((4, "above the maximum of 4".into()))
        );
        // Slow: one more, never past max.
        let slow = latency(500, 20);
        assert_eq!(
            to(2, Some(&slow), None),
            Some((3, "p95 600ms > 300ms over 60s".into()))
        );
        assert_eq!(to(4, Some(&slow), None), None);
        // In the band (between half the target and the target): stays.
        let fine = latency(200, 20);
        assert_eq!(to(3, Some(&fine), Some(&fine)), None);
        // Fast, or idle, over the down window: one fewer, never below min.
        let fast = latency(40, 20);
        assert_eq!(
            to(3, Some(&fast), Some(&fast)),
            Some((2, "p95 50ms < 150ms over 300s".into()))
        );
        assert_eq!(
            to(3, None, Some(&Minute::default())),
            Some((2, "no requests over 300s".into()))
        );
        assert_eq!(to(1, Some(&fast), Some(&fast)), None);
        // CPU: per dyno, over the window.
        let cpu = rule(None, Some(70));
        let busy = Minute {
            cpu_ms: 2 * 60 * 900, // two dynos at 90% for 60 s
            ..Minute::default()
        };
        let d = decide(&cpu, 2, &timing, Some(&busy), None).expect("up");
        assert_eq!((d.to, d.reason.as_str()), (3, "cpu 90% > 70% over 60s"));
        // Both targets: down only when both are low.
        let both = rule(Some(300), Some(70));
        let idle_cpu_slow = latency(200, 10);
        assert_eq!(decide(&both, 2, &timing, None, Some(&idle_cpu_slow)), None);
    }
}

//! Monitoring (DESIGN §5): per app and process type, minute by minute for 24 h, the router's
//! request figures (by status class, a latency histogram, bytes) and the dynos' resource use
//! (CPU, memory, restarts, OOM kills, sampled from their cgroups by the scheduler), plus each
//! app's requests in flight now. Bounded: at most [`HISTORY_MINUTES`] minutes per series, and
//! series go with their app. The store keeps every minute as it fills (the current one too, every
//! [`PERSIST_EVERY`]), so a restart, even after `kill -9`, loses at most that much.

pub mod prometheus;
pub mod series;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use series::{LATENCY_BOUNDS_MS, Minute};

use crate::store::{MetricsRow, Store, StoreError};

/// How much history a series keeps: 24 h of minutes.
pub const HISTORY_MINUTES: i64 = 24 * 60;
/// How often the minutes go to the store.
pub const PERSIST_EVERY: Duration = Duration::from_secs(15);

/// Every app's figures. Clones share one table.
#[derive(Clone, Default)]
pub struct Metrics {
    /// `--metrics off`: nothing is recorded (every figure stays empty).
    off: bool,
    table: Arc<Mutex<Table>>,
    /// Requests in flight, by app id.
    in_flight: Arc<Mutex<HashMap<Arc<str>, Arc<AtomicI64>>>>,
}

#[derive(Default)]
struct Table {
    /// App id → process type → its minutes.
    series: HashMap<Arc<str>, HashMap<String, Series>>,
    /// The first minute not yet stored whole: it and later ones are written at the next persist.
    persisted_from: i64,
    /// App id → the requests of its canary split since the canary started: [baseline, canary].
    canaries: HashMap<Arc<str>, [Minute; 2]>,
}

#[derive(Default)]
struct Series {
    /// (minute, as unix seconds of its start; its figures), oldest first.
    minutes: VecDeque<(i64, Minute)>,
    /// Everything since the daemon started (Prometheus's counters), and the last resource
    /// sample (its gauges).
    total: Minute,
    last_sample: Minute,
}

impl Series {
    /// The minute that `now` falls in, made if needed; minutes over the history's length go.
    fn at(&mut self, now: i64) -> &mut Minute {
        let start = now - now.rem_euclid(60);
        if self.minutes.back().is_none_or(|(at, _)| *at < start) {
            self.minutes.push_back((start, Minute::default()));
        }
        while self
            .minutes
            .front()
            .is_some_and(|(at, _)| *at <= start - HISTORY_MINUTES * 60)
        {
            self.minutes.pop_front();
        }
        // A sample stamped before the newest minute (a clock step back) counts in the newest.
        &mut self.minutes.back_mut().expect("just made").1
    }
}

/// Why the router's flow control refused a request.
#[derive(Debug, Clone, Copy)]
pub enum Refused {
    /// Over the app's rate or the client's (429).
    Limited,
    /// Shed: the app's queue full, or the wait in it too long (503).
    Shed,
}

/// A request in flight: counted from [`Metrics::begin`] until dropped.
pub struct InFlight(Option<Arc<AtomicI64>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(counter) = &self.0 {
            counter.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// One process type's minutes, as [`Metrics::history`] gives them.
#[derive(Debug, Clone)]
pub struct TypeHistory {
    pub process_type: String,
    /// (minute start, unix seconds; figures), oldest first.
    pub minutes: Vec<(i64, Minute)>,
}

impl Metrics {
    /// Figures that record nothing (`--metrics off`): `paas metrics`, autoscaling and threshold
    /// alerts then see no traffic.
    pub fn off() -> Self {
        Self {
            off: true,
            ..Self::default()
        }
    }

    /// Counts a request to one of the app's web dynos that ended now: its status, how long its
    /// response took to begin (ms), and the response's length when it said it.
    pub fn request(&self, app_id: &Arc<str>, status: u16, latency_ms: u64, bytes_out: u64) {
        self.with(app_id, "web", |series, now| {
            series.at(now).request(status, latency_ms, bytes_out);
            series.total.request(status, latency_ms, bytes_out);
        });
    }

    /// Starts counting the requests of the app's canary split afresh (a canary started).
    pub fn canary_begin(&self, app_id: &str) {
        self.lock()
            .canaries
            .insert(Arc::from(app_id), [Minute::default(), Minute::default()]);
    }

    /// Stops counting the app's canary split (the canary ended).
    pub fn canary_end(&self, app_id: &str) {
        self.lock().canaries.remove(app_id);
    }

    /// Counts a request of the app's canary split, to the canary's dynos or the baseline's,
    /// while a canary runs (kept even with `--metrics off`: its decisions rest on them).
    pub fn canary_request(&self, app_id: &str, to_canary: bool, status: u16, latency_ms: u64) {
        if let Some(split) = self.lock().canaries.get_mut(app_id) {
            split[usize::from(to_canary)].request(status, latency_ms, 0);
        }
    }

    /// The app's canary split since the canary started: (baseline, canary).
    pub fn canary_figures(&self, app_id: &str) -> Option<(Minute, Minute)> {
        let table = self.lock();
        let [baseline, canary] = table.canaries.get(app_id)?;
        Some((baseline.clone(), canary.clone()))
    }

    /// Counts a request to the app that its flow control refused (besides [`Metrics::request`]).
    pub fn refused(&self, app_id: &Arc<str>, why: Refused) {
        self.with(app_id, "web", |series, now| {
            let count = |minute: &mut Minute| match why {
                Refused::Limited => minute.limited += 1,
                Refused::Shed => minute.shed += 1,
            };
            count(series.at(now));
            count(&mut series.total);
        });
    }

    /// Adds a resource sample of the app's `process_type` dynos (CPU time used since the last
    /// sample, memory now, restarts and OOM kills since the last sample).
    pub fn sample(&self, app_id: &Arc<str>, process_type: &str, sample: &Minute) {
        self.with(app_id, process_type, |series, now| {
            series.at(now).merge(sample);
            series.total.merge(sample);
            series.last_sample = sample.clone();
        });
    }

    /// Every series' totals since the daemon started and its last resource sample: (app id,
    /// process type, totals, last sample), for the Prometheus exposition.
    pub fn totals(&self) -> Vec<(Arc<str>, String, Minute, Minute)> {
        let table = self.lock();
        table
            .series
            .iter()
            .flat_map(|(app, types)| {
                types.iter().map(move |(process_type, series)| {
                    (
                        Arc::clone(app),
                        process_type.clone(),
                        series.total.clone(),
                        series.last_sample.clone(),
                    )
                })
            })
            .collect()
    }

    /// One series' totals since the daemon started (counters only grow: two of them a while
    /// apart give what happened between, see [`Minute::minus`]); `None` before its first figure.
    pub fn total(&self, app_id: &str, process_type: &str) -> Option<Minute> {
        let table = self.lock();
        Some(table.series.get(app_id)?.get(process_type)?.total.clone())
    }

    /// Counts a request to the app in flight until the returned guard drops.
    pub fn begin(&self, app_id: &Arc<str>) -> InFlight {
        if self.off {
            return InFlight(None);
        }
        let counter = Arc::clone(
            self.in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(Arc::clone(app_id))
                .or_default(),
        );
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(Some(counter))
    }

    /// The app's requests in flight now.
    pub fn in_flight(&self, app_id: &str) -> i64 {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(app_id)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// The app's minutes from `since` (unix seconds) on, per process type (sorted), for the
    /// types in `only` (all when empty).
    pub fn history(&self, app_id: &str, since: i64, only: &[String]) -> Vec<TypeHistory> {
        let table = self.lock();
        let mut types: Vec<TypeHistory> = table
            .series
            .get(app_id)
            .into_iter()
            .flatten()
            .filter(|(process_type, _)| only.is_empty() || only.contains(process_type))
            .map(|(process_type, series)| TypeHistory {
                process_type: process_type.clone(),
                minutes: series
                    .minutes
                    .iter()
                    .filter(|(at, _)| *at + 60 > since)
                    .cloned()
                    .collect(),
            })
            .collect();
        types.sort_by(|a, b| a.process_type.cmp(&b.process_type));
        types
    }

    /// Forgets the app's figures (it was destroyed).
    pub fn forget(&self, app_id: &str) {
        let mut table = self.lock();
        table.series.remove(app_id);
        table.canaries.remove(app_id);
        drop(table);
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(app_id);
    }

    /// Reads the last 24 h back from the store (the daemon is starting).
    pub async fn load(&self, store: &Store, now: i64) -> Result<(), StoreError> {
        let rows = store
            .call(move |db| db.metrics_since(now - HISTORY_MINUTES * 60))
            .await?;
        let mut table = self.lock();
        for row in rows {
            let Ok(minute) = serde_json::from_str::<Minute>(&row.data) else {
                continue;
            };
            table
                .series
                .entry(Arc::from(row.app_id))
                .or_default()
                .entry(row.process_type)
                .or_default()
                .minutes
                .push_back((row.minute, minute));
        }
        for series in table.series.values_mut().flat_map(HashMap::values_mut) {
            series.minutes.make_contiguous().sort_by_key(|(at, _)| *at);
        }
        table.persisted_from = now - now.rem_euclid(60);
        Ok(())
    }

    /// Writes the minutes filled since the last time (the current one as it is now) and drops
    /// stored minutes older than the history.
    pub async fn persist(&self, store: &Store, now: i64) -> Result<(), StoreError> {
        let current = now - now.rem_euclid(60);
        let rows: Vec<MetricsRow> = {
            let mut table = self.lock();
            let from = table.persisted_from;
            table.persisted_from = current;
            table
                .series
                .iter()
                .flat_map(|(app, types)| types.iter().map(move |t| (app, t)))
                .flat_map(|(app, (process_type, series))| {
                    series
                        .minutes
                        .iter()
                        .filter(move |(at, _)| *at >= from)
                        .map(move |(at, minute)| MetricsRow {
                            app_id: app.to_string(),
                            process_type: process_type.clone(),
                            minute: *at,
                            data: serde_json::to_string(minute).expect("figures serialize"),
                        })
                })
                .collect()
        };
        store
            .call(move |db| {
                db.put_metrics(&rows)?;
                db.prune_metrics(current - HISTORY_MINUTES * 60)
            })
            .await
    }

    /// Persists every [`PERSIST_EVERY`] until `stop` turns true, and once more then.
    pub async fn persist_forever(self, store: Store, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let stopping = tokio::select! {
                () = tokio::time::sleep(PERSIST_EVERY) => false,
                _ = stop.wait_for(|stop| *stop) => true,
            };
            if let Err(e) = self.persist(&store, crate::unix_now()).await {
                tracing::warn!(error = %e, "cannot store the metrics");
            }
            if stopping {
                return;
            }
        }
    }

    fn with(&self, app_id: &Arc<str>, process_type: &str, f: impl FnOnce(&mut Series, i64)) {
        if self.off {
            return;
        }
        let now = crate::unix_now();
        let mut table = self.lock();
        // Looked up by borrowed keys: no allocation per request once the series exists.
        if !table.series.contains_key(app_id) {
            table.series.insert(Arc::clone(app_id), HashMap::new());
        }
        let types = table.series.get_mut(app_id).expect("just made");
        if !types.contains_key(process_type) {
            types.insert(process_type.to_owned(), Series::default());
        }
        f(types.get_mut(process_type).expect("just made"), now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

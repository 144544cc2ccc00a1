//! One process type's figures, minute by minute: what a minute holds, how it merges, and the
//! percentiles its latency histogram gives.

use serde::{Deserialize, Serialize};

/// Upper bounds of the latency histogram's buckets, in milliseconds (as Prometheus's `le`), up to
/// the longest router timeout (an hour); a last bucket holds the slower ones.
pub const LATENCY_BOUNDS_MS: [u64; 21] = [
    5, 10, 25, 50, 75, 100, 150, 250, 400, 600, 1_000, 1_500, 2_500, 5_000, 10_000, 30_000, 60_000,
    120_000, 300_000, 900_000, 3_600_000,
];

/// What one minute of one process type holds. Request figures come from the router (web dynos);
/// resource figures from samples of the dynos' cgroups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Minute {
    /// Requests answered, by status class: 1xx, 2xx, 3xx, 4xx, 5xx.
    pub requests: [u64; 5],
    /// Requests by how long their response took to begin, by [`LATENCY_BOUNDS_MS`] (one more
    /// bucket at the end for the slower ones).
    pub latency: [u64; 22],
    /// The latencies' sum, in ms (a Prometheus histogram's `_sum`).
    #[serde(default)]
    pub latency_ms_sum: u64,
    /// Response body bytes, as the responses' `Content-Length` said (a response without one, a
    /// HEAD's or one the client cut short counts what it said, or nothing).
    pub bytes_out: u64,
    /// CPU time the type's dynos used, in milliseconds.
    pub cpu_ms: u64,
    /// The wall time the resource samples of `cpu_ms` cover, in milliseconds (its denominator:
    /// samples come every 10 s, so a window of figures may hold more or less than its length).
    #[serde(default)]
    pub sampled_ms: u64,
    /// Resident memory: the sum and count of samples (for the mean) and the highest sample, in
    /// bytes, of the type's dynos together; and one dyno's limit.
    pub memory_sum: u64,
    pub memory_samples: u64,
    pub memory_max: u64,
    pub memory_limit: u64,
    /// The most dynos of the type seen running in the minute.
    pub dynos: u32,
    /// Restarts and OOM kills that happened in the minute.
    pub restarts: u64,
    pub oom_kills: u64,
    /// Requests the app's flow control refused: over a rate (429), and shed (503); counted in
    /// `requests` too.
    #[serde(default)]
    pub limited: u64,
    #[serde(default)]
    pub shed: u64,
}

impl Minute {
    /// Counts one request: its status and how long its response took to begin, in ms.
    pub fn request(&mut self, status: u16, latency_ms: u64, bytes_out: u64) {
        let class = usize::from((status / 100).clamp(1, 5)) - 1;
        self.requests[class] += 1;
        let bucket = LATENCY_BOUNDS_MS
            .iter()
            .position(|bound| latency_ms <= *bound)
            .unwrap_or(LATENCY_BOUNDS_MS.len());
        self.latency[bucket] += 1;
        self.latency_ms_sum += latency_ms;
        self.bytes_out += bytes_out;
    }

    /// Adds `other`'s figures to these (two minutes, or two dynos' samples).
    pub fn merge(&mut self, other: &Minute) {
        for (a, b) in self.requests.iter_mut().zip(other.requests) {
            *a += b;
        }
        for (a, b) in self.latency.iter_mut().zip(other.latency) {
            *a += b;
        }
        self.latency_ms_sum += other.latency_ms_sum;
        self.bytes_out += other.bytes_out;
        self.cpu_ms += other.cpu_ms;
        self.sampled_ms += other.sampled_ms;
        self.memory_sum += other.memory_sum;
        self.memory_samples += other.memory_samples;
        self.memory_max = self.memory_max.max(other.memory_max);
        self.memory_limit = self.memory_limit.max(other.memory_limit);
        self.dynos = self.dynos.max(other.dynos);
        self.restarts += other.restarts;
        self.oom_kills += other.oom_kills;
        self.limited += other.limited;
        self.shed += other.shed;
    }

    /// The counters' growth since `earlier`, a snapshot of the same running totals (what
    /// happened between the two): requests, latency, bytes, CPU time, restarts, OOM kills and
    /// refusals. Gauges (memory, dynos) are this snapshot's.
    pub fn minus(&self, earlier: &Minute) -> Minute {
        let mut delta = self.clone();
        for (a, b) in delta.requests.iter_mut().zip(earlier.requests) {
            *a = a.saturating_sub(b);
        }
        for (a, b) in delta.latency.iter_mut().zip(earlier.latency) {
            *a = a.saturating_sub(b);
        }
        delta.latency_ms_sum = delta.latency_ms_sum.saturating_sub(earlier.latency_ms_sum);
        delta.bytes_out = delta.bytes_out.saturating_sub(earlier.bytes_out);
        delta.cpu_ms = delta.cpu_ms.saturating_sub(earlier.cpu_ms);
        delta.sampled_ms = delta.sampled_ms.saturating_sub(earlier.sampled_ms);
        delta.restarts = delta.restarts.saturating_sub(earlier.restarts);
        delta.oom_kills = delta.oom_kills.saturating_sub(earlier.oom_kills);
        delta.limited = delta.limited.saturating_sub(earlier.limited);
        delta.shed = delta.shed.saturating_sub(earlier.shed);
        delta
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.iter().sum()
    }

    /// The `q`-quantile (0.95 for p95) of the latency, in ms: the upper bound of the bucket it
    /// falls in (as Prometheus's `histogram_quantile` without interpolation), `None` without
    /// requests. The slowest bucket reports its lower bound.
    pub fn latency_quantile(&self, q: f64) -> Option<u64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        // The rank of the request the quantile is: at least the first.
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.latency.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(
                    LATENCY_BOUNDS_MS
                        .get(bucket)
                        .copied()
                        .unwrap_or(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1]),
                );
            }
        }
        None
    }

    /// The share of requests answered 5xx, in percent; `None` without requests.
    pub fn server_error_percent(&self) -> Option<f64> {
        let total = self.total_requests();
        (total > 0).then(|| self.requests[4] as f64 * 100.0 / total as f64)
    }

    /// Mean CPU use of the type's dynos together, in percent of one core: over the wall time
    /// the samples cover, or (figures stored before that was kept) over `seconds`.
    pub fn cpu_percent(&self, seconds: u64) -> f64 {
        let wall_ms = if self.sampled_ms > 0 {
            self.sampled_ms
        } else {
            seconds.max(1) * 1000
        };
        self.cpu_ms as f64 * 100.0 / wall_ms as f64
    }

    /// Mean resident memory, in bytes; `None` without samples.
    pub fn memory_mean(&self) -> Option<u64> {
        (self.memory_samples > 0).then(|| self.memory_sum / self.memory_samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets() {
        let mut minute = Minute::default();
        assert_eq!(minute.latency_quantile(0.95), None);
        for ms in 1..=100 {
            minute.request(200, ms, 10);
        }
        assert_eq!(minute.latency_quantile(0.5), Some(50));
        assert_eq!(minute.latency_quantile(0.95), Some(100));
        assert_eq!(minute.latency_quantile(0.05), Some(5));
        minute.request(503, 35_000, 0);
        assert_eq!(minute.latency_quantile(1.0), Some(60_000));
        assert_eq!(minute.requests, [0, 100, 0, 0, 1]);
        assert_eq!(minute.bytes_out, 1000);
        let errors = minute.server_error_percent().expect("requests");
        assert!((errors - 100.0 / 101.0).abs() < 1e-9, "{errors}");
    }

    #[test]
    fn minutes_merge() {
        let mut a = Minute {
            cpu_ms: 30_000,
            memory_sum: 100,
            memory_samples: 2,
            memory_max: 60,
            dynos: 2,
            ..Minute::default()
        };
        a.request(200, 7, 1);
        let mut b = Minute {
            cpu_ms: 30_000,
            memory_sum: 300,
            memory_samples: 2,
            memory_max: 200,
            dynos: 1,
            restarts: 1,
            ..Minute::default()
        };
        b.request(404, 7, 1);
        a.merge(&b);
        assert_eq!(a.requests, [0, 1, 0, 1, 0]);
        assert_eq!(a.latency[1], 2);
        assert_eq!(a.cpu_percent(60), 100.0);
        let sampled = Minute {
            cpu_ms: 9_000,
            sampled_ms: 10_000,
            ..Minute::default()
        };
        assert_eq!(
            sampled.cpu_percent(5),
            90.0,
            "over the samples' time, not the window's"
        );
        assert_eq!(a.memory_mean(), Some(100));
        assert_eq!((a.memory_max, a.dynos, a.restarts), (200, 2, 1));
        let grown = a.minus(&b);
        assert_eq!(grown.requests, [0, 1, 0, 0, 0]);
        assert_eq!((grown.cpu_ms, grown.restarts), (30_000, 0));
    }
}

//! The paas server: receives `git push` over SSH, builds, records releases and runs them, and
//! serves the HTTP API the `paas` CLI talks to. The binary `paas-buildserver` wires these
//! subsystems together; each module owns one of them (DESIGN §2).

pub mod addons;
pub mod alerts;
pub mod api;
pub mod app;
pub mod autoscale;
pub mod build;
pub mod config;
pub mod container;
pub mod data_dir;
pub mod domains;
pub mod drains;
pub mod git;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod oci;
pub mod one_off;
pub mod outbound;
pub mod registry;
pub mod release;
pub mod router;
pub mod scheduler;
pub mod ssh;
pub mod store;
pub mod token;
pub mod urls;

/// Now, in unix seconds (0 before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix seconds as RFC 3339 (`2026-12-03T10:00:00Z`; 1970 for times before it).
pub fn rfc3339(unix: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0).unsigned_abs());
    humantime::format_rfc3339_seconds(time).to_string()
}

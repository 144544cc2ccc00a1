//! The benchmarks' report: each benchmark prints its figures as it measures them and also records
//! its headline ones here; `scripts/bench` sets `PAAS_BENCH_REPORT` to a file, runs every
//! benchmark, and ends with one table of them all (the README's table is that output).

use std::io::Write;

/// Records one row of the report: what was measured, paas's figure, and the peer's figure with
/// the ratio or the target (`comparison`). A JSON line appended to `$PAAS_BENCH_REPORT`; nothing
/// without it (a benchmark run alone).
pub fn figure(figure: &str, paas: &str, comparison: &str) {
    let Some(path) = std::env::var_os("PAAS_BENCH_REPORT") else {
        return;
    };
    let line = serde_json::json!({ "figure": figure, "paas": paas, "comparison": comparison });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the benchmark report");
    writeln!(file, "{line}").expect("write the benchmark report");
}

/// The median of `ratios` and their range, as `1.08 (0.88–1.16)`: how the benchmarks print a
/// figure of paired rounds.
pub fn ratio_with_range(ratios: Vec<f64>) -> String {
    let (low, high) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
    format!("{:.2} ({low:.2}–{high:.2})", median(ratios))
}

/// The median of `values` (the upper one of an even count). Panics when `values` is empty or
/// holds a value that does not compare (NaN).
pub fn median<T: PartialOrd + Copy>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("comparable values"));
    values[values.len() / 2]
}

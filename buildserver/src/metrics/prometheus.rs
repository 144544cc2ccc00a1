//! The Prometheus text exposition format (version 0.0.4) of every app's figures since the daemon
//! started. Written here rather than with a registry crate: the figures live in [`super::Metrics`]
//! already, and a registry would keep a second copy of every series; the format is lines of
//! `name{labels} value` with `# HELP`/`# TYPE` headers, label values escaped as the format says.

use std::collections::HashMap;
use std::fmt::Write;

use super::{LATENCY_BOUNDS_MS, Metrics};

/// The exposition of `metrics`, with each app labelled by its name in `names` (app id → name;
/// apps missing there are left out: destroyed meanwhile).
pub fn render(metrics: &Metrics, names: &HashMap<String, String>) -> String {
    let mut series = metrics.totals();
    series.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let series: Vec<_> = series
        .into_iter()
        .filter_map(|(id, process_type, total, sample)| {
            let name = names.get(&*id)?;
            Some((id, labels(name, &process_type), total, sample))
        })
        .collect();
    let mut out = String::new();
    // Each family's header, then its lines.
    let mut section = |name: &str, kind: &str, help: &str, lines: &mut dyn FnMut(&mut String)| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        lines(&mut out);
    };
    section(
        "paas_router_requests_total",
        "counter",
        "Requests the router answered for the app, by status class.",
        &mut |out| {
            for (_, labels, total, _) in &series {
                if total.total_requests() == 0 {
                    continue;
                }
                for (class, count) in ["1xx", "2xx", "3xx", "4xx", "5xx"]
                    .iter()
                    .zip(total.requests)
                {
                    let _ = writeln!(
                        out,
                        "paas_router_requests_total{{{labels},status=\"{class}\"}} {count}"
                    );
                }
            }
        },
    );
    section(
        "paas_router_refused_total",
        "counter",
        "Requests the app's flow control refused: over a rate (429), or shed (503).",
        &mut |out| {
            for (_, labels, total, _) in &series {
                for (reason, count) in [("limited", total.limited), ("shed", total.shed)] {
                    if count > 0 {
                        let _ = writeln!(
                            out,
                            "paas_router_refused_total{{{labels},reason=\"{reason}\"}} {count}"
                        );
                    }
                }
            }
        },
    );
    section(
        "paas_router_response_seconds",
        "histogram",
        "How long the app's responses took to begin.",
        &mut |out| {
            for (_, labels, total, _) in &series {
                if total.total_requests() == 0 {
                    continue;
                }
                let mut cumulative = 0;
                for (bound, count) in LATENCY_BOUNDS_MS.iter().zip(total.latency) {
                    cumulative += count;
                    let le = *bound as f64 / 1000.0;
                    let _ = writeln!(
                        out,
                        "paas_router_response_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                    );
                }
                let count = total.total_requests();
                let _ = writeln!(
                    out,
                    "paas_router_response_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
                );
                let _ = writeln!(
                    out,
                    "paas_router_response_seconds_sum{{{labels}}} {}",
                    total.latency_ms_sum as f64 / 1000.0
                );
                let _ = writeln!(
                    out,
                    "paas_router_response_seconds_count{{{labels}}} {count}"
                );
            }
        },
    );
    section(
        "paas_router_response_bytes_total",
        "counter",
        "Response bytes, as the responses' Content-Length said.",
        &mut |out| {
            for (_, labels, total, _) in &series {
                if total.total_requests() > 0 {
                    let _ = writeln!(
                        out,
                        "paas_router_response_bytes_total{{{labels}}} {}",
                        total.bytes_out
                    );
                }
            }
        },
    );
    section(
        "paas_router_requests_in_flight",
        "gauge",
        "Requests waiting on one of the app's dynos now.",
        &mut |out| {
            let mut seen = std::collections::HashSet::new();
            for (id, labels, _, _) in &series {
                if seen.insert(id) {
                    let app = labels.split(',').next().unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "paas_router_requests_in_flight{{{app},process_type=\"web\"}} {}",
                        metrics.in_flight(id)
                    );
                }
            }
        },
    );
    let sampled =
        |out: &mut String,
         name: &str,
         value: &dyn Fn(&super::Minute, &super::Minute) -> Option<f64>| {
            for (_, labels, total, sample) in &series {
                if total.memory_samples == 0 {
                    continue;
                }
                if let Some(value) = value(total, sample) {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
        };
    section(
        "paas_dyno_cpu_seconds_total",
        "counter",
        "CPU time the process type's dynos used.",
        &mut |out| {
            sampled(out, "paas_dyno_cpu_seconds_total", &|total, _| {
                Some(total.cpu_ms as f64 / 1000.0)
            })
        },
    );
    section(
        "paas_dyno_memory_bytes",
        "gauge",
        "Resident memory of the process type's dynos together, at the last sample.",
        &mut |out| {
            sampled(out, "paas_dyno_memory_bytes", &|_, sample| {
                Some(sample.memory_sum as f64)
            })
        },
    );
    section(
        "paas_dyno_memory_limit_bytes",
        "gauge",
        "One dyno's memory limit.",
        &mut |out| {
            sampled(out, "paas_dyno_memory_limit_bytes", &|_, sample| {
                (sample.memory_limit > 0).then_some(sample.memory_limit as f64)
            })
        },
    );
    section(
        "paas_dynos",
        "gauge",
        "Dynos of the process type running, at the last sample.",
        &mut |out| {
            sampled(out, "paas_dynos", &|_, sample| {
                Some(f64::from(sample.dynos))
            })
        },
    );
    section(
        "paas_dyno_restarts_total",
        "counter",
        "Restarts of the process type's dynos.",
        &mut |out| {
            sampled(out, "paas_dyno_restarts_total", &|total, _| {
                Some(total.restarts as f64)
            })
        },
    );
    section(
        "paas_dyno_oom_kills_total",
        "counter",
        "Processes of the type's dynos the kernel killed for memory.",
        &mut |out| {
            sampled(out, "paas_dyno_oom_kills_total", &|total, _| {
                Some(total.oom_kills as f64)
            })
        },
    );
    out
}

/// `app="shop",process_type="web"`, values escaped (backslash, quote, newline).
fn labels(app: &str, process_type: &str) -> String {
    format!(
        "app=\"{}\",process_type=\"{}\"",
        escape(app),
        escape(process_type)
    )
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        let id: Arc<str> = Arc::from("id-1");
        metrics.request(&id, 200, 7, 100);
        metrics.request(&id, 503, 2_000, 0);
        metrics.sample(
            &id,
            "web",
            &super::super::Minute {
                cpu_ms: 1500,
                memory_sum: 4096,
                memory_samples: 1,
                memory_limit: 8192,
                dynos: 2,
                ..Default::default()
            },
        );
        metrics.request(&Arc::from("gone"), 200, 1, 0);
        let names = HashMap::from([("id-1".to_owned(), "shop".to_owned())]);
        let text = render(&metrics, &names);
        for line in [
            "paas_router_requests_total{app=\"shop\",process_type=\"web\",status=\"2xx\"} 1",
            "paas_router_requests_total{app=\"shop\",process_type=\"web\",status=\"5xx\"} 1",
            "paas_router_response_seconds_bucket{app=\"shop\",process_type=\"web\",le=\"0.01\"} 1",
            "paas_router_response_seconds_bucket{app=\"shop\",process_type=\"web\",le=\"+Inf\"} 2",
            "paas_router_response_seconds_sum{app=\"shop\",process_type=\"web\"} 2.007",
            "paas_router_response_bytes_total{app=\"shop\",process_type=\"web\"} 100",
            "paas_router_requests_in_flight{app=\"shop\",process_type=\"web\"} 0",
            "paas_dyno_cpu_seconds_total{app=\"shop\",process_type=\"web\"} 1.5",
            "paas_dyno_memory_bytes{app=\"shop\",process_type=\"web\"} 4096",
            "paas_dynos{app=\"shop\",process_type=\"web\"} 2",
            "# TYPE paas_router_response_seconds histogram",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        assert!(!text.contains("gone"), "destroyed apps are left out");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

//! App logs (DESIGN §3.10): a ring buffer of recent lines per app and a live fan-out to tail
//! readers. Dynos, builds, the API, the router and the scheduler write here; `GET
//! /apps/{app}/logs` reads. A slow reader never blocks writers: it is told how many lines it
//! missed. It must not persist anything: logs are for watching, the store keeps the record.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use paas_share::models::LogLine;
use tokio::sync::broadcast;

/// Lines kept per app.
pub const RING_LINES: usize = 2000;
/// Longest message kept; longer ones are cut (and say so).
const MAX_MESSAGE_BYTES: usize = 8 * 1024;
const LIVE_BUFFER: usize = 1024;

#[derive(Clone)]
pub struct Logs {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    next_seq: u64,
    apps: HashMap<String, AppLog>,
    /// The last line's second (unix seconds) and its time: the next line in the same second
    /// changes only its microseconds (the router writes a line per request).
    second: (u64, String),
}

struct AppLog {
    /// Shared with the live stream: a line is made once, whoever reads it.
    ring: VecDeque<Arc<LogLine>>,
    live: broadcast::Sender<Arc<LogLine>>,
}

impl AppLog {
    fn new() -> Self {
        Self {
            ring: VecDeque::with_capacity(RING_LINES),
            live: broadcast::channel(LIVE_BUFFER).0,
        }
    }
}

/// Which lines a reader wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `web` (every web dyno) or `web.1`; `build`, `api`… for paas lines.
    pub process: Option<String>,
    /// `app` or `paas`.
    pub source: Option<String>,
    /// Only lines after this sequence number.
    pub after: Option<u64>,
}

impl Filter {
    pub fn matches(&self, line: &LogLine) -> bool {
        self.source.as_ref().is_none_or(|s| *s == line.source)
            && self.after.is_none_or(|after| line.seq > after)
            && self.process.as_ref().is_none_or(|p| {
                line.process == *p
                    || line
                        .process
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
    }
}

impl Inner {
    /// [`rfc3339_micros`] of `time`, its date and time of day taken from the last line's when
    /// in the same second.
    fn stamp(&mut self, time: SystemTime) -> String {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        if self.second.0 != since.as_secs() || self.second.1.is_empty() {
            self.second = (since.as_secs(), rfc3339_micros(time));
            return self.second.1.clone();
        }
        // `YYYY-MM-DDTHH:MM:SS.` then the microseconds and `Z`.
        let mut text = String::with_capacity(27);
        text.push_str(&self.second.1[..20]);
        push_digits(&mut text, u64::from(since.subsec_micros()), 6);
        text.push('Z');
        text
    }
}

impl Default for Logs {
    fn default() -> Self {
        Self::new()
    }
}

impl Logs {
    pub fn new() -> Self {
        // Sequence numbers start at the current time in microseconds, so that they keep growing
        // across restarts and a resuming reader skips nothing new.
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                next_seq: start,
                apps: HashMap::new(),
                second: (0, String::new()),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a line to app `app_id`'s log.
    pub fn emit(&self, app_id: &str, source: &str, process: &str, message: impl Into<String>) {
        let mut message = message.into();
        message.truncate(message.trim_end_matches(['\r', '\n']).len());
        if message.len() > MAX_MESSAGE_BYTES {
            let mut cut = MAX_MESSAGE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" [truncated]");
        }
        let mut inner = self.lock();
        inner.next_seq += 1;
        let time = inner.stamp(SystemTime::now());
        let line = Arc::new(LogLine {
            seq: inner.next_seq,
            time,
            source: source.to_owned(),
            process: process.to_owned(),
            message,
        });
        if !inner.apps.contains_key(app_id) {
            inner.apps.insert(app_id.to_owned(), AppLog::new());
        }
        let log = inner.apps.get_mut(app_id).expect("inserted above");
        if log.ring.len() == RING_LINES {
            log.ring.pop_front();
        }
        log.ring.push_back(Arc::clone(&line));
        let _ = log.live.send(line);
    }

    /// The last `lines` matching lines, oldest first, and (for tailing) a receiver of what comes
    /// next — taken together, so that nothing falls between them.
    pub fn read(
        &self,
        app_id: &str,
        lines: usize,
        filter: &Filter,
    ) -> (Vec<Arc<LogLine>>, broadcast::Receiver<Arc<LogLine>>) {
        let mut inner = self.lock();
        let log = inner
            .apps
            .entry(app_id.to_owned())
            .or_insert_with(AppLog::new);
        let matching: Vec<&Arc<LogLine>> = log.ring.iter().filter(|l| filter.matches(l)).collect();
        let recent = matching[matching.len().saturating_sub(lines)..]
            .iter()
            .map(|l| (*l).clone())
            .collect();
        (recent, log.live.subscribe())
    }

    /// Ends every live stream (the server is stopping): followers see their stream end and
    /// reconnect to the next server.
    pub fn close_all(&self) {
        self.lock().apps.clear();
    }

    /// Forgets an app's log (the app is gone).
    pub fn forget(&self, app_id: &str) {
        self.lock().apps.remove(app_id);
    }
}

/// `2026-11-26T02:10:06.123456Z`
pub fn rfc3339_micros(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Written digit by digit: a router line per request makes this hot (`format!` cost 4% of
    // the router's time).
    let mut text = String::with_capacity(27);
    let mut digits = |value: u64, width: u32, after: char| {
        push_digits(&mut text, value, width);
        text.push(after);
    };
    digits(u64::try_from(year).unwrap_or(0), 4, '-');
    digits(month as u64, 2, '-');
    digits(day as u64, 2, 'T');
    digits(rem / 3600, 2, ':');
    digits((rem % 3600) / 60, 2, ':');
    digits(rem % 60, 2, '.');
    digits(u64::from(since.subsec_micros()), 6, 'Z');
    text
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(text: &mut String, value: u64, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u64.pow(place)) % 10;
        text.push(char::from(b'0' + digit as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_micros(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::from_micros(1_795_660_206_123_456);
        assert_eq!(rfc3339_micros(t), "2026-11-26T02:30:06.123456Z");
        assert_eq!(
            rfc3339_micros(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn a_stamp_in_the_same_second_is_the_full_timestamp() {
        let logs = Logs::new();
        let mut inner = logs.lock();
        for micros in [
            1_795_660_206_123_456,
            1_795_660_206_999_999,
            1_795_660_206_000_001,
            1_795_660_207_000_000,
            1_795_660_207_042_000,
            1_795_660_186_500_000,
        ] {
            let time = UNIX_EPOCH + Duration::from_micros(micros);
            assert_eq!(inner.stamp(time), rfc3339_micros(time), "{micros}");
        }
    }

    #[test]
    fn ring_filters_and_resume() {
        let logs = Logs::new();
        for i in 0..RING_LINES + 10 {
            logs.emit(
                "a",
                "app",
                if i % 2 == 0 { "web.1" } else { "worker.1" },
                format!("line {i}"),
            );
        }
        logs.emit("a", "paas", "api", "Release v1 created by alice");
        let (all, _) = logs.read("a", usize::MAX, &Filter::default());
        assert_eq!(all.len(), RING_LINES, "bounded");
        let (web, _) = logs.read(
            "a",
            3,
            &Filter {
                process: Some("web".into()),
                ..Filter::default()
            },
        );
        assert_eq!(
            web.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
            ["line 2004", "line 2006", "line 2008"]
        );
        let (paas, _) = logs.read(
            "a",
            10,
            &Filter {
                source: Some("paas".into()),
                ..Filter::default()
            },
        );
        assert_eq!(paas.len(), 1);
        assert_eq!(
            paas[0].to_string(),
            format!("{} paas[api]: Release v1 created by alice", paas[0].time)
        );
        let after = all[all.len() - 2].seq;
        let (rest, _) = logs.read(
            "a",
            usize::MAX,
            &Filter {
                after: Some(after),
                ..Filter::default()
            },
        );
        assert_eq!(rest.len(), 1, "resuming skips what was seen");
        assert!(
            !Filter {
                process: Some("web".into()),
                ..Filter::default()
            }
            .matches(&LogLine {
                seq: 0,
                time: String::new(),
                source: "app".into(),
                process: "webhook.1".into(),
                message: String::new()
            })
        );
    }

    #[test]
    fn long_lines_are_cut() {
        let logs = Logs::new();
        logs.emit("a", "app", "web.1", "é".repeat(10_000));
        let (lines, _) = logs.read("a", 1, &Filter::default());
        assert!(lines[0].message.ends_with(" [truncated]"));
        assert!(lines[0].message.len() <= MAX_MESSAGE_BYTES + 12);
    }
}

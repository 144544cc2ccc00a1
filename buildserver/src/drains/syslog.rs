//! Log lines as syslog messages: RFC 5424, framed by octet counting (RFC 6587 §3.4.1), as
//! Heroku's Logplex sends them to syslog and HTTPS drains.

use paas_share::models::LogLine;

/// PRI of every message: facility local7 (23), severity info (6), as Logplex's (`<190>`).
const PRI: u8 = 190;

/// `line` of app `app` as one framed message: `LEN SP <190>1 TIMESTAMP HOSTNAME APP-NAME PROCID
/// - - MSG`, where HOSTNAME is the app's name, APP-NAME the line's source (`app` for the dynos'
/// output, `paas` for the platform's and the router's lines) and PROCID its process (`web.1`,
/// `router`, `deploy`). Header fields are printable ASCII without spaces, within RFC 5424's
/// lengths (`_` stands for anything else); MSG is the line as UTF-8.
pub fn frame(app: &str, line: &LogLine) -> Vec<u8> {
    let message = format!(
        "<{PRI}>1 {} {} {} {} - - {}",
        field(&line.time, 128),
        field(app, 255),
        field(&line.source, 48),
        field(&line.process, 128),
        line.message
    );
    let mut framed = format!("{} ", message.len()).into_bytes();
    framed.extend_from_slice(message.as_bytes());
    framed
}

/// A header field: PRINTUSASCII (33–126) only, at most `max` bytes, `-` (NILVALUE) when empty.
fn field(value: &str, max: usize) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    if cleaned.is_empty() {
        "-".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_octet_counted_rfc5424_messages() {
        let line = LogLine {
            seq: 1,
            time: "2026-12-03T07:00:00.123456Z".to_owned(),
            source: "app".to_owned(),
            process: "web.1".to_owned(),
            message: "GET / 200 — naïve".to_owned(),
        };
        let framed = String::from_utf8(frame("shop", &line)).expect("UTF-8");
        let message = "<190>1 2026-12-03T07:00:00.123456Z shop app web.1 - - GET / 200 — naïve";
        assert_eq!(framed, format!("{} {message}", message.len()));
        let odd = LogLine {
            process: "we b\u{7f}".to_owned(),
            source: String::new(),
            ..line
        };
        let framed = String::from_utf8(frame("shop", &odd)).expect("UTF-8");
        assert!(framed.contains(" shop - we_b_ - - "), "{framed}");
    }
}

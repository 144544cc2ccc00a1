//! Text that apps and builds wrote, made safe to print on a user's terminal; the spinner both
//! command-line programs show during long waits.

use std::borrow::Cow;

/// A spinner on stderr with `message` and the time waited, redrawn ten times a second, for a wait
/// that may last more than a second; hidden (it draws nothing, and its `println` prints nothing)
/// unless `visible` — the caller's choice: stderr is a terminal and the output is not JSON. Plain
/// text: `NO_COLOR` has nothing to turn off. `finish_and_clear` it before printing the result.
pub fn spinner(message: impl Into<Cow<'static, str>>, visible: bool) -> indicatif::ProgressBar {
    if !visible {
        return indicatif::ProgressBar::hidden();
    }
    let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
    spinner.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .expect("a valid template"),
    );
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    spinner
}
/// A bar of bytes on stderr (a download of `total` bytes: done, total, rate), hidden unless
/// `visible`, as [`spinner`]; `set_position` it as bytes arrive.
pub fn bytes_bar(total: u64, visible: bool) -> indicatif::ProgressBar {
    if !visible {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "       [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}

/// `text` (one line or many) made safe for a terminal: colour sequences (SGR, `ESC [ … m`) are
/// kept when `colour` is true, with a reset at the end of each line that set one (an unfinished
/// colour does not run on into the lines after), and dropped otherwise; every other escape
/// sequence and control character but tab and newline shows as `�`, so that a dyno or a build
/// cannot retitle, clear or rewrite the terminal (OSC 52 clipboard writes, cursor moves, `\r`
/// overwrites). Text without control characters comes back as it is.
///
/// Hand-written: the crates that parse terminal output (`vte`) need a whole emulator around
/// them, and those that strip it (`strip-ansi-escapes`) drop colours too.
pub fn terminal_safe(text: &str, colour: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| !matches!(c, '\t' | '\n') && (c.is_control() || c == '\u{7f}');
    if !text.chars().any(unsafe_char) {
        return text.into();
    }
    const RESET: &str = "\x1b[0m";
    let mut safe = String::with_capacity(text.len() + RESET.len());
    let mut coloured = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b' && rest[1..].starts_with('[') {
            let end = rest[2..]
                .find(|p: char| !(p.is_ascii_digit() || p == ';' || p == ':'))
                .map_or(rest.len(), |end| end + 2);
            if rest[end..].starts_with('m') {
                if colour {
                    safe.push_str(&rest[..=end]);
                    coloured = true;
                }
                rest = &rest[end + 1..];
                continue;
            }
        }
        if c == '\n' && std::mem::take(&mut coloured) {
            safe.push_str(RESET);
        }
        safe.push(if unsafe_char(c) { '\u{fffd}' } else { c });
        rest = &rest[c.len_utf8()..];
    }
    if coloured {
        safe.push_str(RESET);
    }
    safe.into()
}

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn colours_stay_and_end_with_their_line_other_controls_show() {
        let coloured = "\x1b[1;32mok\x1b[0m done\tnow";
        assert_eq!(terminal_safe(coloured, true), format!("{coloured}\x1b[0m"));
        assert_eq!(terminal_safe(coloured, false), "ok done\tnow");
        assert_eq!(
            terminal_safe("\x1b[31;8mhidden\nnext\n", true),
            "\x1b[31;8mhidden\x1b[0m\nnext\n"
        );
        // A window title, a clipboard write (OSC 52), a screen clear and a carriage return.
        let hostile = "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J\rhidden\u{9b}";
        let shown = terminal_safe(hostile, true);
        assert!(
            !shown.contains(['\x1b', '\x07', '\r', '\u{9b}']),
            "{shown:?}"
        );
        assert!(
            shown.contains("pwned") && shown.contains("hidden"),
            "{shown:?}"
        );
        assert!(matches!(
            terminal_safe("plain é\n", true),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}

//! All output goes through here: data on stdout (tables, fields, or JSON with `--json`), status,
//! warnings and errors on stderr, colour only where the user wants it (flag > NO_COLOR >
//! FORCE_COLOR > terminal detection).

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};

use indicatif::ProgressBar;
use serde::Serialize;

use crate::env_vars;
use crate::error::{CliError, ExitStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub struct Printer {
    json: bool,
    color_out: bool,
    color_err: bool,
    /// Whether spinners are drawn (stderr is a terminal and output is not JSON).
    progress: bool,
}

#[derive(Clone, Copy)]
enum Style {
    Bold,
    Red,
    Yellow,
    Green,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Self::Bold => "\x1b[1m",
            Self::Red => "\x1b[1;31m",
            Self::Yellow => "\x1b[1;33m",
            Self::Green => "\x1b[32m",
        }
    }
}

impl Printer {
    pub fn new(json: bool, choice: ColorChoice) -> Self {
        let decide = |is_terminal: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if env_vars::get(env_vars::NO_COLOR).is_some() => false,
            ColorChoice::Auto if env_vars::get(env_vars::FORCE_COLOR).is_some() => true,
            ColorChoice::Auto => is_terminal,
        };
        Self {
            json,
            color_out: decide(io::stdout().is_terminal()),
            color_err: decide(io::stderr().is_terminal()),
            progress: !json && io::stderr().is_terminal(),
        }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    /// Text an app or a build wrote (log lines, release output, config values), made safe to
    /// print on stdout: see [`paas_share::terminal::terminal_safe`] (colours only where wanted).
    pub fn app_text<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        paas_share::terminal::terminal_safe(text, self.color_out)
    }

    fn paint(enabled: bool, style: Style, text: &str) -> String {
        if enabled {
            format!("{}{text}\x1b[0m", style.code())
        } else {
            text.to_owned()
        }
    }

    /// Prints `value` as JSON with `--json`, otherwise whatever `human` writes.
    pub fn print<T: Serialize + ?Sized>(
        &self,
        value: &T,
        human: impl FnOnce(&Self, &mut dyn Write) -> io::Result<()>,
    ) -> anyhow::Result<()> {
        let mut out = io::stdout().lock();
        if self.json {
            serde_json::to_writer_pretty(&mut out, value)?;
            writeln!(out)?;
        } else {
            human(self, &mut out)?;
        }
        out.flush()?;
        Ok(())
    }

    /// Aligned columns under a bold header; the last column is not padded.
    pub fn table(
        &self,
        out: &mut dyn Write,
        headers: &[&str],
        rows: &[Vec<String>],
    ) -> io::Result<()> {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<String>| -> String {
            let last = cells.len().saturating_sub(1);
            let mut line = String::new();
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                line.push_str(cell);
                if i < last {
                    line.push_str(&" ".repeat(w - cell.chars().count() + 2));
                }
            }
            line.trim_end().to_owned()
        };
        let header = line(headers.iter().map(|h| (*h).to_owned()).collect());
        writeln!(out, "{}", Self::paint(self.color_out, Style::Bold, &header))?;
        for row in rows {
            writeln!(out, "{}", line(row.clone()))?;
        }
        Ok(())
    }

    /// [`Self::table`], or the line `none` when there are no rows ("None yet. Add one with …").
    pub fn table_or(
        &self,
        out: &mut dyn Write,
        none: &str,
        headers: &[&str],
        rows: &[Vec<String>],
    ) -> io::Result<()> {
        if rows.is_empty() {
            return writeln!(out, "{none}");
        }
        self.table(out, headers, rows)
    }

    /// `key: value` lines with the values aligned; a value's later lines are indented to its
    /// column.
    pub fn fields(&self, out: &mut dyn Write, fields: &[(&str, String)]) -> io::Result<()> {
        let width = fields
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let indent = format!("\n{}", " ".repeat(width + 2));
        for (key, value) in fields {
            let label = Self::paint(self.color_out, Style::Bold, &format!("{key}:"));
            writeln!(
                out,
                "{label}{} {}",
                " ".repeat(width - key.chars().count()),
                value.replace('\n', &indent)
            )?;
        }
        Ok(())
    }

    /// Copies a streamed text body (a build's or a release phase's output) to stdout line by
    /// line as it arrives, so that a running one shows up live, made safe with
    /// [`Printer::app_text`].
    pub fn copy_live(&self, body: impl io::Read) -> io::Result<()> {
        let mut stdout = io::stdout().lock();
        let mut body = io::BufReader::new(body);
        let mut line = Vec::new();
        loop {
            line.clear();
            if io::BufRead::read_until(&mut body, b'\n', &mut line)? == 0 {
                return Ok(());
            }
            stdout.write_all(self.app_text(&String::from_utf8_lossy(&line)).as_bytes())?;
            stdout.flush()?;
        }
    }

    /// A streamed output (a build's, a release phase's): [`Printer::copy_live`], or with
    /// `--json` the whole of it once it ends, as `{name: id, "output": "…"}`.
    pub fn output(
        &self,
        mut body: impl io::Read,
        name: &str,
        id: serde_json::Value,
    ) -> anyhow::Result<()> {
        if !self.json {
            return Ok(self.copy_live(body)?);
        }
        let mut output = String::new();
        body.read_to_string(&mut output)?;
        let value = serde_json::json!({ name: id, "output": output });
        self.print(&value, |_, _| Ok(()))
    }

    /// A `=== title` heading, as Heroku prints before a section.
    pub fn heading(&self, out: &mut dyn Write, title: &str) -> io::Result<()> {
        writeln!(
            out,
            "{}",
            Self::paint(self.color_out, Style::Bold, &format!("=== {title}"))
        )
    }

    /// A progress or result line on stderr.
    pub fn status(&self, message: impl Display) {
        let _ = writeln!(io::stderr(), "{message}");
    }

    /// A spinner for a wait ([`paas_share::terminal::spinner`]), drawn only when stderr is a
    /// terminal and the output is not JSON.
    pub fn spinner(&self, message: impl Into<std::borrow::Cow<'static, str>>) -> ProgressBar {
        paas_share::terminal::spinner(message, self.progress)
    }

    /// A bar of bytes for a download of `total` bytes ([`paas_share::terminal::bytes_bar`]),
    /// drawn only when stderr is a terminal and the output is not JSON.
    pub fn bytes_bar(&self, total: u64) -> ProgressBar {
        paas_share::terminal::bytes_bar(total, self.progress)
    }

    /// A result line on stderr with the subject in green, like `Created app demo`.
    pub fn done(&self, verb: &str, rest: impl Display) {
        let _ = writeln!(
            io::stderr(),
            "{} {rest}",
            Self::paint(self.color_err, Style::Green, verb)
        );
    }

    pub fn warn(&self, message: impl Display) {
        let label = Self::paint(self.color_err, Style::Yellow, "warning:");
        let _ = writeln!(io::stderr(), "{label} {message}");
    }

    /// Renders a failed command on stderr and returns its exit status. A closed stdout (`paas apps
    /// | head -1`) is success, not an error.
    pub fn error(&self, err: &anyhow::Error) -> ExitStatus {
        if err.chain().any(|e| {
            e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
                || e.downcast_ref::<serde_json::Error>()
                    .is_some_and(|e| e.io_error_kind() == Some(io::ErrorKind::BrokenPipe))
        }) {
            return ExitStatus::Success;
        }
        let cli = err.downcast_ref::<CliError>();
        let mut stderr = io::stderr().lock();
        if self.json {
            let mut body = serde_json::json!({
                "error": format!("{err:#}"),
                "id": cli.map_or("error", |c| c.id.as_str()),
            });
            if let Some(hint) = cli.and_then(|c| c.hint.as_deref()) {
                body["hint"] = hint.into();
            }
            let _ = writeln!(stderr, "{body}");
        } else {
            let _ = writeln!(
                stderr,
                "{} {err}",
                Self::paint(self.color_err, Style::Red, "error:")
            );
            for cause in err.chain().skip(1) {
                let _ = writeln!(
                    stderr,
                    "\n{}\n  {cause}",
                    Self::paint(self.color_err, Style::Bold, "Caused by:")
                );
            }
            if let Some(hint) = cli.and_then(|c| c.hint.as_deref()) {
                let _ = writeln!(
                    stderr,
                    "{} {hint}",
                    Self::paint(self.color_err, Style::Bold, "hint:")
                );
            }
        }
        cli.map_or(ExitStatus::Failure, |c| c.exit)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_align_values_and_their_later_lines() {
        let printer = super::Printer::new(false, super::ColorChoice::Never);
        let mut out = Vec::new();
        printer
            .fields(
                &mut out,
                &[
                    ("A", "one".to_owned()),
                    ("LONGER", "line1\nline2".to_owned()),
                ],
            )
            .expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "A:      one\nLONGER: line1\n        line2\n"
        );
    }
}

//! The CLI's error: a message, a hint that names the fix, a stable id for `--json`, and the exit
//! status it maps to (DESIGN §3.2).

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// The command ran and failed.
    Failure,
    /// The command line was wrong: a missing flag, a bad argument.
    Usage,
    /// A remote command's own status (`paas run`).
    Code(u8),
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => Self::SUCCESS,
            ExitStatus::Failure => Self::FAILURE,
            ExitStatus::Usage => Self::from(2),
            ExitStatus::Code(code) => Self::from(code),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub message: String,
    pub hint: Option<String>,
    /// For `--json`: the API's error id, or a local one such as `usage` or `connection_failed`.
    pub id: String,
    pub exit: ExitStatus,
}

impl CliError {
    pub fn new(id: &str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            id: id.to_owned(),
            exit: ExitStatus::Failure,
        }
    }

    /// A usage error: exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: ExitStatus::Usage,
            ..Self::new("usage", message)
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

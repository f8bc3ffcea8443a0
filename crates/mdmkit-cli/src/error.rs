//! One-line errors with an exit code.

use std::fmt;
use std::process::ExitCode;

/// A failure to report to the user: one line on stderr and an exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    /// A failure with exit code 1.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self::with_code(1, message)
    }

    /// A failure with a chosen exit code.
    pub(crate) fn with_code(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Prints the error as a single line and returns its exit code.
    pub(crate) fn report(&self) -> ExitCode {
        // Keep it to one line even if a source error spans several.
        let line = self.message.replace(['\n', '\r'], " ");
        eprintln!("mdmkit: {line}");
        ExitCode::from(self.code)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Renders an error and its chain of sources as `outer: inner: innermost`.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        src = s.source();
    }
    out
}

/// Adds context to any error on its way to the user.
pub(crate) trait Context<T> {
    /// Maps the error to a [`CliError`] reading `context: error chain`.
    fn context(self, context: impl fmt::Display) -> Result<T, CliError>;
}

impl<T, E: std::error::Error + 'static> Context<T> for Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T, CliError> {
        self.map_err(|e| CliError::new(format!("{context}: {}", chain(&e))))
    }
}

//! `mdmkit audit`: check the tamper-evident journal (work in progress).

use std::process::ExitCode;

use clap::Subcommand;

use crate::error::CliError;

/// `mdmkit audit` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify a journal's hash chain and signatures.
    Verify {
        /// A tenant directory or a journal file.
        path: std::path::PathBuf,
    },
}

pub(crate) fn run(cmd: AuditCommand) -> Result<ExitCode, CliError> {
    match cmd {
        AuditCommand::Verify { path } => Err(CliError::new(format!(
            "{}: audit verify is not built yet",
            path.display()
        ))),
    }
}

//! `mdmkit cert ...`

use std::process::ExitCode;

use clap::Subcommand;

use crate::error::CliError;

/// The `cert` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CertCommand {}

pub(crate) fn run(cmd: CertCommand) -> Result<ExitCode, CliError> {
    match cmd {}
}

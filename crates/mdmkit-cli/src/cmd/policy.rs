//! `mdmkit policy ...`

use std::process::ExitCode;

use clap::Subcommand;

use crate::error::CliError;

/// The `policy` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {}

pub(crate) fn run(cmd: PolicyCommand) -> Result<ExitCode, CliError> {
    match cmd {}
}

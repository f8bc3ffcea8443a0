//! `mdmkit queue ...`

use std::process::ExitCode;

use clap::Subcommand;

use crate::error::CliError;

/// The `queue` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {}

pub(crate) fn run(cmd: QueueCommand) -> Result<ExitCode, CliError> {
    match cmd {}
}

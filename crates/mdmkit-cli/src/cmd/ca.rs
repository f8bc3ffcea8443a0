//! `mdmkit ca ...`

use std::process::ExitCode;

use clap::Subcommand;

use crate::error::CliError;

/// The `ca` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {}

pub(crate) fn run(cmd: CaCommand) -> Result<ExitCode, CliError> {
    match cmd {}
}

//! `mdmkit compile --target apple`.

use std::process::ExitCode;

use super::CompileArgs;
use crate::error::CliError;

/// Compiles the input for apple devices.
pub(super) fn compile(args: &CompileArgs) -> Result<ExitCode, CliError> {
    Err(CliError::new(format!(
        "{}: compiling for apple is not available yet",
        args.input.display()
    )))
}

//! `mdmkit compile --target android`.

use std::process::ExitCode;

use super::CompileArgs;
use crate::error::CliError;

/// Compiles the input for android devices.
pub(super) fn compile(args: &CompileArgs) -> Result<ExitCode, CliError> {
    Err(CliError::new(format!(
        "{}: compiling for android is not available yet",
        args.input.display()
    )))
}

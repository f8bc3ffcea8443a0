//! `mdmkit compile --target windows`.

use std::process::ExitCode;

use super::CompileArgs;
use crate::error::CliError;

/// Compiles the input for windows devices.
pub(super) fn compile(args: &CompileArgs) -> Result<ExitCode, CliError> {
    Err(CliError::new(format!(
        "{}: compiling for windows is not available yet",
        args.input.display()
    )))
}

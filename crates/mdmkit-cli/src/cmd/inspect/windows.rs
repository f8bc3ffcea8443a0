//! Detection and decoding of windows artefacts.

use crate::error::CliError;

/// Recognises and decodes windows artefacts.
pub(super) fn detect(_bytes: &[u8]) -> Option<Result<serde_json::Value, CliError>> {
    None
}

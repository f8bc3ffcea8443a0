//! Detection and decoding of apple artefacts.

use crate::error::CliError;

/// Recognises and decodes apple artefacts.
pub(super) fn detect(_bytes: &[u8]) -> Option<Result<serde_json::Value, CliError>> {
    None
}

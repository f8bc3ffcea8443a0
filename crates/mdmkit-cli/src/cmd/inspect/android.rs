//! Detection and decoding of android artefacts.

use crate::error::CliError;

/// Recognises and decodes android artefacts.
pub(super) fn detect(_bytes: &[u8]) -> Option<Result<serde_json::Value, CliError>> {
    None
}

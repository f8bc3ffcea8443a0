//! Detection and decoding of android artefacts: Android Management API
//! `Policy`, `Device` and `Operation` JSON (`"kind"`: `amapi-policy`,
//! `amapi-device`, `amapi-operation`).

use crate::error::CliError;

/// Recognises and decodes android artefacts.
pub(super) fn detect(bytes: &[u8]) -> Option<Result<serde_json::Value, CliError>> {
    mdmkit::android::inspect::inspect(bytes).map(|r| r.map_err(|e| CliError::new(e.to_string())))
}

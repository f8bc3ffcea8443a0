//! Detection and decoding of Apple artefacts: profiles (plain and signed),
//! commands, check-in messages (a `DeclarativeManagement` one with what it
//! asks for and the status report it carries), command reports, and
//! declarative-management JSON (status reports, declarations, `tokens` and
//! `declaration-items` responses); `mdmkit_apple::inspect` lists the kinds.

use crate::error::{CliError, chain};

/// Recognises and decodes Apple artefacts; `None` leaves the bytes to the
/// other detectors.
pub(super) fn detect(bytes: &[u8]) -> Option<Result<serde_json::Value, CliError>> {
    mdmkit::apple::inspect::detect(bytes).map(|r| r.map_err(|e| CliError::new(chain(&e))))
}

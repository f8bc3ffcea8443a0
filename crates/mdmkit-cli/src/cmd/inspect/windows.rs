//! Detection and decoding of windows artefacts: SyncML messages
//! (`"kind": "syncml"`, each body element labelled by its name in
//! `"element"`, a Status naming the command it answers in `"answers"`),
//! MS-MDE2 enrollment SOAP envelopes (`"kind": "enrollment"` with
//! `"message"`: `discover_request`, `discover_response`,
//! `get_policies_request`, `get_policies_response`,
//! `request_security_token`, `request_security_token_response`, `fault`)
//! and provisioning documents (`"message": "provisioning_doc"`).

use mdmkit::windows::artefact::{self, Artefact};
use mdmkit::windows::enroll::{self, ProvisioningDoc};
use mdmkit::windows::syncml::SyncMl;
use serde::Serialize;

use crate::error::{CliError, chain};

/// Recognises and decodes windows artefacts by their root element; `None`
/// for anything else (an Apple plist is XML too, with another root).
pub(super) fn detect(bytes: &[u8]) -> Option<Result<serde_json::Value, CliError>> {
    Some(match artefact::detect(bytes)? {
        Artefact::SyncMl => SyncMl::read(bytes)
            .map_err(|e| CliError::new(format!("syncml: {}", chain(&e))))
            .and_then(|m| tagged("syncml", None, &m)),
        Artefact::Enrollment => enroll::read_message(bytes)
            .map_err(|e| CliError::new(format!("enrollment: {}", chain(&e))))
            .and_then(|m| tagged("enrollment", None, &m)),
        Artefact::ProvisioningDoc => ProvisioningDoc::read(bytes)
            .map_err(|e| CliError::new(format!("provisioning document: {}", chain(&e))))
            .and_then(|d| tagged("enrollment", Some("provisioning_doc"), &d)),
        _ => return None,
    })
}

/// Serialises `value` as one object with `"kind"` (and `"message"`) first.
fn tagged<T: Serialize>(
    kind: &str,
    message: Option<&str>,
    value: &T,
) -> Result<serde_json::Value, CliError> {
    let inner =
        serde_json::to_value(value).map_err(|e| CliError::new(format!("encoding JSON: {e}")))?;
    let mut out = serde_json::Map::new();
    out.insert("kind".into(), kind.into());
    if let Some(m) = message {
        out.insert("message".into(), m.into());
    }
    match inner {
        serde_json::Value::Object(map) => out.extend(map),
        other => {
            out.insert("value".into(), other);
        }
    }
    Ok(serde_json::Value::Object(out))
}

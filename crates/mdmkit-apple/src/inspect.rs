//! Recognising and decoding any Apple MDM artefact, for `mdmkit inspect`.
//!
//! [`detect`] returns `None` for bytes that are not Apple's (so other
//! vendors' detectors get their turn) and otherwise one JSON object with a
//! `"kind"` and the content under Apple's own key names, read through the
//! same typed reader a server uses (so malformed input is refused with the
//! errors a server would give):
//!
//! | `kind` | what | recognised by |
//! |---|---|---|
//! | `profile` | a configuration profile | plist, `PayloadType` `Configuration` |
//! | `signed-profile` | a CMS-signed profile (signature verified) | CMS `SignedData` |
//! | `command` | an MDM command | plist, `Command` dictionary |
//! | `checkin` | a check-in message: every `MessageType` the schema has (`Authenticate`, `TokenUpdate`, `CheckOut`, `UserAuthenticate`, `GetBootstrapToken`, `SetBootstrapToken`, `GetToken`, `DeclarativeManagement`) and `ReturnToService` | plist, `MessageType` |
//! | `command-response` | a command report (`Idle`, `Acknowledged`, `Error`, `CommandFormatError`, `NotNow`) | plist, `Status` |
//! | `ddm-status-report` | a declarative-management status report | JSON, `StatusItems` |
//! | `ddm-declaration` | a declaration | JSON, `Type` `com.apple.*` and `Identifier` |
//! | `ddm-tokens` | the `tokens` response | JSON, `SyncTokens` |
//! | `ddm-declaration-items` | the `declaration-items` manifest | JSON, `Declarations` and `DeclarationsToken` |
//!
//! A `DeclarativeManagement` check-in also gets `"ddm_request"`: its
//! `endpoint`, for `declaration/<kind>/<identifier>` the `declaration_kind`
//! and `identifier`, and for `status` the report its `Data` carries,
//! decoded, as `status_report` (the DDM status report as a device sends
//! it over the check-in channel).

use plist::{Dictionary, Value};

use crate::declarative::{DdmRequest, Endpoint};
use crate::error::{DecodeError, Error};
use crate::generated::protocol::{DeclarationItemsResponse, TokensResponse};
use crate::json::dict_to_json;
use crate::plist_io::{self, Format, Limits};
use crate::typed::{KeyPath, PlistDict};
use crate::{Checkin, Command, CommandReport, Profile};

/// What kind of Apple artefact some bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A configuration profile.
    Profile,
    /// A CMS-signed configuration profile.
    SignedProfile,
    /// An MDM command.
    Command,
    /// A check-in message.
    Checkin,
    /// A command report.
    CommandResponse,
    /// A declarative-management status report (JSON a device sends to the
    /// `status` endpoint).
    DdmStatusReport,
    /// A declarative-management declaration (JSON).
    Declaration,
    /// A declarative-management `tokens` response (JSON the server answers
    /// the `tokens` endpoint with, and the `Data` of a
    /// `DeclarativeManagement` command).
    DdmTokens,
    /// A declarative-management `declaration-items` response: the
    /// manifest of declarations and their server tokens (JSON).
    DdmDeclarationItems,
}

impl Kind {
    /// The `"kind"` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::SignedProfile => "signed-profile",
            Self::Command => "command",
            Self::Checkin => "checkin",
            Self::CommandResponse => "command-response",
            Self::DdmStatusReport => "ddm-status-report",
            Self::Declaration => "ddm-declaration",
            Self::DdmTokens => "ddm-tokens",
            Self::DdmDeclarationItems => "ddm-declaration-items",
        }
    }
}

/// Whether the bytes are a property list (binary, or XML with a `<plist`
/// element near the start), as opposed to other XML.
pub fn is_plist(bytes: &[u8]) -> bool {
    match plist_io::sniff(bytes) {
        Some(Format::Binary) => true,
        Some(Format::Xml) => {
            let head = &bytes[..bytes.len().min(4096)];
            head.windows(6).any(|w| w == b"<plist")
        }
        None => false,
    }
}

/// Classifies a plist dictionary.
pub fn classify(d: &Dictionary) -> Option<Kind> {
    if d.get("PayloadType").and_then(Value::as_string) == Some("Configuration") {
        Some(Kind::Profile)
    } else if d
        .get("Command")
        .is_some_and(|c| c.as_dictionary().is_some())
    {
        Some(Kind::Command)
    } else if d.contains_key("MessageType") {
        Some(Kind::Checkin)
    } else if d.contains_key("Status") {
        Some(Kind::CommandResponse)
    } else {
        None
    }
}

/// Why inspect refuses bytes it recognised as Apple's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// The artefact failed to decode.
    #[error(transparent)]
    Decode(#[from] Error),
    /// A property list that is none of the known kinds.
    #[error(
        "a property list, but not a profile (PayloadType Configuration), command (a Command \
         dictionary), check-in message (MessageType) or command report (Status)"
    )]
    Unrecognised,
}

/// The keys inspect writes beside a document's own.
const META_KEYS: &[&str] = &[
    "kind",
    "ddm_request",
    "signer_certificate",
    "certificates",
    "shadowed",
];

/// `"kind"` and the document's keys. A document key that is one of
/// inspect's own (an unknown `kind` key a device sent, say) would replace
/// it: such keys are kept under `"shadowed"` instead, so inspect's keys
/// always mean what they say and nothing of the document is lost.
fn object(kind: Kind, d: &Dictionary) -> serde_json::Value {
    serde_json::Value::Object(with_kind(kind, dict_to_json(d)))
}

fn with_kind(
    kind: Kind,
    mut doc: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut shadowed = serde_json::Map::new();
    for key in META_KEYS {
        if let Some(v) = doc.remove(*key) {
            shadowed.insert((*key).into(), v);
        }
    }
    let mut map = serde_json::Map::new();
    map.insert("kind".into(), kind.as_str().into());
    map.extend(doc);
    if !shadowed.is_empty() {
        map.insert("shadowed".into(), serde_json::Value::Object(shadowed));
    }
    map
}

/// Decodes a plist artefact into its JSON object.
pub fn decode_plist(bytes: &[u8], limits: &Limits) -> Result<serde_json::Value, InspectError> {
    let (d, _) = plist_io::read_dict(bytes, limits).map_err(Error::from)?;
    let kind = classify(&d).ok_or(InspectError::Unrecognised)?;
    // Decode through the typed readers so malformed input is refused with
    // the same errors a server would see; print what was read.
    let dict = match kind {
        Kind::Profile => Profile::from_dict(d)?.to_dict(),
        Kind::Command => Command::from_dict(d)?.to_dict(),
        Kind::Checkin => return decode_checkin(d, limits),
        Kind::CommandResponse => CommandReport::from_dict(d)?.to_dict(),
        Kind::SignedProfile
        | Kind::DdmStatusReport
        | Kind::Declaration
        | Kind::DdmTokens
        | Kind::DdmDeclarationItems => {
            return Err(InspectError::Unrecognised);
        }
    };
    Ok(object(kind, &dict))
}

/// A check-in message, with what a `DeclarativeManagement` one asks for
/// (and the status report it carries) under `ddm_request`.
fn decode_checkin(d: Dictionary, limits: &Limits) -> Result<serde_json::Value, InspectError> {
    let checkin = Checkin::from_dict(d)?;
    let mut value = object(Kind::Checkin, &checkin.to_dict());
    if let Some(request) = DdmRequest::from_checkin(&checkin)? {
        let mut ddm = serde_json::Map::new();
        ddm.insert("endpoint".into(), request.endpoint.to_string().into());
        if let Endpoint::Declaration { kind, identifier } = &request.endpoint {
            ddm.insert("declaration_kind".into(), kind.as_str().into());
            ddm.insert("identifier".into(), identifier.as_str().into());
        }
        if let Some(report) = request.status_report(limits)? {
            let inner = with_kind(Kind::DdmStatusReport, dict_to_json(&report.to_dict()));
            ddm.insert("status_report".into(), serde_json::Value::Object(inner));
        }
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("ddm_request".into(), serde_json::Value::Object(ddm));
        }
    }
    Ok(value)
}

/// Verifies and decodes a signed profile: its keys plus
/// `signer_certificate` (base64 DER) and `certificates`.
pub fn decode_signed(bytes: &[u8], limits: &Limits) -> Result<serde_json::Value, InspectError> {
    use base64::Engine as _;
    let signed = crate::SignedProfile::from_bytes(bytes, limits)?;
    let b64 = |d: &Vec<u8>| {
        serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(d))
    };
    let mut value = object(Kind::SignedProfile, &signed.profile.to_dict());
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("signer_certificate".into(), b64(&signed.signer_certificate));
        map.insert(
            "certificates".into(),
            serde_json::Value::Array(signed.certificates.iter().map(b64).collect()),
        );
    }
    Ok(value)
}

/// Classifies a declarative-management JSON object: a status report has
/// `StatusItems`; a declaration has an Apple `Type` and an `Identifier`; a
/// `tokens` response has `SyncTokens`; a `declaration-items` response has
/// `Declarations` and `DeclarationsToken`.
pub fn classify_json(d: &Dictionary) -> Option<Kind> {
    if d.contains_key("StatusItems") {
        Some(Kind::DdmStatusReport)
    } else if d
        .get("Type")
        .and_then(Value::as_string)
        .is_some_and(|t| t.starts_with("com.apple."))
        && d.contains_key("Identifier")
    {
        Some(Kind::Declaration)
    } else if d.contains_key("SyncTokens") {
        Some(Kind::DdmTokens)
    } else if d.contains_key("Declarations") && d.contains_key("DeclarationsToken") {
        Some(Kind::DdmDeclarationItems)
    } else {
        None
    }
}

/// Reads a protocol document through its generated reader (which checks
/// every key's type), then checks that its required keys are there.
fn protocol_document<T: PlistDict>(d: Dictionary, required: &[&str]) -> Result<Dictionary, Error> {
    let out = T::from_dict(d, &KeyPath::ROOT)?.to_dict();
    if let Some(key) = required.iter().find(|k| !out.contains_key(k)) {
        return Err(DecodeError::Missing {
            path: (*key).to_owned(),
        }
        .into());
    }
    Ok(out)
}

/// Decodes a declarative-management JSON artefact (status report,
/// declaration, `tokens` or `declaration-items` response) through its
/// typed reader; `None` when the JSON is not one (other vendors' JSON is
/// left to their detectors).
pub fn decode_ddm_json(
    bytes: &[u8],
    limits: &Limits,
) -> Option<Result<serde_json::Value, InspectError>> {
    let d = crate::declarative::read_object(bytes, limits).ok()?;
    let kind = classify_json(&d)?;
    let dict = match kind {
        Kind::DdmStatusReport => {
            crate::declarative::StatusReport::from_dict(d).map(|r| r.to_dict())
        }
        Kind::Declaration => crate::declarative::Declaration::from_dict(d).map(|r| r.to_dict()),
        Kind::DdmTokens => protocol_document::<TokensResponse>(d, &["SyncTokens"]),
        Kind::DdmDeclarationItems => {
            protocol_document::<DeclarationItemsResponse>(d, &["Declarations", "DeclarationsToken"])
        }
        _ => return None,
    };
    Some(dict.map(|d| object(kind, &d)).map_err(InspectError::from))
}

/// Recognises and decodes Apple artefacts; `None` when the bytes are not
/// Apple's.
pub fn detect(bytes: &[u8]) -> Option<Result<serde_json::Value, InspectError>> {
    let limits = Limits::DEFAULT;
    if crate::cms::looks_signed(bytes) {
        return Some(decode_signed(bytes, &limits));
    }
    if is_plist(bytes) {
        return Some(decode_plist(bytes, &limits));
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return decode_ddm_json(bytes, &limits);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_xml_and_json_are_left_to_other_detectors() {
        assert!(detect(b"<SyncML xmlns=\"SYNCML:SYNCML1.2\"></SyncML>").is_none());
        assert!(detect(b"{\"name\": \"enterprises/x\"}").is_none());
    }

    #[test]
    fn a_document_key_named_like_inspects_own_is_kept_aside() {
        // Found by the apple_inspect fuzz target: a status report carrying
        // its own `kind` key replaced the kind inspect writes.
        let json = br#"{"StatusItems":{"device":{"x":true}},"Errors":[],"kind":[1]}"#;
        let v = detect(json).unwrap().unwrap();
        assert_eq!(v["kind"], "ddm-status-report");
        assert_eq!(v["shadowed"]["kind"], serde_json::json!([1]));
    }

    #[test]
    fn a_ddm_status_report_and_a_declaration_are_recognised() {
        let report = br#"{"StatusItems": {"device": {"operating-system": {"version": "17.5"}},
            "management": {"declarations": {"activations": [], "configurations": [
              {"identifier": "c1", "active": true, "valid": "valid", "server-token": "t1"}],
              "assets": [], "management": []}}}, "Errors": []}"#;
        let json = detect(report).unwrap().unwrap();
        assert_eq!(json["kind"], "ddm-status-report");
        let declaration = br#"{"Type": "com.apple.configuration.passcode.settings",
            "Identifier": "p1", "ServerToken": "t1", "Payload": {"MinimumLength": 6}}"#;
        let json = detect(declaration).unwrap().unwrap();
        assert_eq!(json["kind"], "ddm-declaration");
        assert_eq!(json["Payload"]["MinimumLength"], 6);
        // A malformed report is an error, not someone else's JSON.
        assert!(detect(br#"{"StatusItems": 5}"#).unwrap().is_err());
    }

    #[test]
    fn ddm_tokens_and_declaration_items_are_recognised() {
        use crate::declarative::{Declaration, DeclarationSet};
        use crate::generated::declarations::ConfigurationPasscodeSettings;
        let set = DeclarationSet::new(vec![Declaration::new(
            "p1",
            &ConfigurationPasscodeSettings {
                minimum_length: Some(6),
                ..Default::default()
            },
        )])
        .unwrap();
        let date = plist::Date::from_xml_format("2026-11-28T15:00:00Z").unwrap();
        let tokens = set.respond(&Endpoint::Tokens, Some(date)).unwrap();
        let json = detect(&tokens).unwrap().unwrap();
        assert_eq!(json["kind"], "ddm-tokens");
        assert_eq!(
            json["SyncTokens"]["DeclarationsToken"],
            set.declarations_token().as_str()
        );
        let items = set.respond(&Endpoint::DeclarationItems, None).unwrap();
        let json = detect(&items).unwrap().unwrap();
        assert_eq!(json["kind"], "ddm-declaration-items");
        assert_eq!(
            json["Declarations"]["Configurations"][0]["Identifier"],
            "p1"
        );
        // Recognised, then refused by the typed reader: a wrong type.
        assert!(detect(br#"{"SyncTokens": 3}"#).unwrap().is_err());
        assert!(
            detect(br#"{"Declarations": [], "DeclarationsToken": "t"}"#)
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn a_ddm_status_checkin_shows_the_report_it_carries() {
        let bytes = include_bytes!("../tests/fixtures/checkin/declarative_management.plist");
        let json = detect(bytes).unwrap().unwrap();
        assert_eq!(json["kind"], "checkin");
        assert_eq!(json["MessageType"], "DeclarativeManagement");
        let ddm = &json["ddm_request"];
        assert_eq!(ddm["endpoint"], "status");
        assert_eq!(ddm["status_report"]["kind"], "ddm-status-report");
        assert_eq!(
            ddm["status_report"]["StatusItems"]["device"]["operating-system"]["version"],
            "18.1"
        );
        // Other check-ins have no ddm_request.
        let bytes = include_bytes!("../tests/fixtures/checkin/token_update.plist");
        assert!(detect(bytes).unwrap().unwrap().get("ddm_request").is_none());
    }

    #[test]
    fn a_command_is_shown_with_its_kind_and_apple_keys() {
        let cmd = crate::command::everyday::remove_profile("com.example.a");
        let json = detect(&cmd.to_bytes(Format::Xml)).unwrap().unwrap();
        assert_eq!(json["kind"], "command");
        assert_eq!(json["Command"]["RequestType"], "RemoveProfile");
        assert_eq!(json["Command"]["Identifier"], "com.example.a");
    }
}

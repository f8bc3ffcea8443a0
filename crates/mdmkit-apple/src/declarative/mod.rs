//! Declarative device management (DDM): declarations as an alternative to
//! profiles and commands, for devices that support them (iOS and iPadOS
//! 15+, macOS 13+, tvOS 16+, visionOS 1.1+, watchOS 10+).
//!
//! A device that does DDM checks in with `DeclarativeManagement` messages
//! ([`DdmRequest`]) and asks the server for, in turn, the `tokens`, the
//! `declaration-items` manifest and each `declaration/<kind>/<identifier>`
//! it does not have yet, then reports its state to `status`
//! ([`StatusReport`]). A [`DeclarationSet`] answers every one of those
//! endpoints ([`DeclarationSet::respond`]).
//!
//! - [`Declaration`]: one JSON declaration (`Type`, `Identifier`,
//!   `ServerToken`, `Payload`). Its `ServerToken` is derived from its
//!   content (and from any document it points at, such as the profile of a
//!   legacy declaration), so unchanged content keeps its token and the
//!   device downloads only what changed.
//! - [`DeclarativeMapper`]: a device's effective policy as declarations:
//!   native configurations where Apple has one (passcode, software-update
//!   enforcement and deferrals, managed apps), each remaining category as a
//!   `com.apple.configuration.legacy` declaration pointing at its profile,
//!   and a `com.apple.activation.simple` activating them all. What the
//!   device cannot take is reported per setting, as for profiles.
//! - [`StatusReport`]: what the device says about each declaration (valid,
//!   active, why not) and its other status items, read as untrusted JSON
//!   within [`Limits`].
//!
//! ```
//! use mdmkit_apple::declarative::{DeclarativeMapper, Endpoint};
//! use mdmkit_apple::schema::Os;
//! use mdmkit_apple::support::{DeviceContext, OsVersion};
//! use mdmkit_core::TenantId;
//! use mdmkit_policy::Policy;
//!
//! let settings = Policy::from_toml(
//!     "[policy]\nid = \"p\"\n[passcode]\nmin_length = 6\n[restrictions]\ncamera = \"deny\"",
//! )?
//! .settings;
//! let ipad = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), true);
//! let mapper = DeclarativeMapper::new(TenantId::new("region")?)
//!     .profile_base_url("https://mdm.example.org/ddm/profiles/");
//! let compiled = mapper.compile(&settings, &ipad)?;
//! let types: Vec<&str> = compiled.set.declarations().iter().map(|d| d.declaration_type.as_str()).collect();
//! assert_eq!(
//!     types,
//!     ["com.apple.activation.simple", "com.apple.configuration.legacy", "com.apple.configuration.passcode.settings"]
//! );
//! // What the server answers the device's `declaration-items` request with.
//! let manifest = compiled.set.respond(&Endpoint::DeclarationItems, None).unwrap();
//! assert!(std::str::from_utf8(&manifest)?.contains("\"ServerToken\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compiled;
mod json_io;
mod map;
mod status;

pub use compiled::{DeclarativeCompiled, LegacyProfile};
pub use json_io::{read_object, write_object};
pub use map::{DEFAULT_PROFILE_BASE_URL, DeclarativeMapper};
pub use status::{
    DeclarationStatus, MAX_NAME_SEGMENTS, StatusItemError, StatusReason, StatusReport, Validity,
};

use std::collections::BTreeSet;
use std::fmt;

use plist::{Date, Dictionary, Value};
use sha2::Digest as _;

use crate::command::{Command, everyday};
use crate::error::{DeclarativeError, Error};
use crate::generated::checkin::{AnyCheckin, DeclarativeManagement};
use crate::generated::protocol::{
    DeclarationItemsResponse, DeclarationItemsResponseDeclarationItem,
    DeclarationItemsResponseDeclarations, TokensResponse,
};
use crate::message::{Checkin, CheckinBody};
use crate::plist_io::Limits;
use crate::typed::{DeclarationType, KeyPath, PlistDict};

/// The four kinds of declaration, from the second part of `Type`
/// (`com.apple.configuration.passcode.settings` is a configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DeclarationKind {
    /// `com.apple.activation.*`: when to apply which configurations.
    Activation,
    /// `com.apple.configuration.*`: settings.
    Configuration,
    /// `com.apple.asset.*`: data that configurations refer to.
    Asset,
    /// `com.apple.management.*`: facts about the management relationship.
    Management,
}

impl DeclarationKind {
    /// Every kind, in the order of the manifest.
    pub const ALL: [DeclarationKind; 4] = [
        Self::Activation,
        Self::Configuration,
        Self::Asset,
        Self::Management,
    ];

    /// The kind of a declaration `Type`.
    pub fn of_type(declaration_type: &str) -> Result<Self, DeclarativeError> {
        let kind = declaration_type
            .strip_prefix("com.apple.")
            .and_then(|rest| rest.split('.').next());
        match kind {
            Some("activation") => Ok(Self::Activation),
            Some("configuration") => Ok(Self::Configuration),
            Some("asset") => Ok(Self::Asset),
            Some("management") => Ok(Self::Management),
            _ => Err(DeclarativeError::UnknownKind(declaration_type.to_owned())),
        }
    }

    /// The singular name used in endpoints (`declaration/configuration/ID`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activation => "activation",
            Self::Configuration => "configuration",
            Self::Asset => "asset",
            Self::Management => "management",
        }
    }

    fn from_endpoint(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for DeclarationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One declaration, as the device downloads it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Declaration {
    /// `Type` (`com.apple.configuration.passcode.settings`).
    pub declaration_type: String,
    /// `Identifier`, unique among the device's declarations.
    pub identifier: String,
    /// `ServerToken`: changes exactly when the content changes.
    pub server_token: String,
    /// `Payload`.
    pub payload: Dictionary,
}

impl Declaration {
    /// A declaration of a generated declaration type; its token is derived
    /// from type, identifier and payload.
    pub fn new<T: DeclarationType>(identifier: impl Into<String>, payload: &T) -> Self {
        Self::from_parts(T::DECLARATION_TYPE, identifier, payload.to_dict())
    }

    /// A declaration from its parts; its token is derived from them.
    pub fn from_parts(
        declaration_type: impl Into<String>,
        identifier: impl Into<String>,
        payload: Dictionary,
    ) -> Self {
        Self::with_attachment(declaration_type, identifier, payload, &[])
    }

    /// A declaration whose effect depends on a document it points at (the
    /// profile behind a `ProfileURL`, an asset's data): the document's bytes
    /// enter the token, so a changed document gives a new token and the
    /// device fetches it again.
    pub fn with_attachment(
        declaration_type: impl Into<String>,
        identifier: impl Into<String>,
        payload: Dictionary,
        attachment: &[u8],
    ) -> Self {
        let declaration_type = declaration_type.into();
        let identifier = identifier.into();
        let server_token = server_token(&declaration_type, &identifier, &payload, attachment);
        Self {
            declaration_type,
            identifier,
            server_token,
            payload,
        }
    }

    /// Its kind, from its `Type`.
    pub fn kind(&self) -> Result<DeclarationKind, DeclarativeError> {
        DeclarationKind::of_type(&self.declaration_type)
    }

    /// The payload as a generated declaration type (the `Type` is not
    /// checked: use [`Declaration::declaration_type`] to pick the type).
    pub fn decode<T: DeclarationType>(&self) -> Result<T, Error> {
        Ok(T::from_dict(
            self.payload.clone(),
            &KeyPath::ROOT.key("Payload"),
        )?)
    }

    /// The declaration as a plist dictionary (`Type`, `Identifier`,
    /// `ServerToken`, `Payload`).
    pub fn to_dict(&self) -> Dictionary {
        let mut d = Dictionary::new();
        d.insert("Type".into(), Value::String(self.declaration_type.clone()));
        d.insert("Identifier".into(), Value::String(self.identifier.clone()));
        d.insert(
            "ServerToken".into(),
            Value::String(self.server_token.clone()),
        );
        d.insert("Payload".into(), Value::Dictionary(self.payload.clone()));
        d
    }

    /// The JSON the device downloads.
    pub fn to_json(&self) -> Vec<u8> {
        write_object(&self.to_dict())
    }

    /// Reads a declaration (one a server stored, or a test fixture). The
    /// token is kept as written, not recomputed.
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        let d = read_object(bytes, limits)?;
        Self::from_dict(d)
    }

    /// Reads a declaration from its dictionary.
    pub fn from_dict(mut d: Dictionary) -> Result<Self, Error> {
        let root = KeyPath::ROOT;
        let base = crate::generated::declarations::Declarationbase::from_dict(
            std::mem::take(&mut d),
            &root,
        )?;
        let missing = |k: &str| crate::error::DecodeError::Missing { path: k.to_owned() };
        let declaration_type = base.type_key.ok_or_else(|| missing("Type"))?;
        DeclarationKind::of_type(&declaration_type)?;
        Ok(Self {
            declaration_type,
            identifier: base.identifier.ok_or_else(|| missing("Identifier"))?,
            server_token: base.server_token.ok_or_else(|| missing("ServerToken"))?,
            payload: base.payload.ok_or_else(|| missing("Payload"))?,
        })
    }
}

/// The `ServerToken` of a declaration: the first 128 bits of SHA-256 over a
/// canonical encoding of type, identifier, payload (dictionary keys sorted,
/// every value tagged with its type and length) and attachment, in hex.
///
/// The same content gives the same token in every process and version of
/// mdmkit that keeps this encoding; key order in the payload does not
/// matter.
pub fn server_token(
    declaration_type: &str,
    identifier: &str,
    payload: &Dictionary,
    attachment: &[u8],
) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"mdmkit-ddm-1\0");
    canon_bytes(&mut h, b's', declaration_type.as_bytes());
    canon_bytes(&mut h, b's', identifier.as_bytes());
    canon(&mut h, &Value::Dictionary(payload.clone()));
    canon_bytes(&mut h, b'a', attachment);
    hex(&h.finalize()[..16])
}

fn canon_bytes(h: &mut sha2::Sha256, tag: u8, bytes: &[u8]) {
    h.update([tag]);
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn canon(h: &mut sha2::Sha256, v: &Value) {
    match v {
        Value::Dictionary(d) => {
            let mut keys: Vec<&String> = d.keys().collect();
            keys.sort();
            h.update([b'd']);
            h.update((keys.len() as u64).to_be_bytes());
            for k in keys {
                canon_bytes(h, b's', k.as_bytes());
                if let Some(v) = d.get(k) {
                    canon(h, v);
                }
            }
        }
        Value::Array(a) => {
            h.update([b'l']);
            h.update((a.len() as u64).to_be_bytes());
            for v in a {
                canon(h, v);
            }
        }
        Value::String(s) => canon_bytes(h, b's', s.as_bytes()),
        Value::Boolean(b) => h.update([b'b', u8::from(*b)]),
        Value::Integer(i) => canon_bytes(h, b'i', i.to_string().as_bytes()),
        Value::Real(r) => canon_bytes(h, b'r', &r.to_bits().to_be_bytes()),
        Value::Data(d) => canon_bytes(h, b'x', d),
        Value::Date(d) => canon_bytes(h, b't', d.to_xml_format().as_bytes()),
        other => canon_bytes(h, b'?', format!("{other:?}").as_bytes()),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// All the declarations of one device: what the server answers its
/// `DeclarativeManagement` check-ins with.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeclarationSet {
    declarations: Vec<Declaration>,
}

impl DeclarationSet {
    /// A set of declarations, ordered by kind (activations first) then
    /// identifier. Identifiers must be unique and every `Type` of a known
    /// kind.
    pub fn new(mut declarations: Vec<Declaration>) -> Result<Self, DeclarativeError> {
        let mut seen = BTreeSet::new();
        for d in &declarations {
            d.kind()?;
            if !seen.insert(d.identifier.as_str()) {
                return Err(DeclarativeError::DuplicateIdentifier(d.identifier.clone()));
            }
        }
        declarations.sort_by(|a, b| {
            let ka = a.kind().ok();
            let kb = b.kind().ok();
            (ka, &a.identifier).cmp(&(kb, &b.identifier))
        });
        Ok(Self { declarations })
    }

    /// The declarations, activations first.
    pub fn declarations(&self) -> &[Declaration] {
        &self.declarations
    }

    /// The declarations of one kind.
    pub fn of_kind(&self, kind: DeclarationKind) -> impl Iterator<Item = &Declaration> {
        self.declarations
            .iter()
            .filter(move |d| d.kind().ok() == Some(kind))
    }

    /// The declaration with this identifier.
    pub fn get(&self, identifier: &str) -> Option<&Declaration> {
        self.declarations
            .iter()
            .find(|d| d.identifier == identifier)
    }

    /// Whether the set has no declaration.
    pub fn is_empty(&self) -> bool {
        self.declarations.is_empty()
    }

    /// The `DeclarationsToken`: changes exactly when a declaration is added,
    /// removed or changed (derived from every identifier and server token).
    pub fn declarations_token(&self) -> String {
        let mut h = sha2::Sha256::new();
        h.update(b"mdmkit-ddm-set-1\0");
        let mut items: Vec<(&str, &str)> = self
            .declarations
            .iter()
            .map(|d| (d.identifier.as_str(), d.server_token.as_str()))
            .collect();
        items.sort_unstable();
        for (id, token) in items {
            canon_bytes(&mut h, b's', id.as_bytes());
            canon_bytes(&mut h, b's', token.as_bytes());
        }
        hex(&h.finalize()[..16])
    }

    /// The `declaration-items` response: every declaration's identifier and
    /// server token, by kind, with the declarations token.
    pub fn manifest(&self) -> DeclarationItemsResponse {
        let items = |kind| {
            Some(
                self.of_kind(kind)
                    .map(|d| DeclarationItemsResponseDeclarationItem {
                        identifier: Some(d.identifier.clone()),
                        server_token: Some(d.server_token.clone()),
                        ..Default::default()
                    })
                    .collect(),
            )
        };
        DeclarationItemsResponse {
            declarations: Some(DeclarationItemsResponseDeclarations {
                activations: items(DeclarationKind::Activation),
                configurations: items(DeclarationKind::Configuration),
                assets: items(DeclarationKind::Asset),
                management: items(DeclarationKind::Management),
                ..Default::default()
            }),
            declarations_token: Some(self.declarations_token()),
            ..Default::default()
        }
    }

    /// The `tokens` response: `SyncTokens` with the declarations token and
    /// the server's timestamp (the time the set was last changed).
    pub fn tokens(&self, timestamp: Date) -> TokensResponse {
        let mut sync = Dictionary::new();
        sync.insert(
            "DeclarationsToken".into(),
            Value::String(self.declarations_token()),
        );
        sync.insert("Timestamp".into(), Value::String(timestamp.to_xml_format()));
        TokensResponse {
            sync_tokens: Some(sync),
            ..Default::default()
        }
    }

    /// The JSON body answering a device's request at `endpoint`, or `None`
    /// when the set has nothing there (an unknown declaration: answer 404)
    /// or the endpoint takes no answer (`status`: answer 200 with no body).
    /// `timestamp` goes into the `tokens` response (the current time when
    /// `None`).
    pub fn respond(&self, endpoint: &Endpoint, timestamp: Option<Date>) -> Option<Vec<u8>> {
        match endpoint {
            Endpoint::Tokens => {
                let ts = timestamp.unwrap_or_else(|| Date::from(std::time::SystemTime::now()));
                Some(write_object(&self.tokens(ts).to_dict()))
            }
            Endpoint::DeclarationItems => Some(write_object(&self.manifest().to_dict())),
            Endpoint::Declaration { kind, identifier } => self
                .get(identifier)
                .filter(|d| d.kind().ok() == Some(*kind))
                .map(Declaration::to_json),
            _ => None,
        }
    }

    /// The `DeclarativeManagement` command carrying the `tokens` response,
    /// which makes the device synchronize now (send it after the set
    /// changes, then push).
    pub fn sync_command(&self, timestamp: Date) -> Command {
        everyday::declarative_management(Some(write_object(&self.tokens(timestamp).to_dict())))
    }
}

/// What a `DeclarativeManagement` check-in asks for (its `Endpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `tokens`: the synchronization tokens.
    Tokens,
    /// `declaration-items`: the manifest.
    DeclarationItems,
    /// `status`: a status report in the message's `Data`.
    Status,
    /// `declaration/<kind>/<identifier>`: one declaration.
    Declaration {
        /// Its kind.
        kind: DeclarationKind,
        /// Its identifier.
        identifier: String,
    },
}

impl Endpoint {
    /// Parses an `Endpoint` value.
    pub fn parse(s: &str) -> Result<Self, DeclarativeError> {
        let unknown = || DeclarativeError::UnknownEndpoint(s.chars().take(200).collect());
        match s {
            "tokens" => Ok(Self::Tokens),
            "declaration-items" => Ok(Self::DeclarationItems),
            "status" => Ok(Self::Status),
            _ => {
                let rest = s.strip_prefix("declaration/").ok_or_else(unknown)?;
                let (kind, identifier) = rest.split_once('/').ok_or_else(unknown)?;
                let kind = DeclarationKind::from_endpoint(kind).ok_or_else(unknown)?;
                if identifier.is_empty() {
                    return Err(unknown());
                }
                Ok(Self::Declaration {
                    kind,
                    identifier: identifier.to_owned(),
                })
            }
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tokens => f.write_str("tokens"),
            Self::DeclarationItems => f.write_str("declaration-items"),
            Self::Status => f.write_str("status"),
            Self::Declaration { kind, identifier } => write!(f, "declaration/{kind}/{identifier}"),
        }
    }
}

/// A `DeclarativeManagement` check-in, read for what it asks.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DdmRequest {
    /// The endpoint asked for.
    pub endpoint: Endpoint,
    /// `Data`: the status report's JSON for [`Endpoint::Status`].
    pub data: Option<Vec<u8>>,
}

impl DdmRequest {
    /// The request of a check-in; `None` for other message types.
    pub fn from_checkin(checkin: &Checkin) -> Result<Option<Self>, Error> {
        match &checkin.body {
            CheckinBody::Known(AnyCheckin::DeclarativeManagement(m)) => {
                Self::from_message(m).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The request of a typed `DeclarativeManagement` message.
    pub fn from_message(m: &DeclarativeManagement) -> Result<Self, Error> {
        let endpoint = m
            .endpoint
            .as_deref()
            .ok_or_else(|| crate::error::DecodeError::Missing {
                path: "Endpoint".into(),
            })?;
        Ok(Self {
            endpoint: Endpoint::parse(endpoint)?,
            data: m.data.clone(),
        })
    }

    /// The status report of a `status` request (`None` for other
    /// endpoints); a `status` request without `Data` is an error.
    pub fn status_report(&self, limits: &Limits) -> Result<Option<StatusReport>, Error> {
        if self.endpoint != Endpoint::Status {
            return Ok(None);
        }
        let data = self
            .data
            .as_deref()
            .ok_or_else(|| crate::error::DecodeError::Missing {
                path: "Data".into(),
            })?;
        StatusReport::from_json(data, limits).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::declarations::ConfigurationPasscodeSettings;

    fn passcode(len: i64) -> Declaration {
        Declaration::new(
            "org.mdmkit.t.passcode",
            &ConfigurationPasscodeSettings {
                minimum_length: Some(len),
                require_passcode: Some(true),
                ..Default::default()
            },
        )
    }

    #[test]
    fn server_tokens_follow_content_and_ignore_key_order() {
        assert_eq!(passcode(6).server_token, passcode(6).server_token);
        assert_ne!(passcode(6).server_token, passcode(8).server_token);
        let mut a = Dictionary::new();
        a.insert("A".into(), Value::Boolean(true));
        a.insert("B".into(), Value::Integer(1.into()));
        let mut b = Dictionary::new();
        b.insert("B".into(), Value::Integer(1.into()));
        b.insert("A".into(), Value::Boolean(true));
        assert_eq!(
            server_token("t", "i", &a, &[]),
            server_token("t", "i", &b, &[])
        );
        assert_ne!(
            server_token("t", "i", &a, b"profile v1"),
            server_token("t", "i", &a, b"profile v2")
        );
        assert_eq!(passcode(6).server_token.len(), 32);
    }

    #[test]
    fn declarations_round_trip_through_json() {
        let d = passcode(6);
        let back = Declaration::from_json(&d.to_json(), &Limits::DEFAULT).unwrap();
        assert_eq!(back, d);
        let typed: ConfigurationPasscodeSettings = back.decode().unwrap();
        assert_eq!(typed.minimum_length, Some(6));
    }

    #[test]
    fn a_declaration_without_a_token_names_the_missing_key() {
        let err = Declaration::from_json(
            br#"{"Type":"com.apple.configuration.legacy","Identifier":"x","Payload":{}}"#,
            &Limits::DEFAULT,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "decoding: ServerToken: missing");
    }

    #[test]
    fn endpoints_parse_and_print() {
        for s in [
            "tokens",
            "declaration-items",
            "status",
            "declaration/configuration/org.mdmkit.t.passcode",
            "declaration/activation/a/b",
        ] {
            assert_eq!(Endpoint::parse(s).unwrap().to_string(), s);
        }
        for s in [
            "",
            "declaration/",
            "declaration/widget/x",
            "declaration/asset/",
            "foo",
        ] {
            assert!(Endpoint::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn the_set_answers_each_endpoint() {
        let set = DeclarationSet::new(vec![passcode(6)]).unwrap();
        let ep = Endpoint::parse("declaration/configuration/org.mdmkit.t.passcode").unwrap();
        assert_eq!(set.respond(&ep, None), Some(passcode(6).to_json()));
        let wrong_kind = Endpoint::parse("declaration/asset/org.mdmkit.t.passcode").unwrap();
        assert_eq!(set.respond(&wrong_kind, None), None);
        let ts = Date::from_xml_format("2026-11-28T12:00:00Z").unwrap();
        let tokens = String::from_utf8(set.respond(&Endpoint::Tokens, Some(ts)).unwrap()).unwrap();
        assert_eq!(
            tokens,
            format!(
                r#"{{"SyncTokens":{{"DeclarationsToken":"{}","Timestamp":"2026-11-28T12:00:00Z"}}}}"#,
                set.declarations_token()
            )
        );
        assert!(
            DeclarationSet::new(vec![passcode(6), passcode(7)]).is_err(),
            "duplicate identifiers"
        );
    }
}

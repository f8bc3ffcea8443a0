//! Configuration profiles (`.mobileconfig`): build, parse, validate.
//!
//! # Identifiers
//!
//! A device replaces an installed profile when a new one has the same
//! `PayloadIdentifier`, so identifiers must be stable across updates and
//! unique across tenants. mdmkit uses
//!
//! ```text
//! profile:  <prefix>.<tenant>.<name>        com.example.mdm.town-a.wifi
//! payload:  <profile identifier>.<slug>     com.example.mdm.town-a.wifi.staff
//! ```
//!
//! where `prefix` is the integrator's reverse-DNS name, `tenant` a
//! [`TenantId`] and `name`/`slug` short names chosen by the caller (letters,
//! digits, `-`, `_`, `.`).
//!
//! # UUIDs
//!
//! `PayloadUUID`s are UUIDv5 of the tenant, the identifier and the content
//! (keys sorted, so key order does not matter), in a namespace of mdmkit's
//! own. The same content always gives the same UUIDs and so the same bytes;
//! a changed setting changes the payload's UUID and the profile's.

use plist::{Dictionary, Value};
use uuid::Uuid;

use mdmkit_core::TenantId;

use crate::error::{Error, ProfileError};
use crate::plist_io::{self, Format, Limits};
use crate::schema::{self, SchemaKind};
use crate::typed::{KeyPath, PayloadType, remove_ordered};
use crate::validate::{Issue, validate_dict_at};

/// mdmkit's UUIDv5 namespace for payload UUIDs.
const NAMESPACE: Uuid = Uuid::from_u128(0x6d64_6d6b_6974_4170_b06c_6550_726f_6631);

const COMMON_KEYS: &[&str] = &[
    "PayloadType",
    "PayloadIdentifier",
    "PayloadUUID",
    "PayloadVersion",
    "PayloadDisplayName",
    "PayloadDescription",
    "PayloadOrganization",
];

fn check_part(s: &str) -> Result<(), ProfileError> {
    let ok = !s.is_empty()
        && !s.starts_with('.')
        && !s.ends_with('.')
        && !s.contains("..")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ProfileError::BadIdentifier(s.to_owned()))
    }
}

/// A profile's `PayloadIdentifier` in mdmkit's scheme
/// (`<prefix>.<tenant>.<name>`, see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileId {
    tenant: TenantId,
    full: String,
}

impl ProfileId {
    /// Builds `<prefix>.<tenant>.<name>`.
    pub fn new(prefix: &str, tenant: &TenantId, name: &str) -> Result<Self, ProfileError> {
        check_part(prefix)?;
        check_part(name)?;
        Ok(Self {
            tenant: tenant.clone(),
            full: format!("{prefix}.{tenant}.{name}"),
        })
    }

    /// The tenant the profile belongs to.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The identifier text.
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

/// One payload of a profile: the common keys plus its type's own keys.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Payload {
    /// `PayloadType`, e.g. `com.apple.wifi.managed`.
    pub payload_type: String,
    /// `PayloadIdentifier`.
    pub identifier: String,
    /// `PayloadUUID`.
    pub uuid: String,
    /// `PayloadVersion` (1 for everything Apple defines).
    pub version: Option<i64>,
    /// `PayloadDisplayName`.
    pub display_name: Option<String>,
    /// `PayloadDescription`.
    pub description: Option<String>,
    /// `PayloadOrganization`.
    pub organization: Option<String>,
    /// The type's own keys.
    pub content: Dictionary,
}

impl Payload {
    /// Decodes the content as the generated struct of its type.
    pub fn decode<T: PayloadType>(&self) -> Result<T, Error> {
        Ok(T::from_dict(self.content.clone(), &KeyPath::ROOT)?)
    }

    /// The payload as a plist dictionary (common keys after the content).
    pub fn to_dict(&self) -> Dictionary {
        let mut d = self.content.clone();
        for k in COMMON_KEYS {
            remove_ordered(&mut d, k);
        }
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                d.insert(k.to_owned(), v);
            }
        };
        put(
            "PayloadDescription",
            self.description.clone().map(Value::String),
        );
        put(
            "PayloadDisplayName",
            self.display_name.clone().map(Value::String),
        );
        put(
            "PayloadIdentifier",
            Some(Value::String(self.identifier.clone())),
        );
        put(
            "PayloadOrganization",
            self.organization.clone().map(Value::String),
        );
        put(
            "PayloadType",
            Some(Value::String(self.payload_type.clone())),
        );
        put("PayloadUUID", Some(Value::String(self.uuid.clone())));
        put(
            "PayloadVersion",
            self.version.map(|v| Value::Integer(v.into())),
        );
        d
    }

    fn from_dict(mut d: Dictionary, path: &KeyPath<'_>) -> Result<Self, Error> {
        let payload_type = take_string(&mut d, "PayloadType", path)?;
        let identifier = take_string(&mut d, "PayloadIdentifier", path)?;
        let uuid = take_string(&mut d, "PayloadUUID", path)?;
        Ok(Self {
            payload_type,
            identifier,
            uuid,
            version: crate::typed::take(&mut d, "PayloadVersion", path)?,
            display_name: crate::typed::take(&mut d, "PayloadDisplayName", path)?,
            description: crate::typed::take(&mut d, "PayloadDescription", path)?,
            organization: crate::typed::take(&mut d, "PayloadOrganization", path)?,
            content: d,
        })
    }
}

fn take_string(d: &mut Dictionary, key: &str, path: &KeyPath<'_>) -> Result<String, Error> {
    crate::typed::take::<String>(d, key, path)?
        .ok_or_else(|| ProfileError::Missing(path.key(key).to_string()).into())
}

/// A configuration profile.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Profile {
    /// `PayloadIdentifier`.
    pub identifier: String,
    /// `PayloadUUID`.
    pub uuid: String,
    /// `PayloadVersion`.
    pub version: Option<i64>,
    /// `PayloadDisplayName`.
    pub display_name: Option<String>,
    /// `PayloadDescription`.
    pub description: Option<String>,
    /// `PayloadOrganization`.
    pub organization: Option<String>,
    /// `PayloadScope` (`System` or `User`, macOS).
    pub scope: Option<String>,
    /// `PayloadRemovalDisallowed`.
    pub removal_disallowed: Option<bool>,
    /// `PayloadContent`; empty for an encrypted profile.
    pub payloads: Vec<Payload>,
    /// The other top-level keys (`ConsentText`, `TargetDeviceType`,
    /// `EncryptedPayloadContent`, ...), kept as they came.
    pub extra: Dictionary,
}

impl Profile {
    /// Parses a profile (XML or binary plist) within `limits`.
    pub fn from_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        let (dict, _) = plist_io::read_dict(bytes, limits)?;
        Self::from_dict(dict)
    }

    /// Reads a profile from its top-level dictionary.
    pub fn from_dict(mut d: Dictionary) -> Result<Self, Error> {
        let root = KeyPath::ROOT;
        let ty = take_string(&mut d, "PayloadType", &root)?;
        if ty != "Configuration" {
            return Err(ProfileError::NotAConfiguration(ty).into());
        }
        let identifier = take_string(&mut d, "PayloadIdentifier", &root)?;
        let uuid = take_string(&mut d, "PayloadUUID", &root)?;
        let content: Option<Vec<Dictionary>> = crate::typed::take(&mut d, "PayloadContent", &root)?;
        let content_path = root.key("PayloadContent");
        let mut payloads = Vec::new();
        for (i, p) in content.unwrap_or_default().into_iter().enumerate() {
            payloads.push(Payload::from_dict(p, &content_path.index(i))?);
        }
        Ok(Self {
            identifier,
            uuid,
            version: crate::typed::take(&mut d, "PayloadVersion", &root)?,
            display_name: crate::typed::take(&mut d, "PayloadDisplayName", &root)?,
            description: crate::typed::take(&mut d, "PayloadDescription", &root)?,
            organization: crate::typed::take(&mut d, "PayloadOrganization", &root)?,
            scope: crate::typed::take(&mut d, "PayloadScope", &root)?,
            removal_disallowed: crate::typed::take(&mut d, "PayloadRemovalDisallowed", &root)?,
            payloads,
            extra: d,
        })
    }

    /// The profile as its top-level dictionary.
    pub fn to_dict(&self) -> Dictionary {
        let mut d = Dictionary::new();
        d.insert(
            "PayloadContent".into(),
            Value::Array(
                self.payloads
                    .iter()
                    .map(|p| Value::Dictionary(p.to_dict()))
                    .collect(),
            ),
        );
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                d.insert(k.to_owned(), v);
            }
        };
        put(
            "PayloadDescription",
            self.description.clone().map(Value::String),
        );
        put(
            "PayloadDisplayName",
            self.display_name.clone().map(Value::String),
        );
        put(
            "PayloadIdentifier",
            Some(Value::String(self.identifier.clone())),
        );
        put(
            "PayloadOrganization",
            self.organization.clone().map(Value::String),
        );
        put(
            "PayloadRemovalDisallowed",
            self.removal_disallowed.map(Value::Boolean),
        );
        put("PayloadScope", self.scope.clone().map(Value::String));
        put("PayloadType", Some(Value::String("Configuration".into())));
        put("PayloadUUID", Some(Value::String(self.uuid.clone())));
        put(
            "PayloadVersion",
            self.version.map(|v| Value::Integer(v.into())),
        );
        for (k, v) in &self.extra {
            d.insert(k.clone(), v.clone());
        }
        d
    }

    /// Encodes the profile.
    pub fn to_bytes(&self, format: Format) -> Vec<u8> {
        plist_io::write(&Value::Dictionary(self.to_dict()), format)
    }

    /// Checks the profile against the schema: the top-level keys against
    /// Apple's TopLevel schema and each payload against its type's keys.
    /// Issues carry key paths such as `PayloadContent[1].Pages[0][2].Type`.
    pub fn validate(&self) -> Vec<Issue> {
        let mut out = Vec::new();
        let root = KeyPath::ROOT;
        let mut top = self.to_dict();
        remove_ordered(&mut top, "PayloadContent");
        if let Some(e) = schema::find(SchemaKind::Profile, "TopLevel") {
            let keys: Vec<_> = e
                .keys
                .iter()
                .filter(|k| k.name != "PayloadContent")
                .copied()
                .collect();
            validate_dict_at(&keys, &top, &root, &["PayloadContent"], &mut out);
        }
        let common = schema::find(SchemaKind::Profile, "CommonPayloadKeys");
        let content = root.key("PayloadContent");
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.payloads.iter().enumerate() {
            let path = content.index(i);
            if !seen.insert(p.identifier.as_str()) {
                out.push(Issue::NotAllowed {
                    path: path.key("PayloadIdentifier").to_string(),
                    value: format!("{:?} (used twice)", p.identifier),
                });
            }
            let dict = p.to_dict();
            if let Some(c) = common {
                let mut issues = Vec::new();
                validate_dict_at(c.keys, &dict, &path, &[], &mut issues);
                out.extend(issues.into_iter().filter(Issue::is_error));
            }
            let candidates: Vec<_> = schema::find_all(SchemaKind::Profile, &p.payload_type)
                .chain(schema::find_all(SchemaKind::Other, &p.payload_type))
                .collect();
            if candidates.is_empty() {
                out.push(Issue::UnknownType {
                    path: path.key("PayloadType").to_string(),
                    name: p.payload_type.clone(),
                });
                continue;
            }
            // Several schema files share com.apple.MCX: keep the best fit.
            let best = candidates
                .iter()
                .map(|e| {
                    let mut issues = Vec::new();
                    validate_dict_at(e.keys, &dict, &path, COMMON_KEYS, &mut issues);
                    issues
                })
                .min_by_key(Vec::len)
                .unwrap_or_default();
            out.extend(best);
        }
        out
    }
}

fn canonical(v: &Value) -> Value {
    match v {
        Value::Dictionary(d) => {
            let mut keys: Vec<&String> = d.keys().collect();
            keys.sort();
            let mut out = Dictionary::new();
            for k in keys {
                if let Some(x) = d.get(k) {
                    out.insert(k.clone(), canonical(x));
                }
            }
            Value::Dictionary(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn derive_uuid(parts: &[&str], content: &Dictionary) -> String {
    let mut name = Vec::new();
    for p in parts {
        name.extend_from_slice(p.as_bytes());
        name.push(0);
    }
    name.extend(plist_io::write(
        &canonical(&Value::Dictionary(content.clone())),
        Format::Binary,
    ));
    Uuid::new_v5(&NAMESPACE, &name)
        .hyphenated()
        .encode_upper(&mut Uuid::encode_buffer())
        .to_owned()
}

/// Builds a profile with mdmkit's identifiers and deterministic UUIDs.
#[derive(Debug, Clone)]
pub struct ProfileBuilder {
    id: ProfileId,
    display_name: Option<String>,
    description: Option<String>,
    organization: Option<String>,
    scope: Option<String>,
    removal_disallowed: Option<bool>,
    extra: Dictionary,
    payloads: Vec<(String, String, Option<String>, Dictionary)>,
}

impl ProfileBuilder {
    /// Starts a profile with the given identifier.
    pub fn new(id: ProfileId) -> Self {
        Self {
            id,
            display_name: None,
            description: None,
            organization: None,
            scope: None,
            removal_disallowed: None,
            extra: Dictionary::new(),
            payloads: Vec::new(),
        }
    }

    /// Sets `PayloadDisplayName`.
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// Sets `PayloadDescription`.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Sets `PayloadOrganization`.
    pub fn organization(mut self, name: impl Into<String>) -> Self {
        self.organization = Some(name.into());
        self
    }

    /// Sets `PayloadScope` (`System` or `User`, macOS only).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sets `PayloadRemovalDisallowed`.
    pub fn removal_disallowed(mut self, yes: bool) -> Self {
        self.removal_disallowed = Some(yes);
        self
    }

    /// Sets another top-level key (`ConsentText`, `TargetDeviceType`, ...).
    pub fn top_level_key(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    /// Adds a payload of any type from its keys; `slug` names it within the
    /// profile (its identifier is `<profile identifier>.<slug>`).
    pub fn payload(
        mut self,
        payload_type: impl Into<String>,
        slug: impl Into<String>,
        content: Dictionary,
    ) -> Self {
        self.payloads
            .push((payload_type.into(), slug.into(), None, content));
        self
    }

    /// Adds a payload from its generated struct.
    pub fn typed_payload<T: PayloadType>(self, slug: impl Into<String>, payload: &T) -> Self {
        self.payload(T::PAYLOAD_TYPE, slug, payload.to_dict())
    }

    /// Adds a display name to the payload added last.
    pub fn payload_display_name(mut self, name: impl Into<String>) -> Self {
        if let Some(last) = self.payloads.last_mut() {
            last.2 = Some(name.into());
        }
        self
    }

    /// Builds the profile, deriving every UUID.
    pub fn build(self) -> Result<Profile, ProfileError> {
        let tenant = self.id.tenant().as_str().to_owned();
        let mut payloads = Vec::new();
        for (ty, slug, name, mut content) in self.payloads {
            check_part(&slug)?;
            let identifier = format!("{}.{slug}", self.id.as_str());
            if payloads
                .iter()
                .any(|p: &Payload| p.identifier == identifier)
            {
                return Err(ProfileError::DuplicatePayload(identifier));
            }
            for k in COMMON_KEYS {
                remove_ordered(&mut content, k);
            }
            let mut p = Payload {
                payload_type: ty,
                identifier,
                uuid: String::new(),
                version: Some(1),
                display_name: name,
                description: None,
                organization: self.organization.clone(),
                content,
            };
            p.uuid = derive_uuid(&["payload", &tenant, &p.identifier], &p.to_dict());
            payloads.push(p);
        }
        let mut profile = Profile {
            identifier: self.id.as_str().to_owned(),
            uuid: String::new(),
            version: Some(1),
            display_name: self.display_name,
            description: self.description,
            organization: self.organization,
            scope: self.scope,
            removal_disallowed: self.removal_disallowed,
            payloads,
            extra: self.extra,
        };
        profile.uuid = derive_uuid(
            &["profile", &tenant, &profile.identifier],
            &profile.to_dict(),
        );
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::profiles::HomescreenlayoutPayload;

    fn tenant() -> TenantId {
        TenantId::new("town-a").unwrap()
    }

    fn wifi(ssid: &str) -> Dictionary {
        let mut d = Dictionary::new();
        d.insert("SSID_STR".into(), Value::String(ssid.into()));
        d.insert("EncryptionType".into(), Value::String("WPA2".into()));
        d.insert("AutoJoin".into(), Value::Boolean(true));
        d
    }

    fn build(ssid: &str) -> Profile {
        let id = ProfileId::new("com.example.mdm", &tenant(), "wifi").unwrap();
        ProfileBuilder::new(id)
            .display_name("Wi-Fi")
            .organization("Town A")
            .payload("com.apple.wifi.managed", "staff", wifi(ssid))
            .build()
            .unwrap()
    }

    #[test]
    fn unchanged_content_re_encodes_byte_for_byte() {
        assert_eq!(
            build("Staff").to_bytes(Format::Xml),
            build("Staff").to_bytes(Format::Xml)
        );
        let a = build("Staff");
        let b = build("Guests");
        assert_ne!(a.uuid, b.uuid);
        assert_ne!(a.payloads[0].uuid, b.payloads[0].uuid);
        assert_eq!(a.identifier, "com.example.mdm.town-a.wifi");
        assert_eq!(
            a.payloads[0].identifier,
            "com.example.mdm.town-a.wifi.staff"
        );
    }

    #[test]
    fn key_order_does_not_change_the_uuid() {
        let id = ProfileId::new("com.example.mdm", &tenant(), "wifi").unwrap();
        let mut reversed = Dictionary::new();
        let items: Vec<_> = wifi("Staff").into_iter().collect();
        for (k, v) in items.into_iter().rev() {
            reversed.insert(k, v);
        }
        let p = ProfileBuilder::new(id)
            .display_name("Wi-Fi")
            .organization("Town A")
            .payload("com.apple.wifi.managed", "staff", reversed)
            .build()
            .unwrap();
        assert_eq!(p.payloads[0].uuid, build("Staff").payloads[0].uuid);
    }

    #[test]
    fn tenants_get_different_uuids_for_the_same_content() {
        let other = TenantId::new("town-b").unwrap();
        let id = ProfileId::new("com.example.mdm", &other, "wifi").unwrap();
        let p = ProfileBuilder::new(id)
            .payload("com.apple.wifi.managed", "staff", wifi("Staff"))
            .build()
            .unwrap();
        assert_ne!(p.payloads[0].uuid, build("Staff").payloads[0].uuid);
    }

    #[test]
    fn profiles_round_trip_through_xml_and_binary() {
        let p = build("Staff");
        for f in [Format::Xml, Format::Binary] {
            let back = Profile::from_bytes(&p.to_bytes(f), &Limits::DEFAULT).unwrap();
            assert_eq!(back, p);
        }
    }

    #[test]
    fn a_built_wifi_profile_validates() {
        let issues = build("Staff").validate();
        assert!(issues.iter().all(|i| !i.is_error()), "{issues:?}");
    }

    #[test]
    fn validation_reports_payload_problems_with_paths() {
        let id = ProfileId::new("com.example.mdm", &tenant(), "home").unwrap();
        let mut d = Dictionary::new();
        d.insert("Dock".into(), Value::Array(vec![]));
        let p = ProfileBuilder::new(id)
            .payload("com.apple.homescreenlayout", "layout", d)
            .build()
            .unwrap();
        let issues = p.validate();
        assert!(issues.contains(&Issue::Missing {
            path: "PayloadContent[0].Pages".into()
        }));
    }

    #[test]
    fn typed_payloads_decode_back() {
        let id = ProfileId::new("com.example.mdm", &tenant(), "home").unwrap();
        let layout = HomescreenlayoutPayload {
            pages: Some(vec![vec![]]),
            ..Default::default()
        };
        let p = ProfileBuilder::new(id)
            .typed_payload("layout", &layout)
            .build()
            .unwrap();
        assert_eq!(p.payloads[0].payload_type, "com.apple.homescreenlayout");
        assert_eq!(
            p.payloads[0].decode::<HomescreenlayoutPayload>().unwrap(),
            layout
        );
    }

    #[test]
    fn bad_identifiers_and_duplicate_slugs_are_refused() {
        assert!(ProfileId::new("com..example", &tenant(), "x").is_err());
        assert!(ProfileId::new("com.example", &tenant(), "a b").is_err());
        let id = ProfileId::new("com.example", &tenant(), "x").unwrap();
        let err = ProfileBuilder::new(id)
            .payload("com.apple.wifi.managed", "a", wifi("A"))
            .payload("com.apple.wifi.managed", "a", wifi("B"))
            .build()
            .unwrap_err();
        assert!(matches!(err, ProfileError::DuplicatePayload(_)));
    }

    #[test]
    fn a_plist_that_is_not_a_configuration_is_refused() {
        let mut d = Dictionary::new();
        d.insert(
            "PayloadType".into(),
            Value::String("com.apple.wifi.managed".into()),
        );
        assert!(matches!(
            Profile::from_dict(d),
            Err(Error::Profile(ProfileError::NotAConfiguration(_)))
        ));
    }
}

//! The device's declarative status report (`status` endpoint).
//!
//! Devices send status items nested by the dots of their names
//! (`{"management": {"declarations": {...}}}` for `management.declarations`,
//! `{"device": {"operating-system": {"version": "18.1"}}}`); this module
//! reads both that form and flat dotted keys. The `management.declarations`
//! item becomes typed [`DeclarationStatus`]es; every other item is kept
//! under its dotted name in [`StatusReport::items`] and can be decoded with
//! the generated status types ([`StatusReport::item`]).

use std::collections::BTreeMap;

use plist::{Dictionary, Value};

use super::{DeclarationKind, DeclarationSet, json_io};
use crate::error::{DecodeError, Error};
use crate::generated::protocol::StatusReport as RawReport;
use crate::generated::status::{
    ManagementDeclarationsDeclaration, ManagementDeclarationsDeclarations,
    ManagementDeclarationsStatusReason,
};
use crate::plist_io::Limits;
use crate::schema::{self, SchemaKind};
use crate::typed::{FieldValue, KeyPath, PlistDict, StatusItemType};

const DECLARATIONS_ITEM: &str = "management.declarations";

/// Whether the device found a declaration valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Validity {
    /// `valid`.
    Valid,
    /// `invalid`: the device rejected it (see the reasons).
    Invalid,
    /// `unknown`: not yet evaluated.
    Unknown,
    /// A value Apple may add later, kept as sent.
    Other(String),
}

impl Validity {
    fn parse(s: String) -> Self {
        match s.as_str() {
            "valid" => Self::Valid,
            "invalid" => Self::Invalid,
            "unknown" => Self::Unknown,
            _ => Self::Other(s),
        }
    }

    /// The value as the device writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Unknown => "unknown",
            Self::Other(s) => s,
        }
    }
}

/// Why a declaration or status item is in error.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StatusReason {
    /// `code` (`Error.ConfigurationCannotBeApplied`).
    pub code: String,
    /// `description`, for people.
    pub description: Option<String>,
    /// `details`.
    pub details: Dictionary,
    /// Keys Apple's schema does not list, kept as they came.
    pub extra: Dictionary,
}

impl StatusReason {
    /// A reason with a code only.
    pub fn new(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            description: None,
            details: Dictionary::new(),
            extra: Dictionary::new(),
        }
    }
}

/// The device's state of one declaration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeclarationStatus {
    /// The list it came in (`activations`, `configurations`, ...).
    pub kind: DeclarationKind,
    /// `identifier`.
    pub identifier: String,
    /// `server-token` of the version the device holds.
    pub server_token: String,
    /// `active`: whether it is applied.
    pub active: bool,
    /// `valid`.
    pub valid: Validity,
    /// `reasons`, when it is invalid or inactive.
    pub reasons: Vec<StatusReason>,
    /// Keys Apple's schema does not list, kept as they came.
    pub extra: Dictionary,
}

impl DeclarationStatus {
    /// A status with no reasons.
    pub fn new(
        kind: DeclarationKind,
        identifier: impl Into<String>,
        server_token: impl Into<String>,
        active: bool,
        valid: Validity,
    ) -> Self {
        Self {
            kind,
            identifier: identifier.into(),
            server_token: server_token.into(),
            active,
            valid,
            reasons: Vec::new(),
            extra: Dictionary::new(),
        }
    }

    /// Whether the device applies this version without error.
    pub fn is_applied(&self) -> bool {
        self.active && self.valid == Validity::Valid
    }
}

/// A status item the device could not report (`Errors`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StatusItemError {
    /// `StatusItem`: the item's name.
    pub item: String,
    /// `Reasons`.
    pub reasons: Vec<StatusReason>,
    /// Keys Apple's schema does not list, kept as they came.
    pub extra: Dictionary,
}

/// A parsed status report.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct StatusReport {
    /// `FullReport`: everything, rather than what changed since the last
    /// report.
    pub full_report: bool,
    /// The `management.declarations` item: every declaration's state (in
    /// a partial report, only those that changed; empty when absent).
    pub declarations: Vec<DeclarationStatus>,
    /// `Errors`.
    pub errors: Vec<StatusItemError>,
    /// Every other status item by dotted name
    /// (`device.operating-system.version`), as sent.
    pub items: BTreeMap<String, Value>,
    /// Keys of the `management.declarations` item other than the four
    /// lists, kept as they came.
    pub declarations_extra: Dictionary,
    /// Top-level keys the protocol does not list, kept as they came.
    pub extra: Dictionary,
}

impl StatusReport {
    /// Parses the JSON a device sends to the `status` endpoint.
    ///
    /// Flat dotted item names are read like nested ones, and the report is
    /// written back nested ([`StatusReport::to_json`]); a report whose
    /// nested form would pass `limits`' depth (a long dotted name) is
    /// refused, so that what this parser accepts it can read again.
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        let d = json_io::read_object(bytes, limits)?;
        let report = Self::from_dict(d)?;
        // Cheap first: a name of more segments than the limit nests deeper
        // than it (and is refused without building the nested form).
        let too_long = report
            .items
            .keys()
            .any(|n| n.split('.').count() > limits.max_depth);
        if too_long || levels(&Value::Dictionary(report.to_dict())) > limits.max_depth {
            return Err(crate::error::DeclarativeError::TooDeep {
                path: "StatusItems (written nested)".into(),
                max: limits.max_depth,
            }
            .into());
        }
        Ok(report)
    }

    /// Reads a status report from its dictionary.
    pub fn from_dict(d: Dictionary) -> Result<Self, Error> {
        let root = KeyPath::ROOT;
        let raw = RawReport::from_dict(d, &root)?;
        let mut items = BTreeMap::new();
        let status_path = root.key("StatusItems");
        if let Some(si) = raw.status_items {
            flatten(si, None, &mut items);
        } else {
            return Err(DecodeError::Missing {
                path: "StatusItems".into(),
            }
            .into());
        }
        // The written form nests one dictionary per segment of a dotted
        // name: a name of more segments than any report has is refused
        // before anything that deep is built (building and dropping it
        // recurse once per level, and a flat name of a few kilobytes
        // overflowed a 2 MiB stack).
        if let Some(name) = items
            .keys()
            .find(|n| n.split('.').count() > MAX_NAME_SEGMENTS)
        {
            return Err(crate::error::DeclarativeError::TooDeep {
                path: format!(
                    "StatusItems.{}... ({} segments)",
                    name.chars().take(48).collect::<String>(),
                    name.split('.').count()
                ),
                max: MAX_NAME_SEGMENTS,
            }
            .into());
        }
        // A name that is both an item and the parent of another (a flat
        // `a` beside `a.b`) has no nested form: refused rather than one
        // of them lost when the report is written.
        for name in items.keys() {
            let below = format!("{name}.");
            if let Some((child, _)) = items
                .range::<str, _>((
                    std::ops::Bound::Included(below.as_str()),
                    std::ops::Bound::Unbounded,
                ))
                .next()
                .filter(|(k, _)| k.starts_with(&below))
            {
                return Err(DecodeError::Invalid {
                    path: status_path.key(name).to_string(),
                    reason: format!("is an item and the parent of item {child:?}"),
                }
                .into());
            }
        }
        let nested = format!("{DECLARATIONS_ITEM}.");
        if let Some(name) = items.keys().find(|k| k.starts_with(&nested)) {
            return Err(DecodeError::Invalid {
                path: status_path.key(name).to_string(),
                reason: format!("{DECLARATIONS_ITEM} is one item; it has no sub-items"),
            }
            .into());
        }
        let mut declarations = Vec::new();
        let mut declarations_extra = Dictionary::new();
        if let Some(v) = items.remove(DECLARATIONS_ITEM) {
            let p = status_path.key(DECLARATIONS_ITEM);
            let lists = ManagementDeclarationsDeclarations::from_value(v, &p)?;
            declarations_extra = lists.extra;
            let by_kind = [
                (
                    DeclarationKind::Activation,
                    "activations",
                    lists.activations,
                ),
                (
                    DeclarationKind::Configuration,
                    "configurations",
                    lists.configurations,
                ),
                (DeclarationKind::Asset, "assets", lists.assets),
                (DeclarationKind::Management, "management", lists.management),
            ];
            for (kind, key, list) in by_kind {
                let lp = p.key(key);
                for (i, item) in list.into_iter().flatten().enumerate() {
                    declarations.push(declaration(kind, item, &lp.index(i))?);
                }
            }
        }
        let errors_path = root.key("Errors");
        let mut errors = Vec::new();
        for (i, e) in raw.errors.into_iter().flatten().enumerate() {
            let ep = errors_path.index(i);
            let item = e
                .status_item
                .ok_or_else(|| missing(&ep.key("StatusItem")))?;
            let rp = ep.key("Reasons");
            let reasons = e
                .reasons
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(j, r)| {
                    let code = r.code.ok_or_else(|| missing(&rp.index(j).key("Code")))?;
                    Ok(StatusReason {
                        code,
                        description: r.description,
                        details: r.details.unwrap_or_default(),
                        extra: r.extra,
                    })
                })
                .collect::<Result<Vec<_>, DecodeError>>()?;
            errors.push(StatusItemError {
                item,
                reasons,
                extra: e.extra,
            });
        }
        Ok(Self {
            full_report: raw.full_report.unwrap_or(false),
            declarations,
            errors,
            items,
            declarations_extra,
            extra: raw.extra,
        })
    }

    /// The report as a dictionary in the nested form devices send.
    pub fn to_dict(&self) -> Dictionary {
        let mut status = Dictionary::new();
        for (name, v) in &self.items {
            nest(&mut status, name, v.clone());
        }
        if !self.declarations.is_empty() || !self.declarations_extra.is_empty() {
            let mut lists = ManagementDeclarationsDeclarations {
                activations: Some(Vec::new()),
                configurations: Some(Vec::new()),
                assets: Some(Vec::new()),
                management: Some(Vec::new()),
                extra: self.declarations_extra.clone(),
            };
            for d in &self.declarations {
                let list = match d.kind {
                    DeclarationKind::Activation => &mut lists.activations,
                    DeclarationKind::Configuration => &mut lists.configurations,
                    DeclarationKind::Asset => &mut lists.assets,
                    DeclarationKind::Management => &mut lists.management,
                };
                if let Some(list) = list {
                    list.push(ManagementDeclarationsDeclaration {
                        identifier: Some(d.identifier.clone()),
                        server_token: Some(d.server_token.clone()),
                        active: Some(d.active),
                        valid: Some(d.valid.as_str().to_owned()),
                        reasons: (!d.reasons.is_empty()).then(|| {
                            d.reasons
                                .iter()
                                .map(|r| ManagementDeclarationsStatusReason {
                                    code: Some(r.code.clone()),
                                    description: r.description.clone(),
                                    details: (!r.details.is_empty()).then(|| {
                                        r.details
                                            .iter()
                                            .map(|(k, v)| (k.clone(), v.clone()))
                                            .collect()
                                    }),
                                    extra: r.extra.clone(),
                                })
                                .collect()
                        }),
                        extra: d.extra.clone(),
                    });
                }
            }
            nest(
                &mut status,
                DECLARATIONS_ITEM,
                Value::Dictionary(lists.to_dict()),
            );
        }
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| {
                let mut d = Dictionary::new();
                d.insert("StatusItem".into(), Value::String(e.item.clone()));
                if !e.reasons.is_empty() {
                    let reasons = e
                        .reasons
                        .iter()
                        .map(|r| {
                            let mut rd = Dictionary::new();
                            rd.insert("Code".into(), Value::String(r.code.clone()));
                            if let Some(desc) = &r.description {
                                rd.insert("Description".into(), Value::String(desc.clone()));
                            }
                            if !r.details.is_empty() {
                                rd.insert("Details".into(), Value::Dictionary(r.details.clone()));
                            }
                            for (k, v) in &r.extra {
                                rd.insert(k.clone(), v.clone());
                            }
                            Value::Dictionary(rd)
                        })
                        .collect();
                    d.insert("Reasons".into(), Value::Array(reasons));
                }
                for (k, v) in &e.extra {
                    d.insert(k.clone(), v.clone());
                }
                Value::Dictionary(d)
            })
            .collect();
        let mut d = Dictionary::new();
        d.insert("StatusItems".into(), Value::Dictionary(status));
        d.insert("Errors".into(), Value::Array(errors));
        if self.full_report {
            d.insert("FullReport".into(), Value::Boolean(true));
        }
        for (k, v) in &self.extra {
            d.insert(k.clone(), v.clone());
        }
        d
    }

    /// The report as JSON (nested form).
    pub fn to_json(&self) -> Vec<u8> {
        json_io::write_object(&self.to_dict())
    }

    /// The device's state of one declaration.
    pub fn declaration(&self, identifier: &str) -> Option<&DeclarationStatus> {
        self.declarations
            .iter()
            .find(|d| d.identifier == identifier)
    }

    /// A status item decoded with its generated type
    /// (`PasscodeIsCompliantStatus`, `ManagementClientCapabilitiesStatus`);
    /// `None` when the report does not carry it.
    pub fn item<T: StatusItemType>(&self) -> Result<Option<T>, Error> {
        let Some(v) = self.items.get(T::STATUS_ITEM) else {
            return Ok(None);
        };
        let mut d = Dictionary::new();
        d.insert(T::STATUS_ITEM.to_owned(), v.clone());
        Ok(Some(T::from_dict(d, &KeyPath::ROOT.key("StatusItems"))?))
    }

    /// The declarations of `set` the device does not report as applied in
    /// their current version (missing, older token, inactive or invalid),
    /// by identifier. Meaningful for a full report.
    pub fn not_applied<'a>(&self, set: &'a DeclarationSet) -> Vec<&'a str> {
        set.declarations()
            .iter()
            .filter(|d| {
                !self.declarations.iter().any(|s| {
                    s.identifier == d.identifier
                        && s.server_token == d.server_token
                        && s.is_applied()
                })
            })
            .map(|d| d.identifier.as_str())
            .collect()
    }
}

fn missing(p: &KeyPath<'_>) -> DecodeError {
    DecodeError::Missing {
        path: p.to_string(),
    }
}

fn declaration(
    kind: DeclarationKind,
    d: ManagementDeclarationsDeclaration,
    p: &KeyPath<'_>,
) -> Result<DeclarationStatus, DecodeError> {
    let rp = p.key("reasons");
    let reasons = d
        .reasons
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| {
            Ok(StatusReason {
                code: r.code.ok_or_else(|| missing(&rp.index(i).key("code")))?,
                description: r.description,
                details: r.details.unwrap_or_default().into_iter().collect(),
                extra: r.extra,
            })
        })
        .collect::<Result<Vec<_>, DecodeError>>()?;
    Ok(DeclarationStatus {
        kind,
        identifier: d.identifier.ok_or_else(|| missing(&p.key("identifier")))?,
        server_token: d
            .server_token
            .ok_or_else(|| missing(&p.key("server-token")))?,
        active: d.active.ok_or_else(|| missing(&p.key("active")))?,
        valid: Validity::parse(d.valid.ok_or_else(|| missing(&p.key("valid")))?),
        reasons,
        extra: d.extra,
    })
}

fn is_item(name: &str) -> bool {
    schema::find(SchemaKind::StatusItem, name).is_some()
}

/// Flattens nested status items into dotted names: a path that names a
/// status item of the schema, or holds anything but a non-empty
/// dictionary, is a leaf.
fn flatten(d: Dictionary, prefix: Option<&str>, out: &mut BTreeMap<String, Value>) {
    for (k, v) in d {
        // An empty key is a name of its own, not the root.
        let name = match prefix {
            None => k,
            Some(p) => format!("{p}.{k}"),
        };
        match v {
            Value::Dictionary(inner) if !inner.is_empty() && !is_item(&name) => {
                flatten(inner, Some(&name), out);
            }
            other => {
                out.insert(name, other);
            }
        }
    }
}

/// The nesting levels of a value as JSON counts them (a dictionary or
/// an array is one level more than its deepest member; the root object is
/// level 1).
/// The most segments a dotted status item name may have
/// ([`StatusReport::from_dict`]); Apple's deepest items have five.
pub const MAX_NAME_SEGMENTS: usize = 256;

fn levels(v: &Value) -> usize {
    // Iterative: a value built from dotted names may be deep.
    let mut deepest = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, level)) = stack.pop() {
        match v {
            Value::Dictionary(d) => {
                deepest = deepest.max(level);
                stack.extend(d.values().map(|c| (c, level + 1)));
            }
            Value::Array(a) => {
                deepest = deepest.max(level);
                stack.extend(a.iter().map(|c| (c, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// Puts `value` at the dotted `name`, creating the dictionaries between.
fn nest(d: &mut Dictionary, name: &str, value: Value) {
    match name.split_once('.') {
        None => {
            d.insert(name.to_owned(), value);
        }
        Some((head, rest)) => {
            if !matches!(d.get(head), Some(Value::Dictionary(_))) {
                d.insert(head.to_owned(), Value::Dictionary(Dictionary::new()));
            }
            if let Some(Value::Dictionary(inner)) = d.get_mut(head) {
                nest(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::status::PasscodeIsCompliantStatus;

    /// Found by the `apple_inspect` fuzz target (its corpus keeps the
    /// input): a flat name of thousands of dots overflowed the stack while
    /// the report was written nested. Refused now, on a test thread's
    /// small stack, through both readers.
    #[test]
    fn a_dotted_name_of_thousands_of_segments_is_refused_without_deep_recursion() {
        let name = format!("device{}", ".x".repeat(100_000));
        let json = format!(r#"{{"StatusItems":{{"{name}":true}}}}"#);
        let e = StatusReport::from_json(json.as_bytes(), &Limits::DEFAULT).unwrap_err();
        assert!(e.to_string().contains("deeper than"), "{e}");
        let mut items = Dictionary::new();
        items.insert(name, Value::Boolean(true));
        let mut d = Dictionary::new();
        d.insert("StatusItems".into(), Value::Dictionary(items));
        let e = StatusReport::from_dict(d).unwrap_err();
        assert!(e.to_string().contains("deeper than 256"), "{e}");
    }

    const REPORT: &str = r#"{
      "StatusItems": {
        "device": {"operating-system": {"version": "18.1", "build-version": "22B83"}},
        "passcode": {"is-compliant": true, "is-present": true},
        "management": {
          "client-capabilities": {"supported-versions": ["1.0.0"]},
          "declarations": {
            "activations": [{"identifier": "org.mdmkit.t.activation", "server-token": "aa", "active": true, "valid": "valid"}],
            "configurations": [
              {"identifier": "org.mdmkit.t.passcode", "server-token": "bb", "active": true, "valid": "valid"},
              {"identifier": "org.mdmkit.t.legacy.wifi", "server-token": "cc", "active": false, "valid": "invalid",
               "reasons": [{"code": "Error.ConfigurationCannotBeApplied", "description": "profile download failed",
                            "details": {"Identifier": "org.mdmkit.t.legacy.wifi", "ServerToken": "cc"}}]}
            ],
            "assets": [], "management": []
          }
        }
      },
      "Errors": [{"StatusItem": "softwareupdate.install-state", "Reasons": [{"Code": "Error.NotSupported"}]}]
    }"#;

    #[test]
    fn a_device_report_gives_each_declarations_state_and_errors() {
        let r = StatusReport::from_json(REPORT.as_bytes(), &Limits::DEFAULT).unwrap();
        assert_eq!(r.declarations.len(), 3);
        assert!(r.declaration("org.mdmkit.t.passcode").unwrap().is_applied());
        let wifi = r.declaration("org.mdmkit.t.legacy.wifi").unwrap();
        assert_eq!(wifi.kind, DeclarationKind::Configuration);
        assert_eq!(wifi.valid, Validity::Invalid);
        assert!(!wifi.active);
        assert_eq!(wifi.reasons[0].code, "Error.ConfigurationCannotBeApplied");
        assert_eq!(wifi.reasons[0].details.len(), 2);
        assert_eq!(r.errors[0].item, "softwareupdate.install-state");
        assert_eq!(r.errors[0].reasons[0].code, "Error.NotSupported");
        assert_eq!(
            r.items.get("device.operating-system.version"),
            Some(&Value::String("18.1".into()))
        );
        assert!(r.items.contains_key("management.client-capabilities"));
        let compliant: PasscodeIsCompliantStatus = r.item().unwrap().unwrap();
        assert_eq!(compliant.passcode_is_compliant, Some(true));
    }

    #[test]
    fn a_report_round_trips_through_its_nested_json() {
        let r = StatusReport::from_json(REPORT.as_bytes(), &Limits::DEFAULT).unwrap();
        let again = StatusReport::from_json(&r.to_json(), &Limits::DEFAULT).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn a_declaration_without_its_token_names_where() {
        let bad = r#"{"StatusItems": {"management": {"declarations": {"configurations": [
            {"identifier": "x", "active": true, "valid": "valid"}]}}}, "Errors": []}"#;
        let err = StatusReport::from_json(bad.as_bytes(), &Limits::DEFAULT).unwrap_err();
        assert_eq!(
            err.to_string(),
            "decoding: StatusItems.management.declarations.configurations[0].server-token: missing"
        );
        let wrong = r#"{"StatusItems": {"management.declarations": {"configurations": [
            {"identifier": "x", "server-token": "t", "active": "yes", "valid": "valid"}]}}, "Errors": []}"#;
        let err = StatusReport::from_json(wrong.as_bytes(), &Limits::DEFAULT).unwrap_err();
        assert!(
            err.to_string()
                .contains("configurations[0].active: expected boolean"),
            "{err}"
        );
    }

    #[test]
    fn keys_apple_does_not_list_are_kept_and_written_back() {
        let doc = r#"{"StatusItems": {"management": {"declarations": {"configurations": [
            {"identifier": "x", "server-token": "t", "active": true, "valid": "valid", "future": 1,
             "reasons": [{"code": "C", "hint": "h"}]}], "later": []}}},
          "Errors": [{"StatusItem": "a.b", "Reasons": [], "Why": "w"}], "Top": true}"#;
        let r = StatusReport::from_json(doc.as_bytes(), &Limits::DEFAULT).unwrap();
        assert!(r.declarations[0].extra.contains_key("future"));
        assert!(r.declarations[0].reasons[0].extra.contains_key("hint"));
        assert!(r.errors[0].extra.contains_key("Why"));
        assert!(r.declarations_extra.contains_key("later"));
        assert!(r.extra.contains_key("Top"));
        assert_eq!(
            StatusReport::from_json(&r.to_json(), &Limits::DEFAULT).unwrap(),
            r
        );
    }

    /// Found by the `apple_ddm_status` fuzz target: a long flat dotted
    /// name was accepted and written nested deeper than the limit, so the
    /// written report did not parse.
    #[test]
    fn a_dotted_name_nesting_past_the_depth_limit_is_refused() {
        let limits = Limits::DEFAULT.with_max_depth(6);
        let ok = r#"{"StatusItems": {"a.b.c": 1}}"#;
        let r = StatusReport::from_json(ok.as_bytes(), &limits).unwrap();
        assert!(StatusReport::from_json(&r.to_json(), &limits).is_ok());
        let deep = r#"{"StatusItems": {"a.b.c.d.e.f.g": 1}}"#;
        let e = StatusReport::from_json(deep.as_bytes(), &limits).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Declarative(crate::error::DeclarativeError::TooDeep { max: 6, .. })
            ),
            "{e:?}"
        );
    }

    /// A flat name beside its own child has no nested form.
    #[test]
    fn an_item_that_is_also_a_parent_is_refused() {
        let both = r#"{"StatusItems": {"a": 1, "a-z": 3, "a.b": 2}}"#;
        let e = StatusReport::from_json(both.as_bytes(), &Limits::DEFAULT).unwrap_err();
        assert!(e.to_string().contains("a.b"), "{e}");
        let siblings = r#"{"StatusItems": {"a": 1, "a-z": 3, "ab.c": 2}}"#;
        let r = StatusReport::from_json(siblings.as_bytes(), &Limits::DEFAULT).unwrap();
        assert_eq!(
            StatusReport::from_json(&r.to_json(), &Limits::DEFAULT).unwrap(),
            r
        );
    }

    #[test]
    fn flat_dotted_item_names_are_read_like_nested_ones() {
        let flat = r#"{"StatusItems": {"passcode.is-compliant": false}, "Errors": []}"#;
        let r = StatusReport::from_json(flat.as_bytes(), &Limits::DEFAULT).unwrap();
        assert_eq!(
            r.items.get("passcode.is-compliant"),
            Some(&Value::Boolean(false))
        );
    }
}

//! Conversion between plist values and the generated typed structs.
//!
//! Every generated struct implements [`PlistDict`]: each key of the schema
//! is an `Option` field (presence is checked by [`crate::validate`], because
//! Apple's "required" often depends on the enrollment type: a TokenUpdate has
//! either a UDID or an EnrollmentID), and keys the schema does not list are
//! kept in an `extra` dictionary so nothing a device sends is lost and every
//! value round-trips.

use std::collections::BTreeMap;
use std::fmt;

use plist::{Date, Dictionary, Value};

use crate::error::DecodeError;
use crate::plist_io::value_kind;
use crate::schema::KeySpec;

/// Where a value sits in a document: `Command.Queries[3]`.
///
/// Built on the stack while decoding and rendered only for an error.
#[derive(Debug, Clone, Copy)]
pub struct KeyPath<'a> {
    parent: Option<&'a KeyPath<'a>>,
    segment: Segment<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Segment<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl<'a> KeyPath<'a> {
    /// The document root.
    pub const ROOT: KeyPath<'static> = KeyPath {
        parent: None,
        segment: Segment::Root,
    };

    /// The path of a key of the dictionary at this path.
    pub fn key(&'a self, key: &'a str) -> KeyPath<'a> {
        KeyPath {
            parent: Some(self),
            segment: Segment::Key(key),
        }
    }

    /// The path of an item of the array at this path.
    pub fn index(&'a self, index: usize) -> KeyPath<'a> {
        KeyPath {
            parent: Some(self),
            segment: Segment::Index(index),
        }
    }
}

impl fmt::Display for KeyPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut segments = Vec::new();
        let mut at = Some(self);
        while let Some(p) = at {
            segments.push(p.segment);
            at = p.parent;
        }
        let mut first = true;
        let mut wrote = false;
        for s in segments.iter().rev() {
            match s {
                Segment::Root => {}
                Segment::Key(k) => {
                    if !first && wrote {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                    wrote = true;
                }
                Segment::Index(i) => {
                    write!(f, "[{i}]")?;
                    wrote = true;
                }
            }
            first = false;
        }
        if !wrote {
            f.write_str("(root)")?;
        }
        Ok(())
    }
}

/// A type a plist value decodes into and encodes from.
pub trait FieldValue: Sized {
    /// Decodes a value found at `path`.
    fn from_value(value: Value, path: &KeyPath<'_>) -> Result<Self, DecodeError>;
    /// Encodes the value.
    fn to_value(&self) -> Value;
}

/// A dictionary with a schema: the generated structs.
pub trait PlistDict: Sized {
    /// The keys of this dictionary in the schema.
    const KEYS: &'static [KeySpec];

    /// Decodes a dictionary found at `path`; unlisted keys go to `extra`.
    fn from_dict(dict: Dictionary, path: &KeyPath<'_>) -> Result<Self, DecodeError>;

    /// Encodes the struct: schema keys in schema order, then the extra keys.
    fn to_dict(&self) -> Dictionary;
}

fn wrong(path: &KeyPath<'_>, expected: &'static str, found: &Value) -> DecodeError {
    DecodeError::WrongType {
        path: path.to_string(),
        expected,
        found: value_kind(found),
    }
}

impl FieldValue for String {
    fn from_value(value: Value, path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        match value {
            Value::String(s) => Ok(s),
            other => Err(wrong(path, "string", &other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::String(self.clone())
    }
}

impl FieldValue for i64 {
    fn from_value(value: Value, path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        match &value {
            Value::Integer(i) => i.as_signed().ok_or_else(|| DecodeError::Invalid {
                path: path.to_string(),
                reason: format!("integer {i} does not fit in 64 signed bits"),
            }),
            other => Err(wrong(path, "integer", other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Integer((*self).into())
    }
}

impl FieldValue for f64 {
    fn from_value(value: Value, path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        match &value {
            Value::Real(r) => Ok(*r),
            // Devices and admins write whole numbers as <integer> for <real>
            // keys; the value is the same.
            #[allow(clippy::cast_precision_loss)]
            Value::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
                (Some(s), _) => Ok(s as f64),
                (None, Some(u)) => Ok(u as f64),
                (None, None) => Err(wrong(path, "real", &value)),
            },
            other => Err(wrong(path, "real", other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl FieldValue for bool {
    fn from_value(value: Value, path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        match value {
            Value::Boolean(b) => Ok(b),
            other => Err(wrong(path, "boolean", &other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Boolean(*self)
    }
}

impl FieldValue for Date {
    fn from_value(value: Value, path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        match value {
            Value::Date(d) => Ok(d),
            other => Err(wrong(path, "date", &other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Date(*self)
    }
}

/// Bytes of a `<data>` value.
impl FieldValue for Vec<u8> {
    fn from_value(value: Value, path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        match value {
            Value::Data(d) => Ok(d),
            other => Err(wrong(path, "data", &other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Data(self.clone())
    }
}

impl FieldValue for Value {
    fn from_value(value: Value, _path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        Ok(value)
    }
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl FieldValue for Dictionary {
    fn from_value(value: Value, path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        match value {
            Value::Dictionary(d) => Ok(d),
            other => Err(wrong(path, "dictionary", &other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Dictionary(self.clone())
    }
}

/// An `<array>` of values of one type.
impl<T: FieldValue> FieldValue for Vec<T> {
    fn from_value(value: Value, path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        match value {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    out.push(T::from_value(item, &path.index(i))?);
                }
                Ok(out)
            }
            other => Err(wrong(path, "array", &other)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Array(self.iter().map(FieldValue::to_value).collect())
    }
}

impl<T: FieldValue> FieldValue for Box<T> {
    fn from_value(value: Value, path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        T::from_value(value, path).map(Box::new)
    }
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: FieldValue> FieldValue for BTreeMap<String, T> {
    fn from_value(value: Value, path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        match value {
            Value::Dictionary(d) => {
                let mut out = BTreeMap::new();
                for (k, v) in d {
                    let item = T::from_value(v, &path.key(&k))?;
                    out.insert(k, item);
                }
                Ok(out)
            }
            other => Err(wrong(path, "dictionary", &other)),
        }
    }
    fn to_value(&self) -> Value {
        let mut d = Dictionary::new();
        for (k, v) in self {
            d.insert(k.clone(), v.to_value());
        }
        Value::Dictionary(d)
    }
}

/// A command's request keys (generated for every command of the schema).
pub trait Request: PlistDict {
    /// The command's `RequestType`.
    const REQUEST_TYPE: &'static str;
    /// The keys of the command's response ([`EmptyResponse`] when the schema
    /// lists none).
    type Response: PlistDict;
}

/// A check-in message's keys.
pub trait MessageType: PlistDict {
    /// The message's `MessageType`.
    const MESSAGE_TYPE: &'static str;
}

/// A configuration-profile payload's keys.
pub trait PayloadType: PlistDict {
    /// The payload's `PayloadType`.
    const PAYLOAD_TYPE: &'static str;
}

/// A declaration's payload keys.
pub trait DeclarationType: PlistDict {
    /// The declaration's `Type`.
    const DECLARATION_TYPE: &'static str;
}

/// A declarative status item's keys.
pub trait StatusItemType: PlistDict {
    /// The status item's name.
    const STATUS_ITEM: &'static str;
}

/// The response of a command whose schema lists no response keys: anything
/// the device sends is kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmptyResponse {
    /// The keys the device sent.
    pub extra: Dictionary,
}

impl PlistDict for EmptyResponse {
    const KEYS: &'static [KeySpec] = &[];

    fn from_dict(dict: Dictionary, _path: &KeyPath<'_>) -> Result<Self, DecodeError> {
        Ok(Self { extra: dict })
    }

    fn to_dict(&self) -> Dictionary {
        self.extra.clone()
    }
}

/// Implements [`FieldValue`] for generated dictionary structs.
macro_rules! dict_field {
    ($($t:ty),* $(,)?) => {
        $(
            impl $crate::typed::FieldValue for $t {
                fn from_value(
                    value: ::plist::Value,
                    path: &$crate::typed::KeyPath<'_>,
                ) -> Result<Self, $crate::error::DecodeError> {
                    $crate::typed::dict_from_value(value, path)
                }
                fn to_value(&self) -> ::plist::Value {
                    ::plist::Value::Dictionary($crate::typed::PlistDict::to_dict(self))
                }
            }
        )*
    };
}
pub(crate) use dict_field;

dict_field!(EmptyResponse);

/// Decodes a property list (XML or binary, within `limits`) into a typed
/// struct.
pub fn decode<T: PlistDict>(bytes: &[u8], limits: &crate::Limits) -> Result<T, crate::Error> {
    let (dict, _) = crate::plist_io::read_dict(bytes, limits)?;
    Ok(T::from_dict(dict, &KeyPath::ROOT)?)
}

/// Encodes a typed struct as a property list.
pub fn encode<T: PlistDict>(value: &T, format: crate::Format) -> Vec<u8> {
    crate::plist_io::write(&Value::Dictionary(value.to_dict()), format)
}

/// Removes `key` from `dict` and decodes it.
pub(crate) fn take<T: FieldValue>(
    dict: &mut Dictionary,
    key: &str,
    path: &KeyPath<'_>,
) -> Result<Option<T>, DecodeError> {
    match remove_ordered(dict, key) {
        None => Ok(None),
        Some(v) => T::from_value(v, &path.key(key)).map(Some),
    }
}

/// Removes a key keeping the order of the others (`Dictionary::remove`
/// swaps the last key into the hole, which would reorder what a device sent).
pub(crate) fn remove_ordered(dict: &mut Dictionary, key: &str) -> Option<Value> {
    if !dict.contains_key(key) {
        return None;
    }
    let mut found = None;
    for (k, v) in std::mem::take(dict) {
        if found.is_none() && k == key {
            found = Some(v);
        } else {
            dict.insert(k, v);
        }
    }
    found
}

/// Decodes one field's value found under `key`.
pub(crate) fn field<T: FieldValue>(
    value: Value,
    key: &str,
    path: &KeyPath<'_>,
) -> Result<Option<T>, DecodeError> {
    T::from_value(value, &path.key(key)).map(Some)
}

/// Inserts `value` under `key` when it is set.
pub(crate) fn put<T: FieldValue>(dict: &mut Dictionary, key: &str, value: &Option<T>) {
    if let Some(v) = value {
        dict.insert(key.to_owned(), v.to_value());
    }
}

/// Appends the extra keys after the schema keys.
pub(crate) fn put_extra(dict: &mut Dictionary, extra: &Dictionary) {
    for (k, v) in extra {
        dict.insert(k.clone(), v.clone());
    }
}

/// Expects a dictionary value and hands it to `T::from_dict`.
pub(crate) fn dict_from_value<T: PlistDict>(
    value: Value,
    path: &KeyPath<'_>,
) -> Result<T, DecodeError> {
    match value {
        Value::Dictionary(d) => T::from_dict(d, path),
        other => Err(wrong(path, "dictionary", &other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_keys_and_indexes() {
        let root = KeyPath::ROOT;
        let a = root.key("PayloadContent");
        let b = a.index(2);
        let c = b.key("Dock");
        assert_eq!(c.to_string(), "PayloadContent[2].Dock");
        assert_eq!(root.to_string(), "(root)");
    }

    #[test]
    fn wrong_types_name_the_key_path() {
        let root = KeyPath::ROOT;
        let err = Vec::<String>::from_value(
            Value::Array(vec![Value::String("a".into()), Value::Boolean(true)]),
            &root.key("Queries"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Queries[1]: expected string, found boolean"
        );
    }
}

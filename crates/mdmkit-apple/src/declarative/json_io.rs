//! JSON in and out of declarative management, as plist values.
//!
//! Declarations, manifests and status reports are JSON, but the generated
//! types of [`crate::generated`] speak plist values; this module converts
//! between the two. Reading is for untrusted input: the size is checked
//! before parsing, and depth and value count while converting (serde_json
//! itself stops at 128 levels, so nothing recurses without bound).

use plist::{Dictionary, Value};

use crate::error::DeclarativeError;
use crate::plist_io::Limits;
use crate::typed::KeyPath;

/// Parses a JSON object into a plist dictionary within `limits`.
///
/// Object keys keep their order in the document (server tokens do not
/// depend on it). Integers become `<integer>`, other numbers `<real>`; a
/// `null` anywhere is an error (no declarative document uses it, and a
/// plist cannot hold it without losing it).
pub fn read_object(bytes: &[u8], limits: &Limits) -> Result<Dictionary, DeclarativeError> {
    if bytes.len() > limits.max_bytes {
        return Err(DeclarativeError::TooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    // The fast path builds plist values straight from the parser; on any
    // failure the careful path below runs to say exactly what and where.
    let count = std::cell::Cell::new(1usize);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let fast = serde::de::DeserializeSeed::deserialize(
        Seed {
            depth: 0,
            count: &count,
            limits,
        },
        &mut de,
    )
    .and_then(|v| de.end().map(|()| v));
    if let Ok(Value::Dictionary(d)) = fast {
        return Ok(d);
    }
    careful(bytes, limits)
}

/// Builds a plist value while serde_json parses, counting values and depth.
#[derive(Clone, Copy)]
struct Seed<'a> {
    depth: usize,
    count: &'a std::cell::Cell<usize>,
    limits: &'a Limits,
}

impl Seed<'_> {
    fn counted<E: serde::de::Error>(self) -> Result<(), E> {
        let n = self.count.get() + 1;
        self.count.set(n);
        if n > self.limits.max_values {
            return Err(E::custom("too many values"));
        }
        Ok(())
    }

    fn deeper<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth + 1 > self.limits.max_depth {
            return Err(E::custom("too deep"));
        }
        Ok(Self {
            depth: self.depth + 1,
            ..self
        })
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value other than null")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.counted()?;
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.counted()?;
        Ok(Value::Integer(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.counted()?;
        Ok(Value::Integer(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.counted()?;
        if v.is_finite() {
            Ok(Value::Real(v))
        } else {
            Err(E::custom("number out of range"))
        }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.counted()?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.counted()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Err(E::custom("null"))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth > 0 {
            self.counted()?;
        }
        let inner = self.deeper()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth > 0 {
            self.counted()?;
        }
        let inner = self.deeper()?;
        let mut out = Dictionary::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(inner)?;
            out.insert(k, v);
        }
        Ok(Value::Dictionary(out))
    }
}

/// The path-tracking reader: slower, exact errors.
fn careful(bytes: &[u8], limits: &Limits) -> Result<Dictionary, DeclarativeError> {
    let json: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| DeclarativeError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    let serde_json::Value::Object(map) = json else {
        return Err(DeclarativeError::RootNotAnObject {
            found: json_kind(&json),
        });
    };
    let mut count = 1usize;
    let root = KeyPath::ROOT;
    object(map, &root, 1, limits, &mut count)
}

fn object(
    map: serde_json::Map<String, serde_json::Value>,
    path: &KeyPath<'_>,
    depth: usize,
    limits: &Limits,
    count: &mut usize,
) -> Result<Dictionary, DeclarativeError> {
    if depth > limits.max_depth {
        return Err(DeclarativeError::TooDeep {
            path: path.to_string(),
            max: limits.max_depth,
        });
    }
    let mut out = Dictionary::new();
    for (k, v) in map {
        let v = value(v, &path.key(&k), depth, limits, count)?;
        out.insert(k, v);
    }
    Ok(out)
}

fn value(
    v: serde_json::Value,
    path: &KeyPath<'_>,
    depth: usize,
    limits: &Limits,
    count: &mut usize,
) -> Result<Value, DeclarativeError> {
    *count += 1;
    if *count > limits.max_values {
        return Err(DeclarativeError::TooManyValues {
            max: limits.max_values,
        });
    }
    Ok(match v {
        serde_json::Value::Null => {
            return Err(DeclarativeError::Null {
                path: path.to_string(),
            });
        }
        serde_json::Value::Bool(b) => Value::Boolean(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Integer(i.into())
            } else if let Some(u) = n.as_u64() {
                Value::Integer(u.into())
            } else {
                match n.as_f64() {
                    Some(f) if f.is_finite() => Value::Real(f),
                    _ => {
                        return Err(DeclarativeError::BadNumber {
                            path: path.to_string(),
                            number: n.to_string(),
                        });
                    }
                }
            }
        }
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(items) => {
            if depth + 1 > limits.max_depth {
                return Err(DeclarativeError::TooDeep {
                    path: path.to_string(),
                    max: limits.max_depth,
                });
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(value(item, &path.index(i), depth + 1, limits, count)?);
            }
            Value::Array(out)
        }
        serde_json::Value::Object(map) => {
            Value::Dictionary(object(map, path, depth + 1, limits, count)?)
        }
    })
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Writes a plist dictionary as compact JSON bytes, keys in their order
/// (see [`crate::json`] for how dates and data are written).
pub fn write_object(dict: &Dictionary) -> Vec<u8> {
    let mut out = Vec::new();
    write_value_into(&mut out, &Value::Dictionary(dict.clone()));
    out
}

/// Writes any plist value as compact JSON, keeping dictionary key order
/// (serde_json's own map may sort keys, which would make a declaration's
/// bytes differ from the order the schema lists).
pub(crate) fn write_value_into(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Dictionary(d) => {
            out.push(b'{');
            for (i, (k, v)) in d.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value_into(out, v);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value_into(out, v);
            }
            out.push(b']');
        }
        other => {
            let j = crate::json::to_json(other);
            // A scalar always serialises.
            if let Ok(bytes) = serde_json::to_vec(&j) {
                out.extend_from_slice(&bytes);
            }
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    if let Ok(bytes) = serde_json::to_vec(s) {
        out.extend_from_slice(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_become_plist_dictionaries() {
        let d = read_object(br#"{"a":[true,1.5,"x"],"b":1,"c":{}}"#, &Limits::DEFAULT).unwrap();
        assert_eq!(d.get("b"), Some(&Value::Integer(1.into())));
        assert_eq!(write_object(&d), br#"{"a":[true,1.5,"x"],"b":1,"c":{}}"#);
    }

    #[test]
    fn the_fast_and_the_careful_reader_agree() {
        let small = Limits::DEFAULT.with_max_depth(3).with_max_values(8);
        for doc in [
            r#"{"a":1,"b":[true,{"c":"x"}],"a":2}"#,
            r#"{"n":18446744073709551615,"m":-9223372036854775808,"r":-1.25e-3}"#,
            r#"{"a":[[[1]]]}"#,
            r#"{"a":{"b":{}}}"#,
            r#"{"a":[1,2,3,4,5,6,7]}"#,
            r#"{"a":[1,2,3,4,5,6]}"#,
            r#"{"a":"é
"","b":null}"#,
            r#"[]"#,
            r#"{"a":1} x"#,
        ] {
            for limits in [Limits::DEFAULT, small] {
                let fast = read_object(doc.as_bytes(), &limits);
                let slow = careful(doc.as_bytes(), &limits);
                assert_eq!(fast, slow, "{doc}");
            }
        }
    }

    #[test]
    fn null_is_refused_with_its_path() {
        let err = read_object(br#"{"a":[1,{"b":null}]}"#, &Limits::DEFAULT).unwrap_err();
        assert_eq!(err.to_string(), "a[1].b: null is not allowed");
    }

    #[test]
    fn depth_size_and_count_limits_hold() {
        let deep = format!(
            "{}{}",
            "{\"a\":".repeat(10),
            "1}".to_owned() + &"}".repeat(9)
        );
        let small = Limits::DEFAULT.with_max_depth(5);
        assert!(matches!(
            read_object(deep.as_bytes(), &small),
            Err(DeclarativeError::TooDeep { max: 5, .. })
        ));
        assert!(matches!(
            read_object(b"{}", &Limits::DEFAULT.with_max_bytes(1)),
            Err(DeclarativeError::TooLarge { len: 2, max: 1 })
        ));
        assert!(matches!(
            read_object(b"{\"a\":[1,2,3,4]}", &Limits::DEFAULT.with_max_values(3)),
            Err(DeclarativeError::TooManyValues { max: 3 })
        ));
        let very_deep = "[".repeat(5000);
        assert!(matches!(
            read_object(very_deep.as_bytes(), &Limits::DEFAULT),
            Err(DeclarativeError::Json { .. })
        ));
    }

    #[test]
    fn non_objects_and_bad_json_say_where() {
        assert!(matches!(
            read_object(b"[1]", &Limits::DEFAULT),
            Err(DeclarativeError::RootNotAnObject { found: "an array" })
        ));
        let err = read_object(b"{\n\"a\": tru}", &Limits::DEFAULT).unwrap_err();
        assert!(
            matches!(err, DeclarativeError::Json { line: 2, .. }),
            "{err}"
        );
    }
}

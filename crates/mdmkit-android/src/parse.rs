//! Reading untrusted AMAPI JSON (devices and operations from Google, files
//! an admin loads) with size and depth limits and errors that say where.

use serde::de::DeserializeOwned;

use crate::Error;
use crate::model::{Device, EnrollmentToken, Operation, Policy};

/// Limits applied before any JSON is parsed.
///
/// The defaults fit every AMAPI body seen in practice (a large policy with
/// hundreds of apps is well under 1 MiB; managed configurations nest a few
/// levels) while keeping a hostile body from costing more than a few
/// milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest input accepted, in bytes.
    pub max_bytes: usize,
    /// The deepest nesting of arrays and objects accepted. serde_json stops
    /// at 128 levels by itself; values above that behave as 128.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Limits {
    /// 8 MiB and 64 levels.
    pub const DEFAULT: Limits = Limits {
        max_bytes: 8 * 1024 * 1024,
        max_depth: 64,
    };

    /// Limits with a different byte limit.
    pub const fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Limits with a different depth limit.
    pub const fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Checks size and depth without parsing.
    pub fn check(&self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.len() > self.max_bytes {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max: self.max_bytes,
            });
        }
        check_depth(bytes, self.max_depth)
    }

    /// Parses `bytes` as `T` within these limits.
    pub fn parse<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, Error> {
        self.check(bytes)?;
        parse_unchecked(bytes)
    }
}

/// Scans for the nesting depth of arrays and objects outside strings.
/// String contents (most of a JSON body) are skipped with `memchr`.
fn check_depth(bytes: &[u8], max: usize) -> Result<(), Error> {
    let mut depth = 0usize;
    let mut i = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Skip to the closing quote, stepping over escapes.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &bytes[i.min(bytes.len())..]) {
                        Some(k) if bytes[i + k] == b'\\' => i += k + 2,
                        Some(k) => {
                            i += k;
                            break;
                        }
                        None => return Ok(()),
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(Error::TooDeep { max, offset: i });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Parses with plain serde_json first (the common, valid case); only when
/// that fails is the input parsed again with path tracking, which costs
/// about 2.5 times as much, to say where.
fn parse_unchecked<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let plain = match serde_json::from_slice::<T>(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => {
            let path = e.path().to_string();
            Err(json_error::<T>(path, e.into_inner()))
        }
        Ok(_) => Err(json_error::<T>(
            ".".to_owned(),
            de.end().err().unwrap_or(plain),
        )),
    }
}

fn json_error<T>(path: String, source: serde_json::Error) -> Error {
    Error::Json {
        what: short_type_name::<T>(),
        path,
        line: source.line(),
        column: source.column(),
        message: strip_position(&source.to_string()),
        source,
    }
}

/// serde_json appends " at line L column C"; the error carries those apart.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Parses any model type within the default [`Limits`].
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    Limits::DEFAULT.parse(bytes)
}

/// Parses a `Policy` resource.
pub fn policy(bytes: &[u8]) -> Result<Policy, Error> {
    from_slice(bytes)
}

/// Parses a `Device` resource (a `devices.get` answer or a Pub/Sub status
/// report).
pub fn device(bytes: &[u8]) -> Result<Device, Error> {
    from_slice(bytes)
}

/// Parses an `Operation` (the answer of `devices.issueCommand`, of
/// `operations.get`, or a Pub/Sub command notification).
pub fn operation(bytes: &[u8]) -> Result<Operation, Error> {
    from_slice(bytes)
}

/// Parses an `EnrollmentToken` (the answer of `enrollmentTokens.create`).
pub fn enrollment_token(bytes: &[u8]) -> Result<EnrollmentToken, Error> {
    from_slice(bytes)
}

/// Encodes any model value as compact JSON.
pub fn to_vec<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|source| Error::Encode {
        what: short_type_name::<T>(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_json_path_line_and_column() {
        let json = b"{\n \"nonComplianceDetails\": [{\"settingName\": 7}]\n}";
        let e = device(json).unwrap_err();
        match &e {
            Error::Json {
                what, path, line, ..
            } => {
                assert_eq!(*what, "Device");
                assert_eq!(path, "nonComplianceDetails[0].settingName");
                assert_eq!(*line, 2);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            e.to_string()
                .starts_with("invalid Device at nonComplianceDetails[0].settingName (line 2")
        );
    }

    #[test]
    fn int64_fields_that_are_not_numbers_are_rejected_with_their_path() {
        let e = device(br#"{"appliedPolicyVersion": "seven"}"#).unwrap_err();
        assert!(
            matches!(e, Error::Json { ref path, .. } if path == "appliedPolicyVersion"),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let e = Limits::DEFAULT
            .parse::<serde_json::Value>(deep.as_bytes())
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::TooDeep {
                    max: 64,
                    offset: 64
                }
            ),
            "{e}"
        );
        // Brackets inside strings do not count, escaped quotes or not.
        let quoted = format!("{{\"name\": \"\\\"{}\\\\\"}}", "[".repeat(100));
        assert!(policy(quoted.as_bytes()).is_ok(), "{quoted}");
        assert!(Limits::DEFAULT.check(b"\"unterminated \\").is_ok());
    }

    /// The obvious byte-by-byte scan, as an oracle for the fast one.
    fn naive_depth_error(bytes: &[u8], max: usize) -> Option<usize> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for (offset, &b) in bytes.iter().enumerate() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > max {
                        return Some(offset);
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        None
    }

    proptest::proptest! {
        #[test]
        fn the_fast_depth_scan_agrees_with_the_naive_one(s in "[\\[\\]{}\"\\\\a]{0,64}", max in 0usize..6) {
            let fast = match check_depth(s.as_bytes(), max) {
                Err(Error::TooDeep { offset, .. }) => Some(offset),
                _ => None,
            };
            proptest::prop_assert_eq!(fast, naive_depth_error(s.as_bytes(), max));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(mdmkit_core::proptest_cases(256)))]
        /// A number the model does not know (an unknown field) reads back
        /// with the value it was written with: floats are parsed exactly
        /// (serde_json's `float_roundtrip`), so re-encoding never moves
        /// them by an ulp.
        #[test]
        fn numbers_in_unknown_fields_survive_re_encoding(x in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
            let text = serde_json::to_vec(&serde_json::json!({ "notAFieldGoogleHas": x, "name": "enterprises/e/policies/p" })).unwrap();
            let p = policy(&text).unwrap();
            let again = policy(&to_vec(&p).unwrap()).unwrap();
            proptest::prop_assert_eq!(&again, &p);
        }
    }

    #[test]
    fn oversized_input_is_refused() {
        let limits = Limits::DEFAULT.with_max_bytes(10);
        assert!(matches!(
            limits.parse::<Policy>(b"{\"name\": \"enterprises/e/policies/p\"}"),
            Err(Error::TooLarge { max: 10, .. })
        ));
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        assert!(policy(b"{} {}").is_err());
    }
}

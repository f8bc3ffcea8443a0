//! Property-list values as JSON, for consoles and `mdmkit inspect`.
//!
//! Keys stay as Apple spells them; `<data>` becomes base64 (standard
//! alphabet, padded), `<date>` an RFC 3339 UTC timestamp, a real that JSON
//! cannot hold (NaN, infinity) its text.

use base64::Engine as _;
use plist::Value;

/// Converts a plist value to JSON.
pub fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        Value::Dictionary(d) => J::Object(d.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Value::Boolean(b) => J::Bool(*b),
        Value::Data(d) => J::String(base64::engine::general_purpose::STANDARD.encode(d)),
        Value::Date(d) => J::String(d.to_xml_format()),
        Value::Real(r) => {
            serde_json::Number::from_f64(*r).map_or_else(|| J::String(r.to_string()), J::Number)
        }
        Value::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
            (Some(s), _) => J::from(s),
            (None, Some(u)) => J::from(u),
            (None, None) => J::Null,
        },
        Value::String(s) => J::String(s.clone()),
        _ => J::Null,
    }
}

/// Converts a plist dictionary to a JSON object.
pub fn dict_to_json(dict: &plist::Dictionary) -> serde_json::Map<String, serde_json::Value> {
    dict.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_base64_and_dates_are_rfc3339() {
        let date = plist::Date::from_xml_format("2026-11-28T15:00:00Z").unwrap();
        let v = Value::Array(vec![
            Value::Data(vec![0, 1, 2, 255]),
            Value::Date(date),
            Value::Real(f64::NAN),
        ]);
        assert_eq!(
            to_json(&v),
            serde_json::json!(["AAEC/w==", "2026-11-28T15:00:00Z", "NaN"])
        );
    }
}

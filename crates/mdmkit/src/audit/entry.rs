//! One journal line: its canonical encoding and its hash.
//!
//! A line is the canonical JSON (`mdmkit_identity::envelope::canonical_json`:
//! sorted keys, no whitespace) of `{event, hash, prev, seq, time}` and a
//! newline. `hash` is the SHA-256 of the canonical JSON of the same object
//! without `hash`; `prev` is the previous entry's `hash` (64 zeros for the
//! first entry).

use mdmkit_identity::envelope::canonical_json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Corruption;
use super::event::Event;
use crate::signing::sha256_hex;

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A decoded journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Entry {
    /// Its sequence number, from 1, without gaps.
    pub seq: u64,
    /// When it was written, RFC 3339 UTC.
    pub time: String,
    /// The previous entry's hash.
    pub prev: String,
    /// What happened.
    pub event: Event,
    /// The SHA-256 of the entry without this field, lower-case hex.
    pub hash: String,
}

/// A JSON string literal (serde_json's escaping, as the canonical form).
fn json_string(s: &str) -> Result<String, serde_json::Error> {
    serde_json::to_string(s)
}

/// Encodes an entry; returns its hash and its line (with the newline).
///
/// The canonical object has its keys in the order `event`, `hash`, `prev`,
/// `seq`, `time`, so both the hashed text and the line are assembled around
/// the event's canonical JSON, encoded once.
pub(crate) fn encode(
    seq: u64,
    time: &str,
    prev: &str,
    event: &Event,
) -> Result<(String, String), serde_json::Error> {
    let event = canonical_json(&serde_json::to_value(event)?);
    let prev = json_string(prev)?;
    let time = json_string(time)?;
    let tail = format!("\"prev\":{prev},\"seq\":{seq},\"time\":{time}}}");
    let hash = sha256_hex(format!("{{\"event\":{event},{tail}").as_bytes());
    let line = format!("{{\"event\":{event},\"hash\":\"{hash}\",{tail}\n");
    Ok((hash, line))
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Decodes one line (without its newline) and checks that it is canonical
/// and that its hash is the hash of its content. Links, sequence numbers
/// and signatures are checked by the caller.
pub(crate) fn decode(line: &[u8]) -> Result<Entry, Corruption> {
    let text = std::str::from_utf8(line).map_err(|e| Corruption::NotUtf8 {
        offset: e.valid_up_to() as u64,
    })?;
    let mut value: Value = serde_json::from_str(text).map_err(|e| Corruption::NotJson {
        reason: e.to_string(),
    })?;
    if canonical_json(&value) != text {
        return Err(Corruption::NotCanonical);
    }
    let Value::Object(map) = &mut value else {
        return Err(Corruption::Shape {
            reason: "an entry is a JSON object".into(),
        });
    };
    let stored = match map.remove("hash") {
        Some(Value::String(h)) if is_hex64(&h) => h,
        _ => {
            return Err(Corruption::Shape {
                reason: "`hash` must be 64 lower-case hex digits".into(),
            });
        }
    };
    let computed = sha256_hex(canonical_json(&value).as_bytes());
    if computed != stored {
        return Err(Corruption::AlteredEntry { stored, computed });
    }
    if let Value::Object(map) = &mut value {
        map.insert("hash".into(), Value::String(stored));
    }
    let entry: Entry = serde_json::from_value(value).map_err(|e| Corruption::Shape {
        reason: e.to_string(),
    })?;
    if !is_hex64(&entry.prev) {
        return Err(Corruption::Shape {
            reason: "`prev` must be 64 lower-case hex digits".into(),
        });
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_line_decodes_to_the_same_entry() {
        let ev = Event::Recovered {
            offset: 3,
            dropped_bytes: 4,
            dropped_sha256: GENESIS.into(),
        };
        let (hash, line) = encode(1, "2026-01-01T00:00:00Z", GENESIS, &ev).unwrap();
        assert!(line.ends_with('\n'));
        let e = decode(line.trim_end().as_bytes()).unwrap();
        assert_eq!((e.seq, e.hash, e.event), (1, hash, ev));
    }

    #[test]
    fn a_reformatted_line_is_not_canonical() {
        let ev = Event::Recovered {
            offset: 3,
            dropped_bytes: 4,
            dropped_sha256: GENESIS.into(),
        };
        let (_, line) = encode(1, "2026-01-01T00:00:00Z", GENESIS, &ev).unwrap();
        let spaced = line.trim_end().replacen(':', ": ", 1);
        assert_eq!(decode(spaced.as_bytes()), Err(Corruption::NotCanonical));
    }
}

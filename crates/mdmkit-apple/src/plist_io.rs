//! Reading and writing property lists with limits.
//!
//! Everything a device sends and every file an admin loads goes through
//! [`read`]: the input size, the nesting depth and the number of values are
//! bounded before any of it becomes a [`Value`]. The XML reader resolves only
//! the five predefined XML entities and character references: a DOCTYPE is
//! skipped, declared entities are never expanded and nothing is fetched. A
//! binary plist may share one object from many places; the value count
//! bounds the expansion that sharing could cause.

use std::io::Cursor;

use plist::stream::{BinaryReader, Event};
use plist::{Dictionary, Value, XmlWriteOptions};

use crate::error::PlistError;

/// The property-list encodings mdmkit reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// XML (`<?xml ...?><plist version="1.0">`), what profiles and MDM
    /// traffic normally use.
    Xml,
    /// Binary (`bplist00`).
    Binary,
}

/// Bounds on an untrusted property list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest input, in bytes.
    pub max_bytes: usize,
    /// The deepest nesting of arrays and dictionaries.
    pub max_depth: usize,
    /// The most values (scalars and collections) in the whole document.
    pub max_values: usize,
}

impl Limits {
    /// Limits for MDM traffic and profiles: 16 MiB, depth 64, one million
    /// values. A full InstalledApplicationList of a Mac stays well within.
    pub const DEFAULT: Self = Self {
        max_bytes: 16 * 1024 * 1024,
        max_depth: 64,
        max_values: 1_000_000,
    };

    /// Limits with another size bound.
    pub const fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Limits with another depth bound.
    pub const fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Limits with another bound on the number of values.
    pub const fn with_max_values(mut self, max_values: usize) -> Self {
        self.max_values = max_values;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The encoding of `bytes`, judged by its first bytes: binary for the
/// `bplist00` magic, XML for anything starting with `<` (after a byte-order
/// mark and white space), `None` otherwise.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"bplist00") {
        return Some(Format::Binary);
    }
    let rest = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = rest.iter().find(|b| !b.is_ascii_whitespace())?;
    (*first == b'<').then_some(Format::Xml)
}

/// Parses an XML or binary property list within `limits`.
pub fn read(bytes: &[u8], limits: &Limits) -> Result<(Value, Format), PlistError> {
    if bytes.len() > limits.max_bytes {
        return Err(PlistError::TooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = sniff(bytes).ok_or(PlistError::NotAPlist)?;
    let value = match format {
        Format::Binary => build(
            BinaryReader::new(Cursor::new(bytes)).map(|e| {
                e.map_err(|e| PlistError::Syntax {
                    message: e.to_string(),
                })
            }),
            limits,
        )?,
        Format::Xml => {
            screen_xml(bytes)?;
            build(crate::plist_xml::XmlEvents::new(bytes)?, limits)?
        }
    };
    Ok((value, format))
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Refuses what the XML reader would skip or could be abused through:
/// entity declarations, references to undeclared entities (which the reader
/// would drop silently), CDATA sections (likewise) and control characters
/// (XML 1.0 forbids them anywhere; the reader would pass them through into
/// strings that no XML writer can put back).
///
/// This runs over every byte of every XML document a device sends, so it is
/// written for speed: one branch-free pass for control characters, then a
/// jump from markup character to markup character.
fn screen_xml(bytes: &[u8]) -> Result<(), PlistError> {
    check_controls(bytes)?;
    let mut i = 0;
    while let Some(p) = bytes
        .get(i..)
        .and_then(|rest| memchr::memchr2(b'<', b'&', rest))
    {
        i += p;
        if bytes[i] == b'&' {
            let end = bytes[i..]
                .iter()
                .take(40)
                .position(|&b| b == b';')
                .map(|p| p + i);
            let name = end
                .map(|e| &bytes[i + 1..e])
                .unwrap_or(&bytes[i + 1..i + 1]);
            let predefined = matches!(name, b"lt" | b"gt" | b"amp" | b"apos" | b"quot");
            let numeric = name.first() == Some(&b'#') && name.len() > 1;
            if !(predefined || numeric) {
                return Err(PlistError::UnknownEntity {
                    name: String::from_utf8_lossy(name).into_owned(),
                    offset: i,
                });
            }
            i = end.map_or(i + 1, |e| e + 1);
            continue;
        }
        let rest = &bytes[i..];
        if rest.starts_with(b"<!--") {
            i = find(bytes, b"-->", i + 4).map_or(bytes.len(), |e| e + 3);
        } else if rest.starts_with(b"<![CDATA[") {
            return Err(PlistError::Cdata { offset: i });
        } else if rest.starts_with(b"<?") {
            i = find(bytes, b"?>", i + 2).map_or(bytes.len(), |e| e + 2);
        } else if rest.starts_with(b"<!DOCTYPE") {
            // Up to the closing '>', past an internal subset if any.
            let mut j = i + 9;
            let mut in_subset = false;
            while j < bytes.len() {
                match bytes[j] {
                    b'[' => in_subset = true,
                    b']' => in_subset = false,
                    b'<' if in_subset && bytes[j..].starts_with(b"<!ENTITY") => {
                        return Err(PlistError::EntityDeclaration { offset: j });
                    }
                    b'>' if !in_subset => break,
                    _ => {}
                }
                j += 1;
            }
            i = j + 1;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Whether a byte is a control character XML 1.0 forbids.
#[inline]
fn is_forbidden_control(b: u8) -> bool {
    (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r')
}

/// Refuses control characters other than tab, newline and carriage return,
/// in blocks the compiler can vectorise.
fn check_controls(bytes: &[u8]) -> Result<(), PlistError> {
    for (n, block) in bytes.chunks(64).enumerate() {
        let bad = block
            .iter()
            .fold(false, |acc, &b| acc | is_forbidden_control(b));
        if bad {
            let at = block
                .iter()
                .position(|&b| is_forbidden_control(b))
                .unwrap_or(0);
            return Err(PlistError::Syntax {
                message: format!(
                    "control character 0x{:02x} at byte {}",
                    block[at],
                    n * 64 + at
                ),
            });
        }
    }
    Ok(())
}

/// Parses a property list whose root must be a dictionary.
pub fn read_dict(bytes: &[u8], limits: &Limits) -> Result<(Dictionary, Format), PlistError> {
    match read(bytes, limits)? {
        (Value::Dictionary(d), format) => Ok((d, format)),
        (other, _) => Err(PlistError::RootNotADictionary {
            found: value_kind(&other),
        }),
    }
}

enum Frame {
    Array(Vec<Value>),
    Dict(Dictionary, Option<String>),
}

fn build<I>(events: I, limits: &Limits) -> Result<Value, PlistError>
where
    I: Iterator<Item = Result<Event<'static>, PlistError>>,
{
    let mut stack: Vec<Frame> = Vec::new();
    let mut values = 0usize;
    let mut root: Option<Value> = None;
    for event in events {
        let event = event?;
        if root.is_some() {
            return Err(PlistError::Syntax {
                message: "content after the root value".into(),
            });
        }
        values += 1;
        if values > limits.max_values {
            return Err(PlistError::TooManyValues {
                max: limits.max_values,
            });
        }
        let value = match event {
            Event::StartArray(_) | Event::StartDictionary(_) => {
                if stack.len() >= limits.max_depth {
                    return Err(PlistError::TooDeep {
                        max: limits.max_depth,
                    });
                }
                stack.push(if matches!(event, Event::StartArray(_)) {
                    Frame::Array(Vec::new())
                } else {
                    Frame::Dict(Dictionary::new(), None)
                });
                continue;
            }
            Event::EndCollection => {
                values -= 1;
                match stack.pop() {
                    Some(Frame::Array(a)) => Value::Array(a),
                    Some(Frame::Dict(d, None)) => Value::Dictionary(d),
                    Some(Frame::Dict(_, Some(key))) => {
                        return Err(PlistError::Syntax {
                            message: format!("key {key:?} has no value"),
                        });
                    }
                    None => {
                        return Err(PlistError::Syntax {
                            message: "unbalanced end of collection".into(),
                        });
                    }
                }
            }
            Event::Boolean(b) => Value::Boolean(b),
            Event::Data(d) => Value::Data(d.into_owned()),
            Event::Date(d) => Value::Date(d),
            Event::Integer(i) => Value::Integer(i),
            Event::Real(r) => Value::Real(r),
            Event::String(s) => {
                // XML 1.0 cannot carry these, even as character references:
                // refuse them from either format so that everything read
                // can be written back as XML.
                // (In UTF-8 they are single bytes, never part of another
                // character.)
                if let Some(&c) = s.as_bytes().iter().find(|&&b| is_forbidden_control(b)) {
                    return Err(PlistError::Syntax {
                        message: format!("control character 0x{c:02x} in a string"),
                    });
                }
                Value::String(s.into_owned())
            }
            Event::Uid(_) => {
                return Err(PlistError::Syntax {
                    message: "UID values are not used by MDM".into(),
                });
            }
            _ => {
                return Err(PlistError::Syntax {
                    message: "unknown plist event".into(),
                });
            }
        };
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Array(a)) => a.push(value),
            Some(Frame::Dict(d, pending)) => match pending.take() {
                Some(key) => match d.entry(key) {
                    plist::dictionary::Entry::Vacant(slot) => {
                        slot.insert(value);
                    }
                    plist::dictionary::Entry::Occupied(taken) => {
                        return Err(PlistError::DuplicateKey {
                            key: taken.key().clone(),
                        });
                    }
                },
                None => match value {
                    Value::String(key) => *pending = Some(key),
                    other => {
                        return Err(PlistError::Syntax {
                            message: format!(
                                "dictionary key is {}, not a string",
                                value_kind(&other)
                            ),
                        });
                    }
                },
            },
        }
    }
    if !stack.is_empty() {
        return Err(PlistError::Syntax {
            message: "unexpected end of input inside a collection".into(),
        });
    }
    root.ok_or(PlistError::Syntax {
        message: "no root value".into(),
    })
}

/// A short name of a value's plist type, for error messages.
pub fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::Dictionary(_) => "dictionary",
        Value::Boolean(_) => "boolean",
        Value::Data(_) => "data",
        Value::Date(_) => "date",
        Value::Real(_) => "real",
        Value::Integer(_) => "integer",
        Value::String(_) => "string",
        Value::Uid(_) => "uid",
        _ => "unknown value",
    }
}

/// Encodes a value in the given format.
///
/// XML uses Apple's layout (tab indentation, the plist DOCTYPE), so the same
/// value always gives the same bytes.
pub fn write(value: &Value, format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    let result = match format {
        Format::Xml => {
            value.to_writer_xml_with_options(&mut out, &XmlWriteOptions::default().indent(b'\t', 1))
        }
        Format::Binary => value.to_writer_binary(&mut out),
    };
    // Writing to a Vec cannot fail for any value this crate builds; plist
    // reports errors only for I/O and for UIDs in XML, which never reach here.
    if result.is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(body: &str) -> Vec<u8> {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">{body}</plist>"
        )
        .into_bytes()
    }

    #[test]
    fn deep_nesting_is_refused_before_it_can_exhaust_the_stack() {
        let body = format!(
            "{}{}",
            "<array>".repeat(100_000),
            "</array>".repeat(100_000)
        );
        let err = read(&xml(&body), &Limits::DEFAULT).unwrap_err();
        assert!(matches!(err, PlistError::TooDeep { max: 64 }));
    }

    #[test]
    fn too_many_values_are_refused() {
        let body = format!("<array>{}</array>", "<true/>".repeat(50));
        let err = read(&xml(&body), &Limits::DEFAULT.with_max_values(20)).unwrap_err();
        assert!(matches!(err, PlistError::TooManyValues { max: 20 }));
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let err = read(&[b' '; 100], &Limits::DEFAULT.with_max_bytes(10)).unwrap_err();
        assert!(matches!(err, PlistError::TooLarge { len: 100, max: 10 }));
    }

    #[test]
    fn declared_entities_are_neither_expanded_nor_fetched() {
        let doc = r#"<?xml version="1.0"?>
<!DOCTYPE plist [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY x SYSTEM "file:///etc/passwd">
]>
<plist version="1.0"><dict><key>k</key><string>&c;</string><key>f</key><string>&x;</string></dict></plist>"#;
        let err = read(doc.as_bytes(), &Limits::DEFAULT).unwrap_err();
        assert!(
            matches!(err, PlistError::EntityDeclaration { .. }),
            "{err:?}"
        );
        // A reference to an entity nobody declared is refused, not dropped.
        let err = read(
            &xml("<dict><key>k</key><string>a&x;b</string></dict>"),
            &Limits::DEFAULT,
        )
        .unwrap_err();
        assert!(
            matches!(err, PlistError::UnknownEntity { ref name, .. } if name == "x"),
            "{err:?}"
        );
        let err = read(&xml("<string><![CDATA[x]]></string>"), &Limits::DEFAULT).unwrap_err();
        assert!(matches!(err, PlistError::Cdata { .. }));
        let err = read(&xml("<string>a\u{0}b</string>"), &Limits::DEFAULT).unwrap_err();
        assert!(matches!(err, PlistError::Syntax { .. }));
    }

    #[test]
    fn predefined_entities_and_a_doctype_are_fine() {
        let (v, f) = read(
            &xml("<dict><key>a&amp;b</key><string>&lt;&#x41;&gt;</string></dict>"),
            &Limits::DEFAULT,
        )
        .unwrap();
        assert_eq!(f, Format::Xml);
        let d = v.into_dictionary().unwrap();
        assert_eq!(d.get("a&b").and_then(Value::as_string), Some("<A>"));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = read(
            &xml("<dict><key>a</key><true/><key>a</key><false/></dict>"),
            &Limits::DEFAULT,
        )
        .unwrap_err();
        assert!(matches!(err, PlistError::DuplicateKey { .. }));
    }

    #[test]
    fn shared_binary_objects_cannot_expand_past_the_value_limit() {
        // Objects 0..=30, object i+1 = [i, i]: 2^31 values from 100 bytes.
        let mut bin = b"bplist00".to_vec();
        let mut offsets = Vec::new();
        offsets.push(bin.len());
        bin.push(0x09); // true
        for i in 0..30u8 {
            offsets.push(bin.len());
            bin.extend_from_slice(&[0xA2, i, i]);
        }
        let table = bin.len();
        for o in &offsets {
            bin.push(u8::try_from(*o).unwrap());
        }
        let mut trailer = [0u8; 32];
        trailer[6] = 1; // offset size
        trailer[7] = 1; // ref size
        trailer[8..16].copy_from_slice(&(offsets.len() as u64).to_be_bytes());
        trailer[16..24].copy_from_slice(&30u64.to_be_bytes());
        trailer[24..32].copy_from_slice(&(table as u64).to_be_bytes());
        bin.extend_from_slice(&trailer);
        let err = read(&bin, &Limits::DEFAULT).unwrap_err();
        assert!(
            matches!(
                err,
                PlistError::TooManyValues { .. } | PlistError::TooDeep { .. }
            ),
            "{err:?}"
        );
    }
}

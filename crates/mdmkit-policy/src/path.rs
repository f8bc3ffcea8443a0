//! Setting paths: the names every part of mdmkit uses for one setting.
//!
//! A [`SettingPath`] names a setting the way an admin reads it:
//! `restrictions.camera`, `passcode.min_length`, `wifi["ECOLE"].password`,
//! `apps["pronote"]`. Field names are plain identifiers joined by dots; keys
//! of keyed maps (Wi-Fi networks by SSID, apps by logical id, certificates,
//! vendor passthrough entries) are quoted strings in brackets, with `"` and
//! `\` escaped by a backslash, and control characters written as `\n`,
//! `\t`, `\r` or `\u{7f}`. A path's text is its canonical form: what
//! [`SettingPath`]'s `Display` writes parses back to the same path. Provenance, diffs, the capability matrix,
//! validation errors and vendor "unsupported" reports all speak these paths.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One step of a [`SettingPath`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Segment {
    /// A named field of a category or of a keyed entry (`camera`).
    Field(String),
    /// The key of an entry in a keyed map (`"ECOLE"` in `wifi["ECOLE"]`).
    Key(String),
}

/// The path of a setting, such as `restrictions.camera` or
/// `wifi["ECOLE"].password`.
///
/// Paths order by their segments, so a sorted list of paths groups each
/// category and each keyed entry together; that order is the order of
/// every [`ChangeSet`](crate::ChangeSet).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SettingPath {
    segments: Vec<Segment>,
}

/// Why a string is not a setting path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting path {input:?} at byte {offset}: {reason}")]
pub struct PathParseError {
    /// The text that was parsed.
    pub input: String,
    /// Byte offset of the problem.
    pub offset: usize,
    /// What was expected there.
    pub reason: &'static str,
}

/// The longest setting path text accepted by [`SettingPath::from_str`].
pub const MAX_PATH_LEN: usize = 1024;

impl SettingPath {
    /// The empty path (the whole policy).
    pub fn root() -> Self {
        Self::default()
    }

    /// A path of one field: a category such as `passcode`.
    pub fn field(name: impl Into<String>) -> Self {
        Self {
            segments: vec![Segment::Field(name.into())],
        }
    }

    /// This path followed by a field.
    #[must_use]
    pub fn join_field(&self, name: impl Into<String>) -> Self {
        let mut p = self.clone();
        p.segments.push(Segment::Field(name.into()));
        p
    }

    /// This path followed by a map key.
    #[must_use]
    pub fn join_key(&self, key: impl Into<String>) -> Self {
        let mut p = self.clone();
        p.segments.push(Segment::Key(key.into()));
        p
    }

    /// Appends a field in place.
    pub fn push_field(&mut self, name: impl Into<String>) {
        self.segments.push(Segment::Field(name.into()));
    }

    /// Appends a map key in place.
    pub fn push_key(&mut self, key: impl Into<String>) {
        self.segments.push(Segment::Key(key.into()));
    }

    /// Removes the last segment.
    pub fn pop(&mut self) -> Option<Segment> {
        self.segments.pop()
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether this is the empty path.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The number of segments.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Whether the path has no segment (same as [`is_root`](Self::is_root)).
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The category: the first field, if any (`wifi` for `wifi["X"].hidden`).
    pub fn category(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Field(f)) => Some(f),
            _ => None,
        }
    }

    /// Whether `self` is `other` or an ancestor of it
    /// (`wifi` starts `wifi["X"].password`).
    pub fn is_prefix_of(&self, other: &SettingPath) -> bool {
        other.segments.starts_with(&self.segments)
    }

    /// Whether one of the two paths contains the other.
    pub fn overlaps(&self, other: &SettingPath) -> bool {
        self.is_prefix_of(other) || other.is_prefix_of(self)
    }

    /// The segments of `self` after `prefix`, if `prefix` is a prefix.
    pub fn strip_prefix(&self, prefix: &SettingPath) -> Option<&[Segment]> {
        self.segments.strip_prefix(prefix.segments.as_slice())
    }

    /// The plain keys of the path, as they appear in a TOML or JSON
    /// document (`["wifi", "ECOLE", "password"]`).
    pub fn document_keys(&self) -> Vec<&str> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Field(f) | Segment::Key(f) => f.as_str(),
            })
            .collect()
    }
}

impl From<Vec<Segment>> for SettingPath {
    fn from(segments: Vec<Segment>) -> Self {
        Self { segments }
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl fmt::Display for SettingPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Field(name) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                Segment::Key(key) => {
                    f.write_str("[\"")?;
                    for c in key.chars() {
                        match c {
                            '"' => f.write_str("\\\"")?,
                            '\\' => f.write_str("\\\\")?,
                            '\n' => f.write_str("\\n")?,
                            '\t' => f.write_str("\\t")?,
                            '\r' => f.write_str("\\r")?,
                            c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                            c => write!(f, "{c}")?,
                        }
                    }
                    f.write_str("\"]")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SettingPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SettingPath({self})")
    }
}

impl FromStr for SettingPath {
    type Err = PathParseError;

    fn from_str(input: &str) -> Result<Self, PathParseError> {
        let err = |offset: usize, reason: &'static str| PathParseError {
            input: input.chars().take(MAX_PATH_LEN).collect(),
            offset,
            reason,
        };
        if input.len() > MAX_PATH_LEN {
            return Err(err(MAX_PATH_LEN, "path is too long"));
        }
        let bytes = input.as_bytes();
        let mut segments = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'[' => {
                    if segments.is_empty() {
                        return Err(err(i, "a path starts with a field name"));
                    }
                    if bytes.get(i + 1) != Some(&b'"') {
                        return Err(err(i + 1, "expected '\"' after '['"));
                    }
                    i += 2;
                    let mut key = String::new();
                    loop {
                        let Some(c) = input[i..].chars().next() else {
                            return Err(err(i, "unterminated key"));
                        };
                        match c {
                            '"' => {
                                i += 1;
                                break;
                            }
                            '\\' => {
                                let esc = input[i + 1..].chars().next();
                                key.push(match esc {
                                    Some('"') => '"',
                                    Some('\\') => '\\',
                                    Some('n') => '\n',
                                    Some('t') => '\t',
                                    Some('r') => '\r',
                                    Some('u') => {
                                        let (c, len) =
                                            unicode_escape(&input[i + 2..]).ok_or_else(|| {
                                                err(i + 2, "expected '{hex}' after \\u")
                                            })?;
                                        i += len;
                                        c
                                    }
                                    _ => return Err(err(i + 1, "unknown escape in key")),
                                });
                                i += 2;
                            }
                            c => {
                                key.push(c);
                                i += c.len_utf8();
                            }
                        }
                    }
                    if bytes.get(i) != Some(&b']') {
                        return Err(err(i, "expected ']' after key"));
                    }
                    i += 1;
                    segments.push(Segment::Key(key));
                    if i < bytes.len() && bytes[i] != b'.' && bytes[i] != b'[' {
                        return Err(err(i, "expected '.' or '[' after ']'"));
                    }
                }
                b'.' => {
                    if segments.is_empty() {
                        return Err(err(i, "path starts with '.'"));
                    }
                    i += 1;
                    if i >= bytes.len() || !is_ident_char(char::from(bytes[i])) {
                        return Err(err(i, "expected a field name after '.'"));
                    }
                }
                _ => {
                    let start = i;
                    while i < bytes.len() && is_ident_char(char::from(bytes[i])) {
                        i += 1;
                    }
                    if start == i {
                        return Err(err(i, "expected a field name, '.' or '[\"'"));
                    }
                    segments.push(Segment::Field(input[start..i].to_owned()));
                }
            }
        }
        if segments.is_empty() {
            return Err(err(0, "path is empty"));
        }
        let path = Self { segments };
        // The canonical text may be longer than the input (a raw control
        // character is written escaped): bound that too, so that every path
        // this accepts is shown as text this accepts.
        if path.to_string().len() > MAX_PATH_LEN {
            return Err(err(
                MAX_PATH_LEN,
                "path is too long once written canonically",
            ));
        }
        Ok(path)
    }
}

/// Reads `{hex}` (one to six hex digits naming a Unicode scalar value) at
/// the start of `rest`: the character and the bytes it took.
fn unicode_escape(rest: &str) -> Option<(char, usize)> {
    let body = rest.strip_prefix('{')?;
    let end = body.find('}')?;
    let hex = &body[..end];
    if hex.is_empty() || hex.len() > 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
    Some((c, end + 2))
}

impl Serialize for SettingPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SettingPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for SettingPath {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SettingPath".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A setting path such as `restrictions.camera` or `wifi[\"ECOLE\"]`.",
            "maxLength": MAX_PATH_LEN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_fields_and_quoted_keys() {
        let p: SettingPath = "wifi[\"ECOLE\"].password".parse().unwrap();
        assert_eq!(
            p.segments(),
            &[
                Segment::Field("wifi".into()),
                Segment::Key("ECOLE".into()),
                Segment::Field("password".into())
            ]
        );
        assert_eq!(p.to_string(), "wifi[\"ECOLE\"].password");
        assert_eq!(p.category(), Some("wifi"));
        let q: SettingPath = "vendor.windows[\"./Device/Vendor/MSFT/A\"]"
            .parse()
            .unwrap();
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn rejects_malformed_paths_with_an_offset() {
        for bad in [
            "",
            ".a",
            "a..b",
            "a[b]",
            "a[\"b\"",
            "a[\"b\"]c",
            "a b",
            "a.",
            "[\"k\"]x",
        ] {
            let e = bad.parse::<SettingPath>().unwrap_err();
            assert!(e.offset <= bad.len(), "{bad}: {e}");
        }
    }

    #[test]
    fn prefixes_and_overlaps() {
        let wifi: SettingPath = "wifi".parse().unwrap();
        let pw: SettingPath = "wifi[\"X\"].password".parse().unwrap();
        assert!(wifi.is_prefix_of(&pw));
        assert!(pw.overlaps(&wifi));
        assert!(!pw.is_prefix_of(&wifi));
        let cam: SettingPath = "restrictions.camera".parse().unwrap();
        assert!(!cam.overlaps(&wifi));
    }

    #[test]
    fn control_characters_are_written_escaped_and_read_back() {
        let p = SettingPath::field("wifi").join_key("a\u{1}b\u{7f}\n\u{85}");
        let text = p.to_string();
        assert_eq!(text, "wifi[\"a\\u{1}b\\u{7f}\\n\\u{85}\"]");
        assert_eq!(text.parse::<SettingPath>().unwrap(), p);
        // A raw control character is accepted in a key and shown escaped.
        let raw: SettingPath = "wifi[\"a\u{1}\"]".parse().unwrap();
        assert_eq!(raw.to_string(), "wifi[\"a\\u{1}\"]");
        for bad in [
            "a[\"\\u\"]",
            "a[\"\\u{}\"]",
            "a[\"\\u{110000}\"]",
            "a[\"\\u{d800}\"]",
            "a[\"\\u{1234567}\"]",
        ] {
            assert!(bad.parse::<SettingPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_path_whose_canonical_text_is_too_long_is_refused() {
        // 600 raw newlines fit the input limit but not once escaped.
        let text = format!("wifi[\"{}\"]", "\n".repeat(600));
        assert!(text.len() <= MAX_PATH_LEN);
        let e = text.parse::<SettingPath>().unwrap_err();
        assert!(e.reason.contains("too long"), "{e}");
    }

    fn segment() -> impl Strategy<Value = Segment> {
        prop_oneof![
            "[a-z_][a-z0-9_-]{0,8}".prop_map(Segment::Field),
            any::<String>().prop_map(Segment::Key),
        ]
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(first in "[a-z_]{1,8}", rest in proptest::collection::vec(segment(), 0..5)) {
            let mut segs = vec![Segment::Field(first)];
            segs.extend(rest);
            let p = SettingPath::from(segs);
            let text = p.to_string();
            prop_assume!(text.len() <= MAX_PATH_LEN);
            prop_assert_eq!(text.parse::<SettingPath>().unwrap(), p);
        }

        #[test]
        fn parsed_text_is_shown_as_text_that_parses_back(s in any::<String>()) {
            let _ = s.parse::<SettingPath>();
            let text = format!("a[\"{}\"]", s.replace('\\', "\\\\").replace('"', "\\\""));
            if let Ok(p) = text.parse::<SettingPath>() {
                let shown = p.to_string();
                prop_assert_eq!(shown.parse::<SettingPath>().ok(), Some(p), "{}", shown);
            }
        }
    }
}

//! A reader of XML property lists, built for device traffic.
//!
//! It reads the same documents as the `plist` crate's XML reader, to the
//! same events, but works on the input slice directly: the document is
//! checked as UTF-8 once, text without references is copied once, and no
//! generic XML machinery sits between the bytes and the values. It runs
//! after [`super::plist_io`]'s screen (no entity declarations, no CDATA, no
//! control characters), and its events go through the same limited builder,
//! so limits, duplicate keys and error kinds are the same for both formats.
//!
//! What it accepts: an optional XML declaration, DOCTYPE, comments and
//! processing instructions around and between elements; an optional
//! `<plist ...>` wrapper; `dict`, `array`, `key`, `string`, `integer`,
//! `real`, `date`, `data`, `true` and `false`, empty forms (`<dict/>`,
//! `<string/>`) included; the five predefined entities and character
//! references in text. Anything else is an error with its byte offset.

use std::borrow::Cow;

use base64::Engine as _;
use plist::stream::Event;
use plist::{Date, Integer};

use crate::error::PlistError;

fn err(message: impl Into<String>, at: usize) -> PlistError {
    PlistError::Syntax {
        message: format!("{} at byte {at}", message.into()),
    }
}

/// The events of an XML property list.
pub(crate) struct XmlEvents<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    /// Open collections, `true` for a dictionary.
    open: Vec<bool>,
    /// Whether a `<plist>` wrapper is open.
    wrapped: bool,
    started: bool,
    done: bool,
    /// An empty `<dict/>` or `<array/>` was reported; its end is next.
    pending_end: bool,
}

impl<'a> XmlEvents<'a> {
    /// Events of `bytes`; fails when they are not UTF-8.
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self, PlistError> {
        let s = std::str::from_utf8(bytes).map_err(|e| err("invalid UTF-8", e.valid_up_to()))?;
        let s = s.strip_prefix('\u{feff}').unwrap_or(s);
        Ok(Self {
            s,
            b: s.as_bytes(),
            pos: 0,
            open: Vec::new(),
            wrapped: false,
            started: false,
            done: false,
            pending_end: false,
        })
    }

    fn rest(&self) -> &'a [u8] {
        &self.b[self.pos..]
    }

    fn find_from(&self, needle: &[u8], from: usize) -> Option<usize> {
        memchr::memmem::find(&self.b[from..], needle).map(|p| p + from)
    }

    /// Skips white space, comments, processing instructions and a DOCTYPE.
    fn skip_misc(&mut self) -> Result<(), PlistError> {
        loop {
            while self.pos < self.b.len() && self.b[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            let rest = self.rest();
            if rest.starts_with(b"<!--") {
                let end = self
                    .find_from(b"-->", self.pos + 4)
                    .ok_or_else(|| err("unclosed comment", self.pos))?;
                self.pos = end + 3;
            } else if rest.starts_with(b"<?") {
                let end = self
                    .find_from(b"?>", self.pos + 1)
                    .ok_or_else(|| err("unclosed processing instruction", self.pos))?;
                self.pos = end + 2;
            } else if rest.starts_with(b"<!DOCTYPE") {
                let mut j = self.pos + 9;
                let mut in_subset = false;
                let mut quote = None;
                while j < self.b.len() {
                    match (quote, self.b[j]) {
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), _) => {}
                        (None, c @ (b'"' | b'\'')) => quote = Some(c),
                        (None, b'[') => in_subset = true,
                        (None, b']') => in_subset = false,
                        (None, b'>') if !in_subset => break,
                        _ => {}
                    }
                    j += 1;
                }
                if j >= self.b.len() {
                    return Err(err("unclosed DOCTYPE", self.pos));
                }
                self.pos = j + 1;
            } else {
                return Ok(());
            }
        }
    }

    /// Reads a start tag at `pos` (which holds `<`): its name and whether
    /// it is empty (`<x/>`). Attributes are skipped.
    fn start_tag(&mut self) -> Result<(&'a str, bool), PlistError> {
        let at = self.pos;
        let from = at + 1;
        let mut j = from;
        while j < self.b.len() && !matches!(self.b[j], b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r') {
            j += 1;
        }
        let name = &self.s[from..j];
        if name.is_empty() {
            return Err(err("malformed tag", at));
        }
        // Attributes: `name = "value"` pairs separated by white space.
        loop {
            let ws = j;
            while j < self.b.len() && self.b[j].is_ascii_whitespace() {
                j += 1;
            }
            match self.b.get(j) {
                None => break,
                Some(b'>') => {
                    self.pos = j + 1;
                    return Ok((name, false));
                }
                Some(b'/') if self.b.get(j + 1) == Some(&b'>') => {
                    self.pos = j + 2;
                    return Ok((name, true));
                }
                Some(_) if j == ws => return Err(err(format!("malformed tag <{name}>"), at)),
                Some(_) => {}
            }
            let attr = j;
            while j < self.b.len()
                && !matches!(self.b[j], b'=' | b'>' | b'/' | b'<' | b'"' | b'\'')
                && !self.b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            while j < self.b.len() && self.b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j == attr || self.b.get(j) != Some(&b'=') {
                return Err(err(format!("malformed attribute in <{name}>"), at));
            }
            j += 1;
            while j < self.b.len() && self.b[j].is_ascii_whitespace() {
                j += 1;
            }
            let Some(&q) = self.b.get(j).filter(|&&q| q == b'"' || q == b'\'') else {
                return Err(err(format!("malformed attribute in <{name}>"), at));
            };
            let close = memchr::memchr(q, &self.b[j + 1..])
                .ok_or_else(|| err(format!("unclosed tag <{name}>"), at))?;
            if self.b[j + 1..j + 1 + close].contains(&b'<') {
                return Err(err(format!("malformed attribute in <{name}>"), at));
            }
            j += close + 2;
        }
        Err(err(format!("unclosed tag <{name}>"), at))
    }

    /// Whether the input at `pos` is `</name>` (white space before `>`
    /// allowed); consumes it when it is.
    fn end_tag(&mut self, name: &str) -> bool {
        let rest = self.rest();
        if !(rest.starts_with(b"</") && rest[2..].starts_with(name.as_bytes())) {
            return false;
        }
        let mut j = 2 + name.len();
        while j < rest.len() && rest[j].is_ascii_whitespace() {
            j += 1;
        }
        if rest.get(j) == Some(&b'>') {
            self.pos += j + 1;
            true
        } else {
            false
        }
    }

    /// The text of an element up to `</name>`, references resolved and
    /// comments and processing instructions dropped.
    fn text(&mut self, name: &str) -> Result<Cow<'a, str>, PlistError> {
        let start = self.pos;
        let mut out: Option<String> = None;
        let mut seg = start;
        loop {
            let Some(p) = memchr::memchr2(b'<', b'&', self.rest()) else {
                return Err(err(format!("unclosed <{name}>"), start));
            };
            let at = self.pos + p;
            let piece = &self.s[seg..at];
            self.pos = at;
            if self.b[at] == b'&' {
                let o = out.get_or_insert_with(String::new);
                o.push_str(piece);
                self.reference(o)?;
                seg = self.pos;
                continue;
            }
            if self.end_tag(name) {
                return Ok(match out {
                    None => Cow::Borrowed(piece),
                    Some(mut o) => {
                        o.push_str(piece);
                        Cow::Owned(o)
                    }
                });
            }
            if self.rest().starts_with(b"<!--") || self.rest().starts_with(b"<?") {
                let o = out.get_or_insert_with(String::new);
                o.push_str(piece);
                let (close, skip) = if self.rest().starts_with(b"<!--") {
                    (&b"-->"[..], 4)
                } else {
                    (&b"?>"[..], 1)
                };
                let end = self
                    .find_from(close, self.pos + skip)
                    .ok_or_else(|| err("unclosed comment", self.pos))?;
                self.pos = end + close.len();
                seg = self.pos;
                continue;
            }
            return Err(err(format!("unexpected tag inside <{name}>"), at));
        }
    }

    /// Resolves the reference at `pos` (`&amp;`, `&#65;`, `&#x41;`).
    fn reference(&mut self, out: &mut String) -> Result<(), PlistError> {
        let at = self.pos;
        let end = self.rest().iter().take(40).position(|&c| c == b';');
        let Some(end) = end else {
            return Err(err("unterminated reference", at));
        };
        let name = &self.s[at + 1..at + end];
        self.pos = at + end + 1;
        let resolved = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse::<u32>().ok()
                } else {
                    None
                };
                match code.and_then(char::from_u32) {
                    Some(c) if c != '\0' => c,
                    _ => return Err(err(format!("invalid reference &{name};"), at)),
                }
            }
        };
        out.push(resolved);
        Ok(())
    }

    /// The event of the element whose start tag was just read.
    fn element(
        &mut self,
        name: &'a str,
        empty: bool,
        at: usize,
    ) -> Result<Event<'static>, PlistError> {
        let text = |me: &mut Self| -> Result<Cow<'a, str>, PlistError> {
            if empty {
                Ok(Cow::Borrowed(""))
            } else {
                me.text(name)
            }
        };
        Ok(match name {
            "dict" | "array" => {
                let dict = name == "dict";
                self.open.push(dict);
                // An empty form's end follows on the next call.
                self.pending_end = empty;
                if dict {
                    Event::StartDictionary(None)
                } else {
                    Event::StartArray(None)
                }
            }
            "key" | "string" => Event::String(Cow::Owned(text(self)?.into_owned())),
            "integer" => {
                let t = text(self)?;
                let parsed = if let Some(hex) = t.strip_prefix("0x") {
                    u64::from_str_radix(hex, 16).ok().map(Integer::from)
                } else {
                    t.parse::<i64>()
                        .ok()
                        .map(Integer::from)
                        .or_else(|| t.parse::<u64>().ok().map(Integer::from))
                };
                Event::Integer(parsed.ok_or_else(|| err("invalid integer", at))?)
            }
            "real" => {
                let t = text(self)?;
                Event::Real(t.parse::<f64>().map_err(|_| err("invalid real", at))?)
            }
            "date" => {
                let t = text(self)?;
                Event::Date(Date::from_xml_format(&t).map_err(|_| err("invalid date", at))?)
            }
            "data" => {
                let t = text(self)?;
                let compact: Vec<u8> = t.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
                let data = base64::engine::general_purpose::STANDARD
                    .decode(&compact)
                    .map_err(|_| err("invalid base64 data", at))?;
                Event::Data(Cow::Owned(data))
            }
            "true" | "false" => {
                if !empty {
                    self.skip_misc()?;
                    if !self.end_tag(name) {
                        return Err(err(format!("<{name}> must be empty"), at));
                    }
                }
                Event::Boolean(name == "true")
            }
            other => return Err(err(format!("unknown element <{other}>"), at)),
        })
    }

    fn next_event(&mut self) -> Result<Option<Event<'static>>, PlistError> {
        if self.pending_end {
            self.pending_end = false;
            self.open.pop();
            return Ok(Some(Event::EndCollection));
        }
        self.skip_misc()?;
        if !self.started {
            self.started = true;
            if self.rest().starts_with(b"<plist")
                && matches!(
                    self.b.get(self.pos + 6),
                    Some(b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r')
                )
            {
                let (_, empty) = self.start_tag()?;
                self.wrapped = !empty;
                self.skip_misc()?;
            }
        }
        if self.pos >= self.b.len() {
            if !self.open.is_empty() {
                return Err(err("unexpected end of input inside a collection", self.pos));
            }
            if self.wrapped {
                return Err(err("unclosed <plist>", self.pos));
            }
            return Ok(None);
        }
        let at = self.pos;
        if self.b[at] != b'<' {
            return Err(err("unexpected text outside an element", at));
        }
        if self.rest().starts_with(b"</") {
            match self.open.last().copied() {
                Some(dict) => {
                    let name = if dict { "dict" } else { "array" };
                    if !self.end_tag(name) {
                        return Err(err(format!("expected </{name}>"), at));
                    }
                    self.open.pop();
                    return Ok(Some(Event::EndCollection));
                }
                None if self.wrapped && self.end_tag("plist") => {
                    self.wrapped = false;
                    self.skip_misc()?;
                    if self.pos < self.b.len() {
                        return Err(err("content after </plist>", self.pos));
                    }
                    return Ok(None);
                }
                None => return Err(err("unexpected end tag", at)),
            }
        }
        let (name, empty) = self.start_tag()?;
        self.element(name, empty, at).map(Some)
    }
}

impl Iterator for XmlEvents<'_> {
    type Item = Result<Event<'static>, PlistError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_event() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use plist::Value;

    use crate::plist_io::{Limits, read};

    /// The `plist` crate's own XML reader: the reference this one must
    /// agree with.
    fn reference(doc: &[u8]) -> Option<Value> {
        Value::from_reader_xml(doc).ok()
    }

    fn ours(doc: &[u8]) -> Option<Value> {
        read(doc, &Limits::DEFAULT).ok().map(|(v, _)| v)
    }

    #[test]
    fn odd_but_valid_documents_read_as_the_plist_crate_reads_them() {
        let docs = [
            "<plist version=\"1.0\"><dict/></plist>",
            "<dict><key>a</key><string/><key>b</key><array/></dict>",
            "\u{feff}<?xml version=\"1.0\"?><!-- c --><plist version='1.0'>\n<dict>\n\t<key>a&amp;b</key>\n\t<string>x<!-- in -->y&#65;&#x42;&lt;</string>\n</dict>\n</plist>\n",
            "<plist><array><true/><false></false><true> </true><integer>0x1F</integer><integer>-9223372036854775808</integer><integer>18446744073709551615</integer><real>1.5e3</real><date>2026-11-28T15:00:00Z</date><data> AAEC\n /w== </data></array></plist>",
            "<dict><string>as key</string><integer>1</integer></dict>",
            "<plist version=\"1.0\"><string>  spaces\r\nkept  </string></plist>",
            "<?xml version=\"1.0\"?><!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\"><plist version=\"1.0\"><dict><key>k</key><dict><key>n</key><array><dict/></array></dict></dict></plist>",
        ];
        for doc in docs {
            let theirs = reference(doc.as_bytes());
            assert!(theirs.is_some(), "reference refuses {doc:?}");
            assert_eq!(ours(doc.as_bytes()), theirs, "{doc:?}");
        }
    }

    #[test]
    fn malformed_documents_are_refused_with_an_offset() {
        for doc in [
            "<dict><key>a</key></dict>",
            "<dict><key>a</key><string>x</dict>",
            "<array><true/></dict>",
            "<plist><string>a</string><string>b</string></plist>",
            "<plist><string>a</string></plist>trailing",
            "<plist><widget/></plist>",
            "<plist><integer>12a</integer></plist>",
            "<plist><true>x</true></plist>",
            "<plist><string>a<b/></string></plist>",
            "<plist><string>&#0;</string></plist>",
            "<plist><array>",
            "text<plist/>",
            "<plist><data>!!</data></plist>",
        ] {
            let e = read(doc.as_bytes(), &Limits::DEFAULT);
            assert!(e.is_err(), "{doc:?} was accepted: {e:?}");
        }
        let e = read(b"<plist><widget/></plist>", &Limits::DEFAULT).unwrap_err();
        assert_eq!(e.to_string(), "unknown element <widget> at byte 7");
    }

    #[test]
    fn what_we_accept_the_plist_crate_reads_alike_on_mutated_fixtures() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as usize
        };
        let mut checked = 0;
        for dir in ["checkin", "response", "profile", "command"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let doc = std::fs::read(e.unwrap().path()).unwrap();
                if !doc.starts_with(b"<") {
                    continue;
                }
                assert_eq!(ours(&doc), reference(&doc));
                for _ in 0..300 {
                    let mut m = doc.clone();
                    for _ in 0..1 + next() % 3 {
                        let i = next() % m.len();
                        let pick = b"<>/&;\"' \nakx0#";
                        match next() % 3 {
                            0 => m[i] = pick[next() % pick.len()],
                            1 => {
                                m.remove(i);
                            }
                            _ => m.insert(i, pick[next() % pick.len()]),
                        }
                    }
                    if let Some(v) = ours(&m) {
                        assert_eq!(Some(v), reference(&m), "{}", String::from_utf8_lossy(&m));
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }
}

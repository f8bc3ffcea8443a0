//! A strict pull layer over quick-xml shared by the SyncML and SOAP readers:
//! UTF-8 only, no DTD, only the five predefined entities and character
//! references, a depth limit, and byte offsets on every error.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::error::{ReadError, ReadErrorKind, XmlSyntaxError, cut};

/// One event, with comments, declarations and processing instructions
/// skipped.
pub(crate) enum Ev<'a> {
    Start(BytesStart<'a>),
    Empty(BytesStart<'a>),
    End,
    Text(Cow<'a, str>),
    CData(Cow<'a, str>),
    /// A resolved entity or character reference.
    Ref(char),
    Eof,
}

pub(crate) struct Pull<'a> {
    src: &'a [u8],
    reader: Reader<&'a [u8]>,
    depth: usize,
    max_depth: usize,
    /// Length of a stripped byte-order mark: offsets count from the input.
    base: u64,
    /// Offset where the last event returned by `next` began.
    pub(crate) last_start: u64,
}

/// The local part of a (possibly prefixed) name.
pub(crate) fn local<'e>(e: &'e BytesStart<'_>) -> &'e str {
    let name = e.name();
    let full: &str = name.0;
    // Names are short: a plain scan beats a memrchr call.
    match full.bytes().rposition(|b| b == b':') {
        Some(i) => &full[i + 1..],
        None => full,
    }
}

impl<'a> Pull<'a> {
    pub(crate) fn new(
        input: &'a [u8],
        max_len: usize,
        max_depth: usize,
    ) -> Result<Self, ReadError> {
        if input.len() > max_len {
            return Err(ReadError::new(
                0,
                ReadErrorKind::TooLarge {
                    len: input.len(),
                    max: max_len,
                },
            ));
        }
        // quick-xml checks UTF-8 event by event; `utf8_error` finds the
        // exact offset when it fails.
        let src = input.strip_prefix(b"\xef\xbb\xbf").unwrap_or(input);
        let base = (input.len() - src.len()) as u64;
        let mut reader = Reader::from_reader(src);
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
        Ok(Self {
            src,
            reader,
            depth: 0,
            max_depth,
            base,
            last_start: base,
        })
    }

    pub(crate) fn pos(&self) -> u64 {
        self.base + self.reader.buffer_position()
    }

    pub(crate) fn err(&self, kind: ReadErrorKind) -> ReadError {
        ReadError::new(self.last_start, kind)
    }

    /// The next significant event.
    pub(crate) fn next(&mut self) -> Result<Ev<'a>, ReadError> {
        loop {
            self.last_start = self.pos();
            let ev = self.reader.read_event().map_err(|e| match e {
                quick_xml::Error::Encoding(_) => self.utf8_error(),
                e => ReadError::new(
                    self.base + self.reader.error_position(),
                    ReadErrorKind::Syntax(XmlSyntaxError(e.to_string())),
                ),
            })?;
            return Ok(match ev {
                Event::Start(e) => {
                    self.depth += 1;
                    if self.depth > self.max_depth {
                        return Err(self.err(ReadErrorKind::TooDeep {
                            max: self.max_depth,
                        }));
                    }
                    Ev::Start(e)
                }
                Event::Empty(e) => {
                    if self.depth + 1 > self.max_depth {
                        return Err(self.err(ReadErrorKind::TooDeep {
                            max: self.max_depth,
                        }));
                    }
                    Ev::Empty(e)
                }
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    Ev::End
                }
                Event::Text(t) => Ev::Text(t.xml10_content()),
                Event::CData(c) => Ev::CData(c.xml10_content()),
                Event::GeneralRef(r) => Ev::Ref(self.resolve(&r)?),
                Event::DocType(_) => return Err(self.err(ReadErrorKind::DocType)),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) => continue,
                Event::Eof => Ev::Eof,
            });
        }
    }

    fn utf8_error(&self) -> ReadError {
        let at = match std::str::from_utf8(self.src) {
            Err(e) => self.base + e.valid_up_to() as u64,
            Ok(_) => self.base + self.reader.error_position(),
        };
        ReadError::new(at, ReadErrorKind::NotUtf8)
    }

    fn resolve(&self, r: &quick_xml::events::BytesRef<'_>) -> Result<char, ReadError> {
        let name: &str = r;
        if r.is_char_ref() {
            return match r.resolve_char_ref() {
                Ok(Some(c)) => Ok(c),
                _ => Err(self.err(ReadErrorKind::BadCharRef {
                    reference: cut(name),
                })),
            };
        }
        match name {
            "lt" => Ok('<'),
            "gt" => Ok('>'),
            "amp" => Ok('&'),
            "apos" => Ok('\''),
            "quot" => Ok('"'),
            _ => Err(self.err(ReadErrorKind::UnknownEntity { name: cut(name) })),
        }
    }

    /// Reads up to the root element; returns it and whether it is empty.
    pub(crate) fn root(&mut self) -> Result<(BytesStart<'a>, bool), ReadError> {
        loop {
            match self.next()? {
                Ev::Start(e) => return Ok((e, false)),
                Ev::Empty(e) => return Ok((e, true)),
                Ev::Text(t) if is_ws(&t) => {}
                Ev::Eof => return Err(self.err(ReadErrorKind::Truncated)),
                _ => {
                    return Err(self.err(ReadErrorKind::UnexpectedText {
                        parent: "document".into(),
                    }));
                }
            }
        }
    }

    /// After the root: only whitespace (and comments) may follow.
    pub(crate) fn finish(&mut self) -> Result<(), ReadError> {
        loop {
            match self.next()? {
                Ev::Eof => return Ok(()),
                Ev::Text(t) if is_ws(&t) => {}
                _ => return Err(self.err(ReadErrorKind::TrailingContent)),
            }
        }
    }

    /// Calls `f(self, start, is_empty)` for each child element of the
    /// current element, until its end tag. Whitespace between children is
    /// skipped; other text is an error.
    pub(crate) fn children(
        &mut self,
        parent: &str,
        mut f: impl FnMut(&mut Self, BytesStart<'a>, bool) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        loop {
            match self.next()? {
                Ev::Start(e) => f(self, e, false)?,
                Ev::Empty(e) => f(self, e, true)?,
                Ev::End => return Ok(()),
                Ev::Text(t) if is_ws(&t) => {}
                Ev::Eof => return Err(self.err(ReadErrorKind::Truncated)),
                Ev::Text(_) | Ev::CData(_) | Ev::Ref(_) => {
                    return Err(self.err(ReadErrorKind::UnexpectedText {
                        parent: parent.to_owned(),
                    }));
                }
            }
        }
    }

    /// The text content of a leaf element (not trimmed), borrowed from the
    /// input when it is one plain run of text.
    pub(crate) fn text_cow(&mut self, name: &str, empty: bool) -> Result<Cow<'a, str>, ReadError> {
        if empty {
            return Ok(Cow::Borrowed(""));
        }
        let mut out = match self.next()? {
            Ev::End => return Ok(Cow::Borrowed("")),
            Ev::Text(t) | Ev::CData(t) => match self.next()? {
                Ev::End => return Ok(t),
                ev => {
                    let mut s = t.into_owned();
                    self.push_text(&mut s, ev, name)?;
                    s
                }
            },
            ev => {
                let mut s = String::new();
                self.push_text(&mut s, ev, name)?;
                s
            }
        };
        loop {
            match self.next()? {
                Ev::End => return Ok(Cow::Owned(out)),
                ev => self.push_text(&mut out, ev, name)?,
            }
        }
    }

    fn push_text(&self, out: &mut String, ev: Ev<'a>, name: &str) -> Result<(), ReadError> {
        match ev {
            Ev::Text(t) | Ev::CData(t) => out.push_str(&t),
            Ev::Ref(c) => out.push(c),
            Ev::Start(e) | Ev::Empty(e) => {
                return Err(self.err(ReadErrorKind::UnexpectedElement {
                    name: local(&e).to_owned(),
                    parent: name.to_owned(),
                }));
            }
            Ev::Eof => return Err(self.err(ReadErrorKind::Truncated)),
            // Callers consume the end tag themselves.
            Ev::End => {}
        }
        Ok(())
    }

    /// The trimmed text content of a leaf element, borrowed when possible.
    pub(crate) fn trimmed_cow(
        &mut self,
        name: &str,
        empty: bool,
    ) -> Result<Cow<'a, str>, ReadError> {
        let ws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
        Ok(match self.text_cow(name, empty)? {
            Cow::Borrowed(b) => Cow::Borrowed(b.trim_matches(ws)),
            Cow::Owned(s) => {
                let t = s.trim_matches(ws);
                if t.len() == s.len() {
                    Cow::Owned(s)
                } else {
                    Cow::Owned(t.to_owned())
                }
            }
        })
    }

    /// The trimmed text content of a leaf element.
    pub(crate) fn trimmed(&mut self, name: &str, empty: bool) -> Result<String, ReadError> {
        self.trimmed_cow(name, empty).map(Cow::into_owned)
    }

    /// Skips the rest of the current element (its start tag was just read).
    pub(crate) fn skip(&mut self, empty: bool) -> Result<(), ReadError> {
        if empty {
            return Ok(());
        }
        let mut level = 1usize;
        loop {
            match self.next()? {
                Ev::Start(_) => level += 1,
                Ev::End => {
                    level -= 1;
                    if level == 0 {
                        return Ok(());
                    }
                }
                Ev::Eof => return Err(self.err(ReadErrorKind::Truncated)),
                _ => {}
            }
        }
    }

    /// The source text between two offsets.
    pub(crate) fn slice(&self, from: u64, to: u64) -> &'a str {
        let from = from.saturating_sub(self.base) as usize;
        let to = to.saturating_sub(self.base) as usize;
        self.src
            .get(from..to)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

pub(crate) fn is_ws(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Checks that `s` is a well-formed sequence of elements and text (what
/// `<Data>` may hold unescaped).
/// Returns the number of elements.
pub(crate) fn check_fragment(s: &str) -> Result<usize, ReadError> {
    let mut p = Pull::new(s.as_bytes(), usize::MAX, 64)?;
    let mut level = 0usize;
    let mut elements = 0usize;
    loop {
        match p.next()? {
            Ev::Start(_) => {
                level += 1;
                elements += 1;
            }
            Ev::Empty(_) => elements += 1,
            Ev::End => {
                if level == 0 {
                    return Err(p.err(ReadErrorKind::TrailingContent));
                }
                level -= 1;
            }
            Ev::Eof => {
                return if level == 0 {
                    Ok(elements)
                } else {
                    Err(p.err(ReadErrorKind::Truncated))
                };
            }
            _ => {}
        }
    }
}

/// The unescaped value of an attribute, by local name.
pub(crate) fn attr(e: &BytesStart<'_>, name: &str, at: u64) -> Result<Option<String>, ReadError> {
    for a in e.attributes() {
        let a = a.map_err(|err| {
            ReadError::new(at, ReadErrorKind::Syntax(XmlSyntaxError(err.to_string())))
        })?;
        let key: &str = a.key.0;
        let key_local = key.rsplit(':').next().unwrap_or(key);
        if key_local == name && !key.starts_with("xmlns") {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| {
                    ReadError::new(at, ReadErrorKind::Syntax(XmlSyntaxError(err.to_string())))
                })?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// The root element's local name and namespace (declared on the root
/// itself), or `None` when the bytes are not XML with a root element.
///
/// A document type declaration is skipped here (never processed), so that a
/// SyncML message carrying one is recognised and then refused by its reader
/// with a typed error.
pub(crate) fn root_element(input: &[u8]) -> Option<(String, Option<String>)> {
    let src = input.strip_prefix(b"\xef\xbb\xbf").unwrap_or(input);
    let mut reader = Reader::from_reader(src);
    let root = loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) => break e,
            Event::Text(t) if is_ws(&t) => {}
            Event::DocType(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            _ => return None,
        }
    };
    let qname: &str = root.name().0;
    let prefix = qname.rsplit_once(':').map(|(p, _)| p);
    let want = match prefix {
        Some(p) => format!("xmlns:{p}"),
        None => "xmlns".to_owned(),
    };
    let mut ns = None;
    for a in root.attributes().flatten() {
        if a.key.0 == want {
            ns = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned());
        }
    }
    Some((local(&root).to_owned(), ns))
}

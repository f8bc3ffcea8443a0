//! A small DER/BER reader that runs before the typed decoders.
//!
//! It bounds the nesting depth, checks that every length fits inside its
//! parent and the input, and splits constructed values into their raw
//! children. The typed decoders of `der` then only see inputs whose shape is
//! already sound, and the signed attributes are verified over the exact
//! bytes the signer signed (the `der` decoder re-sorts `SET OF` values).

use std::fmt;

/// Why the reader refused its input, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalkError {
    /// Byte offset of the element at fault, from the start of the input.
    pub(crate) offset: usize,
    pub(crate) kind: WalkErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WalkErrorKind {
    /// Constructed values nest deeper than allowed.
    TooDeep { max: usize },
    /// The encoding is broken; the text says how.
    Broken(&'static str),
}

impl fmt::Display for WalkErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkErrorKind::TooDeep { max } => write!(f, "nested deeper than {max} levels"),
            WalkErrorKind::Broken(why) => f.write_str(why),
        }
    }
}

fn broken(offset: usize, why: &'static str) -> WalkError {
    WalkError {
        offset,
        kind: WalkErrorKind::Broken(why),
    }
}

/// One header: identifier octets and length octets.
struct Header {
    /// The first identifier octet (class, constructed bit, low tag number).
    tag: u8,
    /// Number of identifier octets (more than one for high tag numbers).
    id_len: usize,
    constructed: bool,
    /// Header length in bytes.
    len: usize,
    /// Content length; `None` for the BER indefinite form.
    content: Option<usize>,
}

/// Reads the header at `pos`, never past `limit`.
fn header(input: &[u8], pos: usize, limit: usize) -> Result<Header, WalkError> {
    let byte = |i: usize| -> Result<u8, WalkError> {
        if i < limit {
            input
                .get(i)
                .copied()
                .ok_or_else(|| broken(pos, "header runs past the end of the input"))
        } else {
            Err(broken(pos, "header runs past the end of its parent"))
        }
    };
    let tag = byte(pos)?;
    let mut at = pos + 1;
    if tag & 0x1f == 0x1f {
        // High tag number form: up to four continuation octets.
        let mut n = 0;
        loop {
            let b = byte(at)?;
            at += 1;
            n += 1;
            if b & 0x80 == 0 {
                break;
            }
            if n == 4 {
                return Err(broken(pos, "tag number is too large"));
            }
        }
    }
    let id_len = at - pos;
    let first = byte(at)?;
    at += 1;
    let content = match first {
        0..=0x7f => Some(usize::from(first)),
        0x80 => None,
        0x81..=0x84 => {
            let mut len = 0usize;
            for _ in 0..(first & 0x7f) {
                len = (len << 8) | usize::from(byte(at)?);
                at += 1;
            }
            Some(len)
        }
        _ => return Err(broken(pos, "length does not fit in four bytes")),
    };
    Ok(Header {
        tag,
        id_len,
        constructed: tag & 0x20 != 0,
        len: at - pos,
        content,
    })
}

/// What [`scan`] learned about a well-formed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Whether BER indefinite lengths occur (the input is not DER).
    pub(crate) indefinite: bool,
}

struct Frame {
    /// Where a definite-length value ends; `None` until its end-of-contents.
    end: Option<usize>,
    /// The innermost definite end that encloses this frame.
    limit: usize,
}

/// Checks that `input` is exactly one BER element, that no value overruns
/// its parent and that constructed values nest at most `max_depth` deep.
pub(crate) fn scan(input: &[u8], max_depth: usize) -> Result<Scan, WalkError> {
    if input.is_empty() {
        return Err(broken(0, "input is empty"));
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut pos = 0usize;
    let mut indefinite = false;
    let mut started = false;
    loop {
        // Close every value that ends here.
        while let Some(top) = stack.last() {
            match top.end {
                Some(end) if pos == end => {
                    stack.pop();
                }
                None if input.get(pos..pos + 2) == Some(&[0, 0]) && pos + 2 <= top.limit => {
                    pos += 2;
                    stack.pop();
                }
                None if pos >= top.limit => {
                    return Err(broken(
                        pos,
                        "indefinite-length value has no end-of-contents",
                    ));
                }
                _ => break,
            }
        }
        if started && stack.is_empty() {
            break;
        }
        started = true;
        let limit = stack.last().map_or(input.len(), |f| f.limit);
        let h = header(input, pos, limit)?;
        if h.tag == 0 {
            return Err(broken(pos, "unexpected end-of-contents"));
        }
        let start = pos + h.len;
        match h.content {
            Some(len) => {
                let end = start
                    .checked_add(len)
                    .filter(|e| *e <= limit)
                    .ok_or_else(|| broken(pos, "length runs past the end of its parent"))?;
                if h.constructed {
                    stack.push(Frame {
                        end: Some(end),
                        limit: end,
                    });
                    pos = start;
                } else {
                    pos = end;
                }
            }
            None => {
                if !h.constructed {
                    return Err(broken(pos, "primitive value with an indefinite length"));
                }
                indefinite = true;
                stack.push(Frame { end: None, limit });
                pos = start;
            }
        }
        if stack.len() > max_depth {
            return Err(WalkError {
                offset: pos,
                kind: WalkErrorKind::TooDeep { max: max_depth },
            });
        }
    }
    if pos != input.len() {
        return Err(broken(pos, "trailing bytes after the message"));
    }
    Ok(Scan { indefinite })
}

/// Re-encodes a BER input that passed [`scan`] as DER lengths: every
/// indefinite length becomes definite and constructed OCTET STRINGs are
/// joined into primitive ones. `SET OF` order is kept as sent.
pub(crate) fn definite(input: &[u8]) -> Result<Vec<u8>, WalkError> {
    let (out, end) = definite_at(input, 0)?;
    if end != input.len() {
        return Err(broken(end, "trailing bytes after the message"));
    }
    Ok(out)
}

fn definite_at(input: &[u8], pos: usize) -> Result<(Vec<u8>, usize), WalkError> {
    let h = header(input, pos, input.len())?;
    let start = pos + h.len;
    let overrun = || broken(pos, "length runs past the end of the input");
    if !h.constructed {
        let end = start + h.content.ok_or_else(overrun)?;
        let raw = input.get(pos..end).ok_or_else(overrun)?;
        return Ok((raw.to_vec(), end));
    }
    let octets = h.tag == 0x24;
    let mut content = Vec::new();
    let mut p = start;
    loop {
        match h.content {
            Some(len) if p >= start + len => break,
            None if input.get(p..p + 2) == Some(&[0, 0]) => {
                p += 2;
                break;
            }
            _ => {}
        }
        let (child, next) = definite_at(input, p)?;
        if octets {
            let t = Tlv::whole(&child, p)?;
            if t.tag != 0x04 {
                return Err(broken(p, "constructed OCTET STRING holds another type"));
            }
            content.extend_from_slice(t.value);
        } else {
            content.extend_from_slice(&child);
        }
        p = next;
    }
    let mut out = if octets {
        vec![0x04]
    } else {
        input.get(pos..pos + h.id_len).ok_or_else(overrun)?.to_vec()
    };
    push_len(&mut out, content.len());
    out.extend_from_slice(&content);
    Ok((out, p))
}

/// One DER element, borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    /// The first identifier octet.
    pub(crate) tag: u8,
    /// Offset of the element from the start of the whole input.
    pub(crate) offset: usize,
    /// The whole element: header and content.
    pub(crate) raw: &'a [u8],
    /// The content octets.
    pub(crate) value: &'a [u8],
    /// Offset of the content octets from the start of the whole input.
    pub(crate) value_offset: usize,
}

impl<'a> Tlv<'a> {
    /// Reads the single DER element that is all of `input`; `base` is the
    /// offset of `input` within the whole message.
    pub(crate) fn whole(input: &'a [u8], base: usize) -> Result<Self, WalkError> {
        let mut all = Self::children_of(input, base)?;
        match (all.pop(), all.is_empty()) {
            (Some(one), true) => Ok(one),
            (None, _) => Err(broken(base, "no element")),
            (Some(_), false) => Err(broken(base, "more than one element")),
        }
    }

    /// Splits this element's content into its DER children.
    pub(crate) fn children(&self) -> Result<Vec<Tlv<'a>>, WalkError> {
        if self.tag & 0x20 == 0 {
            return Err(broken(self.offset, "a primitive value has no children"));
        }
        Self::children_of(self.value, self.value_offset)
    }

    fn children_of(input: &'a [u8], base: usize) -> Result<Vec<Tlv<'a>>, WalkError> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos < input.len() {
            let h = header(input, pos, input.len()).map_err(|e| WalkError {
                offset: base + e.offset,
                kind: e.kind,
            })?;
            let Some(len) = h.content else {
                return Err(broken(base + pos, "indefinite length in DER"));
            };
            let start = pos + h.len;
            let end = start
                .checked_add(len)
                .filter(|e| *e <= input.len())
                .ok_or_else(|| broken(base + pos, "length runs past the end of its parent"))?;
            let (Some(raw), Some(value)) = (input.get(pos..end), input.get(start..end)) else {
                return Err(broken(base + pos, "length runs past the end of its parent"));
            };
            out.push(Tlv {
                tag: h.tag,
                offset: base + pos,
                raw,
                value,
                value_offset: base + start,
            });
            pos = end;
        }
        Ok(out)
    }
}

/// Appends a DER length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Encodes one DER element from its tag and content octets.
pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    push_len(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

/// Encodes one DER element whose content is the concatenation of `parts`.
pub(crate) fn tlv_of(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_accepts_nested_der_and_reports_ber() {
        // SEQUENCE { SEQUENCE { INTEGER 1 } }
        assert_eq!(
            scan(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01], 8),
            Ok(Scan { indefinite: false })
        );
        // SEQUENCE (indefinite) { INTEGER 1 } EOC
        assert_eq!(
            scan(&[0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00], 8),
            Ok(Scan { indefinite: true })
        );
    }

    #[test]
    fn scan_refuses_overruns_depth_and_trailing_bytes() {
        let overrun = scan(&[0x30, 0x03, 0x02, 0x05, 0x01], 8).unwrap_err();
        assert_eq!(overrun.offset, 2);
        let deep = [0x30, 0x04, 0x30, 0x02, 0x30, 0x00];
        assert!(matches!(
            scan(&deep, 2).unwrap_err().kind,
            WalkErrorKind::TooDeep { max: 2 }
        ));
        assert!(scan(&deep, 3).is_ok());
        assert_eq!(scan(&[0x05, 0x00, 0x00], 4).unwrap_err().offset, 2);
        assert!(scan(&[0x30, 0x80, 0x02, 0x01, 0x01], 4).is_err());
        assert!(scan(&[0x04, 0x80, 0x00, 0x00], 4).is_err());
        assert!(scan(&[0x30, 0x85, 1, 0, 0, 0, 0], 4).is_err());
    }

    #[test]
    fn ber_becomes_definite_with_joined_octet_strings() {
        // SEQUENCE (indefinite) { OCTET STRING (constructed, indefinite)
        //   { "ab" "c" } EOC, [0] (indefinite) { NULL } EOC } EOC
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0xa0,
            0x80, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        assert!(scan(&ber, 8).unwrap().indefinite);
        let der = definite(&ber).unwrap();
        assert_eq!(
            der,
            [
                0x30, 0x09, 0x04, 0x03, b'a', b'b', b'c', 0xa0, 0x02, 0x05, 0x00
            ]
        );
        assert!(!scan(&der, 8).unwrap().indefinite);
    }

    #[test]
    fn lengths_round_trip_through_the_writer() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![7u8; len];
            let der = tlv(0x04, &value);
            let t = Tlv::whole(&der, 0).unwrap();
            assert_eq!(t.value.len(), len);
            assert_eq!(t.tag, 0x04);
        }
    }
}

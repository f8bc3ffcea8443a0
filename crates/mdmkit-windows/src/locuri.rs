//! `LocURI`: the address of a node in the device's management tree (or, in
//! a message header, of the server and the device).
//!
//! A [`LocUri`] keeps the text exactly as it was sent, so a message
//! round-trips, and offers the checks a server needs:
//!
//! - [`LocUri::check_node`]: Windows refuses a node URI that starts with `/`,
//!   has empty segments or a segment of `*` or `..`.
//! - [`LocUri::normalized`]: one spelling for one node. Windows accepts
//!   `Vendor/MSFT/X`, `./Vendor/MSFT/X` and `./Device/Vendor/MSFT/X` for the
//!   same device-scoped node, and treats the `./Device` and `./User` prefixes
//!   case-insensitively; a server that checks reserved URIs on the raw text
//!   is bypassed by the other spellings (see the field notes). Comparisons
//!   ([`LocUri::is_within`]) go through the normalised form and ignore ASCII
//!   case.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

use crate::error::LocUriError;

/// The longest `LocURI` accepted, in bytes.
pub const MAX_LOC_URI_LEN: usize = 4096;

/// A `LocURI`, kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct LocUri(String);

/// The scope a node URI addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NodeScope {
    /// The device (`./Device/...`, `./Vendor/...`, or no prefix at all).
    Device,
    /// The enrolled user (`./User/...`).
    User,
}

impl LocUri {
    /// Wraps any text as a `LocURI` without checks (message headers carry
    /// server URLs and device ids here). Use [`LocUri::node`] for tree
    /// addresses a server is about to send.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// A management-tree address, checked with [`LocUri::check_node`].
    pub fn node(s: impl Into<String>) -> Result<Self, LocUriError> {
        let uri = Self(s.into());
        uri.check_node()?;
        Ok(uri)
    }

    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks the rules Windows applies to a node address: not empty, at
    /// most [`MAX_LOC_URI_LEN`] bytes, not starting with `/`, no empty
    /// segment, no segment that is `*` or `..`.
    pub fn check_node(&self) -> Result<(), LocUriError> {
        let s = self.path();
        if s.is_empty() {
            return Err(LocUriError::Empty);
        }
        if self.0.len() > MAX_LOC_URI_LEN {
            return Err(LocUriError::TooLong {
                len: self.0.len(),
                max: MAX_LOC_URI_LEN,
            });
        }
        if s.starts_with('/') {
            return Err(LocUriError::LeadingSlash {
                uri: self.0.clone(),
            });
        }
        let rest = s.strip_prefix("./").unwrap_or(s);
        if s == "." {
            return Ok(());
        }
        let mut offset = s.len() - rest.len();
        for seg in rest.trim_end_matches('/').split('/') {
            if seg.is_empty() || seg == "*" || seg == ".." || (seg == "." && offset > 0) {
                return Err(LocUriError::BadSegment {
                    uri: self.0.clone(),
                    segment: seg.to_owned(),
                    offset,
                });
            }
            offset += seg.len() + 1;
        }
        Ok(())
    }

    /// The path without a `?list=...` style query.
    fn path(&self) -> &str {
        match self.0.find('?') {
            Some(i) => &self.0[..i],
            None => &self.0,
        }
    }

    /// The query (`list=Struct`) if any.
    pub fn query(&self) -> Option<&str> {
        self.0.find('?').map(|i| &self.0[i + 1..])
    }

    /// Whether the text carries a URI scheme (`https://...`, `urn:...`):
    /// a header address, not a tree node.
    pub fn is_absolute(&self) -> bool {
        let s = self.as_str();
        match s.find(':') {
            Some(i) => {
                i > 0
                    && s[..i]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                    && !s[..i].contains('/')
            }
            None => false,
        }
    }

    /// The scope of a node address.
    pub fn scope(&self) -> NodeScope {
        let n = self.normalized();
        if starts_with_segment_ci(&n, "./User") {
            NodeScope::User
        } else {
            NodeScope::Device
        }
    }

    /// One spelling per node: a `./` prefix added when missing, `./Device/`
    /// folded to `./`, `./user` spelled `./User`, the query and trailing
    /// slashes removed. Segment case is otherwise kept (compare with
    /// [`LocUri::same_node`] or [`LocUri::is_within`], which ignore ASCII
    /// case).
    pub fn normalized(&self) -> Cow<'_, str> {
        normalize(self.path())
    }

    /// Whether two URIs name the same node.
    pub fn same_node(&self, other: &LocUri) -> bool {
        self.normalized().eq_ignore_ascii_case(&other.normalized())
    }

    /// Whether this URI is `prefix` or below it, whatever the spelling of
    /// either: the check to use for reserved subtrees.
    pub fn is_within(&self, prefix: &str) -> bool {
        let me = self.normalized();
        let p = normalize(prefix.split('?').next().unwrap_or(prefix));
        starts_with_segment_ci(&me, &p)
    }
}

fn starts_with_segment_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
        && (s.len() == prefix.len() || s.as_bytes()[prefix.len()] == b'/' || prefix.ends_with('/'))
}

fn normalize(path: &str) -> Cow<'_, str> {
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() && !path.is_empty() {
        "."
    } else {
        trimmed
    };
    let body = if let Some(rest) = trimmed.strip_prefix("./") {
        rest
    } else if trimmed == "." {
        ""
    } else {
        trimmed
    };
    let body = body.trim_start_matches('/');
    let mut body = body;
    // `./Device/Device/x` is folded all the way: for reserved-URI checks,
    // matching too much is the safe side.
    while let Some(rest) = strip_segment_ci(body, "Device") {
        body = rest.trim_start_matches('/');
    }
    let mut out = String::with_capacity(body.len() + 2);
    out.push('.');
    if let Some(rest) = strip_segment_ci(body, "User") {
        out.push_str("/User");
        if !rest.is_empty() {
            out.push('/');
            out.push_str(rest);
        }
    } else if !body.is_empty() {
        out.push('/');
        out.push_str(body);
    }
    if out == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(out)
    }
}

fn strip_segment_ci<'a>(s: &'a str, seg: &str) -> Option<&'a str> {
    if s.len() >= seg.len()
        && s.is_char_boundary(seg.len())
        && s[..seg.len()].eq_ignore_ascii_case(seg)
    {
        let rest = &s[seg.len()..];
        if rest.is_empty() {
            return Some(rest);
        }
        return rest.strip_prefix('/');
    }
    None
}

impl fmt::Display for LocUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for LocUri {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for LocUri {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_reserved_node_is_caught() {
        let reserved = "./Vendor/MSFT/DMClient";
        for s in [
            "./Vendor/MSFT/DMClient/Provider/X",
            "Vendor/MSFT/DMClient",
            "./Device/Vendor/MSFT/DMClient/Provider",
            "./device/vendor/msft/dmclient",
            "./Vendor/MSFT/DMClient/?list=Struct",
        ] {
            assert!(LocUri::new(s).is_within(reserved), "{s}");
        }
        assert!(!LocUri::new("./Vendor/MSFT/DMClientX").is_within(reserved));
        assert!(!LocUri::new("./User/Vendor/MSFT/DMClient").is_within(reserved));
        assert!(LocUri::new("./user/Vendor/MSFT/Policy").is_within("./User/Vendor/MSFT"));
        assert_eq!(
            LocUri::new("./user/Vendor/MSFT/Policy").scope(),
            NodeScope::User
        );
        assert_eq!(LocUri::new("Vendor/MSFT/Policy").scope(), NodeScope::Device);
    }

    #[test]
    fn a_node_uri_may_not_start_with_a_slash() {
        assert!(matches!(
            LocUri::node("/Vendor/MSFT/Policy"),
            Err(LocUriError::LeadingSlash { .. })
        ));
        assert!(matches!(
            LocUri::node("./Vendor//MSFT"),
            Err(LocUriError::BadSegment { offset: 9, .. })
        ));
        assert!(matches!(
            LocUri::node("./a/*"),
            Err(LocUriError::BadSegment { .. })
        ));
        assert!(matches!(
            LocUri::node("./a/../b"),
            Err(LocUriError::BadSegment { .. })
        ));
        assert!(LocUri::node("./DevInfo/DevId").is_ok());
        assert!(LocUri::node("./Vendor/MSFT/Policy/Config/").is_ok());
        assert!(LocUri::node("./Vendor/MSFT/a.b?list=Struct").is_ok());
        assert!(LocUri::node(".").is_ok());
    }

    #[test]
    fn normalisation_is_one_spelling_per_node() {
        assert_eq!(LocUri::new("Vendor/MSFT/X").normalized(), "./Vendor/MSFT/X");
        assert_eq!(
            LocUri::new("./Device/Vendor/MSFT/X/").normalized(),
            "./Vendor/MSFT/X"
        );
        assert_eq!(LocUri::new("./user/Vendor").normalized(), "./User/Vendor");
        assert_eq!(
            LocUri::new("./DevInfo/DevId").normalized(),
            "./DevInfo/DevId"
        );
        assert!(LocUri::new("https://mdm.example/x").is_absolute());
        assert!(!LocUri::new("./Vendor/MSFT:X").is_absolute());
    }
}

//! Who may sign policy layers, and where: the `[[author]]` entries of a
//! tree file and the tenant's `require_signatures` switch.
//!
//! This crate only records the facts (a key id, its Ed25519 public key, the
//! node its grant starts at, and what it may do there); the cryptography
//! lives in the facade (`mdmkit::signing`), so that the policy model does
//! not depend on the identity crate. A grant at a node covers that node and
//! every node below it.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AuthorKeyId, NodeId};

/// What a key may do at the node of its grant and below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Grant {
    /// Sign policies assigned there.
    Author,
    /// Sign policies that lock settings (`[policy] locks`) there. A lock
    /// grant needs the author grant as well.
    Lock,
}

impl Grant {
    /// The lower-case name used in tree files.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Author => "author",
            Grant::Lock => "lock",
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The length of an Ed25519 public key, in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;

/// One `[[author]]` entry: a signing key and what it may do from one node
/// down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Author {
    /// The key id, as found in the signature envelopes.
    pub key: AuthorKeyId,
    /// The Ed25519 public key (32 bytes).
    #[serde(serialize_with = "hex_bytes")]
    pub public_key: [u8; PUBLIC_KEY_LEN],
    /// The node the grant starts at; it covers the node's subtree.
    pub node: NodeId,
    /// What the key may do there.
    pub grants: BTreeSet<Grant>,
    /// Who holds the key (`Rectorat, pôle numérique`), for display.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8; PUBLIC_KEY_LEN], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&to_hex(bytes))
}

impl Author {
    /// A key that may author (not lock) at `node` and below.
    pub fn new(key: AuthorKeyId, public_key: [u8; PUBLIC_KEY_LEN], node: NodeId) -> Self {
        Self {
            key,
            public_key,
            node,
            grants: BTreeSet::from([Grant::Author]),
            name: None,
        }
    }

    /// The same author with one more grant.
    #[must_use]
    pub fn with_grant(mut self, grant: Grant) -> Self {
        self.grants.insert(grant);
        self
    }

    /// The same author with a display name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether the entry holds `grant`.
    pub fn may(&self, grant: Grant) -> bool {
        self.grants.contains(&grant)
    }

    /// The public key in lower-case hex.
    pub fn public_key_hex(&self) -> String {
        to_hex(&self.public_key)
    }
}

/// Why a public key text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublicKeyError {
    /// A character is not a hex digit.
    #[error("public key has the non-hex character {ch:?} at byte {offset}")]
    NotHex {
        /// The character.
        ch: char,
        /// Its byte offset.
        offset: usize,
    },
    /// The key does not have 64 hex digits (32 bytes).
    #[error("public key has {len} hex digits, expected 64 (32 bytes)")]
    Length {
        /// How many digits it has.
        len: usize,
    },
}

/// Parses an Ed25519 public key written as 64 hex digits (either case).
pub fn parse_public_key_hex(s: &str) -> Result<[u8; PUBLIC_KEY_LEN], PublicKeyError> {
    if let Some((offset, ch)) = s.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(PublicKeyError::NotHex { ch, offset });
    }
    if s.len() != 2 * PUBLIC_KEY_LEN {
        return Err(PublicKeyError::Length { len: s.len() });
    }
    let mut out = [0u8; PUBLIC_KEY_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = &s[2 * i..2 * i + 2];
        *byte =
            u8::from_str_radix(pair, 16).map_err(|_| PublicKeyError::Length { len: s.len() })?;
    }
    Ok(out)
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_are_64_hex_digits() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_public_key_hex(&hex).unwrap(), [0xab; 32]);
        assert_eq!(parse_public_key_hex(&"AB".repeat(32)).unwrap(), [0xab; 32]);
        assert_eq!(
            parse_public_key_hex("abcd"),
            Err(PublicKeyError::Length { len: 4 })
        );
        assert_eq!(
            parse_public_key_hex("zz"),
            Err(PublicKeyError::NotHex { ch: 'z', offset: 0 })
        );
        assert!(matches!(
            parse_public_key_hex("é".repeat(32).as_str()),
            Err(PublicKeyError::NotHex { .. })
        ));
    }
}

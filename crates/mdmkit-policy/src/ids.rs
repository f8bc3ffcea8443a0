//! Identifier newtypes of the policy crate: policies and scope-tree nodes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a string is not a valid policy or node identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The identifier was empty.
    #[error("{kind} is empty")]
    Empty {
        /// Which identifier (`policy id`, `node id`).
        kind: &'static str,
    },
    /// The identifier was longer than allowed.
    #[error("{kind} is {len} bytes long, at most {max} are allowed")]
    TooLong {
        /// Which identifier.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The identifier contained a character outside `[A-Za-z0-9._-]`.
    #[error(
        "{kind} has the character {ch:?} at byte {offset}; allowed are ASCII letters, digits, '-', '_' and '.'"
    )]
    BadChar {
        /// Which identifier.
        kind: &'static str,
        /// The offending character.
        ch: char,
        /// Its byte offset.
        offset: usize,
    },
}

fn validate(kind: &'static str, s: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if s.len() > max {
        return Err(IdError::TooLong {
            kind,
            len: s.len(),
            max,
        });
    }
    if let Some((offset, ch)) = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(IdError::BadChar { kind, ch, offset });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The longest accepted identifier, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Validates and wraps an identifier.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                validate($kind, &s, $max)?;
                Ok(Self(s))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": "^[A-Za-z0-9._-]+$",
                    "minLength": 1,
                    "maxLength": $max,
                })
            }
        }
    };
}

id_type!(
    /// The name of a policy document, unique within a tenant: the `id` of
    /// its `[policy]` table, or its file name without extension.
    ///
    /// 1 to 64 bytes of ASCII letters, digits, `-`, `_` and `.`.
    PolicyId,
    "policy id",
    64
);

id_type!(
    /// The name of a node of the scope tree (a region, a group of towns, a
    /// town, a school, a class...), unique within a tenant.
    ///
    /// 1 to 128 bytes of ASCII letters, digits, `-`, `_` and `.`; the
    /// display name of a node is free text and lives beside it.
    NodeId,
    "node id",
    128
);

id_type!(
    /// The name of a key that may sign policy layers, as declared by an
    /// `[[author]]` entry of the tree file. It is the key id of the signed
    /// envelopes (`mdmkit-identity`), with the same alphabet.
    ///
    /// 1 to 64 bytes of ASCII letters, digits, `-`, `_` and `.`.
    AuthorKeyId,
    "key id",
    64
);

impl NodeId {
    /// The root node's id: the tenant id (tenant ids use the same alphabet
    /// and are shorter, so every tenant id is a valid node id).
    pub fn from_tenant(tenant: &mdmkit_core::TenantId) -> NodeId {
        NodeId(tenant.as_str().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_spaces_and_accept_slugs() {
        assert!(PolicyId::new("securite-socle").is_ok());
        assert!(matches!(
            NodeId::new("ecole jules"),
            Err(IdError::BadChar {
                ch: ' ',
                offset: 5,
                ..
            })
        ));
        assert!(matches!(PolicyId::new(""), Err(IdError::Empty { .. })));
        assert!(matches!(
            PolicyId::new("a".repeat(65)),
            Err(IdError::TooLong { len: 65, .. })
        ));
    }
}

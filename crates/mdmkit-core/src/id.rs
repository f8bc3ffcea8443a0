//! Validated identifier newtypes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The identifier was empty.
    #[error("{kind} is empty")]
    Empty {
        /// Which identifier (`tenant id`, `device id`).
        kind: &'static str,
    },
    /// The identifier was longer than allowed.
    #[error("{kind} is {len} bytes long, at most {max} are allowed")]
    TooLong {
        /// Which identifier.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The maximum length in bytes.
        max: usize,
    },
    /// The identifier contained a character outside its alphabet.
    #[error("{kind} has the character {ch:?} at byte {offset}; allowed are {allowed}")]
    BadChar {
        /// Which identifier.
        kind: &'static str,
        /// The offending character.
        ch: char,
        /// Its byte offset.
        offset: usize,
        /// A human description of the allowed alphabet.
        allowed: &'static str,
    },
}

fn validate(
    kind: &'static str,
    s: &str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), IdError> {
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
    if let Some((offset, ch)) = s.char_indices().find(|&(_, c)| !ok(c)) {
        return Err(IdError::BadChar {
            kind,
            ch,
            offset,
            allowed,
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $allowed:literal, $ok:expr) => {
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
                validate($kind, &s, $max, $allowed, $ok)?;
                Ok(Self(s))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps the identifier into its string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
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
    };
}

id_type!(
    /// A tenant: one customer of a hosted deployment (a region, a town, a
    /// school board). Every key, certificate and queue row is scoped by it.
    ///
    /// 1 to 64 bytes of ASCII letters, digits, `-`, `_` and `.`, so it can be
    /// embedded in URNs, file names and SQL keys as it is. Tenant ids are
    /// case-sensitive.
    TenantId,
    "tenant id",
    64,
    "ASCII letters, digits, '-', '_' and '.'",
    |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
);

id_type!(
    /// A managed device, as the operator names it: an Apple UDID or
    /// EnrollmentID, a Windows DeviceID, an Android device resource name, or
    /// an inventory tag.
    ///
    /// 1 to 255 bytes of ASCII letters, digits and `-._~:@/+=`: every
    /// character is legal unescaped in a URI path, which is how device ids are
    /// bound into certificates (see `mdmkit-identity`).
    DeviceId,
    "device id",
    255,
    "ASCII letters, digits and '-', '_', '.', '~', ':', '@', '/', '+', '='",
    |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | ':' | '@' | '/' | '+' | '=')
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_empty_long_and_foreign_characters() {
        assert_eq!(TenantId::new(""), Err(IdError::Empty { kind: "tenant id" }));
        assert!(matches!(
            TenantId::new("a".repeat(65)),
            Err(IdError::TooLong { len: 65, .. })
        ));
        assert!(matches!(
            TenantId::new("town:a"),
            Err(IdError::BadChar {
                ch: ':',
                offset: 4,
                ..
            })
        ));
        assert!(DeviceId::new("enterprises/LC0/devices/3a1b").is_ok());
        assert!(matches!(
            DeviceId::new("a b"),
            Err(IdError::BadChar { ch: ' ', .. })
        ));
        assert!(matches!(
            DeviceId::new("é"),
            Err(IdError::BadChar {
                ch: 'é',
                offset: 0,
                ..
            })
        ));
    }

    #[test]
    fn serde_validates_on_the_way_in() {
        let ok: TenantId = serde_json::from_str("\"school-7\"").unwrap();
        assert_eq!(ok.as_str(), "school-7");
        assert!(serde_json::from_str::<TenantId>("\"school 7\"").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"school-7\"");
    }

    proptest! {
        #[test]
        fn valid_ids_round_trip_through_display_and_json(s in "[A-Za-z0-9._~:@/+=-]{1,255}") {
            let id = DeviceId::new(s.clone()).unwrap();
            prop_assert_eq!(id.to_string(), s.clone());
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<DeviceId>(&json).unwrap(), id);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = TenantId::new(s.clone());
            let _ = DeviceId::new(s);
        }
    }
}

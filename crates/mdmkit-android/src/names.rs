//! Resource names: `enterprises/{e}`, `enterprises/{e}/policies/{p}`,
//! `enterprises/{e}/devices/{d}`, `enterprises/{e}/devices/{d}/operations/{o}`
//! and `enterprises/{e}/enrollmentTokens/{t}`.
//!
//! Names are validated once so that they can be put into a request path
//! without escaping: each segment is 1 to 128 bytes of ASCII letters, digits,
//! `-`, `_` and `.`.

use std::fmt;

use crate::Error;

const MAX_SEGMENT: usize = 128;

fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SEGMENT
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Splits `name` into segments and checks they follow `shape`, where `*`
/// stands for an identifier segment.
fn matches_shape<'a>(name: &'a str, shape: &[&str]) -> Option<Vec<&'a str>> {
    let parts: Vec<&str> = name.split('/').collect();
    if parts.len() != shape.len() {
        return None;
    }
    let mut ids = Vec::new();
    for (part, want) in parts.iter().zip(shape) {
        if *want == "*" {
            if !segment_ok(part) {
                return None;
            }
            ids.push(*part);
        } else if part != want {
            return None;
        }
    }
    Some(ids)
}

macro_rules! resource_name {
    ($(#[$doc:meta])* $name:ident, $kind:literal, [$($shape:literal),*], $expected:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            const SHAPE: &'static [&'static str] = &[$($shape),*];

            /// Validates a full resource name.
            pub fn parse(name: impl Into<String>) -> Result<Self, Error> {
                let name = name.into();
                if matches_shape(&name, Self::SHAPE).is_some() {
                    Ok(Self(name))
                } else {
                    Err(Error::InvalidName { kind: $kind, name, expected: $expected })
                }
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The identifier segments, outermost first (enterprise id first).
            pub fn ids(&self) -> Vec<&str> {
                matches_shape(&self.0, Self::SHAPE).unwrap_or_default()
            }

            /// The last identifier segment (`d1` of `enterprises/e/devices/d1`).
            pub fn id(&self) -> &str {
                self.0.rsplit('/').next().unwrap_or(&self.0)
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

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::parse(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

resource_name!(
    /// `enterprises/{enterpriseId}`: one managed Google Play enterprise (in a
    /// hosted deployment typically one per tenant).
    EnterpriseName, "enterprise", ["enterprises", "*"], "enterprises/{enterpriseId}"
);
resource_name!(
    /// `enterprises/{enterpriseId}/policies/{policyId}`.
    PolicyName, "policy", ["enterprises", "*", "policies", "*"],
    "enterprises/{enterpriseId}/policies/{policyId}"
);
resource_name!(
    /// `enterprises/{enterpriseId}/devices/{deviceId}`.
    DeviceName, "device", ["enterprises", "*", "devices", "*"],
    "enterprises/{enterpriseId}/devices/{deviceId}"
);
resource_name!(
    /// `enterprises/{enterpriseId}/devices/{deviceId}/operations/{operationId}`.
    OperationName, "operation", ["enterprises", "*", "devices", "*", "operations", "*"],
    "enterprises/{enterpriseId}/devices/{deviceId}/operations/{operationId}"
);
resource_name!(
    /// `enterprises/{enterpriseId}/enrollmentTokens/{tokenId}`.
    EnrollmentTokenName, "enrollment token", ["enterprises", "*", "enrollmentTokens", "*"],
    "enterprises/{enterpriseId}/enrollmentTokens/{tokenId}"
);

impl EnterpriseName {
    /// The name of a policy of this enterprise.
    pub fn policy(&self, policy_id: &str) -> Result<PolicyName, Error> {
        PolicyName::parse(format!("{}/policies/{policy_id}", self.0))
    }

    /// The name of a device of this enterprise.
    pub fn device(&self, device_id: &str) -> Result<DeviceName, Error> {
        DeviceName::parse(format!("{}/devices/{device_id}", self.0))
    }
}

impl PolicyName {
    /// The enterprise the policy belongs to.
    pub fn enterprise(&self) -> EnterpriseName {
        EnterpriseName(parent(&self.0, 2))
    }
}

impl DeviceName {
    /// The enterprise the device belongs to.
    pub fn enterprise(&self) -> EnterpriseName {
        EnterpriseName(parent(&self.0, 2))
    }

    /// The device as mdmkit's vendor-neutral identifier (the full resource
    /// name, which is unique across enterprises).
    pub fn device_id(&self) -> Result<mdmkit_core::DeviceId, mdmkit_core::IdError> {
        mdmkit_core::DeviceId::new(self.0.clone())
    }
}

impl OperationName {
    /// The device the operation runs on.
    pub fn device(&self) -> DeviceName {
        DeviceName(parent(&self.0, 2))
    }
}

/// Drops the last `n` segments of a validated name.
fn parent(name: &str, n: usize) -> String {
    let mut end = name.len();
    for _ in 0..n {
        end = name[..end].rfind('/').unwrap_or(0);
    }
    name[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_validate_their_shape_and_know_their_parents() {
        let op = OperationName::parse("enterprises/LC01/devices/3a1b/operations/99").unwrap();
        assert_eq!(op.device().as_str(), "enterprises/LC01/devices/3a1b");
        assert_eq!(op.device().enterprise().as_str(), "enterprises/LC01");
        assert_eq!(op.ids(), vec!["LC01", "3a1b", "99"]);
        assert_eq!(op.id(), "99");
        assert!(DeviceName::parse("enterprises/LC01/policies/p").is_err());
        assert!(DeviceName::parse("enterprises/LC01/devices/a/b").is_err());
        assert!(DeviceName::parse("enterprises/LC01/devices/a b").is_err());
        assert!(DeviceName::parse("enterprises//devices/x").is_err());
        let e = EnterpriseName::parse("enterprises/LC01").unwrap();
        assert_eq!(
            e.policy("kiosk").unwrap().as_str(),
            "enterprises/LC01/policies/kiosk"
        );
        assert!(e.device("../x").is_err());
    }

    #[test]
    fn device_names_are_valid_mdmkit_device_ids() {
        let d = DeviceName::parse("enterprises/LC01/devices/3a1b").unwrap();
        assert_eq!(
            d.device_id().unwrap().as_str(),
            "enterprises/LC01/devices/3a1b"
        );
    }
}

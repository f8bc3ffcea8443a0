//! The URN scheme that binds tenants and devices into certificates.
//!
//! - a device certificate carries the URI SAN `urn:mdmkit:{tenant}:device:{device}`;
//! - a tenant CA (root or intermediate) carries `urn:mdmkit:{tenant}:ca`.
//!
//! Tenant ids never contain `:` and every device id character is legal
//! unescaped in a URI, so the URN splits unambiguously: the tenant runs to
//! the third `:`, the device id is everything after `:device:`.

use mdmkit_core::{DeviceId, TenantId};

/// The prefix of every mdmkit URN; reserved, never copied from a request.
pub const URN_PREFIX: &str = "urn:mdmkit:";

/// The URN that binds `device` of `tenant` into its certificate.
pub fn device_urn(tenant: &TenantId, device: &DeviceId) -> String {
    format!("{URN_PREFIX}{tenant}:device:{device}")
}

/// The URN that binds a CA certificate to `tenant`.
pub fn ca_urn(tenant: &TenantId) -> String {
    format!("{URN_PREFIX}{tenant}:ca")
}

/// What an mdmkit URN names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Urn {
    /// A tenant CA.
    Ca(TenantId),
    /// A device of a tenant.
    Device(TenantId, DeviceId),
}

/// Parses an mdmkit URN; `None` if `uri` is not one (or is malformed).
pub fn parse_urn(uri: &str) -> Option<Urn> {
    let rest = uri.strip_prefix(URN_PREFIX)?;
    let (tenant, rest) = rest.split_once(':')?;
    let tenant = TenantId::new(tenant).ok()?;
    if rest == "ca" {
        return Some(Urn::Ca(tenant));
    }
    let device = DeviceId::new(rest.strip_prefix("device:")?).ok()?;
    Some(Urn::Device(tenant, device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn device_ids_with_colons_and_slashes_split_unambiguously() {
        let t = TenantId::new("town-7").unwrap();
        let d = DeviceId::new("enterprises/LC0/devices:3a").unwrap();
        assert_eq!(
            device_urn(&t, &d),
            "urn:mdmkit:town-7:device:enterprises/LC0/devices:3a"
        );
        assert_eq!(
            parse_urn(&device_urn(&t, &d)),
            Some(Urn::Device(t.clone(), d))
        );
        assert_eq!(parse_urn(&ca_urn(&t)), Some(Urn::Ca(t)));
        assert_eq!(parse_urn("urn:mdmkit:t:user:x"), None);
        assert_eq!(parse_urn("urn:other:t:ca"), None);
    }

    proptest! {
        #[test]
        fn device_urns_round_trip(t in "[A-Za-z0-9._-]{1,64}", d in "[A-Za-z0-9._~:@/+=-]{1,255}") {
            let t = TenantId::new(t).unwrap();
            let d = DeviceId::new(d).unwrap();
            prop_assert_eq!(parse_urn(&device_urn(&t, &d)), Some(Urn::Device(t, d)));
        }
    }
}

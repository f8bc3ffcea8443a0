//! Fuzz target bodies for mdmkit-core.

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[Target {
    name: "core_ids",
    body: ids,
}];

/// Identifiers parsed from arbitrary text are either rejected or displayed
/// back unchanged.
pub fn ids(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = mdmkit_core::TenantId::new(s) {
        assert_eq!(t.as_str(), s);
    }
    if let Ok(d) = mdmkit_core::DeviceId::new(s) {
        assert_eq!(d.to_string(), s);
    }
}

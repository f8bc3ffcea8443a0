//! Fuzz target bodies for mdmkit-policy.

use mdmkit_policy::{Format, Policy, SettingPath};

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[
    Target {
        name: "policy_document",
        body: document,
    },
    Target {
        name: "policy_path",
        body: path,
    },
];

/// A policy document, read as TOML and as JSON: never a panic, and an
/// accepted document survives a round trip through both formats unchanged.
pub fn document(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in [Format::Toml, Format::Json] {
        let Ok(policy) = Policy::parse(text, format) else {
            continue;
        };
        let json = policy.to_json();
        let again = Policy::from_json(&json);
        assert_eq!(
            again.as_ref().ok(),
            Some(&policy),
            "json round trip: {json}"
        );
        // TOML has no null; a policy holding one cannot be written as TOML.
        if let Ok(toml) = policy.to_toml() {
            let again = Policy::from_toml(&toml);
            assert_eq!(
                again.as_ref().ok(),
                Some(&policy),
                "toml round trip: {toml}"
            );
        }
        // Diffing a policy with itself finds nothing.
        assert!(mdmkit_policy::diff(&policy.settings, &policy.settings).is_empty());
    }
}

/// A setting path: never a panic, and an accepted path prints back to a
/// path that parses to the same value.
pub fn path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = text.parse::<SettingPath>() {
        let shown = p.to_string();
        assert_eq!(shown.parse::<SettingPath>().ok(), Some(p), "{shown}");
    }
}

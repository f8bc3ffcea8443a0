//! Fuzz target bodies for mdmkit-apple: everything a device sends and every
//! profile an admin loads.

use mdmkit_apple::{Checkin, CommandReport, Format, Limits, Profile, SignedProfile};

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[
    Target {
        name: "apple_checkin",
        body: checkin,
    },
    Target {
        name: "apple_command_response",
        body: command_response,
    },
    Target {
        name: "apple_profile",
        body: profile,
    },
    Target {
        name: "apple_signed_profile",
        body: signed_profile,
    },
];

/// Small limits so the fuzzer explores structure, not size.
const LIMITS: Limits = Limits::DEFAULT
    .with_max_bytes(1 << 20)
    .with_max_depth(32)
    .with_max_values(20_000);

/// A check-in message is rejected or re-encodes (XML and binary) to a
/// message that parses to the same value.
pub fn checkin(data: &[u8]) {
    if let Ok(c) = Checkin::from_bytes(data, &LIMITS) {
        for f in [Format::Xml, Format::Binary] {
            let again = Checkin::from_bytes(&c.to_bytes(f), &Limits::DEFAULT);
            assert_eq!(again.ok().as_ref(), Some(&c));
        }
    }
}

/// A command report is rejected or re-encodes to the same report; typing
/// its result by any request type never panics.
pub fn command_response(data: &[u8]) {
    if let Ok(r) = CommandReport::from_bytes(data, &LIMITS) {
        let again = CommandReport::from_bytes(&r.to_bytes(Format::Xml), &Limits::DEFAULT);
        assert_eq!(again.ok().as_ref(), Some(&r));
        for t in ["DeviceInformation", "ProfileList", "InstalledApplicationList", "SecurityInfo"] {
            let _ = r.typed_result(t);
        }
    }
}

/// A profile is rejected or validates without panicking and re-encodes to
/// the same profile.
pub fn profile(data: &[u8]) {
    if let Ok(p) = Profile::from_bytes(data, &LIMITS) {
        let _ = p.validate();
        let again = Profile::from_bytes(&p.to_bytes(Format::Binary), &Limits::DEFAULT);
        assert_eq!(again.ok().as_ref(), Some(&p));
    }
}

/// Signed-profile unwrapping never panics.
pub fn signed_profile(data: &[u8]) {
    if let Ok(s) = SignedProfile::from_bytes(data, &LIMITS) {
        assert!(!s.signer_certificate.is_empty());
    }
}

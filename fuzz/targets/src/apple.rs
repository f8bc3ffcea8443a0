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
    Target {
        name: "apple_ddm_status",
        body: ddm_status,
    },
    Target {
        name: "apple_inspect",
        body: inspect,
    },
];

/// Small limits so the fuzzer explores structure, not size.
const LIMITS: Limits = Limits::DEFAULT
    .with_max_bytes(1 << 20)
    .with_max_depth(32)
    .with_max_values(20_000);

/// A check-in message is rejected or its encoding is stable: parsing what
/// was written and writing it again gives the same bytes (XML and binary).
/// Bytes, not values, are compared so a NaN real does not fail the law.
pub fn checkin(data: &[u8]) {
    if let Ok(c) = Checkin::from_bytes(data, &LIMITS) {
        for f in [Format::Xml, Format::Binary] {
            let bytes = c.to_bytes(f);
            let again = Checkin::from_bytes(&bytes, &Limits::DEFAULT).map(|a| a.to_bytes(f));
            assert_eq!(again.ok(), Some(bytes));
        }
    }
}

/// A command report is rejected or its encoding is stable; typing its
/// result by any request type never panics.
pub fn command_response(data: &[u8]) {
    if let Ok(r) = CommandReport::from_bytes(data, &LIMITS) {
        let bytes = r.to_bytes(Format::Xml);
        let again =
            CommandReport::from_bytes(&bytes, &Limits::DEFAULT).map(|a| a.to_bytes(Format::Xml));
        assert_eq!(again.ok(), Some(bytes));
        for t in [
            "DeviceInformation",
            "ProfileList",
            "InstalledApplicationList",
            "SecurityInfo",
        ] {
            let _ = r.typed_result(t);
        }
    }
}

/// A profile is rejected or validates without panicking and its encoding
/// is stable.
pub fn profile(data: &[u8]) {
    if let Ok(p) = Profile::from_bytes(data, &LIMITS) {
        let _ = p.validate();
        let bytes = p.to_bytes(Format::Binary);
        let again =
            Profile::from_bytes(&bytes, &Limits::DEFAULT).map(|a| a.to_bytes(Format::Binary));
        assert_eq!(again.ok(), Some(bytes));
    }
}

/// Signed-profile unwrapping never panics.
pub fn signed_profile(data: &[u8]) {
    if let Ok(s) = SignedProfile::from_bytes(data, &LIMITS) {
        assert!(!s.signer_certificate.is_empty());
    }
}

/// A declarative status report (the JSON a device sends to the `status`
/// endpoint) is rejected or its encoding is stable once written: parsing
/// what was written and writing it again gives the same bytes. Looking up
/// typed items and comparing with a declaration set never panics.
pub fn ddm_status(data: &[u8]) {
    use mdmkit_apple::declarative::{DeclarationSet, StatusReport};
    use mdmkit_apple::generated::status::{
        ManagementClientCapabilitiesStatus, PasscodeIsCompliantStatus,
    };
    if let Ok(r) = StatusReport::from_json(data, &LIMITS) {
        let bytes = r.to_json();
        let again = StatusReport::from_json(&bytes, &Limits::DEFAULT).map(|a| a.to_json());
        let again = again.ok();
        if let Some(again) = &again {
            let third = StatusReport::from_json(again, &Limits::DEFAULT).map(|a| a.to_json());
            assert_eq!(third.ok().as_ref(), Some(again));
        } else {
            panic!("a written report does not parse");
        }
        let _ = r.item::<PasscodeIsCompliantStatus>();
        let _ = r.item::<ManagementClientCapabilitiesStatus>();
        let _ = r.not_applied(&DeclarationSet::default());
    }
}

/// `mdmkit inspect`'s Apple detector on any file an admin loads: plists
/// (XML or binary), signed profiles and declarative-management JSON. It
/// claims the input or leaves it to other detectors, never panics, and
/// what it decodes is a JSON object naming its kind.
pub fn inspect(data: &[u8]) {
    if let Some(Ok(v)) = mdmkit_apple::inspect::detect(data) {
        assert!(v["kind"].is_string(), "decoded without a kind: {v}");
    }
}

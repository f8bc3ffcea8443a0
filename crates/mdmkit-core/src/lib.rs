//! The small vocabulary every mdmkit crate shares: who a thing belongs to
//! ([`TenantId`]), which device it is about ([`DeviceId`]) and what kind of
//! device that is ([`Platform`]).
//!
//! Identifiers are newtypes so a device id can never be passed where a tenant
//! id belongs, and they are validated once, at the edge, so that every crate
//! further in can embed them in certificate names, database keys, URNs and
//! file names without escaping.
//!
//! ```
//! use mdmkit_core::{DeviceId, Platform, TenantId};
//!
//! let tenant: TenantId = "region-north".parse()?;
//! let device = DeviceId::new("00008030-001A2B3C4D5E802E")?;
//! assert_eq!(tenant.as_str(), "region-north");
//! assert_eq!("ios".parse::<Platform>()?, Platform::Apple);
//! assert!(TenantId::new("no spaces").is_err());
//! # let _ = device;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod id;
mod platform;

pub use id::{DeviceId, IdError, TenantId};
pub use platform::{Platform, PlatformParseError};

/// How many cases a property test of this workspace runs: `pinned` (what
/// the test chose for its cost), or more when the `PROPTEST_CASES`
/// environment variable asks for more. Tests pass
/// `ProptestConfig::with_cases(mdmkit_core::proptest_cases(24))` instead of
/// a bare 24, which would ignore the environment: a developer (or CI) can
/// then raise every property test's case count at once.
pub fn proptest_cases(pinned: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map_or(pinned, |asked| asked.max(pinned))
}

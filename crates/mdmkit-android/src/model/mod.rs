//! The typed Android Management API model, generated from Google's discovery
//! document by `mdmkit-android-codegen`.
//!
//! Every schema reachable from `Policy`, `Device`, `Operation`, `Command`
//! and `EnrollmentToken` (and the list responses) is a struct named as in
//! Google's API, with snake-case fields that serialise to Google's
//! camel-case names. Every field is an `Option` (absent means "not set");
//! fields this model does not know are kept in `unknown_fields` and written
//! back, so nothing Google adds is lost on a read-modify-write. Enumerated
//! fields are Rust enums named `{Schema}{Field}` with an `Unrecognized`
//! arm for values added later. Google's 64-bit integers are JSON strings on
//! the wire and `i64` here; durations are [`std::time::Duration`]; times
//! are [`Timestamp`].
//!
//! Structs are `#[non_exhaustive]` because Google adds fields: start from
//! `Default` and set fields.
//!
//! ```
//! use mdmkit_android::model::{ApplicationPolicy, ApplicationPolicyInstallType, Policy};
//!
//! let mut app = ApplicationPolicy::default();
//! app.package_name = Some("org.example.reader".into());
//! app.install_type = Some(ApplicationPolicyInstallType::ForceInstalled);
//! let mut policy = Policy::default();
//! policy.camera_disabled = Some(true);
//! policy.applications = Some(vec![app]);
//! let json = serde_json::to_string(&policy)?;
//! assert_eq!(
//!     json,
//!     r#"{"applications":[{"installType":"FORCE_INSTALLED","packageName":"org.example.reader"}],"cameraDisabled":true}"#
//! );
//! # Ok::<(), serde_json::Error>(())
//! ```

#[macro_use]
mod wire;

#[rustfmt::skip]
mod gen_device;
#[rustfmt::skip]
mod gen_policy;
#[rustfmt::skip]
mod gen_registry;
#[rustfmt::skip]
mod gen_resources;

pub use gen_device::*;
pub use gen_policy::*;
pub use gen_registry::{GENERATED_SCHEMAS, REVISION};
pub use gen_resources::*;
pub use wire::{Timestamp, TimestampError, WireEnum, format_duration, parse_duration};

#[cfg(test)]
pub(crate) use gen_registry::round_trip;

#[cfg(test)]
mod roundtrip_tests;

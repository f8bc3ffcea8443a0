//! Android Management API (AMAPI) bodies for mdmkit: a typed model of
//! Google's resources, device commands, device state verification and
//! enrollment; the HTTP client is behind the `client` feature.
//!
//! Android tablets are managed through Google's AMAPI: one `Policy`
//! resource per group of devices, commands issued per device, and `Device`
//! resources that report what was applied. This crate builds and parses
//! the JSON bodies; the `client` feature calls Google (OAuth, HTTP,
//! retries), and `docs/android.md` shows both ways.
//!
//! | module | for |
//! |---|---|
//! | [`api`] | the HTTP requests to send to Google, as data (method, URL, body) |
//! | [`model`] | every AMAPI schema mdmkit handles, generated from Google's discovery document |
//! | [`parse`] | reading untrusted JSON with size and depth limits and path-carrying errors |
//! | [`command`] | typed `devices.issueCommand` bodies (LOCK, RESET_PASSWORD, REBOOT, ...) |
//! | [`operation`] | what an `Operation` says about a command |
//! | [`state`] | per-setting verification of `Device` reports; never leaving a rejected policy stuck |
//! | [`enrollment`] | enrollment token bodies and the QR-code provisioning payload |
//! | [`remedy`] | Google error bodies, RPC codes and what to do about a failure |
//! | [`schema`] | checking JSON against the keys and enum values of Google's description |
//! | [`names`] | resource name newtypes (`enterprises/{e}/devices/{d}`, ...) |
//! | [`mapping`] | mdmkit-policy settings to a Policy, PATCH bodies with minimal update masks, layer conflicts |
//! | [`inspect`] | recognising and summarising AMAPI JSON (`mdmkit inspect`) |
//! | [`pubsub`] | Pub/Sub push envelopes of AMAPI notifications; the enrollment token's node binding |
//! | [`oidc`] | the OIDC bearer token of a Pub/Sub push: reading, claims, RS256 signature (`client`) |
//! | `client` | (feature `client`) the HTTP client: OAuth, retries, typed Google errors |
//!
//! ```
//! use mdmkit_android::command::DeviceCommand;
//! use mdmkit_android::state::{verify, DesiredPolicy, PolicySync};
//! use mdmkit_android::{parse, Remedy};
//!
//! // A lock command, valid for ten minutes.
//! let body = DeviceCommand::lock().to_json(Some(std::time::Duration::from_secs(600)))?;
//! assert_eq!(body, br#"{"duration":"600s","type":"LOCK"}"#);
//!
//! // What a device reports about the policy it should have.
//! let policy = parse::policy(br#"{"name":"enterprises/e1/policies/pupils","version":"4","cameraDisabled":true}"#)?;
//! let device = parse::device(br#"{"name":"enterprises/e1/devices/d1","appliedPolicyName":"enterprises/e1/policies/pupils",
//!     "appliedPolicyVersion":"4","nonComplianceDetails":[{"settingName":"cameraDisabled","nonComplianceReason":"INVALID_VALUE"}]}"#)?;
//! let report = verify(&device, &DesiredPolicy::from_policy(&policy));
//! assert_eq!(report.sync, PolicySync::Current);
//! assert_eq!(report.rejected().next().map(|s| s.key.as_str()), Some("cameraDisabled"));
//! # let _ = Remedy::FixPolicy;
//! # Ok::<(), mdmkit_android::Error>(())
//! ```
//!
//! ## Feature flags
//!
//! - `client` (off by default): the AMAPI HTTP client (`client` module:
//!   hyper-util and hyper-rustls on rustls with aws-lc-rs, tokio) and
//!   RS256 verification of push tokens. Without it the crate has no
//!   network code.
//! - `emulator` (off by default, for tests): a local stand-in for Google's
//!   AMAPI, OAuth token endpoint and Pub/Sub push tokens.
//!
//! The crate re-exports [`serde_json`] deliberately: free-form AMAPI
//! fields (managed configurations, operation metadata) are JSON values.
#![forbid(unsafe_code)]

pub mod api;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
pub mod command;
#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;
pub mod enrollment;
mod error;
pub mod inspect;
pub mod mapping;
pub mod model;
pub mod names;
pub mod oidc;
pub mod operation;
pub mod parse;
pub mod pubsub;
pub mod remedy;
pub mod schema;
pub mod state;

pub use error::Error;
pub use remedy::Remedy;
pub use serde_json;

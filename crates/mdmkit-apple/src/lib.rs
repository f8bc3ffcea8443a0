//! Apple device management for mdmkit: typed, validated configuration
//! profiles, MDM commands, check-in messages and command responses, generated
//! from Apple's own machine-readable schema.
//!
//! - [`generated`]: one Rust struct per payload, command (request and
//!   response), check-in message, declaration and status item of the schema,
//!   with unknown keys kept in `extra`; [`schema`] holds the same facts as
//!   static tables (types, presence, defaults, allowed values, ranges and
//!   per-OS support).
//! - [`plist_io`]: XML and binary property lists with size, depth and value
//!   limits for untrusted input.
//!
//! ```
//! use mdmkit_apple::generated::commands::DeviceLockCommand;
//! use mdmkit_apple::{Format, PlistDict, Request};
//!
//! let lock = DeviceLockCommand { message: Some("Return to the office".into()), ..Default::default() };
//! assert_eq!(DeviceLockCommand::REQUEST_TYPE, "DeviceLock");
//! let bytes = mdmkit_apple::typed::encode(&lock, Format::Xml);
//! let back: DeviceLockCommand = mdmkit_apple::typed::decode(&bytes, &Default::default())?;
//! assert_eq!(back, lock);
//! # Ok::<(), mdmkit_apple::Error>(())
//! ```
//!
//! This crate has no cargo features.
#![forbid(unsafe_code)]

pub mod apns;
pub mod cms;
pub mod command;
pub mod error;
pub mod generated;
pub mod inspect;
pub mod json;
pub mod message;
pub mod plist_io;
pub mod profile;
pub mod schema;
pub mod signed;
pub mod support;
pub mod typed;
pub mod validate;

pub use command::{Command, CommandUuid};
pub use cms::SigningIdentity;
pub use error::{CmsError, DecodeError, Error, MessageError, PlistError, ProfileError};
pub use signed::{SignedProfile, verify_mdm_signature};
pub use message::{Checkin, CheckinBody, CommandReport, EnrollmentIds, ErrorChainItem, Status};
pub use profile::{Payload, Profile, ProfileBuilder, ProfileId};
pub use validate::Issue;
pub use plist_io::{Format, Limits};
pub use typed::{
    DeclarationType, EmptyResponse, FieldValue, KeyPath, MessageType, PayloadType, PlistDict,
    Request, StatusItemType,
};

/// The property-list value types used in the public API, re-exported from
/// the `plist` crate on purpose so callers need not depend on it.
pub use plist::{Date, Dictionary, Integer, Value};

//! mdmkit: typed, tested building blocks for mobile device management.
//!
//! One import path for the whole kit. Each building block is a crate of its
//! own and is re-exported here as a module; vendors and storage backends are
//! cargo features.
//!
//! | module | crate | feature |
//! |---|---|---|
//! | [`core`] | `mdmkit-core` | always |
//! | [`identity`] | `mdmkit-identity` | always |
//! | [`policy`] | `mdmkit-policy` | always |
//! | [`queue`] | `mdmkit-queue` | always (`sqlite`, `postgres` select stores) |
//! | `apple` | `mdmkit-apple` | `apple` |
//! | `windows` | `mdmkit-windows` | `windows` |
//! | `android` | `mdmkit-android` | `android` |
//!
//! ```
//! use mdmkit::core::TenantId;
//!
//! let tenant: TenantId = "region-north".parse()?;
//! assert_eq!(tenant.as_str(), "region-north");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
mod error;
pub mod reconcile;
pub mod signing;
pub mod state;

pub use error::Error;
pub use reconcile::{Answer, Plan, Reconciler, Scope};

pub use mdmkit_core as core;
pub use mdmkit_core::{DeviceId, Platform, TenantId};
pub use mdmkit_identity as identity;
pub use mdmkit_policy as policy;
pub use mdmkit_queue as queue;

#[cfg(feature = "apple")]
#[cfg_attr(docsrs, doc(cfg(feature = "apple")))]
pub use mdmkit_apple as apple;

#[cfg(feature = "windows")]
#[cfg_attr(docsrs, doc(cfg(feature = "windows")))]
pub use mdmkit_windows as windows;

#[cfg(feature = "android")]
#[cfg_attr(docsrs, doc(cfg(feature = "android")))]
pub use mdmkit_android as android;

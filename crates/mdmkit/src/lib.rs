//! mdmkit: typed, tested building blocks for mobile device management.
//!
//! One import path for the whole kit, and the loop that composes it: from
//! "a policy changed at a school" to the right commands queued for the right
//! devices, and each device tracked until its settings are verified.
//!
//! ```
//! use std::sync::Arc;
//! use mdmkit::policy::{Device, Policy, Tenant};
//! use mdmkit::queue::MemoryStore;
//! use mdmkit::state::{ComplianceState, MemoryState};
//! use mdmkit::{Answer, DeviceId, Platform, Reconciler, Scope, TenantId};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! // A tenant: usually `mdmkit::policy::load_dir("examples/region")`.
//! let mut tenant = Tenant::new(TenantId::new("region")?);
//! tenant.set_policy(Policy::from_toml(
//!     "[policy]\nid = \"floor\"\n[passcode]\nmin_length = 6\n",
//! )?);
//! tenant.assign(&"region".parse()?, "floor".parse()?)?;
//! let tablet = DeviceId::new("tablet-1")?;
//! tenant.add_device(Device::new(tablet.clone(), "region".parse()?, Platform::Android))?;
//!
//! // Stores: MemoryStore/MemoryState here; SqliteStore/SqliteState (one
//! // file) or PostgresStore in production.
//! let r = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()));
//! let plan = r.reconcile(&tenant, &Scope::All).await?;
//! assert_eq!(plan.wake, [tablet.clone()]); // push these devices
//! assert!(r.reconcile(&tenant, &Scope::All).await?.is_noop());
//!
//! // Deliver the command (here: the integrator patches the Android policy;
//! // Google accepts it as version 1), then the device reports it applied.
//! let cmd = r.next(tenant.id(), &tablet).await?.ok_or("nothing queued")?;
//! assert_eq!(cmd.kind, "PatchPolicy");
//! r.record_answer(tenant.id(), &tablet, cmd.id, &Answer::Accepted { version: Some(1) }, None).await?;
//! r.android_report(tenant.id(), &tablet, br#"{"appliedPolicyVersion": "1"}"#).await?;
//! let status = r.status(&tenant, tenant.root().id()).await?;
//! assert!(status[0].categories.iter().all(|c| c.state == ComplianceState::Verified));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | module | what | feature |
//! |---|---|---|
//! | [`reconcile`] | the reconcile loop, device answers, console queries | always |
//! | [`state`] | applied state and per-category compliance: memory, SQLite | `sqlite` for SQLite |
//! | [`signing`] | signed policy layers (Ed25519) | always |
//! | [`audit`] | the tamper-evident audit journal | always |
//! | [`inventory`] | enrolled devices, their certificates and push targets | always |
//! | [`push`] | push certificates and per-device push state (the wake loop's records) | always |
//! | [`access`] | admin tokens scoped to a node, with a role | always |
//! | [`core`] | `mdmkit-core`: identifiers, platforms | always |
//! | [`identity`] | `mdmkit-identity`: CAs, certificates, envelopes | always |
//! | [`policy`] | `mdmkit-policy`: model, tree, merge, diff | always |
//! | [`queue`] | `mdmkit-queue`: command queues | always (`sqlite`, `postgres` select stores) |
//! | `apple` | `mdmkit-apple` | `apple` (`apns`: its APNs provider; `apns-emulator`: a local APNs, for tests) |
//! | `windows` | `mdmkit-windows` | `windows` |
//! | `android` | `mdmkit-android` | `android` (`android-client`: its AMAPI HTTP client; `android-emulator`: a local stand-in for Google, for tests) |
//!
//! Default features: `apple`, `windows`, `android`, `sqlite`. The data
//! flow from a policy change to a verified device is drawn in
//! `docs/architecture.md`; the reconcile loop is explained in
//! `docs/reconcile.md`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod access;
pub mod audit;
pub mod challenge;
mod error;
pub mod inventory;
pub mod push;
pub mod reconcile;
pub mod renewal;
pub mod signing;
pub mod state;

pub use error::{BoxError, Error, ErrorKind};
pub use reconcile::{Answer, Plan, Reconciler, Scope};

/// The README's integrator snippet, compiled and run as a doc test (it
/// needs every vendor and the SQLite store).
#[cfg(all(
    doctest,
    feature = "apple",
    feature = "windows",
    feature = "android",
    feature = "sqlite"
))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

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

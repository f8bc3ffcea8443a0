//! The vendor-neutral policy model of mdmkit: typed settings, TOML and JSON
//! documents with validation that reports every error at once, a scope tree
//! of nodes and devices, a layered merge with provenance, locks and
//! conflicts, diffs and content hashes, and the platform capability matrix.
//!
//! The Apple, Windows and Android encoders build on this crate: they read a
//! device's [`EffectivePolicy`] (typed [`Settings`]), turn a [`ChangeSet`]
//! into the fewest platform commands, and use the [`catalog`] to report what
//! a platform cannot enforce. Everything speaks [`SettingPath`]s
//! (`restrictions.camera`, `wifi["ECOLE"].password`). The guide, with the
//! document format, the merge table and the capability matrix, is
//! `docs/policy.md`.
//!
//! ```
//! use mdmkit_core::{DeviceId, Platform, TenantId};
//! use mdmkit_policy::{Device, EffectiveCache, NodeId, Policy, Rule, Tenant, diff};
//!
//! // Policies are usually files; here they are inline TOML.
//! let floor = Policy::from_toml(r#"
//!     [policy]
//!     id = "floor"
//!     locks = ["passcode.min_length"]
//!     [passcode]
//!     min_length = 6
//!     [restrictions]
//!     camera = "deny"
//! "#)?;
//! let class = Policy::from_toml(r#"
//!     [policy]
//!     id = "class"
//!     [passcode]
//!     min_length = 4          # weaker: the floor wins
//!     [restrictions]
//!     camera = "allow"        # deny wins
//!     [wifi."ECOLE"]
//!     security = "wpa2-personal"
//!     password = "correct horse battery"
//! "#)?;
//!
//! let mut tenant = Tenant::new(TenantId::new("region")?);
//! let school: NodeId = "school".parse()?;
//! tenant.add_node(school.clone(), &"region".parse()?, Some("École Jules-Ferry".into()), None)?;
//! tenant.set_policy(floor);
//! tenant.set_policy(class);
//! tenant.assign(&"region".parse()?, "floor".parse()?)?;
//! tenant.assign(&school, "class".parse()?)?;
//! let ipad = DeviceId::new("00008030-001A2B3C4D5E802E")?;
//! tenant.add_device(Device::new(ipad.clone(), school.clone(), Platform::Apple))?;
//!
//! let effective = tenant.effective(&ipad)?;
//! assert_eq!(effective.settings().passcode.min_length, Some(6));
//! assert_eq!(effective.settings().restrictions.camera, Some(Rule::Deny));
//! let why = effective.explain(&"restrictions.camera".parse()?);
//! assert_eq!(why.entries[0].provenance.source.policy.as_str(), "floor");
//! assert!(tenant.check().is_empty());
//!
//! // A change at the school recomputes only the school's devices.
//! let mut cache = EffectiveCache::build(&tenant)?;
//! let before = cache.get(&ipad).cloned();
//! let mut class = tenant.policy(&"class".parse()?).cloned().ok_or("no class policy")?;
//! class.settings.device.time_zone = Some("Europe/Paris".into());
//! tenant.set_policy(class);
//! let refresh = cache.refresh(&tenant, &school)?;
//! assert_eq!(refresh.devices, 1);
//! let changes = diff(before.ok_or("cached")?.settings(), cache.get(&ipad).ok_or("cached")?.settings());
//! assert_eq!(changes.len(), 1);
//! assert_eq!(changes.changes()[0].path.to_string(), "device.time_zone");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules at a glance
//!
//! - the model: [`Settings`] and its categories ([`model`]), [`Policy`]
//!   documents ([`Policy::from_toml`], [`Policy::from_json`],
//!   [`Policy::from_path`]) and their JSON Schema ([`schema`]);
//! - the tree: [`Tenant`], [`Device`], [`load_dir`] for the directory
//!   format, [`check_file`] for single files;
//! - the merge: [`Tenant::effective`], [`EffectivePolicy`], [`Provenance`],
//!   [`Conflict`], [`EffectiveCache`] for incremental recomputation;
//! - changes: [`diff()`], [`apply`], [`category_hashes`];
//! - secrets: a secret setting holds a value or a reference
//!   ([`Secret`]), resolved when payloads are encoded
//!   ([`Settings::resolve_secrets`], [`SecretResolver`]; [`secret`]);
//! - the catalogue of settings, strategies and platform support:
//!   [`catalog`].
//!
//! # Feature flags
//!
//! None: everything is always available.
#![forbid(unsafe_code)]

mod authors;
pub mod catalog;
pub mod diff;
mod document;
mod effective;
mod error;
pub mod flat;
mod ids;
pub mod load;
mod merge;
pub mod model;
mod path;
pub mod schema;
pub mod secret;
mod source;
mod support;
mod tree;
pub mod validate;

pub use authors::{Author, Grant, PUBLIC_KEY_LEN, PublicKeyError, parse_public_key_hex};
pub use diff::{Change, ChangeSet, ContentHash, Op, apply, category_hashes, diff};
pub use document::{Policy, PolicyMeta};
pub use effective::{
    EffectiveCache, EffectivePolicy, EffectiveValue, Explained, Explanation, Refresh,
};
pub use error::{ApplyError, Error, Issue, IssueKind, Issues};
pub use ids::{AuthorKeyId, IdError, NodeId, PolicyId};
pub use load::{FileKind, check_file, load_dir};
pub use merge::{Conflict, ConflictKind, Overridden, Provenance, Reason, Scope, Source};
pub use model::*;
pub use path::{MAX_PATH_LEN, PathParseError, Segment, SettingPath};
pub use secret::{
    EnvFileResolver, Secret, SecretCache, SecretError, SecretRef, SecretResolver, SecretSource,
    SecretValue,
};
pub use source::{Format, MAX_DEPTH, MAX_DOCUMENT_BYTES};
pub use support::{Unsupported, unsupported};
pub use tree::{Device, NodeRef, Tenant};

/// Renders an error and its sources as `outer: inner: innermost`.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        src = s.source();
    }
    out
}

//! Per-device command queues for mobile device management.
//!
//! A console enqueues encoded commands (opaque bytes from a vendor crate) for
//! enrollments; devices fetch them (Apple: one at a time; Windows: a batch
//! per session) and report back; the queue records every transition so a
//! console can show, cancel and audit what happened.
//!
//! - [`machine`]: the lifecycle as a pure state machine, shared by every
//!   store (see `docs/queue.md` for the diagram).
//! - [`QueueStore`]: the async storage trait, with [`MemoryStore`],
//!   `SqliteStore` (feature `sqlite`) and `PostgresStore` (feature
//!   `postgres`).
//! - [`Clock`]: stores read time from a clock, so tests drive leases and
//!   expiry with a [`ManualClock`].
//!
//! ```
//! use mdmkit_core::{DeviceId, TenantId};
//! use mdmkit_queue::{EnrollmentId, MemoryStore, NewCommand, QueueStore, Report, ReportStatus};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryStore::new();
//! let tenant: TenantId = "school-7".parse()?;
//! let ipad = EnrollmentId::device(DeviceId::new("UDID-1")?);
//!
//! let queued = store
//!     .enqueue(&tenant, &NewCommand::new("DeviceLock", b"<plist/>".to_vec()), &[ipad.clone()])
//!     .await?;
//! assert_eq!(queued.wake, vec![ipad.clone()]); // push this device
//!
//! let cmd = store.next(&tenant, &ipad).await?.ok_or("nothing queued")?;
//! store.report(&tenant, &ipad, cmd.id, &Report::new(ReportStatus::Acknowledged)).await?;
//! assert!(store.next(&tenant, &ipad).await?.is_none());
//! # Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(demo())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what |
//! |---|---|---|
//! | `sqlite` | yes | [`SqliteStore`]: one file, WAL, migrations built in |
//! | `postgres` | no | [`PostgresStore`]: several processes on one database, optimistic per-enrollment writes |
//!
//! The memory store is always available.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod history;
mod ids;
pub mod machine;
mod memory;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub mod migrate;
mod model;
mod store;
mod time;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "postgres")]
mod pg_setup;
#[cfg(feature = "postgres")]
mod pg_write;
#[cfg(feature = "postgres")]
mod postgres;

mod location;

pub use error::QueueError;
pub use ids::{CommandId, EnrollmentId, MAX_USER_CHANNEL_LEN};
pub use location::{AnyStore, StoreLocation};
pub use memory::MemoryStore;
pub use model::{
    CommandState, DeliverOptions, Delivered, Enqueued, HistoryEvent, MAX_KIND_LEN, MAX_PAYLOAD_LEN,
    MAX_RESULT_LEN, MAX_SUPERSEDE_KEY_LEN, MAX_TARGETS, NewCommand, QueueEntry, Reason, Report,
    ReportOutcome, ReportStatus, StateCounts,
};
pub use store::QueueStore;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};

#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous, create_owner_only};

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresOptions, PostgresStore};

//! The error tree of mdmkit-queue.

use crate::ids::CommandId;
use crate::model::CommandState;

/// Why a queue call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A command id was not a UUID.
    #[error("command id {input:?} is not a uuid")]
    InvalidCommandId {
        /// The input (at most 64 characters of it).
        input: String,
        /// What the UUID parser said.
        #[source]
        source: uuid::Error,
    },
    /// An enrollment's device part was not a valid device id.
    #[error("enrollment {input:?} has an invalid device id")]
    InvalidEnrollment {
        /// The input (at most 64 characters of it).
        input: String,
        /// Why the device id was refused.
        #[source]
        source: mdmkit_core::IdError,
    },
    /// A user channel name was refused.
    #[error("user channel is invalid: {reason}")]
    InvalidUserChannel {
        /// Why.
        reason: String,
    },
    /// A new command was refused before anything was stored.
    #[error("command is invalid: {reason}")]
    InvalidCommand {
        /// Why.
        reason: String,
    },
    /// The command is not known to this tenant (or this enrollment), or it
    /// was purged.
    #[error("command {command} is unknown here (another tenant or enrollment, or purged)")]
    UnknownCommand {
        /// The command.
        command: CommandId,
    },
    /// A report status name was not understood.
    #[error(
        "report status {input:?} is unknown; expected acknowledged, error, not-now or format-error"
    )]
    UnknownStatus {
        /// The input (at most 64 characters of it).
        input: String,
    },
    /// A command with this id already exists in the tenant.
    #[error("command {command} already exists in this tenant")]
    DuplicateCommand {
        /// The command.
        command: CommandId,
    },
    /// A report came for a command that was never delivered.
    #[error("command {command} was never delivered, so it cannot be reported on")]
    NotDelivered {
        /// The command.
        command: CommandId,
    },
    /// The state machine refused a transition (a bug in a backend if it
    /// ever reaches a caller).
    #[error("impossible transition from {from} on {event}")]
    InvalidTransition {
        /// The state the row was in.
        from: CommandState,
        /// The event.
        event: &'static str,
    },
    /// A store URL or option was not understood.
    #[error("store location {location:?} is invalid: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// Why.
        reason: String,
    },
    /// The database holds something this version cannot read.
    #[error("stored data is corrupt: {what}")]
    Corrupt {
        /// What was wrong.
        what: String,
    },
    /// The database schema is newer than this version of mdmkit-queue.
    #[error(
        "database schema version {found} is newer than this mdmkit-queue supports ({supported})"
    )]
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The database failed.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
    #[error("database error while trying to {op}")]
    Database {
        /// What the store was doing.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// Creating the directory of an SQLite file failed.
    #[error("cannot create directory {path}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<crate::migrate::MigrateError> for QueueError {
    fn from(e: crate::migrate::MigrateError) -> Self {
        use crate::migrate::MigrateError as M;
        match e {
            M::TooNew {
                found, supported, ..
            } => QueueError::SchemaTooNew { found, supported },
            M::Changed { .. } => QueueError::Corrupt {
                what: e.to_string(),
            },
            M::Database { what, source, .. } => QueueError::Database {
                op: what,
                source: Box::new(source),
            },
        }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) trait DbContext<T> {
    fn db(self, op: &'static str) -> Result<T, QueueError>;
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl<T> DbContext<T> for Result<T, sqlx::Error> {
    fn db(self, op: &'static str) -> Result<T, QueueError> {
        self.map_err(|e| QueueError::Database {
            op,
            source: Box::new(e),
        })
    }
}

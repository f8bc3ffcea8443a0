//! The facade's error type, and the kinds a caller matches on.
//!
//! Every [`Error`] answers [`Error::kind`]: a server answers a device's
//! [`ErrorKind::DeviceMessage`] with a 400 and retries a
//! [`ErrorKind::Conflict`] at once, an operator is alerted about
//! [`ErrorKind::Corrupt`], and [`ErrorKind::StoreUnavailable`] waits for the
//! database. The driver's error stays reachable as
//! [`source()`](std::error::Error::source).

use std::path::PathBuf;

/// A boxed underlying error (a database driver's, a decoder's).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure an [`Error`] is, for callers that decide by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A store could not be reached or did not answer (connection, pool
    /// timeout, I/O): try again later.
    StoreUnavailable,
    /// A write lost a race with another writer (serialization failure,
    /// deadlock, SQLite busy): the same call may be retried at once.
    Conflict,
    /// Stored data does not read back (or was written by a newer schema):
    /// an operator must look; retrying will not help.
    Corrupt,
    /// What a device sent is invalid or names what it was never sent:
    /// answer the device (400), never retry.
    DeviceMessage,
    /// What the caller passed is invalid: a policy tree, a role, an
    /// unknown device, a duplicate or unknown command, a store location.
    InvalidInput,
    /// Anything else: a store that refused a statement, an encoder, a file,
    /// the audit journal.
    Other,
}

/// What can go wrong while reconciling, recording answers or reading state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy tree or a policy is invalid, or a device is unknown.
    #[error("policy: {0}")]
    Policy(#[from] mdmkit_policy::Error),
    /// A secret reference of a policy could not be resolved (a missing
    /// environment variable or file): the error names the setting and the
    /// reference, never a value.
    #[error(transparent)]
    Secret(#[from] mdmkit_policy::SecretError),
    /// The queue store failed.
    #[error("queue: {0}")]
    Queue(#[from] mdmkit_queue::QueueError),
    /// The state store could not be reached or did not answer.
    #[error("state store unavailable while trying to {doing}")]
    StoreUnavailable {
        /// What the store was doing.
        doing: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// A state store write lost a race with another writer; retry.
    #[error("state store conflict while trying to {doing} (retry)")]
    Conflict {
        /// What the store was doing.
        doing: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The state store refused a statement.
    #[error("state store failed to {doing}")]
    Store {
        /// What the store was doing.
        doing: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The state store's schema is newer than this build knows.
    #[error("the state store's schema is version {found}, newer than this build's {supported}")]
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Stored state could not be read back.
    #[error("stored {what} is corrupt")]
    Corrupt {
        /// What was read, and what was wrong when there is no source.
        what: String,
        /// The decoder's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A vendor encoder refused the settings.
    #[error("{platform} encoding: {message}")]
    Encode {
        /// The platform.
        platform: mdmkit_core::Platform,
        /// What went wrong.
        message: String,
    },
    /// A device message could not be understood.
    #[error("device message invalid: {reason}")]
    DeviceMessage {
        /// What is wrong with it.
        reason: String,
        /// The parser's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A device answered about a command it was never sent.
    #[error("device {device} answered unknown command {command}")]
    UnknownCommand {
        /// The device.
        device: String,
        /// The command id it named.
        command: String,
    },
    /// A certificate is already bound to another device's enrollment.
    #[error("certificate already bound to device {device}")]
    CertificateInUse {
        /// The device holding it.
        device: String,
    },
    /// A value given by a caller is invalid (a role name, ...).
    #[error("{0}")]
    InvalidInput(String),
    /// A signed layer was rejected.
    #[error(transparent)]
    Signing(#[from] crate::signing::SigningError),
    /// The audit journal failed.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

impl Error {
    /// The kind of failure, for callers that decide by kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::StoreUnavailable { .. } => ErrorKind::StoreUnavailable,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Corrupt { .. } | Error::SchemaTooNew { .. } => ErrorKind::Corrupt,
            Error::DeviceMessage { .. }
            | Error::UnknownCommand { .. }
            | Error::CertificateInUse { .. } => ErrorKind::DeviceMessage,
            Error::Policy(_) | Error::Secret(_) | Error::InvalidInput(_) | Error::Signing(_) => {
                ErrorKind::InvalidInput
            }
            Error::Queue(q) => queue_kind(q),
            Error::Store { .. } | Error::Io { .. } | Error::Encode { .. } | Error::Audit(_) => {
                ErrorKind::Other
            }
        }
    }

    /// Stored data that does not read back, with the decoder's error.
    pub(crate) fn corrupt(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Corrupt {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// A device message that is invalid, with the parser's error.
    #[cfg(any(feature = "apple", feature = "android"))]
    pub(crate) fn device_message(reason: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::DeviceMessage {
            reason: reason.into(),
            source: Some(source.into()),
        }
    }

    /// A database driver's error, by kind: unavailable, conflict, corrupt
    /// (a value that does not decode) or a refused statement.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn from_sqlx(doing: &'static str, e: sqlx::Error) -> Self {
        match sqlx_kind(&e) {
            ErrorKind::StoreUnavailable => Error::StoreUnavailable {
                doing,
                source: Box::new(e),
            },
            ErrorKind::Conflict => Error::Conflict {
                doing,
                source: Box::new(e),
            },
            ErrorKind::Corrupt => Error::Corrupt {
                what: format!("data read to {doing}"),
                source: Some(Box::new(e)),
            },
            _ => Error::Store {
                doing,
                source: Box::new(e),
            },
        }
    }

    /// A state store's migration error: a newer schema, an edited released
    /// migration (corrupt: this build's schema is not the database's), or
    /// the database's own error.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn from_migration(e: mdmkit_queue::migrate::MigrateError) -> Self {
        use mdmkit_queue::migrate::MigrateError as M;
        match e {
            M::TooNew {
                found, supported, ..
            } => Error::SchemaTooNew { found, supported },
            M::Database { what, source, .. } => Error::from_sqlx(what, source),
            other => Error::Corrupt {
                what: "state store schema".into(),
                source: Some(Box::new(other)),
            },
        }
    }
}

/// The kind of a queue store's error.
fn queue_kind(e: &mdmkit_queue::QueueError) -> ErrorKind {
    use mdmkit_queue::QueueError as Q;
    match e {
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        Q::Database { source, .. } => source
            .downcast_ref::<sqlx::Error>()
            .map_or(ErrorKind::Other, sqlx_kind),
        Q::Corrupt { .. } | Q::SchemaTooNew { .. } => ErrorKind::Corrupt,
        Q::Io { .. } => ErrorKind::StoreUnavailable,
        _ => ErrorKind::InvalidInput,
    }
}

/// Sorts a driver's error: SQLSTATE 40001/40P01 and SQLite's BUSY and
/// LOCKED codes are conflicts; connection, pool and I/O failures make the
/// store unavailable; a value that does not decode is corrupt data.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn sqlx_kind(e: &sqlx::Error) -> ErrorKind {
    match e {
        sqlx::Error::Database(d) => match d.code().as_deref() {
            // PostgreSQL: serialization failure, deadlock. SQLite (extended
            // result codes): BUSY, LOCKED, BUSY_RECOVERY, LOCKED_SHAREDCACHE,
            // BUSY_SNAPSHOT.
            Some("40001" | "40P01" | "5" | "6" | "261" | "262" | "517") => ErrorKind::Conflict,
            // PostgreSQL class 08 (connection exception), 53 (insufficient
            // resources), 57P01-03 (shutdown, cannot connect now).
            Some(c) if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") => {
                ErrorKind::StoreUnavailable
            }
            _ => ErrorKind::Other,
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => ErrorKind::StoreUnavailable,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => ErrorKind::Corrupt,
        sqlx::Error::Configuration(_) => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_sort_errors_a_caller_handles_differently() {
        let e = Error::DeviceMessage {
            reason: "no CommandUUID".into(),
            source: Some(Box::new(std::io::Error::other("x"))),
        };
        assert_eq!(e.kind(), ErrorKind::DeviceMessage);
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(
            Error::corrupt("settings", std::io::Error::other("x")).kind(),
            ErrorKind::Corrupt
        );
        assert_eq!(
            Error::InvalidInput("role".into()).kind(),
            ErrorKind::InvalidInput
        );
    }

    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[test]
    fn driver_errors_are_sorted_by_what_the_caller_can_do() {
        let unavailable = Error::from_sqlx("read", sqlx::Error::PoolTimedOut);
        assert_eq!(unavailable.kind(), ErrorKind::StoreUnavailable);
        assert!(matches!(
            unavailable,
            Error::StoreUnavailable { doing: "read", .. }
        ));
        let source = std::error::Error::source(&unavailable).unwrap();
        assert!(source.downcast_ref::<sqlx::Error>().is_some());
        let corrupt = Error::from_sqlx("read", sqlx::Error::Decode("bad".into()));
        assert_eq!(corrupt.kind(), ErrorKind::Corrupt);
        let q = Error::Queue(mdmkit_queue::QueueError::Corrupt { what: "row".into() });
        assert_eq!(q.kind(), ErrorKind::Corrupt);
    }
}

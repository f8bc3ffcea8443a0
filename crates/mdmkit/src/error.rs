//! The facade's error type.

use std::path::PathBuf;

/// What can go wrong while reconciling, recording answers or reading state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy tree or a policy is invalid, or a device is unknown.
    #[error("policy: {0}")]
    Policy(#[from] mdmkit_policy::Error),
    /// The queue store failed.
    #[error("queue: {0}")]
    Queue(#[from] mdmkit_queue::QueueError),
    /// The state store failed.
    #[error("state store: {0}")]
    State(String),
    /// Stored state could not be read back.
    #[error("stored state is corrupt: {0}")]
    Corrupt(String),
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
    #[error("device message: {0}")]
    DeviceMessage(String),
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

//! The tamper-evident audit journal: every policy change and every command
//! enqueued or answered, in order, in a file that shows any later edit.
//!
//! The journal is JSON Lines (`DIR/.mdmkit/audit.jsonl` for a tenant
//! directory). Each line is one [`Entry`]: `seq` (1, 2, 3... without
//! gaps), `time` (RFC 3339 UTC), `prev` (the previous entry's hash), an
//! [`Event`] and `hash`, the SHA-256 of the entry's canonical JSON without
//! `hash`. Changing, removing, reordering or inserting a line breaks the
//! chain at that line. Every [`JournalOptions::checkpoint_every`] entries,
//! and on [`Journal::checkpoint`] and [`Journal::close`], a
//! [`Event::Checkpoint`] entry carries an Ed25519 signature
//! (`mdmkit-identity` envelope) over the sequence number and hash of the
//! entry before it: whoever rewrites the chain must also forge the key.
//!
//! What a hash chain cannot show alone: entries cut off the end, or a tail
//! after the last checkpoint rewritten consistently. [`verify_with`] takes
//! an [`Anchor`] (a checkpoint's seq and hash kept elsewhere) for that. See
//! `docs/audit.md` for the format, key handling and recovery.
//!
//! ```
//! use mdmkit::audit::{Event, Journal, JournalOptions, keyring_from_hex, verify};
//! use mdmkit::identity::EnvelopeSigner;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("audit.jsonl");
//! let signer = EnvelopeSigner::generate()?;
//! let public = signer.public_key().to_hex();
//! let mut journal = Journal::open(&path, signer, JournalOptions::default())?;
//! journal.append(Event::Reconciled {
//!     tenant: "region".parse()?,
//!     devices: 12,
//!     commands: 30,
//!     unsupported: 1,
//!     conflicts: 0,
//! })?;
//! journal.close()?;
//!
//! let report = verify(&path, &keyring_from_hex(&[public])?)?;
//! assert_eq!((report.entries, report.checkpoints, report.unsigned_tail), (2, 1, 0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chain;
mod entry;
mod event;
mod head;
mod journal;
mod keys;
#[cfg(feature = "postgres")]
mod postgres;
mod reader;
mod verify;
mod writer;

use std::path::PathBuf;

use mdmkit_identity::EnvelopeError;
use serde::Serialize;

pub use entry::{Entry, GENESIS};
pub use event::{CheckpointPayload, Event, sha256_hex, targets_sha256};
pub use head::{JournalHead, MAX_SIGNED_HEAD_BYTES, SignedHead};
pub use journal::{Journal, JournalOptions, Recovery};
pub use keys::{
    JOURNAL_FILE, KEY_FILE, PUBLIC_KEY_FILE, journal_path, keyring_from_hex, load_or_create_key,
    read_public_keys,
};
pub use reader::JournalReader;
pub use verify::{Anchor, Head, VerifyOptions, VerifyReport, verify, verify_bytes, verify_with};
pub use writer::{Appended, JournalWriter, WriterStats};

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PgJournal, PgReader, verify_postgres};

/// The longest journal line, in bytes (64 KiB).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// The largest journal [`verify`] reads by default, in bytes (16 GiB).
pub const MAX_FILE_BYTES: u64 = 16 << 30;

/// Why a journal line is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Corruption {
    /// The line is longer than the limit.
    #[error("line longer than {max} bytes")]
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// The line is not UTF-8.
    #[error("not UTF-8 at byte {offset}")]
    NotUtf8 {
        /// Where the bad byte is.
        offset: u64,
    },
    /// The line is not JSON.
    #[error("not JSON: {reason}")]
    NotJson {
        /// What the parser said.
        reason: String,
    },
    /// The line is JSON but not in the canonical form the writer uses.
    #[error("not in canonical form (edited by hand or by another tool)")]
    NotCanonical,
    /// The entry lacks a field or has a wrong one.
    #[error("malformed entry: {reason}")]
    Shape {
        /// What is wrong.
        reason: String,
    },
    /// The entry's content does not hash to its `hash`: it was altered.
    #[error("altered entry: its content hashes to {computed}, not to its recorded hash {stored}")]
    AlteredEntry {
        /// The recorded hash.
        stored: String,
        /// The hash of the content.
        computed: String,
    },
    /// The sequence number is not the next one: entries were removed,
    /// inserted or reordered.
    #[error("sequence gap: expected entry {expected}, found {found}")]
    SeqGap {
        /// The expected number.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// `prev` is not the previous entry's hash: the chain is broken here.
    #[error("broken link: prev is {found}, the previous entry's hash is {expected}")]
    BrokenLink {
        /// The previous entry's hash.
        expected: String,
        /// The `prev` found.
        found: String,
    },
    /// `time` is not an RFC 3339 time.
    #[error("time {value:?} is not an RFC 3339 time")]
    BadTime {
        /// The value.
        value: String,
    },
    /// A checkpoint is signed by a key that is not trusted.
    #[error("checkpoint signed by unknown key {key}")]
    UnknownKey {
        /// The key id.
        key: String,
    },
    /// A checkpoint's signature does not verify.
    #[error("bad checkpoint signature by key {key}")]
    BadSignature {
        /// The key id.
        key: String,
    },
    /// A checkpoint's envelope is malformed.
    #[error("malformed checkpoint: {reason}")]
    BadCheckpoint {
        /// Why.
        reason: String,
    },
    /// A checkpoint signs another entry than the one before it.
    #[error(
        "checkpoint signs entry {signed_seq}, but the entry before it is {previous_seq} (or its hash differs)"
    )]
    CheckpointMismatch {
        /// The signed sequence number.
        signed_seq: u64,
        /// The previous entry's number.
        previous_seq: u64,
    },
    /// The anchored entry has another hash.
    #[error("entry {seq} differs from the anchor")]
    AnchorMismatch {
        /// The anchored sequence number.
        seq: u64,
    },
    /// The journal ends before the anchored entry: it was cut short.
    #[error(
        "truncated: the journal ends at entry {last_seq}, before the anchored entry {anchor_seq}"
    )]
    Truncated {
        /// The anchored sequence number.
        anchor_seq: u64,
        /// The last entry present.
        last_seq: u64,
    },
}

/// Errors of the audit journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A file could not be read or written.
    #[error("{}: i/o error", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line of the journal is wrong: the first one found.
    #[error("{}line {line}: {reason}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Corrupt {
        /// The journal file, when read from one.
        path: Option<PathBuf>,
        /// The 1-based line number.
        line: u64,
        /// What is wrong.
        #[source]
        reason: Corruption,
    },
    /// The last line of a journal being opened is damaged (other than a
    /// torn write, which is recovered).
    #[error("{}: the last line is damaged: {reason}; run `mdmkit audit verify`", path.display())]
    DamagedTail {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        reason: Corruption,
    },
    /// The journal is larger than accepted.
    #[error("{}journal larger than {max} bytes", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    TooLarge {
        /// The file.
        path: Option<PathBuf>,
        /// The limit.
        max: u64,
    },
    /// An event is too large to be written as one line.
    #[error("entry of {len} bytes, at most {max} are written")]
    EntryTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A key file or key text is unusable.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The file (empty for a key given as text).
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Signing a checkpoint or loading a key failed.
    #[error("cannot sign a checkpoint")]
    Sign(#[source] EnvelopeError),
    /// An event could not be encoded.
    #[error("cannot encode an entry")]
    Encode(#[source] serde_json::Error),
    /// The journal's database failed (the PostgreSQL journal).
    #[error("journal database: cannot {what}")]
    Database {
        /// What was being done.
        what: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A signed head (exported or stored) is unusable.
    #[error("signed head: {reason}")]
    BadHead {
        /// Why.
        reason: String,
    },
    /// The writer thread of a [`JournalWriter`] has stopped (closed, or
    /// gone with a bug): nothing more is written through it.
    #[error("{}: the journal's writer has stopped", path.display())]
    WriterStopped {
        /// The journal file.
        path: PathBuf,
    },
    /// A failed write could not be undone: the journal refuses further
    /// appends until it is reopened (which recovers the torn line).
    #[error("{}: a failed write could not be undone; reopen the journal", path.display())]
    Poisoned {
        /// The journal file.
        path: PathBuf,
    },
}

impl AuditError {
    /// The 1-based line number of a [`AuditError::Corrupt`] error.
    pub fn line(&self) -> Option<u64> {
        match self {
            AuditError::Corrupt { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// What is wrong with the journal, for a corrupt line or tail.
    pub fn corruption(&self) -> Option<&Corruption> {
        match self {
            AuditError::Corrupt { reason, .. } | AuditError::DamagedTail { reason, .. } => {
                Some(reason)
            }
            _ => None,
        }
    }
}

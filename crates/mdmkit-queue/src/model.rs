//! The data model: commands, states, reports, queue entries and history.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::QueueError;
use crate::ids::{CommandId, EnrollmentId};
use crate::time::Timestamp;

/// The longest accepted command kind, in bytes.
pub const MAX_KIND_LEN: usize = 128;
/// The largest accepted payload, in bytes (16 MiB).
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;
/// The longest accepted supersede key, in bytes.
pub const MAX_SUPERSEDE_KEY_LEN: usize = 255;
/// The most enrollments one fan-out call may target.
pub const MAX_TARGETS: usize = 1_000_000;
/// The largest accepted report result, in bytes (16 MiB).
pub const MAX_RESULT_LEN: usize = 16 * 1024 * 1024;

/// Where one command stands for one enrollment.
///
/// See `docs/queue.md` for the diagram; [`crate::machine`] holds the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CommandState {
    /// Waiting to be delivered.
    Queued,
    /// Handed to the device; a lease runs until it answers.
    Delivered,
    /// The device answered NotNow; parked until it sends another kind of
    /// report (or Idle), then queued again.
    NotNow,
    /// The device executed it (final).
    Acknowledged,
    /// The device answered with an error (final).
    Error,
    /// The device could not parse it (final).
    FormatError,
    /// Its `expires_at` passed, or it used up its attempts (final).
    Expired,
    /// An operator cancelled it or the enrollment was cleared (final).
    Cancelled,
    /// A newer command with the same supersede key replaced it (final).
    Superseded,
}

impl CommandState {
    /// Every state, in a stable order.
    pub const ALL: [CommandState; 9] = [
        CommandState::Queued,
        CommandState::Delivered,
        CommandState::NotNow,
        CommandState::Acknowledged,
        CommandState::Error,
        CommandState::FormatError,
        CommandState::Expired,
        CommandState::Cancelled,
        CommandState::Superseded,
    ];

    /// Whether nothing can happen to the command any more.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            CommandState::Queued | CommandState::Delivered | CommandState::NotNow
        )
    }

    /// The kebab-case name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandState::Queued => "queued",
            CommandState::Delivered => "delivered",
            CommandState::NotNow => "not-now",
            CommandState::Acknowledged => "acknowledged",
            CommandState::Error => "error",
            CommandState::FormatError => "format-error",
            CommandState::Expired => "expired",
            CommandState::Cancelled => "cancelled",
            CommandState::Superseded => "superseded",
        }
    }

    /// The small integer stored in databases.
    pub(crate) fn code(self) -> i16 {
        match self {
            CommandState::Queued => 0,
            CommandState::Delivered => 1,
            CommandState::NotNow => 2,
            CommandState::Acknowledged => 3,
            CommandState::Error => 4,
            CommandState::FormatError => 5,
            CommandState::Expired => 6,
            CommandState::Cancelled => 7,
            CommandState::Superseded => 8,
        }
    }

    /// The state stored as `code`.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn from_code(code: i64) -> Result<Self, QueueError> {
        CommandState::ALL
            .into_iter()
            .find(|s| i64::from(s.code()) == code)
            .ok_or_else(|| QueueError::Corrupt {
                what: format!("unknown state code {code}"),
            })
    }
}

impl fmt::Display for CommandState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a device answered about a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ReportStatus {
    /// Apple `Acknowledged`, Windows status 2xx.
    Acknowledged,
    /// Apple `Error`, Windows status 4xx/5xx.
    Error,
    /// Apple `CommandFormatError`.
    FormatError,
    /// Apple `NotNow`: the device cannot run it now (locked, busy).
    NotNow,
}

impl ReportStatus {
    /// The state a report moves a command to.
    pub fn target_state(self) -> CommandState {
        match self {
            ReportStatus::Acknowledged => CommandState::Acknowledged,
            ReportStatus::Error => CommandState::Error,
            ReportStatus::FormatError => CommandState::FormatError,
            ReportStatus::NotNow => CommandState::NotNow,
        }
    }

    /// The kebab-case name used on the command line.
    pub fn as_str(self) -> &'static str {
        self.target_state().as_str()
    }
}

impl FromStr for ReportStatus {
    type Err = QueueError;
    fn from_str(s: &str) -> Result<Self, QueueError> {
        match s {
            "acknowledged" => Ok(ReportStatus::Acknowledged),
            "error" => Ok(ReportStatus::Error),
            "format-error" => Ok(ReportStatus::FormatError),
            "not-now" => Ok(ReportStatus::NotNow),
            _ => Err(QueueError::UnknownStatus {
                input: s.chars().take(64).collect(),
            }),
        }
    }
}

/// A command to enqueue: build it with [`NewCommand::new`] and the
/// `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewCommand {
    /// Its id (fresh by default; set it to reuse a vendor's CommandUUID).
    pub id: CommandId,
    /// A short name of the command (`InstallProfile`, `Replace`), for
    /// consoles and statistics.
    pub kind: String,
    /// The encoded command, opaque to the queue.
    pub payload: Vec<u8>,
    /// Higher runs first; equal priorities run in creation order.
    pub priority: i32,
    /// Not delivered before this time.
    pub not_before: Option<Timestamp>,
    /// Expires (unless finished) at this time.
    pub expires_at: Option<Timestamp>,
    /// Enqueueing another command with the same key replaces this one while
    /// it is undelivered (queued or parked after NotNow).
    pub supersede_key: Option<String>,
    /// Delivered at most this many times; then it expires.
    pub max_attempts: Option<u32>,
}

impl NewCommand {
    /// A command of `kind` carrying `payload`, priority 0, no deadlines.
    pub fn new(kind: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            id: CommandId::new(),
            kind: kind.into(),
            payload: payload.into(),
            priority: 0,
            not_before: None,
            expires_at: None,
            supersede_key: None,
            max_attempts: None,
        }
    }

    /// Sets the id.
    pub fn with_id(mut self, id: CommandId) -> Self {
        self.id = id;
        self
    }

    /// Sets the priority (higher first).
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Holds the command back until `t`.
    pub fn with_not_before(mut self, t: Timestamp) -> Self {
        self.not_before = Some(t);
        self
    }

    /// Expires the command at `t`.
    pub fn with_expires_at(mut self, t: Timestamp) -> Self {
        self.expires_at = Some(t);
        self
    }

    /// Sets the supersede key.
    pub fn with_supersede_key(mut self, key: impl Into<String>) -> Self {
        self.supersede_key = Some(key.into());
        self
    }

    /// Limits the number of deliveries.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// Checks the limits every store enforces.
    pub(crate) fn validate(&self) -> Result<(), QueueError> {
        let bad = |reason: String| Err(QueueError::InvalidCommand { reason });
        if self.kind.is_empty() || self.kind.len() > MAX_KIND_LEN {
            return bad(format!("kind must be 1 to {MAX_KIND_LEN} bytes"));
        }
        if let Some((i, c)) = self.kind.char_indices().find(|(_, c)| c.is_control()) {
            return bad(format!("kind has the control character {c:?} at byte {i}"));
        }
        if self.payload.len() > MAX_PAYLOAD_LEN {
            return bad(format!(
                "payload is {} bytes, at most {MAX_PAYLOAD_LEN} are allowed",
                self.payload.len()
            ));
        }
        if let Some(k) = &self.supersede_key
            && (k.is_empty() || k.len() > MAX_SUPERSEDE_KEY_LEN)
        {
            return bad(format!(
                "supersede key must be 1 to {MAX_SUPERSEDE_KEY_LEN} bytes"
            ));
        }
        if self.max_attempts == Some(0) {
            return bad("max attempts must be at least 1".into());
        }
        if let (Some(nb), Some(exp)) = (self.not_before, self.expires_at)
            && exp <= nb
        {
            return bad("expires_at must be later than not_before".into());
        }
        Ok(())
    }
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Enqueued {
    /// The command's id.
    pub id: CommandId,
    /// How many enrollments it was queued for.
    pub queued: u64,
    /// Enrollments whose queue went from empty to non-empty: wake these by
    /// push (APNs, WNS, FCM).
    pub wake: Vec<EnrollmentId>,
    /// Commands replaced through the supersede key, per enrollment, in
    /// enrollment order (then command order).
    pub superseded: Vec<(EnrollmentId, CommandId)>,
}

/// How to deliver: one command with nothing else in flight (Apple), or a
/// batch per session (Windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliverOptions {
    /// At most this many commands.
    pub max: usize,
    /// Deliver nothing while another command of the enrollment is in flight.
    pub exclusive: bool,
    /// How long a delivery is held before the command becomes deliverable
    /// again.
    pub lease: Duration,
}

impl DeliverOptions {
    /// The default lease: 5 minutes.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

    /// Apple semantics: one command, only if none is in flight.
    pub fn single() -> Self {
        Self {
            max: 1,
            exclusive: true,
            lease: Self::DEFAULT_LEASE,
        }
    }

    /// Windows semantics: up to `max` commands in one session.
    pub fn batch(max: usize) -> Self {
        Self {
            max,
            exclusive: false,
            lease: Self::DEFAULT_LEASE,
        }
    }

    /// Sets the lease.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }
}

/// A command handed to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Delivered {
    /// Its id (Apple `CommandUUID`, Windows `CmdRef` mapping).
    pub id: CommandId,
    /// Its kind.
    pub kind: String,
    /// The encoded command.
    pub payload: Vec<u8>,
    /// Which delivery this is (1 for the first).
    pub attempt: u32,
    /// When the lease ends.
    pub lease_until: Timestamp,
}

/// What a device said about a command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The status.
    pub status: ReportStatus,
    /// The result payload (Apple response keys, Windows Results), opaque.
    pub result: Option<Vec<u8>>,
}

impl Report {
    /// A report without result payload.
    pub fn new(status: ReportStatus) -> Self {
        Self {
            status,
            result: None,
        }
    }

    /// Attaches a result payload.
    pub fn with_result(mut self, result: impl Into<Vec<u8>>) -> Self {
        self.result = Some(result.into());
        self
    }
}

/// What a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ReportOutcome {
    /// The command moved to the reported state.
    Recorded(CommandState),
    /// The command was already final: the report changed nothing (a
    /// duplicate after a redelivery, or a late answer).
    AlreadyFinal(CommandState),
}

/// One command in an enrollment's queue, as a console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct QueueEntry {
    /// The command.
    pub id: CommandId,
    /// Its kind.
    pub kind: String,
    /// Its priority.
    pub priority: i32,
    /// Its state for this enrollment.
    pub state: CommandState,
    /// Deliveries so far.
    pub attempts: u32,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// Not delivered before.
    pub not_before: Option<Timestamp>,
    /// Expires at.
    pub expires_at: Option<Timestamp>,
    /// The current lease, when delivered.
    pub lease_until: Option<Timestamp>,
    /// Its supersede key.
    pub supersede_key: Option<String>,
    /// Its attempt limit.
    pub max_attempts: Option<u32>,
    /// The last transition.
    pub updated_at: Timestamp,
}

/// Why a transition happened, as kept in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Reason {
    /// The command was enqueued.
    Enqueued,
    /// It was handed to the device.
    Delivered,
    /// The device reported on it.
    Reported,
    /// A lease ran out without an answer.
    LeaseExpired,
    /// A NotNow'd command was released by a non-NotNow report.
    Released,
    /// The device said Idle while the command was in flight or parked.
    Idle,
    /// Its expiry time passed.
    Expired,
    /// It used up its attempts.
    AttemptsExhausted,
    /// An operator cancelled it.
    Cancelled,
    /// The enrollment was cleared (re-enrollment).
    Cleared,
    /// A newer command with the same supersede key replaced it.
    Superseded,
}

impl Reason {
    /// The kebab-case name stored in databases.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Enqueued => "enqueued",
            Reason::Delivered => "delivered",
            Reason::Reported => "reported",
            Reason::LeaseExpired => "lease-expired",
            Reason::Released => "released",
            Reason::Idle => "idle",
            Reason::Expired => "expired",
            Reason::AttemptsExhausted => "attempts-exhausted",
            Reason::Cancelled => "cancelled",
            Reason::Cleared => "cleared",
            Reason::Superseded => "superseded",
        }
    }

    const ALL: [Reason; 11] = [
        Reason::Enqueued,
        Reason::Delivered,
        Reason::Reported,
        Reason::LeaseExpired,
        Reason::Released,
        Reason::Idle,
        Reason::Expired,
        Reason::AttemptsExhausted,
        Reason::Cancelled,
        Reason::Cleared,
        Reason::Superseded,
    ];

    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn parse(s: &str) -> Result<Self, QueueError> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| QueueError::Corrupt {
                what: format!("unknown history reason {s:?}"),
            })
    }
}

/// One transition in an enrollment's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HistoryEvent {
    /// The command.
    pub command: CommandId,
    /// When.
    pub at: Timestamp,
    /// The state before (`None` when enqueued).
    pub from: Option<CommandState>,
    /// The state after.
    pub to: CommandState,
    /// Why.
    pub reason: Reason,
    /// The superseding command, for [`Reason::Superseded`].
    pub by: Option<CommandId>,
    /// The result payload of a report.
    pub result: Option<Vec<u8>>,
}

/// Counts of queue rows by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateCounts(pub BTreeMap<CommandState, u64>);

impl StateCounts {
    /// The count of one state.
    pub fn get(&self, state: CommandState) -> u64 {
        self.0.get(&state).copied().unwrap_or(0)
    }

    /// Adds to a state's count.
    pub fn add(&mut self, state: CommandState, n: u64) {
        *self.0.entry(state).or_insert(0) += n;
    }

    /// The sum over all states.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

impl Serialize for StateCounts {
    /// Every state, zeros included, by kebab-case name.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(CommandState::ALL.len()))?;
        for st in CommandState::ALL {
            m.serialize_entry(st.as_str(), &self.get(st))?;
        }
        m.end()
    }
}

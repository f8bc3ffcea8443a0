//! What the SQLite and PostgreSQL stores share: row decoding and the rows
//! a plan moves ([`row_moves`]). Their layouts differ (SQLite's queue rows
//! name their command and enrollment by integer), so each store has its
//! own queries.

use std::collections::{BTreeMap, HashMap};

use mdmkit_core::TenantId;
use uuid::Uuid;

use crate::error::{DbContext, QueueError};
use crate::ids::CommandId;
use crate::machine::{Change, Slot};
use crate::model::{CommandState, QueueEntry, StateCounts};
use crate::time::Timestamp;

/// A queue row as read from either database.
#[derive(Debug)]
pub(crate) struct RawSlot {
    pub(crate) command_id: Uuid,
    pub(crate) state: i64,
    pub(crate) attempts: i64,
    pub(crate) lease_until: Option<i64>,
    pub(crate) priority: i64,
    pub(crate) created_at: i64,
    pub(crate) seq: i64,
    pub(crate) not_before: Option<i64>,
    pub(crate) expires_at: Option<i64>,
    pub(crate) max_attempts: Option<i64>,
    pub(crate) supersede_key: Option<String>,
}

fn small(what: &str, v: i64) -> Result<u32, QueueError> {
    u32::try_from(v).map_err(|_| QueueError::Corrupt {
        what: format!("{what} is {v}"),
    })
}

impl RawSlot {
    pub(crate) fn into_slot(self) -> Result<Slot, QueueError> {
        let priority = i32::try_from(self.priority).map_err(|_| QueueError::Corrupt {
            what: format!("priority is {}", self.priority),
        })?;
        let mut s = Slot::queued(
            CommandId::from_uuid(self.command_id),
            priority,
            Timestamp::from_millis(self.created_at),
            self.seq,
        );
        s.state = CommandState::from_code(self.state)?;
        s.attempts = small("attempts", self.attempts)?;
        s.lease_until = self.lease_until.map(Timestamp::from_millis);
        s.not_before = self.not_before.map(Timestamp::from_millis);
        s.expires_at = self.expires_at.map(Timestamp::from_millis);
        s.max_attempts = self
            .max_attempts
            .map(|m| small("max attempts", m))
            .transpose()?;
        s.supersede_key = self.supersede_key;
        Ok(s)
    }
}

/// A slot plus what a console sees.
pub(crate) fn entry(slot: Slot, kind: String, updated_at: i64) -> QueueEntry {
    QueueEntry {
        id: slot.command,
        kind,
        priority: slot.priority,
        state: slot.state,
        attempts: slot.attempts,
        created_at: slot.created_at,
        not_before: slot.not_before,
        expires_at: slot.expires_at,
        lease_until: slot.lease_until,
        supersede_key: slot.supersede_key,
        max_attempts: slot.max_attempts,
        updated_at: Timestamp::from_millis(updated_at),
    }
}

/// The JSON array of `[device, channel]` pairs the fan-out statements read
/// with `jsonb_each` (parsed once into SQLite's binary JSON, so each `->>`
/// reads a field without re-parsing the pair's text).
#[cfg(feature = "sqlite")]
pub(crate) fn targets_json<'a>(
    targets: impl IntoIterator<Item = &'a crate::ids::EnrollmentId>,
) -> String {
    let pairs: Vec<[&str; 2]> = targets
        .into_iter()
        .map(|e| [e.device_id().as_str(), e.channel_key()])
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

/// Reads a queue row's slot columns (each store's `slot_columns!`, in
/// the same order) starting at column `at`.
pub(crate) fn raw_slot<'r, R>(row: &'r R, at: usize) -> Result<RawSlot, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(RawSlot {
        command_id: row.try_get(at)?,
        state: row.try_get(at + 1)?,
        attempts: row.try_get(at + 2)?,
        lease_until: row.try_get(at + 3)?,
        priority: row.try_get(at + 4)?,
        created_at: row.try_get(at + 5)?,
        seq: row.try_get(at + 6)?,
        not_before: row.try_get(at + 7)?,
        expires_at: row.try_get(at + 8)?,
        max_attempts: row.try_get(at + 9)?,
        supersede_key: row.try_get(at + 10)?,
    })
}

/// Reads a stored history event: `id, command_id, at, from_state,
/// to_state, reason, by_command, result`.
pub(crate) fn history_event<'r, R>(
    row: &'r R,
) -> Result<Result<(crate::model::HistoryEvent, u64), QueueError>, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: i64 = row.try_get(0)?;
    let command: Uuid = row.try_get(1)?;
    let at: i64 = row.try_get(2)?;
    let from: Option<i64> = row.try_get(3)?;
    let to: i64 = row.try_get(4)?;
    let reason: String = row.try_get(5)?;
    let by: Option<Uuid> = row.try_get(6)?;
    let result: Option<Vec<u8>> = row.try_get(7)?;
    Ok((|| {
        Ok((
            crate::model::HistoryEvent {
                command: CommandId::from_uuid(command),
                at: Timestamp::from_millis(at),
                from: from.map(CommandState::from_code).transpose()?,
                to: CommandState::from_code(to)?,
                reason: crate::model::Reason::parse(&reason)?,
                by: by.map(CommandId::from_uuid),
                result,
            },
            u64::try_from(id).unwrap_or(0),
        ))
    })())
}

/// Folds `state, COUNT(*)` rows into one tenant's counts.
pub(crate) fn state_counts<'r, R>(rows: &'r [R]) -> Result<StateCounts, QueueError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut c = StateCounts::default();
    for r in rows {
        let state: i64 = r.try_get(0).db("read counts")?;
        let n: i64 = r.try_get(1).db("read counts")?;
        c.add(CommandState::from_code(state)?, n.unsigned_abs());
    }
    Ok(c)
}

/// Folds `tenant, state, COUNT(*)` rows into counts per tenant.
pub(crate) fn tenant_state_counts<'r, R>(
    rows: &'r [R],
) -> Result<BTreeMap<TenantId, StateCounts>, QueueError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut out: BTreeMap<TenantId, StateCounts> = BTreeMap::new();
    for r in rows {
        let tenant: String = r.try_get(0).db("read counts")?;
        let state: i64 = r.try_get(1).db("read counts")?;
        let n: i64 = r.try_get(2).db("read counts")?;
        let tenant = TenantId::new(tenant.as_str()).map_err(|e| QueueError::Corrupt {
            what: format!("stored tenant id {tenant:?}: {e}"),
        })?;
        out.entry(tenant)
            .or_default()
            .add(CommandState::from_code(state)?, n.unsigned_abs());
    }
    Ok(out)
}

/// One queue row that a plan of one enrollment moves, once however many of
/// the plan's changes move it: a plan may move a row twice (a lease runs out
/// and the command is delivered again). Both stores write it the same way:
/// the row moves only if it is still in the state the plan found it in
/// (`from`, its first change's; otherwise another call changed the queue
/// since the read), and it ends in its last change's state, attempts, lease
/// and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowMove {
    pub(crate) command: CommandId,
    pub(crate) from: CommandState,
    pub(crate) to: CommandState,
    pub(crate) attempts: u32,
    pub(crate) lease_until: Option<Timestamp>,
    pub(crate) at: Timestamp,
}

/// The rows the `changes` of one enrollment move, in the order of their
/// first change.
pub(crate) fn row_moves(changes: &[Change]) -> Vec<RowMove> {
    let mut out: Vec<RowMove> = Vec::with_capacity(changes.len());
    let mut index: HashMap<CommandId, usize> = HashMap::with_capacity(changes.len());
    for c in changes {
        let last = RowMove {
            command: c.command,
            from: c.from,
            to: c.to,
            attempts: c.attempts,
            lease_until: c.lease_until,
            at: c.at,
        };
        match index.get(&c.command).and_then(|&i| out.get_mut(i)) {
            Some(row) => {
                let from = row.from;
                *row = RowMove { from, ..last };
            }
            None => {
                index.insert(c.command, out.len());
                out.push(last);
            }
        }
    }
    out
}

/// Planned transitions as columns, for a store that writes a whole plan in
/// one statement (PostgreSQL binds each column as an array).
///
/// `events` has one row per [`Change`], in order:
/// the history. `rows` has one row per queue row touched, with its last
/// change only: a plan may move one row twice (a lease runs out and the
/// command is delivered again), and the row must end in the last state.
#[cfg(feature = "postgres")]
#[derive(Debug, Default)]
pub(crate) struct ChangeColumns {
    /// Per event: device, channel, command, at, from, to, reason, by, result.
    pub(crate) ev_device: Vec<String>,
    pub(crate) ev_channel: Vec<String>,
    pub(crate) ev_command: Vec<Uuid>,
    pub(crate) ev_at: Vec<i64>,
    pub(crate) ev_from: Vec<i64>,
    pub(crate) ev_to: Vec<i64>,
    pub(crate) ev_reason: Vec<&'static str>,
    pub(crate) ev_by: Vec<Option<Uuid>>,
    pub(crate) ev_result: Vec<Option<Vec<u8>>>,
    /// Per row: device, channel, command, the state the plan found it in,
    /// and its last state, attempts, lease and time.
    pub(crate) row_device: Vec<String>,
    pub(crate) row_channel: Vec<String>,
    pub(crate) row_command: Vec<Uuid>,
    pub(crate) row_from: Vec<i64>,
    pub(crate) row_state: Vec<i64>,
    pub(crate) row_attempts: Vec<i64>,
    pub(crate) row_lease: Vec<Option<i64>>,
    pub(crate) row_at: Vec<i64>,
    /// The commands delivered, in queue order.
    pub(crate) delivered: Vec<Uuid>,
}

#[cfg(feature = "postgres")]
impl ChangeColumns {
    /// Adds the changes of one enrollment.
    pub(crate) fn push(
        &mut self,
        e: &crate::ids::EnrollmentId,
        changes: &[crate::machine::Change],
    ) {
        let device = e.device_id().as_str();
        let channel = e.channel_key();
        for c in changes {
            let command = c.command.as_uuid();
            self.ev_device.push(device.to_owned());
            self.ev_channel.push(channel.to_owned());
            self.ev_command.push(command);
            self.ev_at.push(c.at.as_millis());
            self.ev_from.push(i64::from(c.from.code()));
            self.ev_to.push(i64::from(c.to.code()));
            self.ev_reason.push(c.reason.as_str());
            self.ev_by.push(c.by.map(|b| b.as_uuid()));
            self.ev_result.push(c.result.clone());
            if c.reason == crate::model::Reason::Delivered {
                self.delivered.push(command);
            }
        }
        for r in row_moves(changes) {
            self.row_device.push(device.to_owned());
            self.row_channel.push(channel.to_owned());
            self.row_command.push(r.command.as_uuid());
            self.row_from.push(i64::from(r.from.code()));
            self.row_state.push(i64::from(r.to.code()));
            self.row_attempts.push(i64::from(r.attempts));
            self.row_lease.push(r.lease_until.map(Timestamp::as_millis));
            self.row_at.push(r.at.as_millis());
        }
    }

    /// Whether there is nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.ev_command.is_empty()
    }
}

/// The `(device, channel)` rows of the pending enrollments query as
/// enrollments, sorted.
pub(crate) fn pending_enrollments(
    rows: Vec<(String, String)>,
) -> Result<Vec<crate::EnrollmentId>, QueueError> {
    let mut out = rows
        .iter()
        .map(|(d, c)| crate::EnrollmentId::from_parts(d, c))
        .collect::<Result<Vec<_>, _>>()?;
    // In the order of the typed ids, whatever the database's collation.
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_states_have_the_lowest_codes() {
        // The stores select pending rows with `state < 3` (one index range).
        for s in CommandState::ALL {
            assert_eq!(s.code() < 3, !s.is_final(), "{s}");
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_row_moved_twice_keeps_its_last_state_and_every_event() {
        use crate::ids::EnrollmentId;
        use crate::model::DeliverOptions;
        use std::time::Duration;
        let e = EnrollmentId::device(mdmkit_core::DeviceId::new("d1").unwrap());
        let mut slots = vec![Slot::queued(
            CommandId::new(),
            0,
            Timestamp::from_millis(0),
            1,
        )];
        let opts = DeliverOptions::single().with_lease(Duration::from_millis(10));
        crate::machine::deliver(&mut slots, Timestamp::from_millis(1), &opts).unwrap();
        // The lease ends and the command goes out again: two changes, one row.
        let ch = crate::machine::deliver(&mut slots, Timestamp::from_millis(20), &opts).unwrap();
        assert_eq!(ch.len(), 2);
        let mut cols = ChangeColumns::default();
        cols.push(&e, &ch);
        assert_eq!(cols.ev_command.len(), 2);
        assert_eq!(cols.row_command.len(), 1);
        assert_eq!(
            cols.row_state,
            vec![i64::from(CommandState::Delivered.code())]
        );
        assert_eq!(cols.row_attempts, vec![2]);
        // The write checks the row is still in the state the plan read.
        assert_eq!(
            cols.row_from,
            vec![i64::from(CommandState::Delivered.code())]
        );
        assert_eq!(cols.delivered, vec![slots[0].command.as_uuid()]);
    }
}

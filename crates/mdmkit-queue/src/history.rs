//! Assembling an enrollment's history from queue rows and stored events.

use crate::ids::CommandId;
use crate::model::{CommandState, HistoryEvent, Reason};
use crate::time::Timestamp;

/// Merges the enqueue events (synthesised from each row's `created_at`, so
/// a fan-out to 100,000 enrollments writes no extra event rows) with the
/// stored transitions, oldest first.
///
/// `created` yields `(created_at, command seq, command)`; `events` yields
/// stored events with their store-wide sequence numbers.
pub(crate) fn merge(
    created: impl Iterator<Item = (Timestamp, i64, CommandId)>,
    events: impl Iterator<Item = (HistoryEvent, u64)>,
) -> Vec<HistoryEvent> {
    // Sort key: time, then enqueue events before stored ones, then order.
    let mut all: Vec<((Timestamp, u8, i128), HistoryEvent)> = created
        .map(|(at, seq, command)| {
            (
                (at, 0, i128::from(seq)),
                HistoryEvent {
                    command,
                    at,
                    from: None,
                    to: CommandState::Queued,
                    reason: Reason::Enqueued,
                    by: None,
                    result: None,
                },
            )
        })
        .chain(events.map(|(e, s)| ((e.at, 1, i128::from(s)), e)))
        .collect();
    all.sort_by_key(|a| a.0);
    all.into_iter().map(|(_, e)| e).collect()
}

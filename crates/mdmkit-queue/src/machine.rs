//! The lifecycle of a queued command as a pure state machine (no I/O).
//!
//! Every store loads the rows of one enrollment as [`Slot`]s, lets the
//! planners below decide, and writes the returned [`Change`]s back (each one
//! row update plus one history event) in the same transaction. The memory,
//! SQLite and PostgreSQL stores therefore share one set of rules:
//!
//! - [`transition`] is the table of legal moves;
//! - [`reap`] applies time: lease expiry, `expires_at`, attempt limits;
//! - [`deliver`] picks what to hand out (Apple: one, nothing else in flight;
//!   Windows: a batch);
//! - [`report`] records an answer; a non-NotNow answer releases the
//!   enrollment's NotNow'd commands;
//! - [`idle`] handles an Apple Idle report;
//! - [`supersede`] and [`cancel`] end commands early.

use std::cmp::Ordering;

use crate::error::QueueError;
use crate::ids::CommandId;
use crate::model::{CommandState, DeliverOptions, Reason, Report, ReportOutcome, ReportStatus};
use crate::time::Timestamp;

/// What can happen to one queue row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Handed to the device.
    Deliver,
    /// The device answered.
    Report(ReportStatus),
    /// The lease ran out.
    LeaseExpired,
    /// A non-NotNow report released a NotNow'd command.
    Release,
    /// The device said Idle.
    Idle,
    /// `expires_at` passed.
    Expire,
    /// The attempts are used up.
    ExhaustAttempts,
    /// Cancelled by an operator.
    Cancel,
    /// The enrollment was cleared.
    Clear,
    /// Replaced by a newer command with the same supersede key.
    Supersede,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Deliver => "deliver",
            Event::Report(ReportStatus::Acknowledged) => "report acknowledged",
            Event::Report(ReportStatus::Error) => "report error",
            Event::Report(ReportStatus::FormatError) => "report format-error",
            Event::Report(ReportStatus::NotNow) => "report not-now",
            Event::LeaseExpired => "lease expired",
            Event::Release => "release",
            Event::Idle => "idle",
            Event::Expire => "expire",
            Event::ExhaustAttempts => "attempts exhausted",
            Event::Cancel => "cancel",
            Event::Clear => "clear",
            Event::Supersede => "supersede",
        }
    }

    fn reason(self) -> Reason {
        match self {
            Event::Deliver => Reason::Delivered,
            Event::Report(_) => Reason::Reported,
            Event::LeaseExpired => Reason::LeaseExpired,
            Event::Release => Reason::Released,
            Event::Idle => Reason::Idle,
            Event::Expire => Reason::Expired,
            Event::ExhaustAttempts => Reason::AttemptsExhausted,
            Event::Cancel => Reason::Cancelled,
            Event::Clear => Reason::Cleared,
            Event::Supersede => Reason::Superseded,
        }
    }
}

/// The legal moves: the state after `event` in state `from`, or an error.
pub fn transition(from: CommandState, event: Event) -> Result<CommandState, QueueError> {
    use CommandState as S;
    let to = match (from, event) {
        (S::Queued, Event::Deliver) => Some(S::Delivered),
        (S::Queued | S::Delivered | S::NotNow, Event::Report(st)) => Some(st.target_state()),
        (S::Delivered, Event::LeaseExpired | Event::Idle) => Some(S::Queued),
        (S::NotNow, Event::Release | Event::Idle) => Some(S::Queued),
        (S::Queued | S::NotNow, Event::Expire | Event::ExhaustAttempts) => Some(S::Expired),
        (S::Queued | S::Delivered | S::NotNow, Event::Cancel | Event::Clear) => Some(S::Cancelled),
        (S::Queued | S::NotNow, Event::Supersede) => Some(S::Superseded),
        _ => None,
    };
    to.ok_or(QueueError::InvalidTransition {
        from,
        event: event.name(),
    })
}

/// One command's row in one enrollment's queue, as the planners see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Slot {
    /// The command.
    pub command: CommandId,
    /// Its state.
    pub state: CommandState,
    /// Deliveries so far.
    pub attempts: u32,
    /// The lease end while delivered.
    pub lease_until: Option<Timestamp>,
    /// Its priority (higher first).
    pub priority: i32,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// A store-wide creation sequence number, breaking ties.
    pub seq: i64,
    /// Not delivered before.
    pub not_before: Option<Timestamp>,
    /// Expires at.
    pub expires_at: Option<Timestamp>,
    /// The attempt limit.
    pub max_attempts: Option<u32>,
    /// The supersede key.
    pub supersede_key: Option<String>,
}

impl Slot {
    /// A freshly queued slot.
    pub fn queued(command: CommandId, priority: i32, created_at: Timestamp, seq: i64) -> Self {
        Self {
            command,
            state: CommandState::Queued,
            attempts: 0,
            lease_until: None,
            priority,
            created_at,
            seq,
            not_before: None,
            expires_at: None,
            max_attempts: None,
            supersede_key: None,
        }
    }

    /// The queue order: priority descending, then creation.
    pub fn order(&self, other: &Slot) -> Ordering {
        other
            .priority
            .cmp(&self.priority)
            .then(self.created_at.cmp(&other.created_at))
            .then(self.seq.cmp(&other.seq))
    }

    /// Checks that the slot is in a possible state; returns what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let delivered = self.state == CommandState::Delivered;
        if delivered != self.lease_until.is_some() {
            return Err(format!(
                "{} in state {} with lease {:?}",
                self.command, self.state, self.lease_until
            ));
        }
        let needs_delivery = matches!(
            self.state,
            CommandState::Delivered
                | CommandState::NotNow
                | CommandState::Acknowledged
                | CommandState::Error
                | CommandState::FormatError
        );
        if needs_delivery && self.attempts == 0 {
            return Err(format!(
                "{} in state {} was never delivered",
                self.command, self.state
            ));
        }
        if let Some(max) = self.max_attempts
            && self.attempts > max
        {
            return Err(format!(
                "{} delivered {} times, limit {max}",
                self.command, self.attempts
            ));
        }
        Ok(())
    }
}

/// One decided transition: the row update and the history event a store
/// writes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// The command.
    pub command: CommandId,
    /// The state before.
    pub from: CommandState,
    /// The state after.
    pub to: CommandState,
    /// Why.
    pub reason: Reason,
    /// Deliveries after the change.
    pub attempts: u32,
    /// The lease after the change.
    pub lease_until: Option<Timestamp>,
    /// The superseding command.
    pub by: Option<CommandId>,
    /// A report's result payload.
    pub result: Option<Vec<u8>>,
    /// When.
    pub at: Timestamp,
}

fn apply(slot: &mut Slot, event: Event, now: Timestamp) -> Result<Change, QueueError> {
    let from = slot.state;
    let to = transition(from, event)?;
    slot.state = to;
    if event == Event::Deliver {
        slot.attempts = slot.attempts.saturating_add(1);
    }
    if to != CommandState::Delivered {
        slot.lease_until = None;
    }
    Ok(Change {
        command: slot.command,
        from,
        to,
        reason: event.reason(),
        attempts: slot.attempts,
        lease_until: slot.lease_until,
        by: None,
        result: None,
        at: now,
    })
}

/// Applies time to an enrollment's slots: ended leases make commands
/// deliverable again, `expires_at` and attempt limits expire them.
pub fn reap(slots: &mut [Slot], now: Timestamp) -> Result<Vec<Change>, QueueError> {
    let mut out = Vec::new();
    for slot in slots.iter_mut() {
        if slot.state == CommandState::Delivered && slot.lease_until.is_some_and(|l| l <= now) {
            out.push(apply(slot, Event::LeaseExpired, now)?);
        }
        if matches!(slot.state, CommandState::Queued | CommandState::NotNow)
            && slot.expires_at.is_some_and(|e| e <= now)
        {
            out.push(apply(slot, Event::Expire, now)?);
        } else if slot.state == CommandState::Queued
            && slot.max_attempts.is_some_and(|m| slot.attempts >= m)
        {
            out.push(apply(slot, Event::ExhaustAttempts, now)?);
        }
    }
    Ok(out)
}

/// Reaps, then delivers per `opts` (an exclusive delivery hands out at
/// most one command, whatever `opts.max` says). The returned changes with reason
/// [`Reason::Delivered`] are the deliveries, in queue order.
pub fn deliver(
    slots: &mut [Slot],
    now: Timestamp,
    opts: &DeliverOptions,
) -> Result<Vec<Change>, QueueError> {
    let mut out = reap(slots, now)?;
    if opts.max == 0 {
        return Ok(out);
    }
    if opts.exclusive && slots.iter().any(|s| s.state == CommandState::Delivered) {
        return Ok(out);
    }
    let mut order: Vec<usize> = (0..slots.len())
        .filter(|&i| {
            let s = &slots[i];
            s.state == CommandState::Queued && s.not_before.is_none_or(|nb| nb <= now)
        })
        .collect();
    order.sort_by(|&a, &b| slots[a].order(&slots[b]));
    let lease_until = now.plus(opts.lease);
    let max = if opts.exclusive { 1 } else { opts.max };
    for i in order.into_iter().take(max) {
        let slot = &mut slots[i];
        slot.lease_until = Some(lease_until);
        out.push(apply(slot, Event::Deliver, now)?);
    }
    Ok(out)
}

/// Records a report on `command`. A report other than NotNow releases the
/// enrollment's NotNow'd commands (they are offered again); a report on a
/// final command changes nothing.
pub fn report(
    slots: &mut [Slot],
    command: CommandId,
    report: &Report,
    now: Timestamp,
) -> Result<(ReportOutcome, Vec<Change>), QueueError> {
    let idx = slots
        .iter()
        .position(|s| s.command == command)
        .ok_or(QueueError::UnknownCommand { command })?;
    let slot = &mut slots[idx];
    if slot.state.is_final() {
        return Ok((ReportOutcome::AlreadyFinal(slot.state), Vec::new()));
    }
    if slot.attempts == 0 {
        return Err(QueueError::NotDelivered { command });
    }
    let mut change = apply(slot, Event::Report(report.status), now)?;
    change.result = report.result.clone();
    let outcome = ReportOutcome::Recorded(change.to);
    let mut out = vec![change];
    if report.status != ReportStatus::NotNow {
        for (i, s) in slots.iter_mut().enumerate() {
            if i != idx && s.state == CommandState::NotNow {
                out.push(apply(s, Event::Release, now)?);
            }
        }
    }
    Ok((outcome, out))
}

/// A report on `command`, then the delivery `opts` asks for, planned over
/// the same read of the enrollment's rows: what the report released the
/// delivery may hand out, and the two are written as one plan.
pub fn report_and_deliver(
    slots: &mut [Slot],
    command: CommandId,
    report_: &Report,
    now: Timestamp,
    opts: &DeliverOptions,
) -> Result<(ReportOutcome, Vec<Change>), QueueError> {
    let (outcome, mut changes) = report(slots, command, report_, now)?;
    changes.extend(deliver(slots, now, opts)?);
    Ok((outcome, changes))
}

/// A report on each of several commands, then the delivery `opts` asks
/// for, planned over one read of the enrollment's rows (a Windows session
/// message answers several commands and asks for the next ones).
///
/// The outcome of each report, in order: `None` for a command not among
/// `slots` (a store reads only pending rows: the caller reports such a
/// command on its own, where it is found final or unknown); an error of
/// one report (a command never delivered) is its own and stops neither
/// the others nor the delivery.
pub fn report_all_and_deliver(
    slots: &mut [Slot],
    reports: &[(CommandId, Report)],
    now: Timestamp,
    opts: &DeliverOptions,
) -> Result<ReportsAndChanges, QueueError> {
    let mut outcomes = Vec::with_capacity(reports.len());
    let mut changes = Vec::new();
    for (command, r) in reports {
        if !slots.iter().any(|s| s.command == *command) {
            outcomes.push(None);
            continue;
        }
        match report(slots, *command, r, now) {
            Ok((o, ch)) => {
                changes.extend(ch);
                outcomes.push(Some(Ok(o)));
            }
            Err(e) => outcomes.push(Some(Err(e))),
        }
    }
    changes.extend(deliver(slots, now, opts)?);
    Ok((outcomes, changes))
}

/// What [`report_all_and_deliver`] returns: each report's outcome (`None`:
/// its command was not among the slots), and the changes to write.
pub type ReportsAndChanges = (Vec<Option<Result<ReportOutcome, QueueError>>>, Vec<Change>);

/// An Apple Idle report: the device holds nothing, so in-flight commands
/// are lost and NotNow'd ones may be retried: both become queued.
pub fn idle(slots: &mut [Slot], now: Timestamp) -> Result<Vec<Change>, QueueError> {
    let mut out = reap(slots, now)?;
    for s in slots.iter_mut() {
        if matches!(s.state, CommandState::Delivered | CommandState::NotNow) {
            out.push(apply(s, Event::Idle, now)?);
        }
    }
    Ok(out)
}

/// Replaces the undelivered commands (queued or NotNow'd) carrying `key`
/// by the command `by`.
pub fn supersede(
    slots: &mut [Slot],
    key: &str,
    by: CommandId,
    now: Timestamp,
) -> Result<Vec<Change>, QueueError> {
    let mut out = Vec::new();
    for s in slots.iter_mut() {
        if s.command != by && s.supersede_key.as_deref() == Some(key) && is_supersedable(s.state) {
            let mut c = apply(s, Event::Supersede, now)?;
            c.by = Some(by);
            out.push(c);
        }
    }
    Ok(out)
}

/// Whether an enqueue with the same supersede key replaces a command in
/// `state`: only while undelivered.
fn is_supersedable(state: CommandState) -> bool {
    matches!(state, CommandState::Queued | CommandState::NotNow)
}

/// [`supersede`] as a set rule, for stores that apply it in one statement
/// over many enrollments: the states replaced and the state they move to.
/// Such a move keeps `attempts`, ends any lease and is recorded with
/// [`Reason::Superseded`](crate::Reason::Superseded), as [`supersede`] does.
#[cfg(feature = "sqlite")]
pub(crate) fn supersede_rule() -> Result<(Vec<CommandState>, CommandState), QueueError> {
    let from: Vec<CommandState> = CommandState::ALL
        .into_iter()
        .filter(|s| is_supersedable(*s))
        .collect();
    let mut to = CommandState::Superseded;
    for s in &from {
        to = transition(*s, Event::Supersede)?;
    }
    Ok((from, to))
}

/// Cancels one command (`clear` marks it as cleared by re-enrollment);
/// `None` when it was already final.
pub fn cancel(slot: &mut Slot, now: Timestamp, clear: bool) -> Result<Option<Change>, QueueError> {
    if slot.state.is_final() {
        return Ok(None);
    }
    let ev = if clear { Event::Clear } else { Event::Cancel };
    apply(slot, ev, now).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn slots(n: usize) -> Vec<Slot> {
        (0..n)
            .map(|i| Slot::queued(CommandId::new(), 0, t(i as i64), i as i64))
            .collect()
    }

    fn delivered(ch: &[Change]) -> Vec<CommandId> {
        ch.iter()
            .filter(|c| c.reason == Reason::Delivered)
            .map(|c| c.command)
            .collect()
    }

    #[test]
    fn apple_delivers_one_at_a_time() {
        let mut s = slots(2);
        let d = deliver(&mut s, t(10), &DeliverOptions::single()).unwrap();
        assert_eq!(delivered(&d), vec![s[0].command]);
        let d = deliver(&mut s, t(11), &DeliverOptions::single()).unwrap();
        assert!(delivered(&d).is_empty());
    }

    #[test]
    fn notnow_command_waits_for_a_non_notnow_report() {
        let mut s = slots(2);
        let (a, b) = (s[0].command, s[1].command);
        deliver(&mut s, t(1), &DeliverOptions::single()).unwrap();
        report(&mut s, a, &Report::new(ReportStatus::NotNow), t(2)).unwrap();
        let d = deliver(&mut s, t(3), &DeliverOptions::single()).unwrap();
        assert_eq!(delivered(&d), vec![b]);
        report(&mut s, b, &Report::new(ReportStatus::NotNow), t(4)).unwrap();
        assert!(delivered(&deliver(&mut s, t(5), &DeliverOptions::single()).unwrap()).is_empty());
        idle(&mut s, t(6)).unwrap();
        let d = deliver(&mut s, t(7), &DeliverOptions::single()).unwrap();
        assert_eq!(delivered(&d), vec![a]);
        let (o, ch) = report(&mut s, a, &Report::new(ReportStatus::Acknowledged), t(8)).unwrap();
        assert_eq!(o, ReportOutcome::Recorded(CommandState::Acknowledged));
        assert!(ch.iter().all(|c| c.reason != Reason::Released));
        assert_eq!(s[1].state, CommandState::Queued);
    }

    #[test]
    fn several_reports_and_a_delivery_plan_as_one() {
        let mut s = slots(4);
        let (a, b, c) = (s[0].command, s[1].command, s[2].command);
        let opts = DeliverOptions::batch(2);
        deliver(&mut s, t(1), &opts).unwrap();
        let unknown = CommandId::new();
        let reports = [
            (a, Report::new(ReportStatus::Acknowledged)),
            (unknown, Report::new(ReportStatus::Acknowledged)),
            (c, Report::new(ReportStatus::Acknowledged)),
            (b, Report::new(ReportStatus::Error)),
        ];
        let (outcomes, ch) = report_all_and_deliver(&mut s, &reports, t(2), &opts).unwrap();
        assert_eq!(outcomes.len(), 4);
        assert!(matches!(
            outcomes[0],
            Some(Ok(ReportOutcome::Recorded(CommandState::Acknowledged)))
        ));
        assert!(outcomes[1].is_none(), "not a slot: reported on its own");
        assert!(
            matches!(outcomes[2], Some(Err(QueueError::NotDelivered { .. }))),
            "{:?}",
            outcomes[2]
        );
        assert!(matches!(
            outcomes[3],
            Some(Ok(ReportOutcome::Recorded(CommandState::Error)))
        ));
        // The undelivered command's error did not stop the delivery.
        assert_eq!(delivered(&ch), vec![c, s[3].command]);
    }

    #[test]
    fn ended_lease_makes_a_command_deliverable_again() {
        let mut s = slots(1);
        let opts = DeliverOptions::single().with_lease(Duration::from_millis(100));
        deliver(&mut s, t(0), &opts).unwrap();
        assert!(delivered(&deliver(&mut s, t(99), &opts).unwrap()).is_empty());
        let d = deliver(&mut s, t(100), &opts).unwrap();
        assert_eq!(d[0].reason, Reason::LeaseExpired);
        assert_eq!(delivered(&d).len(), 1);
        assert_eq!(s[0].attempts, 2);
        let c = s[0].command;
        let (o, _) = report(&mut s, c, &Report::new(ReportStatus::Acknowledged), t(101)).unwrap();
        assert_eq!(o, ReportOutcome::Recorded(CommandState::Acknowledged));
        let (o, ch) = report(&mut s, c, &Report::new(ReportStatus::Acknowledged), t(102)).unwrap();
        assert_eq!(o, ReportOutcome::AlreadyFinal(CommandState::Acknowledged));
        assert!(ch.is_empty());
    }

    #[test]
    fn windows_batch_follows_priority_then_creation() {
        let mut s = slots(3);
        s[2].priority = 5;
        let d = deliver(&mut s, t(10), &DeliverOptions::batch(2)).unwrap();
        assert_eq!(delivered(&d), vec![s[2].command, s[0].command]);
    }

    #[test]
    fn attempts_run_out_into_expired() {
        let mut s = slots(1);
        s[0].max_attempts = Some(1);
        let opts = DeliverOptions::single().with_lease(Duration::from_millis(10));
        deliver(&mut s, t(0), &opts).unwrap();
        let d = deliver(&mut s, t(10), &opts).unwrap();
        assert_eq!(s[0].state, CommandState::Expired);
        assert_eq!(d.last().unwrap().reason, Reason::AttemptsExhausted);
    }

    #[test]
    fn reports_on_undelivered_commands_are_refused() {
        let mut s = slots(1);
        let c = s[0].command;
        assert!(matches!(
            report(&mut s, c, &Report::new(ReportStatus::Acknowledged), t(0)),
            Err(QueueError::NotDelivered { .. })
        ));
        assert!(matches!(
            report(
                &mut s,
                CommandId::new(),
                &Report::new(ReportStatus::Acknowledged),
                t(0)
            ),
            Err(QueueError::UnknownCommand { .. })
        ));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Deliver(bool, usize, u64),
        Report(usize, u8),
        Idle,
        Advance(u64),
        Cancel(usize),
        Supersede(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<bool>(), 0usize..4, 1u64..50).prop_map(|(e, m, l)| Op::Deliver(e, m, l)),
            (0usize..6, 0u8..4).prop_map(|(i, s)| Op::Report(i, s)),
            Just(Op::Idle),
            (0u64..60).prop_map(Op::Advance),
            (0usize..6).prop_map(Op::Cancel),
            (0u8..2).prop_map(Op::Supersede),
        ]
    }

    proptest! {
        #[test]
        fn no_sequence_reaches_an_impossible_state(ops in proptest::collection::vec(op(), 0..60)) {
            let mut s = slots(6);
            for (i, sl) in s.iter_mut().enumerate() {
                sl.max_attempts = if i % 2 == 0 { Some(3) } else { None };
                sl.expires_at = if i == 5 { Some(t(200)) } else { None };
                sl.supersede_key = Some(format!("k{}", i % 2));
            }
            let mut now = 0i64;
            for op in ops {
                let before: Vec<_> = s.iter().map(|x| x.state).collect();
                match op {
                    Op::Deliver(ex, max, lease) => {
                        let opts = DeliverOptions { max, exclusive: ex, lease: Duration::from_millis(lease) };
                        let d = deliver(&mut s, t(now), &opts).unwrap();
                        if ex {
                            prop_assert!(s.iter().filter(|x| x.state == CommandState::Delivered).count() <= 1 || delivered(&d).is_empty());
                        }
                    }
                    Op::Report(i, st) => {
                        let status = [ReportStatus::Acknowledged, ReportStatus::Error, ReportStatus::FormatError, ReportStatus::NotNow][st as usize];
                        let c = s[i].command;
                        let _ = report(&mut s, c, &Report::new(status), t(now));
                    }
                    Op::Idle => { idle(&mut s, t(now)).unwrap(); }
                    Op::Advance(ms) => now += ms as i64,
                    Op::Cancel(i) => { cancel(&mut s[i], t(now), false).unwrap(); }
                    Op::Supersede(k) => { supersede(&mut s, &format!("k{k}"), CommandId::new(), t(now)).unwrap(); }
                }
                for (b, x) in before.iter().zip(&s) {
                    prop_assert!(x.check().is_ok(), "{:?}", x.check());
                    if b.is_final() {
                        prop_assert_eq!(*b, x.state, "a final state changed");
                    }
                }
            }
        }
    }
}

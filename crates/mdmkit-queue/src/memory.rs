//! The in-memory store: for tests, simulations and as the reference the
//! database stores are checked against.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use mdmkit_core::TenantId;

use crate::error::QueueError;
use crate::ids::{CommandId, EnrollmentId};
use crate::machine::{self, Change, Slot};
use crate::model::{
    DeliverOptions, Delivered, Enqueued, HistoryEvent, NewCommand, QueueEntry, Reason, Report,
    ReportOutcome, StateCounts,
};
use crate::store::{QueueStore, prepare_batch, prepare_targets};
use crate::time::{Clock, SystemClock, Timestamp};

#[derive(Debug)]
struct CommandRec {
    kind: String,
    payload: Arc<[u8]>,
}

#[derive(Debug)]
struct Row {
    slot: Slot,
    updated_at: Timestamp,
}

#[derive(Debug, Default)]
struct Tenant {
    commands: HashMap<CommandId, CommandRec>,
    queues: BTreeMap<EnrollmentId, Vec<Row>>,
    history: BTreeMap<EnrollmentId, Vec<(u64, HistoryEvent)>>,
}

#[derive(Debug, Default)]
struct Inner {
    seq: i64,
    event_seq: u64,
    tenants: HashMap<TenantId, Tenant>,
}

/// A store held in memory: fast, shared between clones, gone at exit.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    inner: Arc<Mutex<Inner>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store reading time from `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            inner: Arc::new(Mutex::new(Inner::default())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied call:
        // every call computes its changes before writing them.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn record(
    history: &mut BTreeMap<EnrollmentId, Vec<(u64, HistoryEvent)>>,
    event_seq: &mut u64,
    enrollment: &EnrollmentId,
    changes: &[Change],
) {
    let h = history.entry(enrollment.clone()).or_default();
    for c in changes {
        *event_seq += 1;
        h.push((
            *event_seq,
            HistoryEvent {
                command: c.command,
                at: c.at,
                from: Some(c.from),
                to: c.to,
                reason: c.reason,
                by: c.by,
                result: c.result.clone(),
            },
        ));
    }
}

/// Runs a planner over an enrollment's pending slots (plus `also`, as the
/// database stores load them) and writes the result back.
fn with_slots<T>(
    rows: &mut [Row],
    also: Option<CommandId>,
    plan: impl FnOnce(&mut [Slot]) -> Result<(T, Vec<Change>), QueueError>,
) -> Result<(T, Vec<Change>), QueueError> {
    let idx: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.slot.state.is_final() || Some(r.slot.command) == also)
        .map(|(i, _)| i)
        .collect();
    let mut slots: Vec<Slot> = idx.iter().map(|&i| rows[i].slot.clone()).collect();
    let (t, changes) = plan(&mut slots)?;
    for (&i, slot) in idx.iter().zip(slots) {
        rows[i].slot = slot;
    }
    for c in &changes {
        if let Some(&i) = idx.iter().find(|&&i| rows[i].slot.command == c.command) {
            rows[i].updated_at = c.at;
        }
    }
    Ok((t, changes))
}

#[async_trait]
impl QueueStore for MemoryStore {
    async fn enqueue(
        &self,
        tenant: &TenantId,
        command: &NewCommand,
        targets: &[EnrollmentId],
    ) -> Result<Enqueued, QueueError> {
        command.validate()?;
        let targets = prepare_targets(targets)?;
        let now = self.clock.now();
        let mut guard = self.lock();
        if guard
            .tenants
            .get(tenant)
            .is_some_and(|t| t.commands.contains_key(&command.id))
        {
            return Err(QueueError::DuplicateCommand {
                command: command.id,
            });
        }
        enqueue_locked(&mut guard, tenant, command, &targets, now)
    }

    async fn enqueue_batch(
        &self,
        tenant: &TenantId,
        batch: &[(NewCommand, Vec<EnrollmentId>)],
    ) -> Result<Vec<Enqueued>, QueueError> {
        let batch = prepare_batch(batch)?;
        let now = self.clock.now();
        let mut guard = self.lock();
        // Every refusal is found before anything changes: all or nothing.
        if let Some(t) = guard.tenants.get(tenant)
            && let Some((c, _)) = batch.iter().find(|(c, _)| t.commands.contains_key(&c.id))
        {
            return Err(QueueError::DuplicateCommand { command: c.id });
        }
        batch
            .iter()
            .map(|(command, targets)| enqueue_locked(&mut guard, tenant, command, targets, now))
            .collect()
    }

    async fn deliver(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        opts: &DeliverOptions,
    ) -> Result<Vec<Delivered>, QueueError> {
        let now = self.clock.now();
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(t) = inner.tenants.get_mut(tenant) else {
            return Ok(Vec::new());
        };
        let Some(rows) = t.queues.get_mut(enrollment) else {
            return Ok(Vec::new());
        };
        let ((), changes) = with_slots(rows, None, |s| Ok(((), machine::deliver(s, now, opts)?)))?;
        record(&mut t.history, &mut inner.event_seq, enrollment, &changes);
        let mut out = Vec::new();
        for c in changes.iter().filter(|c| c.reason == Reason::Delivered) {
            let rec = t
                .commands
                .get(&c.command)
                .ok_or_else(|| QueueError::Corrupt {
                    what: format!("queue row without command {}", c.command),
                })?;
            out.push(Delivered {
                id: c.command,
                kind: rec.kind.clone(),
                payload: rec.payload.to_vec(),
                attempt: c.attempts,
                lease_until: c.lease_until.unwrap_or(now),
            });
        }
        Ok(out)
    }

    async fn report(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: CommandId,
        report: &Report,
    ) -> Result<ReportOutcome, QueueError> {
        check_result(report)?;
        let now = self.clock.now();
        let mut guard = self.lock();
        let inner = &mut *guard;
        let rows = inner
            .tenants
            .get_mut(tenant)
            .and_then(|t| t.queues.get_mut(enrollment))
            .ok_or(QueueError::UnknownCommand { command })?;
        let (outcome, changes) = with_slots(rows, Some(command), |s| {
            machine::report(s, command, report, now)
        })?;
        if let Some(t) = inner.tenants.get_mut(tenant) {
            record(&mut t.history, &mut inner.event_seq, enrollment, &changes);
        }
        Ok(outcome)
    }

    async fn idle(&self, tenant: &TenantId, enrollment: &EnrollmentId) -> Result<(), QueueError> {
        let now = self.clock.now();
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(t) = inner.tenants.get_mut(tenant) else {
            return Ok(());
        };
        let Some(rows) = t.queues.get_mut(enrollment) else {
            return Ok(());
        };
        let ((), changes) = with_slots(rows, None, |s| Ok(((), machine::idle(s, now)?)))?;
        record(&mut t.history, &mut inner.event_seq, enrollment, &changes);
        Ok(())
    }

    async fn cancel(&self, tenant: &TenantId, command: CommandId) -> Result<u64, QueueError> {
        let now = self.clock.now();
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(t) = inner.tenants.get_mut(tenant) else {
            return Err(QueueError::UnknownCommand { command });
        };
        if !t.commands.contains_key(&command) {
            return Err(QueueError::UnknownCommand { command });
        }
        let mut n = 0;
        for (e, rows) in t.queues.iter_mut() {
            let ((), ch) = with_slots(rows, None, |s| {
                let mut ch = Vec::new();
                for slot in s.iter_mut().filter(|s| s.command == command) {
                    ch.extend(machine::cancel(slot, now, false)?);
                }
                Ok(((), ch))
            })?;
            n += ch.len() as u64;
            record(&mut t.history, &mut inner.event_seq, e, &ch);
        }
        Ok(n)
    }

    async fn clear_enrollment(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<u64, QueueError> {
        let now = self.clock.now();
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(t) = inner.tenants.get_mut(tenant) else {
            return Ok(0);
        };
        let Some(rows) = t.queues.get_mut(enrollment) else {
            return Ok(0);
        };
        let ((), ch) = with_slots(rows, None, |s| {
            let mut ch = Vec::new();
            for slot in s.iter_mut() {
                ch.extend(machine::cancel(slot, now, true)?);
            }
            Ok(((), ch))
        })?;
        record(&mut t.history, &mut inner.event_seq, enrollment, &ch);
        Ok(ch.len() as u64)
    }

    async fn list(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<Vec<QueueEntry>, QueueError> {
        let guard = self.lock();
        let Some(t) = guard.tenants.get(tenant) else {
            return Ok(Vec::new());
        };
        let Some(rows) = t.queues.get(enrollment) else {
            return Ok(Vec::new());
        };
        let mut rows: Vec<&Row> = rows.iter().collect();
        rows.sort_by(|a, b| a.slot.order(&b.slot));
        Ok(rows
            .into_iter()
            .map(|r| QueueEntry {
                id: r.slot.command,
                kind: t
                    .commands
                    .get(&r.slot.command)
                    .map(|c| c.kind.clone())
                    .unwrap_or_default(),
                priority: r.slot.priority,
                state: r.slot.state,
                attempts: r.slot.attempts,
                created_at: r.slot.created_at,
                not_before: r.slot.not_before,
                expires_at: r.slot.expires_at,
                lease_until: r.slot.lease_until,
                supersede_key: r.slot.supersede_key.clone(),
                max_attempts: r.slot.max_attempts,
                updated_at: r.updated_at,
            })
            .collect())
    }

    async fn history(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: Option<CommandId>,
    ) -> Result<Vec<HistoryEvent>, QueueError> {
        let guard = self.lock();
        let Some(t) = guard.tenants.get(tenant) else {
            return Ok(Vec::new());
        };
        let rows = t.queues.get(enrollment).map(Vec::as_slice).unwrap_or(&[]);
        let events = t.history.get(enrollment).map(Vec::as_slice).unwrap_or(&[]);
        let want = |c: &CommandId| command.is_none_or(|w| w == *c);
        let created = rows
            .iter()
            .filter(|r| want(&r.slot.command))
            .map(|r| (r.slot.created_at, r.slot.seq, r.slot.command));
        let events = events
            .iter()
            .filter(|(_, e)| want(&e.command))
            .map(|(s, e)| (e.clone(), *s));
        Ok(crate::history::merge(created, events))
    }

    async fn counts(&self, tenant: &TenantId) -> Result<StateCounts, QueueError> {
        let guard = self.lock();
        let mut c = StateCounts::default();
        if let Some(t) = guard.tenants.get(tenant) {
            for r in t.queues.values().flatten() {
                c.add(r.slot.state, 1);
            }
        }
        Ok(c)
    }

    async fn pending_enrollments(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<EnrollmentId>, QueueError> {
        let guard = self.lock();
        Ok(guard
            .tenants
            .get(tenant)
            .map(|t| {
                t.queues
                    .iter()
                    .filter(|(_, rows)| {
                        rows.iter().any(|r| {
                            matches!(
                                r.slot.state,
                                crate::CommandState::Queued | crate::CommandState::Delivered
                            )
                        })
                    })
                    .map(|(e, _)| e.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn counts_by_tenant(&self) -> Result<BTreeMap<TenantId, StateCounts>, QueueError> {
        let guard = self.lock();
        let mut out = BTreeMap::new();
        for (id, t) in &guard.tenants {
            let mut c = StateCounts::default();
            for r in t.queues.values().flatten() {
                c.add(r.slot.state, 1);
            }
            if c.total() > 0 {
                out.insert(id.clone(), c);
            }
        }
        Ok(out)
    }

    async fn purge(&self, tenant: &TenantId, before: Timestamp) -> Result<u64, QueueError> {
        let mut guard = self.lock();
        let Some(t) = guard.tenants.get_mut(tenant) else {
            return Ok(0);
        };
        let mut n = 0;
        for (e, rows) in t.queues.iter_mut() {
            let gone: Vec<CommandId> = rows
                .iter()
                .filter(|r| r.slot.state.is_final() && r.updated_at < before)
                .map(|r| r.slot.command)
                .collect();
            if gone.is_empty() {
                continue;
            }
            n += gone.len() as u64;
            rows.retain(|r| !gone.contains(&r.slot.command));
            if let Some(h) = t.history.get_mut(e) {
                h.retain(|(_, ev)| !gone.contains(&ev.command));
            }
        }
        t.queues.retain(|_, rows| !rows.is_empty());
        let live: std::collections::HashSet<CommandId> = t
            .queues
            .values()
            .flatten()
            .map(|r| r.slot.command)
            .collect();
        t.commands.retain(|id, _| live.contains(id));
        Ok(n)
    }
}

pub(crate) fn check_result(report: &Report) -> Result<(), QueueError> {
    match &report.result {
        Some(r) if r.len() > crate::model::MAX_RESULT_LEN => Err(QueueError::InvalidCommand {
            reason: format!(
                "report result is {} bytes, at most {} are allowed",
                r.len(),
                crate::model::MAX_RESULT_LEN
            ),
        }),
        _ => Ok(()),
    }
}

/// Queues one command whose id the caller checked is new (and whose
/// targets are prepared).
fn enqueue_locked(
    inner: &mut Inner,
    tenant: &TenantId,
    command: &NewCommand,
    targets: &[EnrollmentId],
    now: Timestamp,
) -> Result<Enqueued, QueueError> {
    let t = inner.tenants.entry(tenant.clone()).or_default();
    inner.seq += 1;
    let seq = inner.seq;
    t.commands.insert(
        command.id,
        CommandRec {
            kind: command.kind.clone(),
            payload: Arc::from(command.payload.as_slice()),
        },
    );
    let mut out = Enqueued {
        id: command.id,
        queued: 0,
        wake: Vec::new(),
        superseded: Vec::new(),
    };
    for e in targets {
        let rows = t.queues.entry(e.clone()).or_default();
        if rows.iter().all(|r| r.slot.state.is_final()) {
            out.wake.push(e.clone());
        }
        if let Some(key) = &command.supersede_key {
            let ((), ch) = with_slots(rows, None, |s| {
                Ok(((), machine::supersede(s, key, command.id, now)?))
            })?;
            out.superseded
                .extend(ch.iter().map(|c| (e.clone(), c.command)));
            record(&mut t.history, &mut inner.event_seq, e, &ch);
        }
        let mut slot = Slot::queued(command.id, command.priority, now, seq);
        slot.not_before = command.not_before;
        slot.expires_at = command.expires_at;
        slot.max_attempts = command.max_attempts;
        slot.supersede_key = command.supersede_key.clone();
        rows.push(Row {
            slot,
            updated_at: now,
        });
        out.queued += 1;
    }
    Ok(out)
}

//! The storage trait every backend implements.

use std::collections::BTreeMap;

use async_trait::async_trait;
use mdmkit_core::TenantId;

use crate::error::QueueError;
use crate::ids::{CommandId, EnrollmentId};
use crate::model::{
    DeliverOptions, Delivered, Enqueued, HistoryEvent, NewCommand, QueueEntry, Report,
    ReportOutcome, StateCounts,
};
use crate::time::Timestamp;

/// A store of per-enrollment command queues.
///
/// Every call names its tenant first and touches nothing outside it. Each
/// call is one transaction: it happens completely or not at all. Calls take
/// `&self` and may run concurrently from many tasks (and, for PostgreSQL,
/// many processes).
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Queues one command for every enrollment in `targets` (duplicates
    /// ignored), storing the payload once. Undelivered commands of the same
    /// targets with the same supersede key become superseded.
    async fn enqueue(
        &self,
        tenant: &TenantId,
        command: &NewCommand,
        targets: &[EnrollmentId],
    ) -> Result<Enqueued, QueueError>;

    /// Queues several commands in one transaction: all of them or, on any
    /// error (a duplicate id, an invalid command), none. Each is queued as
    /// by [`enqueue`](Self::enqueue), in order, so a later command of the
    /// batch supersedes an earlier one with the same key, and push hints
    /// name an enrollment once, under the first command that made its queue
    /// non-empty. A reconcile queues its whole plan this way: one commit
    /// instead of one per command, and no half-queued plan after a crash.
    async fn enqueue_batch(
        &self,
        tenant: &TenantId,
        batch: &[(NewCommand, Vec<EnrollmentId>)],
    ) -> Result<Vec<Enqueued>, QueueError>;

    /// Delivers per `opts`: ended leases and expiries are applied first.
    async fn deliver(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        opts: &DeliverOptions,
    ) -> Result<Vec<Delivered>, QueueError>;

    /// Records a device's report on a command delivered to `enrollment`.
    async fn report(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: CommandId,
        report: &Report,
    ) -> Result<ReportOutcome, QueueError>;

    /// Records an Apple Idle report: in-flight and NotNow'd commands become
    /// queued again.
    async fn idle(&self, tenant: &TenantId, enrollment: &EnrollmentId) -> Result<(), QueueError>;

    /// Cancels a command for every enrollment it is still pending for;
    /// returns how many rows were cancelled.
    async fn cancel(&self, tenant: &TenantId, command: CommandId) -> Result<u64, QueueError>;

    /// Clears an enrollment's queue at re-enrollment: every pending command
    /// is cancelled (reason `cleared`); returns how many. Never called
    /// implicitly (certificate renewal must not lose a queue).
    async fn clear_enrollment(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<u64, QueueError>;

    /// An enrollment's queue, pending and finished (until purged), in queue
    /// order.
    async fn list(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<Vec<QueueEntry>, QueueError>;

    /// Every transition of an enrollment's commands (one command's when
    /// `command` is set), oldest first.
    async fn history(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: Option<CommandId>,
    ) -> Result<Vec<HistoryEvent>, QueueError>;

    /// A tenant's queue rows counted by state.
    async fn counts(&self, tenant: &TenantId) -> Result<StateCounts, QueueError>;

    /// Every tenant's counts: for the operator of a hosted deployment.
    async fn counts_by_tenant(&self) -> Result<BTreeMap<TenantId, StateCounts>, QueueError>;

    /// The enrollments of a tenant with a command queued or delivered and
    /// not yet answered, sorted.
    ///
    /// What a server that delivers on its own schedule (Android commands go
    /// to Google, not to the device) sweeps instead of asking every
    /// device's queue: one read of the queue, however many devices have
    /// nothing waiting.
    async fn pending_enrollments(&self, tenant: &TenantId)
    -> Result<Vec<EnrollmentId>, QueueError>;

    /// Deletes a tenant's finished rows (and their history) whose last
    /// transition is older than `before`, and commands left without rows;
    /// returns how many rows were deleted.
    async fn purge(&self, tenant: &TenantId, before: Timestamp) -> Result<u64, QueueError>;

    /// Apple: the next command, unless one is already in flight.
    async fn next(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<Option<Delivered>, QueueError> {
        let mut v = self
            .deliver(tenant, enrollment, &DeliverOptions::single())
            .await?;
        Ok(v.pop())
    }

    /// Apple: records a device's report on `command` and delivers its next
    /// command (unless one is still in flight), as one call: the device's
    /// request carries both (its answer, and its wish for what comes next).
    ///
    /// The default runs [`report`](Self::report) then [`next`](Self::next);
    /// the SQL backends plan both over one read and write them in one
    /// statement (a round trip to the database is most of a command
    /// cycle's cost). Either way the report is recorded before anything is
    /// delivered, and an error of the report (an unknown or undelivered
    /// command) delivers nothing.
    async fn report_and_next(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: CommandId,
        report: &Report,
    ) -> Result<(ReportOutcome, Option<Delivered>), QueueError> {
        let outcome = self.report(tenant, enrollment, command, report).await?;
        let next = self.next(tenant, enrollment).await?;
        Ok((outcome, next))
    }

    /// Windows: records the reports of one session message (a device
    /// answers several commands at once) and delivers up to `max` commands
    /// for its reply, as one call.
    ///
    /// Each report's outcome comes back in order, with its own error (an
    /// unknown or never-delivered command): one bad report stops neither
    /// the others nor the delivery. The reports are recorded before
    /// anything is delivered. The default runs [`report`](Self::report)
    /// for each, then [`next_batch`](Self::next_batch); the SQL backends
    /// plan everything over one read of the enrollment's rows and write
    /// it in one transaction.
    async fn report_all_and_next_batch(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        reports: &[(CommandId, Report)],
        max: usize,
    ) -> Result<(Vec<Result<ReportOutcome, QueueError>>, Vec<Delivered>), QueueError> {
        let mut outcomes = Vec::with_capacity(reports.len());
        for (command, report) in reports {
            outcomes.push(self.report(tenant, enrollment, *command, report).await);
        }
        let next = self.next_batch(tenant, enrollment, max).await?;
        Ok((outcomes, next))
    }

    /// Windows: up to `max` commands for one session.
    async fn next_batch(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        max: usize,
    ) -> Result<Vec<Delivered>, QueueError> {
        self.deliver(tenant, enrollment, &DeliverOptions::batch(max))
            .await
    }
}

/// The outcomes of [`crate::machine::report_all_and_deliver`]: the reports whose
/// command was not among the pending rows read are made on their own
/// (such a command is final or unknown, so the order does not matter).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) async fn report_the_rest<S: QueueStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    enrollment: &EnrollmentId,
    reports: &[(CommandId, Report)],
    planned: Vec<Option<Result<ReportOutcome, QueueError>>>,
) -> Vec<Result<ReportOutcome, QueueError>> {
    let mut out = Vec::with_capacity(planned.len());
    for ((command, report), p) in reports.iter().zip(planned) {
        out.push(match p {
            Some(o) => o,
            None => store.report(tenant, enrollment, *command, report).await,
        });
    }
    out
}

/// Sorts and deduplicates targets, refusing too many.
pub(crate) fn prepare_targets(targets: &[EnrollmentId]) -> Result<Vec<EnrollmentId>, QueueError> {
    if targets.len() > crate::model::MAX_TARGETS {
        return Err(QueueError::InvalidCommand {
            reason: format!(
                "{} targets, at most {} per call",
                targets.len(),
                crate::model::MAX_TARGETS
            ),
        });
    }
    let mut t = targets.to_vec();
    t.sort();
    t.dedup();
    Ok(t)
}

/// Validates a batch for [`QueueStore::enqueue_batch`]: every command and
/// its targets (sorted, de-duplicated), and no command id twice.
pub(crate) fn prepare_batch(
    batch: &[(NewCommand, Vec<EnrollmentId>)],
) -> Result<Vec<(&NewCommand, Vec<EnrollmentId>)>, QueueError> {
    let mut ids = std::collections::HashSet::with_capacity(batch.len());
    let mut out = Vec::with_capacity(batch.len());
    for (command, targets) in batch {
        command.validate()?;
        if !ids.insert(command.id) {
            return Err(QueueError::DuplicateCommand {
                command: command.id,
            });
        }
        out.push((command, prepare_targets(targets)?));
    }
    Ok(out)
}

/// The debug event of a committed enqueue: how many commands, queued
/// rows and superseded commands (never payloads).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn log_enqueued(out: &[Enqueued]) {
    tracing::debug!(
        commands = out.len(),
        queued = out.iter().map(|e| e.queued).sum::<u64>(),
        superseded = out.iter().map(|e| e.superseded.len()).sum::<usize>(),
        "enqueued"
    );
}

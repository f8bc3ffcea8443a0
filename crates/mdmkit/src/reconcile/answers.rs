//! Device answers: queue reports and compliance updates, and the platform
//! helpers that speak each vendor's protocol messages.

use mdmkit_core::{DeviceId, TenantId};
use mdmkit_policy::Category;
use mdmkit_queue::{
    CommandId, Delivered, EnrollmentId, QueueStore, Report, ReportOutcome, ReportStatus,
};
use serde::Serialize;

use super::Reconciler;
use crate::error::Error;
use crate::state::{CategoryState, ComplianceState, StateBatch, StateStore};

/// What a device (or, for Android, Google's API) said about a command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// The device ran the command (Apple `Acknowledged`, a Windows 2xx
    /// status): its categories are verified once all their commands are.
    Acknowledged,
    /// Android: Google accepted the policy patch and gave it this version;
    /// the categories are verified when the device reports it applied.
    Accepted {
        /// The policy version Google assigned.
        version: Option<i64>,
    },
    /// The device cannot run it now; it is offered again later.
    NotNow,
    /// The device refused it, with its error.
    Error(String),
    /// The device could not parse it.
    FormatError(String),
}

/// What recording an answer did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AnswerOutcome {
    /// What the queue made of it.
    pub queue: ReportOutcome,
    /// The categories whose state changed, with the new state.
    #[serde(serialize_with = "ser_changes")]
    pub categories: Vec<(Category, ComplianceState)>,
}

fn ser_changes<S: serde::Serializer>(
    v: &[(Category, ComplianceState)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (c, st) in v {
        m.serialize_entry(c.as_str(), st)?;
    }
    m.end()
}

/// The commands this process delivered that carry no policy category (by
/// their queue kind), so that their answers skip the read of the device's
/// compliance rows. A command's kind never changes, so an entry is never
/// wrong; a command delivered by another process (or before a restart) is
/// simply not known, and its answer reads the rows. Bounded: when full it
/// starts again empty.
#[derive(Debug, Default)]
pub(crate) struct Uncategorized(std::sync::Mutex<std::collections::HashSet<CommandId>>);

#[cfg_attr(not(feature = "apple"), allow(dead_code))]
impl Uncategorized {
    const MAX: usize = 16_384;

    fn remember(&self, id: CommandId) {
        if let Ok(mut set) = self.0.lock() {
            if set.len() >= Self::MAX {
                set.clear();
            }
            set.insert(id);
        }
    }

    /// Whether `id` is known to carry no category (and forgets it: a
    /// command is answered once per delivery).
    fn take(&self, id: CommandId) -> bool {
        self.0.lock().is_ok_and(|mut set| set.remove(&id))
    }
}

impl<Q, S> Reconciler<Q, S>
where
    Q: QueueStore + ?Sized,
    S: StateStore + ?Sized,
{
    /// Delivers a device's next command (one at a time, the Apple and
    /// Android way) and marks its categories `sent`.
    pub async fn next(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> Result<Option<Delivered>, Error> {
        let enrollment = EnrollmentId::device(device.clone());
        let next = self.queue.next(tenant, &enrollment).await?;
        if let Some(d) = &next {
            self.mark_delivered(tenant, device, &[d.id]).await?;
        }
        Ok(next)
    }

    /// Records that `device` fetched these commands: their categories move
    /// from `pending` to `sent`.
    pub async fn mark_delivered(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        commands: &[CommandId],
    ) -> Result<(), Error> {
        if commands.is_empty() {
            return Ok(());
        }
        self.update_compliance(tenant, device, &[], commands)
            .await
            .map(|_| ())
    }

    /// Records a device's answer to a command: the queue's report, then
    /// the compliance of the categories the command carries. A duplicate
    /// answer (after a redelivery) changes nothing.
    pub async fn record_answer(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        command: CommandId,
        answer: &Answer,
        result: Option<Vec<u8>>,
    ) -> Result<AnswerOutcome, Error> {
        let queue = self
            .report_to_queue(tenant, device, command, answer, result)
            .await?;
        let mut out = AnswerOutcome {
            queue,
            categories: Vec::new(),
        };
        if matches!(queue, ReportOutcome::AlreadyFinal(_)) {
            return Ok(out);
        }
        out.categories = self
            .update_compliance(tenant, device, &[(command, answer)], &[])
            .await?
            .into_iter()
            .map(|(_, c, s)| (c, s))
            .collect();
        Ok(out)
    }

    /// The queue's side of an answer, journaled.
    async fn report_to_queue(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        command: CommandId,
        answer: &Answer,
        result: Option<Vec<u8>>,
    ) -> Result<ReportOutcome, Error> {
        let enrollment = EnrollmentId::device(device.clone());
        let queue = self
            .queue
            .report(tenant, &enrollment, command, &queue_report(answer, result))
            .await?;
        self.journal_answer(tenant, device, command, answer).await?;
        Ok(queue)
    }

    /// Journals a device's answer to a command.
    async fn journal_answer(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        command: CommandId,
        answer: &Answer,
    ) -> Result<(), Error> {
        self.journal(vec![answered_event(tenant, device, command, answer)])
            .await
    }

    /// One read of the device's compliance rows, one commit: the categories
    /// the answers move, and those whose commands were just delivered
    /// (`pending` to `sent`). The categories the answers changed, with
    /// their new state and the command whose answer moved them.
    async fn update_compliance(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        answered: &[(CommandId, &Answer)],
        delivered: &[CommandId],
    ) -> Result<Vec<(CommandId, Category, ComplianceState)>, Error> {
        if answered.is_empty() && delivered.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.state.compliance(tenant, Some(device)).await?;
        self.commit_compliance(tenant, rows, answered, delivered)
            .await
    }

    /// [`update_compliance`](Self::update_compliance) over rows already
    /// read: moves them and commits those that moved.
    async fn commit_compliance(
        &self,
        tenant: &TenantId,
        rows: Vec<(DeviceId, CategoryState)>,
        answered: &[(CommandId, &Answer)],
        delivered: &[CommandId],
    ) -> Result<Vec<(CommandId, Category, ComplianceState)>, Error> {
        let now = self.clock.now();
        let mut batch = StateBatch::default();
        let mut changed = Vec::new();
        for (d, mut s) in rows {
            let mut moved = false;
            for (command, answer) in answered {
                if s.commands.contains(command)
                    && apply_answer(&mut s, *command, answer, now, &self.options.retry)
                {
                    changed.push((*command, s.category, s.state));
                    moved = true;
                }
            }
            if s.state == ComplianceState::Pending
                && s.commands.iter().any(|c| delivered.contains(c))
            {
                s.state = ComplianceState::Sent;
                s.updated_at = now;
                moved = true;
            }
            if moved {
                batch.compliance.push((d, s));
            }
        }
        self.commit_state(tenant, batch).await?;
        Ok(changed)
    }
}

/// The journal's event for a device's answer to a command (traced too).
fn answered_event(
    tenant: &TenantId,
    device: &DeviceId,
    command: CommandId,
    answer: &Answer,
) -> crate::audit::Event {
    let (status_text, error) = match answer {
        Answer::Acknowledged => ("acknowledged".to_owned(), None),
        Answer::Accepted { version } => (
            format!(
                "accepted{}",
                version.map(|v| format!(" v{v}")).unwrap_or_default()
            ),
            None,
        ),
        Answer::NotNow => ("not-now".to_owned(), None),
        Answer::Error(e) => ("error".to_owned(), Some(e.clone())),
        Answer::FormatError(e) => ("format-error".to_owned(), Some(e.clone())),
    };
    tracing::debug!(%tenant, %device, %command, status = %status_text, error = error.as_deref(), "device answered");
    crate::audit::Event::CommandAnswered {
        tenant: tenant.clone(),
        device: device.clone(),
        command,
        status: status_text,
        error,
    }
}

/// The queue's report of an answer.
fn queue_report(answer: &Answer, result: Option<Vec<u8>>) -> Report {
    let status = match answer {
        Answer::Acknowledged | Answer::Accepted { .. } => ReportStatus::Acknowledged,
        Answer::NotNow => ReportStatus::NotNow,
        Answer::Error(_) => ReportStatus::Error,
        Answer::FormatError(_) => ReportStatus::FormatError,
    };
    let report = Report::new(status);
    match result {
        Some(r) => report.with_result(r),
        None => report,
    }
}

/// Moves a category state on an answer; whether it changed.
fn apply_answer(
    s: &mut CategoryState,
    command: CommandId,
    answer: &Answer,
    now: mdmkit_queue::Timestamp,
    retry: &super::RetryPolicy,
) -> bool {
    if matches!(
        s.state,
        ComplianceState::Failed | ComplianceState::Verified | ComplianceState::Unsupported
    ) && !matches!(answer, Answer::Error(_) | Answer::FormatError(_))
    {
        return false;
    }
    match answer {
        Answer::NotNow => {
            if s.state == ComplianceState::Pending {
                s.state = ComplianceState::Sent;
            } else {
                return false;
            }
        }
        Answer::Acknowledged => {
            s.commands.retain(|c| *c != command);
            s.state = if s.commands.is_empty() {
                s.attempts = 0;
                ComplianceState::Verified
            } else {
                ComplianceState::Sent
            };
        }
        Answer::Accepted { version } => {
            s.version = *version;
            s.state = ComplianceState::Sent;
        }
        Answer::Error(e) | Answer::FormatError(e) => {
            s.state = ComplianceState::Failed;
            s.error = Some(if matches!(answer, Answer::FormatError(_)) {
                format!("format error: {e}")
            } else {
                e.clone()
            });
            s.attempts = s.attempts.saturating_add(1);
            s.next_retry = retry.next(now, s.attempts);
        }
    }
    s.updated_at = now;
    true
}

/// The Apple side: the check-in server's `PUT` of command reports.
#[cfg(feature = "apple")]
#[cfg_attr(docsrs, doc(cfg(feature = "apple")))]
pub mod apple {
    use super::*;
    use mdmkit_apple::{CommandReport, Limits, Status};

    impl<Q, S> Reconciler<Q, S>
    where
        Q: QueueStore + ?Sized,
        S: StateStore + ?Sized,
    {
        /// Handles one request of an Apple device to the MDM server URL: a
        /// command report (or `Idle`). Records the answer and returns the
        /// next command to send in the HTTP response (`None`: answer with
        /// an empty 200).
        ///
        /// The device must be the one the TLS client certificate (or
        /// `Mdm-Signature`) authenticated: a report naming another UDID is
        /// refused.
        pub async fn apple_report(
            &self,
            tenant: &TenantId,
            device: &DeviceId,
            body: &[u8],
        ) -> Result<Option<Delivered>, Error> {
            let report = CommandReport::from_bytes(body, &Limits::default())
                .map_err(|e| Error::device_message("the message does not parse", e))?;
            self.apple_answer(tenant, device, &report, body).await
        }

        /// [`Reconciler::apple_report`] for a report the caller has
        /// already parsed (an HTTP server reads it first, to know which
        /// enrollment speaks); `body` is its bytes, kept as the result.
        #[tracing::instrument(name = "apple_answer", level = "debug", skip_all, fields(%tenant, %device, status = report.status.as_str()))]
        pub async fn apple_answer(
            &self,
            tenant: &TenantId,
            device: &DeviceId,
            report: &CommandReport,
            body: &[u8],
        ) -> Result<Option<Delivered>, Error> {
            if let Some(udid) = report
                .ids
                .udid
                .as_deref()
                .or(report.ids.enrollment_id.as_deref())
                && udid != device.as_str()
            {
                return Err(Error::DeviceMessage {
                    reason: format!("report from {udid} on the connection of {device}"),
                    source: None,
                });
            }
            let enrollment = EnrollmentId::device(device.clone());
            // The answer's compliance moves wait for the delivery's, so one
            // read and one commit serve both (a cycle's cost is its store
            // round trips).
            let mut answered = None;
            let next = if report.status == Status::Idle {
                self.queue.idle(tenant, &enrollment).await?;
                self.queue.next(tenant, &enrollment).await?
            } else {
                let uuid = report
                    .command_uuid
                    .as_ref()
                    .ok_or_else(|| Error::DeviceMessage {
                        reason: "report without CommandUUID".into(),
                        source: None,
                    })?;
                let id = uuid::Uuid::parse_str(uuid.as_str())
                    .map(CommandId::from_uuid)
                    .map_err(|_| Error::UnknownCommand {
                        device: device.to_string(),
                        command: uuid.as_str().chars().take(64).collect(),
                    })?;
                let chain = || {
                    report
                        .error_chain
                        .iter()
                        .map(|e| {
                            format!(
                                "{} {}: {}",
                                e.error_domain.as_deref().unwrap_or("?"),
                                e.error_code.unwrap_or(0),
                                e.us_english_description
                                    .as_deref()
                                    .or(e.localized_description.as_deref())
                                    .unwrap_or("")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                let answer = match report.status {
                    Status::Acknowledged => Answer::Acknowledged,
                    Status::NotNow => Answer::NotNow,
                    Status::CommandFormatError => Answer::FormatError(chain()),
                    _ => Answer::Error(chain()),
                };
                // The answer and the next delivery in one queue call: one
                // read of the device's queue, one write.
                let (queue, next) = self
                    .queue
                    .report_and_next(
                        tenant,
                        &enrollment,
                        id,
                        &queue_report(&answer, Some(body.to_vec())),
                    )
                    .await?;
                self.journal_answer(tenant, device, id, &answer).await?;
                if !matches!(queue, ReportOutcome::AlreadyFinal(_)) {
                    answered = Some((id, answer));
                }
                next
            };
            // Only commands that may carry a category need the device's
            // compliance rows: an administrator's `DeviceInformation` (the
            // commonest command of a fleet) moves none.
            let answered = answered.filter(|(id, _)| !self.uncategorized.take(*id));
            let mut delivered = Vec::new();
            if let Some(d) = &next {
                if super::super::vendor::APPLE_PLANNED_KINDS.contains(&d.kind.as_str()) {
                    delivered.push(d.id);
                } else {
                    self.uncategorized.remember(d.id);
                }
            }
            let answered: Vec<(CommandId, &Answer)> =
                answered.iter().map(|(id, a)| (*id, a)).collect();
            self.update_compliance(tenant, device, &answered, &delivered)
                .await?;
            Ok(next)
        }
    }
}

/// The Windows side: commands for an OMA-DM session and the statuses the
/// device returns.
#[cfg(feature = "windows")]
#[cfg_attr(docsrs, doc(cfg(feature = "windows")))]
pub mod windows {
    use super::*;
    use mdmkit_windows::session::{
        MatchedResults, MatchedStatus, ObjectFailure, QueueRef, QueuedCommand,
    };
    use mdmkit_windows::syncml::{Command, Container, Results, SyncHdr, SyncMl};

    impl<Q, S> Reconciler<Q, S>
    where
        Q: QueueStore + ?Sized,
        S: StateStore + ?Sized,
    {
        /// Up to `max` queued commands for a device's session, ready for
        /// [`mdmkit_windows::session::ServerSession::respond`]; each one's
        /// [`QueueRef`] is the queue command id. A payload of several
        /// commands becomes one `Sequence`.
        pub async fn windows_commands(
            &self,
            tenant: &TenantId,
            device: &DeviceId,
            max: usize,
        ) -> Result<Vec<QueuedCommand>, Error> {
            let enrollment = EnrollmentId::device(device.clone());
            let batch = self.queue.next_batch(tenant, &enrollment, max).await?;
            let (out, ids) = decode_batch(batch)?;
            self.mark_delivered(tenant, device, &ids).await?;
            Ok(out)
        }

        /// Records the statuses a device returned for queued commands: a
        /// command whose statuses (those of the commands nested in its
        /// `Atomic` or `Sequence` included) are all 2xx (or 418 "already
        /// exists" for an `Add`) is acknowledged; otherwise it is an error
        /// carrying the first failing code.
        #[tracing::instrument(name = "windows_statuses", level = "debug", skip_all, fields(%tenant, %device, statuses = statuses.len()))]
        pub async fn windows_statuses(
            &self,
            tenant: &TenantId,
            device: &DeviceId,
            statuses: &[MatchedStatus],
        ) -> Result<Vec<AnswerOutcome>, Error> {
            self.windows_answers(tenant, device, statuses, &[], &[])
                .await
        }

        /// [`Reconciler::windows_statuses`] with the results of `Get`s,
        /// kept as the queue command's result (a SyncML message of its
        /// `Results`, the codec's format), and the large objects that
        /// failed ([`ObjectFailure`]): the command they answered is an
        /// error naming the failure, never acknowledged without its value.
        #[tracing::instrument(name = "windows_answers", level = "debug", skip_all, fields(%tenant, %device, statuses = statuses.len(), results = results.len()))]
        pub async fn windows_answers(
            &self,
            tenant: &TenantId,
            device: &DeviceId,
            statuses: &[MatchedStatus],
            results: &[MatchedResults],
            failures: &[ObjectFailure],
        ) -> Result<Vec<AnswerOutcome>, Error> {
            let mut out = Vec::new();
            for (id, answer, result) in answers_of(device, statuses, results, failures) {
                out.push(
                    self.record_answer(tenant, device, id, &answer, result)
                        .await?,
                );
            }
            Ok(out)
        }

        /// One message of a device's session, as one call: records what it
        /// said (as [`Reconciler::windows_answers`] does), then takes up to `max` queued commands for the reply (as
        /// [`Reconciler::windows_commands`]). The queue plans both over one
        /// read and writes them in one transaction, and the device's
        /// compliance rows are read and written once for both: a message's
        /// cost is its store round trips.
        ///
        /// A status the queue cannot take (its command unknown, purged or
        /// never delivered) is that status's own error, in
        /// [`WindowsExchange::answers`]: it neither stops the others nor
        /// withholds the reply's commands, since a device that gets no
        /// answer would be left with commands delivered to nobody.
        #[tracing::instrument(name = "windows_exchange", level = "debug", skip_all, fields(%tenant, %device, statuses = said.statuses.len(), results = said.results.len()))]
        pub async fn windows_exchange(
            &self,
            tenant: &TenantId,
            device: &DeviceId,
            said: &DeviceSaid<'_>,
            max: usize,
        ) -> Result<WindowsExchange, Error> {
            let mut answers = Vec::new();
            let mut reports: Vec<(CommandId, Report)> = Vec::new();
            for (id, a, result) in answers_of(device, said.statuses, said.results, said.failures) {
                reports.push((id, queue_report(&a, result)));
                answers.push((id, a));
            }
            let enrollment = EnrollmentId::device(device.clone());
            if max == 0 && reports.is_empty() {
                return Ok(WindowsExchange {
                    answers: Vec::new(),
                    commands: Vec::new(),
                });
            }
            // The device's compliance rows are read while the queue call
            // runs (two stores, two connections): the answers and the
            // deliveries then move them in one commit.
            let (queued, rows) = tokio::join!(
                self.queue
                    .report_all_and_next_batch(tenant, &enrollment, &reports, max),
                self.state.compliance(tenant, Some(device))
            );
            let (outcomes, batch) = queued?;
            let rows = rows?;
            let events = answers
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| o.is_ok())
                .map(|((id, a), _)| answered_event(tenant, device, *id, a))
                .collect();
            self.journal(events).await?;
            let (commands, delivered) = decode_batch(batch)?;
            let moving: Vec<(CommandId, &Answer)> = answers
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| matches!(o, Ok(ReportOutcome::Recorded(_))))
                .map(|((id, a), _)| (*id, a))
                .collect();
            let changed = self
                .commit_compliance(tenant, rows, &moving, &delivered)
                .await?;
            let answers = answers
                .iter()
                .zip(outcomes)
                .map(|((id, _), o)| {
                    let o = o.map_err(Error::from).map(|queue| AnswerOutcome {
                        queue,
                        categories: changed
                            .iter()
                            .filter(|(c, ..)| c == id)
                            .map(|(_, c, s)| (*c, *s))
                            .collect(),
                    });
                    if let Err(e) = &o {
                        tracing::warn!(%tenant, %device, command = %id, error = %e, "a status the queue cannot take");
                    }
                    (*id, o)
                })
                .collect();
            Ok(WindowsExchange { answers, commands })
        }
    }

    /// What a device's message said about the server's commands, for
    /// [`Reconciler::windows_exchange`]: its statuses, the results of
    /// `Get`s (whole: large objects reassembled), and the large objects
    /// that failed.
    #[derive(Debug, Clone, Copy, Default)]
    #[non_exhaustive]
    pub struct DeviceSaid<'a> {
        /// The statuses matched to queued commands.
        pub statuses: &'a [MatchedStatus],
        /// The results matched to queued `Get`s.
        pub results: &'a [MatchedResults],
        /// The large objects the device sent that were refused or cut
        /// short.
        pub failures: &'a [ObjectFailure],
    }

    impl<'a> DeviceSaid<'a> {
        /// Statuses, results and failed large objects.
        pub fn new(
            statuses: &'a [MatchedStatus],
            results: &'a [MatchedResults],
            failures: &'a [ObjectFailure],
        ) -> Self {
            Self {
                statuses,
                results,
                failures,
            }
        }
    }

    /// What [`Reconciler::windows_exchange`] did with one device message.
    #[derive(Debug)]
    #[non_exhaustive]
    pub struct WindowsExchange {
        /// Each queued command the statuses answered, with what recording
        /// its answer did (or why the queue could not take it).
        pub answers: Vec<(CommandId, Result<AnswerOutcome, Error>)>,
        /// The commands for the reply, in queue order.
        pub commands: Vec<QueuedCommand>,
    }

    /// The answer of each queued command a message speaks of, with its
    /// result: the first failure among its statuses (a container's nested
    /// ones included) or a failed large object, else acknowledged; the
    /// `Results` of a `Get` kept as the command's result (a SyncML message
    /// of them, the codec's format), unless larger than the queue keeps
    /// (then the command fails, saying why). In the order first seen.
    fn answers_of(
        device: &DeviceId,
        statuses: &[MatchedStatus],
        results: &[MatchedResults],
        failures: &[ObjectFailure],
    ) -> Vec<(CommandId, Answer, Option<Vec<u8>>)> {
        let mut answers: Vec<(CommandId, Answer)> = Vec::new();
        for s in statuses {
            let Some(id) = command_of(&s.queue_ref) else {
                continue;
            };
            let code = s.code.code();
            let ok = s.code.is_success() || (code == 418 && s.cmd == "Add");
            let answer = if ok {
                Answer::Acknowledged
            } else {
                Answer::Error(format!("{} status {code}", s.cmd))
            };
            match answers.iter_mut().find(|(c, _)| *c == id) {
                Some((_, a)) => {
                    if *a == Answer::Acknowledged {
                        *a = answer;
                    }
                }
                None => answers.push((id, answer)),
            }
        }
        for f in failures {
            let Some(id) = f.queue_ref.as_ref().and_then(command_of) else {
                continue;
            };
            let answer = Answer::Error(format!("{} of {}: {}", f.cmd, f.uri, f.error));
            match answers.iter_mut().find(|(c, _)| *c == id) {
                Some((_, a)) => {
                    if !matches!(a, Answer::Error(_)) {
                        *a = answer;
                    }
                }
                None => answers.push((id, answer)),
            }
        }
        let mut by_command: Vec<(CommandId, Vec<Command>)> = Vec::new();
        for r in results {
            let Some(id) = command_of(&r.queue_ref) else {
                continue;
            };
            let cmd = Command::Results(Results {
                cmd_id: None,
                msg_ref: None,
                cmd_ref: Some(r.cmd_id.clone()),
                meta: None,
                target_refs: Vec::new(),
                source_refs: Vec::new(),
                items: r.items.clone(),
            });
            match by_command.iter_mut().find(|(c, _)| *c == id) {
                Some((_, v)) => v.push(cmd),
                None => by_command.push((id, vec![cmd])),
            }
            if !answers.iter().any(|(c, _)| *c == id) {
                answers.push((id, Answer::Acknowledged));
            }
        }
        answers
            .into_iter()
            .map(|(id, mut answer)| {
                let mut result =
                    by_command
                        .iter_mut()
                        .find(|(c, _)| *c == id)
                        .map(|(_, commands)| {
                            SyncMl {
                                header: SyncHdr::new("0", "0", "server", device.as_str()),
                                commands: std::mem::take(commands),
                                final_: true,
                            }
                            .to_xml()
                            .into_bytes()
                        });
                if let Some(len) = result
                    .as_ref()
                    .map(Vec::len)
                    .filter(|&n| n > mdmkit_queue::MAX_RESULT_LEN)
                {
                    // Refused by the queue: the command fails, saying why.
                    result = None;
                    answer = Answer::Error(format!(
                        "results of {len} bytes, more than the queue keeps ({})",
                        mdmkit_queue::MAX_RESULT_LEN
                    ));
                }
                (id, answer, result)
            })
            .collect()
    }

    /// Queued SyncML payloads as session commands (a payload of several
    /// commands travels as one `Sequence`), and their ids.
    fn decode_batch(
        batch: Vec<mdmkit_queue::Delivered>,
    ) -> Result<(Vec<QueuedCommand>, Vec<CommandId>), Error> {
        let mut out = Vec::with_capacity(batch.len());
        let mut ids = Vec::with_capacity(batch.len());
        for d in batch {
            let msg = SyncMl::read(&d.payload)
                .map_err(|e| Error::corrupt(format!("queued SyncML {}", d.id), e))?;
            let mut commands = msg.commands;
            // One queued command is one command in the session: a payload
            // of several travels as a Sequence (run in order, answered
            // together), so none is skipped as already sent.
            let command = if commands.len() == 1 {
                commands.remove(0)
            } else {
                Command::Sequence(Container {
                    cmd_id: Some("1".into()),
                    commands,
                    ..Container::default()
                })
            };
            out.push(QueuedCommand::new(d.id.as_uuid().to_string(), command));
            ids.push(d.id);
        }
        Ok((out, ids))
    }

    fn command_of(r: &QueueRef) -> Option<CommandId> {
        uuid::Uuid::parse_str(r.as_str())
            .ok()
            .map(CommandId::from_uuid)
    }
}

/// The Android side: a device's report (`Device` resource, from a Pub/Sub
/// notification or `devices.get`) verifies the categories of its policy.
#[cfg(feature = "android")]
#[cfg_attr(docsrs, doc(cfg(feature = "android")))]
pub mod android {
    use super::*;
    use mdmkit_android::state::{DesiredPolicy, PolicySync, SettingKey, SettingStatus, verify};

    impl<Q, S> Reconciler<Q, S>
    where
        Q: QueueStore + ?Sized,
        S: StateStore + ?Sized,
    {
        /// Verifies a device's categories from its `Device` report (JSON
        /// bytes, untrusted): a category is verified when the device
        /// applied the accepted policy version and reports none of the
        /// category's fields non-compliant, failed when it reports one.
        pub async fn android_report(
            &self,
            tenant: &TenantId,
            device: &DeviceId,
            report: &[u8],
        ) -> Result<Vec<(Category, ComplianceState)>, Error> {
            self.android_report_for(tenant, device, report, None).await
        }

        /// [`Reconciler::android_report`] for a device that must apply
        /// `policy` (its resource name): a report of another policy (the
        /// enrollment token's, before the device was pointed at its own)
        /// verifies nothing, whatever its version.
        #[tracing::instrument(name = "android_report", level = "debug", skip_all, fields(%tenant, %device))]
        pub async fn android_report_for(
            &self,
            tenant: &TenantId,
            device: &DeviceId,
            report: &[u8],
            policy: Option<&str>,
        ) -> Result<Vec<(Category, ComplianceState)>, Error> {
            let parsed = mdmkit_android::parse::device(report)
                .map_err(|e| Error::device_message("the message does not parse", e))?;
            let records = self
                .state
                .device_records_of(tenant, std::slice::from_ref(device))
                .await?;
            let Some(record) = records.get(device) else {
                return Ok(Vec::new());
            };
            let settings = self
                .state
                .content(tenant, &record.content)
                .await?
                .unwrap_or_default();
            let fields = super::super::vendor::android_fields(&settings);
            let now = self.clock.now();
            let mut batch = StateBatch::default();
            let mut changed = Vec::new();
            for (d, mut s) in self.state.compliance(tenant, Some(device)).await? {
                if !matches!(s.state, ComplianceState::Sent | ComplianceState::Pending) {
                    continue;
                }
                let Some((_, keys)) = fields.iter().find(|(c, _)| *c == s.category) else {
                    continue;
                };
                let mut desired = DesiredPolicy::new(policy.map(str::to_owned), s.version);
                for k in keys {
                    desired = desired.with_setting(SettingKey::field(k.clone()));
                }
                let v = verify(&parsed, &desired);
                let bad: Vec<String> = v
                    .settings
                    .iter()
                    .filter(|r| keys.iter().any(|k| k == r.key.policy_field()))
                    .filter(|r| matches!(r.status, SettingStatus::NonCompliant { .. }))
                    .map(|r| r.key.as_str().to_owned())
                    .collect();
                if !bad.is_empty() {
                    s.state = ComplianceState::Failed;
                    s.error = Some(format!("not applied on the device: {}", bad.join(", ")));
                    s.attempts = s.attempts.saturating_add(1);
                    s.next_retry = self.options.retry.next(now, s.attempts);
                } else if v.sync == PolicySync::Current {
                    s.state = ComplianceState::Verified;
                    s.attempts = 0;
                    s.error = None;
                } else {
                    continue;
                }
                s.updated_at = now;
                changed.push((s.category, s.state));
                batch.compliance.push((d, s));
            }
            self.commit_state(tenant, batch).await?;
            Ok(changed)
        }
    }
}

//! The hosted store: PostgreSQL, several server processes on one database.
//!
//! Calls on one enrollment (deliver, report, idle, clear) are optimistic:
//! one statement reads the enrollment's pending rows and the version of its
//! queue (`mdmkit_enrollments`) without locking anything, the state machine
//! plans, and one statement writes the whole plan (row updates, history
//! events, delivered payloads) only if the version is still the one read
//! and each row is still in the state read; it bumps the version as it
//! writes. Otherwise the statement fails with SQLSTATE 40001 and the call
//! starts again from the read. Two nodes serving one device therefore never
//! both put a command in flight, and never hand out the same command: the
//! second writer finds the version moved. Calls across enrollments (cancel,
//! supersede in an enqueue) lock their rows `FOR UPDATE` in a transaction,
//! and the row-state check makes an optimistic writer that read those rows
//! before them start again. Deadlocks and serialisation failures are
//! retried with a short random backoff. Every key starts with the tenant,
//! so the tables can be distributed by `tenant` (Citus); see
//! `docs/queue.md`.
//!
//! Round trips are what a call costs on a fast server, so each call keeps
//! them few: an enqueue without a supersede key is one statement (command,
//! rows and the push-hint lookup together); a delivery and a report are a
//! read and a write, no `BEGIN`, no `COMMIT`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use mdmkit_core::TenantId;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use crate::error::{DbContext, QueueError};
use crate::ids::{CommandId, EnrollmentId};
use crate::machine::{self, Slot};
use crate::model::{
    DeliverOptions, Delivered, Enqueued, HistoryEvent, NewCommand, QueueEntry, Reason, Report,
    ReportOutcome, StateCounts,
};
use crate::sql::{self, ChangeColumns};
use crate::store::log_enqueued;
use crate::store::{QueueStore, prepare_batch, prepare_targets};
use crate::time::{Clock, Timestamp};

pub use crate::pg_setup::PostgresOptions;
use crate::pg_setup::{check_schema, migrate};
use crate::pg_write::{Guard, insert_command, write_changes};

/// The columns of a queue row (aliased `q`) the planners need, in the
/// order [`sql::raw_slot`] reads them. (SQLite keeps what is the same for
/// every target in the command's row: its store has its own list.)
macro_rules! slot_columns {
    () => {
        "q.command_id, q.state, q.attempts, q.lease_until, q.priority, q.created_at, q.seq, \
         q.not_before, q.expires_at, q.max_attempts, q.supersede_key"
    };
}

/// A queue store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    clock: Arc<dyn Clock>,
}

type Tx = Transaction<'static, Postgres>;

/// Why a call may start again: a deadlock or a serialisation failure
/// (PostgreSQL's SQLSTATE 40P01 and 40001), by name for the logs.
fn retry_reason(e: &QueueError) -> Option<&'static str> {
    let QueueError::Database { source, .. } = e else {
        return None;
    };
    let code = source
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|d| d.code())?;
    match code.as_ref() {
        "40P01" => Some("deadlock"),
        "40001" => Some("serialization failure"),
        _ => None,
    }
}

/// How many times a call starts again after a deadlock or a write that
/// found its read outdated. Each retry follows a write that succeeded (the
/// one that moved the version), so a call only exhausts them when many
/// nodes keep writing the same enrollment at once.
const MAX_RETRIES: u32 = 64;

/// A random pause before retry `n` (1-based): up to 0.2 ms doubled per
/// retry, capped at 13 ms, so racing writers spread out.
async fn backoff(n: u32) {
    let cap = 200u64 << n.min(6);
    let r = Uuid::new_v4().as_u128() as u64 % cap;
    tokio::time::sleep(std::time::Duration::from_micros(r)).await;
}

/// Runs a call again after a deadlock or serialisation failure, logging
/// each retry and its reason (debug) and a call that gave up (warn).
macro_rules! retrying {
    ($op:literal, $e:expr) => {{
        let mut tries = 0;
        loop {
            match $e {
                Err(err) => match retry_reason(&err) {
                    Some(reason) if tries < MAX_RETRIES => {
                        tries += 1;
                        tracing::debug!(op = $op, attempt = tries, reason, "queue write conflicted; retrying");
                        backoff(tries).await;
                    }
                    reason => {
                        if tries > 0 || reason.is_some() {
                            tracing::warn!(op = $op, attempts = tries, error = %err, "queue write gave up");
                        }
                        break Err(err);
                    }
                },
                ok => {
                    if tries > 0 {
                        tracing::debug!(op = $op, attempts = tries, "queue write succeeded after retries");
                    }
                    break ok;
                }
            }
        }
    }};
}

impl PostgresStore {
    /// Connects and migrates the database.
    pub async fn open(opts: PostgresOptions) -> Result<Self, QueueError> {
        let mut connect =
            PgConnectOptions::from_str(&opts.url).map_err(|e| QueueError::InvalidLocation {
                location: "postgres url".into(),
                reason: e.to_string(),
            })?;
        if let Some(schema) = &opts.schema {
            check_schema(schema)?;
            connect = connect.options([("search_path", schema.as_str())]);
        }
        // Plan each prepared statement once per connection. With the default
        // (`auto`) the server keeps re-planning the statements that bind
        // arrays, because a plan for the actual array length always looks
        // cheaper than a generic one, and planning then costs more than
        // running them. Every statement here is a key lookup whose best plan
        // does not depend on the values.
        connect = connect.options([("plan_cache_mode", "force_generic_plan")]);
        // One plain connection first: its error says what is wrong
        // (refused, authentication) where the pool would only time out.
        use sqlx::Connection as _;
        sqlx::PgConnection::connect_with(&connect)
            .await
            .db("connect to postgresql")?
            .close()
            .await
            .db("connect to postgresql")?;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .test_before_acquire(false)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect_with(connect)
            .await
            .db("connect to postgresql")?;
        migrate(&pool, opts.schema.as_deref(), opts.clock.now()).await?;
        Ok(Self {
            pool,
            clock: opts.clock,
        })
    }

    /// Closes the pool, waiting for calls in progress.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> Result<Tx, QueueError> {
        self.pool.begin().await.db("begin a transaction")
    }
}

/// Reads an enrollment's pending rows (`state < 3`: a range on the last
/// column of `mdmkit_queue_by_enrollment`, so one index descent that never
/// touches finished rows) and its version, in one snapshot and without
/// locking anything: the write that follows checks that neither changed.
async fn load_slots(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    e: &EnrollmentId,
    also: Option<CommandId>,
) -> Result<(i64, Vec<Slot>), QueueError> {
    let rows = sqlx::query(concat!(
        "SELECT v.version, ",
        slot_columns!(),
        " FROM (SELECT COALESCE((SELECT version FROM mdmkit_enrollments \
         WHERE tenant = $1 AND device = $2 AND channel = $3), 0)) AS v(version) \
         LEFT JOIN mdmkit_queue q ON q.tenant = $1 AND q.device = $2 AND q.channel = $3 \
         AND q.state < 3"
    ))
    .bind(tenant.as_str())
    .bind(e.device_id().as_str())
    .bind(e.channel_key())
    .fetch_all(&mut *conn)
    .await
    .db("read a queue")?;
    let mut version = 0;
    let mut slots = Vec::with_capacity(rows.len());
    for r in &rows {
        version = r.try_get(0).db("read a queue")?;
        // The one row of an enrollment without pending commands has no slot.
        if r.try_get::<Option<Uuid>, _>(1)
            .db("read a queue row")?
            .is_some()
        {
            slots.push(sql::raw_slot(r, 1).db("read a queue row")?.into_slot()?);
        }
    }
    // A report may name a finished command: read it too.
    if let Some(c) = also.filter(|c| slots.iter().all(|s| s.command != *c))
        && let Some(s) = load_one(conn, tenant, e, c).await?
    {
        slots.push(s);
    }
    Ok((version, slots))
}

/// Reads one row of an enrollment's queue (a report may name a finished
/// command; a final row never changes, so it needs no lock).
async fn load_one(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    e: &EnrollmentId,
    c: CommandId,
) -> Result<Option<Slot>, QueueError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        slot_columns!(),
        " FROM mdmkit_queue q WHERE q.tenant = $1 AND q.command_id = $4 \
         AND q.device = $2 AND q.channel = $3"
    ))
    .bind(tenant.as_str())
    .bind(e.device_id().as_str())
    .bind(e.channel_key())
    .bind(c.as_uuid())
    .fetch_optional(&mut *conn)
    .await
    .db("read a queue row")?;
    row.map(|r| sql::raw_slot(&r, 0).db("read a queue row")?.into_slot())
        .transpose()
}

/// The deliveries of a written plan, in queue order, with their payloads.
fn delivered(
    changes: &[machine::Change],
    mut payloads: HashMap<Uuid, (String, Vec<u8>)>,
    now: Timestamp,
) -> Result<Vec<Delivered>, QueueError> {
    changes
        .iter()
        .filter(|c| c.reason == Reason::Delivered)
        .map(|c| {
            let (kind, payload) =
                payloads
                    .remove(&c.command.as_uuid())
                    .ok_or_else(|| QueueError::Corrupt {
                        what: format!("command {} has no stored payload", c.command),
                    })?;
            Ok(Delivered {
                id: c.command,
                kind,
                payload,
                attempt: c.attempts,
                lease_until: c.lease_until.unwrap_or(now),
            })
        })
        .collect()
}

impl PostgresStore {
    async fn enqueue_once(
        &self,
        tenant: &TenantId,
        command: &NewCommand,
        targets: &[EnrollmentId],
    ) -> Result<Enqueued, QueueError> {
        let now = self.clock.now();
        if command.supersede_key.is_some() {
            let mut tx = self.begin().await?;
            let out = enqueue_in(&mut tx, tenant, command, targets, now).await?;
            tx.commit().await.db("commit an enqueue")?;
            Ok(out)
        } else {
            // One statement: atomic without an explicit transaction.
            let mut conn = self.pool.acquire().await.db("connect")?;
            enqueue_in(&mut conn, tenant, command, targets, now).await
        }
    }

    async fn enqueue_batch_once(
        &self,
        tenant: &TenantId,
        batch: &[(&NewCommand, Vec<EnrollmentId>)],
    ) -> Result<Vec<Enqueued>, QueueError> {
        let now = self.clock.now();
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(batch.len());
        for (command, targets) in batch {
            // An error drops `tx`: the whole batch rolls back.
            out.push(enqueue_in(&mut tx, tenant, command, targets, now).await?);
        }
        tx.commit().await.db("commit an enqueue")?;
        Ok(out)
    }

    /// Reads an enrollment's queue, plans with the state machine and writes
    /// the plan guarded by the version read: two round trips, no
    /// transaction. A concurrent writer makes the write fail with 40001
    /// and the caller ([`retrying!`]) starts again from the read.
    async fn plan_and_write<T>(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        also: Option<CommandId>,
        plan: impl FnOnce(&mut Vec<Slot>, Timestamp) -> Result<(T, Vec<machine::Change>), QueueError>,
    ) -> Result<
        (
            T,
            Vec<machine::Change>,
            HashMap<Uuid, (String, Vec<u8>)>,
            Timestamp,
        ),
        QueueError,
    > {
        let now = self.clock.now();
        let mut conn = self.pool.acquire().await.db("connect")?;
        let (version, mut slots) = load_slots(&mut conn, tenant, enrollment, also).await?;
        let (out, changes) = plan(&mut slots, now)?;
        let mut cols = ChangeColumns::default();
        cols.push(enrollment, &changes);
        let guard = Guard {
            enrollment,
            version,
        };
        let payloads = write_changes(&mut conn, tenant, &cols, Some(guard)).await?;
        Ok((out, changes, payloads, now))
    }

    async fn deliver_once(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        opts: &DeliverOptions,
    ) -> Result<Vec<Delivered>, QueueError> {
        let ((), changes, payloads, now) = self
            .plan_and_write(tenant, enrollment, None, |slots, now| {
                Ok(((), machine::deliver(slots, now, opts)?))
            })
            .await?;
        delivered(&changes, payloads, now)
    }

    async fn report_once(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: CommandId,
        report: &Report,
    ) -> Result<ReportOutcome, QueueError> {
        let (outcome, ..) = self
            .plan_and_write(tenant, enrollment, Some(command), |slots, now| {
                machine::report(slots, command, report, now)
            })
            .await?;
        Ok(outcome)
    }

    async fn report_and_next_once(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: CommandId,
        report: &Report,
    ) -> Result<(ReportOutcome, Option<Delivered>), QueueError> {
        let (outcome, changes, payloads, now) = self
            .plan_and_write(tenant, enrollment, Some(command), |slots, now| {
                machine::report_and_deliver(slots, command, report, now, &DeliverOptions::single())
            })
            .await?;
        Ok((outcome, delivered(&changes, payloads, now)?.pop()))
    }

    async fn report_all_and_next_batch_once(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        reports: &[(CommandId, Report)],
        max: usize,
    ) -> Result<
        (
            Vec<Option<Result<ReportOutcome, QueueError>>>,
            Vec<Delivered>,
        ),
        QueueError,
    > {
        let opts = DeliverOptions::batch(max);
        let (outcomes, changes, payloads, now) = self
            .plan_and_write(tenant, enrollment, None, |slots, now| {
                machine::report_all_and_deliver(slots, reports, now, &opts)
            })
            .await?;
        let next = delivered(&changes, payloads, now)?;
        Ok((outcomes, next))
    }

    async fn per_enrollment_once(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        clear: bool,
    ) -> Result<u64, QueueError> {
        let ((), changes, ..) = self
            .plan_and_write(tenant, enrollment, None, |slots, now| {
                let changes = if clear {
                    let mut ch = Vec::new();
                    for s in slots.iter_mut() {
                        ch.extend(machine::cancel(s, now, true)?);
                    }
                    ch
                } else {
                    machine::idle(slots, now)?
                };
                Ok(((), changes))
            })
            .await?;
        Ok(changes.len() as u64)
    }

    async fn cancel_once(&self, tenant: &TenantId, command: CommandId) -> Result<u64, QueueError> {
        let now = self.clock.now();
        let mut tx = self.begin().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM mdmkit_commands WHERE tenant = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(command.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .db("find a command")?;
        if exists.is_none() {
            return Err(QueueError::UnknownCommand { command });
        }
        let rows = sqlx::query(concat!(
            "SELECT q.device, q.channel, ",
            slot_columns!(),
            " FROM mdmkit_queue q WHERE q.tenant = $1 AND q.command_id = $2 \
             AND q.state IN (0, 1, 2) ORDER BY q.device, q.channel FOR UPDATE"
        ))
        .bind(tenant.as_str())
        .bind(command.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .db("find a command's rows")?;
        let mut cols = ChangeColumns::default();
        let mut n = 0;
        for r in &rows {
            let device: String = r.try_get(0).db("read a queue row")?;
            let channel: String = r.try_get(1).db("read a queue row")?;
            let e = EnrollmentId::from_parts(&device, &channel)?;
            let mut slot = sql::raw_slot(r, 2).db("read a queue row")?.into_slot()?;
            if let Some(c) = machine::cancel(&mut slot, now, false)? {
                cols.push(&e, &[c]);
                n += 1;
            }
        }
        write_changes(&mut tx, tenant, &cols, None).await?;
        tx.commit().await.db("commit a cancel")?;
        Ok(n)
    }

    async fn purge_once(&self, tenant: &TenantId, before: Timestamp) -> Result<u64, QueueError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM mdmkit_events AS e WHERE e.tenant = $1 AND EXISTS (SELECT 1 FROM \
             mdmkit_queue q WHERE q.tenant = e.tenant AND q.command_id = e.command_id \
             AND q.device = e.device AND q.channel = e.channel AND q.state >= 3 \
             AND q.updated_at < $2)",
        )
        .bind(tenant.as_str())
        .bind(before.as_millis())
        .execute(&mut *tx)
        .await
        .db("purge history")?;
        let n = sqlx::query(
            "DELETE FROM mdmkit_queue WHERE tenant = $1 AND state >= 3 AND updated_at < $2",
        )
        .bind(tenant.as_str())
        .bind(before.as_millis())
        .execute(&mut *tx)
        .await
        .db("purge finished rows")?
        .rows_affected();
        sqlx::query(
            "DELETE FROM mdmkit_commands AS c WHERE c.tenant = $1 AND NOT EXISTS \
             (SELECT 1 FROM mdmkit_queue q WHERE q.tenant = c.tenant AND q.command_id = c.id)",
        )
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await
        .db("purge commands")?;
        tx.commit().await.db("commit a purge")?;
        Ok(n)
    }
}

/// One enqueue on `conn` (inside a transaction when the command carries a
/// supersede key): the command, its rows and the push hints, then the
/// supersedes.
async fn enqueue_in(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    command: &NewCommand,
    targets: &[EnrollmentId],
    now: Timestamp,
) -> Result<Enqueued, QueueError> {
    let (seq, queued, busy) = insert_command(conn, tenant, command, targets, now).await?;
    if seq.is_none() {
        return Err(QueueError::DuplicateCommand {
            command: command.id,
        });
    }
    let superseded = match &command.supersede_key {
        Some(key) => supersede(conn, tenant, command, key, targets, now).await?,
        None => Vec::new(),
    };
    let busy: HashSet<usize> = busy
        .into_iter()
        .filter_map(|n| usize::try_from(n - 1).ok())
        .collect();
    let wake = targets
        .iter()
        .enumerate()
        .filter(|(i, _)| !busy.contains(i))
        .map(|(_, e)| e.clone())
        .collect();
    Ok(Enqueued {
        id: command.id,
        queued,
        wake,
        superseded,
    })
}

/// Supersedes the undelivered commands of `targets` that carry `key`
/// (except the new command itself), inside an enqueue's transaction.
async fn supersede(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    command: &NewCommand,
    key: &str,
    targets: &[EnrollmentId],
    now: Timestamp,
) -> Result<Vec<(EnrollmentId, CommandId)>, QueueError> {
    let devices: Vec<&str> = targets.iter().map(|e| e.device_id().as_str()).collect();
    let channels: Vec<&str> = targets.iter().map(|e| e.channel_key()).collect();
    let rows = sqlx::query(concat!(
        "SELECT q.device, q.channel, ",
        slot_columns!(),
        " FROM unnest($2::text[], $3::text[]) AS t(device, channel) \
         JOIN mdmkit_queue q ON q.tenant = $1 AND q.device = t.device \
         AND q.channel = t.channel WHERE q.supersede_key = $4 AND q.state IN (0, 2) \
         AND q.command_id <> $5 \
         ORDER BY q.device, q.channel, q.command_id FOR UPDATE OF q"
    ))
    .bind(tenant.as_str())
    .bind(&devices)
    .bind(&channels)
    .bind(key)
    .bind(command.id.as_uuid())
    .fetch_all(&mut *conn)
    .await
    .db("find superseded commands")?;
    let mut by_enrollment: BTreeMap<EnrollmentId, Vec<Slot>> = BTreeMap::new();
    for r in &rows {
        let device: String = r.try_get(0).db("read a queue row")?;
        let channel: String = r.try_get(1).db("read a queue row")?;
        let slot = sql::raw_slot(r, 2).db("read a queue row")?.into_slot()?;
        by_enrollment
            .entry(EnrollmentId::from_parts(&device, &channel)?)
            .or_default()
            .push(slot);
    }
    let mut superseded = Vec::new();
    let mut cols = ChangeColumns::default();
    for (e, mut slots) in by_enrollment {
        let ch = machine::supersede(&mut slots, key, command.id, now)?;
        superseded.extend(ch.iter().map(|c| (e.clone(), c.command)));
        cols.push(&e, &ch);
    }
    write_changes(conn, tenant, &cols, None).await?;
    Ok(superseded)
}

#[async_trait]
impl QueueStore for PostgresStore {
    #[tracing::instrument(name = "queue.enqueue", level = "debug", skip_all, fields(%tenant, kind = %command.kind, targets = targets.len()))]
    async fn enqueue(
        &self,
        tenant: &TenantId,
        command: &NewCommand,
        targets: &[EnrollmentId],
    ) -> Result<Enqueued, QueueError> {
        command.validate()?;
        let targets = prepare_targets(targets)?;
        retrying!(
            "enqueue",
            self.enqueue_once(tenant, command, &targets).await
        )
    }

    #[tracing::instrument(name = "queue.enqueue_batch", level = "debug", skip_all, fields(%tenant, commands = batch.len()))]
    async fn enqueue_batch(
        &self,
        tenant: &TenantId,
        batch: &[(NewCommand, Vec<EnrollmentId>)],
    ) -> Result<Vec<Enqueued>, QueueError> {
        let batch = prepare_batch(batch)?;
        let out = retrying!(
            "enqueue_batch",
            self.enqueue_batch_once(tenant, &batch).await
        )?;
        log_enqueued(&out);
        Ok(out)
    }

    #[tracing::instrument(name = "queue.deliver", level = "debug", skip_all, fields(%tenant, %enrollment))]
    async fn deliver(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        opts: &DeliverOptions,
    ) -> Result<Vec<Delivered>, QueueError> {
        let out = retrying!("deliver", self.deliver_once(tenant, enrollment, opts).await)?;
        tracing::debug!(delivered = out.len(), "delivered");
        Ok(out)
    }

    #[tracing::instrument(name = "queue.report", level = "debug", skip_all, fields(%tenant, %enrollment, %command))]
    async fn report(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: CommandId,
        report: &Report,
    ) -> Result<ReportOutcome, QueueError> {
        crate::memory::check_result(report)?;
        retrying!(
            "report",
            self.report_once(tenant, enrollment, command, report).await
        )
    }

    #[tracing::instrument(name = "queue.report_and_next", level = "debug", skip_all, fields(%tenant, %enrollment, %command))]
    async fn report_and_next(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: CommandId,
        report: &Report,
    ) -> Result<(ReportOutcome, Option<Delivered>), QueueError> {
        crate::memory::check_result(report)?;
        retrying!(
            "report_and_next",
            self.report_and_next_once(tenant, enrollment, command, report)
                .await
        )
    }

    #[tracing::instrument(name = "queue.report_all_and_next_batch", level = "debug", skip_all, fields(%tenant, %enrollment, reports = reports.len()))]
    async fn report_all_and_next_batch(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        reports: &[(CommandId, Report)],
        max: usize,
    ) -> Result<(Vec<Result<ReportOutcome, QueueError>>, Vec<Delivered>), QueueError> {
        for (_, r) in reports {
            crate::memory::check_result(r)?;
        }
        let (outcomes, next) = retrying!(
            "report_all_and_next_batch",
            self.report_all_and_next_batch_once(tenant, enrollment, reports, max)
                .await
        )?;
        let outcomes =
            crate::store::report_the_rest(self, tenant, enrollment, reports, outcomes).await;
        tracing::debug!(delivered = next.len(), "reported and delivered");
        Ok((outcomes, next))
    }

    async fn idle(&self, tenant: &TenantId, enrollment: &EnrollmentId) -> Result<(), QueueError> {
        retrying!(
            "idle",
            self.per_enrollment_once(tenant, enrollment, false).await
        )
        .map(|_| ())
    }

    #[tracing::instrument(name = "queue.cancel", level = "debug", skip_all, fields(%tenant, %command))]
    async fn cancel(&self, tenant: &TenantId, command: CommandId) -> Result<u64, QueueError> {
        retrying!("cancel", self.cancel_once(tenant, command).await)
    }

    #[tracing::instrument(name = "queue.clear_enrollment", level = "debug", skip_all, fields(%tenant, %enrollment))]
    async fn clear_enrollment(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<u64, QueueError> {
        retrying!(
            "clear_enrollment",
            self.per_enrollment_once(tenant, enrollment, true).await
        )
    }

    async fn list(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<Vec<QueueEntry>, QueueError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            slot_columns!(),
            ", c.kind, q.updated_at FROM mdmkit_queue q JOIN mdmkit_commands c \
             ON c.tenant = q.tenant AND c.id = q.command_id \
             WHERE q.tenant = $1 AND q.device = $2 AND q.channel = $3 \
             ORDER BY q.priority DESC, q.created_at, q.seq"
        ))
        .bind(tenant.as_str())
        .bind(enrollment.device_id().as_str())
        .bind(enrollment.channel_key())
        .fetch_all(&self.pool)
        .await
        .db("list a queue")?;
        rows.iter()
            .map(|r| {
                let slot = sql::raw_slot(r, 0).db("read a queue row")?.into_slot()?;
                let kind: String = r.try_get(11).db("read a queue row")?;
                let updated: i64 = r.try_get(12).db("read a queue row")?;
                Ok(sql::entry(slot, kind, updated))
            })
            .collect()
    }

    async fn history(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: Option<CommandId>,
    ) -> Result<Vec<HistoryEvent>, QueueError> {
        let filter = command.map(|c| c.as_uuid());
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .db("begin a read")?;
        let created = sqlx::query(
            "SELECT created_at, seq, command_id FROM mdmkit_queue \
             WHERE tenant = $1 AND device = $2 AND channel = $3 \
             AND ($4::uuid IS NULL OR command_id = $4)",
        )
        .bind(tenant.as_str())
        .bind(enrollment.device_id().as_str())
        .bind(enrollment.channel_key())
        .bind(filter)
        .fetch_all(&mut *tx)
        .await
        .db("read a history")?
        .iter()
        .map(|r| {
            Ok((
                Timestamp::from_millis(r.try_get(0)?),
                r.try_get::<i64, _>(1)?,
                CommandId::from_uuid(r.try_get::<Uuid, _>(2)?),
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .db("read a history")?;
        let rows = sqlx::query(
            "SELECT id, command_id, at, from_state, to_state, reason, by_command, result \
             FROM mdmkit_events WHERE tenant = $1 AND device = $2 AND channel = $3 \
             AND ($4::uuid IS NULL OR command_id = $4) ORDER BY id",
        )
        .bind(tenant.as_str())
        .bind(enrollment.device_id().as_str())
        .bind(enrollment.channel_key())
        .bind(filter)
        .fetch_all(&mut *tx)
        .await
        .db("read a history")?;
        tx.commit().await.db("end a read")?;
        let events = rows
            .iter()
            .map(|r| sql::history_event(r).db("read a history event")?)
            .collect::<Result<Vec<_>, QueueError>>()?;
        Ok(crate::history::merge(
            created.into_iter(),
            events.into_iter(),
        ))
    }

    async fn counts(&self, tenant: &TenantId) -> Result<StateCounts, QueueError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) FROM mdmkit_queue WHERE tenant = $1 GROUP BY state",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .db("count a tenant's queue")?;
        sql::state_counts(&rows)
    }

    async fn pending_enrollments(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<EnrollmentId>, QueueError> {
        // The enrollments with a row queued (0) or delivered (1).
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT device, channel FROM mdmkit_queue \
             WHERE tenant = $1 AND state IN (0, 1)",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .db("list the enrollments with pending commands")?;
        sql::pending_enrollments(rows)
    }

    async fn counts_by_tenant(&self) -> Result<BTreeMap<TenantId, StateCounts>, QueueError> {
        let rows =
            sqlx::query("SELECT tenant, state, COUNT(*) FROM mdmkit_queue GROUP BY tenant, state")
                .fetch_all(&self.pool)
                .await
                .db("count queues")?;
        sql::tenant_state_counts(&rows)
    }

    #[tracing::instrument(name = "queue.purge", level = "debug", skip_all, fields(%tenant))]
    async fn purge(&self, tenant: &TenantId, before: Timestamp) -> Result<u64, QueueError> {
        retrying!("purge", self.purge_once(tenant, before).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ReportStatus;
    use mdmkit_core::DeviceId;

    /// The throwaway server of `scripts/test`, or a note (a panic under CI).
    fn url() -> Option<String> {
        match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => Some(u),
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "MDMKIT_TEST_POSTGRES_URL is unset under CI"
                );
                eprintln!("note: skipping: MDMKIT_TEST_POSTGRES_URL is unset");
                None
            }
        }
    }

    async fn store(name: &str) -> Option<PostgresStore> {
        let schema = format!("unit_{name}_{}", std::process::id());
        let opts = PostgresOptions::new(url()?).with_schema(schema);
        Some(PostgresStore::open(opts).await.unwrap())
    }

    /// Plans a delivery from a read of `e`'s queue, as `deliver` does.
    async fn stale_delivery(
        s: &PostgresStore,
        t: &TenantId,
        e: &EnrollmentId,
    ) -> (i64, ChangeColumns) {
        let mut conn = s.pool.acquire().await.unwrap();
        let (version, mut slots) = load_slots(&mut conn, t, e, None).await.unwrap();
        let changes =
            machine::deliver(&mut slots, s.clock.now(), &DeliverOptions::single()).unwrap();
        assert_eq!(changes.len(), 1);
        let mut cols = ChangeColumns::default();
        cols.push(e, &changes);
        (version, cols)
    }

    /// A plan written after another call moved the enrollment's version is
    /// refused whole, with the retryable 40001, and leaves no trace.
    #[tokio::test]
    async fn a_plan_from_an_outdated_version_is_refused() {
        let Some(s) = store("stale_version").await else {
            return;
        };
        let t = TenantId::new("t").unwrap();
        let e = EnrollmentId::device(DeviceId::new("d").unwrap());
        s.enqueue(&t, &NewCommand::new("A", vec![1]), std::slice::from_ref(&e))
            .await
            .unwrap();
        let (version, cols) = stale_delivery(&s, &t, &e).await;
        // Another node delivers and the device answers in between.
        let d = s.next(&t, &e).await.unwrap().unwrap();
        s.report(&t, &e, d.id, &Report::new(ReportStatus::Acknowledged))
            .await
            .unwrap();
        let mut conn = s.pool.acquire().await.unwrap();
        let guard = Guard {
            enrollment: &e,
            version,
        };
        let err = write_changes(&mut conn, &t, &cols, Some(guard))
            .await
            .unwrap_err();
        assert!(retry_reason(&err).is_some(), "{err}");
        let history = s.history(&t, &e, None).await.unwrap();
        assert_eq!(
            history.len(),
            3,
            "queued, delivered, acknowledged: {history:?}"
        );
    }

    /// A cancel (which locks rows and does not move the version) makes a
    /// plan that read the row as queued fail: it would deliver a cancelled
    /// command.
    #[tokio::test]
    async fn a_plan_over_a_row_that_changed_state_is_refused() {
        let Some(s) = store("stale_row").await else {
            return;
        };
        let t = TenantId::new("t").unwrap();
        let e = EnrollmentId::device(DeviceId::new("d").unwrap());
        let q = s
            .enqueue(&t, &NewCommand::new("A", vec![1]), std::slice::from_ref(&e))
            .await
            .unwrap();
        let (version, cols) = stale_delivery(&s, &t, &e).await;
        assert_eq!(s.cancel(&t, q.id).await.unwrap(), 1);
        let mut conn = s.pool.acquire().await.unwrap();
        let guard = Guard {
            enrollment: &e,
            version,
        };
        let err = write_changes(&mut conn, &t, &cols, Some(guard))
            .await
            .unwrap_err();
        assert!(retry_reason(&err).is_some(), "{err}");
        assert!(s.next(&t, &e).await.unwrap().is_none());
        let last = s.history(&t, &e, None).await.unwrap();
        assert_eq!(last.len(), 2, "queued, cancelled: {last:?}");
    }
}

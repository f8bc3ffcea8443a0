//! The hosted store: PostgreSQL, several server processes on one database.
//!
//! Rows are locked with `SELECT ... FOR UPDATE` in a fixed order; a batch
//! delivery (Windows) uses `FOR UPDATE SKIP LOCKED`, so two nodes never hand
//! out the same command, and an exclusive delivery (Apple) first takes a
//! transaction-scoped advisory lock on the enrollment
//! (`pg_advisory_xact_lock`), so two nodes serving the same device cannot
//! both put a command in flight. Deadlocks and serialisation failures are
//! retried. Every key starts with the tenant, so
//! the tables can be distributed by `tenant` (Citus); see `docs/queue.md`.
//!
//! Round trips are what a call costs on a fast server, so each call keeps
//! them few: an enqueue without a supersede key is one statement (command,
//! rows and the push-hint lookup together, no explicit transaction); a
//! delivery is `BEGIN` and the advisory lock in one simple query, the row
//! read, one statement writing every planned change (row updates, history
//! events, the delivered payloads) and `COMMIT`; a report is `BEGIN`, the
//! read, the write and `COMMIT`.

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
use crate::sql::{self, ChangeColumns, slot_columns};
use crate::store::{QueueStore, prepare_batch, prepare_targets};
use crate::time::{Clock, Timestamp};

pub use crate::pg_setup::PostgresOptions;
use crate::pg_setup::{check_schema, enrollment_lock_key, migrate};
use crate::pg_write::{insert_command, write_changes};

/// A queue store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    /// The schema the tables are in: part of the advisory lock keys, which
    /// are database-wide.
    schema: Arc<str>,
}

type Tx = Transaction<'static, Postgres>;

fn retryable(e: &QueueError) -> bool {
    let QueueError::Database { source, .. } = e else {
        return false;
    };
    source
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40P01" || c == "40001")
}

/// Runs a transaction body again after a deadlock or serialisation failure.
macro_rules! retrying {
    ($e:expr) => {{
        let mut tries = 0;
        loop {
            match $e {
                Err(err) if tries < 8 && retryable(&err) => tries += 1,
                r => break r,
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
        let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .db("read the current schema")?;
        Ok(Self {
            pool,
            clock: opts.clock,
            schema: schema.unwrap_or_default().into(),
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

/// How to lock an enrollment's rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// Wait for other transactions.
    Wait,
    /// Skip rows other transactions hold.
    Skip,
}

/// Reads and locks an enrollment's pending rows (`state < 3`: a range on
/// the last column of `mdmkit_queue_by_enrollment`, so one index descent
/// that never touches finished rows). Rows are locked in that index's
/// order; a deadlock with another order is retried.
async fn load_slots(
    tx: &mut Tx,
    tenant: &TenantId,
    e: &EnrollmentId,
    also: Option<CommandId>,
    lock: Lock,
) -> Result<Vec<Slot>, QueueError> {
    let q = match lock {
        Lock::Wait => concat!(
            "SELECT ",
            slot_columns!(),
            " FROM mdmkit_queue q WHERE q.tenant = $1 AND q.device = $2 AND q.channel = $3 \
             AND q.state < 3 FOR UPDATE"
        ),
        Lock::Skip => concat!(
            "SELECT ",
            slot_columns!(),
            " FROM mdmkit_queue q WHERE q.tenant = $1 AND q.device = $2 AND q.channel = $3 \
             AND q.state < 3 FOR UPDATE SKIP LOCKED"
        ),
    };
    let rows = sqlx::query(q)
        .bind(tenant.as_str())
        .bind(e.device_id().as_str())
        .bind(e.channel_key())
        .fetch_all(&mut **tx)
        .await
        .db("read a queue")?;
    let mut slots = rows
        .iter()
        .map(|r| sql::raw_slot(r, 0).db("read a queue row")?.into_slot())
        .collect::<Result<Vec<_>, QueueError>>()?;
    // A report may name a finished command: read it too.
    if let Some(c) = also.filter(|c| slots.iter().all(|s| s.command != *c))
        && let Some(s) = load_one(tx, tenant, e, c).await?
    {
        slots.push(s);
    }
    Ok(slots)
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

    async fn deliver_once(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        opts: &DeliverOptions,
    ) -> Result<Vec<Delivered>, QueueError> {
        let now = self.clock.now();
        let mut tx = self.begin().await?;
        let lock = if opts.exclusive {
            // Serialise exclusive deliveries of one enrollment across nodes.
            // Taken before any row lock and only here, so it cannot be part
            // of a deadlock; the schema is part of the key because advisory
            // locks are database-wide.
            let key = enrollment_lock_key(
                &self.schema,
                tenant.as_str(),
                enrollment.device_id().as_str(),
                enrollment.channel_key(),
            );
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut *tx)
                .await
                .db("lock an enrollment")?;
            Lock::Wait
        } else {
            Lock::Skip
        };
        let mut slots = load_slots(&mut tx, tenant, enrollment, None, lock).await?;
        let changes = machine::deliver(&mut slots, now, opts)?;
        let mut cols = ChangeColumns::default();
        cols.push(enrollment, &changes);
        let payloads = write_changes(&mut tx, tenant, &cols).await?;
        tx.commit().await.db("commit a delivery")?;
        delivered(&changes, payloads, now)
    }

    async fn report_once(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: CommandId,
        report: &Report,
    ) -> Result<ReportOutcome, QueueError> {
        let now = self.clock.now();
        let mut tx = self.begin().await?;
        let mut slots = load_slots(&mut tx, tenant, enrollment, Some(command), Lock::Wait).await?;
        let (outcome, changes) = machine::report(&mut slots, command, report, now)?;
        let mut cols = ChangeColumns::default();
        cols.push(enrollment, &changes);
        write_changes(&mut tx, tenant, &cols).await?;
        tx.commit().await.db("commit a report")?;
        Ok(outcome)
    }

    async fn per_enrollment_once(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        clear: bool,
    ) -> Result<u64, QueueError> {
        let now = self.clock.now();
        let mut tx = self.begin().await?;
        let mut slots = load_slots(&mut tx, tenant, enrollment, None, Lock::Wait).await?;
        let changes = if clear {
            let mut ch = Vec::new();
            for s in &mut slots {
                ch.extend(machine::cancel(s, now, true)?);
            }
            ch
        } else {
            machine::idle(&mut slots, now)?
        };
        let mut cols = ChangeColumns::default();
        cols.push(enrollment, &changes);
        write_changes(&mut tx, tenant, &cols).await?;
        tx.commit().await.db("commit a queue change")?;
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
        write_changes(&mut tx, tenant, &cols).await?;
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
    write_changes(conn, tenant, &cols).await?;
    Ok(superseded)
}

#[async_trait]
impl QueueStore for PostgresStore {
    async fn enqueue(
        &self,
        tenant: &TenantId,
        command: &NewCommand,
        targets: &[EnrollmentId],
    ) -> Result<Enqueued, QueueError> {
        command.validate()?;
        let targets = prepare_targets(targets)?;
        retrying!(self.enqueue_once(tenant, command, &targets).await)
    }

    async fn enqueue_batch(
        &self,
        tenant: &TenantId,
        batch: &[(NewCommand, Vec<EnrollmentId>)],
    ) -> Result<Vec<Enqueued>, QueueError> {
        let batch = prepare_batch(batch)?;
        retrying!(self.enqueue_batch_once(tenant, &batch).await)
    }

    async fn deliver(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        opts: &DeliverOptions,
    ) -> Result<Vec<Delivered>, QueueError> {
        retrying!(self.deliver_once(tenant, enrollment, opts).await)
    }

    async fn report(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: CommandId,
        report: &Report,
    ) -> Result<ReportOutcome, QueueError> {
        crate::memory::check_result(report)?;
        retrying!(self.report_once(tenant, enrollment, command, report).await)
    }

    async fn idle(&self, tenant: &TenantId, enrollment: &EnrollmentId) -> Result<(), QueueError> {
        retrying!(self.per_enrollment_once(tenant, enrollment, false).await).map(|_| ())
    }

    async fn cancel(&self, tenant: &TenantId, command: CommandId) -> Result<u64, QueueError> {
        retrying!(self.cancel_once(tenant, command).await)
    }

    async fn clear_enrollment(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<u64, QueueError> {
        retrying!(self.per_enrollment_once(tenant, enrollment, true).await)
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

    async fn counts_by_tenant(&self) -> Result<BTreeMap<TenantId, StateCounts>, QueueError> {
        let rows =
            sqlx::query("SELECT tenant, state, COUNT(*) FROM mdmkit_queue GROUP BY tenant, state")
                .fetch_all(&self.pool)
                .await
                .db("count queues")?;
        sql::tenant_state_counts(&rows)
    }

    async fn purge(&self, tenant: &TenantId, before: Timestamp) -> Result<u64, QueueError> {
        retrying!(self.purge_once(tenant, before).await)
    }
}

//! The PostgreSQL store's writing statements, each one round trip: a whole
//! plan of transitions, and an enqueue (command, rows and push hints).

use std::collections::HashMap;

use mdmkit_core::TenantId;
use sqlx::Row;
use uuid::Uuid;

use crate::error::{DbContext, QueueError};
use crate::ids::EnrollmentId;
use crate::model::NewCommand;
use crate::sql::ChangeColumns;
use crate::time::Timestamp;

/// The version of an enrollment's queue a plan was computed from: the
/// write applies only if it is still current (see [`write_changes`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Guard<'a> {
    pub(crate) enrollment: &'a EnrollmentId,
    /// The version read (0: the enrollment had no version row yet).
    pub(crate) version: i64,
}

/// The first CTE of a guarded write: moves the enrollment's version on from
/// the one read, or creates it at 1 when the read found none; returns no
/// row if another call wrote first. A plain `UPDATE` (not an upsert) on the
/// hot path: the version row exists after an enrollment's first write.
macro_rules! guard_cte {
    (update, $device:literal, $channel:literal, $version:literal) => {
        concat!(
            "g AS (UPDATE mdmkit_enrollments SET version = version + 1 \
             WHERE tenant = $1 AND device = ",
            $device,
            " AND channel = ",
            $channel,
            " AND version = ",
            $version,
            " RETURNING 1), "
        )
    };
    (create, $device:literal, $channel:literal, $version:literal) => {
        concat!(
            "g AS (INSERT INTO mdmkit_enrollments (tenant, device, channel, version) \
             SELECT $1, ",
            $device,
            ", ",
            $channel,
            ", 1 WHERE ",
            $version,
            "::int8 = 0 ON CONFLICT (tenant, device, channel) DO NOTHING RETURNING 1), "
        )
    };
}

/// Writes a whole plan in one statement (one round trip): every row's last
/// state, every history event in order, and returns the kind and payload
/// of each delivered command.
///
/// Each row moves only from the state the plan read it in, and with a
/// `guard` the enrollment's version must still be the one read (the
/// statement bumps it, which also serialises writers of one enrollment).
/// If any of that fails, another call changed the queue since the read:
/// `mdmkit_check` fails the statement with SQLSTATE 40001, so nothing of
/// the plan is written, and the caller reads again.
///
/// What is checked is decided in Rust (each row's state as read, how many
/// rows must move: [`ChangeColumns`]); the database function only fails the
/// statement, atomically, when the comparison is false. The comparison
/// stays in the statement, unlike the SQLite store's, which compares in
/// Rust: this statement runs outside a transaction and commits by itself,
/// so a count compared in Rust afterwards would come after a partial write
/// was committed, and a transaction around it would add `BEGIN` and
/// `COMMIT`, two more round trips per call (four instead of two).
pub(crate) async fn write_changes(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    cols: &ChangeColumns,
    guard: Option<Guard<'_>>,
) -> Result<HashMap<Uuid, (String, Vec<u8>)>, QueueError> {
    if cols.is_empty() {
        return Ok(HashMap::new());
    }
    if cols.ev_command.len() == 1 {
        return write_one_change(conn, tenant, cols, guard).await;
    }
    macro_rules! many {
        ($guard:expr, $gate:literal, $ev_gate:literal) => {
            concat!(
                "WITH ",
                $guard,
                "u AS (UPDATE mdmkit_queue q SET state = r.state, attempts = r.attempts, \
                 lease_until = r.lease_until, updated_at = r.at \
                 FROM unnest($2::text[], $3::text[], $4::uuid[], $5::int8[], $6::int8[], \
                 $7::int8[], $8::int8[], $19::int8[]) \
                 AS r(device, channel, command_id, state, attempts, lease_until, at, from_state) \
                 WHERE q.tenant = $1 AND q.command_id = r.command_id AND q.device = r.device \
                 AND q.channel = r.channel AND q.state = r.from_state",
                $gate,
                " RETURNING 1), \
                 ev AS (INSERT INTO mdmkit_events (tenant, device, channel, command_id, at, \
                 from_state, to_state, reason, by_command, result) \
                 SELECT $1, e.device, e.channel, e.command_id, e.at, e.from_state, e.to_state, \
                 e.reason, e.by_command, e.result \
                 FROM unnest($9::text[], $10::text[], $11::uuid[], $12::int8[], $13::int8[], \
                 $14::int8[], $15::text[], $16::uuid[], $17::bytea[]) WITH ORDINALITY \
                 AS e(device, channel, command_id, at, from_state, to_state, reason, by_command, \
                 result, n)",
                $ev_gate,
                " ORDER BY e.n) \
                 SELECT c.id, c.kind, c.payload \
                 FROM (SELECT mdmkit_check((SELECT COUNT(*) FROM u) = $20)) AS ok(v) \
                 LEFT JOIN mdmkit_commands c ON c.tenant = $1 AND c.id = ANY($18::uuid[])"
            )
        };
    }
    let sql = match guard {
        Some(g) if g.version == 0 => many!(
            guard_cte!(create, "$21", "$22", "$23"),
            " AND EXISTS (SELECT 1 FROM g)",
            " WHERE EXISTS (SELECT 1 FROM g)"
        ),
        Some(_) => many!(
            guard_cte!(update, "$21", "$22", "$23"),
            " AND EXISTS (SELECT 1 FROM g)",
            " WHERE EXISTS (SELECT 1 FROM g)"
        ),
        None => many!("", "", ""),
    };
    let mut q = sqlx::query(sql)
        .bind(tenant.as_str())
        .bind(&cols.row_device)
        .bind(&cols.row_channel)
        .bind(&cols.row_command)
        .bind(&cols.row_state)
        .bind(&cols.row_attempts)
        .bind(&cols.row_lease)
        .bind(&cols.row_at)
        .bind(&cols.ev_device)
        .bind(&cols.ev_channel)
        .bind(&cols.ev_command)
        .bind(&cols.ev_at)
        .bind(&cols.ev_from)
        .bind(&cols.ev_to)
        .bind(&cols.ev_reason)
        .bind(&cols.ev_by)
        .bind(&cols.ev_result)
        .bind(&cols.delivered)
        .bind(&cols.row_from)
        .bind(cols.row_command.len() as i64);
    if let Some(g) = guard {
        q = q
            .bind(g.enrollment.device_id().as_str())
            .bind(g.enrollment.channel_key())
            .bind(g.version);
    }
    let rows = q.fetch_all(&mut *conn).await.db("record transitions")?;
    payloads(&rows)
}

/// The delivered commands of a write's result rows (a row without an id is
/// the check's own row: nothing was delivered).
fn payloads(
    rows: &[sqlx::postgres::PgRow],
) -> Result<HashMap<Uuid, (String, Vec<u8>)>, QueueError> {
    let mut out = HashMap::new();
    for r in rows {
        let id: Option<Uuid> = r.try_get(0).db("read a delivered command")?;
        if let Some(id) = id {
            let kind: String = r.try_get(1).db("read a delivered command")?;
            let payload: Vec<u8> = r.try_get(2).db("read a delivered command")?;
            out.insert(id, (kind, payload));
        }
    }
    Ok(out)
}

/// The common case of [`write_changes`], one change (a delivery, a
/// report): plain parameters, so the plan is a few primary-key lookups
/// whatever the planner thinks of array sizes and table statistics.
async fn write_one_change(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    cols: &ChangeColumns,
    guard: Option<Guard<'_>>,
) -> Result<HashMap<Uuid, (String, Vec<u8>)>, QueueError> {
    macro_rules! one {
        ($guard:expr, $gate:literal, $ev_gate:literal) => {
            concat!(
                "WITH ",
                $guard,
                "u AS (UPDATE mdmkit_queue SET state = $5, attempts = $6, lease_until = $7, \
                 updated_at = $8 WHERE tenant = $1 AND command_id = $4 AND device = $2 \
                 AND channel = $3 AND state = $9",
                $gate,
                " RETURNING 1), \
                 ev AS (INSERT INTO mdmkit_events (tenant, device, channel, command_id, at, \
                 from_state, to_state, reason, by_command, result) \
                 SELECT $1, $2, $3, $4, $8, $9, $5, $10, $11, $12",
                $ev_gate,
                ") SELECT c.id, c.kind, c.payload \
                 FROM (SELECT mdmkit_check((SELECT COUNT(*) FROM u) = 1)) AS ok(v) \
                 LEFT JOIN mdmkit_commands c ON c.tenant = $1 AND c.id = $4 AND $13"
            )
        };
    }
    // The guard's enrollment is the change's: `$2`, `$3`.
    let sql = match guard {
        Some(g) if g.version == 0 => one!(
            guard_cte!(create, "$2", "$3", "$14"),
            " AND EXISTS (SELECT 1 FROM g)",
            " WHERE EXISTS (SELECT 1 FROM g)"
        ),
        Some(_) => one!(
            guard_cte!(update, "$2", "$3", "$14"),
            " AND EXISTS (SELECT 1 FROM g)",
            " WHERE EXISTS (SELECT 1 FROM g)"
        ),
        None => one!("", "", ""),
    };
    let mut q = sqlx::query(sql)
        .bind(tenant.as_str())
        .bind(&cols.ev_device[0])
        .bind(&cols.ev_channel[0])
        .bind(cols.ev_command[0])
        .bind(cols.row_state[0])
        .bind(cols.row_attempts[0])
        .bind(cols.row_lease[0])
        .bind(cols.row_at[0])
        .bind(cols.ev_from[0])
        .bind(cols.ev_reason[0])
        .bind(cols.ev_by[0])
        .bind(cols.ev_result[0].as_deref())
        .bind(!cols.delivered.is_empty());
    if let Some(g) = guard {
        q = q.bind(g.version);
    }
    let rows = q.fetch_all(&mut *conn).await.db("record a transition")?;
    payloads(&rows)
}

/// Stores a command and queues it for every target in one statement, and
/// returns the command's sequence number (`None`: the id is taken), the
/// rows queued and the positions of the targets that had pending commands
/// before (read in the statement's snapshot, so before its own inserts).
///
/// That lookup is a scalar subquery, one index probe per target, on
/// purpose: as `EXISTS` the planner turns it into a hash semi-join that
/// reads the tenant's whole enrollment index, which grows with the table.
pub(crate) async fn insert_command(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    command: &NewCommand,
    targets: &[EnrollmentId],
    now: Timestamp,
) -> Result<(Option<i64>, u64, Vec<i64>), QueueError> {
    if let [one] = targets {
        return insert_command_for_one(conn, tenant, command, one, now).await;
    }
    let devices: Vec<&str> = targets.iter().map(|e| e.device_id().as_str()).collect();
    let channels: Vec<&str> = targets.iter().map(|e| e.channel_key()).collect();
    let row = sqlx::query(
        "WITH c AS (INSERT INTO mdmkit_commands (tenant, id, kind, payload, created_at) \
         VALUES ($1, $4, $5, $6, $7) ON CONFLICT (tenant, id) DO NOTHING RETURNING seq), \
         t AS MATERIALIZED (SELECT * FROM unnest($2::text[], $3::text[]) WITH ORDINALITY \
         AS t(device, channel, n)), \
         ins AS (INSERT INTO mdmkit_queue (tenant, device, channel, command_id, seq, priority, \
         created_at, not_before, expires_at, supersede_key, max_attempts, state, attempts, \
         lease_until, updated_at) \
         SELECT $1, t.device, t.channel, $4, c.seq, $8, $7, $9, $10, $11, $12, 0, 0, NULL, $7 \
         FROM c CROSS JOIN t ORDER BY t.n RETURNING 1) \
         SELECT (SELECT seq FROM c), (SELECT COUNT(*) FROM ins), \
         ARRAY(SELECT t.n FROM t WHERE (SELECT true FROM mdmkit_queue q \
         WHERE q.tenant = $1 AND q.device = t.device AND q.channel = t.channel \
         AND q.state < 3 LIMIT 1))",
    )
    .bind(tenant.as_str())
    .bind(&devices)
    .bind(&channels)
    .bind(command.id.as_uuid())
    .bind(command.kind.as_str())
    .bind(command.payload.as_slice())
    .bind(now.as_millis())
    .bind(i64::from(command.priority))
    .bind(command.not_before.map(Timestamp::as_millis))
    .bind(command.expires_at.map(Timestamp::as_millis))
    .bind(command.supersede_key.as_deref())
    .bind(command.max_attempts.map(i64::from))
    .fetch_one(&mut *conn)
    .await
    .db("queue a command")?;
    let seq: Option<i64> = row.try_get(0).db("read an enqueue")?;
    let queued: i64 = row.try_get(1).db("read an enqueue")?;
    let busy: Vec<i64> = row.try_get(2).db("read an enqueue")?;
    Ok((seq, queued.unsigned_abs(), busy))
}

/// [`insert_command`] for one target, the common case: plain parameters
/// and no arrays, so the statement plans and runs as three key lookups.
async fn insert_command_for_one(
    conn: &mut sqlx::PgConnection,
    tenant: &TenantId,
    command: &NewCommand,
    target: &EnrollmentId,
    now: Timestamp,
) -> Result<(Option<i64>, u64, Vec<i64>), QueueError> {
    let row = sqlx::query(
        "WITH c AS (INSERT INTO mdmkit_commands (tenant, id, kind, payload, created_at) \
         VALUES ($1, $4, $5, $6, $7) ON CONFLICT (tenant, id) DO NOTHING RETURNING seq), \
         ins AS (INSERT INTO mdmkit_queue (tenant, device, channel, command_id, seq, priority, \
         created_at, not_before, expires_at, supersede_key, max_attempts, state, attempts, \
         lease_until, updated_at) \
         SELECT $1, $2, $3, $4, c.seq, $8, $7, $9, $10, $11, $12, 0, 0, NULL, $7 FROM c \
         RETURNING 1) \
         SELECT (SELECT seq FROM c), (SELECT COUNT(*) FROM ins), EXISTS (SELECT 1 \
         FROM mdmkit_queue q WHERE q.tenant = $1 AND q.device = $2 AND q.channel = $3 \
         AND q.state < 3)",
    )
    .bind(tenant.as_str())
    .bind(target.device_id().as_str())
    .bind(target.channel_key())
    .bind(command.id.as_uuid())
    .bind(command.kind.as_str())
    .bind(command.payload.as_slice())
    .bind(now.as_millis())
    .bind(i64::from(command.priority))
    .bind(command.not_before.map(Timestamp::as_millis))
    .bind(command.expires_at.map(Timestamp::as_millis))
    .bind(command.supersede_key.as_deref())
    .bind(command.max_attempts.map(i64::from))
    .fetch_one(&mut *conn)
    .await
    .db("queue a command")?;
    let seq: Option<i64> = row.try_get(0).db("read an enqueue")?;
    let queued: i64 = row.try_get(1).db("read an enqueue")?;
    let busy: bool = row.try_get(2).db("read an enqueue")?;
    Ok((
        seq,
        queued.unsigned_abs(),
        if busy { vec![1] } else { Vec::new() },
    ))
}

//! The embedded store: one SQLite file in WAL mode, migrations built in.
//!
//! Writers (tasks, or processes sharing the file) queue on SQLite's write
//! lock; throughput is that of one writer. Calls on one enrollment are a
//! read and one checked write ([`write_plan`]), an enqueue without a
//! supersede key is one statement ([`enqueue_plain`]); every other writing
//! call is one `BEGIN IMMEDIATE` transaction, which takes the write lock up
//! front instead of failing on a lock upgrade.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mdmkit_core::TenantId;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use crate::error::{DbContext, QueueError};
use crate::ids::{CommandId, EnrollmentId};
use crate::machine::{self, Change, Slot};
use crate::model::{
    DeliverOptions, Delivered, Enqueued, HistoryEvent, NewCommand, QueueEntry, Reason, Report,
    ReportOutcome, StateCounts,
};
use crate::sql::{self, slot_columns};
use crate::store::log_enqueued;
use crate::store::{QueueStore, prepare_batch, prepare_targets};
use crate::time::{Clock, SystemClock, Timestamp};

/// SQLite's `synchronous` setting: how hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// Every commit reaches the disk before it returns (survives power
    /// loss). The default.
    #[default]
    Full,
    /// Commits survive a crash of the process but the last ones may be lost
    /// on power loss; several times faster.
    Normal,
    /// No syncing at all: for tests and throwaway queues.
    Off,
}

/// How to open an SQLite store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// The database file (created if missing).
    pub path: PathBuf,
    /// The durability of commits.
    pub synchronous: Synchronous,
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long a call waits for another writer before failing.
    pub busy_timeout: Duration,
    /// The page cache of each connection, in KiB (SQLite's own default is
    /// 2,000 KiB, which a fleet's queue outgrows: index probes then read
    /// pages through system calls).
    pub cache_kib: u32,
    /// How much of the file SQLite reads through a memory map instead of
    /// `pread` (0: none). Reads then cost no system call and no copy; an
    /// I/O error while reading the file becomes a `SIGBUS` instead of an
    /// error, which is why SQLite leaves it off by default. Off here too:
    /// a queue's file grows with every few commits, and SQLite then unmaps
    /// and maps it again, which cost a 1 KiB-payload enqueue -> deliver ->
    /// acknowledge cycle about 12 % and gained a 100,000-device reconcile
    /// nothing measurable.
    pub mmap_bytes: u64,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
}

impl SqliteOptions {
    /// Defaults for the file at `path`: `synchronous=FULL`, 4 connections,
    /// 30 s busy timeout, a 64 MiB page cache per connection (allocated as
    /// used), no memory map, system clock.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            synchronous: Synchronous::Full,
            max_connections: 4,
            busy_timeout: Duration::from_secs(30),
            cache_kib: 64 * 1024,
            mmap_bytes: 0,
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets the durability.
    pub fn with_synchronous(mut self, s: Synchronous) -> Self {
        self.synchronous = s;
        self
    }

    /// Sets the clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the pool size.
    pub fn with_max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets each connection's page cache, in KiB.
    pub fn with_cache_kib(mut self, kib: u32) -> Self {
        self.cache_kib = kib;
        self
    }

    /// Sets the memory-mapped part of the file, in bytes (0: reads go
    /// through `pread` only).
    pub fn with_mmap_bytes(mut self, bytes: u64) -> Self {
        self.mmap_bytes = bytes;
        self
    }
}

/// The schema, one entry per version. Never edit a released entry: append.
///
/// A queue row lives in the primary-key B-tree (`WITHOUT ROWID`) and has one
/// more index entry, no more: each entry is paid on every insert and state
/// change. The key leads with the command, so a fan-out to 100,000
/// enrollments appends one run of adjacent pages instead of touching
/// 100,000 scattered ones, and finds a command's rows (cancel, purge);
/// `mdmkit_queue_by_enrollment` finds an enrollment's rows, its pending ones
/// (`state IN (0, 1, 2)`, the lowest codes) first. Events are ordered by
/// their rowid, which a plain `INTEGER PRIMARY KEY` keeps increasing
/// without the extra write of `AUTOINCREMENT`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE mdmkit_commands (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant     TEXT    NOT NULL,
    id         BLOB    NOT NULL,
    kind       TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant, id)
);
CREATE TABLE mdmkit_queue (
    tenant        TEXT    NOT NULL,
    device        TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    command_id    BLOB    NOT NULL,
    seq           INTEGER NOT NULL,
    priority      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    not_before    INTEGER,
    expires_at    INTEGER,
    supersede_key TEXT,
    max_attempts  INTEGER,
    state         INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    lease_until   INTEGER,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant, command_id, device, channel)
) WITHOUT ROWID;
CREATE INDEX mdmkit_queue_by_enrollment ON mdmkit_queue (tenant, device, channel, state);
CREATE TABLE mdmkit_events (
    id         INTEGER PRIMARY KEY,
    tenant     TEXT    NOT NULL,
    device     TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    command_id BLOB    NOT NULL,
    at         INTEGER NOT NULL,
    from_state INTEGER,
    to_state   INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    by_command BLOB,
    result     BLOB
);
CREATE INDEX mdmkit_events_by_enrollment ON mdmkit_events (tenant, device, channel);
"#,
    // 2: the supersede key joins the enrollment index, so finding the rows a
    // fan-out supersedes reads the index alone instead of every pending row of
    // each target (a device with seven pending commands cost seven row reads).
    r#"
DROP INDEX mdmkit_queue_by_enrollment;
CREATE INDEX mdmkit_queue_by_enrollment
    ON mdmkit_queue (tenant, device, channel, state, supersede_key);
"#,
    // 3: optimistic writes (see `write_plan`). What a plan read is summed up
    // by the enrollment's last event id: every change to an enrollment's
    // existing rows records an event, event ids only grow, and the
    // enrollment's newest one is the last entry of its range in the event
    // index (one seek). Inserting into `mdmkit_transitions` applies one
    // transition: the trigger refuses it (the whole statement) if the
    // enrollment has a newer event than the plan read, or the row is no
    // longer in the state the plan moves it from; otherwise it moves the row
    // and records the event. Inserting into `mdmkit_enqueue` stores a command
    // (refusing a duplicate id) and queues it for a JSON array of targets: an
    // enqueue without a supersede key is one statement.
    r#"
CREATE VIEW mdmkit_transitions AS
    SELECT NULL AS tenant, NULL AS device, NULL AS channel, NULL AS command_id,
        NULL AS from_state, NULL AS to_state, NULL AS attempts, NULL AS lease_until,
        NULL AS at, NULL AS reason, NULL AS by_command, NULL AS result, NULL AS read_event;
CREATE TRIGGER mdmkit_transitions_apply INSTEAD OF INSERT ON mdmkit_transitions
BEGIN
    SELECT RAISE(ABORT, 'mdmkit: the queue changed since it was read')
    WHERE NEW.read_event IS NOT NULL AND NEW.read_event IS NOT ifnull((SELECT e.id
        FROM mdmkit_events e WHERE e.tenant = NEW.tenant AND e.device = NEW.device
        AND e.channel = NEW.channel ORDER BY e.id DESC LIMIT 1), 0);
    SELECT RAISE(ABORT, 'mdmkit: the queue changed since it was read')
    WHERE NOT EXISTS (SELECT 1 FROM mdmkit_queue q WHERE q.tenant = NEW.tenant
        AND q.command_id = NEW.command_id AND q.device = NEW.device
        AND q.channel = NEW.channel AND q.state = NEW.from_state);
    UPDATE mdmkit_queue SET state = NEW.to_state, attempts = NEW.attempts,
        lease_until = NEW.lease_until, updated_at = NEW.at
    WHERE tenant = NEW.tenant AND command_id = NEW.command_id
        AND device = NEW.device AND channel = NEW.channel;
    INSERT INTO mdmkit_events (tenant, device, channel, command_id, at, from_state,
        to_state, reason, by_command, result)
    VALUES (NEW.tenant, NEW.device, NEW.channel, NEW.command_id, NEW.at, NEW.from_state,
        NEW.to_state, NEW.reason, NEW.by_command, NEW.result);
END;
CREATE VIEW mdmkit_enqueue AS
    SELECT NULL AS tenant, NULL AS id, NULL AS kind, NULL AS payload, NULL AS created_at,
        NULL AS targets, NULL AS priority, NULL AS not_before, NULL AS expires_at,
        NULL AS max_attempts;
CREATE TRIGGER mdmkit_enqueue_apply INSTEAD OF INSERT ON mdmkit_enqueue
BEGIN
    SELECT RAISE(ABORT, 'mdmkit: duplicate command')
    WHERE EXISTS (SELECT 1 FROM mdmkit_commands c WHERE c.tenant = NEW.tenant AND c.id = NEW.id);
    INSERT INTO mdmkit_commands (tenant, id, kind, payload, created_at)
    VALUES (NEW.tenant, NEW.id, NEW.kind, NEW.payload, NEW.created_at);
    INSERT INTO mdmkit_queue (tenant, device, channel, command_id, seq, priority, created_at,
        not_before, expires_at, supersede_key, max_attempts, state, attempts, lease_until,
        updated_at)
    SELECT NEW.tenant, t.value ->> 0, t.value ->> 1, NEW.id,
        (SELECT c.seq FROM mdmkit_commands c WHERE c.tenant = NEW.tenant AND c.id = NEW.id),
        NEW.priority, NEW.created_at, NEW.not_before, NEW.expires_at, NULL, NEW.max_attempts,
        0, 0, NULL, NEW.created_at
    FROM jsonb_each(NEW.targets) AS t;
END;
"#,
    // 4: a supersede is one UPDATE over the whole fan-out. It names the
    // superseding command in `superseded_by`, and this trigger records the
    // transition, instead of a second statement finding the same rows again
    // to record them. The reason is `Reason::Superseded` (a test pins it).
    r#"
ALTER TABLE mdmkit_queue ADD COLUMN superseded_by BLOB;
CREATE TRIGGER mdmkit_queue_superseded AFTER UPDATE OF superseded_by ON mdmkit_queue
WHEN NEW.superseded_by IS NOT NULL AND OLD.superseded_by IS NULL
BEGIN
    INSERT INTO mdmkit_events (tenant, device, channel, command_id, at, from_state,
        to_state, reason, by_command, result)
    VALUES (NEW.tenant, NEW.device, NEW.channel, NEW.command_id, NEW.updated_at, OLD.state,
        NEW.state, 'superseded', NEW.superseded_by, NULL);
END;
"#,
];

/// A queue store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
}

type Tx = Transaction<'static, Sqlite>;

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database.
    pub async fn open(opts: SqliteOptions) -> Result<Self, QueueError> {
        create_owner_only(&opts.path).map_err(|e| QueueError::Io {
            path: opts.path.display().to_string(),
            source: e,
        })?;
        let sync = match opts.synchronous {
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Normal => SqliteSynchronous::Normal,
            Synchronous::Off => SqliteSynchronous::Off,
        };
        let connect = SqliteConnectOptions::new()
            .filename(&opts.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sync)
            .busy_timeout(opts.busy_timeout)
            .pragma("cache_size", format!("-{}", opts.cache_kib))
            .pragma("mmap_size", opts.mmap_bytes.to_string());
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .test_before_acquire(false)
            .connect_with(connect)
            .await
            .db("open the sqlite database")?;
        let store = Self {
            pool,
            clock: opts.clock,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Closes the pool, waiting for calls in progress.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> Result<Tx, QueueError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .db("begin a transaction")
    }

    /// Reads an enrollment's pending rows, plans with the state machine and
    /// writes the plan checked against the read ([`write_plan`]), with no
    /// transaction: SQLite runs one writer at a time, and the write's
    /// checks see everything committed before it. A write refused because
    /// another call changed the queue in between starts again from the read.
    async fn plan_and_write<T>(
        &self,
        conn: &mut SqliteConnection,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        also: Option<CommandId>,
        mut plan: impl FnMut(&mut Vec<Slot>, Timestamp) -> Result<(T, Vec<Change>), QueueError>,
    ) -> Result<(Timestamp, T, Vec<Change>, Vec<(String, Vec<u8>)>), QueueError> {
        let mut tries = 0;
        loop {
            let now = self.clock.now();
            let read = load_slots(conn, tenant, enrollment, also).await?;
            let mut slots = read.slots;
            let (out, changes) = plan(&mut slots, now)?;
            match write_plan(conn, tenant, enrollment, &changes, Some(read.event)).await {
                Err(e) if tries < 64 && is_stale(&e) => tries += 1,
                Err(e) => return Err(e),
                Ok(payloads) => return Ok((now, out, changes, payloads)),
            }
        }
    }

    async fn migrate(&self) -> Result<(), QueueError> {
        let mut tx = self.begin().await?;
        crate::migrate::apply_sqlite(&mut tx, &SCHEMA, self.clock.now().as_millis()).await?;
        tx.commit().await.db("commit the migration")
    }
}

/// The schema of the embedded store, through [`crate::migrate`].
pub(crate) const SCHEMA: crate::migrate::Schema = crate::migrate::Schema {
    table: "mdmkit_queue_migrations",
    migrations: MIGRATIONS,
};

/// Creates a SQLite database file readable and writable by its owner
/// only, unless it exists: queued payloads carry secrets (Wi-Fi keys,
/// enrollment challenges), and SQLite gives the `-wal` and `-shm` files it
/// creates the database file's permissions. An existing file keeps its
/// mode. [`SqliteStore::open`] calls it; so do other stores that share the
/// file.
pub fn create_owner_only(path: &Path) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// An enrollment's pending rows, after what the plan read of them (the
/// enrollment's last event id, the same in every row), in one statement so
/// both come from one snapshot. `state < 3` (not `IN (0, 1, 2)`): with the
/// `IN` list SQLite's planner preferred the primary key's `tenant` prefix,
/// a scan of every row of the tenant on each delivery and report, over the
/// enrollment index's four-column range (a test pins the plan).
const LOAD_PENDING: &str = concat!(
    "SELECT ifnull((SELECT e.id FROM mdmkit_events e WHERE e.tenant = ?1 \
     AND e.device = ?2 AND e.channel = ?3 ORDER BY e.id DESC LIMIT 1), 0), ",
    slot_columns!(),
    " FROM mdmkit_queue q WHERE q.tenant = ?1 AND q.device = ?2 AND q.channel = ?3 \
     AND q.state < 3"
);

/// What a plan read: the enrollment's last event id (0: none), and its
/// pending rows.
struct ReadSet {
    event: i64,
    slots: Vec<Slot>,
}

async fn load_slots(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    e: &EnrollmentId,
    also: Option<CommandId>,
) -> Result<ReadSet, QueueError> {
    let rows = sqlx::query(LOAD_PENDING)
        .bind(tenant.as_str())
        .bind(e.device_id().as_str())
        .bind(e.channel_key())
        .fetch_all(&mut *conn)
        .await
        .db("read a queue")?;
    let mut event = 0;
    let mut slots = Vec::with_capacity(rows.len());
    for r in &rows {
        event = r.try_get(0).db("read a queue")?;
        slots.push(sql::raw_slot(r, 1).db("read a queue row")?.into_slot()?);
    }
    // A report may name a finished command: read it too (it cannot change).
    if let Some(c) = also.filter(|c| slots.iter().all(|s| s.command != *c)) {
        let row = sqlx::query(concat!(
            "SELECT ",
            slot_columns!(),
            " FROM mdmkit_queue q WHERE q.tenant = ?1 AND q.command_id = ?4 \
             AND q.device = ?2 AND q.channel = ?3"
        ))
        .bind(tenant.as_str())
        .bind(e.device_id().as_str())
        .bind(e.channel_key())
        .bind(c.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .db("read a queue row")?;
        if let Some(r) = row {
            slots.push(sql::raw_slot(&r, 0).db("read a queue row")?.into_slot()?);
        }
    }
    Ok(ReadSet { event, slots })
}

/// The message of the trigger's refusal (migration 3).
const STALE: &str = "mdmkit: the queue changed since it was read";

/// Whether `e` is the trigger refusing a plan computed from an outdated read.
fn is_stale(e: &QueueError) -> bool {
    let QueueError::Database { source, .. } = e else {
        return false;
    };
    source
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .is_some_and(|d| d.message().contains(STALE))
}

/// Writes an enrollment's planned transitions in one statement, an insert
/// into `mdmkit_transitions` whose trigger (migration 3) moves each row and
/// records its event, in plan order. With `read` (the enrollment's last
/// event id when the plan read it) the first transition checks the
/// enrollment has had no transition since, and each checks its row is still
/// in the state it moves it from; if not,
/// the statement writes nothing and fails with [`STALE`]. Outside a
/// transaction the statement commits by itself: an optimistic call is a
/// read and this write, two hand-offs to SQLite's worker thread instead of
/// a transaction's five.
async fn write_plan(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    e: &EnrollmentId,
    changes: &[Change],
    read: Option<i64>,
) -> Result<Vec<(String, Vec<u8>)>, QueueError> {
    // Per transition: for a delivery (`reason` = the parameter `$r`, bound
    // to `Reason::Delivered`), the command's kind and payload, read after
    // the trigger moved the row.
    macro_rules! returning {
        ($r:literal) => {
            concat!(
                " RETURNING (SELECT c.kind FROM mdmkit_commands c WHERE c.tenant = ?1 \
                 AND c.id = mdmkit_transitions.command_id AND mdmkit_transitions.reason = ",
                $r,
                "), (SELECT c.payload FROM mdmkit_commands c WHERE c.tenant = ?1 \
                 AND c.id = mdmkit_transitions.command_id AND mdmkit_transitions.reason = ",
                $r,
                ")"
            )
        };
    }
    let rows = match changes {
        [] => return Ok(Vec::new()),
        [c] => sqlx::query(concat!(
            "INSERT INTO mdmkit_transitions (tenant, device, channel, command_id, from_state, \
             to_state, attempts, lease_until, at, reason, by_command, result, read_event) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            returning!("?14")
        ))
        .bind(tenant.as_str())
        .bind(e.device_id().as_str())
        .bind(e.channel_key())
        .bind(c.command.as_uuid())
        .bind(i64::from(c.from.code()))
        .bind(i64::from(c.to.code()))
        .bind(i64::from(c.attempts))
        .bind(c.lease_until.map(Timestamp::as_millis))
        .bind(c.at.as_millis())
        .bind(c.reason.as_str())
        .bind(c.by.map(|b| b.as_uuid()))
        .bind(c.result.as_deref())
        .bind(read)
        .bind(Reason::Delivered.as_str())
        .fetch_all(&mut *conn)
        .await
        .db("record a transition")?,
        _ => {
            if changes.iter().filter(|c| c.result.is_some()).count() > 1 {
                return Err(QueueError::Corrupt {
                    what: "a plan carries more than one report result".into(),
                });
            }
            // A report's result travels as its own parameter (`?4`), not as
            // hex inside the JSON; only the reported command carries one.
            let result = changes.iter().find_map(|c| c.result.as_deref());
            let rows: Vec<serde_json::Value> = changes
                .iter()
                .map(|c| {
                    serde_json::json!([
                        hex(c.command.as_uuid().as_bytes()),
                        c.from.code(),
                        c.to.code(),
                        c.attempts,
                        c.lease_until.map(Timestamp::as_millis),
                        c.at.as_millis(),
                        c.reason.as_str(),
                        c.by.map(|b| hex(b.as_uuid().as_bytes())),
                        c.result.is_some(),
                    ])
                })
                .collect();
            sqlx::query(concat!(
                "INSERT INTO mdmkit_transitions (tenant, device, channel, command_id, \
                 from_state, to_state, attempts, lease_until, at, reason, by_command, result, \
                 read_event) \
                 SELECT ?1, ?2, ?3, unhex(value ->> 0), value ->> 1, value ->> 2, \
                 value ->> 3, value ->> 4, value ->> 5, value ->> 6, unhex(value ->> 7), \
                 CASE WHEN value ->> 8 THEN ?4 END, CASE WHEN key = 0 THEN ?5 END \
                 FROM jsonb_each(?6) ORDER BY key",
                returning!("?7")
            ))
            .bind(tenant.as_str())
            .bind(e.device_id().as_str())
            .bind(e.channel_key())
            .bind(result)
            .bind(read)
            .bind(serde_json::Value::Array(rows).to_string())
            .bind(Reason::Delivered.as_str())
            .fetch_all(&mut *conn)
            .await
            .db("record transitions")?
        }
    };
    // One row per transition, in plan order; the deliveries carry a payload.
    let mut out = Vec::new();
    for (c, r) in changes.iter().zip(&rows) {
        if c.reason == Reason::Delivered {
            let kind: Option<String> = r.try_get(0).db("read a command")?;
            let payload: Option<Vec<u8>> = r.try_get(1).db("read a command")?;
            let (Some(kind), Some(payload)) = (kind, payload) else {
                return Err(QueueError::Corrupt {
                    what: format!("command {} has no stored payload", c.command),
                });
            };
            out.push((kind, payload));
        }
    }
    Ok(out)
}

/// The deliveries of a written plan, in plan order, with the kinds and
/// payloads [`write_plan`] returned for them (one per delivery, in order).
fn delivered(
    changes: &[Change],
    payloads: Vec<(String, Vec<u8>)>,
    now: Timestamp,
) -> Vec<Delivered> {
    changes
        .iter()
        .filter(|c| c.reason == Reason::Delivered)
        .zip(payloads)
        .map(|(c, (kind, payload))| Delivered {
            id: c.command,
            kind,
            payload,
            attempt: c.attempts,
            lease_until: c.lease_until.unwrap_or(now),
        })
        .collect()
}

/// Supersedes the undelivered commands carrying `key` of the targets in
/// `targets_json`, inside an enqueue's transaction, as one `UPDATE` over the
/// whole fan-out (one probe of the enrollment index per target) that returns
/// what it replaced; migration 4's trigger records each transition as its
/// row moves. (Two set statements, one recording and one moving, found
/// every row twice.) The rule (which states, to which state)
/// is the state machine's ([`machine::supersede_rule`]); row by row through
/// [`machine::supersede`] a fan-out to 100,000 enrollments spent most of its
/// time decoding rows and writing them back one by one.
async fn supersede(
    tx: &mut Tx,
    tenant: &TenantId,
    by: CommandId,
    key: &str,
    targets_json: &str,
    now: Timestamp,
) -> Result<Vec<(EnrollmentId, CommandId)>, QueueError> {
    let (from, to) = machine::supersede_rule()?;
    let states = from
        .iter()
        .map(|s| s.code().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    // The state list holds the machine's integer codes only. The trigger of
    // migration 4 records each transition as the row moves.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE mdmkit_queue INDEXED BY mdmkit_queue_by_enrollment \
         SET state = ?6, lease_until = NULL, updated_at = ?5, superseded_by = ?4 \
         WHERE tenant = ?1 AND (device, channel) IN \
         (SELECT value ->> 0, value ->> 1 FROM jsonb_each(?2)) \
         AND state IN ({states}) AND supersede_key = ?3 AND command_id <> ?4 \
         RETURNING device, channel, command_id"
    )))
    .bind(tenant.as_str())
    .bind(targets_json)
    .bind(key)
    .bind(by.as_uuid())
    .bind(now.as_millis())
    .bind(i64::from(to.code()))
    .fetch_all(&mut **tx)
    .await
    .db("supersede commands")?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let device: &str = r.try_get(0).db("read a superseded row")?;
        let channel: &str = r.try_get(1).db("read a superseded row")?;
        let command: Uuid = r.try_get(2).db("read a superseded row")?;
        out.push((
            EnrollmentId::from_parts(device, channel)?,
            CommandId::from_uuid(command),
        ));
    }
    // `RETURNING` gives the rows in whatever order the update visited
    // them; the trait promises enrollment order, as the other stores give.
    out.sort();
    Ok(out)
}

/// Writes the changes of many enrollments in a few statements, whatever
/// their number: a fan-out superseding 100,000 older commands would otherwise
/// make 200,000 statement round trips, each far dearer than SQLite's own work.
///
/// The rows to change travel as JSON arrays (command ids in hex): one UPDATE
/// per distinct outcome (new state, attempts, lease, time; a supersede has one
/// or two), whose `IN (SELECT ... FROM json_each)` SQLite runs as one
/// primary-key seek per listed row (`EXPLAIN QUERY PLAN`: "SEARCH mdmkit_queue
/// USING PRIMARY KEY ... LIST SUBQUERY"; an `UPDATE ... FROM json_each` was
/// planned as a scan of the tenant's index per row instead), then one INSERT
/// of every transition.
async fn write_many_changes(
    tx: &mut Tx,
    tenant: &TenantId,
    changes: &[(EnrollmentId, Change)],
) -> Result<(), QueueError> {
    if changes.len() <= 1 {
        for (e, c) in changes {
            write_plan(tx, tenant, e, std::slice::from_ref(c), None).await?;
        }
        return Ok(());
    }
    type Outcome = (i16, u32, Option<i64>, i64);
    let mut groups: BTreeMap<Outcome, Vec<[String; 3]>> = BTreeMap::new();
    for (e, c) in changes {
        groups
            .entry((
                c.to.code(),
                c.attempts,
                c.lease_until.map(Timestamp::as_millis),
                c.at.as_millis(),
            ))
            .or_default()
            .push([
                e.device_id().as_str().to_owned(),
                e.channel_key().to_owned(),
                hex(c.command.as_uuid().as_bytes()),
            ]);
    }
    for ((to, attempts, lease_until, at), rows) in groups {
        let json = serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "UPDATE mdmkit_queue SET state = ?3, attempts = ?4, lease_until = ?5, \
             updated_at = ?6 WHERE (tenant, command_id, device, channel) IN \
             (SELECT ?1, unhex(value ->> 2), value ->> 0, value ->> 1 FROM jsonb_each(?2))",
        )
        .bind(tenant.as_str())
        .bind(json.as_str())
        .bind(i64::from(to))
        .bind(i64::from(attempts))
        .bind(lease_until)
        .bind(at)
        .execute(&mut **tx)
        .await
        .db("update queue rows")?;
    }
    sqlx::query(
        "INSERT INTO mdmkit_events (tenant, device, channel, command_id, at, from_state, \
         to_state, reason, by_command, result) \
         SELECT ?1, value ->> 0, value ->> 1, unhex(value ->> 2), value ->> 7, value ->> 3, \
         value ->> 4, value ->> 8, unhex(value ->> 9), unhex(value ->> 10) \
         FROM jsonb_each(?2) ORDER BY key",
    )
    .bind(tenant.as_str())
    .bind(changes_json(changes).as_str())
    .execute(&mut **tx)
    .await
    .db("record transitions")?;
    Ok(())
}

/// Lower-case hex, as SQLite's `unhex` reads it.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The JSON array of transitions [`write_many_changes`] records: per change
/// `[device, channel, command hex, from, to, attempts, lease_until, at,
/// reason, by hex, result hex]`.
fn changes_json(changes: &[(EnrollmentId, Change)]) -> String {
    use serde_json::Value;
    let rows: Vec<Value> = changes
        .iter()
        .map(|(e, c)| {
            Value::Array(vec![
                e.device_id().as_str().into(),
                e.channel_key().into(),
                hex(c.command.as_uuid().as_bytes()).into(),
                i64::from(c.from.code()).into(),
                i64::from(c.to.code()).into(),
                i64::from(c.attempts).into(),
                c.lease_until.map(Timestamp::as_millis).into(),
                c.at.as_millis().into(),
                c.reason.as_str().into(),
                c.by.map(|b| hex(b.as_uuid().as_bytes())).into(),
                c.result.as_deref().map(hex).into(),
            ])
        })
        .collect();
    Value::Array(rows).to_string()
}

/// Sets `busy[rest[k]]` for every probed position `k`.
fn mark_busy(busy: &mut [bool], rest: &[usize], found: impl IntoIterator<Item = i64>) {
    for k in found {
        if let Some(i) = usize::try_from(k).ok().and_then(|k| rest.get(k)) {
            busy[*i] = true;
        }
    }
}

/// Stores the command once and returns its sequence number.
async fn store_command(
    tx: &mut Tx,
    tenant: &TenantId,
    command: &NewCommand,
    now: Timestamp,
) -> Result<i64, QueueError> {
    let inserted = sqlx::query(
        "INSERT INTO mdmkit_commands (tenant, id, kind, payload, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant, id) DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(command.id.as_uuid())
    .bind(command.kind.as_str())
    .bind(command.payload.as_slice())
    .bind(now.as_millis())
    .execute(&mut **tx)
    .await
    .db("store a command")?;
    if inserted.rows_affected() == 0 {
        return Err(QueueError::DuplicateCommand {
            command: command.id,
        });
    }
    Ok(inserted.last_insert_rowid())
}

/// The message of the enqueue trigger's refusal of a taken id (migration 3).
const DUPLICATE: &str = "mdmkit: duplicate command";

/// An enqueue without a supersede key, in one statement: an insert into
/// `mdmkit_enqueue`, whose trigger (migration 3) stores the command and
/// queues its rows, and whose `RETURNING` finds the targets that have
/// another pending command (push hints), atomically with the insert. Outside
/// a transaction the statement commits by itself.
async fn enqueue_plain(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    command: &NewCommand,
    targets: &[EnrollmentId],
    now: Timestamp,
) -> Result<Enqueued, QueueError> {
    let json = sql::targets_json(targets);
    let row = sqlx::query(
        "INSERT INTO mdmkit_enqueue (tenant, id, kind, payload, created_at, targets, priority, \
         not_before, expires_at, max_attempts) \
         VALUES (?1, ?3, ?4, ?5, ?6, jsonb(?2), ?7, ?8, ?9, ?10) \
         RETURNING (SELECT json_group_array(t.key) FROM jsonb_each(?2) AS t \
         WHERE EXISTS (SELECT 1 FROM mdmkit_queue q WHERE q.tenant = ?1 \
         AND q.device = t.value ->> 0 AND q.channel = t.value ->> 1 AND q.state < 3 \
         AND q.command_id <> ?3))",
    )
    .bind(tenant.as_str())
    .bind(json.as_str())
    .bind(command.id.as_uuid())
    .bind(command.kind.as_str())
    .bind(command.payload.as_slice())
    .bind(now.as_millis())
    .bind(i64::from(command.priority))
    .bind(command.not_before.map(Timestamp::as_millis))
    .bind(command.expires_at.map(Timestamp::as_millis))
    .bind(command.max_attempts.map(i64::from))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match e.as_database_error() {
        Some(d) if d.message().contains(DUPLICATE) => QueueError::DuplicateCommand {
            command: command.id,
        },
        _ => QueueError::Database {
            op: "queue a command",
            source: Box::new(e),
        },
    })?;
    let found: String = row.try_get(0).db("find busy enrollments")?;
    let found: Vec<i64> = serde_json::from_str(&found).map_err(|e| QueueError::Corrupt {
        what: format!("busy enrollments: {e}"),
    })?;
    let mut busy = vec![false; targets.len()];
    for k in found {
        if let Some(b) = usize::try_from(k).ok().and_then(|k| busy.get_mut(k)) {
            *b = true;
        }
    }
    Ok(Enqueued {
        id: command.id,
        queued: targets.len() as u64,
        wake: wake(targets, &busy),
        superseded: Vec::new(),
    })
}

/// The targets not marked busy: they get a push.
fn wake(targets: &[EnrollmentId], busy: &[bool]) -> Vec<EnrollmentId> {
    targets
        .iter()
        .zip(busy)
        .filter(|(_, b)| !**b)
        .map(|(e, _)| e.clone())
        .collect()
}

/// One enqueue inside `tx` (targets prepared, command validated).
async fn enqueue_in(
    tx: &mut Tx,
    tenant: &TenantId,
    command: &NewCommand,
    targets: &[EnrollmentId],
    now: Timestamp,
) -> Result<Enqueued, QueueError> {
    let Some(key) = &command.supersede_key else {
        return enqueue_plain(tx, tenant, command, targets, now).await;
    };
    let json = sql::targets_json(targets);
    let seq = store_command(tx, tenant, command, now).await?;
    // Supersede first: an enrollment that had a command to replace had a
    // pending one, so it needs no push (hint), and only the others are
    // probed.
    let superseded = supersede(tx, tenant, command.id, key, &json, now).await?;
    let replaced: HashSet<&EnrollmentId> = superseded.iter().map(|(e, _)| e).collect();
    let mut busy: Vec<bool> = targets.iter().map(|e| replaced.contains(e)).collect();
    let rest: Vec<usize> = (0..targets.len()).filter(|i| !busy[*i]).collect();
    if !rest.is_empty() {
        // Superseding changed none of their rows, so this reads what was
        // there before the enqueue.
        let rest_json = sql::targets_json(rest.iter().map(|i| &targets[*i]));
        // One index probe per target (`EXISTS` over the `state < 3` range).
        let found: Vec<i64> = sqlx::query_scalar(
            "SELECT t.key FROM jsonb_each(?2) AS t WHERE EXISTS (SELECT 1 \
             FROM mdmkit_queue q WHERE q.tenant = ?1 AND q.device = t.value ->> 0 \
             AND q.channel = t.value ->> 1 AND q.state < 3)",
        )
        .bind(tenant.as_str())
        .bind(rest_json.as_str())
        .fetch_all(&mut **tx)
        .await
        .db("find busy enrollments")?;
        mark_busy(&mut busy, &rest, found);
    }

    let queued = sqlx::query(
        "INSERT INTO mdmkit_queue (tenant, device, channel, command_id, seq, priority, \
         created_at, not_before, expires_at, supersede_key, max_attempts, state, attempts, \
         lease_until, updated_at) \
         SELECT ?1, value ->> 0, value ->> 1, ?3, ?4, ?5, ?6, \
         ?7, ?8, ?9, ?10, 0, 0, NULL, ?6 FROM jsonb_each(?2)",
    )
    .bind(tenant.as_str())
    .bind(json.as_str())
    .bind(command.id.as_uuid())
    .bind(seq)
    .bind(i64::from(command.priority))
    .bind(now.as_millis())
    .bind(command.not_before.map(Timestamp::as_millis))
    .bind(command.expires_at.map(Timestamp::as_millis))
    .bind(command.supersede_key.as_deref())
    .bind(command.max_attempts.map(i64::from))
    .execute(&mut **tx)
    .await
    .db("queue a command")?
    .rows_affected();
    Ok(Enqueued {
        id: command.id,
        queued,
        wake: wake(targets, &busy),
        superseded,
    })
}

#[async_trait]
impl QueueStore for SqliteStore {
    #[tracing::instrument(name = "queue.enqueue", level = "debug", skip_all, fields(%tenant, kind = %command.kind, targets = targets.len()))]
    async fn enqueue(
        &self,
        tenant: &TenantId,
        command: &NewCommand,
        targets: &[EnrollmentId],
    ) -> Result<Enqueued, QueueError> {
        command.validate()?;
        let targets = prepare_targets(targets)?;
        let now = self.clock.now();
        if command.supersede_key.is_none() {
            // One statement: atomic without an explicit transaction.
            let mut conn = self.pool.acquire().await.db("connect")?;
            return enqueue_plain(&mut conn, tenant, command, &targets, now).await;
        }
        let mut tx = self.begin().await?;
        let out = enqueue_in(&mut tx, tenant, command, &targets, now).await?;
        tx.commit().await.db("commit an enqueue")?;
        Ok(out)
    }

    #[tracing::instrument(name = "queue.enqueue_batch", level = "debug", skip_all, fields(%tenant, commands = batch.len()))]
    async fn enqueue_batch(
        &self,
        tenant: &TenantId,
        batch: &[(NewCommand, Vec<EnrollmentId>)],
    ) -> Result<Vec<Enqueued>, QueueError> {
        let batch = prepare_batch(batch)?;
        let now = self.clock.now();
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(batch.len());
        for (command, targets) in &batch {
            // An error drops `tx`: the whole batch rolls back.
            out.push(enqueue_in(&mut tx, tenant, command, targets, now).await?);
        }
        tx.commit().await.db("commit an enqueue")?;
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
        let mut conn = self.pool.acquire().await.db("connect")?;
        let (now, (), changes, payloads) = self
            .plan_and_write(&mut conn, tenant, enrollment, None, |slots, now| {
                Ok(((), machine::deliver(slots, now, opts)?))
            })
            .await?;
        let out = delivered(&changes, payloads, now);
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
        let mut conn = self.pool.acquire().await.db("connect")?;
        let (_, outcome, ..) = self
            .plan_and_write(
                &mut conn,
                tenant,
                enrollment,
                Some(command),
                |slots, now| machine::report(slots, command, report, now),
            )
            .await?;
        Ok(outcome)
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
        let mut conn = self.pool.acquire().await.db("connect")?;
        let (now, outcome, changes, payloads) = self
            .plan_and_write(
                &mut conn,
                tenant,
                enrollment,
                Some(command),
                |slots, now| {
                    machine::report_and_deliver(
                        slots,
                        command,
                        report,
                        now,
                        &DeliverOptions::single(),
                    )
                },
            )
            .await?;
        Ok((outcome, delivered(&changes, payloads, now).pop()))
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
        if reports.iter().filter(|(_, r)| r.result.is_some()).count() > 1 {
            // One write carries one report's result (as its own parameter,
            // not hex in the JSON): several results go one report each.
            let mut outcomes = Vec::with_capacity(reports.len());
            for (command, r) in reports {
                outcomes.push(self.report(tenant, enrollment, *command, r).await);
            }
            return Ok((outcomes, self.next_batch(tenant, enrollment, max).await?));
        }
        let mut conn = self.pool.acquire().await.db("connect")?;
        let opts = DeliverOptions::batch(max);
        let (now, outcomes, changes, payloads) = self
            .plan_and_write(&mut conn, tenant, enrollment, None, |slots, now| {
                machine::report_all_and_deliver(slots, reports, now, &opts)
            })
            .await?;
        let next = delivered(&changes, payloads, now);
        drop(conn);
        let outcomes =
            crate::store::report_the_rest(self, tenant, enrollment, reports, outcomes).await;
        tracing::debug!(delivered = next.len(), "reported and delivered");
        Ok((outcomes, next))
    }

    async fn idle(&self, tenant: &TenantId, enrollment: &EnrollmentId) -> Result<(), QueueError> {
        let mut conn = self.pool.acquire().await.db("connect")?;
        self.plan_and_write(&mut conn, tenant, enrollment, None, |slots, now| {
            Ok(((), machine::idle(slots, now)?))
        })
        .await?;
        Ok(())
    }

    #[tracing::instrument(name = "queue.cancel", level = "debug", skip_all, fields(%tenant, %command))]
    async fn cancel(&self, tenant: &TenantId, command: CommandId) -> Result<u64, QueueError> {
        let now = self.clock.now();
        let mut tx = self.begin().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM mdmkit_commands WHERE tenant = ?1 AND id = ?2")
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
            " FROM mdmkit_queue q WHERE q.tenant = ?1 AND q.command_id = ?2 AND q.state IN (0, 1, 2)"
        ))
        .bind(tenant.as_str())
        .bind(command.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .db("find a command's rows")?;
        let mut changes = Vec::new();
        for r in &rows {
            let device: String = r.try_get(0).db("read a queue row")?;
            let channel: String = r.try_get(1).db("read a queue row")?;
            let e = EnrollmentId::from_parts(&device, &channel)?;
            let mut slot = sql::raw_slot(r, 2).db("read a queue row")?.into_slot()?;
            if let Some(c) = machine::cancel(&mut slot, now, false)? {
                changes.push((e, c));
            }
        }
        // Cancelling a fan-out ends every enrollment's row at once.
        write_many_changes(&mut tx, tenant, &changes).await?;
        tx.commit().await.db("commit a cancel")?;
        Ok(changes.len() as u64)
    }

    #[tracing::instrument(name = "queue.clear_enrollment", level = "debug", skip_all, fields(%tenant, %enrollment))]
    async fn clear_enrollment(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<u64, QueueError> {
        let mut conn = self.pool.acquire().await.db("connect")?;
        let (_, (), changes, _) = self
            .plan_and_write(&mut conn, tenant, enrollment, None, |slots, now| {
                let mut changes = Vec::new();
                for s in slots.iter_mut() {
                    changes.extend(machine::cancel(s, now, true)?);
                }
                Ok(((), changes))
            })
            .await?;
        Ok(changes.len() as u64)
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
             WHERE q.tenant = ?1 AND q.device = ?2 AND q.channel = ?3 \
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
        let mut tx = self.pool.begin().await.db("begin a read")?;
        let created = sqlx::query(
            "SELECT created_at, seq, command_id FROM mdmkit_queue \
             WHERE tenant = ?1 AND device = ?2 AND channel = ?3 AND (?4 IS NULL OR command_id = ?4)",
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
             FROM mdmkit_events WHERE tenant = ?1 AND device = ?2 AND channel = ?3 \
             AND (?4 IS NULL OR command_id = ?4) ORDER BY id",
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
            "SELECT state, COUNT(*) FROM mdmkit_queue WHERE tenant = ?1 GROUP BY state",
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
        let rows: Vec<(String, String)> = sqlx::query_as(sql::PENDING_ENROLLMENTS)
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
        let mut tx = self.begin().await?;
        sqlx::query(
            // The store's newest event stays: a new event takes the largest
            // id plus one, and ids must never be handed out twice (an
            // optimistic write compares its enrollment's last event id).
            "DELETE FROM mdmkit_events AS e WHERE e.tenant = ?1 AND EXISTS (SELECT 1 FROM \
             mdmkit_queue q WHERE q.tenant = e.tenant AND q.command_id = e.command_id \
             AND q.device = e.device AND q.channel = e.channel AND q.state >= 3 \
             AND q.updated_at < ?2) AND e.id < (SELECT max(id) FROM mdmkit_events)",
        )
        .bind(tenant.as_str())
        .bind(before.as_millis())
        .execute(&mut *tx)
        .await
        .db("purge history")?;
        let n = sqlx::query(
            "DELETE FROM mdmkit_queue WHERE tenant = ?1 AND state >= 3 AND updated_at < ?2",
        )
        .bind(tenant.as_str())
        .bind(before.as_millis())
        .execute(&mut *tx)
        .await
        .db("purge finished rows")?
        .rows_affected();
        sqlx::query(
            "DELETE FROM mdmkit_commands AS c WHERE c.tenant = ?1 AND NOT EXISTS \
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewCommand;
    use mdmkit_core::DeviceId;
    use sqlx::Connection;

    /// A store as each released schema version left it opens at the
    /// latest and queues; a store whose recorded checksum differs from the
    /// build's (an edited released migration) is refused.
    #[tokio::test]
    async fn every_schema_version_migrates_forward_and_an_edited_one_is_refused() {
        let tenant = TenantId::new("t").unwrap();
        let device = EnrollmentId::device(DeviceId::new("ipad-1").unwrap());
        for n in 0..=MIGRATIONS.len() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("v{n}.db"));
            {
                let opts = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal);
                let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
                let mut tx = c.begin().await.unwrap();
                let v = crate::migrate::apply_sqlite(&mut tx, &SCHEMA.up_to(n), 0)
                    .await
                    .unwrap();
                assert_eq!(v, n as i64);
                tx.commit().await.unwrap();
                c.close().await.unwrap();
            }
            let store = SqliteStore::open(SqliteOptions::new(&path)).await.unwrap();
            let (version, sums): (i64, i64) =
                sqlx::query_as("SELECT MAX(version), COUNT(checksum) FROM mdmkit_queue_migrations")
                    .fetch_one(&store.pool)
                    .await
                    .unwrap();
            assert_eq!(
                (version, sums),
                (SCHEMA.latest(), SCHEMA.latest()),
                "from {n}"
            );
            store
                .enqueue(
                    &tenant,
                    &NewCommand::new("Any", vec![1]),
                    std::slice::from_ref(&device),
                )
                .await
                .unwrap();
            assert!(
                store.next(&tenant, &device).await.unwrap().is_some(),
                "from {n}"
            );
            if n == MIGRATIONS.len() {
                sqlx::query("UPDATE mdmkit_queue_migrations SET checksum = 'x' WHERE version = 2")
                    .execute(&store.pool)
                    .await
                    .unwrap();
                drop(store);
                let e = SqliteStore::open(SqliteOptions::new(&path))
                    .await
                    .unwrap_err();
                assert!(
                    matches!(&e, QueueError::Corrupt { what } if what.contains("migration 2")),
                    "{e}"
                );
            }
        }
    }

    /// A store written by schema version 1 is migrated in place: its rows
    /// stay, and the enrollment index gains the supersede key.
    #[tokio::test]
    async fn version_1_store_migrates_to_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let opts = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
            sqlx::raw_sql(
                "CREATE TABLE mdmkit_queue_migrations \
                 (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
            )
            .execute(&mut c)
            .await
            .unwrap();
            sqlx::raw_sql(MIGRATIONS[0]).execute(&mut c).await.unwrap();
            sqlx::query("INSERT INTO mdmkit_queue_migrations VALUES (1, 0)")
                .execute(&mut c)
                .await
                .unwrap();
            c.close().await.unwrap();
        }
        // Version 1 rows, written through the v1 schema by hand.
        let tenant = TenantId::new("t").unwrap();
        let device = EnrollmentId::device(DeviceId::new("ipad-1").unwrap());
        {
            let opts = SqliteConnectOptions::new().filename(&path);
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
            let id = CommandId::new();
            sqlx::query(
                "INSERT INTO mdmkit_commands (tenant, id, kind, payload, created_at) \
                 VALUES ('t', ?1, 'Old', x'00', 1)",
            )
            .bind(id.as_uuid())
            .execute(&mut c)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO mdmkit_queue (tenant, device, channel, command_id, seq, priority, \
                 created_at, supersede_key, state, attempts, updated_at) \
                 VALUES ('t', 'ipad-1', ?2, ?1, 1, 0, 1, 'k', 0, 0, 1)",
            )
            .bind(id.as_uuid())
            .bind(device.channel_key())
            .execute(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
        }
        let store = SqliteStore::open(SqliteOptions::new(&path)).await.unwrap();
        let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM mdmkit_queue_migrations")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_index_info('mdmkit_queue_by_enrollment')")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        assert_eq!(
            columns,
            ["tenant", "device", "channel", "state", "supersede_key"]
        );
        // The old row is still there and is superseded like any other.
        let done = store
            .enqueue(
                &tenant,
                &NewCommand::new("New", vec![1]).with_supersede_key("k"),
                std::slice::from_ref(&device),
            )
            .await
            .unwrap();
        assert_eq!(done.superseded.len(), 1);
        assert!(done.wake.is_empty());
    }

    /// Delivering and reporting read an enrollment's pending rows through the
    /// enrollment index's four-column range, never the tenant's whole key
    /// range: the plan stays flat however much history the tenant keeps.
    #[tokio::test]
    async fn pending_rows_are_one_index_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path().join("q.db")))
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {LOAD_PENDING}"
        )))
        .bind("t")
        .bind("d")
        .bind("")
        .fetch_all(&store.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(3))
        .collect();
        // The rows: one range of the enrollment index; the enrollment's last
        // event: the end of its range of the event index (no sort).
        assert_eq!(
            plan,
            [
                "SEARCH q USING INDEX mdmkit_queue_by_enrollment \
                 (tenant=? AND device=? AND channel=? AND state<?)",
                "SCALAR SUBQUERY 1",
                "SEARCH e USING COVERING INDEX mdmkit_events_by_enrollment \
                 (tenant=? AND device=? AND channel=?)",
            ],
        );
    }

    /// Plans a delivery from a read of `e`'s queue, as `deliver` does.
    async fn read_and_plan(s: &SqliteStore, t: &TenantId, e: &EnrollmentId) -> (i64, Vec<Change>) {
        let mut conn = s.pool.acquire().await.unwrap();
        let read = load_slots(&mut conn, t, e, None).await.unwrap();
        let mut slots = read.slots;
        let changes =
            machine::deliver(&mut slots, s.clock.now(), &crate::DeliverOptions::single()).unwrap();
        assert_eq!(changes.len(), 1);
        (read.event, changes)
    }

    async fn fixture(dir: &tempfile::TempDir) -> (SqliteStore, TenantId, EnrollmentId, CommandId) {
        let s = SqliteStore::open(SqliteOptions::new(dir.path().join("q.db")))
            .await
            .unwrap();
        let t = TenantId::new("t").unwrap();
        let e = EnrollmentId::device(DeviceId::new("d").unwrap());
        let q = s
            .enqueue(&t, &NewCommand::new("A", vec![1]), std::slice::from_ref(&e))
            .await
            .unwrap();
        (s, t, e, q.id)
    }

    /// A plan written after another call moved the enrollment on is refused
    /// whole and leaves no trace.
    #[tokio::test]
    async fn a_plan_from_an_outdated_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (s, t, e, _) = fixture(&dir).await;
        let (read, changes) = read_and_plan(&s, &t, &e).await;
        // Another task delivers and the device answers in between.
        let d = s.next(&t, &e).await.unwrap().unwrap();
        s.report(
            &t,
            &e,
            d.id,
            &crate::Report::new(crate::ReportStatus::Acknowledged),
        )
        .await
        .unwrap();
        let mut conn = s.pool.acquire().await.unwrap();
        let err = write_plan(&mut conn, &t, &e, &changes, Some(read))
            .await
            .unwrap_err();
        assert!(is_stale(&err), "{err}");
        let history = s.history(&t, &e, None).await.unwrap();
        assert_eq!(
            history.len(),
            3,
            "queued, delivered, acknowledged: {history:?}"
        );
    }

    /// A cancel between the read and the write makes the plan fail: it
    /// would deliver a cancelled command.
    #[tokio::test]
    async fn a_plan_over_a_row_that_changed_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (s, t, e, id) = fixture(&dir).await;
        let (read, changes) = read_and_plan(&s, &t, &e).await;
        assert_eq!(s.cancel(&t, id).await.unwrap(), 1);
        let mut conn = s.pool.acquire().await.unwrap();
        let err = write_plan(&mut conn, &t, &e, &changes, Some(read))
            .await
            .unwrap_err();
        assert!(is_stale(&err), "{err}");
        assert!(s.next(&t, &e).await.unwrap().is_none());
    }

    /// Tasks racing over one enrollment through one store: every command is
    /// delivered once, never two at a time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_tasks_never_double_deliver() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(
            SqliteOptions::new(dir.path().join("q.db")).with_synchronous(Synchronous::Off),
        )
        .await
        .unwrap();
        let t = TenantId::new("t").unwrap();
        let e = EnrollmentId::device(DeviceId::new("d").unwrap());
        for _ in 0..40 {
            s.enqueue(&t, &NewCommand::new("A", vec![1]), std::slice::from_ref(&e))
                .await
                .unwrap();
        }
        let in_flight = Arc::new(std::sync::Mutex::new(None));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let (s, t, e) = (s.clone(), t.clone(), e.clone());
            let (in_flight, seen) = (in_flight.clone(), seen.clone());
            tasks.push(tokio::spawn(async move {
                let mut idle = 0;
                while idle < 20 {
                    let Some(d) = s.next(&t, &e).await.unwrap() else {
                        idle += 1;
                        tokio::task::yield_now().await;
                        continue;
                    };
                    idle = 0;
                    let prev = in_flight.lock().unwrap().replace(d.id);
                    assert!(
                        prev.is_none(),
                        "{:?} delivered while {prev:?} in flight",
                        d.id
                    );
                    seen.lock().unwrap().push(d.id);
                    in_flight.lock().unwrap().take();
                    s.report(
                        &t,
                        &e,
                        d.id,
                        &crate::Report::new(crate::ReportStatus::Acknowledged),
                    )
                    .await
                    .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let seen = seen.lock().unwrap();
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!((seen.len(), unique.len()), (40, 40));
    }

    /// Migration 4's trigger writes the superseded reason as a literal.
    #[test]
    fn the_supersede_trigger_names_the_machines_reason() {
        assert!(MIGRATIONS[3].contains(&format!("'{}'", crate::Reason::Superseded.as_str())));
    }
}

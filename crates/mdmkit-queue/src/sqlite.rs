//! The embedded store: one SQLite file in WAL mode, migrations built in.
//!
//! Writers (tasks, or processes sharing the file) queue on SQLite's write
//! lock; throughput is that of one writer. Calls on one enrollment are an
//! optimistic read outside any transaction and a write checked against it
//! ([`write_plan`]); every write is one `BEGIN IMMEDIATE` transaction, which
//! takes the write lock up front instead of failing on a lock upgrade.
//!
//! The queue's rules live in Rust, not in the database: the state machine
//! plans, and the write code checks what the statements report (rows moved,
//! the enrollment's last event, a command id taken) and rolls the
//! transaction back when a check fails. The statements are set-based
//! (fan-outs, supersedes and plans travel as JSON arrays read with
//! `jsonb_each`), so a fan-out to 100,000 enrollments stays a few
//! statements.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mdmkit_core::TenantId;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection as _, Row, Sqlite, Transaction};
use uuid::Uuid;

use crate::error::{DbContext, QueueError};
use crate::ids::{CommandId, EnrollmentId};
use crate::machine::{self, Change, Slot};
use crate::model::{
    CommandState, DeliverOptions, Delivered, Enqueued, HistoryEvent, NewCommand, QueueEntry,
    Reason, Report, ReportOutcome, StateCounts,
};
use crate::sql;
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
/// The layout (migration 6): a queue row is the command's `seq` and the
/// enrollment's interned id (`mdmkit_queue_enrollments`) plus what differs
/// per target (state, attempts, lease, time, the supersede key's interned
/// id, the superseding command's `seq`); what is the same for every target
/// of a command (kind, payload, priority, times, supersede key, max
/// attempts) is stored once, in `mdmkit_commands`. A queue row lives in the
/// primary-key B-tree (`WITHOUT ROWID`) and has one more index entry, no
/// more: each entry is paid on every insert and state change. The key
/// leads with the command, so a fan-out to 100,000 enrollments appends one
/// run of adjacent pages instead of touching 100,000 scattered ones, and
/// finds a command's rows (cancel, purge); `mdmkit_queue_by_enrollment`
/// `(enrollment, state, key)` finds an enrollment's rows, its pending ones
/// (`state < 3`, the lowest codes) first, and the ones a supersede replaces
/// without reading them. Events name the enrollment and commands by
/// integer too, and are ordered by their rowid, which a plain `INTEGER
/// PRIMARY KEY` keeps increasing without the extra write of
/// `AUTOINCREMENT`.
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
    // enqueue without a supersede key is one statement. (Migration 5 drops
    // these views and triggers: the store's Rust code makes the same checks.)
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
    // to record them. The reason is `Reason::Superseded`. (Migration 5 drops
    // the trigger: `supersede` records the events itself.)
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
    // 5: the queue's rules leave the database (issue 18). The store's Rust
    // code checks an optimistic write against its read (rows moved, the
    // enrollment's last event), refuses a taken command id and records a
    // supersede's events, in the statements of one transaction, so the views
    // and triggers of migrations 3 and 4 go. `superseded_by` stays: a
    // supersede still names the superseding command there.
    r#"
DROP TRIGGER IF EXISTS mdmkit_queue_superseded;
DROP TRIGGER IF EXISTS mdmkit_transitions_apply;
DROP TRIGGER IF EXISTS mdmkit_enqueue_apply;
DROP VIEW IF EXISTS mdmkit_transitions;
DROP VIEW IF EXISTS mdmkit_enqueue;
"#,
    // 6: the compact layout (issue 19 must 2: at most 150 bytes per queued
    // command beyond its payload; schema 5 stored about 269). A queue row
    // repeated its enrollment's tenant, device and channel, its command's
    // 16-byte id and the command's own fields (priority, times, supersede
    // key, max attempts), and both of its index entries repeated the
    // strings again. Now:
    //
    // - `mdmkit_queue_enrollments` interns each enrollment once as a small
    //   integer (created by the first command queued for it, never
    //   deleted: its events and the optimistic check refer to it);
    // - `mdmkit_queue_keys` interns each tenant's supersede keys the same
    //   way, so that the enrollment index can still find the rows a
    //   supersede replaces without reading them;
    // - `mdmkit_commands` holds every per-command field (the small ones
    //   before the payload, so that reading them never reads a large
    //   payload's overflow pages); its `seq` (`AUTOINCREMENT`: never handed
    //   out twice, an event may outlive its command by one purge) is what
    //   queue rows and events refer to;
    // - a queue row is `(seq, enrollment)` plus what changes per target:
    //   state, attempts, lease, time, the key's integer and the
    //   superseding command's `seq`. The key still leads with the command
    //   (a fan-out appends one run of pages), and the one index is
    //   `(enrollment, state, key)`;
    // - events refer to the enrollment and commands by integer too.
    //
    // Every row is carried over: the tables are rebuilt and renamed (SQLite
    // cannot change a primary key in place), ids and sequence numbers kept.
    // An event whose command is gone (the store's newest event, which a
    // purge keeps so that event ids are never handed out twice) keeps its
    // id with command `seq` 0, which names no command.
    r#"
CREATE TABLE mdmkit_queue_enrollments (
    id      INTEGER PRIMARY KEY,
    tenant  TEXT    NOT NULL,
    device  TEXT    NOT NULL,
    channel TEXT    NOT NULL,
    UNIQUE (tenant, device, channel)
);
INSERT INTO mdmkit_queue_enrollments (tenant, device, channel)
    SELECT tenant, device, channel FROM mdmkit_queue
    UNION SELECT tenant, device, channel FROM mdmkit_events
    ORDER BY 1, 2, 3;
CREATE TABLE mdmkit_queue_keys (
    id     INTEGER PRIMARY KEY,
    tenant TEXT    NOT NULL,
    key    TEXT    NOT NULL,
    UNIQUE (tenant, key)
);
INSERT INTO mdmkit_queue_keys (tenant, key)
    SELECT DISTINCT tenant, supersede_key FROM mdmkit_queue
    WHERE supersede_key IS NOT NULL ORDER BY 1, 2;
CREATE TABLE mdmkit_commands_v6 (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant        TEXT    NOT NULL,
    id            BLOB    NOT NULL,
    kind          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    priority      INTEGER NOT NULL,
    not_before    INTEGER,
    expires_at    INTEGER,
    max_attempts  INTEGER,
    supersede_key TEXT,
    payload       BLOB    NOT NULL,
    UNIQUE (tenant, id)
);
INSERT INTO mdmkit_commands_v6 (seq, tenant, id, kind, created_at, priority, not_before,
    expires_at, max_attempts, supersede_key, payload)
SELECT c.seq, c.tenant, c.id, c.kind, ifnull(q.created_at, c.created_at), ifnull(q.priority, 0),
    q.not_before, q.expires_at, q.max_attempts, q.supersede_key, c.payload
FROM mdmkit_commands c LEFT JOIN (SELECT tenant, command_id, priority, created_at, not_before,
    expires_at, max_attempts, supersede_key FROM mdmkit_queue GROUP BY tenant, command_id) q
    ON q.tenant = c.tenant AND q.command_id = c.id
ORDER BY c.seq;
DELETE FROM sqlite_sequence WHERE name = 'mdmkit_commands_v6';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'mdmkit_commands_v6', seq FROM sqlite_sequence WHERE name = 'mdmkit_commands';
CREATE TABLE mdmkit_queue_v6 (
    seq           INTEGER NOT NULL,
    enrollment    INTEGER NOT NULL,
    state         INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    lease_until   INTEGER,
    updated_at    INTEGER NOT NULL,
    key           INTEGER,
    superseded_by INTEGER,
    PRIMARY KEY (seq, enrollment)
) WITHOUT ROWID;
INSERT INTO mdmkit_queue_v6 (seq, enrollment, state, attempts, lease_until, updated_at, key,
    superseded_by)
SELECT c.seq, n.id, q.state, q.attempts, q.lease_until, q.updated_at, k.id, s.seq
FROM mdmkit_queue q
JOIN mdmkit_commands_v6 c ON c.tenant = q.tenant AND c.id = q.command_id
JOIN mdmkit_queue_enrollments n
    ON n.tenant = q.tenant AND n.device = q.device AND n.channel = q.channel
LEFT JOIN mdmkit_queue_keys k ON k.tenant = q.tenant AND k.key = q.supersede_key
LEFT JOIN mdmkit_commands_v6 s ON s.tenant = q.tenant AND s.id = q.superseded_by
ORDER BY 1, 2;
CREATE TABLE mdmkit_events_v6 (
    id         INTEGER PRIMARY KEY,
    enrollment INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    from_state INTEGER,
    to_state   INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    by_seq     INTEGER,
    result     BLOB
);
INSERT INTO mdmkit_events_v6 (id, enrollment, seq, at, from_state, to_state, reason, by_seq,
    result)
SELECT e.id, n.id, ifnull(c.seq, 0), e.at, e.from_state, e.to_state, e.reason, b.seq, e.result
FROM mdmkit_events e
JOIN mdmkit_queue_enrollments n
    ON n.tenant = e.tenant AND n.device = e.device AND n.channel = e.channel
LEFT JOIN mdmkit_commands_v6 c ON c.tenant = e.tenant AND c.id = e.command_id
LEFT JOIN mdmkit_commands_v6 b ON b.tenant = e.tenant AND b.id = e.by_command
ORDER BY e.id;
DROP TABLE mdmkit_events;
DROP TABLE mdmkit_queue;
DROP TABLE mdmkit_commands;
ALTER TABLE mdmkit_commands_v6 RENAME TO mdmkit_commands;
ALTER TABLE mdmkit_queue_v6 RENAME TO mdmkit_queue;
ALTER TABLE mdmkit_events_v6 RENAME TO mdmkit_events;
CREATE INDEX mdmkit_queue_by_enrollment ON mdmkit_queue (enrollment, state, key);
CREATE INDEX mdmkit_events_by_enrollment ON mdmkit_events (enrollment);
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

    /// Reads an enrollment's pending rows outside any transaction (taking
    /// no lock), plans with the state machine and writes the plan checked
    /// against the read ([`write_plan`]): the write's transaction holds the
    /// write lock, so its checks see everything committed before it. A
    /// write refused because another call changed the queue in between
    /// starts again from the read.
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
            let rows = RowKeys::of(read.enrollment, &slots);
            match write_plan(conn, tenant, &rows, &changes, read.event).await {
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

/// The columns of a queue row (`q`) and its command (`c`) the planners
/// need, in the order [`sql::raw_slot`] reads them: what is the same for
/// every target of a command is the command's.
macro_rules! slot_columns {
    () => {
        "c.id, q.state, q.attempts, q.lease_until, c.priority, c.created_at, c.seq, \
         c.not_before, c.expires_at, c.max_attempts, c.supersede_key"
    };
}

/// An enrollment (`?1` to `?3`) by its interned id, the enrollment's last
/// event id, and its pending rows, in one statement so that all come from
/// one snapshot. The enrollment is one row however many pending rows it has
/// (a row of `NULL`s when it has none; no row when it was never queued
/// for). `state < 3` (not `IN (0, 1, 2)`) reads one range of the
/// enrollment index (a test pins the plan).
const LOAD_PENDING: &str = concat!(
    "SELECT n.id, ifnull((SELECT e.id FROM mdmkit_events e WHERE e.enrollment = n.id \
     ORDER BY e.id DESC LIMIT 1), 0), ",
    slot_columns!(),
    " FROM mdmkit_queue_enrollments n \
     LEFT JOIN mdmkit_queue q ON q.enrollment = n.id AND q.state < 3 \
     LEFT JOIN mdmkit_commands c ON c.seq = q.seq \
     WHERE n.tenant = ?1 AND n.device = ?2 AND n.channel = ?3"
);

/// What a plan read: the enrollment's interned id (`None`: never queued
/// for), its last event id (0: none), and its pending rows.
struct ReadSet {
    enrollment: Option<i64>,
    event: i64,
    slots: Vec<Slot>,
}

/// How a plan's rows are found in the tables: the enrollment's interned id
/// and each command's `seq`.
struct RowKeys {
    enrollment: Option<i64>,
    seqs: HashMap<CommandId, i64>,
}

impl RowKeys {
    /// The keys of the rows a plan read (every row a plan moves is one it
    /// read).
    fn of(enrollment: Option<i64>, slots: &[Slot]) -> Self {
        Self {
            enrollment,
            seqs: slots.iter().map(|s| (s.command, s.seq)).collect(),
        }
    }

    fn enrollment(&self) -> Result<i64, QueueError> {
        self.enrollment.ok_or_else(|| QueueError::Corrupt {
            what: "a plan moves rows of an enrollment that has none".into(),
        })
    }

    fn seq(&self, command: CommandId) -> Result<i64, QueueError> {
        self.seqs
            .get(&command)
            .copied()
            .ok_or_else(|| QueueError::Corrupt {
                what: format!("a plan moves command {command}, which it did not read"),
            })
    }
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
    let mut read = ReadSet {
        enrollment: None,
        event: 0,
        slots: Vec::with_capacity(rows.len()),
    };
    for r in &rows {
        read.enrollment = Some(r.try_get(0).db("read a queue")?);
        read.event = r.try_get(1).db("read a queue")?;
        // The enrollment's row without a pending one: no slot.
        let state: Option<i64> = r.try_get(3).db("read a queue")?;
        if state.is_some() {
            read.slots
                .push(sql::raw_slot(r, 2).db("read a queue row")?.into_slot()?);
        }
    }
    // A report may name a finished command: read it too (it cannot change).
    if let (Some(c), Some(enrollment)) = (also, read.enrollment)
        && read.slots.iter().all(|s| s.command != c)
    {
        let row = sqlx::query(concat!(
            "SELECT ",
            slot_columns!(),
            " FROM mdmkit_commands c JOIN mdmkit_queue q ON q.seq = c.seq AND q.enrollment = ?3 \
             WHERE c.tenant = ?1 AND c.id = ?2"
        ))
        .bind(tenant.as_str())
        .bind(c.as_uuid())
        .bind(enrollment)
        .fetch_optional(&mut *conn)
        .await
        .db("read a queue row")?;
        if let Some(r) = row {
            read.slots
                .push(sql::raw_slot(&r, 0).db("read a queue row")?.into_slot()?);
        }
    }
    Ok(read)
}

/// The message of a refused optimistic write.
const STALE: &str = "mdmkit: the queue changed since it was read";

/// Why an optimistic write was refused: another call changed the
/// enrollment's queue between the plan's read and its write. It travels as
/// the source of a [`QueueError::Database`] (the kind the refusal of
/// schema 3's trigger had), and [`SqliteStore::plan_and_write`] reads and
/// plans again.
#[derive(Debug, thiserror::Error)]
#[error("{STALE}")]
struct Stale;

/// The refusal of a plan computed from an outdated read.
fn stale(op: &'static str) -> QueueError {
    QueueError::Database {
        op,
        source: Box::new(Stale),
    }
}

/// Whether `e` is the refusal of a plan computed from an outdated read.
fn is_stale(e: &QueueError) -> bool {
    matches!(e, QueueError::Database { source, .. } if source.is::<Stale>())
}

/// Writes an enrollment's planned transitions in one `BEGIN IMMEDIATE`
/// transaction, checked against `read`, the enrollment's last event id when
/// the plan read its rows ([`apply_plan`]). A plan from an outdated read
/// writes nothing and fails with [`Stale`]. Returns the kind and payload of
/// each delivery, in plan order.
async fn write_plan(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    rows: &RowKeys,
    changes: &[Change],
    read: i64,
) -> Result<Vec<(String, Vec<u8>)>, QueueError> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .db("begin a transaction")?;
    // An error drops `tx`: nothing of the plan is written.
    let out = apply_plan(&mut tx, tenant, rows, changes, Some(read)).await?;
    tx.commit().await.db("commit transitions")?;
    Ok(out)
}

/// What an update of a plan's rows returns per row moved: the command's
/// `seq`, the enrollment's last event id before the plan's events (the same
/// in every row: the events go in after the update), and for a row the plan
/// leaves delivered (only a delivery moves a row into `Delivered`, `?3`)
/// the command's kind and payload. `?1` is the enrollment.
macro_rules! moved_returning {
    () => {
        " RETURNING seq, ifnull((SELECT e.id FROM mdmkit_events e \
         WHERE e.enrollment = ?1 ORDER BY e.id DESC LIMIT 1), 0), \
         (SELECT c.kind FROM mdmkit_commands c WHERE c.seq = mdmkit_queue.seq \
         AND mdmkit_queue.state = ?3), \
         (SELECT c.payload FROM mdmkit_commands c WHERE c.seq = mdmkit_queue.seq \
         AND mdmkit_queue.state = ?3)"
    };
}

/// Moves one row (enrollment `?1`, command `?2`) from state `?8` to `?4`
/// with attempts `?5`, lease `?6` and time `?7`: one primary-key seek.
const MOVE_ROW: &str = concat!(
    "UPDATE mdmkit_queue SET state = ?4, attempts = ?5, lease_until = ?6, updated_at = ?7 \
     WHERE seq = ?2 AND enrollment = ?1 AND state = ?8",
    moved_returning!()
);

/// Moves rows of enrollment `?1` listed in the JSON array `?2` (per row:
/// `[seq, from, to, attempts, lease_until, at]`), each from its `from`
/// state, one primary-key seek per listed row (a test pins the plan). The
/// list is materialized with the whole key in each of its rows: with the
/// enrollment compared to the parameter instead, SQLite may read the
/// enrollment's whole index range, finished rows too, and probe the list
/// per row.
const MOVE_ROWS: &str = concat!(
    "WITH r AS MATERIALIZED (SELECT ?1 AS enrollment, value ->> 0 AS seq, \
     value ->> 1 AS from_state, value ->> 2 AS to_state, value ->> 3 AS attempts, \
     value ->> 4 AS lease_until, value ->> 5 AS at FROM jsonb_each(?2)) \
     UPDATE mdmkit_queue SET state = r.to_state, attempts = r.attempts, \
     lease_until = r.lease_until, updated_at = r.at FROM r \
     WHERE mdmkit_queue.seq = r.seq AND mdmkit_queue.enrollment = r.enrollment \
     AND mdmkit_queue.state = r.from_state",
    moved_returning!()
);

/// Applies an enrollment's planned transitions inside the caller's
/// transaction, in two statements whatever the plan's size: one update of
/// the rows the plan moves, each only from the state the plan found it in,
/// then one insert of every transition's event, in plan order. The checks
/// are made here, on what the update returns: every row moved (else another
/// call moved one since the read), and with `read`, the enrollment's last
/// event is still the one the plan read (else another call changed the
/// enrollment since). A failed check returns [`Stale`] before the events go
/// in; the caller's transaction then rolls the update back. Returns the
/// kind and payload of each delivery, in plan order.
async fn apply_plan(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    keys: &RowKeys,
    changes: &[Change],
    read: Option<i64>,
) -> Result<Vec<(String, Vec<u8>)>, QueueError> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let enrollment = keys.enrollment()?;
    let moves = sql::row_moves(changes);
    let delivered_code = i64::from(CommandState::Delivered.code());
    let (op, moved) = match moves.as_slice() {
        [m] => {
            let moved = sqlx::query(MOVE_ROW)
                .bind(enrollment)
                .bind(keys.seq(m.command)?)
                .bind(delivered_code)
                .bind(i64::from(m.to.code()))
                .bind(i64::from(m.attempts))
                .bind(m.lease_until.map(Timestamp::as_millis))
                .bind(m.at.as_millis())
                .bind(i64::from(m.from.code()))
                .fetch_all(&mut *conn)
                .await
                .db("record a transition")?;
            ("record a transition", moved)
        }
        _ => {
            // Per row: `[seq, from, to, attempts, lease_until, at]`.
            let rows = moves
                .iter()
                .map(|m| {
                    Ok(serde_json::json!([
                        keys.seq(m.command)?,
                        m.from.code(),
                        m.to.code(),
                        m.attempts,
                        m.lease_until.map(Timestamp::as_millis),
                        m.at.as_millis(),
                    ]))
                })
                .collect::<Result<Vec<_>, QueueError>>()?;
            let moved = sqlx::query(MOVE_ROWS)
                .bind(enrollment)
                .bind(serde_json::Value::Array(rows).to_string())
                .bind(delivered_code)
                .fetch_all(&mut *conn)
                .await
                .db("record transitions")?;
            ("record transitions", moved)
        }
    };
    // The checks of the optimistic write.
    if moved.len() != moves.len() {
        return Err(stale(op));
    }
    let mut payloads = HashMap::new();
    for r in &moved {
        let last_event: i64 = r.try_get(1).db(op)?;
        if read.is_some_and(|read| read != last_event) {
            return Err(stale(op));
        }
        let kind: Option<String> = r.try_get(2).db("read a command")?;
        let payload: Option<Vec<u8>> = r.try_get(3).db("read a command")?;
        if let (Some(kind), Some(payload)) = (kind, payload) {
            let seq: i64 = r.try_get(0).db("read a command")?;
            payloads.insert(seq, (kind, payload));
        }
    }
    insert_events(conn, tenant, enrollment, keys, changes, op).await?;
    // One kind and payload per delivery, in plan order.
    changes
        .iter()
        .filter(|c| c.reason == Reason::Delivered)
        .map(|c| {
            keys.seq(c.command)
                .ok()
                .and_then(|seq| payloads.remove(&seq))
                .ok_or_else(|| QueueError::Corrupt {
                    what: format!("command {} has no stored payload", c.command),
                })
        })
        .collect()
}

/// The `seq` of the command whose id is `?N` (hex in a JSON field with
/// `unhex`), or `NULL`: what an event's `by_seq` records.
macro_rules! seq_of {
    ($tenant:literal, $id:literal) => {
        concat!(
            "(SELECT b.seq FROM mdmkit_commands b WHERE b.tenant = ",
            $tenant,
            " AND b.id = ",
            $id,
            ")"
        )
    };
}

/// Records the events of an enrollment's transitions, in plan order, in
/// one statement.
async fn insert_events(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    enrollment: i64,
    keys: &RowKeys,
    changes: &[Change],
    op: &'static str,
) -> Result<(), QueueError> {
    if let [c] = changes {
        sqlx::query(concat!(
            "INSERT INTO mdmkit_events (enrollment, seq, at, from_state, to_state, reason, \
             by_seq, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ",
            seq_of!("?9", "?7"),
            ", ?8)"
        ))
        .bind(enrollment)
        .bind(keys.seq(c.command)?)
        .bind(c.at.as_millis())
        .bind(i64::from(c.from.code()))
        .bind(i64::from(c.to.code()))
        .bind(c.reason.as_str())
        .bind(c.by.map(|b| b.as_uuid()))
        .bind(c.result.as_deref())
        .bind(tenant.as_str())
        .execute(&mut *conn)
        .await
        .db(op)?;
        return Ok(());
    }
    if changes.iter().filter(|c| c.result.is_some()).count() > 1 {
        return Err(QueueError::Corrupt {
            what: "a plan carries more than one report result".into(),
        });
    }
    // A report's result travels as its own parameter (`?3`), not as hex
    // inside the JSON; only the reported command carries one. Per event:
    // `[seq, at, from, to, reason, by hex, has result]`.
    let result = changes.iter().find_map(|c| c.result.as_deref());
    let events = changes
        .iter()
        .map(|c| {
            Ok(serde_json::json!([
                keys.seq(c.command)?,
                c.at.as_millis(),
                c.from.code(),
                c.to.code(),
                c.reason.as_str(),
                c.by.map(|b| hex(b.as_uuid().as_bytes())),
                c.result.is_some(),
            ]))
        })
        .collect::<Result<Vec<_>, QueueError>>()?;
    sqlx::query(concat!(
        "INSERT INTO mdmkit_events (enrollment, seq, at, from_state, to_state, reason, by_seq, \
         result) \
         SELECT ?1, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, ",
        seq_of!("?2", "unhex(value ->> 5)"),
        ", CASE WHEN value ->> 6 THEN ?3 END FROM jsonb_each(?4) ORDER BY key"
    ))
    .bind(enrollment)
    .bind(tenant.as_str())
    .bind(result)
    .bind(serde_json::Value::Array(events).to_string())
    .execute(&mut *conn)
    .await
    .db(op)?;
    Ok(())
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

/// Supersedes the undelivered commands carrying the supersede key `key` (its
/// interned id) of the enrollments listed in `keyed_json` (a JSON array of
/// interned ids: only an enrollment holding a row with the key can have one
/// to replace), in the states `states` ([`supersede_states`]), inside an
/// enqueue's transaction, as two set statements over the whole fan-out (each one range of the enrollment index per listed
/// enrollment, `(enrollment, state, key)`, no row read): one records the
/// transitions, reading each row's state before the move, and returns what
/// is replaced; one moves the same rows (the transaction holds the write
/// lock, so both find the same rows; a count that differs is refused). The
/// rule (which states, to which state, the reason) is the state machine's
/// ([`machine::supersede_rule`]); row by row through [`machine::supersede`]
/// a fan-out to 100,000 enrollments spent most of its time decoding rows
/// and writing them back one by one. Returns the enrollments (their
/// interned ids) and the commands replaced.
async fn supersede(
    tx: &mut Tx,
    by: i64,
    key: i64,
    keyed_json: &str,
    states: &str,
    now: Timestamp,
) -> Result<Vec<(i64, CommandId)>, QueueError> {
    let (_, to) = machine::supersede_rule()?;
    // The rows replaced.
    let replaced = format!(
        "enrollment IN (SELECT value FROM jsonb_each(?1)) AND state IN ({states}) \
         AND key = ?3 AND seq <> ?2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO mdmkit_events (enrollment, seq, at, from_state, to_state, reason, by_seq, \
         result) \
         SELECT enrollment, seq, ?4, state, ?5, ?6, ?2, NULL \
         FROM mdmkit_queue INDEXED BY mdmkit_queue_by_enrollment WHERE {replaced} \
         RETURNING enrollment, (SELECT c.id FROM mdmkit_commands c \
         WHERE c.seq = mdmkit_events.seq)"
    )))
    .bind(keyed_json)
    .bind(by)
    .bind(key)
    .bind(now.as_millis())
    .bind(i64::from(to.code()))
    .bind(Reason::Superseded.as_str())
    .fetch_all(&mut **tx)
    .await
    .db("record superseded commands")?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let moved = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE mdmkit_queue INDEXED BY mdmkit_queue_by_enrollment \
         SET state = ?5, lease_until = NULL, updated_at = ?4, superseded_by = ?2 \
         WHERE {replaced}"
    )))
    .bind(keyed_json)
    .bind(by)
    .bind(key)
    .bind(now.as_millis())
    .bind(i64::from(to.code()))
    .execute(&mut **tx)
    .await
    .db("supersede commands")?
    .rows_affected();
    if moved != rows.len() as u64 {
        return Err(QueueError::Corrupt {
            what: format!(
                "a supersede recorded {} transitions but moved {moved} rows",
                rows.len()
            ),
        });
    }
    rows.iter()
        .map(|r| {
            let enrollment: i64 = r.try_get(0).db("read a superseded row")?;
            let command: Uuid = r.try_get(1).db("read a superseded row")?;
            Ok((enrollment, CommandId::from_uuid(command)))
        })
        .collect()
}

/// One row a cancel moves: the enrollment's interned id, the command's
/// `seq`, and the change.
type RowChange = (i64, i64, Change);

/// Writes the changes of many enrollments in a few statements, whatever
/// their number: a fan-out superseding 100,000 older commands would otherwise
/// make 200,000 statement round trips, each far dearer than SQLite's own work.
///
/// The rows to change travel as JSON arrays of `[seq, enrollment]`: one
/// UPDATE per distinct outcome (new state, attempts, lease, time; a
/// supersede has one or two), whose `IN (SELECT ... FROM json_each)` SQLite
/// runs as one primary-key seek per listed row (`EXPLAIN QUERY PLAN`:
/// "SEARCH mdmkit_queue USING PRIMARY KEY ... LIST SUBQUERY"; an `UPDATE ...
/// FROM json_each` was planned as a scan per row instead), then one INSERT
/// of every transition.
async fn write_many_changes(
    tx: &mut Tx,
    tenant: &TenantId,
    changes: &[RowChange],
) -> Result<(), QueueError> {
    if changes.len() <= 1 {
        for (enrollment, seq, c) in changes {
            let keys = RowKeys {
                enrollment: Some(*enrollment),
                seqs: HashMap::from([(c.command, *seq)]),
            };
            apply_plan(tx, tenant, &keys, std::slice::from_ref(c), None).await?;
        }
        return Ok(());
    }
    type Outcome = (i16, u32, Option<i64>, i64);
    let mut groups: BTreeMap<Outcome, Vec<[i64; 2]>> = BTreeMap::new();
    for (enrollment, seq, c) in changes {
        groups
            .entry((
                c.to.code(),
                c.attempts,
                c.lease_until.map(Timestamp::as_millis),
                c.at.as_millis(),
            ))
            .or_default()
            .push([*seq, *enrollment]);
    }
    for ((to, attempts, lease_until, at), rows) in groups {
        let json = serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "UPDATE mdmkit_queue SET state = ?2, attempts = ?3, lease_until = ?4, \
             updated_at = ?5 WHERE (seq, enrollment) IN \
             (SELECT value ->> 0, value ->> 1 FROM jsonb_each(?1))",
        )
        .bind(json.as_str())
        .bind(i64::from(to))
        .bind(i64::from(attempts))
        .bind(lease_until)
        .bind(at)
        .execute(&mut **tx)
        .await
        .db("update queue rows")?;
    }
    sqlx::query(concat!(
        "INSERT INTO mdmkit_events (enrollment, seq, at, from_state, to_state, reason, by_seq, \
         result) \
         SELECT value ->> 0, value ->> 1, value ->> 5, value ->> 2, value ->> 3, value ->> 6, ",
        seq_of!("?1", "unhex(value ->> 7)"),
        ", unhex(value ->> 8) FROM jsonb_each(?2) ORDER BY key"
    ))
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
/// `[enrollment, seq, from, to, attempts, at, reason, by hex, result hex]`.
fn changes_json(changes: &[RowChange]) -> String {
    use serde_json::Value;
    let rows: Vec<Value> = changes
        .iter()
        .map(|(enrollment, seq, c)| {
            Value::Array(vec![
                (*enrollment).into(),
                (*seq).into(),
                i64::from(c.from.code()).into(),
                i64::from(c.to.code()).into(),
                i64::from(c.attempts).into(),
                c.at.as_millis().into(),
                c.reason.as_str().into(),
                c.by.map(|b| hex(b.as_uuid().as_bytes())).into(),
                c.result.as_deref().map(hex).into(),
            ])
        })
        .collect();
    Value::Array(rows).to_string()
}

/// A target of an enqueue as the store knew it when the enqueue began.
#[derive(Debug, Clone)]
struct Known {
    /// The enrollment's interned id.
    id: i64,
    /// It had a pending row (`state < 3`).
    busy: bool,
    /// The interned supersede keys of its rows a supersede could replace.
    keys: Vec<i64>,
}

/// The states a supersede replaces, as the SQL list of their codes (the
/// machine's integer codes only).
fn supersede_states() -> Result<String, QueueError> {
    let (from, _) = machine::supersede_rule()?;
    Ok(from
        .iter()
        .map(|s| s.code().to_string())
        .collect::<Vec<_>>()
        .join(", "))
}

/// Up to how many targets, commands or bytes of payload one statement of
/// an enqueue carries.
const TARGETS_PER_STATEMENT: usize = 50_000;
const COMMANDS_PER_STATEMENT: usize = 10_000;
const PAYLOAD_BYTES_PER_STATEMENT: usize = 8 << 20;

/// What the store holds for each of `targets` (distinct), by position:
/// `None` for an enrollment never queued for. One statement per chunk
/// returns the whole chunk as one JSON array `[[position, id, has a pending
/// row, [keys a supersede could replace]], ...]`: per target one probe of
/// the interned enrollments, and for a known one ranges of its
/// `(enrollment, state, key)` index. `CROSS JOIN` keeps the list the outer
/// loop.
async fn resolve_targets(
    tx: &mut Tx,
    tenant: &TenantId,
    targets: &[&EnrollmentId],
    states: &str,
) -> Result<Vec<Option<Known>>, QueueError> {
    let statement = format!(
        "SELECT json_group_array(json_array(t.key, n.id, EXISTS (SELECT 1 \
         FROM mdmkit_queue q WHERE q.enrollment = n.id AND q.state < 3), \
         json((SELECT json_group_array(q.key) FROM mdmkit_queue q \
         WHERE q.enrollment = n.id AND q.state IN ({states}) AND q.key IS NOT NULL)))) \
         FROM jsonb_each(?2) AS t CROSS JOIN mdmkit_queue_enrollments n \
         ON n.tenant = ?1 AND n.device = t.value ->> 0 AND n.channel = t.value ->> 1"
    );
    let mut out = vec![None; targets.len()];
    for (c, chunk) in targets.chunks(TARGETS_PER_STATEMENT).enumerate() {
        let json: String = sqlx::query_scalar(sqlx::AssertSqlSafe(statement.clone()))
            .bind(tenant.as_str())
            .bind(sql::targets_json(chunk.iter().copied()))
            .fetch_one(&mut **tx)
            .await
            .db("resolve enrollments")?;
        let found: Vec<(usize, i64, i64, Vec<i64>)> =
            serde_json::from_str(&json).map_err(|e| QueueError::Corrupt {
                what: format!("resolved enrollments: {e}"),
            })?;
        for (i, id, busy, keys) in found {
            let slot =
                out.get_mut(c * TARGETS_PER_STATEMENT + i)
                    .ok_or_else(|| QueueError::Corrupt {
                        what: format!("resolved enrollment at position {i}"),
                    })?;
            *slot = Some(Known {
                id,
                busy: busy != 0,
                keys,
            });
        }
    }
    Ok(out)
}

/// Interns the enrollments of `targets` that `known` lacks (queued for the
/// first time), filling their slots. Their ids come back with the insert
/// (`RETURNING` names no order: each row says whose id it is).
async fn store_enrollments(
    tx: &mut Tx,
    tenant: &TenantId,
    targets: &[&EnrollmentId],
    known: &mut [Option<Known>],
) -> Result<(), QueueError> {
    let new: Vec<usize> = (0..targets.len()).filter(|i| known[*i].is_none()).collect();
    for chunk in new.chunks(TARGETS_PER_STATEMENT) {
        let stored: Vec<(String, String, i64)> = sqlx::query_as(
            "INSERT OR FAIL INTO mdmkit_queue_enrollments (tenant, device, channel) \
             SELECT ?1, value ->> 0, value ->> 1 FROM jsonb_each(?2) ORDER BY key \
             RETURNING device, channel, id",
        )
        .bind(tenant.as_str())
        .bind(sql::targets_json(chunk.iter().map(|i| targets[*i])))
        .fetch_all(&mut **tx)
        .await
        .db("store enrollments")?;
        let at: HashMap<(&str, &str), usize> = chunk
            .iter()
            .map(|i| {
                let e = targets[*i];
                ((e.device_id().as_str(), e.channel_key()), *i)
            })
            .collect();
        for (device, channel, id) in &stored {
            let i = at
                .get(&(device.as_str(), channel.as_str()))
                .ok_or_else(|| QueueError::Corrupt {
                    what: format!("stored enrollment {device} {channel}, which was not asked for"),
                })?;
            known[*i] = Some(Known {
                id: *id,
                busy: false,
                keys: Vec::new(),
            });
        }
    }
    Ok(())
}

/// The interned id of every supersede key of `commands`, interning the
/// keys this tenant never used (a few per batch: one statement each).
async fn store_keys(
    tx: &mut Tx,
    tenant: &TenantId,
    commands: &[&NewCommand],
) -> Result<HashMap<String, i64>, QueueError> {
    let keys: std::collections::BTreeSet<&str> = commands
        .iter()
        .filter_map(|c| c.supersede_key.as_deref())
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let keys_json = serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into());
    let json: String = sqlx::query_scalar(
        "SELECT json_group_array(json_array(k.key, k.id)) FROM jsonb_each(?2) AS t \
         CROSS JOIN mdmkit_queue_keys k ON k.tenant = ?1 AND k.key = t.value",
    )
    .bind(tenant.as_str())
    .bind(keys_json)
    .fetch_one(&mut **tx)
    .await
    .db("resolve supersede keys")?;
    let mut ids: HashMap<String, i64> = serde_json::from_str::<Vec<(String, i64)>>(&json)
        .map_err(|e| QueueError::Corrupt {
            what: format!("resolved supersede keys: {e}"),
        })?
        .into_iter()
        .collect();
    for k in keys {
        if !ids.contains_key(k) {
            let id = sqlx::query_scalar::<_, i64>(
                "INSERT INTO mdmkit_queue_keys (tenant, key) VALUES (?1, ?2) RETURNING id",
            )
            .bind(tenant.as_str())
            .bind(k)
            .fetch_one(&mut **tx)
            .await
            .db("store a supersede key")?;
            ids.insert(k.to_owned(), id);
        }
    }
    Ok(ids)
}

/// Stores the commands, in order, refusing a taken id
/// ([`QueueError::DuplicateCommand`]); returns each one's `seq`. A
/// statement per chunk of commands (by count and payload bytes), which
/// travel as one JSON array with ids and payloads in hex.
async fn store_commands(
    tx: &mut Tx,
    tenant: &TenantId,
    commands: &[&NewCommand],
    now: Timestamp,
) -> Result<Vec<i64>, QueueError> {
    type Row<'a> = (
        String,
        &'a str,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<&'a str>,
        String,
    );
    let mut seqs = Vec::with_capacity(commands.len());
    let mut start = 0;
    while start < commands.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < commands.len()
            && end - start < COMMANDS_PER_STATEMENT
            && (end == start || bytes + commands[end].payload.len() <= PAYLOAD_BYTES_PER_STATEMENT)
        {
            bytes += commands[end].payload.len();
            end += 1;
        }
        let chunk = &commands[start..end];
        let rows: Vec<Row<'_>> = chunk
            .iter()
            .map(|c| {
                (
                    hex(c.id.as_uuid().as_bytes()),
                    c.kind.as_str(),
                    i64::from(c.priority),
                    c.not_before.map(Timestamp::as_millis),
                    c.expires_at.map(Timestamp::as_millis),
                    c.max_attempts.map(i64::from),
                    c.supersede_key.as_deref(),
                    hex(&c.payload),
                )
            })
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| QueueError::Corrupt {
            what: format!("commands to store: {e}"),
        })?;
        drop(rows);
        // `WHERE true`: an upsert's SELECT needs a WHERE clause, or SQLite
        // reads `ON CONFLICT` as a join's `ON`.
        let stored: Vec<(Uuid, i64)> = sqlx::query_as(
            "INSERT INTO mdmkit_commands (tenant, id, kind, created_at, priority, not_before, \
             expires_at, max_attempts, supersede_key, payload) \
             SELECT ?1, unhex(value ->> 0), value ->> 1, ?2, value ->> 2, value ->> 3, \
             value ->> 4, value ->> 5, value ->> 6, unhex(value ->> 7) \
             FROM jsonb_each(?3) WHERE true ORDER BY key \
             ON CONFLICT (tenant, id) DO NOTHING RETURNING id, seq",
        )
        .bind(tenant.as_str())
        .bind(now.as_millis())
        .bind(json)
        .fetch_all(&mut **tx)
        .await
        .db("store commands")?;
        let by_id: HashMap<Uuid, i64> = stored.into_iter().collect();
        for c in chunk {
            // No row: the insert did nothing, the id is taken.
            let seq = by_id
                .get(&c.id.as_uuid())
                .ok_or(QueueError::DuplicateCommand { command: c.id })?;
            seqs.push(*seq);
        }
        start = end;
    }
    Ok(seqs)
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

/// Up to how many queue rows an enqueue holds back before writing them in
/// one statement.
const ROWS_PER_WRITE: usize = 100_000;

/// The queue rows of an enqueue ([`enqueue_all`]) not yet written, and
/// what the batch has queued so far. The rows go in together, in `(seq,
/// enrollment)` order (appended: `seq` grows command by command, and each
/// command's enrollments are sorted), before any statement that must see
/// them (a supersede) and at the end. What the store cannot yet see of
/// them, whether an enrollment has a pending row of this batch and with
/// which supersede key, the sets say (rows of a batch stay pending to its
/// end: a supersede moves older rows and queues one of its own).
#[derive(Default)]
struct HeldRows {
    /// `(seq, enrollment, key)`, not yet written.
    rows: Vec<(i64, i64, Option<i64>)>,
    /// Enrollments the batch queued for.
    enrollments: std::collections::HashSet<i64>,
    /// `(enrollment, key)` pairs the batch queued.
    keyed: std::collections::HashSet<(i64, i64)>,
}

impl HeldRows {
    /// Writes the held rows in one statement.
    async fn write(&mut self, tx: &mut Tx, now: Timestamp) -> Result<(), QueueError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        // `OR FAIL` (a conflict cannot happen: each command is new and its
        // targets distinct; if one did, the error rolls the transaction
        // back) means the statement never aborts half way. Otherwise
        // SQLite, inside a transaction, keeps a statement journal of every
        // page the insert changes (its enrollment index is touched all
        // over): about 90 ms of a fan-out to 100,000 enrollments.
        let rows = serde_json::to_string(&self.rows).unwrap_or_else(|_| "[]".into());
        let written = sqlx::query(
            "INSERT OR FAIL INTO mdmkit_queue (seq, enrollment, state, attempts, lease_until, \
             updated_at, key) SELECT value ->> 0, value ->> 1, 0, 0, NULL, ?1, value ->> 2 \
             FROM jsonb_each(?2)",
        )
        .bind(now.as_millis())
        .bind(rows.as_str())
        .execute(&mut **tx)
        .await
        .db("queue commands")?
        .rows_affected();
        if written != self.rows.len() as u64 {
            return Err(QueueError::Corrupt {
                what: format!("queued {written} rows of {}", self.rows.len()),
            });
        }
        self.rows.clear();
        Ok(())
    }
}

/// Enqueues `batch` inside `tx` (targets prepared, commands validated and
/// distinct), in order, as if one by one: what each command finds (a
/// pending row, so no push; a row its supersede key replaces) includes the
/// rows of the commands before it.
///
/// A batch of many small fan-outs (a first reconcile: 40,000 commands of a
/// few targets each) costs a few statements for the whole batch rather
/// than several per command, each a round trip to the connection's thread:
/// what the store holds for every target and key is read first, the
/// commands are stored together, and then each command is planned in
/// memory, its rows held back ([`HeldRows`]) and written together; only a
/// supersede (a statement pair per command that replaces rows) is per
/// command.
async fn enqueue_all(
    tx: &mut Tx,
    tenant: &TenantId,
    batch: &[(&NewCommand, Vec<EnrollmentId>)],
    now: Timestamp,
) -> Result<Vec<Enqueued>, QueueError> {
    let states = supersede_states()?;
    // Every distinct target, and where each command's targets are in it.
    let mut position: HashMap<&EnrollmentId, usize> = HashMap::new();
    let mut distinct: Vec<&EnrollmentId> = Vec::new();
    for (_, targets) in batch {
        for e in targets {
            position.entry(e).or_insert_with(|| {
                distinct.push(e);
                distinct.len() - 1
            });
        }
    }
    let mut known = resolve_targets(tx, tenant, &distinct, &states).await?;
    store_enrollments(tx, tenant, &distinct, &mut known).await?;
    let known = known
        .into_iter()
        .zip(&distinct)
        .map(|(k, e)| {
            k.ok_or_else(|| QueueError::Corrupt {
                what: format!("enrollment {e} has no id after it was stored"),
            })
        })
        .collect::<Result<Vec<Known>, QueueError>>()?;
    let commands: Vec<&NewCommand> = batch.iter().map(|(c, _)| *c).collect();
    let key_ids = store_keys(tx, tenant, &commands).await?;
    let seqs = store_commands(tx, tenant, &commands, now).await?;
    let mut held = HeldRows::default();
    let mut out = Vec::with_capacity(batch.len());
    for ((command, targets), seq) in batch.iter().zip(seqs) {
        let key = match &command.supersede_key {
            Some(k) => Some(*key_ids.get(k).ok_or_else(|| QueueError::Corrupt {
                what: format!("supersede key {k} has no id after it was stored"),
            })?),
            None => None,
        };
        // Busy: had a pending command before this one (no push). Keyed:
        // holds a row this command's key replaces. The store's rows as the
        // batch began, and the batch's own.
        let mut busy = Vec::with_capacity(targets.len());
        let mut keyed = Vec::new();
        let mut ids = Vec::with_capacity(targets.len());
        for e in targets {
            let k =
                position
                    .get(e)
                    .and_then(|i| known.get(*i))
                    .ok_or_else(|| QueueError::Corrupt {
                        what: format!("enrollment {e} was not resolved"),
                    })?;
            busy.push(k.busy || held.enrollments.contains(&k.id));
            if let Some(key) = key
                && (k.keys.contains(&key) || held.keyed.contains(&(k.id, key)))
            {
                keyed.push(k.id);
            }
            ids.push(k.id);
        }
        let mut superseded = Vec::new();
        if let Some(key) = key
            && !keyed.is_empty()
        {
            // The rows it replaces may be held back still.
            held.write(tx, now).await?;
            let keyed_json = serde_json::to_string(&keyed).unwrap_or_else(|_| "[]".into());
            let replaced = supersede(tx, seq, key, &keyed_json, &states, now).await?;
            if !replaced.is_empty() {
                let target_of: HashMap<i64, &EnrollmentId> =
                    ids.iter().copied().zip(targets).collect();
                for (enrollment, old) in replaced {
                    let e = target_of
                        .get(&enrollment)
                        .ok_or_else(|| QueueError::Corrupt {
                            what: format!("superseded a row of enrollment {enrollment}"),
                        })?;
                    superseded.push(((*e).clone(), old));
                }
                // `RETURNING` gives the rows in whatever order the statement
                // visited them; the trait promises enrollment order, as the
                // other stores give.
                superseded.sort();
            }
        }
        // The rows, from the enrollment ids in increasing order (the key is
        // `(seq, enrollment)`: the fan-out appends one run of full pages).
        ids.sort_unstable();
        for id in &ids {
            held.enrollments.insert(*id);
            if let Some(k) = key {
                held.keyed.insert((*id, k));
            }
        }
        held.rows.extend(ids.iter().map(|id| (seq, *id, key)));
        if held.rows.len() >= ROWS_PER_WRITE {
            held.write(tx, now).await?;
        }
        out.push(Enqueued {
            id: command.id,
            queued: ids.len() as u64,
            wake: wake(targets, &busy),
            superseded,
        });
    }
    held.write(tx, now).await?;
    Ok(out)
}

/// The interned id of the enrollment `?1` to `?3`, as a subquery.
macro_rules! enrollment_id {
    () => {
        "(SELECT n.id FROM mdmkit_queue_enrollments n \
         WHERE n.tenant = ?1 AND n.device = ?2 AND n.channel = ?3)"
    };
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
        let mut tx = self.begin().await?;
        let out = enqueue_all(&mut tx, tenant, &[(command, targets)], now)
            .await?
            .pop()
            .ok_or_else(|| QueueError::Corrupt {
                what: "an enqueue returned nothing".into(),
            })?;
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
        // An error drops `tx`: the whole batch rolls back.
        let out = enqueue_all(&mut tx, tenant, &batch, now).await?;
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
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM mdmkit_commands WHERE tenant = ?1 AND id = ?2")
                .bind(tenant.as_str())
                .bind(command.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .db("find a command")?;
        let Some(seq) = seq else {
            return Err(QueueError::UnknownCommand { command });
        };
        // The command's run of the primary key, its pending rows.
        let rows = sqlx::query(concat!(
            "SELECT q.enrollment, ",
            slot_columns!(),
            " FROM mdmkit_queue q JOIN mdmkit_commands c ON c.seq = q.seq \
             WHERE q.seq = ?1 AND q.state IN (0, 1, 2)"
        ))
        .bind(seq)
        .fetch_all(&mut *tx)
        .await
        .db("find a command's rows")?;
        let mut changes = Vec::new();
        for r in &rows {
            let enrollment: i64 = r.try_get(0).db("read a queue row")?;
            let mut slot = sql::raw_slot(r, 1).db("read a queue row")?.into_slot()?;
            if let Some(c) = machine::cancel(&mut slot, now, false)? {
                changes.push((enrollment, seq, c));
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
             ON c.seq = q.seq WHERE q.enrollment = ",
            enrollment_id!(),
            " ORDER BY c.priority DESC, c.created_at, c.seq"
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
        let created = sqlx::query(concat!(
            "SELECT c.created_at, c.seq, c.id FROM mdmkit_queue q JOIN mdmkit_commands c \
             ON c.seq = q.seq WHERE q.enrollment = ",
            enrollment_id!(),
            " AND (?4 IS NULL OR c.id = ?4)"
        ))
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
        // An event whose command is gone (purged, but kept as the store's
        // newest event) joins no command: its history was purged.
        let rows = sqlx::query(concat!(
            "SELECT e.id, c.id, e.at, e.from_state, e.to_state, e.reason, b.id, e.result \
             FROM mdmkit_events e JOIN mdmkit_commands c ON c.seq = e.seq \
             LEFT JOIN mdmkit_commands b ON b.seq = e.by_seq WHERE e.enrollment = ",
            enrollment_id!(),
            " AND (?4 IS NULL OR c.id = ?4) ORDER BY e.id"
        ))
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
            "SELECT q.state, COUNT(*) FROM mdmkit_queue_enrollments n \
             JOIN mdmkit_queue q ON q.enrollment = n.id WHERE n.tenant = ?1 GROUP BY q.state",
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
        // The tenant's enrollments, each one probe of the enrollment index
        // for a row queued (0) or delivered (1).
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT n.device, n.channel FROM mdmkit_queue_enrollments n WHERE n.tenant = ?1 \
             AND EXISTS (SELECT 1 FROM mdmkit_queue q WHERE q.enrollment = n.id \
             AND q.state IN (0, 1))",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .db("list the enrollments with pending commands")?;
        sql::pending_enrollments(rows)
    }

    async fn counts_by_tenant(&self) -> Result<BTreeMap<TenantId, StateCounts>, QueueError> {
        let rows = sqlx::query(
            "SELECT n.tenant, q.state, COUNT(*) FROM mdmkit_queue_enrollments n \
             JOIN mdmkit_queue q ON q.enrollment = n.id GROUP BY n.tenant, q.state",
        )
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
            "DELETE FROM mdmkit_events AS e WHERE e.enrollment IN (SELECT n.id FROM \
             mdmkit_queue_enrollments n WHERE n.tenant = ?1) AND EXISTS (SELECT 1 FROM \
             mdmkit_queue q WHERE q.seq = e.seq AND q.enrollment = e.enrollment \
             AND q.state >= 3 AND q.updated_at < ?2) AND e.id < (SELECT max(id) FROM mdmkit_events)",
        )
        .bind(tenant.as_str())
        .bind(before.as_millis())
        .execute(&mut *tx)
        .await
        .db("purge history")?;
        let n = sqlx::query(
            "DELETE FROM mdmkit_queue WHERE enrollment IN (SELECT n.id FROM \
             mdmkit_queue_enrollments n WHERE n.tenant = ?1) AND state >= 3 AND updated_at < ?2",
        )
        .bind(tenant.as_str())
        .bind(before.as_millis())
        .execute(&mut *tx)
        .await
        .db("purge finished rows")?
        .rows_affected();
        // Interned enrollments and keys stay: events and later commands
        // refer to them, and they are a few bytes per device.
        sqlx::query(
            "DELETE FROM mdmkit_commands AS c WHERE c.tenant = ?1 AND NOT EXISTS \
             (SELECT 1 FROM mdmkit_queue q WHERE q.seq = c.seq)",
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
    use std::collections::HashSet;

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
        assert_eq!(columns, ["enrollment", "state", "key"]);
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

    /// Delivering and reporting read an enrollment's pending rows through one
    /// range of the enrollment index, never the tenant's whole key range:
    /// the plan stays flat however much history the tenant keeps.
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
        // The enrollment: one probe of its unique index; its rows: one range
        // of the enrollment index, each command by its rowid; the
        // enrollment's last event: the end of its range of the event index
        // (no sort).
        assert_eq!(
            plan,
            [
                "SEARCH n USING COVERING INDEX sqlite_autoindex_mdmkit_queue_enrollments_1 \
                 (tenant=? AND device=? AND channel=?)",
                "SEARCH q USING INDEX mdmkit_queue_by_enrollment (enrollment=? AND state<?) \
                 LEFT-JOIN",
                "SEARCH c USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN",
                "CORRELATED SCALAR SUBQUERY 1",
                "SEARCH e USING COVERING INDEX mdmkit_events_by_enrollment (enrollment=?)",
            ],
        );
    }

    /// Plans a delivery from a read of `e`'s queue, as `deliver` does.
    async fn read_and_plan(
        s: &SqliteStore,
        t: &TenantId,
        e: &EnrollmentId,
    ) -> (i64, RowKeys, Vec<Change>) {
        let mut conn = s.pool.acquire().await.unwrap();
        let read = load_slots(&mut conn, t, e, None).await.unwrap();
        let mut slots = read.slots;
        let changes =
            machine::deliver(&mut slots, s.clock.now(), &crate::DeliverOptions::single()).unwrap();
        assert_eq!(changes.len(), 1);
        (read.event, RowKeys::of(read.enrollment, &slots), changes)
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
        let (read, keys, changes) = read_and_plan(&s, &t, &e).await;
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
        let err = write_plan(&mut conn, &t, &keys, &changes, read)
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
        let (read, keys, changes) = read_and_plan(&s, &t, &e).await;
        assert_eq!(s.cancel(&t, id).await.unwrap(), 1);
        let mut conn = s.pool.acquire().await.unwrap();
        let err = write_plan(&mut conn, &t, &keys, &changes, read)
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

    /// A store written through schema 4 (its views and triggers) migrates
    /// to the latest: the views and triggers are gone, its rows and history
    /// stay, and the store's own code delivers, reports and supersedes them.
    #[tokio::test]
    async fn a_version_4_store_loses_its_triggers_and_keeps_its_queue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        let tenant = TenantId::new("t").unwrap();
        let device = EnrollmentId::device(DeviceId::new("ipad-1").unwrap());
        let (old, delivered) = (CommandId::new(), CommandId::new());
        {
            let opts = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
            let mut tx = c.begin().await.unwrap();
            crate::migrate::apply_sqlite(&mut tx, &SCHEMA.up_to(4), 0)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            // Two commands queued through schema 4's enqueue view, then one
            // delivered through its transition view, as that release wrote
            // them. (The view takes no supersede key: that release queued
            // keyed commands with plain inserts. The key is set by hand.)
            for (id, key) in [(old, Some("k")), (delivered, None)] {
                sqlx::query(
                    "INSERT INTO mdmkit_enqueue (tenant, id, kind, payload, created_at, targets, \
                     priority) VALUES ('t', ?1, 'Old', x'00', 1, jsonb(?2), 0)",
                )
                .bind(id.as_uuid())
                .bind(sql::targets_json([&device]))
                .execute(&mut c)
                .await
                .unwrap();
                if let Some(key) = key {
                    sqlx::query("UPDATE mdmkit_queue SET supersede_key = ?1 WHERE command_id = ?2")
                        .bind(key)
                        .bind(id.as_uuid())
                        .execute(&mut c)
                        .await
                        .unwrap();
                }
            }
            sqlx::query(
                "INSERT INTO mdmkit_transitions (tenant, device, channel, command_id, \
                 from_state, to_state, attempts, lease_until, at, reason, read_event) \
                 VALUES ('t', 'ipad-1', ?1, ?2, 0, 1, 1, 9999999999999, 2, 'delivered', 0)",
            )
            .bind(device.channel_key())
            .bind(delivered.as_uuid())
            .execute(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
        }
        let store = SqliteStore::open(SqliteOptions::new(&path)).await.unwrap();
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type IN ('trigger', 'view')",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert_eq!(left, 0);
        // The delivered command is answered; the old one is superseded.
        let outcome = store
            .report(
                &tenant,
                &device,
                delivered,
                &crate::Report::new(crate::ReportStatus::Acknowledged),
            )
            .await
            .unwrap();
        assert_eq!(
            outcome,
            crate::ReportOutcome::Recorded(CommandState::Acknowledged)
        );
        let new = store
            .enqueue(
                &tenant,
                &NewCommand::new("New", vec![1]).with_supersede_key("k"),
                std::slice::from_ref(&device),
            )
            .await
            .unwrap();
        assert_eq!(new.superseded, vec![(device.clone(), old)]);
        let history: Vec<(CommandId, Option<CommandState>, CommandState, Reason)> = store
            .history(&tenant, &device, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|h| h.from.is_some())
            .map(|h| (h.command, h.from, h.to, h.reason))
            .collect();
        assert_eq!(
            history,
            [
                (
                    delivered,
                    Some(CommandState::Queued),
                    CommandState::Delivered,
                    Reason::Delivered
                ),
                (
                    delivered,
                    Some(CommandState::Delivered),
                    CommandState::Acknowledged,
                    Reason::Reported
                ),
                (
                    old,
                    Some(CommandState::Queued),
                    CommandState::Superseded,
                    Reason::Superseded
                ),
            ]
        );
        assert_eq!(
            store.next(&tenant, &device).await.unwrap().unwrap().id,
            new.id
        );
    }

    /// A store written through schema 5 (one row per target repeating the
    /// enrollment's strings and the command's fields) migrates to the
    /// compact layout of schema 6 with every row, event and sequence number:
    /// queues, histories, counts and pending enrollments read back as they
    /// were written, and the store's code goes on from them.
    #[tokio::test]
    async fn a_version_5_store_is_carried_over_to_the_compact_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v5.db");
        let (t, u) = (TenantId::new("t").unwrap(), TenantId::new("u").unwrap());
        let ipad = EnrollmentId::device(DeviceId::new("ipad-1").unwrap());
        let mac = EnrollmentId::user(DeviceId::new("mac-1").unwrap(), "alice").unwrap();
        // A: keyed, queued on both; B: delivered on the iPad; C: answered on
        // the Mac, with a result; D: superseded by A on the iPad; E: another
        // tenant's; X: purged, its last event kept as the store's newest.
        let [a, b, c, d, e, x] = std::array::from_fn(|_| CommandId::new());
        // A's expiry, far enough ahead for the store (on the system clock)
        // to deliver it after the migration.
        const FAR: i64 = 4_102_444_800_000;
        let max_event: i64;
        {
            let opts = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            crate::migrate::apply_sqlite(&mut tx, &SCHEMA.up_to(5), 0)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            for (seq, tenant, id, kind, payload, created) in [
                (1, "t", a, "Keyed", vec![0x0a], 10),
                (2, "t", b, "Delivered", vec![0x0b], 20),
                (3, "t", c, "Done", vec![0x0c], 5),
                (4, "t", d, "Old", vec![0x0d], 1),
                (5, "u", e, "Other", vec![0x0e], 7),
            ] {
                sqlx::query(
                    "INSERT INTO mdmkit_commands (seq, tenant, id, kind, payload, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .bind(seq)
                .bind(tenant)
                .bind(id.as_uuid())
                .bind(kind)
                .bind(payload)
                .bind(created)
                .execute(&mut conn)
                .await
                .unwrap();
            }
            // Commands 6 to 9 were purged: their numbers are never reused.
            sqlx::query("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'mdmkit_commands'")
                .execute(&mut conn)
                .await
                .unwrap();
            type V5Row<'a> = (
                &'a str,
                &'a EnrollmentId,
                CommandId,
                i64,
                (i64, i64, Option<i64>, Option<&'a str>, Option<i64>),
                (i64, i64, Option<i64>, i64, Option<CommandId>),
            );
            let rows: [V5Row<'_>; 6] = [
                (
                    "t",
                    &ipad,
                    a,
                    1,
                    (5, 10, Some(FAR), Some("k"), Some(3)),
                    (0, 0, None, 10, None),
                ),
                (
                    "t",
                    &mac,
                    a,
                    1,
                    (5, 10, Some(FAR), Some("k"), Some(3)),
                    (0, 0, None, 10, None),
                ),
                (
                    "t",
                    &ipad,
                    b,
                    2,
                    (0, 20, None, None, None),
                    (1, 1, Some(5_000), 30, None),
                ),
                (
                    "t",
                    &mac,
                    c,
                    3,
                    (0, 5, None, None, None),
                    (3, 1, None, 40, None),
                ),
                (
                    "t",
                    &ipad,
                    d,
                    4,
                    (0, 1, None, Some("k"), None),
                    (8, 0, None, 10, Some(a)),
                ),
                (
                    "u",
                    &ipad,
                    e,
                    5,
                    (0, 7, None, None, None),
                    (0, 0, None, 7, None),
                ),
            ];
            for (
                tenant,
                en,
                id,
                seq,
                (prio, created, expires, key, max),
                (state, att, lease, upd, by),
            ) in rows
            {
                sqlx::query(
                    "INSERT INTO mdmkit_queue (tenant, device, channel, command_id, seq, \
                     priority, created_at, not_before, expires_at, supersede_key, max_attempts, \
                     state, attempts, lease_until, updated_at, superseded_by) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )
                .bind(tenant)
                .bind(en.device_id().as_str())
                .bind(en.channel_key())
                .bind(id.as_uuid())
                .bind(seq)
                .bind(prio)
                .bind(created)
                .bind(expires)
                .bind(key)
                .bind(max)
                .bind(state)
                .bind(att)
                .bind(lease)
                .bind(upd)
                .bind(by.map(|b| b.as_uuid()))
                .execute(&mut conn)
                .await
                .unwrap();
            }
            type V5Event<'a> = (
                &'a EnrollmentId,
                CommandId,
                i64,
                i64,
                i64,
                &'a str,
                Option<CommandId>,
                Option<Vec<u8>>,
            );
            let events: [V5Event<'_>; 5] = [
                (&ipad, d, 10, 0, 8, "superseded", Some(a), None),
                (&ipad, b, 30, 0, 1, "delivered", None, None),
                (&mac, c, 35, 0, 1, "delivered", None, None),
                (&mac, c, 40, 1, 3, "reported", None, Some(vec![0xca, 0xfe])),
                (&ipad, x, 50, 1, 3, "reported", None, None),
            ];
            for (en, id, at, from, to, reason, by, result) in events {
                sqlx::query(
                    "INSERT INTO mdmkit_events (tenant, device, channel, command_id, at, \
                     from_state, to_state, reason, by_command, result) \
                     VALUES ('t', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .bind(en.device_id().as_str())
                .bind(en.channel_key())
                .bind(id.as_uuid())
                .bind(at)
                .bind(from)
                .bind(to)
                .bind(reason)
                .bind(by.map(|b| b.as_uuid()))
                .bind(result)
                .execute(&mut conn)
                .await
                .unwrap();
            }
            max_event = sqlx::query_scalar("SELECT max(id) FROM mdmkit_events")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        let store = SqliteStore::open(SqliteOptions::new(&path)).await.unwrap();
        // The queues, field by field, in queue order.
        let list = |en: &EnrollmentId| {
            let (store, t, en) = (store.clone(), t.clone(), en.clone());
            async move {
                store
                    .list(&t, &en)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|q| {
                        (
                            q.id,
                            q.kind,
                            q.priority,
                            q.state,
                            q.attempts,
                            q.created_at.as_millis(),
                            q.expires_at.map(Timestamp::as_millis),
                            q.lease_until.map(Timestamp::as_millis),
                            q.supersede_key,
                            q.max_attempts,
                            q.updated_at.as_millis(),
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        let keyed = |state| {
            (
                a,
                "Keyed".to_string(),
                5,
                state,
                0,
                10,
                Some(FAR),
                None,
                Some("k".to_string()),
                Some(3),
                10,
            )
        };
        assert_eq!(
            list(&ipad).await,
            [
                keyed(CommandState::Queued),
                (
                    d,
                    "Old".into(),
                    0,
                    CommandState::Superseded,
                    0,
                    1,
                    None,
                    None,
                    Some("k".into()),
                    None,
                    10
                ),
                (
                    b,
                    "Delivered".into(),
                    0,
                    CommandState::Delivered,
                    1,
                    20,
                    None,
                    Some(5_000),
                    None,
                    None,
                    30
                ),
            ]
        );
        assert_eq!(
            list(&mac).await,
            [
                keyed(CommandState::Queued),
                (
                    c,
                    "Done".into(),
                    0,
                    CommandState::Acknowledged,
                    1,
                    5,
                    None,
                    None,
                    None,
                    None,
                    40
                ),
            ]
        );
        // The histories: enqueues from the rows, stored events with their
        // superseding command and result; the purged command's event is
        // not part of any history.
        let history = |en: &EnrollmentId| {
            let (store, t, en) = (store.clone(), t.clone(), en.clone());
            async move {
                store
                    .history(&t, &en, None)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|h| (h.command, h.at.as_millis(), h.to, h.reason, h.by, h.result))
                    .collect::<Vec<_>>()
            }
        };
        use CommandState as S;
        assert_eq!(
            history(&ipad).await,
            [
                (d, 1, S::Queued, Reason::Enqueued, None, None),
                (a, 10, S::Queued, Reason::Enqueued, None, None),
                (d, 10, S::Superseded, Reason::Superseded, Some(a), None),
                (b, 20, S::Queued, Reason::Enqueued, None, None),
                (b, 30, S::Delivered, Reason::Delivered, None, None),
            ]
        );
        assert_eq!(
            history(&mac).await,
            [
                (c, 5, S::Queued, Reason::Enqueued, None, None),
                (a, 10, S::Queued, Reason::Enqueued, None, None),
                (c, 35, S::Delivered, Reason::Delivered, None, None),
                (
                    c,
                    40,
                    S::Acknowledged,
                    Reason::Reported,
                    None,
                    Some(vec![0xca, 0xfe])
                ),
            ]
        );
        let counts = store.counts(&t).await.unwrap();
        assert_eq!(
            (
                counts.get(S::Queued),
                counts.get(S::Delivered),
                counts.get(S::Acknowledged),
                counts.get(S::Superseded),
                counts.total()
            ),
            (2, 1, 1, 1, 5)
        );
        assert_eq!(store.counts(&u).await.unwrap().total(), 1);
        assert_eq!(store.counts_by_tenant().await.unwrap().len(), 2);
        let mut both = vec![ipad.clone(), mac.clone()];
        both.sort();
        assert_eq!(store.pending_enrollments(&t).await.unwrap(), both);
        // Event ids and command numbers go on from where they were.
        let kept: i64 = sqlx::query_scalar("SELECT max(id) FROM mdmkit_events")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(kept, max_event);
        // The store's code goes on from the carried-over rows.
        assert_eq!(
            store
                .report(
                    &t,
                    &ipad,
                    b,
                    &crate::Report::new(crate::ReportStatus::Acknowledged)
                )
                .await
                .unwrap(),
            ReportOutcome::Recorded(S::Acknowledged)
        );
        let next = store.next(&t, &ipad).await.unwrap().unwrap();
        assert_eq!(
            (next.id, next.kind.as_str(), next.payload.as_slice()),
            (a, "Keyed", &[0x0a][..])
        );
        let new = store
            .enqueue(
                &t,
                &NewCommand::new("New", vec![1]).with_supersede_key("k"),
                &[ipad.clone(), mac.clone()],
            )
            .await
            .unwrap();
        // On the Mac, A was queued: replaced; on the iPad it is in flight.
        assert_eq!(new.superseded, vec![(mac.clone(), a)]);
        assert!(new.wake.is_empty());
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM mdmkit_commands WHERE id = ?1")
            .bind(new.id.as_uuid())
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(seq, 10);
        assert_eq!(store.next(&u, &ipad).await.unwrap().unwrap().id, e);
        assert_eq!(store.cancel(&t, d).await.unwrap(), 0);
        assert!(matches!(
            store.cancel(&t, x).await,
            Err(QueueError::UnknownCommand { .. })
        ));
    }

    /// A plan's rows are moved by primary key, one seek per row, never by
    /// a scan of the enrollment's index range (finished rows too) per row.
    #[tokio::test]
    async fn a_plans_rows_are_one_key_seek_each() {
        let dir = tempfile::tempdir().unwrap();
        let (s, ..) = fixture(&dir).await;
        let mut plans = Vec::new();
        for sql in [MOVE_ROW, MOVE_ROWS] {
            let plan: Vec<String> =
                sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .fetch_all(&s.pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String, _>(3))
                    .filter(|p| {
                        !p.contains("SUBQUERY")
                            && !p.starts_with("SEARCH e ")
                            && !p.starts_with("SEARCH c ")
                    })
                    .collect();
            plans.push(plan);
        }
        let seek = "SEARCH mdmkit_queue USING PRIMARY KEY (seq=? AND enrollment=?)";
        assert_eq!(plans[0], [seek]);
        assert_eq!(
            plans[1],
            [
                "MATERIALIZE r",
                "SCAN jsonb_each VIRTUAL TABLE INDEX 1:",
                "SCAN r",
                seek
            ]
        );
    }
}

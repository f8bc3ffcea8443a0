//! Opening a PostgreSQL store: options and the built-in schema migrations.

use std::sync::Arc;

use crate::error::{DbContext, QueueError};
use crate::time::{Clock, SystemClock};

/// How to open a PostgreSQL store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The connection URL (`postgres://user@host:port/db`).
    pub url: String,
    /// A schema to keep the tables in (created if missing); `None` uses the
    /// connection's default `search_path`.
    pub schema: Option<String>,
    /// Connections in the pool of this process.
    pub max_connections: u32,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
}

impl PostgresOptions {
    /// Defaults for `url`: default schema, 10 connections, system clock.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 10,
            clock: Arc::new(SystemClock),
        }
    }

    /// Keeps the tables in `schema` (1 to 63 bytes of `a-z`, `0-9`, `_`,
    /// not starting with a digit).
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
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

    /// The schema, checked (for other stores that take these options).
    pub fn checked_schema(&self) -> Result<Option<&str>, QueueError> {
        match &self.schema {
            Some(s) => check_schema(s).map(|()| Some(s.as_str())),
            None => Ok(None),
        }
    }
}

pub(crate) fn check_schema(s: &str) -> Result<(), QueueError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(QueueError::InvalidLocation {
            location: s.chars().take(80).collect(),
            reason: "a schema name is 1 to 63 bytes of a-z, 0-9 and _, not starting with a digit"
                .into(),
        })
    }
}

/// The schema, one entry per version. Never edit a released entry: append.
///
/// Every key starts with `tenant`, the distribution column when the tables
/// are sharded. The key columns compare bytewise (`COLLATE "C"`): they are
/// identifiers, and the database's natural-language collation would make
/// every index comparison a `strcoll` call.
///
/// A queue row has two index entries and no more, because every entry is
/// paid on each insert and on each state change (an update that changes an
/// indexed column cannot be a HOT update):
/// - the primary key leads with the command, so the rows of a fan-out to
///   100,000 enrollments go into one run of adjacent index pages instead of
///   100,000 scattered ones; it also finds a command's rows (cancel, purge);
/// - `mdmkit_queue_by_enrollment` finds an enrollment's rows, its pending
///   ones (`state IN (0, 1, 2)`, the lowest codes) first.
///
/// An event has one entry: its primary key, which leads with the
/// enrollment (the history of one is one index range) and ends with the
/// store-wide sequence number that orders it.
///
/// `mdmkit_enrollments` (version 2) holds one version per enrollment that
/// optimistic writes check and bump; `mdmkit_check` fails a statement whose
/// checks failed (see the `postgres` module).
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE mdmkit_commands (
    tenant     TEXT COLLATE "C" NOT NULL,
    id         UUID   NOT NULL,
    seq        BIGSERIAL,
    kind       TEXT   NOT NULL,
    payload    BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE mdmkit_queue (
    tenant        TEXT COLLATE "C" NOT NULL,
    device        TEXT COLLATE "C" NOT NULL,
    channel       TEXT COLLATE "C" NOT NULL,
    command_id    UUID   NOT NULL,
    seq           BIGINT NOT NULL,
    priority      BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    not_before    BIGINT,
    expires_at    BIGINT,
    supersede_key TEXT,
    max_attempts  BIGINT,
    state         BIGINT NOT NULL,
    attempts      BIGINT NOT NULL,
    lease_until   BIGINT,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant, command_id, device, channel)
);
CREATE INDEX mdmkit_queue_by_enrollment ON mdmkit_queue (tenant, device, channel, state);
CREATE TABLE mdmkit_events (
    tenant     TEXT COLLATE "C" NOT NULL,
    id         BIGSERIAL,
    device     TEXT COLLATE "C" NOT NULL,
    channel    TEXT COLLATE "C" NOT NULL,
    command_id UUID   NOT NULL,
    at         BIGINT NOT NULL,
    from_state BIGINT,
    to_state   BIGINT NOT NULL,
    reason     TEXT   NOT NULL,
    by_command UUID,
    result     BYTEA,
    PRIMARY KEY (tenant, device, channel, id)
);
"#,
    // 2: optimistic writes. A delivery, a report or an idle reads the
    // enrollment's pending rows and its version without locking anything,
    // plans the transitions, and writes them in one statement that bumps the
    // version only if it is still the one read and moves each row only from
    // the state it was read in; `mdmkit_check` makes the statement fail
    // (SQLSTATE 40001, retried) when either test failed, so a plan computed
    // from a stale read is never half applied. Two round trips per call
    // instead of a transaction's five.
    r#"
CREATE TABLE mdmkit_enrollments (
    tenant  TEXT COLLATE "C" NOT NULL,
    device  TEXT COLLATE "C" NOT NULL,
    channel TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (tenant, device, channel)
);
CREATE FUNCTION mdmkit_check(ok BOOLEAN) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ok THEN
        RAISE EXCEPTION 'mdmkit: an enrollment''s queue changed while a call planned its writes'
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN true;
END
$$;
"#,
];

/// The schema of the PostgreSQL store, through [`crate::migrate`].
pub(crate) const SCHEMA: crate::migrate::Schema = crate::migrate::Schema {
    table: "mdmkit_queue_migrations",
    migrations: MIGRATIONS,
};

/// The advisory lock key serialising migrations across processes.
pub(crate) const MIGRATION_LOCK: i64 = 0x6d64_6d6b_6974_7131;

/// Creates the schema if asked and applies the missing migrations, one
/// process at a time (an advisory lock), in one transaction.
pub(crate) async fn migrate(
    pool: &sqlx::PgPool,
    schema: Option<&str>,
    now: crate::time::Timestamp,
) -> Result<(), QueueError> {
    let mut tx = pool.begin().await.db("begin a transaction")?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .db("lock for migration")?;
    if let Some(schema) = schema {
        // The name was checked against [a-z0-9_]: safe to splice.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(&mut *tx)
        .await
        .db("create the schema")?;
    }
    crate::migrate::apply_postgres(&mut tx, &SCHEMA, now.as_millis()).await?;
    tx.commit().await.db("commit the migration")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EnrollmentId, NewCommand, PostgresStore, QueueStore};
    use mdmkit_core::{DeviceId, TenantId};
    use sqlx::Connection as _;
    use std::str::FromStr as _;

    /// The throwaway server's URL; a missing one fails the test.
    fn url() -> String {
        match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => panic!("MDMKIT_TEST_POSTGRES_URL is unset: run the tests through scripts/test"),
        }
    }

    /// A store as each released schema version left it (in a schema of
    /// its own) opens at the latest and queues; an edited released
    /// migration is refused.
    #[tokio::test]
    async fn every_schema_version_migrates_forward_and_an_edited_one_is_refused() {
        let url = url();
        let tenant = TenantId::new("t").unwrap();
        let device = EnrollmentId::device(DeviceId::new("ipad-1").unwrap());
        let tag = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        for n in 0..=MIGRATIONS.len() {
            let schema = format!("t_mig_{}_{tag}_{n}", std::process::id());
            {
                let connect = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
                let mut c = sqlx::PgConnection::connect_with(&connect).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\""
                )))
                .execute(&mut c)
                .await
                .unwrap();
                let mut tx = c.begin().await.unwrap();
                crate::migrate::apply_postgres(&mut tx, &SCHEMA.up_to(n), 0)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                c.close().await.unwrap();
            }
            let opts = PostgresOptions::new(url.clone())
                .with_schema(schema.clone())
                .with_max_connections(2);
            let store = PostgresStore::open(opts.clone()).await.unwrap();
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
            drop(store);
            let connect = sqlx::postgres::PgConnectOptions::from_str(&url)
                .unwrap()
                .options([("search_path", schema.as_str())]);
            let mut c = sqlx::PgConnection::connect_with(&connect).await.unwrap();
            let (version, sums): (i64, i64) =
                sqlx::query_as("SELECT MAX(version), COUNT(checksum) FROM mdmkit_queue_migrations")
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
            assert_eq!(
                (version, sums),
                (SCHEMA.latest(), SCHEMA.latest()),
                "from {n}"
            );
            if n == MIGRATIONS.len() {
                sqlx::query("UPDATE mdmkit_queue_migrations SET checksum = 'x' WHERE version = 1")
                    .execute(&mut c)
                    .await
                    .unwrap();
                let e = PostgresStore::open(opts).await.unwrap_err();
                assert!(
                    matches!(&e, QueueError::Corrupt { what } if what.contains("migration 1")),
                    "{e}"
                );
            }
            c.close().await.unwrap();
        }
    }
}

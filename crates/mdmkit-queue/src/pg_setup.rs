//! Opening a PostgreSQL store: options and the built-in schema migrations.

use std::sync::Arc;

use crate::error::QueueError;
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
/// Every primary key starts with `tenant`, the distribution column when the
/// tables are sharded.
pub(crate) const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE mdmkit_commands (
    tenant     TEXT   NOT NULL,
    id         UUID   NOT NULL,
    seq        BIGSERIAL,
    kind       TEXT   NOT NULL,
    payload    BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE mdmkit_queue (
    tenant        TEXT   NOT NULL,
    device        TEXT   NOT NULL,
    channel       TEXT   NOT NULL,
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
    PRIMARY KEY (tenant, device, channel, command_id)
);
CREATE INDEX mdmkit_queue_pending ON mdmkit_queue (tenant, device, channel, state)
    WHERE state IN (0, 1, 2);
CREATE INDEX mdmkit_queue_by_command ON mdmkit_queue (tenant, command_id);
CREATE INDEX mdmkit_queue_by_state ON mdmkit_queue (tenant, state, updated_at);
CREATE TABLE mdmkit_events (
    tenant     TEXT   NOT NULL,
    id         BIGSERIAL,
    device     TEXT   NOT NULL,
    channel    TEXT   NOT NULL,
    command_id UUID   NOT NULL,
    at         BIGINT NOT NULL,
    from_state BIGINT,
    to_state   BIGINT NOT NULL,
    reason     TEXT   NOT NULL,
    by_command UUID,
    result     BYTEA,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX mdmkit_events_by_row ON mdmkit_events (tenant, device, channel, command_id);
"#];

/// The advisory lock key serialising migrations across processes.
pub(crate) const MIGRATION_LOCK: i64 = 0x6d64_6d6b_6974_7131;

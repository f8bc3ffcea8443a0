//! The SQLite state store: three tables next to the queue's, in the same
//! database file.
//!
//! Device records and compliance rows are written with `INSERT OR REPLACE`;
//! an upsert (`ON CONFLICT DO UPDATE`) was tried and measured no better.
//! Compliance rows are keyed by category before device (schema version 2),
//! so the rows one change rewrites are adjacent. The schema carries its own
//! version table (`mdmkit_state_migrations`) next to the queue's.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use mdmkit_core::{DeviceId, TenantId};
use mdmkit_policy::{Category, ContentHash, Settings};
use mdmkit_queue::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::records::{self, record_methods};
use super::{CategoryState, DeviceRecord, RawCategoryRow, StateBatch, StateStore, commands_text};
use crate::access::AdminToken;
use crate::error::Error;
use crate::inventory::Enrollment;

/// The schema, one entry per version (never edit a released entry: append).
/// Version 1 predates the version table, so it is idempotent: a store made
/// before the table existed runs it again harmlessly and is then version 1.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS mdmkit_content (
    tenant TEXT NOT NULL,
    hash TEXT NOT NULL,
    settings TEXT NOT NULL,
    PRIMARY KEY (tenant, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mdmkit_device (
    tenant TEXT NOT NULL,
    device TEXT NOT NULL,
    platform TEXT NOT NULL,
    content TEXT NOT NULL,
    inventory TEXT NOT NULL,
    PRIMARY KEY (tenant, device)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mdmkit_compliance (
    tenant TEXT NOT NULL,
    device TEXT NOT NULL,
    category TEXT NOT NULL,
    state TEXT NOT NULL,
    target TEXT NOT NULL,
    commands TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL,
    next_retry INTEGER,
    unsupported TEXT NOT NULL,
    version INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, device, category)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mdmkit_policy (
    tenant TEXT NOT NULL,
    policy TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant, policy)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mdmkit_compliance_retry
    ON mdmkit_compliance (tenant, next_retry) WHERE state = 'failed';
",
    // 2: compliance rows keyed by category before device. A change usually
    // moves one category of many devices; keyed by device first, those rows
    // sat one or two to a page among the device's other categories, so a
    // root change rewrote about half the table's pages (and the checkpoint
    // wrote them again). Keyed by category, they are one run of pages.
    // Reading one device's rows is then one seek per category.
    "
CREATE TABLE mdmkit_compliance_2 (
    tenant TEXT NOT NULL,
    device TEXT NOT NULL,
    category TEXT NOT NULL,
    state TEXT NOT NULL,
    target TEXT NOT NULL,
    commands TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL,
    next_retry INTEGER,
    unsupported TEXT NOT NULL,
    version INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, category, device)
) WITHOUT ROWID;
INSERT INTO mdmkit_compliance_2 SELECT tenant, device, category, state, target, commands,
    error, attempts, next_retry, unsupported, version, updated_at FROM mdmkit_compliance;
DROP TABLE mdmkit_compliance;
ALTER TABLE mdmkit_compliance_2 RENAME TO mdmkit_compliance;
CREATE INDEX mdmkit_compliance_retry
    ON mdmkit_compliance (tenant, next_retry) WHERE state = 'failed';
",
    // 3: enrolled devices and admin tokens (the SQL both stores share).
    super::records::TABLES,
    // 4: enrollment challenges and issued certificates.
    super::records::ENROLLMENT_TABLES,
    // 5: device management sessions (OMA-DM) between requests.
    super::records::SESSION_TABLES,
    // 6: push certificates and per-device push state.
    super::records::PUSH_TABLES,
    // 7: each device record's node and overall compliance, indexed for
    // per-node counts.
    super::records::NODE_COLUMNS,
    // 8: the audit journal's heads.
    super::records::AUDIT_HEAD_TABLE,
    // 9: each enrollment's node, indexed for per-node queries.
    super::records::ENROLLMENT_NODE_SQLITE,
];

/// The schema, through the migration runner the queue stores use.
pub(crate) const SCHEMA: mdmkit_queue::migrate::Schema = mdmkit_queue::migrate::Schema {
    table: "mdmkit_state_migrations",
    migrations: MIGRATIONS,
};

/// `category IN (...)` over every category: with the key leading by
/// category, a device's rows are one seek per category (the names are
/// fixed identifiers, safe to splice).
fn every_category() -> String {
    let names: Vec<String> = Category::ALL
        .iter()
        .map(|c| format!("'{}'", c.as_str()))
        .collect();
    format!("category IN ({})", names.join(", "))
}

/// Applies the missing migrations in one `BEGIN IMMEDIATE` transaction
/// (one process at a time) and refuses a newer schema.
async fn migrate(pool: &SqlitePool) -> Result<(), Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(sql)?;
    mdmkit_queue::migrate::apply_sqlite(&mut tx, &SCHEMA, super::records::now_millis())
        .await
        .map_err(Error::from_migration)?;
    tx.commit().await.map_err(sql)
}

/// Rows per multi-row INSERT (SQLite allows 32,766 bound parameters).
const CHUNK: usize = 2_000;
/// Rows per JSON-array statement.
const JSON_CHUNK: usize = 50_000;

/// Applied state and compliance in an SQLite file (WAL), usually the
/// queue's own database file.
#[derive(Debug, Clone)]
pub struct SqliteState {
    pool: SqlitePool,
}

impl SqliteState {
    /// Closes the pool, waiting for calls in progress.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Opens (creating if needed) the database at `path` and its tables.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // Owner-only, like the queue's file (which is usually the same).
        mdmkit_queue::create_owner_only(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            // As the queue's: the defaults' 2,000 KiB is outgrown by a fleet.
            .pragma("cache_size", "-65536")
            // Reads through a memory map, as the queue's by default.
            .pragma("mmap_size", "1073741824");
        // No ping before each use (sqlx's default): on SQLite it is one
        // more hop to the connection's thread per statement, and a device
        // request makes several (as the queue's pool).
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(sql)?;
        migrate(&pool).await?;
        Ok(Self { pool })
    }
}

fn sql(e: sqlx::Error) -> Error {
    Error::from_sqlx("query the state store", e)
}

/// Device ids as a JSON array, for `json_each`.
fn ids_json(ids: &[DeviceId]) -> Result<String, Error> {
    let ids: Vec<&str> = ids.iter().map(DeviceId::as_str).collect();
    serde_json::to_string(&ids).map_err(|e| Error::corrupt("device ids", e))
}

fn row_state(row: &sqlx::sqlite::SqliteRow) -> Result<(DeviceId, CategoryState), Error> {
    RawCategoryRow::from_row(row).map_err(sql)?.into_state()
}

record_methods!(SqliteState, sql);

#[async_trait]
impl StateStore for SqliteState {
    async fn audit_heads(&self, tenant: &TenantId) -> Result<Option<super::AuditHeads>, Error> {
        self.read_audit_heads(tenant).await
    }

    async fn device_records(
        &self,
        tenant: &TenantId,
    ) -> Result<HashMap<DeviceId, DeviceRecord>, Error> {
        let rows: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT device, platform, content, inventory, node FROM mdmkit_device WHERE tenant = ?",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(sql)?;
        rows.into_iter().map(records::device_record).collect()
    }

    async fn device_records_of(
        &self,
        tenant: &TenantId,
        devices: &[DeviceId],
    ) -> Result<HashMap<DeviceId, DeviceRecord>, Error> {
        let mut out = HashMap::with_capacity(devices.len());
        for chunk in devices.chunks(JSON_CHUNK) {
            let rows: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
                "SELECT device, platform, content, inventory, node FROM mdmkit_device \
                 WHERE tenant = ?1 AND device IN (SELECT value FROM json_each(?2))",
            )
            .bind(tenant.as_str())
            .bind(ids_json(chunk)?)
            .fetch_all(&self.pool)
            .await
            .map_err(sql)?;
            for row in rows {
                let (d, r) = records::device_record(row)?;
                out.insert(d, r);
            }
        }
        Ok(out)
    }

    async fn content(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<Settings>, Error> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT settings FROM mdmkit_content WHERE tenant = ? AND hash = ?")
                .bind(tenant.as_str())
                .bind(hash.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(sql)?;
        row.map(|(text,)| {
            serde_json::from_str(&text)
                .map_err(|e| Error::corrupt(format!("stored settings {hash}"), e))
        })
        .transpose()
    }

    #[tracing::instrument(name = "state.commit", level = "debug", skip_all, fields(%tenant, devices = batch.devices.len(), compliance = batch.compliance.len()))]
    async fn commit(&self, tenant: &TenantId, batch: &StateBatch) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let t = tenant.as_str();
        let mut tx = self.pool.begin().await.map_err(sql)?;
        for chunk in batch.contents.chunks(CHUNK) {
            let mut texts = Vec::with_capacity(chunk.len());
            for (h, s) in chunk {
                let text = serde_json::to_string(s)
                    .map_err(|e| Error::corrupt(format!("settings {h}"), e))?;
                texts.push((h.to_string(), text));
            }
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT OR IGNORE INTO mdmkit_content (tenant, hash, settings) ");
            q.push_values(texts, |mut b, (h, text)| {
                b.push_bind(t).push_bind(h).push_bind(text);
            });
            q.build().execute(&mut *tx).await.map_err(sql)?;
        }
        let delete_compliance = format!(
            "DELETE FROM mdmkit_compliance WHERE tenant = ? AND {} AND device = ?",
            every_category()
        );
        for d in &batch.removed {
            for statement in [
                "DELETE FROM mdmkit_device WHERE tenant = ? AND device = ?",
                delete_compliance.as_str(),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                    .bind(t)
                    .bind(d.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(sql)?;
            }
        }
        // Device records and compliance rows go in as one JSON array per
        // statement, read by `jsonb_each`: SQLite parses the text once into
        // its binary form, and each `->>` then reads a field without parsing
        // the row again (with `json_each` every `->>` re-parses the row's
        // text). Measured against multi-row VALUES of bound parameters, which
        // cost about what `json_each` does.
        // A device whose every category the batch writes or clears gets its
        // overall compliance with its record; the others' is computed below,
        // with the compliance rows of the batch in place.
        let covered = super::overall_of_covered(batch);
        for chunk in batch.devices.chunks(JSON_CHUNK) {
            let rows: Vec<(&str, &str, String, String, Option<&str>, Option<i64>)> = chunk
                .iter()
                .map(|(d, r)| {
                    (
                        d.as_str(),
                        r.platform.as_str(),
                        r.content.to_string(),
                        r.inventory.to_string(),
                        r.node.as_ref().map(|n| n.as_str()),
                        covered.get(d).copied().flatten(),
                    )
                })
                .collect();
            let json =
                serde_json::to_string(&rows).map_err(|e| Error::corrupt("device records", e))?;
            sqlx::query(
                "INSERT OR REPLACE INTO mdmkit_device (tenant, device, platform, content, inventory, node, overall) \
                 SELECT ?1, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 \
                 FROM jsonb_each(?2)",
            )
            .bind(t)
            .bind(json)
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
        }
        // Cleared categories as one JSON array of `[device, category]` per
        // statement: one primary-key seek per pair (`EXPLAIN QUERY PLAN`:
        // "SEARCH mdmkit_compliance USING PRIMARY KEY ... LIST SUBQUERY"),
        // where a statement per pair cost a round trip to the connection's
        // thread each (90,000 of them in a first run at 100,000 devices).
        for chunk in batch.cleared.chunks(JSON_CHUNK) {
            let pairs: Vec<(&str, &str)> = chunk
                .iter()
                .map(|(d, c)| (d.as_str(), c.as_str()))
                .collect();
            let json =
                serde_json::to_string(&pairs).map_err(|e| Error::corrupt("cleared rows", e))?;
            sqlx::query(
                "DELETE FROM mdmkit_compliance WHERE tenant = ?1 AND (category, device) IN \
                 (SELECT value ->> 1, value ->> 0 FROM jsonb_each(?2))",
            )
            .bind(t)
            .bind(json)
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
        }
        // In key order (category, then device): one run of pages per category.
        let mut compliance: Vec<&(DeviceId, CategoryState)> = batch.compliance.iter().collect();
        compliance
            .sort_by(|a, b| (a.1.category.as_str(), &a.0).cmp(&(b.1.category.as_str(), &b.0)));
        for chunk in compliance.chunks(JSON_CHUNK) {
            // Tuples serialise as JSON arrays, without a `Value` tree per row.
            let mut rows = Vec::with_capacity(chunk.len());
            for (d, s) in chunk.iter().copied() {
                rows.push((
                    d.as_str(),
                    s.category.as_str(),
                    s.state.as_str(),
                    s.target.to_string(),
                    commands_text(&s.commands),
                    s.error.as_deref(),
                    s.attempts,
                    s.next_retry.map(Timestamp::as_millis),
                    if s.unsupported.is_empty() {
                        "[]".to_owned()
                    } else {
                        serde_json::to_string(&s.unsupported)
                            .map_err(|e| Error::corrupt("unsupported notes", e))?
                    },
                    s.version,
                    s.updated_at.as_millis(),
                ));
            }
            let json =
                serde_json::to_string(&rows).map_err(|e| Error::corrupt("compliance rows", e))?;
            sqlx::query(
                "INSERT OR REPLACE INTO mdmkit_compliance (tenant, device, category, state, target, \
                 commands, error, attempts, next_retry, unsupported, version, updated_at) \
                 SELECT ?1, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, \
                 value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10 \
                 FROM jsonb_each(?2)",
            )
            .bind(t)
            .bind(json)
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
        }
        // Each other touched device's overall compliance, from its rows as
        // they now stand: one seek per category of each device (3 s for
        // 100,000 devices, which a first run's records above skip).
        let recorded: std::collections::HashSet<&DeviceId> =
            batch.devices.iter().map(|(d, _)| d).collect();
        let mut touched = super::touched_devices(batch);
        touched.retain(|d| !(recorded.contains(d) && covered.contains_key(d)));
        let overall = format!(
            "UPDATE mdmkit_device SET overall = (SELECT {} FROM mdmkit_compliance c \
             WHERE c.tenant = ?1 AND c.{} AND c.device = mdmkit_device.device) \
             WHERE tenant = ?1 AND device IN (SELECT value FROM json_each(?2))",
            records::OVERALL_OF_ROWS,
            every_category()
        );
        for chunk in touched.chunks(JSON_CHUNK) {
            sqlx::query(sqlx::AssertSqlSafe(overall.clone()))
                .bind(t)
                .bind(ids_json(chunk)?)
                .execute(&mut *tx)
                .await
                .map_err(sql)?;
        }
        for (p, h) in &batch.policies {
            match h {
                Some(h) => sqlx::query(
                    "INSERT OR REPLACE INTO mdmkit_policy (tenant, policy, hash) VALUES (?, ?, ?)",
                )
                .bind(t)
                .bind(p.as_str())
                .bind(h.as_str()),
                None => sqlx::query("DELETE FROM mdmkit_policy WHERE tenant = ? AND policy = ?")
                    .bind(t)
                    .bind(p.as_str()),
            }
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
        }
        if let Some(heads) = &batch.audit {
            let (seq, hash, signed_seq, signed) = records::audit_head_values(heads)?;
            sqlx::query(records::PUT_AUDIT_HEAD)
                .bind(t)
                .bind(seq)
                .bind(hash)
                .bind(signed_seq)
                .bind(signed)
                .execute(&mut *tx)
                .await
                .map_err(sql)?;
        }
        tx.commit().await.map_err(sql)?;
        tracing::debug!("state committed");
        Ok(())
    }

    async fn policy_hashes(
        &self,
        tenant: &TenantId,
    ) -> Result<std::collections::BTreeMap<String, String>, Error> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT policy, hash FROM mdmkit_policy WHERE tenant = ?")
                .bind(tenant.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(sql)?;
        Ok(rows.into_iter().collect())
    }

    async fn compliance(
        &self,
        tenant: &TenantId,
        device: Option<&DeviceId>,
    ) -> Result<Vec<(DeviceId, CategoryState)>, Error> {
        let rows =
            match device {
                Some(d) => {
                    let one_device = format!(
                        "SELECT * FROM mdmkit_compliance WHERE tenant = ? AND {} AND device = ? \
                     ORDER BY category",
                        every_category()
                    );
                    sqlx::query(sqlx::AssertSqlSafe(one_device))
                        .bind(tenant.as_str())
                        .bind(d.as_str())
                        .fetch_all(&self.pool)
                        .await
                }
                None => sqlx::query(
                    "SELECT * FROM mdmkit_compliance WHERE tenant = ? ORDER BY device, category",
                )
                .bind(tenant.as_str())
                .fetch_all(&self.pool)
                .await,
            }
            .map_err(sql)?;
        rows.iter().map(row_state).collect()
    }

    async fn compliance_of(
        &self,
        tenant: &TenantId,
        devices: &[DeviceId],
    ) -> Result<Vec<(DeviceId, CategoryState)>, Error> {
        let query = format!(
            "SELECT * FROM mdmkit_compliance WHERE tenant = ?1 AND {} \
             AND device IN (SELECT value FROM json_each(?2))",
            every_category()
        );
        let mut out = Vec::new();
        for chunk in devices.chunks(JSON_CHUNK) {
            let rows = sqlx::query(sqlx::AssertSqlSafe(query.clone()))
                .bind(tenant.as_str())
                .bind(ids_json(chunk)?)
                .fetch_all(&self.pool)
                .await
                .map_err(sql)?;
            for row in &rows {
                out.push(row_state(row)?);
            }
        }
        out.sort_by(|a, b| (&a.0, a.1.category).cmp(&(&b.0, b.1.category)));
        out.dedup_by(|a, b| a.0 == b.0 && a.1.category == b.1.category);
        Ok(out)
    }

    async fn node_counts(&self, tenant: &TenantId) -> Result<Vec<super::NodeCount>, Error> {
        let rows: Vec<(String, String, Option<i64>, i64)> = sqlx::query_as(records::NODE_COUNTS)
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(sql)?;
        records::node_counts(rows)
    }

    async fn device_states(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<(DeviceId, super::ComplianceState)>, Error> {
        let rows: Vec<(String, i64)> = sqlx::query_as(records::DEVICE_STATES)
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(sql)?;
        records::device_states(rows)
    }

    async fn due_retries(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<(DeviceId, CategoryState)>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM mdmkit_compliance WHERE tenant = ? AND state = 'failed' \
             AND next_retry IS NOT NULL AND next_retry <= ? ORDER BY device, category",
        )
        .bind(tenant.as_str())
        .bind(now.as_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(sql)?;
        rows.iter().map(row_state).collect()
    }

    async fn enrollment(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> Result<Option<Enrollment>, Error> {
        self.get_enrollment(tenant, device).await
    }

    async fn enrollments(&self, tenant: &TenantId) -> Result<Vec<Enrollment>, Error> {
        self.all_enrollments(tenant).await
    }

    async fn enrollments_under(
        &self,
        tenant: &TenantId,
        nodes: &[mdmkit_policy::NodeId],
    ) -> Result<Vec<Enrollment>, Error> {
        let names: Vec<&str> = nodes.iter().map(mdmkit_policy::NodeId::as_str).collect();
        let mut out = Vec::new();
        for chunk in names.chunks(JSON_CHUNK) {
            let list = serde_json::to_string(chunk)
                .map_err(|e| Error::corrupt("node list".to_owned(), e))?;
            let docs: Vec<String> = sqlx::query_scalar(
                "SELECT doc FROM mdmkit_enrollment WHERE tenant = ?1 \
                 AND node IN (SELECT value FROM json_each(?2))",
            )
            .bind(tenant.as_str())
            .bind(list)
            .fetch_all(&self.pool)
            .await
            .map_err(sql)?;
            for d in &docs {
                out.push(super::records::enrollment(d)?);
            }
        }
        out.sort_by(|a, b| a.device.cmp(&b.device));
        Ok(out)
    }

    async fn enrollment_by_certificate(
        &self,
        tenant: &TenantId,
        sha256: &str,
    ) -> Result<Option<Enrollment>, Error> {
        self.enrollment_of_certificate(tenant, sha256).await
    }

    async fn put_enrollment(&self, tenant: &TenantId, e: &Enrollment) -> Result<(), Error> {
        self.write_enrollment(tenant, e).await
    }

    async fn put_token(&self, token: &AdminToken) -> Result<(), Error> {
        self.write_token(token).await
    }

    async fn token(&self, tenant: &TenantId, id: &str) -> Result<Option<AdminToken>, Error> {
        self.get_token(tenant, id).await
    }

    async fn tokens(&self, tenant: &TenantId) -> Result<Vec<AdminToken>, Error> {
        self.all_tokens(tenant).await
    }

    async fn put_challenge(&self, challenge: &crate::challenge::Challenge) -> Result<(), Error> {
        self.write_challenge(challenge).await
    }

    async fn spend_challenge(
        &self,
        tenant: &TenantId,
        sha256: &str,
        now: Timestamp,
    ) -> Result<Result<crate::challenge::Challenge, crate::challenge::Refusal>, Error> {
        self.spend(tenant, sha256, now).await
    }

    async fn challenges(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<crate::challenge::Challenge>, Error> {
        self.all_challenges(tenant).await
    }

    async fn put_issued_certificate(
        &self,
        cert: &crate::challenge::IssuedCertificate,
    ) -> Result<(), Error> {
        self.write_issued(cert).await
    }

    async fn issued_certificate(
        &self,
        tenant: &TenantId,
        sha256: &str,
    ) -> Result<Option<crate::challenge::IssuedCertificate>, Error> {
        self.get_issued(tenant, sha256).await
    }

    async fn expiring_certificates(
        &self,
        tenant: &TenantId,
        before: Timestamp,
    ) -> Result<Vec<crate::challenge::IssuedCertificate>, Error> {
        self.expiring_before(tenant, before).await
    }

    async fn challenge(
        &self,
        tenant: &TenantId,
        sha256: &str,
    ) -> Result<Option<crate::challenge::Challenge>, Error> {
        self.get_challenge(tenant, sha256).await
    }

    async fn session(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> Result<Option<super::DeviceSession>, Error> {
        self.get_session(tenant, device).await
    }

    async fn put_session(
        &self,
        tenant: &TenantId,
        session: &super::DeviceSession,
        expected: Option<i64>,
    ) -> Result<bool, Error> {
        self.write_session(tenant, session, expected).await
    }
    async fn push_certificate(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<crate::push::StoredPushCertificate>, Error> {
        self.get_push_cert(tenant).await
    }

    async fn put_push_certificate(
        &self,
        tenant: &TenantId,
        cert: &crate::push::StoredPushCertificate,
    ) -> Result<(), Error> {
        self.write_push_cert(tenant, cert).await
    }

    async fn set_push_alert(
        &self,
        tenant: &TenantId,
        sha256: &str,
        alert: Option<&crate::push::PushAlert>,
    ) -> Result<(), Error> {
        self.write_push_alert(tenant, sha256, alert).await
    }

    async fn push_states(&self, tenant: &TenantId) -> Result<Vec<crate::push::PushState>, Error> {
        self.all_push_states(tenant).await
    }

    async fn put_push_states(
        &self,
        tenant: &TenantId,
        states: &[crate::push::PushState],
    ) -> Result<(), Error> {
        self.write_push_states(tenant, states).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection as _;

    fn state(c: Category, commands: usize) -> CategoryState {
        let ids = (0..commands)
            .map(|_| mdmkit_queue::CommandId::new())
            .collect();
        CategoryState::pending(c, &ContentHash([7; 32]), ids, Timestamp::from_millis(5))
    }

    /// A store as each released schema version left it opens at the
    /// latest and works; an edited released migration is refused.
    #[tokio::test]
    async fn every_schema_version_migrates_forward_and_an_edited_one_is_refused() {
        for n in 0..=MIGRATIONS.len() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("v{n}.db"));
            {
                let opts = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true);
                let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
                let mut tx = c.begin().await.unwrap();
                mdmkit_queue::migrate::apply_sqlite(&mut tx, &SCHEMA.up_to(n), 0)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                c.close().await.unwrap();
            }
            let s = SqliteState::open(&path).await.unwrap();
            super::super::test_support::works(&s, &format!("from {n}")).await;
            let (version, sums): (i64, i64) =
                sqlx::query_as("SELECT MAX(version), COUNT(checksum) FROM mdmkit_state_migrations")
                    .fetch_one(&s.pool)
                    .await
                    .unwrap();
            assert_eq!(
                (version, sums),
                (SCHEMA.latest(), SCHEMA.latest()),
                "from {n}"
            );
            if n == MIGRATIONS.len() {
                sqlx::query("UPDATE mdmkit_state_migrations SET checksum = 'x' WHERE version = 3")
                    .execute(&s.pool)
                    .await
                    .unwrap();
                drop(s);
                let e = SqliteState::open(&path).await.unwrap_err();
                assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                assert!(text.contains("migration 3"), "{text}");
            }
        }
    }

    /// Enrollments written before they had a node column (schema 8) get
    /// their node from their document when the store migrates, and are
    /// then found per node.
    #[tokio::test]
    async fn enrollments_written_before_the_node_column_are_found_per_node() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v8.db");
        let t = TenantId::new("region").unwrap();
        let e = Enrollment::new(
            DeviceId::new("ipad-1").unwrap(),
            mdmkit_core::Platform::Apple,
            "school".parse().unwrap(),
            mdmkit_queue::Timestamp::from_millis(1),
        );
        {
            let opts = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true);
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
            let mut tx = c.begin().await.unwrap();
            mdmkit_queue::migrate::apply_sqlite(&mut tx, &SCHEMA.up_to(MIGRATIONS.len() - 1), 0)
                .await
                .unwrap();
            sqlx::query("INSERT INTO mdmkit_enrollment (tenant, device, doc) VALUES (?, ?, ?)")
                .bind(t.as_str())
                .bind("ipad-1")
                .bind(super::super::records::doc(&e).unwrap())
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            c.close().await.unwrap();
        }
        let s = SqliteState::open(&path).await.unwrap();
        let found = s
            .enrollments_under(&t, &["school".parse().unwrap()])
            .await
            .unwrap();
        assert_eq!(found, [e]);
        assert!(
            s.enrollments_under(&t, &["region".parse().unwrap()])
                .await
                .unwrap()
                .is_empty()
        );
    }

    /// A store written before the version table existed (schema 1, keyed by
    /// device first) migrates in place and keeps its rows; one device's rows
    /// are then read, and removed, through the new key.
    #[tokio::test]
    async fn a_version_1_store_migrates_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let opts = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
            sqlx::raw_sql(MIGRATIONS[0]).execute(&mut c).await.unwrap();
            // Targets are content hashes, 64 hex digits.
            sqlx::query(
                "INSERT INTO mdmkit_compliance VALUES \
                 ('t', 'ipad-1', 'passcode', 'verified', ?1, '', NULL, 0, NULL, '[]', NULL, 1), \
                 ('t', 'ipad-1', 'wifi', 'pending', ?2, '', NULL, 0, NULL, '[]', NULL, 1), \
                 ('t', 'ipad-2', 'passcode', 'pending', ?3, '', NULL, 0, NULL, '[]', NULL, 1)",
            )
            .bind("a".repeat(64))
            .bind("b".repeat(64))
            .bind("c".repeat(64))
            .execute(&mut c)
            .await
            .unwrap();
            let h = "7".repeat(64);
            sqlx::query("INSERT INTO mdmkit_device VALUES ('t', 'ipad-2', 'apple', ?1, ?1)")
                .bind(&h)
                .execute(&mut c)
                .await
                .unwrap();
            c.close().await.unwrap();
        }
        let s = SqliteState::open(&path).await.unwrap();
        let pk: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM pragma_table_info('mdmkit_compliance') WHERE pk > 0 ORDER BY pk",
        )
        .fetch_all(&s.pool)
        .await
        .unwrap();
        assert_eq!(pk, ["tenant", "category", "device"]);
        // Migration 7 computed the overall state of the records already
        // there (ipad-2: pending); their node is learnt at the next
        // reconcile.
        let overall: Vec<(String, Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT device, node, overall FROM mdmkit_device")
                .fetch_all(&s.pool)
                .await
                .unwrap();
        assert_eq!(overall, [("ipad-2".to_owned(), None, Some(3))]);
        let t = TenantId::new("t").unwrap();
        let one = DeviceId::new("ipad-1").unwrap();
        let rows = s.compliance(&t, Some(&one)).await.unwrap();
        let cats: Vec<&str> = rows.iter().map(|(_, r)| r.category.as_str()).collect();
        assert_eq!(cats, ["passcode", "wifi"]);
        assert_eq!(s.compliance(&t, None).await.unwrap().len(), 3);

        // New rows go in by the new key; a removed device loses all of its.
        let two = DeviceId::new("ipad-2").unwrap();
        let batch = StateBatch {
            compliance: vec![(two.clone(), state(Category::Wifi, 1))],
            removed: vec![one.clone()],
            ..StateBatch::default()
        };
        s.commit(&t, &batch).await.unwrap();
        let all = s.compliance(&t, None).await.unwrap();
        let left: Vec<(&str, &str)> = all
            .iter()
            .map(|(d, r)| (d.as_str(), r.category.as_str()))
            .collect();
        assert_eq!(left, [("ipad-2", "passcode"), ("ipad-2", "wifi")]);

        // Opening again applies nothing more.
        drop(s);
        let s = SqliteState::open(&path).await.unwrap();
        let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM mdmkit_state_migrations")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }
}

//! The PostgreSQL state store: the same tables as SQLite's, for a hosted
//! deployment where several server processes share one database. Every key
//! leads with the tenant, like the queue's, so the tables can be
//! distributed by tenant (Citus).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use async_trait::async_trait;
use mdmkit_core::{DeviceId, TenantId};
use mdmkit_policy::{ContentHash, Settings};
use mdmkit_queue::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder};

use super::records::{self, record_methods};
use super::{CategoryState, DeviceRecord, RawCategoryRow, StateBatch, StateStore, commands_text};
use crate::access::AdminToken;
use crate::error::Error;
use crate::inventory::Enrollment;
use mdmkit_queue::PostgresOptions;

/// The schema, one entry per version (never edit a released entry:
/// append). Version 1 predates the version table, so it is idempotent: a
/// database made before the table existed runs it again harmlessly and is
/// then version 1.
///
/// Compliance rows are keyed device first here, where the SQLite store
/// keys them category first (its migration 2). That order exists for
/// SQLite's clustered `WITHOUT ROWID` table, where the key places the
/// rows on pages; a PostgreSQL heap places rows by insertion whatever the
/// key, so category first would only slow the per-device reads (or cost a
/// second index on every write).
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS mdmkit_content (
    tenant TEXT NOT NULL,
    hash TEXT NOT NULL,
    settings TEXT NOT NULL,
    PRIMARY KEY (tenant, hash)
);
CREATE TABLE IF NOT EXISTS mdmkit_device (
    tenant TEXT NOT NULL,
    device TEXT NOT NULL,
    platform TEXT NOT NULL,
    content TEXT NOT NULL,
    inventory TEXT NOT NULL,
    PRIMARY KEY (tenant, device)
);
CREATE TABLE IF NOT EXISTS mdmkit_compliance (
    tenant TEXT NOT NULL,
    device TEXT NOT NULL,
    category TEXT NOT NULL,
    state TEXT NOT NULL,
    target TEXT NOT NULL,
    commands TEXT NOT NULL,
    error TEXT,
    attempts BIGINT NOT NULL,
    next_retry BIGINT,
    unsupported TEXT NOT NULL,
    version BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, device, category)
);
CREATE INDEX IF NOT EXISTS mdmkit_compliance_retry
    ON mdmkit_compliance (tenant, next_retry) WHERE state = 'failed';
CREATE TABLE IF NOT EXISTS mdmkit_policy (
    tenant TEXT NOT NULL,
    policy TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant, policy)
);
",
    // 2: enrolled devices and admin tokens (the SQL both stores share).
    records::TABLES,
    // 3: enrollment challenges and issued certificates.
    records::ENROLLMENT_TABLES,
    // 4: device management sessions (OMA-DM) between requests.
    records::SESSION_TABLES,
    // 5: push certificates and per-device push state.
    records::PUSH_TABLES,
    // 6: each device record's node and overall compliance, indexed for
    // per-node counts.
    records::NODE_COLUMNS,
    // 7: the audit journal's heads.
    records::AUDIT_HEAD_TABLE,
    // 8: each enrollment's node, indexed for per-node queries.
    records::ENROLLMENT_NODE_POSTGRES,
];

/// The schema, through the migration runner the queue stores use.
pub(crate) const SCHEMA: mdmkit_queue::migrate::Schema = mdmkit_queue::migrate::Schema {
    table: "mdmkit_state_migrations",
    migrations: MIGRATIONS,
};

/// Rows per multi-row statement (PostgreSQL allows 65,535 parameters).
const CHUNK: usize = 4_000;

/// Applied state and compliance in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresState {
    pool: PgPool,
}

fn sql(e: sqlx::Error) -> Error {
    Error::from_sqlx("query the state store", e)
}

impl PostgresState {
    /// Connects to `url` (`postgres://...`) and applies the missing schema
    /// migrations (serialised by an advisory lock, so several processes may
    /// start at once; versions in `mdmkit_state_migrations`). A schema
    /// newer than this build's is refused.
    pub async fn open(url: &str) -> Result<Self, Error> {
        Self::open_with(&PostgresOptions::new(url).with_max_connections(4)).await
    }

    /// [`PostgresState::open`] with the options the queue store takes: the
    /// URL, the pool size, and a schema to keep the tables in (created if
    /// missing; the same schema as the queue's keeps one tenant set's
    /// tables together). The clock is not used.
    pub async fn open_with(opts: &PostgresOptions) -> Result<Self, Error> {
        let mut options = PgConnectOptions::from_str(&opts.url)
            .map_err(|e| Error::InvalidInput(format!("postgres url: {e}")))?;
        let schema = opts
            .checked_schema()
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        if let Some(schema) = schema {
            options = options.options([("search_path", schema)]);
        }
        // No ping before each use (sqlx's default): a round trip to the
        // server per statement, where a device request makes several; a
        // connection the server closed fails its statement instead (as
        // the queue's pool).
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(sql)?;
        let mut tx = pool.begin().await.map_err(sql)?;
        sqlx::query("SELECT pg_advisory_xact_lock(7236390455125530455)")
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
        if let Some(schema) = schema {
            // Checked against [a-z0-9_]: safe to splice.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
            )))
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
        }
        mdmkit_queue::migrate::apply_postgres(&mut tx, &SCHEMA, records::now_millis())
            .await
            .map_err(Error::from_migration)?;
        tx.commit().await.map_err(sql)?;
        Ok(Self { pool })
    }
}

fn row_state(row: &PgRow) -> Result<(DeviceId, CategoryState), Error> {
    RawCategoryRow::from_row(row).map_err(sql)?.into_state()
}

record_methods!(PostgresState, sql);

#[async_trait]
impl StateStore for PostgresState {
    async fn audit_heads(&self, tenant: &TenantId) -> Result<Option<super::AuditHeads>, Error> {
        self.read_audit_heads(tenant).await
    }

    async fn device_records(
        &self,
        tenant: &TenantId,
    ) -> Result<HashMap<DeviceId, DeviceRecord>, Error> {
        let rows: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT device, platform, content, inventory, node FROM mdmkit_device \
             WHERE tenant = $1",
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
        let ids: Vec<&str> = devices.iter().map(DeviceId::as_str).collect();
        let rows: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT device, platform, content, inventory, node FROM mdmkit_device \
             WHERE tenant = $1 AND device = ANY($2)",
        )
        .bind(tenant.as_str())
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(sql)?;
        rows.into_iter().map(records::device_record).collect()
    }

    async fn content(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<Settings>, Error> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT settings FROM mdmkit_content WHERE tenant = $1 AND hash = $2")
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
            let mut q: QueryBuilder<Postgres> =
                QueryBuilder::new("INSERT INTO mdmkit_content (tenant, hash, settings) ");
            q.push_values(texts, |mut b, (h, text)| {
                b.push_bind(t).push_bind(h).push_bind(text);
            });
            q.push(" ON CONFLICT (tenant, hash) DO NOTHING");
            q.build().execute(&mut *tx).await.map_err(sql)?;
        }
        if !batch.removed.is_empty() {
            let ids: Vec<&str> = batch.removed.iter().map(DeviceId::as_str).collect();
            for statement in [
                "DELETE FROM mdmkit_device WHERE tenant = $1 AND device = ANY($2)",
                "DELETE FROM mdmkit_compliance WHERE tenant = $1 AND device = ANY($2)",
            ] {
                sqlx::query(statement)
                    .bind(t)
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql)?;
            }
        }
        for chunk in batch.devices.chunks(CHUNK) {
            let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
                "INSERT INTO mdmkit_device (tenant, device, platform, content, inventory, node) ",
            );
            q.push_values(chunk, |mut b, (d, r)| {
                b.push_bind(t)
                    .push_bind(d.as_str())
                    .push_bind(r.platform.as_str())
                    .push_bind(r.content.to_string())
                    .push_bind(r.inventory.to_string())
                    .push_bind(r.node.as_ref().map(|n| n.as_str()));
            });
            q.push(
                " ON CONFLICT (tenant, device) DO UPDATE SET platform = EXCLUDED.platform, \
                 content = EXCLUDED.content, inventory = EXCLUDED.inventory, node = EXCLUDED.node",
            );
            q.build().execute(&mut *tx).await.map_err(sql)?;
        }
        // Cleared categories in one statement per chunk (two parallel
        // arrays), not a round trip per pair.
        for chunk in batch.cleared.chunks(CHUNK) {
            let devices: Vec<&str> = chunk.iter().map(|(d, _)| d.as_str()).collect();
            let categories: Vec<&str> = chunk.iter().map(|(_, c)| c.as_str()).collect();
            sqlx::query(
                "DELETE FROM mdmkit_compliance WHERE tenant = $1 AND (device, category) IN \
                 (SELECT * FROM UNNEST($2::text[], $3::text[]))",
            )
            .bind(t)
            .bind(devices)
            .bind(categories)
            .execute(&mut *tx)
            .await
            .map_err(sql)?;
        }
        for chunk in batch.compliance.chunks(CHUNK / 3) {
            let mut rows = Vec::with_capacity(chunk.len());
            for (d, s) in chunk {
                let notes = serde_json::to_string(&s.unsupported)
                    .map_err(|e| Error::corrupt("unsupported notes", e))?;
                rows.push((d, s, notes, commands_text(&s.commands)));
            }
            let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
                "INSERT INTO mdmkit_compliance (tenant, device, category, state, target, \
                 commands, error, attempts, next_retry, unsupported, version, updated_at) ",
            );
            q.push_values(rows, |mut b, (d, s, notes, commands)| {
                b.push_bind(t)
                    .push_bind(d.as_str())
                    .push_bind(s.category.as_str())
                    .push_bind(s.state.as_str())
                    .push_bind(s.target.to_string())
                    .push_bind(commands)
                    .push_bind(s.error.as_deref())
                    .push_bind(i64::from(s.attempts))
                    .push_bind(s.next_retry.map(Timestamp::as_millis))
                    .push_bind(notes)
                    .push_bind(s.version)
                    .push_bind(s.updated_at.as_millis());
            });
            q.push(
                " ON CONFLICT (tenant, device, category) DO UPDATE SET state = EXCLUDED.state, \
                 target = EXCLUDED.target, commands = EXCLUDED.commands, error = EXCLUDED.error, \
                 attempts = EXCLUDED.attempts, next_retry = EXCLUDED.next_retry, \
                 unsupported = EXCLUDED.unsupported, version = EXCLUDED.version, \
                 updated_at = EXCLUDED.updated_at",
            );
            q.build().execute(&mut *tx).await.map_err(sql)?;
        }
        // Each touched device's overall compliance, from its rows as they
        // now stand.
        let touched = super::touched_devices(batch);
        if !touched.is_empty() {
            let ids: Vec<&str> = touched.iter().map(DeviceId::as_str).collect();
            let overall = format!(
                "UPDATE mdmkit_device SET overall = (SELECT {} FROM mdmkit_compliance c \
                 WHERE c.tenant = $1 AND c.device = mdmkit_device.device) \
                 WHERE tenant = $1 AND device = ANY($2)",
                records::OVERALL_OF_ROWS
            );
            sqlx::query(sqlx::AssertSqlSafe(overall))
                .bind(t)
                .bind(&ids)
                .execute(&mut *tx)
                .await
                .map_err(sql)?;
        }
        for (p, h) in &batch.policies {
            match h {
                Some(h) => sqlx::query(
                    "INSERT INTO mdmkit_policy (tenant, policy, hash) VALUES ($1, $2, $3) \
                     ON CONFLICT (tenant, policy) DO UPDATE SET hash = EXCLUDED.hash",
                )
                .bind(t)
                .bind(p.as_str())
                .bind(h.as_str()),
                None => sqlx::query("DELETE FROM mdmkit_policy WHERE tenant = $1 AND policy = $2")
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

    async fn compliance(
        &self,
        tenant: &TenantId,
        device: Option<&DeviceId>,
    ) -> Result<Vec<(DeviceId, CategoryState)>, Error> {
        let rows =
            match device {
                Some(d) => {
                    sqlx::query(
                        "SELECT * FROM mdmkit_compliance WHERE tenant = $1 AND device = $2 \
                     ORDER BY device, category",
                    )
                    .bind(tenant.as_str())
                    .bind(d.as_str())
                    .fetch_all(&self.pool)
                    .await
                }
                None => sqlx::query(
                    "SELECT * FROM mdmkit_compliance WHERE tenant = $1 ORDER BY device, category",
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
        let ids: Vec<&str> = devices.iter().map(DeviceId::as_str).collect();
        let rows = sqlx::query(
            "SELECT * FROM mdmkit_compliance WHERE tenant = $1 AND device = ANY($2) \
             ORDER BY device, category",
        )
        .bind(tenant.as_str())
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(sql)?;
        let mut out = rows.iter().map(row_state).collect::<Result<Vec<_>, _>>()?;
        // The database's collation orders text; the answer is in the
        // order of the typed values, like the other stores'.
        out.sort_by(|a, b| (&a.0, a.1.category).cmp(&(&b.0, b.1.category)));
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

    async fn policy_hashes(&self, tenant: &TenantId) -> Result<BTreeMap<String, String>, Error> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT policy, hash FROM mdmkit_policy WHERE tenant = $1")
                .bind(tenant.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(sql)?;
        Ok(rows.into_iter().collect())
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
            "SELECT * FROM mdmkit_compliance WHERE tenant = $1 AND state = 'failed' \
             AND next_retry IS NOT NULL AND next_retry <= $2 ORDER BY device, category",
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
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM mdmkit_enrollment WHERE tenant = $1 AND node = ANY($2)",
        )
        .bind(tenant.as_str())
        .bind(&names)
        .fetch_all(&self.pool)
        .await
        .map_err(sql)?;
        let mut out = docs
            .iter()
            .map(|d| records::enrollment(d))
            .collect::<Result<Vec<_>, Error>>()?;
        // By id as Rust orders it (a PostgreSQL collation may not).
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

    /// The throwaway server's URL (a missing one fails the test).
    fn test_url() -> String {
        match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => panic!("MDMKIT_TEST_POSTGRES_URL is unset: run the tests through scripts/test"),
        }
    }

    /// A connection whose search path is a new schema `schema`, migrated
    /// to version `n` as a released store left it.
    async fn schema_at(url: &str, schema: &str, n: usize) -> sqlx::PgConnection {
        let connect = PgConnectOptions::from_str(url).unwrap();
        let mut c = sqlx::PgConnection::connect_with(&connect).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\""
        )))
        .execute(&mut c)
        .await
        .unwrap();
        let mut tx = c.begin().await.unwrap();
        mdmkit_queue::migrate::apply_postgres(&mut tx, &SCHEMA.up_to(n), 0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        c
    }

    /// Enrollments written before they had a node column (schema 7) get
    /// their node from their document when the store migrates.
    #[tokio::test]
    async fn enrollments_written_before_the_node_column_are_found_per_node() {
        let url = test_url();
        let schema = format!(
            "s_enr_node_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let t = TenantId::new("region").unwrap();
        let e = Enrollment::new(
            DeviceId::new("ipad-1").unwrap(),
            mdmkit_core::Platform::Apple,
            "school".parse().unwrap(),
            mdmkit_queue::Timestamp::from_millis(1),
        );
        let mut c = schema_at(&url, &schema, MIGRATIONS.len() - 1).await;
        sqlx::query("INSERT INTO mdmkit_enrollment (tenant, device, doc) VALUES ($1, $2, $3)")
            .bind(t.as_str())
            .bind("ipad-1")
            .bind(records::doc(&e).unwrap())
            .execute(&mut c)
            .await
            .unwrap();
        let opts = PostgresOptions::new(url.clone())
            .with_schema(schema.clone())
            .with_max_connections(2);
        let s = PostgresState::open_with(&opts).await.unwrap();
        let found = s
            .enrollments_under(&t, &["school".parse().unwrap()])
            .await
            .unwrap();
        assert_eq!(found, [e]);
        c.close().await.unwrap();
    }

    /// A store as each released schema version left it (each in a schema
    /// of its own, through `open_with`) opens at the latest and works; an
    /// edited released migration is refused.
    #[tokio::test]
    async fn every_schema_version_migrates_forward_and_an_edited_one_is_refused() {
        let url = test_url();
        let tag = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        for n in 0..=MIGRATIONS.len() {
            let schema = format!("s_mig_{}_{tag}_{n}", std::process::id());
            let mut c = schema_at(&url, &schema, n).await;
            let opts = PostgresOptions::new(url.clone())
                .with_schema(schema.clone())
                .with_max_connections(2);
            let s = PostgresState::open_with(&opts).await.unwrap();
            super::super::test_support::works(&s, &format!("from {n}")).await;
            let (version, sums): (i64, i64) =
                sqlx::query_as("SELECT MAX(version), COUNT(checksum) FROM mdmkit_state_migrations")
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
            assert_eq!(
                (version, sums),
                (SCHEMA.latest(), SCHEMA.latest()),
                "from {n}"
            );
            if n == MIGRATIONS.len() {
                sqlx::query("UPDATE mdmkit_state_migrations SET checksum = 'x' WHERE version = 2")
                    .execute(&mut c)
                    .await
                    .unwrap();
                let e = PostgresState::open_with(&opts).await.unwrap_err();
                assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
            }
            c.close().await.unwrap();
        }
    }
}

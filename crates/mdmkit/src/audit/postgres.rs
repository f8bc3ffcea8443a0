//! The journal in PostgreSQL, for deployments where several server
//! processes (on several hosts) journal one tenant.
//!
//! Each entry is one row of `mdmkit_audit_journal (tenant, seq, line)`:
//! `line` is exactly the line the file journal would hold, so the hash
//! chain, the checkpoints' signatures and their verification are the same
//! ([`verify_postgres`] feeds the rows, in `seq` order, to the checker the
//! file's verification uses). Appends are serialised per tenant by a
//! transaction-scoped advisory lock: a writer takes it, reads the last
//! row again when another writer appended since, chains its entries after
//! it, inserts them and commits. A failed commit leaves nothing.

use std::str::FromStr;

use mdmkit_core::TenantId;
use mdmkit_identity::{EnvelopeSigner, Keyring};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder, Row};

use super::chain::Chain;
use super::entry;
use super::event::Event;
use super::head::{JournalHead, SignedHead};
use super::journal::JournalOptions;
use super::verify::{Checker, VerifyOptions, VerifyReport};
use super::{AuditError, Corruption};

/// The journal's schema, through the migration runner every store uses
/// (under the advisory lock below, so that several processes may open at
/// once). Never edit a released entry: append.
const SCHEMA: mdmkit_queue::migrate::Schema = mdmkit_queue::migrate::Schema {
    table: "mdmkit_audit_migrations",
    migrations: &["CREATE TABLE IF NOT EXISTS mdmkit_audit_journal (
    tenant TEXT NOT NULL,
    seq BIGINT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
)"],
};

/// Serialises the creation of the table.
const SCHEMA_LOCK: i64 = 7_236_390_455_125_530_999;

/// Serialises one tenant's appends: an advisory lock keyed by the tenant.
const LOCK_TENANT: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('mdmkit_audit_journal:' || $1, 0))";

/// The last row of a tenant.
const LAST: &str = "SELECT seq, line FROM mdmkit_audit_journal WHERE tenant = $1 \
     ORDER BY seq DESC LIMIT 1";

/// Rows read per query when verifying.
const PAGE: i64 = 10_000;

/// Rows per insert statement (3 parameters each).
const INSERT_CHUNK: usize = 5_000;

fn db(what: &str, e: sqlx::Error) -> AuditError {
    AuditError::Database {
        what: what.to_owned(),
        source: Box::new(e),
    }
}

async fn pool(url: &str) -> Result<PgPool, AuditError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| db("parse the PostgreSQL URL", e))?;
    // One writer thread uses one connection at a time; waiting longer for
    // one than it takes to connect only delays the error.
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| db("connect to PostgreSQL", e))
}

/// A tenant's journal in PostgreSQL: one row per entry in
/// `mdmkit_audit_journal (tenant, seq, line)`, each line exactly what the
/// file journal would hold (so [`verify_postgres`] checks it with the same
/// checker). Appends from several processes are serialised per tenant by a
/// transaction-scoped advisory lock, and a writer chains its entries after
/// whatever another wrote since; a failed commit leaves nothing.
#[derive(Debug)]
pub struct PgJournal {
    pool: PgPool,
    tenant: TenantId,
    chain: Chain,
    /// The last row this writer wrote or read.
    known: u64,
}

impl PgJournal {
    /// Connects to `url` (`postgres://...`), creates the table when
    /// missing and takes the tenant's head from its last row.
    pub async fn open(
        url: &str,
        tenant: TenantId,
        signer: EnvelopeSigner,
        options: JournalOptions,
    ) -> Result<PgJournal, AuditError> {
        let pool = pool(url).await?;
        let mut tx = pool.begin().await.map_err(|e| db("begin", e))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(|e| db("lock the journal schema", e))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
        mdmkit_queue::migrate::apply_postgres(&mut tx, &SCHEMA, now)
            .await
            .map_err(|e| AuditError::Database {
                what: "migrate the journal's schema".into(),
                source: Box::new(e),
            })?;
        tx.commit().await.map_err(|e| db("commit", e))?;
        let mut journal = PgJournal {
            pool,
            tenant,
            chain: Chain::new(signer, options),
            known: 0,
        };
        let mut conn = journal
            .pool
            .acquire()
            .await
            .map_err(|e| db("connect to PostgreSQL", e))?;
        journal.catch_up(&mut conn, true).await?;
        Ok(journal)
    }

    /// The tenant journaled.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The last entry's sequence number and hash, as of this writer's last
    /// write or read.
    pub fn journal_head(&self) -> Option<JournalHead> {
        self.chain.journal_head()
    }

    /// The last checkpoint this writer wrote or found last.
    pub fn signed_head(&self) -> Option<&SignedHead> {
        self.chain.signed_head()
    }

    /// Appends events in order, contiguous; returns the last one's
    /// sequence number.
    pub async fn append_all(&mut self, events: Vec<Event>) -> Result<Option<u64>, AuditError> {
        self.transact(|chain, out| chain.encode_all(&events, out))
            .await
    }

    /// Appends groups of events in one transaction (group commit); see
    /// [`super::Journal::append_groups`].
    #[allow(clippy::type_complexity)]
    pub async fn append_groups(
        &mut self,
        groups: Vec<Vec<Event>>,
    ) -> Result<Vec<Result<Option<u64>, AuditError>>, AuditError> {
        self.transact(|chain, out| Ok(chain.encode_groups(&groups, out)))
            .await
    }

    /// Signs the chain up to the last entry now, unless it is signed.
    pub async fn checkpoint(&mut self) -> Result<Option<u64>, AuditError> {
        self.transact(|chain, out| {
            if !chain.unsigned() {
                return Ok(None);
            }
            chain.encode_checkpoint(out).map(Some)
        })
        .await
    }

    /// Reads the last row again when another writer appended since.
    async fn catch_up(
        &mut self,
        conn: &mut sqlx::PgConnection,
        fresh: bool,
    ) -> Result<(), AuditError> {
        let row = sqlx::query(LAST)
            .bind(self.tenant.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| db("read the journal's last entry", e))?;
        let last = match row {
            Some(r) => {
                let seq: i64 = r
                    .try_get(0)
                    .map_err(|e| db("read the journal's last entry", e))?;
                let seq = u64::try_from(seq).unwrap_or(0);
                if !fresh && seq == self.known {
                    return Ok(());
                }
                let line: String = r
                    .try_get(1)
                    .map_err(|e| db("read the journal's last entry", e))?;
                let e = entry::decode(line.as_bytes()).map_err(|reason| AuditError::Corrupt {
                    path: None,
                    line: seq,
                    reason,
                })?;
                if e.seq != seq {
                    return Err(AuditError::Corrupt {
                        path: None,
                        line: seq,
                        reason: Corruption::SeqGap {
                            expected: seq,
                            found: e.seq,
                        },
                    });
                }
                self.known = seq;
                Some(e)
            }
            None => {
                self.known = 0;
                None
            }
        };
        self.chain.follow(last, fresh);
        Ok(())
    }

    /// In one transaction holding the tenant's lock: catches up, lets
    /// `encode` add lines, inserts them, commits. On failure the chain
    /// state is what it was.
    async fn transact<T>(
        &mut self,
        encode: impl FnOnce(&mut Chain, &mut String) -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        let mut tx = self.pool.begin().await.map_err(|e| db("begin", e))?;
        sqlx::query(LOCK_TENANT)
            .bind(self.tenant.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| db("lock the tenant's journal", e))?;
        self.catch_up(&mut tx, false).await?;
        let saved = self.chain.save();
        let first = self.chain.next_seq();
        let mut out = String::new();
        let result = encode(&mut self.chain, &mut out);
        let written = match result {
            Ok(value) => self.insert(&mut tx, first, &out).await.map(|n| (value, n)),
            Err(e) => Err(e),
        };
        let written = match written {
            Ok((value, n)) => tx
                .commit()
                .await
                .map_err(|e| db("commit the journal's entries", e))
                .map(|()| (value, n)),
            Err(e) => Err(e),
        };
        match written {
            Ok((value, n)) => {
                self.known = first + n - 1;
                Ok(value)
            }
            Err(e) => {
                self.chain.restore(saved);
                Err(e)
            }
        }
    }

    /// Inserts the lines of `text` from sequence number `first`; returns
    /// how many.
    async fn insert(
        &self,
        tx: &mut sqlx::PgConnection,
        first: u64,
        text: &str,
    ) -> Result<u64, AuditError> {
        let lines: Vec<&str> = text.lines().collect();
        let mut seq = i64::try_from(first).map_err(|_| AuditError::Database {
            what: format!("sequence {first} out of range"),
            source: "sequence out of range".into(),
        })?;
        for chunk in lines.chunks(INSERT_CHUNK) {
            let mut q: QueryBuilder<Postgres> =
                QueryBuilder::new("INSERT INTO mdmkit_audit_journal (tenant, seq, line) ");
            q.push_values(chunk, |mut b, line| {
                b.push_bind(self.tenant.as_str())
                    .push_bind(seq)
                    .push_bind(*line);
                seq += 1;
            });
            q.build()
                .execute(&mut *tx)
                .await
                .map_err(|e| db("insert the journal's entries", e))?;
        }
        Ok(lines.len() as u64)
    }
}

/// Checks a tenant's journal in PostgreSQL as [`super::verify_with`]
/// checks a file: every line's hash and link, the sequence, every
/// checkpoint's signature against `keyring`, and the anchors and signed
/// heads of `options`. The first problem is returned with its sequence
/// number as its line.
pub async fn verify_postgres(
    url: &str,
    tenant: &TenantId,
    keyring: &Keyring,
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    let pool = pool(url).await?;
    let anchors = options.all_anchors(keyring)?;
    let mut checker = Checker::new(keyring, &anchors);
    let mut after: i64 = 0;
    let mut n = 0u64;
    let mut bytes = 0u64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, line FROM mdmkit_audit_journal WHERE tenant = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(after)
        .bind(PAGE)
        .fetch_all(&pool)
        .await;
        let rows = match rows {
            Ok(r) => r,
            // A database where no journal was ever written holds none.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
            Err(e) => return Err(db("read the journal", e)),
        };
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            n += 1;
            let seq: i64 = r.try_get(0).map_err(|e| db("read the journal", e))?;
            let line: &str = r.try_get(1).map_err(|e| db("read the journal", e))?;
            bytes += line.len() as u64 + 1;
            if bytes > options.max_file_bytes {
                return Err(AuditError::TooLarge {
                    path: None,
                    max: options.max_file_bytes,
                });
            }
            if line.len() > options.max_line_bytes {
                return Err(AuditError::Corrupt {
                    path: None,
                    line: n,
                    reason: Corruption::LineTooLong {
                        max: options.max_line_bytes,
                    },
                });
            }
            checker
                .feed(line.as_bytes())
                .map_err(|reason| AuditError::Corrupt {
                    path: None,
                    line: n,
                    reason,
                })?;
            after = seq;
        }
    }
    pool.close().await;
    checker.finish(0).map_err(|reason| AuditError::Corrupt {
        path: None,
        line: n + 1,
        reason,
    })
}

/// Reads a tenant's journal rows for [`super::JournalReader`]; connects on
/// first use, in the runtime that uses it.
#[derive(Debug, Clone)]
pub struct PgReader {
    pool: PgPool,
    tenant: TenantId,
}

impl PgReader {
    pub(crate) fn new(url: &str, tenant: TenantId) -> Result<Self, AuditError> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| db("parse the PostgreSQL URL", e))?;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_lazy_with(options);
        Ok(Self { pool, tenant })
    }

    pub(crate) async fn page(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, AuditError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query_as::<_, (i64, String)>(
            "SELECT seq, line FROM mdmkit_audit_journal WHERE tenant = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(self.tenant.as_str())
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await;
        match rows {
            Ok(r) => Ok(r
                .into_iter()
                .map(|(seq, line)| (u64::try_from(seq).unwrap_or(0), line))
                .collect()),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Ok(Vec::new()),
            Err(e) => Err(db("read the journal", e)),
        }
    }
}

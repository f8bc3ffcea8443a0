//! The durable baselines' store, shared by the server benches: one row,
//! updated in one single-statement transaction per request, on the same
//! kind of store `mdmkit serve` uses (SQLite in WAL with
//! `synchronous=NORMAL`, or PostgreSQL). What any server that records a
//! device's answer durably must pay, and nothing more.

use std::path::Path;

/// Where the durable baseline keeps its one row.
#[derive(Clone)]
pub(crate) enum BaselineDb {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl BaselineDb {
    /// A SQLite file opened as `mdmkit serve` opens its store (WAL,
    /// `synchronous=NORMAL`), with one row.
    pub(crate) async fn sqlite(path: &Path) -> Self {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE cycle (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, body BLOB); \
             INSERT INTO cycle VALUES (1, 0, NULL);",
        )
        .execute(&pool)
        .await
        .unwrap();
        Self::Sqlite(pool)
    }

    /// A table in the PostgreSQL database at `url` (the mdmkit store's
    /// database), with one row.
    pub(crate) async fn postgres(url: &str) -> Self {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE bench_cycle (id INTEGER PRIMARY KEY, n BIGINT NOT NULL, body BYTEA); \
             INSERT INTO bench_cycle VALUES (1, 0, NULL);",
        )
        .execute(&pool)
        .await
        .unwrap();
        Self::Postgres(pool)
    }

    /// One transaction: the report stored, the row's counter moved.
    pub(crate) async fn record(&self, body: &[u8]) {
        match self {
            Self::Sqlite(p) => {
                sqlx::query("UPDATE cycle SET n = n + 1, body = ?1 WHERE id = 1")
                    .bind(body)
                    .execute(p)
                    .await
                    .unwrap();
            }
            Self::Postgres(p) => {
                sqlx::query("UPDATE bench_cycle SET n = n + 1, body = $1 WHERE id = 1")
                    .bind(body)
                    .execute(p)
                    .await
                    .unwrap();
            }
        }
    }
}

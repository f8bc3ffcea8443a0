//! Schema migrations with versions and checksums: the one mechanism every
//! SQL store of mdmkit migrates through (this crate's queues, the facade's
//! state stores), on SQLite and PostgreSQL.
//!
//! A [`Schema`] is a version table and a list of migrations: version `n`
//! is entry `n - 1`, applied in order in the caller's transaction (which
//! the caller serialises: `BEGIN IMMEDIATE` on SQLite, an advisory lock on
//! PostgreSQL). Each applied version is recorded with the SHA-256 of its
//! text, and every open compares the recorded checksums with the build's:
//!
//! - a version the build does not know: [`MigrateError::TooNew`] (a newer
//!   mdmkit wrote the database);
//! - a recorded checksum that differs: [`MigrateError::Changed`] (a
//!   released migration was edited, so this build's idea of the schema is
//!   not the database's; never edit a released entry, append one);
//! - a version recorded before checksums existed: its checksum is adopted
//!   on the first open.
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use mdmkit_queue::migrate::{Schema, apply_sqlite};
//!
//! const SCHEMA: Schema = Schema {
//!     table: "my_migrations",
//!     migrations: &["CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"],
//! };
//! let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! let mut tx = pool.begin().await?;
//! assert_eq!(apply_sqlite(&mut tx, &SCHEMA, 0).await?, 1);
//! tx.commit().await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use sha2::{Digest, Sha256};

/// A store's migrations and the table that records them.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The version table (a fixed identifier: it is spliced into SQL).
    pub table: &'static str,
    /// The migrations: version `n` is entry `n - 1`.
    pub migrations: &'static [&'static str],
}

impl Schema {
    /// The newest version.
    pub fn latest(&self) -> i64 {
        self.migrations.len() as i64
    }

    /// The same schema up to `version` only (to build a database of an
    /// older release, in tests).
    pub fn up_to(&self, version: usize) -> Schema {
        Schema {
            table: self.table,
            migrations: &self.migrations[..version.min(self.migrations.len())],
        }
    }
}

/// The checksum recorded for a migration: the lower-case hex SHA-256 of
/// its text.
pub fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The database has a version this build does not know.
    #[error(
        "{table}: database schema version {found} is newer than this build supports ({supported})"
    )]
    TooNew {
        /// The version table.
        table: &'static str,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// An applied migration's recorded checksum is not this build's.
    #[error(
        "{table}: migration {version} was applied with checksum {recorded}, but this build's is {expected} (a released migration was edited)"
    )]
    Changed {
        /// The version table.
        table: &'static str,
        /// The migration.
        version: i64,
        /// The checksum recorded.
        recorded: String,
        /// This build's.
        expected: String,
    },
    /// The database failed.
    #[error("{table}: cannot {what}")]
    Database {
        /// The version table.
        table: &'static str,
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// Checks the recorded versions against `schema`: returns the current
/// version and the versions whose checksum is to be adopted.
fn check(
    schema: &Schema,
    recorded: Vec<(i64, Option<String>)>,
) -> Result<(i64, Vec<(i64, String)>), MigrateError> {
    let mut current = 0;
    let mut adopt = Vec::new();
    for (version, sum) in recorded {
        current = current.max(version);
        let Some(sql) = usize::try_from(version - 1)
            .ok()
            .and_then(|i| schema.migrations.get(i))
        else {
            return Err(MigrateError::TooNew {
                table: schema.table,
                found: version,
                supported: schema.latest(),
            });
        };
        let expected = checksum(sql);
        match sum {
            Some(s) if s == expected => {}
            Some(s) => {
                return Err(MigrateError::Changed {
                    table: schema.table,
                    version,
                    recorded: s,
                    expected,
                });
            }
            None => adopt.push((version, expected)),
        }
    }
    Ok((current, adopt))
}

/// The body of both dialects' runners (the statements differ only in their
/// placeholders and column types).
macro_rules! run {
    ($conn:expr, $schema:expr, $now:expr, $create:expr, $has_checksum:expr, $add_checksum:expr, $adopt:expr, $insert:expr) => {{
        let schema: &Schema = $schema;
        let db = |what: &'static str| {
            move |source| MigrateError::Database {
                table: schema.table,
                what,
                source,
            }
        };
        let t = schema.table;
        sqlx::query(sqlx::AssertSqlSafe(format!($create, t = t)))
            .execute(&mut *$conn)
            .await
            .map_err(db("create the version table"))?;
        let has: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!($has_checksum, t = t)))
            .fetch_one(&mut *$conn)
            .await
            .map_err(db("read the version table's columns"))?;
        if has == 0 {
            sqlx::query(sqlx::AssertSqlSafe(format!($add_checksum, t = t)))
                .execute(&mut *$conn)
                .await
                .map_err(db("add the checksum column"))?;
        }
        let recorded: Vec<(i64, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT version, checksum FROM {t} ORDER BY version"
        )))
        .fetch_all(&mut *$conn)
        .await
        .map_err(db("read the schema version"))?;
        let (current, adopt) = check(schema, recorded)?;
        for (version, sum) in adopt {
            sqlx::query(sqlx::AssertSqlSafe(format!($adopt, t = t)))
                .bind(sum)
                .bind(version)
                .execute(&mut *$conn)
                .await
                .map_err(db("record a checksum"))?;
        }
        let skip = usize::try_from(current).unwrap_or(0);
        for (i, m) in schema.migrations.iter().enumerate().skip(skip) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*m))
                .execute(&mut *$conn)
                .await
                .map_err(db("migrate the schema"))?;
            sqlx::query(sqlx::AssertSqlSafe(format!($insert, t = t)))
                .bind(i as i64 + 1)
                .bind($now)
                .bind(checksum(m))
                .execute(&mut *$conn)
                .await
                .map_err(db("record a migration"))?;
        }
        Ok(schema.latest())
    }};
}

/// Brings an SQLite database up to `schema` in the caller's transaction
/// (open it with `BEGIN IMMEDIATE` so that one process migrates at a
/// time); `now` is recorded as the time of each migration applied. Returns
/// the version reached.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub async fn apply_sqlite(
    conn: &mut sqlx::SqliteConnection,
    schema: &Schema,
    now: i64,
) -> Result<i64, MigrateError> {
    run!(
        conn,
        schema,
        now,
        "CREATE TABLE IF NOT EXISTS {t} (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL, checksum TEXT)",
        "SELECT COUNT(*) FROM pragma_table_info('{t}') WHERE name = 'checksum'",
        "ALTER TABLE {t} ADD COLUMN checksum TEXT",
        "UPDATE {t} SET checksum = ?1 WHERE version = ?2",
        "INSERT INTO {t} (version, applied_at, checksum) VALUES (?1, ?2, ?3)"
    )
}

/// Brings a PostgreSQL database up to `schema` in the caller's transaction
/// (which holds the store's advisory lock, so that one process migrates at
/// a time); `now` is recorded as the time of each migration applied.
/// Returns the version reached.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub async fn apply_postgres(
    conn: &mut sqlx::PgConnection,
    schema: &Schema,
    now: i64,
) -> Result<i64, MigrateError> {
    run!(
        conn,
        schema,
        now,
        "CREATE TABLE IF NOT EXISTS {t} (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL, checksum TEXT)",
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = '{t}' \
         AND column_name = 'checksum' AND table_schema = current_schema()",
        "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS checksum TEXT",
        "UPDATE {t} SET checksum = $1 WHERE version = $2",
        "INSERT INTO {t} (version, applied_at, checksum) VALUES ($1, $2, $3)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema {
        table: "t_migrations",
        migrations: &["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)"],
    };

    #[test]
    fn recorded_versions_are_checked_against_the_build() {
        let a = checksum(SCHEMA.migrations[0]);
        assert_eq!(check(&SCHEMA, vec![]).unwrap(), (0, vec![]));
        assert_eq!(
            check(&SCHEMA, vec![(1, Some(a.clone())), (2, None)]).unwrap(),
            (2, vec![(2, checksum(SCHEMA.migrations[1]))])
        );
        assert!(matches!(
            check(&SCHEMA, vec![(1, Some("0".repeat(64)))]),
            Err(MigrateError::Changed { version: 1, .. })
        ));
        assert!(matches!(
            check(&SCHEMA, vec![(1, Some(a)), (3, None)]),
            Err(MigrateError::TooNew {
                found: 3,
                supported: 2,
                ..
            })
        ));
        assert_eq!(SCHEMA.up_to(1).latest(), 1);
        assert_eq!(SCHEMA.up_to(9).latest(), 2);
    }
}

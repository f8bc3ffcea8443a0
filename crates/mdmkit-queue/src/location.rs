//! Opening a store from a location string (`sqlite:PATH`,
//! `postgres://...`, `memory`), for command-line tools and configuration
//! files.

use std::collections::BTreeMap;
#[cfg(feature = "sqlite")]
use std::path::PathBuf;

use async_trait::async_trait;
use mdmkit_core::TenantId;

use crate::error::QueueError;
use crate::ids::{CommandId, EnrollmentId};
use crate::memory::MemoryStore;
use crate::model::{
    DeliverOptions, Delivered, Enqueued, HistoryEvent, NewCommand, QueueEntry, Report,
    ReportOutcome, StateCounts,
};
use crate::store::QueueStore;
use crate::time::Timestamp;

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLocation {
    /// In memory (`memory`).
    Memory,
    /// An SQLite file (`sqlite:PATH`).
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://...` or `postgresql://...`).
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    Postgres(String),
}

impl StoreLocation {
    /// Parses a location string.
    pub fn parse(s: &str) -> Result<Self, QueueError> {
        let bad = |reason: &str| QueueError::InvalidLocation {
            location: s.chars().take(200).collect(),
            reason: reason.into(),
        };
        if s == "memory" {
            return Ok(StoreLocation::Memory);
        }
        if let Some(path) = s.strip_prefix("sqlite:") {
            #[cfg(feature = "sqlite")]
            {
                let path = path.strip_prefix("//").unwrap_or(path);
                if path.is_empty() {
                    return Err(bad("the sqlite path is empty"));
                }
                return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
            }
            #[cfg(not(feature = "sqlite"))]
            {
                let _ = path;
                return Err(bad("this build has no sqlite support (feature `sqlite`)"));
            }
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            return Ok(StoreLocation::Postgres(s.to_owned()));
            #[cfg(not(feature = "postgres"))]
            return Err(bad(
                "this build has no postgresql support (feature `postgres`)",
            ));
        }
        Err(bad("expected sqlite:PATH, postgres://... or memory"))
    }
}

/// Any of the stores, chosen at run time (the command line's `--store`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnyStore {
    /// In memory.
    Memory(MemoryStore),
    /// SQLite.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    Sqlite(crate::sqlite::SqliteStore),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    Postgres(crate::postgres::PostgresStore),
}

impl AnyStore {
    /// Opens (and migrates) the store at `location` with default options;
    /// an SQLite file's directory is created.
    pub async fn open(location: &StoreLocation) -> Result<Self, QueueError> {
        match location {
            StoreLocation::Memory => Ok(AnyStore::Memory(MemoryStore::new())),
            #[cfg(feature = "sqlite")]
            StoreLocation::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| QueueError::Io {
                        path: dir.display().to_string(),
                        source: e,
                    })?;
                }
                let opts = crate::sqlite::SqliteOptions::new(path);
                Ok(AnyStore::Sqlite(
                    crate::sqlite::SqliteStore::open(opts).await?,
                ))
            }
            #[cfg(feature = "postgres")]
            StoreLocation::Postgres(url) => {
                let opts = crate::postgres::PostgresOptions::new(url.clone());
                Ok(AnyStore::Postgres(
                    crate::postgres::PostgresStore::open(opts).await?,
                ))
            }
        }
    }

    fn inner(&self) -> &dyn QueueStore {
        match self {
            AnyStore::Memory(s) => s,
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite(s) => s,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres(s) => s,
        }
    }
}

#[async_trait]
impl QueueStore for AnyStore {
    async fn enqueue(
        &self,
        tenant: &TenantId,
        command: &NewCommand,
        targets: &[EnrollmentId],
    ) -> Result<Enqueued, QueueError> {
        self.inner().enqueue(tenant, command, targets).await
    }
    async fn enqueue_batch(
        &self,
        tenant: &TenantId,
        batch: &[(NewCommand, Vec<EnrollmentId>)],
    ) -> Result<Vec<Enqueued>, QueueError> {
        self.inner().enqueue_batch(tenant, batch).await
    }
    async fn deliver(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        opts: &DeliverOptions,
    ) -> Result<Vec<Delivered>, QueueError> {
        self.inner().deliver(tenant, enrollment, opts).await
    }
    async fn report(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: CommandId,
        report: &Report,
    ) -> Result<ReportOutcome, QueueError> {
        self.inner()
            .report(tenant, enrollment, command, report)
            .await
    }
    async fn idle(&self, tenant: &TenantId, enrollment: &EnrollmentId) -> Result<(), QueueError> {
        self.inner().idle(tenant, enrollment).await
    }
    async fn cancel(&self, tenant: &TenantId, command: CommandId) -> Result<u64, QueueError> {
        self.inner().cancel(tenant, command).await
    }
    async fn clear_enrollment(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<u64, QueueError> {
        self.inner().clear_enrollment(tenant, enrollment).await
    }
    async fn list(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<Vec<QueueEntry>, QueueError> {
        self.inner().list(tenant, enrollment).await
    }
    async fn history(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: Option<CommandId>,
    ) -> Result<Vec<HistoryEvent>, QueueError> {
        self.inner().history(tenant, enrollment, command).await
    }
    async fn counts(&self, tenant: &TenantId) -> Result<StateCounts, QueueError> {
        self.inner().counts(tenant).await
    }
    async fn pending_enrollments(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<EnrollmentId>, QueueError> {
        self.inner().pending_enrollments(tenant).await
    }
    async fn counts_by_tenant(&self) -> Result<BTreeMap<TenantId, StateCounts>, QueueError> {
        self.inner().counts_by_tenant().await
    }
    async fn purge(&self, tenant: &TenantId, before: Timestamp) -> Result<u64, QueueError> {
        self.inner().purge(tenant, before).await
    }
    // The combined calls too: their defaults would give up the backends'
    // one-transaction versions.
    async fn next(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
    ) -> Result<Option<Delivered>, QueueError> {
        self.inner().next(tenant, enrollment).await
    }
    async fn report_and_next(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        command: CommandId,
        report: &Report,
    ) -> Result<(ReportOutcome, Option<Delivered>), QueueError> {
        self.inner()
            .report_and_next(tenant, enrollment, command, report)
            .await
    }
    async fn next_batch(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        max: usize,
    ) -> Result<Vec<Delivered>, QueueError> {
        self.inner().next_batch(tenant, enrollment, max).await
    }
    async fn report_all_and_next_batch(
        &self,
        tenant: &TenantId,
        enrollment: &EnrollmentId,
        reports: &[(CommandId, Report)],
        max: usize,
    ) -> Result<(Vec<Result<ReportOutcome, QueueError>>, Vec<Delivered>), QueueError> {
        self.inner()
            .report_all_and_next_batch(tenant, enrollment, reports, max)
            .await
    }
}

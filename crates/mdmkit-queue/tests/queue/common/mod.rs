//! Opening each backend for the shared test suites.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mdmkit_core::{DeviceId, TenantId};
use mdmkit_queue::{EnrollmentId, ManualClock, MemoryStore, QueueStore, Timestamp};

/// A store under test and the clock it reads.
pub struct Harness {
    pub store: Box<dyn QueueStore>,
    pub clock: ManualClock,
    _dir: Option<tempfile::TempDir>,
}

pub const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

pub fn memory() -> Harness {
    let clock = ManualClock::new(START);
    Harness {
        store: Box::new(MemoryStore::with_clock(Arc::new(clock.clone()))),
        clock,
        _dir: None,
    }
}

#[cfg(feature = "sqlite")]
pub async fn sqlite() -> Harness {
    use mdmkit_queue::{SqliteOptions, SqliteStore, Synchronous};
    let clock = ManualClock::new(START);
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteOptions::new(dir.path().join("q.db"))
        .with_synchronous(Synchronous::Normal)
        .with_clock(Arc::new(clock.clone()));
    Harness {
        store: Box::new(SqliteStore::open(opts).await.unwrap()),
        clock,
        _dir: Some(dir),
    }
}

/// The throwaway server's URL. A missing server fails the test (a test
/// whose server is missing never passes): run through `scripts/test`.
/// (An `Option` still, for the harness builders that chain it; never
/// `None`.)
pub fn postgres_url() -> Option<String> {
    match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => panic!(
            "MDMKIT_TEST_POSTGRES_URL is unset: run the tests through scripts/test \
             (or `bash -c '. scripts/lib.sh; start_throwaway_postgres; cargo test ...'`)"
        ),
    }
}

/// A fresh schema name, unique within this run.
pub fn fresh_schema(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "t_{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

#[cfg(feature = "postgres")]
pub async fn postgres() -> Option<Harness> {
    use mdmkit_queue::{PostgresOptions, PostgresStore};
    let url = postgres_url()?;
    let clock = ManualClock::new(START);
    let opts = PostgresOptions::new(url)
        .with_schema(fresh_schema("conf"))
        .with_clock(Arc::new(clock.clone()))
        .with_max_connections(4);
    Some(Harness {
        store: Box::new(PostgresStore::open(opts).await.unwrap()),
        clock,
        _dir: None,
    })
}

pub fn tenant(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

pub fn dev(s: &str) -> EnrollmentId {
    EnrollmentId::device(DeviceId::new(s).unwrap())
}

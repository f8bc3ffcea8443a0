//! Device management sessions (OMA-DM) in every state store: read back as
//! written, written only at the version the writer read (of two handles
//! racing on one database, one wins), and kept per tenant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mdmkit::queue::Timestamp;
use mdmkit::state::{DeviceSession, MemoryState, SqliteState, StateStore};
use mdmkit::{DeviceId, TenantId};

async fn contract(a: Arc<dyn StateStore>, b: Arc<dyn StateStore>, tag: &str) {
    let tenant = TenantId::new(format!("ses-{tag}")).unwrap();
    let other = TenantId::new(format!("ses-{tag}-other")).unwrap();
    let dev = DeviceId::new("PC-1").unwrap();
    assert!(a.session(&tenant, &dev).await.unwrap().is_none());

    let first = DeviceSession::new(
        dev.clone(),
        1,
        Timestamp::from_millis(1),
        "{\"n\":1}".into(),
    );
    assert!(a.put_session(&tenant, &first, None).await.unwrap());
    // A second insert (another process that read nothing) loses.
    assert!(!b.put_session(&tenant, &first, None).await.unwrap());
    assert_eq!(b.session(&tenant, &dev).await.unwrap(), Some(first.clone()));
    assert!(b.session(&other, &dev).await.unwrap().is_none());

    // Both read version 1; the first writer wins, the second is refused.
    let from_a = DeviceSession::new(dev.clone(), 2, Timestamp::from_millis(2), "a".into());
    let from_b = DeviceSession::new(dev.clone(), 2, Timestamp::from_millis(3), "b".into());
    let (wa, wb) = tokio::join!(
        a.put_session(&tenant, &from_a, Some(1)),
        b.put_session(&tenant, &from_b, Some(1))
    );
    let (wa, wb) = (wa.unwrap(), wb.unwrap());
    assert!(wa ^ wb, "exactly one writer wins: {wa} {wb}");
    let stored = a.session(&tenant, &dev).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.state, if wa { "a" } else { "b" });
    // A stale writer stays refused.
    assert!(!a.put_session(&tenant, &from_a, Some(1)).await.unwrap());
}

#[tokio::test]
async fn device_sessions_in_memory() {
    let s: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    contract(s.clone(), s, "mem").await;
}

#[tokio::test]
async fn device_sessions_on_sqlite_from_two_handles() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("state.db");
    let a: Arc<dyn StateStore> = Arc::new(SqliteState::open(&path).await.unwrap());
    let b: Arc<dyn StateStore> = Arc::new(SqliteState::open(&path).await.unwrap());
    contract(a, b, "sqlite").await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn device_sessions_on_postgres_from_two_handles() {
    use mdmkit::state::PostgresState;
    let url = match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!("MDMKIT_TEST_POSTGRES_URL is unset: run ./scripts/test"),
    };
    let a: Arc<dyn StateStore> = Arc::new(PostgresState::open(&url).await.unwrap());
    let b: Arc<dyn StateStore> = Arc::new(PostgresState::open(&url).await.unwrap());
    let tag = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    contract(a, b, &tag).await;
}

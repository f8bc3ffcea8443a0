//! Push certificates and per-device push state in every state store: read
//! back as written from another handle (another process on the same
//! database), a new certificate replacing the old one and its alert, an
//! alert only recorded against the certificate it is about.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mdmkit::push::{PushAlert, PushState, StoredPushCertificate};
use mdmkit::queue::Timestamp;
use mdmkit::state::{MemoryState, SqliteState, StateStore};
use mdmkit::{DeviceId, TenantId};

fn cert(sha: &str, topic: &str) -> StoredPushCertificate {
    StoredPushCertificate::new(
        topic.into(),
        format!("UID={topic}"),
        sha.into(),
        Timestamp::from_millis(9_000),
        "-----BEGIN CERTIFICATE-----".into(),
        "-----BEGIN PRIVATE KEY-----".into(),
        Timestamp::from_millis(1),
        "cli".into(),
    )
}

async fn contract(a: Arc<dyn StateStore>, b: Arc<dyn StateStore>, tag: &str) {
    let tenant = TenantId::new(format!("push-{tag}")).unwrap();
    let other = TenantId::new(format!("push-{tag}-other")).unwrap();
    assert!(a.push_certificate(&tenant).await.unwrap().is_none());

    a.put_push_certificate(&tenant, &cert("aa", "topic.1"))
        .await
        .unwrap();
    let alert = PushAlert::new("BadCertificate".into(), Timestamp::from_millis(5));
    // An alert about another certificate is not recorded.
    b.set_push_alert(&tenant, "zz", Some(&alert)).await.unwrap();
    assert_eq!(
        b.push_certificate(&tenant).await.unwrap().unwrap().alert,
        None
    );
    b.set_push_alert(&tenant, "aa", Some(&alert)).await.unwrap();
    let got = a.push_certificate(&tenant).await.unwrap().unwrap();
    assert_eq!(got.topic, "topic.1");
    assert_eq!(got.key_pem, "-----BEGIN PRIVATE KEY-----");
    assert_eq!(got.alert, Some(alert));
    assert!(a.push_certificate(&other).await.unwrap().is_none());

    // A new certificate replaces the old one and clears the alert.
    b.put_push_certificate(&tenant, &cert("bb", "topic.1"))
        .await
        .unwrap();
    let got = a.push_certificate(&tenant).await.unwrap().unwrap();
    assert_eq!((got.sha256.as_str(), got.alert), ("bb", None));

    let mut s1 = PushState::new(DeviceId::new("ipad-1").unwrap());
    s1.attempts = 2;
    s1.last_push = Some(Timestamp::from_millis(7));
    let s2 = PushState::new(DeviceId::new("ipad-2").unwrap());
    a.put_push_states(&tenant, &[s2.clone(), s1.clone()])
        .await
        .unwrap();
    assert_eq!(
        b.push_states(&tenant).await.unwrap(),
        vec![s1.clone(), s2.clone()]
    );
    s1.attempts = 3;
    b.put_push_states(&tenant, &[s1.clone()]).await.unwrap();
    assert_eq!(a.push_states(&tenant).await.unwrap()[0].attempts, 3);
    assert!(a.push_states(&other).await.unwrap().is_empty());
    a.put_push_states(&tenant, &[]).await.unwrap();
}

#[tokio::test]
async fn push_state_in_memory() {
    let s: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    contract(s.clone(), s, "mem").await;
}

#[tokio::test]
async fn push_state_on_sqlite_from_two_handles() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("state.db");
    let a: Arc<dyn StateStore> = Arc::new(SqliteState::open(&path).await.unwrap());
    let b: Arc<dyn StateStore> = Arc::new(SqliteState::open(&path).await.unwrap());
    contract(a, b, "sqlite").await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn push_state_on_postgres_from_two_handles() {
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

//! Enrollment challenges and issued certificates in every state store
//! (memory, SQLite, PostgreSQL): a one-time challenge is spent once, even
//! by two stores racing on one database; an expired, unknown or other
//! tenant's challenge is refused with its reason; a reusable one works
//! until it expires; issued certificates are found by hash and listed by
//! expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use mdmkit::TenantId;
use mdmkit::challenge::{self, ChallengeOptions, IssuedCertificate, Refusal};
use mdmkit::queue::Timestamp;
use mdmkit::state::{MemoryState, SqliteState, StateStore};
use proptest::prelude::*;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// What every store must do; `a` and `b` are two handles on one store
/// (two processes on one database), `tag` makes the tenants unique.
async fn contract(a: Arc<dyn StateStore>, b: Arc<dyn StateStore>, tag: &str) {
    let tenant = TenantId::new(format!("ch-{tag}")).unwrap();
    let other = TenantId::new(format!("ch-{tag}-other")).unwrap();
    let now = at(1_000_000);
    let once = challenge::issue(
        tenant.clone(),
        "school".parse().unwrap(),
        ChallengeOptions::default()
            .with_ttl(Duration::from_secs(60))
            .for_device("SER1"),
        now,
    );
    a.put_challenge(&once.challenge).await.unwrap();
    let hash = challenge::digest(&once.secret);

    // Another tenant does not know it.
    assert_eq!(
        b.spend_challenge(&other, &hash, now).await.unwrap(),
        Err(Refusal::Unknown)
    );
    // Two handles race: exactly one spends it.
    let (x, y) = tokio::join!(
        a.spend_challenge(&tenant, &hash, now),
        b.spend_challenge(&tenant, &hash, now)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(x.is_ok() ^ y.is_ok(), "{x:?} {y:?}");
    let spent = x.or(y).unwrap();
    assert_eq!(spent.node, "school".parse().unwrap());
    assert_eq!(spent.device.as_deref(), Some("SER1"));
    assert_eq!(spent.used_at, Some(now));
    assert_eq!(
        a.spend_challenge(&tenant, &hash, now).await.unwrap(),
        Err(Refusal::Used)
    );
    assert_eq!(
        a.spend_challenge(&tenant, &challenge::digest("guess"), now)
            .await
            .unwrap(),
        Err(Refusal::Unknown)
    );

    // Expiry.
    let late = challenge::issue(
        tenant.clone(),
        "school".parse().unwrap(),
        ChallengeOptions::default().with_ttl(Duration::from_secs(1)),
        now,
    );
    a.put_challenge(&late.challenge).await.unwrap();
    assert_eq!(
        b.spend_challenge(&tenant, &late.challenge.sha256, at(1_001_000))
            .await
            .unwrap(),
        Err(Refusal::Expired)
    );

    // Reusable: until it expires.
    let shared = challenge::issue(
        tenant.clone(),
        "town".parse().unwrap(),
        ChallengeOptions::default()
            .with_ttl(Duration::from_secs(10))
            .reusable(),
        now,
    );
    a.put_challenge(&shared.challenge).await.unwrap();
    for i in 0..3 {
        let c = b
            .spend_challenge(&tenant, &shared.challenge.sha256, at(1_000_000 + i))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.used_at, Some(at(1_000_000 + i)));
    }
    assert_eq!(
        b.spend_challenge(&tenant, &shared.challenge.sha256, at(1_010_000))
            .await
            .unwrap(),
        Err(Refusal::Expired)
    );

    // Listing: with the spend time, never the secret.
    let all = a.challenges(&tenant).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(
        all.iter()
            .any(|c| c.sha256 == hash && c.used_at == Some(now))
    );
    assert!(a.challenges(&other).await.unwrap().is_empty());

    // Issued certificates.
    for (i, days) in [(1, 40), (2, 10), (3, 20)] {
        let c = IssuedCertificate::new(
            tenant.clone(),
            format!("{i:064x}"),
            "school".parse().unwrap(),
            format!("{i:x}"),
            format!("dev-{i}"),
            now,
            at(now.as_millis() + days * 86_400_000),
        )
        .with_challenge(spent.id.clone());
        a.put_issued_certificate(&c).await.unwrap();
    }
    let one = b
        .issued_certificate(&tenant, &format!("{:064x}", 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.device_id, "dev-1");
    assert_eq!(one.challenge.as_deref(), Some(spent.id.as_str()));
    assert!(
        b.issued_certificate(&other, &format!("{:064x}", 1))
            .await
            .unwrap()
            .is_none()
    );
    let soon: Vec<String> = b
        .expiring_certificates(&tenant, at(now.as_millis() + 30 * 86_400_000))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.device_id)
        .collect();
    assert_eq!(soon, ["dev-2", "dev-3"]);
}

#[tokio::test]
async fn challenges_in_memory() {
    let s: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    contract(s.clone(), s, "mem").await;
}

#[tokio::test]
async fn challenges_on_sqlite_from_two_handles() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("state.db");
    let a: Arc<dyn StateStore> = Arc::new(SqliteState::open(&path).await.unwrap());
    let b: Arc<dyn StateStore> = Arc::new(SqliteState::open(&path).await.unwrap());
    contract(a, b, "sqlite").await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn challenges_on_postgres_from_two_handles() {
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

proptest! {
    /// A stored challenge reads back as written, in every store that
    /// keeps documents (SQLite here; memory keeps the value itself).
    #[test]
    fn a_challenge_reads_back_as_written(
        ttl in 0u64..1_000_000,
        reusable: bool,
        device in proptest::option::of("[ -~]{0,20}"),
        label in proptest::option::of("[ -~]{0,20}|é€😀"),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let tmp = tempfile::tempdir().unwrap();
            let s = SqliteState::open(tmp.path().join("s.db")).await.unwrap();
            let mut o = ChallengeOptions::default().with_ttl(Duration::from_secs(ttl));
            if reusable { o = o.reusable(); }
            if let Some(d) = device { o = o.for_device(d); }
            if let Some(l) = label { o = o.with_label(l); }
            let c = challenge::issue(TenantId::new("t").unwrap(), "n".parse().unwrap(), o, at(7)).challenge;
            s.put_challenge(&c).await.unwrap();
            let back = s.challenges(&c.tenant).await.unwrap();
            prop_assert_eq!(back, vec![c]);
            Ok(())
        })?;
    }
}

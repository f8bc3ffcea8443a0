#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The state stores' conformance suite: what every `StateStore` promises,
//! checked alike on memory, SQLite and PostgreSQL (an integrator's own
//! store can run the same function). Enrollments, tokens, challenges,
//! sessions and push state have suites of their own (`inventory.rs`,
//! `challenge.rs`, `device_session.rs`, `push_state.rs`); this one covers
//! the reconciler's state: records, contents, compliance, policies,
//! retries, per-node counts, journal heads, and tenant isolation.

use std::collections::BTreeSet;
use std::sync::Arc;

use mdmkit::audit::JournalHead;
use mdmkit::policy::{Category, ContentHash, Settings};
use mdmkit::queue::{CommandId, Timestamp};
use mdmkit::state::{
    AuditHeads, CategoryState, ComplianceState, DeviceRecord, MemoryState, SqliteState, StateBatch,
    StateStore,
};
use mdmkit::{DeviceId, Platform, TenantId};

fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

fn record(platform: Platform, content: u8, node: &str) -> DeviceRecord {
    DeviceRecord::new(platform, ContentHash([content; 32]), ContentHash([0; 32]))
        .with_node(node.parse().unwrap())
}

fn category(c: Category, state: ComplianceState, at: i64) -> CategoryState {
    let mut s = CategoryState::pending(
        c,
        &ContentHash([9; 32]),
        vec![CommandId::new()],
        Timestamp::from_millis(at),
    );
    s.state = state;
    s
}

/// Everything a state store must do, on a tenant named after `tag`.
async fn conformance(s: &dyn StateStore, tag: &str) {
    let t = TenantId::new(format!("{tag}-a")).unwrap();
    let other = TenantId::new(format!("{tag}-b")).unwrap();
    let (a, b, c) = (dev("ipad-a"), dev("pc-b"), dev("tab-c"));

    // An empty tenant reads as empty everywhere.
    assert!(s.device_records(&t).await.unwrap().is_empty());
    assert!(s.compliance(&t, None).await.unwrap().is_empty());
    assert!(s.policy_hashes(&t).await.unwrap().is_empty());
    assert!(s.node_counts(&t).await.unwrap().is_empty());
    assert_eq!(s.audit_heads(&t).await.unwrap(), None);
    assert_eq!(s.content(&t, &ContentHash([1; 32])).await.unwrap(), None);
    s.commit(&t, &StateBatch::default()).await.unwrap();

    // Records, contents, compliance and policies in one batch.
    let settings = Settings::default();
    let mut batch = StateBatch::default();
    batch
        .contents
        .push((ContentHash([1; 32]), settings.clone()));
    batch
        .devices
        .push((a.clone(), record(Platform::Apple, 1, "school-1")));
    batch
        .devices
        .push((b.clone(), record(Platform::Windows, 1, "school-1")));
    batch
        .devices
        .push((c.clone(), record(Platform::Android, 1, "school-2")));
    batch.compliance.push((
        a.clone(),
        category(Category::Passcode, ComplianceState::Verified, 1),
    ));
    batch.compliance.push((
        a.clone(),
        category(Category::Wifi, ComplianceState::Failed, 1),
    ));
    batch.compliance.push((
        b.clone(),
        category(Category::Passcode, ComplianceState::Sent, 1),
    ));
    batch.policies.push(("floor".into(), Some("ab".repeat(32))));
    batch
        .policies
        .push(("school".into(), Some("cd".repeat(32))));
    s.commit(&t, &batch).await.unwrap();

    let records = s.device_records(&t).await.unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[&a], record(Platform::Apple, 1, "school-1"));
    let some = s
        .device_records_of(&t, &[c.clone(), dev("ghost")])
        .await
        .unwrap();
    assert_eq!(
        some.keys().collect::<Vec<_>>(),
        [&c],
        "only the devices asked for"
    );
    assert_eq!(
        s.content(&t, &ContentHash([1; 32])).await.unwrap(),
        Some(settings)
    );

    let mine = s.compliance(&t, Some(&a)).await.unwrap();
    let cats: BTreeSet<Category> = mine.iter().map(|(_, s)| s.category).collect();
    assert_eq!(cats, BTreeSet::from([Category::Passcode, Category::Wifi]));
    assert!(mine.iter().all(|(d, _)| d == &a));
    assert_eq!(s.compliance(&t, None).await.unwrap().len(), 3);
    let of = s
        .compliance_of(&t, &[b.clone(), a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(of.len(), 3, "each device once, its rows only: {of:?}");
    assert!(of.iter().all(|(d, _)| d == &a || d == &b));
    let policies = s.policy_hashes(&t).await.unwrap();
    assert_eq!(policies.get("floor"), Some(&"ab".repeat(32)));

    // Overall states: the worst category; a device without rows has none.
    let states: std::collections::HashMap<_, _> =
        s.device_states(&t).await.unwrap().into_iter().collect();
    assert_eq!(states.get(&a), Some(&ComplianceState::Failed));
    assert_eq!(states.get(&b), Some(&ComplianceState::Sent));
    assert_eq!(states.get(&c), None);
    let mut counts: Vec<(String, Platform, Option<ComplianceState>, u64)> = s
        .node_counts(&t)
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.node.to_string(), n.platform, n.state, n.devices))
        .collect();
    counts.sort_by(|x, y| format!("{x:?}").cmp(&format!("{y:?}")));
    let mut expected = vec![
        (
            "school-1".to_owned(),
            Platform::Apple,
            Some(ComplianceState::Failed),
            1,
        ),
        (
            "school-1".to_owned(),
            Platform::Windows,
            Some(ComplianceState::Sent),
            1,
        ),
        ("school-2".to_owned(), Platform::Android, None, 1),
    ];
    expected.sort_by(|x, y| format!("{x:?}").cmp(&format!("{y:?}")));
    assert_eq!(counts, expected);

    // Retries: failed rows whose time has come.
    let mut retry = category(Category::Wifi, ComplianceState::Failed, 2);
    retry.next_retry = Some(Timestamp::from_millis(100));
    retry.attempts = 1;
    let mut batch = StateBatch::default();
    batch.compliance.push((a.clone(), retry));
    s.commit(&t, &batch).await.unwrap();
    assert!(
        s.due_retries(&t, Timestamp::from_millis(99))
            .await
            .unwrap()
            .is_empty()
    );
    let due = s
        .due_retries(&t, Timestamp::from_millis(100))
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (&due[0].0, due[0].1.category, due[0].1.attempts),
        (&a, Category::Wifi, 1)
    );

    // A row replaced, a category cleared, a policy removed, a device moved
    // and its overall state follows.
    let mut batch = StateBatch::default();
    batch.compliance.push((
        a.clone(),
        category(Category::Wifi, ComplianceState::Verified, 3),
    ));
    batch.cleared.push((b.clone(), Category::Passcode));
    batch.policies.push(("school".into(), None));
    batch
        .devices
        .push((b.clone(), record(Platform::Windows, 2, "school-2")));
    s.commit(&t, &batch).await.unwrap();
    let states: std::collections::HashMap<_, _> =
        s.device_states(&t).await.unwrap().into_iter().collect();
    assert_eq!(states.get(&a), Some(&ComplianceState::Verified));
    assert_eq!(states.get(&b), None, "its only row was cleared");
    assert!(!s.policy_hashes(&t).await.unwrap().contains_key("school"));
    assert_eq!(
        s.device_records(&t).await.unwrap()[&b]
            .node
            .as_ref()
            .map(ToString::to_string),
        Some("school-2".to_owned())
    );
    let at_2: u64 = s
        .node_counts(&t)
        .await
        .unwrap()
        .iter()
        .filter(|n| n.node.to_string() == "school-2")
        .map(|n| n.devices)
        .sum();
    assert_eq!(at_2, 2);
    assert!(
        s.due_retries(&t, Timestamp::from_millis(1000))
            .await
            .unwrap()
            .is_empty()
    );

    // A removed device takes its compliance rows with it.
    let mut batch = StateBatch::default();
    batch.removed.push(a.clone());
    s.commit(&t, &batch).await.unwrap();
    assert!(!s.device_records(&t).await.unwrap().contains_key(&a));
    assert!(s.compliance(&t, Some(&a)).await.unwrap().is_empty());

    // Journal heads only move forward, each on its own.
    let mut batch = StateBatch::default();
    batch.audit = Some(AuditHeads::new(JournalHead::new(10, "a".repeat(64)), None));
    s.commit(&t, &batch).await.unwrap();
    batch.audit = Some(AuditHeads::new(JournalHead::new(7, "b".repeat(64)), None));
    s.commit(&t, &batch).await.unwrap();
    let heads = s.audit_heads(&t).await.unwrap().unwrap();
    assert_eq!(
        (heads.head.seq, heads.head.hash.as_str()),
        (10, "a".repeat(64).as_str())
    );

    // Nothing of `t` is visible under another tenant, nor changed by it.
    let mut batch = StateBatch::default();
    batch
        .devices
        .push((c.clone(), record(Platform::Android, 5, "elsewhere")));
    batch.policies.push(("floor".into(), Some("ef".repeat(32))));
    s.commit(&other, &batch).await.unwrap();
    assert_eq!(s.device_records(&other).await.unwrap().len(), 1);
    assert!(s.compliance(&other, None).await.unwrap().is_empty());
    assert_eq!(
        s.content(&other, &ContentHash([1; 32])).await.unwrap(),
        None
    );
    assert_eq!(s.audit_heads(&other).await.unwrap(), None);
    assert_eq!(
        s.policy_hashes(&t).await.unwrap().get("floor"),
        Some(&"ab".repeat(32))
    );
    assert_eq!(
        s.device_records(&t).await.unwrap()[&c],
        record(Platform::Android, 1, "school-2")
    );
}

#[tokio::test]
async fn the_memory_state_store_conforms() {
    conformance(&MemoryState::new(), "mem").await;
}

#[tokio::test]
async fn the_sqlite_state_store_conforms() {
    let tmp = tempfile::tempdir().unwrap();
    let s = SqliteState::open(tmp.path().join("s.db")).await.unwrap();
    conformance(&s, "lite").await;
    // And again through a second handle on the same file: nothing was
    // held in the first handle's memory.
    let again: Arc<dyn StateStore> =
        Arc::new(SqliteState::open(tmp.path().join("s.db")).await.unwrap());
    assert_eq!(
        again
            .device_records(&TenantId::new("lite-a").unwrap())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_postgres_state_store_conforms() {
    let url = std::env::var("MDMKIT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("MDMKIT_TEST_POSTGRES_URL is unset: run the tests through scripts/test");
    let s = mdmkit::state::PostgresState::open(&url).await.unwrap();
    let tag = format!(
        "pgc-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    conformance(&s, &tag).await;
}

/// One device's part of a generated batch: whether it gets a record, and
/// per category nothing, a cleared row, or a row in a state.
type DevicePart = (bool, Vec<Option<Option<ComplianceState>>>);

fn device_part() -> impl proptest::strategy::Strategy<Value = DevicePart> {
    use proptest::prelude::*;
    let state = prop_oneof![
        Just(ComplianceState::Pending),
        Just(ComplianceState::Sent),
        Just(ComplianceState::Verified),
        Just(ComplianceState::Failed),
        Just(ComplianceState::Unsupported),
    ];
    // Either every category written or cleared (the SQLite store then
    // computes the overall state from the batch alone), or any mix.
    let every = proptest::collection::vec(proptest::option::of(state.clone()).prop_map(Some), 10);
    let some = proptest::collection::vec(proptest::option::of(proptest::option::of(state)), 10);
    (any::<bool>(), prop_oneof![every, some])
}

fn batch_of(parts: &[DevicePart], at: i64) -> StateBatch {
    let mut batch = StateBatch::default();
    for (i, (recorded, cats)) in parts.iter().enumerate() {
        let d = dev(&format!("dev-{i}"));
        if *recorded {
            batch
                .devices
                .push((d.clone(), record(Platform::Apple, i as u8, "school-1")));
        }
        for (c, part) in Category::ALL.iter().zip(cats) {
            match part {
                None => {}
                Some(None) => batch.cleared.push((d.clone(), *c)),
                Some(Some(s)) => batch.compliance.push((d.clone(), category(*c, *s, at))),
            }
        }
    }
    batch
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
        mdmkit::core::proptest_cases(48)
    ))]

    /// The per-node counts of the SQLite store (each device's overall state
    /// kept in a column, from the batch alone when the batch covers every
    /// category of the device, else from its stored rows) equal the counts
    /// computed from every compliance row, after any sequence of batches.
    #[test]
    fn sqlite_node_counts_follow_every_batch(
        batches in proptest::collection::vec(proptest::collection::vec(device_part(), 3), 1..4)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let tmp = tempfile::tempdir().unwrap();
            let lite = SqliteState::open(tmp.path().join("s.db")).await.unwrap();
            let mem = MemoryState::new();
            let t = TenantId::new("counts").unwrap();
            for (n, parts) in batches.iter().enumerate() {
                let batch = batch_of(parts, n as i64);
                lite.commit(&t, &batch).await.unwrap();
                mem.commit(&t, &batch).await.unwrap();
                assert_eq!(
                    lite.node_counts(&t).await.unwrap(),
                    mem.node_counts(&t).await.unwrap(),
                    "after batch {n}"
                );
            }
        });
    }
}

//! Per-node counts for consoles: a store's one-row-per-device answer
//! (`device_states`) agrees with the worst of the device's category rows on
//! memory, SQLite and PostgreSQL; a node's counts are its own devices plus
//! its children's; re-sending a device's policy queues it again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mdmkit::policy::{Category, ContentHash, Device, NodeId, Policy, Tenant};
use mdmkit::queue::{MemoryStore, Timestamp};
use mdmkit::state::{
    CategoryState, ComplianceState, MemoryState, SqliteState, StateBatch, StateStore,
};
use mdmkit::{DeviceId, Platform, Reconciler, Scope, TenantId};
use proptest::prelude::*;

fn n(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

fn row(category: Category, state: ComplianceState) -> CategoryState {
    let mut s = CategoryState::pending(
        category,
        &ContentHash([1; 32]),
        Vec::new(),
        Timestamp::from_millis(1),
    );
    s.state = state;
    s
}

fn severity(s: ComplianceState) -> u8 {
    match s {
        ComplianceState::Unsupported => 0,
        ComplianceState::Verified => 1,
        ComplianceState::Sent => 2,
        ComplianceState::Pending => 3,
        _ => 4,
    }
}

/// The reference: each device's worst category, written separately from
/// the facade's ranking.
fn expected(rows: &[(DeviceId, CategoryState)]) -> Vec<(DeviceId, ComplianceState)> {
    let mut m = std::collections::BTreeMap::<DeviceId, ComplianceState>::new();
    for (d, s) in rows {
        let e = m.entry(d.clone()).or_insert(s.state);
        if severity(s.state) > severity(*e) {
            *e = s.state;
        }
    }
    m.into_iter().collect()
}

fn arb_rows() -> impl Strategy<Value = Vec<(usize, usize, usize)>> {
    prop::collection::vec((0usize..6, 0usize..Category::ALL.len(), 0usize..5), 0..30)
}

fn batch_of(rows: &[(usize, usize, usize)]) -> StateBatch {
    // One row per device and category, as a reconcile writes them (the
    // last drawn wins).
    let unique: std::collections::BTreeMap<(usize, usize), usize> =
        rows.iter().map(|&(d, c, s)| ((d, c), s)).collect();
    let mut b = StateBatch::default();
    for ((d, c), s) in unique {
        b.compliance.push((
            dev(&format!("d{d}")),
            row(Category::ALL[c], ComplianceState::ALL[s]),
        ));
    }
    b
}

async fn check_store(
    s: &dyn StateStore,
    t: &TenantId,
    rows: &[(usize, usize, usize)],
) -> Result<(), TestCaseError> {
    // Start from nothing: forget every device of earlier cases.
    let mut clear = StateBatch::default();
    clear.removed = (0..6).map(|d| dev(&format!("d{d}"))).collect();
    s.commit(t, &clear).await.unwrap();
    s.commit(t, &batch_of(rows)).await.unwrap();
    let all = s.compliance(t, None).await.unwrap();
    prop_assert_eq!(s.device_states(t).await.unwrap(), expected(&all));
    Ok(())
}

#[test]
fn a_stores_device_states_are_each_devices_worst_category_on_memory_and_sqlite() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = rt
        .block_on(SqliteState::open(dir.path().join("state.db")))
        .unwrap();
    let memory = MemoryState::new();
    let t = TenantId::new("summary").unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(
        mdmkit::core::proptest_cases(64),
    ));
    runner
        .run(&arb_rows(), |rows| {
            rt.block_on(async {
                check_store(&memory, &t, &rows).await?;
                check_store(&sqlite, &t, &rows).await
            })
        })
        .unwrap();
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_device_states_are_each_devices_worst_category() {
    let url = match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!("MDMKIT_TEST_POSTGRES_URL is unset: run through scripts/test"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pg = rt
        .block_on(mdmkit::state::PostgresState::open(&url))
        .unwrap();
    let t = TenantId::new(format!("summary-{}", std::process::id())).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(
        mdmkit::core::proptest_cases(32),
    ));
    runner
        .run(&arb_rows(), |rows| rt.block_on(check_store(&pg, &t, &rows)))
        .unwrap();
}

/// `region` > `town` > (`school-a` > `class-a`, `school-b`).
fn tenant() -> Tenant {
    let mut t = Tenant::new(TenantId::new("region").unwrap());
    t.add_node(n("town"), &n("region"), None, None).unwrap();
    t.add_node(
        n("school-a"),
        &n("town"),
        Some("École A".into()),
        Some("school".into()),
    )
    .unwrap();
    t.add_node(n("class-a"), &n("school-a"), None, None)
        .unwrap();
    t.add_node(n("school-b"), &n("town"), None, None).unwrap();
    t.set_policy(
        Policy::from_toml("[policy]\nid = \"floor\"\n[passcode]\nmin_length = 6\n").unwrap(),
    );
    t.assign(&n("region"), "floor".parse().unwrap()).unwrap();
    for (d, node, p) in [
        ("ipad-1", "class-a", Platform::Apple),
        ("ipad-2", "class-a", Platform::Apple),
        ("pc-1", "school-a", Platform::Windows),
        ("tab-1", "school-b", Platform::Android),
        ("tab-2", "region", Platform::Android),
    ] {
        t.add_device(Device::new(dev(d), n(node), p)).unwrap();
    }
    t
}

#[tokio::test]
async fn a_nodes_counts_are_its_own_devices_and_its_childrens() {
    let t = tenant();
    let r = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()));
    // Before any reconcile every device is unplanned.
    let s = r.node_summaries(&t, &n("region")).await.unwrap();
    let ids: Vec<&str> = s.iter().map(|s| s.node.as_str()).collect();
    assert_eq!(ids, ["region", "town", "school-a", "class-a", "school-b"]);
    assert_eq!(s[0].devices, 5);
    assert_eq!(s[0].compliance.unplanned, 5);

    r.reconcile(&t, &Scope::All).await.unwrap();
    // One device failed, one verified; the rest stay pending.
    let mut b = StateBatch::default();
    for (d, st) in [
        ("ipad-1", ComplianceState::Failed),
        ("pc-1", ComplianceState::Verified),
    ] {
        for (_, mut c) in r.state().compliance(t.id(), Some(&dev(d))).await.unwrap() {
            c.state = st;
            b.compliance.push((dev(d), c));
        }
    }
    r.state().commit(t.id(), &b).await.unwrap();

    let s = r.node_summaries(&t, &n("town")).await.unwrap();
    let by: std::collections::HashMap<&str, _> = s.iter().map(|s| (s.node.as_str(), s)).collect();
    assert_eq!(s[0].node.as_str(), "town", "the named node first");
    assert!(!by.contains_key("region"), "nothing above the named node");
    let town = by["town"];
    assert_eq!((town.devices, town.own_devices), (4, 0));
    assert_eq!(town.platforms[&Platform::Apple], 2);
    assert_eq!(town.platforms[&Platform::Windows], 1);
    assert_eq!(town.platforms[&Platform::Android], 1);
    assert_eq!(
        (
            town.compliance.failed,
            town.compliance.verified,
            town.compliance.pending
        ),
        (1, 1, 2)
    );
    let school = by["school-a"];
    assert_eq!((school.devices, school.own_devices), (3, 1));
    assert_eq!(school.name.as_deref(), Some("École A"));
    assert_eq!(school.compliance.noncompliant(), 2);
    assert_eq!(by["class-a"].compliance.failed, 1);
    assert_eq!(by["school-b"].devices, 1);
    for s in &s {
        assert_eq!(s.compliance.total(), s.devices, "{}", s.node);
    }
}

#[tokio::test]
async fn resending_a_devices_policy_queues_its_categories_again() {
    let t = tenant();
    let r = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()));
    r.reconcile(&t, &Scope::All).await.unwrap();
    assert_eq!(
        r.reconcile(&t, &Scope::All).await.unwrap().changed_devices,
        0
    );
    let plan = r.resend(&t, &dev("ipad-1")).await.unwrap();
    assert_eq!(plan.devices, 1);
    assert_eq!(plan.changed_devices, 1);
    assert!(!plan.commands.is_empty(), "{plan:?}");
    assert!(r.resend(&t, &dev("nobody")).await.is_err());
}

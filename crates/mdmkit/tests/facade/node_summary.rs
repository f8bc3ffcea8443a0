//! Per-node counts for consoles: a store's one-row-per-device answer
//! (`device_states`), its per-node counts (`node_counts`, from columns the
//! SQL stores maintain on commit) and its reads by device list
//! (`compliance_of`, `device_records_of`) agree with the category rows on
//! memory, SQLite and PostgreSQL; a node's counts are its own devices plus
//! its children's and follow a device that moves; re-sending a device's
//! policy queues it again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mdmkit::policy::{Category, ContentHash, Device, NodeId, Policy, Tenant};
use mdmkit::queue::{MemoryStore, Timestamp};
use mdmkit::state::{
    CategoryState, ComplianceState, DeviceRecord, MemoryState, NodeCount, SqliteState, StateBatch,
    StateStore,
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

/// Device `d`'s node and platform in the drawn cases (device 5 has no
/// record, only compliance rows).
fn placement(d: usize) -> Option<(NodeId, Platform)> {
    (d < 5).then(|| (n(&format!("node-{}", d % 3)), Platform::ALL[d % 3]))
}

fn batch_of(rows: &[(usize, usize, usize)]) -> StateBatch {
    // One row per device and category, as a reconcile writes them (the
    // last drawn wins).
    let unique: std::collections::BTreeMap<(usize, usize), usize> =
        rows.iter().map(|&(d, c, s)| ((d, c), s)).collect();
    let mut b = StateBatch::default();
    let devices: std::collections::BTreeSet<usize> = rows.iter().map(|&(d, _, _)| d).collect();
    for d in devices {
        if let Some((node, platform)) = placement(d) {
            let h = ContentHash([d as u8; 32]);
            b.devices.push((
                dev(&format!("d{d}")),
                DeviceRecord::new(platform, h, h).with_node(node),
            ));
        }
    }
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
    let batch = batch_of(rows);
    s.commit(t, &batch).await.unwrap();
    let all = s.compliance(t, None).await.unwrap();
    let states = expected(&all);
    prop_assert_eq!(s.device_states(t).await.unwrap(), states.clone());

    // Per-node counts: every recorded device at its node, in its worst
    // state (none without rows).
    let mut counts = std::collections::BTreeMap::<(NodeId, Platform, Option<u8>), u64>::new();
    for (d, _) in &batch.devices {
        let i: usize = d.as_str()[1..].parse().unwrap();
        let (node, platform) = placement(i).unwrap();
        let state = states.iter().find(|(x, _)| x == d).map(|(_, s)| *s);
        *counts
            .entry((node, platform, state.map(severity)))
            .or_default() += 1;
    }
    let got: Vec<(NodeId, Platform, Option<u8>, u64)> = s
        .node_counts(t)
        .await
        .unwrap()
        .into_iter()
        .map(|c: NodeCount| (c.node, c.platform, c.state.map(severity), c.devices))
        .collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let want: Vec<_> = counts
        .into_iter()
        .map(|((n, p, s), c)| (n, p, s, c))
        .collect();
    prop_assert_eq!(got_sorted, want);

    // Reads by device list: the rows of those devices, by device and
    // category; the records of those that have one.
    let some: Vec<DeviceId> = [0, 2, 4, 5, 9]
        .iter()
        .map(|d| dev(&format!("d{d}")))
        .collect();
    let mut want: Vec<_> = all
        .iter()
        .filter(|(d, _)| some.contains(d))
        .cloned()
        .collect();
    want.sort_by(|a, b| (&a.0, a.1.category).cmp(&(&b.0, b.1.category)));
    prop_assert_eq!(s.compliance_of(t, &some).await.unwrap(), want);
    let records = s.device_records_of(t, &some).await.unwrap();
    let all_records = s.device_records(t).await.unwrap();
    prop_assert_eq!(
        records.len(),
        all_records.keys().filter(|d| some.contains(d)).count()
    );
    for (d, r) in &records {
        prop_assert_eq!(Some(r), all_records.get(d));
        let i: usize = d.as_str()[1..].parse().unwrap();
        prop_assert_eq!(r.node.clone(), placement(i).map(|(n, _)| n));
    }
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

/// A device moved to another node with the same effective policy: the
/// next reconcile sends it nothing but moves its record, and the per-node
/// counts follow it; until then it counts as unplanned where it now is.
async fn a_moved_device_is_counted_where_it_went(state: Arc<dyn StateStore>) {
    let mut t = tenant();
    let r = Reconciler::new(Arc::new(MemoryStore::new()), state);
    r.reconcile(&t, &Scope::All).await.unwrap();
    let mut b = StateBatch::default();
    for (_, mut c) in r
        .state()
        .compliance(t.id(), Some(&dev("ipad-1")))
        .await
        .unwrap()
    {
        c.state = ComplianceState::Failed;
        b.compliance.push((dev("ipad-1"), c));
    }
    r.state().commit(t.id(), &b).await.unwrap();
    let failed_at = |s: &[mdmkit::reconcile::NodeSummary], node: &str| {
        s.iter()
            .find(|s| s.node.as_str() == node)
            .map(|s| (s.compliance.failed, s.compliance.unplanned))
            .unwrap()
    };
    let s = r.node_summaries(&t, &n("region")).await.unwrap();
    assert_eq!(failed_at(&s, "class-a"), (1, 0));
    assert_eq!(failed_at(&s, "school-b"), (0, 0));

    t.move_device(&dev("ipad-1"), &n("school-b")).unwrap();
    let s = r.node_summaries(&t, &n("region")).await.unwrap();
    assert_eq!(
        failed_at(&s, "class-a"),
        (0, 0),
        "not counted where it left"
    );
    assert_eq!(failed_at(&s, "school-b"), (0, 1), "unplanned where it is");

    let plan = r.reconcile(&t, &Scope::All).await.unwrap();
    assert_eq!(
        (plan.moved_devices, plan.changed_devices, plan.queued),
        (1, 0, 0)
    );
    let s = r.node_summaries(&t, &n("region")).await.unwrap();
    assert_eq!(failed_at(&s, "school-b"), (1, 0));
    assert_eq!(failed_at(&s, "town").0, 1);
    assert_eq!(s[0].compliance.total(), 5);
    let again = r.reconcile(&t, &Scope::All).await.unwrap();
    assert!(again.is_noop(), "{again:?}");
}

#[tokio::test]
async fn a_moved_device_is_counted_where_it_went_in_memory() {
    a_moved_device_is_counted_where_it_went(Arc::new(MemoryState::new())).await;
}

#[tokio::test]
async fn a_moved_device_is_counted_where_it_went_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteState::open(dir.path().join("state.db"))
        .await
        .unwrap();
    a_moved_device_is_counted_where_it_went(Arc::new(s)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_moved_device_is_counted_where_it_went_on_postgres() {
    let url = match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!("MDMKIT_TEST_POSTGRES_URL is unset: run through scripts/test"),
    };
    // The fixture's tenant is shared by runs: start it empty.
    let s = mdmkit::state::PostgresState::open(&url).await.unwrap();
    let t = tenant();
    let mut clear = StateBatch::default();
    clear.removed = t.devices().map(|d| d.id.clone()).collect();
    s.commit(t.id(), &clear).await.unwrap();
    a_moved_device_is_counted_where_it_went(Arc::new(s)).await;
}

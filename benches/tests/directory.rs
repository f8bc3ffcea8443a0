//! The generated region (`mdmkit_benches::directory`) is a valid tenant
//! directory: it loads through the facade with no issue, reconciles with no
//! conflict, and each of the operator bench's edits changes the devices it
//! is meant to change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mdmkit::queue::MemoryStore;
use mdmkit::state::MemoryState;
use mdmkit::{Platform, Reconciler, Scope};
use mdmkit_benches::directory::{self, Region, Shape};

/// The region's whole tree (1,261 nodes, 213 policies) with 1,000 devices
/// loads and checks clean, with the platforms in their shares.
#[test]
fn the_region_tree_loads_and_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    let shape = Shape::with_devices(1_000);
    let region = directory::write(&dir, &shape).unwrap();
    // Not over an existing region.
    assert!(directory::write(&dir, &shape).is_err());

    let tenant = mdmkit::policy::load_dir(&dir).unwrap();
    assert_eq!(tenant.devices().count(), 1_000);
    assert_eq!(tenant.nodes().len(), shape.nodes());
    assert_eq!(tenant.policies().count(), region.policies);
    assert_eq!(region.policies, 13 + shape.schools());
    let issues = tenant.check();
    assert!(issues.is_empty(), "{issues:?}");
    let platforms = |p| tenant.devices().filter(|d| d.platform == p).count();
    assert_eq!(platforms(Platform::Apple), 500);
    assert_eq!(platforms(Platform::Windows), 250);
    assert_eq!(platforms(Platform::Android), 250);
    assert_eq!(region.shared_devices, 250);
    assert_eq!(region.school, "college-101");
    assert_eq!(region.school_devices, 5);
}

/// A smaller tree of the same kinds (16 schools) with 1,000 devices
/// reconciles with no conflict, and each edit of the operator bench changes
/// the devices it names, and only those.
#[test]
fn the_bench_edits_change_what_they_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    let shape = Shape {
        groups: 2,
        towns_per_group: 2,
        schools_per_town: 4,
        classes_per_school: 5,
        devices: 1_000,
    };
    let region = directory::write(&dir, &shape).unwrap();
    let load = || mdmkit::policy::load_dir(&dir).unwrap();
    let tenant = load();
    assert!(tenant.check().is_empty());
    assert_eq!(region.shared_devices, 250);

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let r = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()));
    let first = rt.block_on(r.reconcile(&tenant, &Scope::All)).unwrap();
    assert_eq!(first.devices, 1_000);
    assert_eq!(first.changed_devices, 1_000);
    assert!(first.conflicts.is_empty(), "{:?}", first.conflicts);
    assert_eq!(first.skipped_devices, 0);
    assert!(first.queued >= 1_000);
    let unchanged = rt.block_on(r.reconcile(&tenant, &Scope::All)).unwrap();
    assert_eq!(unchanged.queued, 0);

    for (edit, devices) in [
        (Region::change_root as fn(&Region) -> _, 1_000),
        (Region::change_school, region.school_devices),
        (Region::change_shared, region.shared_devices),
    ] {
        edit(&region).unwrap();
        let plan = rt.block_on(r.reconcile(&load(), &Scope::All)).unwrap();
        assert_eq!(plan.changed_devices as usize, devices);
        assert!(plan.queued as usize >= devices);
    }
    // An edit applies once.
    assert!(region.change_root().is_err());
}

//! Laws of the reconcile loop, over random sequences of policy edits:
//! a run right after a run queues nothing, and reconciling step by step
//! ends in the same per-category targets as reconciling the last state
//! from scratch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use mdmkit::policy::{Device, NodeId, Policy, Settings, Tenant, category_hashes};
use mdmkit::queue::MemoryStore;
use mdmkit::state::{MemoryState, StateStore};
use mdmkit::{DeviceId, Platform, Reconciler, Scope, TenantId};
use proptest::prelude::*;

/// One edit: which layer, and the values it sets.
#[derive(Debug, Clone)]
struct Edit {
    layer: usize,
    min_length: u32,
    camera: bool,
    wifi: Option<u8>,
}

fn edit() -> impl Strategy<Value = Edit> {
    (
        0..3usize,
        4..12u32,
        any::<bool>(),
        proptest::option::of(0..3u8),
    )
        .prop_map(|(layer, min_length, camera, wifi)| Edit {
            layer,
            min_length,
            camera,
            wifi,
        })
}

fn policy(id: &str, e: &Edit) -> Policy {
    let mut text = format!(
        "[policy]\nid = \"{id}\"\n[passcode]\nmin_length = {}\n[restrictions]\ncamera = \"{}\"\n",
        e.min_length,
        if e.camera { "allow" } else { "deny" }
    );
    if let Some(w) = e.wifi {
        text.push_str(&format!(
            "[wifi.\"NET-{w}\"]\nsecurity = \"wpa2-personal\"\npassword = \"password-{w}\"\n"
        ));
    }
    Policy::from_toml(&text).unwrap()
}

const LAYERS: [&str; 3] = ["root-layer", "school-layer", "class-layer"];

fn tenant(layers: &[Edit; 3]) -> Tenant {
    let mut t = Tenant::new(TenantId::new("props").unwrap());
    let root: NodeId = "props".parse().unwrap();
    let school: NodeId = "school".parse().unwrap();
    let class: NodeId = "class".parse().unwrap();
    t.add_node(school.clone(), &root, None, None).unwrap();
    t.add_node(class.clone(), &school, None, None).unwrap();
    for (i, node) in [&root, &school, &class].into_iter().enumerate() {
        t.set_policy(policy(LAYERS[i], &layers[i]));
        t.assign(node, LAYERS[i].parse().unwrap()).unwrap();
    }
    for (i, node) in [&school, &class, &class, &school, &class, &root]
        .into_iter()
        .enumerate()
    {
        let platform = Platform::ALL[i % 3];
        let mut d = Device::new(
            DeviceId::new(format!("dev-{i}")).unwrap(),
            node.clone(),
            platform,
        );
        if platform == Platform::Apple {
            d.supervised = Some(true);
            d.os_version = Some("18.0".into());
            d.model = Some("iPad".into());
        }
        t.add_device(d).unwrap();
    }
    t
}

type Targets = BTreeMap<(String, String), String>;

/// Every category with settings, and the content it is being brought to.
/// (A category emptied by a step keeps its row while the removal is on
/// its way; from scratch there is nothing to remove.)
async fn targets(r: &Reconciler<MemoryStore, MemoryState>, t: &Tenant) -> Targets {
    let empty = category_hashes(&Settings::default());
    r.state()
        .compliance(t.id(), None)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, s)| Some(&s.target) != empty.get(&s.category))
        .map(|(d, s)| {
            (
                (d.to_string(), s.category.as_str().to_owned()),
                s.target.to_string(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit::core::proptest_cases(24)))]

    #[test]
    fn step_by_step_ends_where_from_scratch_does(
        start in proptest::array::uniform3(edit()),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let r = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()));
            let mut layers = start.clone();
            let mut t = tenant(&layers);
            r.reconcile(&t, &Scope::All).await.unwrap();
            for e in &edits {
                layers[e.layer] = e.clone();
                t = tenant(&layers);
                r.reconcile(&t, &Scope::All).await.unwrap();
                // Idempotent: nothing left to do right after a run.
                let again = r.reconcile(&t, &Scope::All).await.unwrap();
                prop_assert!(again.is_noop(), "{:?}", again);
            }
            let fresh = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()));
            fresh.reconcile(&t, &Scope::All).await.unwrap();
            prop_assert_eq!(targets(&r, &t).await, targets(&fresh, &t).await);
            Ok(())
        })?;
    }

    #[test]
    fn a_class_edit_touches_only_devices_below_the_class(
        start in proptest::array::uniform3(edit()),
        class_edit in edit(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let r = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()));
            let mut layers = start.clone();
            r.reconcile(&tenant(&layers), &Scope::All).await.unwrap();
            layers[2] = class_edit;
            let t = tenant(&layers);
            let class: NodeId = "class".parse().unwrap();
            let below = t.affected_devices(&class).unwrap();
            let plan = r.reconcile(&t, &Scope::All).await.unwrap();
            for d in &plan.wake {
                prop_assert!(below.contains(d));
            }
            prop_assert!(plan.changed_devices as usize <= below.len());
            Ok(())
        })?;
    }
}

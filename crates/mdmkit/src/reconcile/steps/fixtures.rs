//! A small tenant for the steps' tests: a region with a town of two
//! schools and another town.
//!
//! ```text
//! r (floor: passcode 6)
//! ├── town
//! │   ├── s1 (wifi: an open network)   ipad-1, ipad-2, pc-1
//! │   └── s2 (strict: passcode 8)      ipad-3
//! └── t2                               android-1
//! ```

use std::collections::HashMap;

use mdmkit_core::{DeviceId, Platform, TenantId};
use mdmkit_policy::{ContentHash, Device, EffectiveCache, NodeId, Policy, Tenant, category_hashes};

use super::classify::facts_hash;
use crate::state::{DeviceRecord, content_hash};

pub(crate) fn n(s: &str) -> NodeId {
    s.parse().unwrap()
}

pub(crate) fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

pub(crate) fn tenant() -> Tenant {
    let mut t = Tenant::new(TenantId::new("r").unwrap());
    t.add_node(n("town"), &n("r"), None, None).unwrap();
    t.add_node(n("s1"), &n("town"), None, None).unwrap();
    t.add_node(n("s2"), &n("town"), None, None).unwrap();
    t.add_node(n("t2"), &n("r"), None, None).unwrap();
    for (id, text, node) in [
        ("floor", "[passcode]\nmin_length = 6\n", "r"),
        (
            "wifi",
            "[wifi.ECOLE]\nsecurity = \"open\"\nauto_join = true\n",
            "s1",
        ),
        ("strict", "[passcode]\nmin_length = 8\n", "s2"),
    ] {
        let p = Policy::from_toml(&format!("[policy]\nid = \"{id}\"\n{text}")).unwrap();
        t.set_policy(p);
        t.assign(&n(node), id.parse().unwrap()).unwrap();
    }
    for (id, node, platform, os) in [
        ("ipad-1", "s1", Platform::Apple, "17.4"),
        ("ipad-2", "s1", Platform::Apple, "17.4"),
        ("pc-1", "s1", Platform::Windows, "10.0.22631"),
        ("ipad-3", "s2", Platform::Apple, "17.4"),
        ("android-1", "t2", Platform::Android, "14"),
    ] {
        let mut d = Device::new(dev(id), n(node), platform);
        d.os_version = Some(os.into());
        t.add_device(d).unwrap();
    }
    t
}

/// Every device of `t`, in the tree's order.
pub(crate) fn all(t: &Tenant) -> Vec<&Device> {
    t.devices().collect()
}

/// The records a run that planned all of `t` leaves.
pub(crate) fn recorded(t: &Tenant) -> HashMap<DeviceId, DeviceRecord> {
    let cache = EffectiveCache::build(t).unwrap();
    t.devices()
        .map(|d| {
            let settings = cache.get(&d.id).unwrap().settings();
            let content = content_hash(&category_hashes(settings));
            let r = DeviceRecord::new(d.platform, content, facts_hash(d, true))
                .with_node(d.node.clone());
            (d.id.clone(), r)
        })
        .collect()
}

/// A record of `platform` whose hashes are all `b`.
pub(crate) fn record(platform: Platform, b: u8) -> DeviceRecord {
    DeviceRecord::new(platform, ContentHash([b; 32]), ContentHash([b; 32]))
}

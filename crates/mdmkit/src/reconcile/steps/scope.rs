//! Step 1: which devices a run considers.

use std::collections::{BTreeSet, HashMap};

use mdmkit_core::DeviceId;
use mdmkit_policy::{Device, Tenant};

use super::super::Scope;
use crate::error::Error;
use crate::state::DeviceRecord;

/// The devices of `scope`, in the tree's order; an unknown listed device
/// is an error.
pub(crate) fn devices<'t>(tenant: &'t Tenant, scope: &Scope) -> Result<Vec<&'t Device>, Error> {
    Ok(match scope {
        Scope::All => tenant.devices().collect(),
        Scope::Node(n) => {
            let ids = tenant.affected_devices(n)?;
            ids.iter().filter_map(|d| tenant.device(d)).collect()
        }
        Scope::Devices(ids) => {
            let mut v = Vec::with_capacity(ids.len());
            for id in ids {
                v.push(
                    tenant
                        .device(id)
                        .ok_or_else(|| mdmkit_policy::Error::UnknownDevice(id.clone()))?,
                );
            }
            v
        }
    })
}

/// The devices with a stored record that the tenant no longer has, sorted.
pub(crate) fn gone(tenant: &Tenant, records: &HashMap<DeviceId, DeviceRecord>) -> Vec<DeviceId> {
    let present: BTreeSet<&DeviceId> = tenant.devices().map(|d| &d.id).collect();
    let mut gone: Vec<DeviceId> = records
        .keys()
        .filter(|d| !present.contains(d))
        .cloned()
        .collect();
    gone.sort();
    gone
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{dev, n, record, tenant};
    use super::*;
    use mdmkit_core::Platform;

    fn ids(v: &[&Device]) -> Vec<String> {
        v.iter().map(|d| d.id.to_string()).collect()
    }

    #[test]
    fn a_node_scope_is_the_devices_at_and_below_it() {
        let t = tenant();
        assert_eq!(ids(&devices(&t, &Scope::All).unwrap()).len(), 5);
        let mut school = ids(&devices(&t, &Scope::Node(n("s1"))).unwrap());
        school.sort();
        assert_eq!(school, ["ipad-1", "ipad-2", "pc-1"]);
        let mut town = ids(&devices(&t, &Scope::Node(n("town"))).unwrap());
        town.sort();
        assert_eq!(town, ["ipad-1", "ipad-2", "ipad-3", "pc-1"]);
    }

    #[test]
    fn listed_devices_keep_their_order_and_an_unknown_one_fails() {
        let t = tenant();
        let v = devices(&t, &Scope::Devices(vec![dev("pc-1"), dev("ipad-1")])).unwrap();
        assert_eq!(ids(&v), ["pc-1", "ipad-1"]);
        let e = devices(&t, &Scope::Devices(vec![dev("nobody")])).unwrap_err();
        assert!(e.to_string().contains("nobody"), "{e}");
    }

    #[test]
    fn gone_lists_only_records_the_tenant_lost() {
        let t = tenant();
        let mut records = HashMap::new();
        for d in ["ipad-1", "zz-left", "aa-left"] {
            records.insert(dev(d), record(Platform::Apple, 1));
        }
        assert_eq!(gone(&t, &records), [dev("aa-left"), dev("zz-left")]);
    }
}

//! The devices a run plans for: the tree's own (`devices.toml`) and the
//! enrolled inventory ([`crate::inventory`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use mdmkit_core::DeviceId;
use mdmkit_policy::{Device, NodeId, Tenant};
use mdmkit_queue::QueueStore;

use super::Reconciler;
use crate::error::Error;
use crate::inventory::{Enrollment, EnrollmentStatus};
use crate::state::StateStore;

impl<Q, S> Reconciler<Q, S>
where
    Q: QueueStore + ?Sized,
    S: StateStore + ?Sized,
{
    /// The tree with the enrolled inventory of its tenant.
    ///
    /// - An enrolled device the tree does not list, and that has not
    ///   checked out, is added at the node it enrolled under, or at the root
    ///   when that node is no longer in the tree.
    /// - A device the tree lists keeps the tree's entry (node, platform,
    ///   own policies, facts); the inventory only fills the facts the tree
    ///   leaves unset (OS version, supervision, hardware model, serial).
    /// - A checked-out device the tree does not list is left out: for
    ///   [`super::Scope::All`] it is gone, like a device removed from the
    ///   file.
    ///
    /// Borrowed when the inventory changes nothing.
    pub async fn with_inventory<'t>(&self, tenant: &'t Tenant) -> Result<Cow<'t, Tenant>, Error> {
        let enrolled = self.state.enrollments(tenant.id()).await?;
        merge(tenant, &enrolled)
    }
}

impl<Q, S> Reconciler<Q, S>
where
    Q: QueueStore + ?Sized,
    S: StateStore + ?Sized,
{
    /// The tree narrowed to `devices` ([`Tenant::only_devices`]), with their
    /// enrollments merged as [`Reconciler::with_inventory`] merges the
    /// tenant's.
    ///
    /// What a server needs to plan or answer for a few devices: it reads
    /// their own enrollments (one read each), not the tenant's inventory,
    /// so its cost does not grow with the tenant. An id that is neither in
    /// the tree nor enrolled (or is checked out and not in the tree) is
    /// left out.
    pub async fn with_inventory_of(
        &self,
        tenant: &Tenant,
        devices: &[DeviceId],
    ) -> Result<Tenant, Error> {
        let mut enrolled = Vec::with_capacity(devices.len());
        for d in devices {
            if let Some(e) = self.state.enrollment(tenant.id(), d).await? {
                enrolled.push(e);
            }
        }
        let narrow = tenant.only_devices(devices);
        Ok(merge(&narrow, &enrolled)?.into_owned())
    }

    /// The tree with the inventory, for a question about `node` and below:
    /// the devices the tree lists there and the enrollments placed there
    /// ([`StateStore::enrollments_under`]), not the tenant's whole
    /// inventory. The whole tree for the root (enrollments under a node the
    /// tree no longer has are counted at the root, as
    /// [`Reconciler::with_inventory`] places them).
    ///
    /// An enrolled device the tree lists at another node stays there (the
    /// tree wins) and is left out; a device the tree lists under `node` gets
    /// the facts of its enrollment only if the enrollment is under `node`
    /// too (node queries do not read facts).
    pub async fn with_inventory_under<'t>(
        &self,
        tenant: &'t Tenant,
        node: &NodeId,
    ) -> Result<Cow<'t, Tenant>, Error> {
        if node == tenant.root().id() {
            return self.with_inventory(tenant).await;
        }
        let nodes: Vec<NodeId> = tenant
            .subtree(node)?
            .iter()
            .map(|n| n.id().clone())
            .collect();
        let mut enrolled = self.state.enrollments_under(tenant.id(), &nodes).await?;
        let listed = tenant.affected_devices(node)?;
        // Listed elsewhere: the tree's place wins.
        enrolled.retain(|e| {
            tenant.device(&e.device).is_none() || listed.binary_search(&e.device).is_ok()
        });
        let narrow = tenant.only_devices(&listed);
        Ok(Cow::Owned(merge(&narrow, &enrolled)?.into_owned()))
    }
}

/// [`Reconciler::with_inventory`] over a list of enrollments.
pub(crate) fn merge<'t>(
    tenant: &'t Tenant,
    enrolled: &[Enrollment],
) -> Result<Cow<'t, Tenant>, Error> {
    let mut added = Vec::new();
    let mut filled = BTreeMap::new();
    for e in enrolled {
        match tenant.device(&e.device) {
            Some(listed) => {
                if let Some(d) = fill(listed, e) {
                    filled.insert(d.id.clone(), d);
                }
            }
            None if e.status == EnrollmentStatus::CheckedOut => {}
            None => {
                let mut d = e.to_device();
                if tenant.node(&d.node).is_none() {
                    d.node = tenant.root().id().clone();
                }
                added.push(d);
            }
        }
    }
    if added.is_empty() && filled.is_empty() {
        return Ok(Cow::Borrowed(tenant));
    }
    let mut out = tenant.clone();
    for d in filled.values() {
        out.set_device_facts(d)?;
    }
    for d in added {
        out.add_device(d)?;
    }
    Ok(Cow::Owned(out))
}

/// The listed device with the facts it lacks taken from its enrollment;
/// `None` when the enrollment adds nothing.
fn fill(listed: &Device, e: &Enrollment) -> Option<Device> {
    fn gap<T: Clone>(mine: &Option<T>, theirs: &Option<T>) -> bool {
        mine.is_none() && theirs.is_some()
    }
    let adds = gap(&listed.os_version, &e.os_version)
        || gap(&listed.supervised, &e.supervised)
        || gap(&listed.model, &e.model)
        || gap(&listed.serial, &e.serial);
    if !adds {
        return None;
    }
    let mut d = listed.clone();
    d.os_version = d.os_version.or_else(|| e.os_version.clone());
    d.supervised = d.supervised.or(e.supervised);
    d.model = d.model.or_else(|| e.model.clone());
    d.serial = d.serial.or_else(|| e.serial.clone());
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdmkit_core::{DeviceId, Platform, TenantId};
    use mdmkit_policy::{EffectiveCache, NodeId, Policy};
    use mdmkit_queue::Timestamp;

    fn n(s: &str) -> NodeId {
        s.parse().unwrap()
    }

    fn tree() -> Tenant {
        let mut t = Tenant::new(TenantId::new("r").unwrap());
        t.set_name(Some("Region".into()));
        t.add_node(n("b"), &n("r"), Some("B".into()), Some("town".into()))
            .unwrap();
        t.add_node(n("a"), &n("r"), None, None).unwrap();
        t.add_node(n("b1"), &n("b"), None, Some("school".into()))
            .unwrap();
        t.set_policy(
            Policy::from_toml("[policy]\nid = \"floor\"\n[passcode]\nmin_length = 6\n").unwrap(),
        );
        t.set_policy(
            Policy::from_toml("[policy]\nid = \"strict\"\n[passcode]\nmin_length = 8\n").unwrap(),
        );
        t.assign(&n("r"), "floor".parse().unwrap()).unwrap();
        t.assign(&n("b1"), "strict".parse().unwrap()).unwrap();
        let mut d = Device::new(DeviceId::new("listed").unwrap(), n("b1"), Platform::Apple);
        d.os_version = Some("16.0".into());
        d.policies.push("floor".parse().unwrap());
        t.add_device(d).unwrap();
        t.add_device(Device::new(
            DeviceId::new("other").unwrap(),
            n("a"),
            Platform::Android,
        ))
        .unwrap();
        t
    }

    fn enrolled(id: &str, node: &str) -> Enrollment {
        Enrollment::new(
            DeviceId::new(id).unwrap(),
            Platform::Apple,
            n(node),
            Timestamp::from_millis(1),
        )
    }

    #[test]
    fn nothing_to_add_or_fill_borrows_the_tree() {
        let t = tree();
        let mut same = enrolled("listed", "a");
        same.os_version = Some("17.0".into());
        let mut gone = enrolled("left", "b");
        gone.status = EnrollmentStatus::CheckedOut;
        assert!(matches!(
            merge(&t, &[same, gone]).unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn an_enrolled_device_of_a_removed_node_lands_at_the_root() {
        let t = tree();
        let merged = merge(&t, &[enrolled("new", "gone-node")]).unwrap();
        let d = merged.device(&DeviceId::new("new").unwrap()).unwrap();
        assert_eq!(d.node, n("r"));
    }

    #[test]
    fn filling_facts_gives_the_same_tree_with_the_filled_device() {
        let t = tree();
        let mut e = enrolled("listed", "a");
        e.os_version = Some("17.0".into());
        e.serial = Some("SER".into());
        e.supervised = Some(true);
        let merged = merge(&t, &[e]).unwrap();
        let Cow::Owned(m) = merged else {
            panic!("a filled fact must give a new tree")
        };
        let d = m.device(&DeviceId::new("listed").unwrap()).unwrap();
        assert_eq!(d.os_version.as_deref(), Some("16.0")); // the file wins
        assert_eq!(d.serial.as_deref(), Some("SER"));
        assert_eq!(d.supervised, Some(true));
        assert_eq!(d.node, n("b1"));
        assert_eq!(d.policies, ["floor".parse().unwrap()]);
        // Everything else is the same tree.
        assert_eq!(m.name(), t.name());
        let view = |t: &Tenant| -> Vec<String> {
            t.nodes()
                .iter()
                .map(|x| {
                    format!(
                        "{} {:?} {:?} {:?} {} {:?} {:?}",
                        x.id(),
                        x.name(),
                        x.kind(),
                        x.parent().map(|p| p.id().clone()),
                        x.depth(),
                        x.policies(),
                        x.devices().collect::<Vec<_>>()
                    )
                })
                .collect()
        };
        assert_eq!(view(&m), view(&t));
        assert_eq!(
            m.policies().collect::<Vec<_>>(),
            t.policies().collect::<Vec<_>>()
        );
        assert_eq!(m.authors(), t.authors());
        assert_eq!(m.requires_signatures(), t.requires_signatures());
        let (a, b) = (
            EffectiveCache::build(&m).unwrap(),
            EffectiveCache::build(&t).unwrap(),
        );
        for dev in t.devices() {
            assert_eq!(a.get(&dev.id), b.get(&dev.id));
        }
    }
}

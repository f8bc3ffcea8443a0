//! Console queries: where each device stands, and why.

use mdmkit_core::{DeviceId, Platform};
use mdmkit_policy::{EffectiveCache, NodeId, Tenant};
use mdmkit_queue::QueueStore;
use serde::Serialize;

use super::Reconciler;
use super::vendor::category_of;
use crate::error::Error;
use crate::state::{CategoryState, StateStore};

/// One setting in force and the layer it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SettingSource {
    /// The setting (`passcode.min_length`).
    pub path: String,
    /// The policy that set it.
    pub policy: String,
    /// Where that policy is assigned (`node academie`, `device X`).
    pub scope: String,
    /// Whether a lock holds it.
    pub locked: bool,
}

/// A device's state, category by category.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DeviceStatus {
    /// The device.
    pub device: DeviceId,
    /// Its platform.
    pub platform: Platform,
    /// Its node.
    pub node: NodeId,
    /// Whether every category is verified or unsupported.
    pub compliant: bool,
    /// The categories.
    pub categories: Vec<CategoryState>,
}

/// A category of a device that is not compliant, and the settings behind
/// it with their provenance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The device.
    pub device: DeviceId,
    /// Its node.
    pub node: NodeId,
    /// The category's state.
    pub state: CategoryState,
    /// The settings of the category in force, and who set them.
    pub settings: Vec<SettingSource>,
}

/// Up to this many devices with findings, [`Reconciler::noncompliant`]
/// merges each one's effective policy alone; beyond, it builds the
/// tenant's cache, which merges once per node.
const EFFECTIVE_ONE_BY_ONE: usize = 256;

impl<Q, S> Reconciler<Q, S>
where
    Q: QueueStore + ?Sized,
    S: StateStore + ?Sized,
{
    /// Every device of `node` and below (the whole tenant for the root),
    /// with its category states.
    ///
    /// Enrolled devices count, read for the node only
    /// ([`Reconciler::with_inventory_under`]).
    pub async fn status(&self, tenant: &Tenant, node: &NodeId) -> Result<Vec<DeviceStatus>, Error> {
        let tenant = self.with_inventory_under(tenant, node).await?;
        self.status_of(&tenant, node).await
    }

    /// One device's [`DeviceStatus`], read from its own enrollment and
    /// rows only (not the tenant's); `None` when the device is neither in
    /// the tree nor enrolled.
    pub async fn device_status(
        &self,
        tenant: &Tenant,
        device: &DeviceId,
    ) -> Result<Option<DeviceStatus>, Error> {
        let tenant = self
            .with_inventory_of(tenant, std::slice::from_ref(device))
            .await?;
        Ok(self
            .status_of_devices(&tenant, vec![device.clone()])
            .await?
            .pop())
    }

    /// [`Reconciler::status`] of a tree that already includes the
    /// inventory.
    async fn status_of(&self, tenant: &Tenant, node: &NodeId) -> Result<Vec<DeviceStatus>, Error> {
        let mut devices = tenant.affected_devices(node)?;
        devices.sort();
        self.status_of_devices(tenant, devices).await
    }

    /// The statuses of `devices` (sorted) that `tenant` lists.
    async fn status_of_devices(
        &self,
        tenant: &Tenant,
        devices: Vec<DeviceId>,
    ) -> Result<Vec<DeviceStatus>, Error> {
        // The node's devices' rows only (an indexed read per batch of
        // devices), not the tenant's.
        let rows = self.state.compliance_of(tenant.id(), &devices).await?;
        let mut by_device: std::collections::HashMap<DeviceId, Vec<CategoryState>> =
            std::collections::HashMap::new();
        for (d, s) in rows {
            by_device.entry(d).or_default().push(s);
        }
        let mut out = Vec::with_capacity(devices.len());
        for id in devices {
            let Some(d) = tenant.device(&id) else {
                continue;
            };
            let categories = by_device.remove(&id).unwrap_or_default();
            out.push(DeviceStatus {
                compliant: categories.iter().all(|c| c.state.is_compliant()),
                device: id,
                platform: d.platform,
                node: d.node.clone(),
                categories,
            });
        }
        Ok(out)
    }

    /// "Which devices of school X are not compliant, and why": every
    /// category of the devices at `node` and below that is not verified or
    /// unsupported, with the device's error and the provenance of each
    /// setting of the category.
    ///
    /// Enrolled devices count, read for the node only
    /// ([`Reconciler::with_inventory_under`]).
    pub async fn noncompliant(
        &self,
        tenant: &Tenant,
        node: &NodeId,
    ) -> Result<Vec<Finding>, Error> {
        let tenant = self.with_inventory_under(tenant, node).await?;
        let statuses = self.status_of(&tenant, node).await?;
        let findings = statuses.iter().filter(|s| !s.compliant).count();
        // Effective policies of the devices with findings only: one by one
        // for a few, shared per node through the cache for many.
        let cache = if findings > EFFECTIVE_ONE_BY_ONE {
            Some(EffectiveCache::build(&tenant)?)
        } else {
            None
        };
        let mut out = Vec::new();
        for status in statuses {
            if status.compliant {
                continue;
            }
            let eff = match &cache {
                Some(cache) => cache.get(&status.device).cloned(),
                None => Some(std::sync::Arc::new(tenant.effective(&status.device)?)),
            };
            for state in status.categories {
                if state.state.is_compliant() {
                    continue;
                }
                let settings = eff
                    .as_ref()
                    .map(|eff| {
                        eff.values()
                            .iter()
                            .filter(|(p, _)| category_of(p) == Some(state.category))
                            .map(|(p, v)| SettingSource {
                                path: p.to_string(),
                                policy: v.provenance.source.policy.to_string(),
                                scope: v.provenance.source.scope.to_string(),
                                locked: v.provenance.locked_by.is_some(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Finding {
                    device: status.device.clone(),
                    node: status.node.clone(),
                    state,
                    settings,
                });
            }
        }
        Ok(out)
    }
}

//! Per-node aggregates for consoles: how many devices each node holds, by
//! platform and by overall compliance, and re-sending one device's policy.

use std::collections::{BTreeMap, HashMap};

use mdmkit_core::{DeviceId, Platform};
use mdmkit_policy::{NodeId, NodeRef, Tenant};
use mdmkit_queue::QueueStore;
use serde::Serialize;

use super::{Plan, Reconciler, Scope};
use crate::error::Error;
use crate::state::{ComplianceState, NodeCount, StateBatch, StateStore};

/// Devices counted by their overall compliance: a device is as bad as its
/// worst category (failed, then pending or sent, then verified, then
/// unsupported); a device the reconciler never planned is `unplanned`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ComplianceCounts {
    /// Every category verified (or unsupported, with at least one verified).
    pub verified: u64,
    /// Commands queued or delivered and not yet answered.
    pub pending: u64,
    /// At least one category failed.
    pub failed: u64,
    /// Nothing the platform could enforce.
    pub unsupported: u64,
    /// Never planned (no category state yet).
    pub unplanned: u64,
}

impl ComplianceCounts {
    /// Counts one device in its overall state (`None`: unplanned).
    pub fn add(&mut self, state: Option<ComplianceState>) {
        self.add_many(state, 1);
    }

    /// Counts `n` devices in one overall state (`None`: unplanned).
    pub fn add_many(&mut self, state: Option<ComplianceState>, n: u64) {
        match state {
            None => self.unplanned += n,
            Some(ComplianceState::Verified) => self.verified += n,
            Some(ComplianceState::Pending | ComplianceState::Sent) => self.pending += n,
            Some(ComplianceState::Failed) => self.failed += n,
            Some(ComplianceState::Unsupported) => self.unsupported += n,
        }
    }

    /// Adds another node's counts.
    pub fn merge(&mut self, other: &ComplianceCounts) {
        self.verified += other.verified;
        self.pending += other.pending;
        self.failed += other.failed;
        self.unsupported += other.unsupported;
        self.unplanned += other.unplanned;
    }

    /// The devices counted.
    pub fn total(&self) -> u64 {
        self.verified + self.pending + self.failed + self.unsupported + self.unplanned
    }

    /// The devices that are not compliant (pending, failed or unplanned).
    pub fn noncompliant(&self) -> u64 {
        self.pending + self.failed + self.unplanned
    }
}

/// One node and everything below it, counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NodeSummary {
    /// The node.
    pub node: NodeId,
    /// Its display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its kind (`school`, `class`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Its parent (`None` for the root of the tenant).
    pub parent: Option<NodeId>,
    /// Its depth in the tenant's tree (0: the root).
    pub depth: usize,
    /// Devices at this node and below.
    pub devices: u64,
    /// Devices placed directly at this node.
    pub own_devices: u64,
    /// Devices at this node and below, by platform.
    pub platforms: BTreeMap<Platform, u64>,
    /// Devices at this node and below, by overall compliance.
    pub compliance: ComplianceCounts,
}

/// The worst of two states, in the order a console ranks them.
fn worse(a: ComplianceState, b: ComplianceState) -> ComplianceState {
    if severity(b) > severity(a) { b } else { a }
}

/// How bad a state is for a device's overall compliance.
pub(crate) fn severity(s: ComplianceState) -> u8 {
    match s {
        ComplianceState::Unsupported => 0,
        ComplianceState::Verified => 1,
        ComplianceState::Sent => 2,
        ComplianceState::Pending => 3,
        ComplianceState::Failed => 4,
    }
}

/// Each device's worst category state, from category rows.
pub(crate) fn overall_states(
    rows: impl IntoIterator<Item = (DeviceId, ComplianceState)>,
) -> Vec<(DeviceId, ComplianceState)> {
    let mut by_device: HashMap<DeviceId, ComplianceState> = HashMap::new();
    for (d, s) in rows {
        by_device
            .entry(d)
            .and_modify(|w| *w = worse(*w, s))
            .or_insert(s);
    }
    let mut out: Vec<_> = by_device.into_iter().collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

impl<Q, S> Reconciler<Q, S>
where
    Q: QueueStore + ?Sized,
    S: StateStore + ?Sized,
{
    /// `node` and every node below it, in tree order (a node before its
    /// children), each with the devices of its subtree counted by platform
    /// and by overall compliance.
    ///
    /// One read of the store ([`StateStore::node_counts`]: a few rows per
    /// node, whatever the number of devices); the tree gives each node's
    /// devices and platforms, and the counting is one pass over the nodes.
    /// A device of the tree that the store has not placed at its node yet
    /// (never reconciled, or moved since) counts as unplanned there.
    /// Enrolled devices count, read for the node only
    /// ([`Reconciler::with_inventory_under`]).
    pub async fn node_summaries(
        &self,
        tenant: &Tenant,
        node: &NodeId,
    ) -> Result<Vec<NodeSummary>, Error> {
        let tenant = self.with_inventory_under(tenant, node).await?;
        let start = tenant
            .node(node)
            .ok_or_else(|| mdmkit_policy::Error::UnknownNode(node.clone()))?;
        let counts = self.state.node_counts(tenant.id()).await?;
        let mut by_node: HashMap<&NodeId, Vec<&NodeCount>> = HashMap::new();
        for c in &counts {
            by_node.entry(&c.node).or_default().push(c);
        }
        let mut out = Vec::new();
        summarise(&tenant, start, &by_node, &mut out);
        Ok(out)
    }

    /// Sends a device's whole policy again: forgets what was last planned
    /// for it (its record and category states) and plans it from scratch,
    /// so every category is queued anew (superseding what is still queued).
    pub async fn resend(&self, tenant: &Tenant, device: &DeviceId) -> Result<Plan, Error> {
        let tenant = self
            .with_inventory_of(tenant, std::slice::from_ref(device))
            .await?;
        if tenant.device(device).is_none() {
            return Err(mdmkit_policy::Error::UnknownDevice(device.clone()).into());
        }
        let batch = StateBatch {
            removed: vec![device.clone()],
            ..StateBatch::default()
        };
        self.commit_state(tenant.id(), batch).await?;
        let cache = mdmkit_policy::EffectiveCache::build_for(&tenant, [device])?;
        self.reconcile_with(&tenant, &cache, &Scope::Devices(vec![device.clone()]))
            .await
    }
}

/// `node`'s summary and its descendants', in pre-order (iterative: a tree
/// read from files may be deep).
fn summarise(
    tenant: &Tenant,
    node: NodeRef<'_>,
    counts: &HashMap<&NodeId, Vec<&NodeCount>>,
    out: &mut Vec<NodeSummary>,
) {
    let mut stack = vec![node];
    let mut index: HashMap<NodeId, usize> = HashMap::new();
    while let Some(node) = stack.pop() {
        let mut s = NodeSummary {
            node: node.id().clone(),
            name: node.name().map(str::to_owned),
            kind: node.kind().map(str::to_owned),
            parent: node.parent().map(|p| p.id().clone()),
            depth: node.depth(),
            devices: 0,
            own_devices: 0,
            platforms: BTreeMap::new(),
            compliance: ComplianceCounts::default(),
        };
        for id in node.devices() {
            let Some(d) = tenant.device(id) else {
                continue;
            };
            s.own_devices += 1;
            *s.platforms.entry(d.platform).or_default() += 1;
        }
        let mut planned = 0u64;
        for c in counts.get(node.id()).into_iter().flatten() {
            // Never more than the tree holds here (a record not yet moved
            // away after the device left this node).
            let n = c.devices.min(s.own_devices - planned);
            s.compliance.add_many(c.state, n);
            planned += n;
        }
        s.compliance.add_many(None, s.own_devices - planned);
        s.devices = s.own_devices;
        index.insert(s.node.clone(), out.len());
        out.push(s);
        let children: Vec<NodeRef<'_>> = node.children().collect();
        stack.extend(children.into_iter().rev());
    }
    // Children come after their parent: adding from the end up, each
    // node's totals are complete when they reach its parent.
    for i in (1..out.len()).rev() {
        let Some(&p) = out[i].parent.as_ref().and_then(|p| index.get(p)) else {
            continue;
        };
        let (head, tail) = out.split_at_mut(i);
        let (parent, child) = (&mut head[p], &tail[0]);
        parent.devices += child.devices;
        for (platform, n) in &child.platforms {
            *parent.platforms.entry(*platform).or_default() += n;
        }
        parent.compliance.merge(&child.compliance);
    }
}

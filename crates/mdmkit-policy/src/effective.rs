//! Effective policies: the merge along a device's path, with provenance,
//! `explain`, and a cache that recomputes only the subtree a change touches.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use mdmkit_core::DeviceId;
use serde::Serialize;
use serde_json::Value;

use crate::catalog;
use crate::diff::{self, ChangeSet, ContentHash};
use crate::error::{Error, Issue, IssueKind, Issues};
use crate::flat::{self, FlatSettings};
use crate::ids::NodeId;
use crate::merge::{Conflict, MergeState, Provenance};
use crate::model::{Category, Settings};
use crate::path::SettingPath;
use crate::tree::Tenant;
use crate::validate;

/// One effective merge unit and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EffectiveValue {
    /// The value in effect.
    pub value: Value,
    /// Who set it, and what was overridden.
    pub provenance: Provenance,
}

/// A device's (or a node's) effective policy: typed settings for vendor
/// encoders, every merge unit with its provenance, and the conflicts met.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectivePolicy {
    settings: Settings,
    values: BTreeMap<SettingPath, EffectiveValue>,
    conflicts: Vec<Conflict>,
}

impl EffectivePolicy {
    /// Hides every secret written in clear (a Wi-Fi key typed into a
    /// policy file) for display: in the settings, in the value of each
    /// secret setting and in what it overrode, and wherever else the same
    /// text appears (a lock violation's refused value). References are
    /// kept: they name where the secret is, not what it is. What a console
    /// or an admin API shows; the encoders read the policy unredacted.
    pub fn redact_secrets(&mut self) {
        // Each secret setting's value: its own slot, or a field of the
        // slot of the object it belongs to (a Wi-Fi network merges whole).
        let paths: Vec<String> = self
            .settings
            .secrets()
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect();
        let mut literals: Vec<String> = Vec::new();
        for (slot, v) in self.values.iter_mut() {
            let slot = slot.to_string();
            for p in &paths {
                let Some(rest) = p.strip_prefix(slot.as_str()) else {
                    continue;
                };
                if !rest.is_empty() && !rest.starts_with('.') {
                    continue;
                }
                let fields: Vec<&str> = rest.split('.').filter(|f| !f.is_empty()).collect();
                for value in std::iter::once(&mut v.value)
                    .chain(v.provenance.overridden.iter_mut().map(|o| &mut o.value))
                {
                    let mut at = Some(value);
                    for f in &fields {
                        at = at.and_then(|x| x.get_mut(*f));
                    }
                    if let Some(Value::String(text)) = at {
                        if !text.is_empty() {
                            literals.push(std::mem::take(text));
                        }
                        *text = crate::secret::REDACTED.to_owned();
                    }
                }
            }
        }
        self.settings.redact_secrets();
        if literals.is_empty() {
            return;
        }
        literals.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        literals.dedup();
        for v in self.values.values_mut() {
            redact_strings(&mut v.value, &literals);
            for o in &mut v.provenance.overridden {
                redact_strings(&mut o.value, &literals);
            }
        }
        for c in &mut self.conflicts {
            if let crate::merge::ConflictKind::LockViolation { value, .. } = &mut c.kind {
                redact_strings(value, &literals);
            }
        }
    }

    pub(crate) fn from_state(mut state: MergeState) -> Result<Self, Error> {
        state.mark_locks();
        let values: BTreeMap<SettingPath, EffectiveValue> = state
            .slots
            .into_iter()
            .map(|(p, s)| {
                (
                    p,
                    EffectiveValue {
                        value: s.value,
                        provenance: s.provenance,
                    },
                )
            })
            .collect();
        let flat: FlatSettings = values
            .iter()
            .map(|(p, v)| (p.clone(), v.value.clone()))
            .collect();
        let settings = flat::unflatten(&flat).map_err(|e| {
            Error::Invalid(Issues(vec![Issue::whole(
                IssueKind::Invalid,
                format!("merged settings do not form a policy: {e}"),
            )]))
        })?;
        Ok(Self {
            settings,
            values,
            conflicts: state.conflicts,
        })
    }

    /// The typed settings in effect.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Every merge unit in effect, with its provenance, in path order.
    pub fn values(&self) -> &BTreeMap<SettingPath, EffectiveValue> {
        &self.values
    }

    /// The conflicts met during the merge.
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }

    /// The merge units without provenance.
    pub fn flatten(&self) -> FlatSettings {
        self.values
            .iter()
            .map(|(p, v)| (p.clone(), v.value.clone()))
            .collect()
    }

    /// The changes from `old` to this policy.
    pub fn diff_from(&self, old: &EffectivePolicy) -> ChangeSet {
        diff::diff_flat(&old.flatten(), &self.flatten())
    }

    /// Per-category content hashes (see [`diff::category_hashes`]).
    pub fn category_hashes(&self) -> BTreeMap<Category, ContentHash> {
        diff::category_hashes_flat(&self.flatten())
    }

    /// Why `path` has its value: the merge units at, above or below the
    /// path (`restrictions.camera`, `wifi["ECOLE"].password`, `wifi`),
    /// each with its strategy and provenance.
    pub fn explain(&self, path: &SettingPath) -> Explanation {
        let mut entries = Vec::new();
        for (unit, v) in &self.values {
            if unit.is_prefix_of(path) {
                let rest = path.strip_prefix(unit).unwrap_or_default();
                entries.push(Explained {
                    path: unit.clone(),
                    value: flat::get_in(&v.value, rest).cloned(),
                    strategy: catalog::lookup(unit).map(|d| d.strategy.to_string()),
                    provenance: v.provenance.clone(),
                });
            } else if path.is_prefix_of(unit) {
                entries.push(Explained {
                    path: unit.clone(),
                    value: Some(v.value.clone()),
                    strategy: catalog::lookup(unit).map(|d| d.strategy.to_string()),
                    provenance: v.provenance.clone(),
                });
            }
        }
        let conflicts = self
            .conflicts
            .iter()
            .filter(|c| c.path.overlaps(path))
            .cloned()
            .collect();
        Explanation {
            path: path.clone(),
            entries,
            conflicts,
        }
    }

    /// The settings as a JSON value (the policy document format, without
    /// the `policy` table).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(&self.settings).unwrap_or(Value::Null)
    }

    /// Settings, provenance of every merge unit and conflicts, as JSON.
    pub fn to_json_explained(&self) -> Value {
        #[derive(Serialize)]
        struct Out<'a> {
            settings: &'a Settings,
            provenance: BTreeMap<String, &'a EffectiveValue>,
            conflicts: &'a [Conflict],
        }
        serde_json::to_value(Out {
            settings: &self.settings,
            provenance: self
                .values
                .iter()
                .map(|(p, v)| (p.to_string(), v))
                .collect(),
            conflicts: &self.conflicts,
        })
        .unwrap_or(Value::Null)
    }

    /// Problems of the merged policy: conflicts, and references that do not
    /// resolve (kiosk apps, Wi-Fi certificates).
    pub fn issues(&self) -> Vec<Issue> {
        let mut out: Vec<Issue> = self
            .conflicts
            .iter()
            .map(|c| Issue::at(IssueKind::Conflict, c.path.clone(), conflict_message(c)))
            .collect();
        out.extend(validate::effective(&self.settings));
        out
    }
}

fn conflict_message(c: &Conflict) -> String {
    let full = c.to_string();
    let prefix = format!("{}: ", c.path);
    full.strip_prefix(&prefix)
        .map(str::to_owned)
        .unwrap_or(full)
}

/// One merge unit in an [`Explanation`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Explained {
    /// The merge unit.
    pub path: SettingPath,
    /// The value at the asked path inside the unit (`None`: unset).
    pub value: Option<Value>,
    /// The unit's merge strategy.
    pub strategy: Option<String>,
    /// Who set it and what was overridden.
    pub provenance: Provenance,
}

/// The answer of `explain(device, path)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The path asked about.
    pub path: SettingPath,
    /// The merge units at, inside or under the path; empty when unset.
    pub entries: Vec<Explained>,
    /// Conflicts about these units.
    pub conflicts: Vec<Conflict>,
}

impl Explanation {
    /// Whether nothing sets the path.
    pub fn is_unset(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Tenant {
    /// A device's effective policy, merged from the root (no cache; see
    /// [`EffectiveCache`] for many devices).
    pub fn effective(&self, device: &DeviceId) -> Result<EffectivePolicy, Error> {
        EffectivePolicy::from_state(self.state_of(device)?)
    }

    /// Why a device has its value at `path` (see [`EffectivePolicy::explain`]).
    pub fn explain(&self, device: &DeviceId, path: &SettingPath) -> Result<Explanation, Error> {
        Ok(self.effective(device)?.explain(path))
    }

    /// Checks the whole tenant: assignments name existing policies, and the
    /// effective policy of every place devices are has no conflict and no
    /// dangling reference. Issues name the node or device in their message.
    pub fn check(&self) -> Issues {
        let mut issues = Vec::new();
        for n in &self.nodes {
            for p in &n.policies {
                if !self.policies.contains_key(p) {
                    issues.push(Issue::whole(
                        IssueKind::Reference,
                        format!("node {}: policy {p} is assigned but not defined", n.id),
                    ));
                }
            }
        }
        for d in self.devices() {
            for p in &d.policies {
                if !self.policies.contains_key(p) {
                    issues.push(Issue::whole(
                        IssueKind::Reference,
                        format!("device {}: policy {p} is assigned but not defined", d.id),
                    ));
                }
            }
        }
        match EffectiveCache::build(self) {
            Err(e) => issues.push(Issue::whole(IssueKind::Invalid, e.to_string())),
            Ok(cache) => {
                // The same problem inherited by many nodes is reported once,
                // at the first place it shows, with a count of the others.
                let mut seen: Vec<(Issue, String, usize)> = Vec::new();
                let mut note = |issue: Issue, place: String| match seen
                    .iter_mut()
                    .find(|(i, _, _)| *i == issue)
                {
                    Some((_, _, n)) => *n += 1,
                    None => seen.push((issue, place, 0)),
                };
                for idx in self.preorder(0) {
                    let node = &self.nodes[idx];
                    if node.devices.is_empty() {
                        continue;
                    }
                    if let Some(eff) = cache.nodes.get(&node.id) {
                        for i in eff.effective.issues() {
                            note(i, format!("node {}", node.id));
                        }
                    }
                }
                for d in self.devices().filter(|d| !d.policies.is_empty()) {
                    if let Some(eff) = cache.devices.get(&d.id) {
                        for i in eff.issues() {
                            note(i, format!("device {}", d.id));
                        }
                    }
                }
                for (mut issue, place, others) in seen {
                    issue.message = match others {
                        0 => format!("{} (at {place})", issue.message),
                        n => format!("{} (at {place} and {n} other places)", issue.message),
                    };
                    issues.push(issue);
                }
            }
        }
        issues.dedup();
        Issues(issues)
    }
}

#[derive(Debug)]
struct NodeEntry {
    state: MergeState,
    effective: Arc<EffectivePolicy>,
}

/// The effective policy of every device of a tenant, computed once per
/// node (devices without their own policies share their node's result) and
/// kept up to date subtree by subtree.
#[derive(Debug, Default)]
pub struct EffectiveCache {
    nodes: HashMap<NodeId, NodeEntry>,
    devices: HashMap<DeviceId, Arc<EffectivePolicy>>,
}

/// What a refresh did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Refresh {
    /// How many nodes were merged again.
    pub nodes: usize,
    /// How many devices' effective policies were recomputed.
    pub devices: usize,
    /// The devices whose effective policy changed, with the change sets,
    /// sorted by device id.
    pub changed: Vec<(DeviceId, ChangeSet)>,
}

impl EffectiveCache {
    /// Computes every node's and every device's effective policy.
    pub fn build(tenant: &Tenant) -> Result<Self, Error> {
        let mut cache = Self::default();
        cache.recompute_from(
            tenant,
            0,
            MergeState::default(),
            &mut Refresh::default(),
            false,
        )?;
        Ok(cache)
    }

    /// Computes the effective policies of `devices` only, merging just the
    /// nodes on their paths from the root.
    ///
    /// For planning a few devices of a large tree: the cost is their paths,
    /// not the tree. [`EffectiveCache::node`] answers only for the nodes on
    /// those paths, and a later [`EffectiveCache::refresh`] of a node whose
    /// parent was not merged rebuilds the whole cache.
    pub fn build_for<'a>(
        tenant: &Tenant,
        devices: impl IntoIterator<Item = &'a DeviceId>,
    ) -> Result<Self, Error> {
        let mut cache = Self::default();
        for id in devices {
            let d = tenant
                .device(id)
                .ok_or_else(|| Error::UnknownDevice(id.clone()))?;
            let path = tenant.path_to(&d.node)?;
            let mut state = MergeState::default();
            for n in &path {
                if let Some(e) = cache.nodes.get(n.id()) {
                    state.clone_from(&e.state);
                    continue;
                }
                tenant.apply_node(&mut state, n.idx());
                let effective = Arc::new(EffectivePolicy::from_state(state.clone())?);
                cache.nodes.insert(
                    n.id().clone(),
                    NodeEntry {
                        state: state.clone(),
                        effective,
                    },
                );
            }
            let eff = if d.policies.is_empty() {
                match cache.nodes.get(&d.node) {
                    Some(e) => e.effective.clone(),
                    None => return Err(Error::UnknownNode(d.node.clone())),
                }
            } else {
                tenant.apply_device(&mut state, d, path.len().saturating_sub(1));
                Arc::new(EffectivePolicy::from_state(state)?)
            };
            cache.devices.insert(id.clone(), eff);
        }
        Ok(cache)
    }

    /// A device's effective policy.
    pub fn get(&self, device: &DeviceId) -> Option<&Arc<EffectivePolicy>> {
        self.devices.get(device)
    }

    /// A node's effective policy (what a device there without its own
    /// policies gets).
    pub fn node(&self, node: &NodeId) -> Option<&Arc<EffectivePolicy>> {
        self.nodes.get(node).map(|e| &e.effective)
    }

    /// How many devices are cached.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether no device is cached.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Recomputes `node` and everything below it, after a change of the
    /// node's assignments, of a policy assigned there, of its subtree or of
    /// its devices. Devices elsewhere are not touched.
    pub fn refresh(&mut self, tenant: &Tenant, node: &NodeId) -> Result<Refresh, Error> {
        let idx = tenant.node_idx(node)?;
        let parent_state = match tenant.nodes[idx].parent {
            None => MergeState::default(),
            Some(p) => match self.nodes.get(&tenant.nodes[p].id) {
                Some(e) => e.state.clone(),
                None => return self.rebuild(tenant),
            },
        };
        let mut refresh = Refresh::default();
        // Forget devices that left the subtree's nodes.
        self.recompute_from(tenant, idx, parent_state, &mut refresh, true)?;
        refresh.changed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(refresh)
    }

    /// Recomputes every place a policy is used, after the policy changed.
    pub fn refresh_policy(
        &mut self,
        tenant: &Tenant,
        policy: &crate::ids::PolicyId,
    ) -> Result<Refresh, Error> {
        let mut total = Refresh::default();
        let nodes: Vec<NodeId> = tenant.nodes_using(policy).into_iter().cloned().collect();
        let mut done: Vec<NodeId> = Vec::new();
        for n in nodes {
            // A node below one already refreshed was recomputed with it.
            let covered = tenant.path_to(&n)?.iter().any(|a| done.contains(a.id()));
            if covered {
                continue;
            }
            let r = self.refresh(tenant, &n)?;
            total.nodes += r.nodes;
            total.devices += r.devices;
            total.changed.extend(r.changed);
            done.push(n);
        }
        for d in tenant.devices().filter(|d| d.policies.contains(policy)) {
            let r = self.refresh_device(tenant, &d.id)?;
            total.devices += r.devices;
            total.changed.extend(r.changed);
        }
        total.changed.sort_by(|a, b| a.0.cmp(&b.0));
        total.changed.dedup_by(|a, b| a.0 == b.0);
        Ok(total)
    }

    /// Recomputes one device, after its own assignments changed.
    pub fn refresh_device(&mut self, tenant: &Tenant, device: &DeviceId) -> Result<Refresh, Error> {
        let d = tenant
            .device(device)
            .ok_or_else(|| Error::UnknownDevice(device.clone()))?;
        let Some(entry) = self.nodes.get(&d.node) else {
            return self.rebuild(tenant);
        };
        let depth = tenant.node(&d.node).map_or(0, |n| n.depth());
        let new = if d.policies.is_empty() {
            entry.effective.clone()
        } else {
            let mut state = entry.state.clone();
            tenant.apply_device(&mut state, d, depth);
            Arc::new(EffectivePolicy::from_state(state)?)
        };
        let mut refresh = Refresh {
            devices: 1,
            ..Refresh::default()
        };
        self.store(device, new, &mut refresh, true);
        Ok(refresh)
    }

    fn rebuild(&mut self, tenant: &Tenant) -> Result<Refresh, Error> {
        let mut refresh = Refresh::default();
        self.recompute_from(tenant, 0, MergeState::default(), &mut refresh, true)?;
        let present: std::collections::HashSet<&DeviceId> =
            tenant.devices().map(|d| &d.id).collect();
        self.devices.retain(|d, _| present.contains(d));
        refresh.changed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(refresh)
    }

    fn store(
        &mut self,
        device: &DeviceId,
        new: Arc<EffectivePolicy>,
        refresh: &mut Refresh,
        track: bool,
    ) {
        if track {
            let changes = match self.devices.get(device) {
                Some(old) if Arc::ptr_eq(old, &new) => ChangeSet::default(),
                Some(old) => new.diff_from(old),
                None => diff::diff_flat(&FlatSettings::new(), &new.flatten()),
            };
            if !changes.is_empty() {
                refresh.changed.push((device.clone(), changes));
            }
        }
        self.devices.insert(device.clone(), new);
    }

    fn recompute_from(
        &mut self,
        tenant: &Tenant,
        start: usize,
        parent_state: MergeState,
        refresh: &mut Refresh,
        track: bool,
    ) -> Result<(), Error> {
        // Depth-first, carrying each parent's state to its children.
        let mut stack = vec![(start, parent_state)];
        while let Some((idx, mut state)) = stack.pop() {
            tenant.apply_node(&mut state, idx);
            let node = &tenant.nodes[idx];
            let effective = Arc::new(EffectivePolicy::from_state(state.clone())?);
            refresh.nodes += 1;
            for dev in &node.devices {
                let Some(d) = tenant.device(dev) else {
                    continue;
                };
                let eff = if d.policies.is_empty() {
                    effective.clone()
                } else {
                    let mut s = state.clone();
                    tenant.apply_device(&mut s, d, node.depth);
                    Arc::new(EffectivePolicy::from_state(s)?)
                };
                refresh.devices += 1;
                self.store(dev, eff, refresh, track);
            }
            for &child in node.children.iter().rev() {
                stack.push((child, state.clone()));
            }
            self.nodes
                .insert(node.id.clone(), NodeEntry { state, effective });
        }
        Ok(())
    }
}

/// Replaces each of `secrets` inside the strings of `v` with the redaction
/// mark.
fn redact_strings(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) if secrets.iter().any(|x| s.contains(x.as_str())) => {
            for x in secrets {
                *s = s.replace(x.as_str(), crate::secret::REDACTED);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_strings(i, secrets)),
        Value::Object(map) => map.values_mut().for_each(|i| redact_strings(i, secrets)),
        _ => {}
    }
}

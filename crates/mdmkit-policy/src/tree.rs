//! The scope tree: a tenant root, nodes to any depth, devices at the leaves
//! and policies assigned to nodes and to single devices.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mdmkit_core::{DeviceId, Platform, TenantId};
use serde::{Deserialize, Serialize};

use crate::authors::{Author, Grant};
use crate::document::Policy;
use crate::error::Error;
use crate::ids::{AuthorKeyId, NodeId, PolicyId};
use crate::merge::{Compiled, MergeState, Scope, Source};

/// A managed device and the inventory facts vendor encoders need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Device {
    /// The device id.
    pub id: DeviceId,
    /// The node it belongs to.
    pub node: NodeId,
    /// Its platform.
    pub platform: Platform,
    /// Its OS version (`17.5`, `10.0.22631`, `14`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Whether an Apple device is supervised, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervised: Option<bool>,
    /// The hardware model, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The serial number, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Policies assigned to this device alone, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyId>,
}

impl Device {
    /// A device at `node`, with no inventory facts and no own policy.
    pub fn new(id: DeviceId, node: NodeId, platform: Platform) -> Self {
        Self {
            id,
            node,
            platform,
            os_version: None,
            supervised: None,
            model: None,
            serial: None,
            policies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct NodeData {
    pub(crate) id: NodeId,
    pub(crate) name: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) parent: Option<usize>,
    pub(crate) children: Vec<usize>,
    pub(crate) depth: usize,
    pub(crate) policies: Vec<PolicyId>,
    pub(crate) devices: BTreeSet<DeviceId>,
}

/// A read-only view of one node.
#[derive(Debug, Clone, Copy)]
pub struct NodeRef<'a> {
    tenant: &'a Tenant,
    idx: usize,
}

impl<'a> NodeRef<'a> {
    fn data(&self) -> &'a NodeData {
        &self.tenant.nodes[self.idx]
    }

    pub(crate) fn idx(&self) -> usize {
        self.idx
    }

    /// The node id.
    pub fn id(&self) -> &'a NodeId {
        &self.data().id
    }

    /// Its display name.
    pub fn name(&self) -> Option<&'a str> {
        self.data().name.as_deref()
    }

    /// A free label (`region`, `town`, `school`, `class`).
    pub fn kind(&self) -> Option<&'a str> {
        self.data().kind.as_deref()
    }

    /// Its depth: 0 for the root.
    pub fn depth(&self) -> usize {
        self.data().depth
    }

    /// Its parent, `None` for the root.
    pub fn parent(&self) -> Option<NodeRef<'a>> {
        self.data().parent.map(|idx| NodeRef {
            tenant: self.tenant,
            idx,
        })
    }

    /// Its children, in insertion order.
    pub fn children(&self) -> impl Iterator<Item = NodeRef<'a>> + 'a {
        let tenant = self.tenant;
        self.data()
            .children
            .iter()
            .map(move |&idx| NodeRef { tenant, idx })
    }

    /// The policies assigned to it, in order (later ones win at equal level).
    pub fn policies(&self) -> &'a [PolicyId] {
        &self.data().policies
    }

    /// The devices placed directly at this node.
    pub fn devices(&self) -> impl Iterator<Item = &'a DeviceId> + 'a {
        self.data().devices.iter()
    }
}

/// A tenant's scope tree, its devices and its policies.
///
/// The root node has the tenant id as its node id. Each device's effective
/// policy is the merge of the policies assigned along its path from the
/// root, then of its own policies.
#[derive(Debug, Clone)]
pub struct Tenant {
    id: TenantId,
    name: Option<String>,
    pub(crate) nodes: Vec<NodeData>,
    index: HashMap<NodeId, usize>,
    devices: BTreeMap<DeviceId, Device>,
    pub(crate) policies: BTreeMap<PolicyId, Arc<Compiled>>,
    policy_files: BTreeMap<PolicyId, PathBuf>,
    dir: Option<PathBuf>,
    require_signatures: bool,
    authors: Vec<Author>,
}

impl Tenant {
    /// A tenant with only its root node.
    pub fn new(id: TenantId) -> Self {
        let root = NodeId::from_tenant(&id);
        let mut index = HashMap::new();
        index.insert(root.clone(), 0);
        Self {
            id,
            name: None,
            nodes: vec![NodeData {
                id: root,
                name: None,
                kind: None,
                parent: None,
                children: Vec::new(),
                depth: 0,
                policies: Vec::new(),
                devices: BTreeSet::new(),
            }],
            index,
            devices: BTreeMap::new(),
            policies: BTreeMap::new(),
            policy_files: BTreeMap::new(),
            dir: None,
            require_signatures: false,
            authors: Vec::new(),
        }
    }

    /// The tenant id.
    pub fn id(&self) -> &TenantId {
        &self.id
    }

    /// The tenant's display name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Sets the display name.
    pub fn set_name(&mut self, name: Option<String>) {
        self.name = name.clone();
        self.nodes[0].name = name;
    }

    /// The root node.
    pub fn root(&self) -> NodeRef<'_> {
        NodeRef {
            tenant: self,
            idx: 0,
        }
    }

    /// A node by id.
    pub fn node(&self, id: &NodeId) -> Option<NodeRef<'_>> {
        self.index.get(id).map(|&idx| NodeRef { tenant: self, idx })
    }

    pub(crate) fn node_idx(&self, id: &NodeId) -> Result<usize, Error> {
        self.index
            .get(id)
            .copied()
            .ok_or_else(|| Error::UnknownNode(id.clone()))
    }

    /// Every node, parents before children.
    pub fn nodes(&self) -> Vec<NodeRef<'_>> {
        self.preorder(0)
            .into_iter()
            .map(|idx| NodeRef { tenant: self, idx })
            .collect()
    }

    pub(crate) fn preorder(&self, from: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![from];
        while let Some(i) = stack.pop() {
            out.push(i);
            stack.extend(self.nodes[i].children.iter().rev());
        }
        out
    }

    /// Adds a node below `parent`.
    pub fn add_node(
        &mut self,
        id: NodeId,
        parent: &NodeId,
        name: Option<String>,
        kind: Option<String>,
    ) -> Result<(), Error> {
        if self.index.contains_key(&id) {
            return Err(Error::DuplicateNode(id));
        }
        let p = self.node_idx(parent)?;
        let idx = self.nodes.len();
        self.nodes.push(NodeData {
            id: id.clone(),
            name,
            kind,
            parent: Some(p),
            children: Vec::new(),
            depth: self.nodes[p].depth + 1,
            policies: Vec::new(),
            devices: BTreeSet::new(),
        });
        self.nodes[p].children.push(idx);
        self.index.insert(id, idx);
        Ok(())
    }

    /// Inserts or replaces a policy. Returns the previous version.
    pub fn set_policy(&mut self, policy: Policy) -> Option<Policy> {
        self.policies
            .insert(policy.id.clone(), Compiled::new(policy))
            .map(|c| c.policy.clone())
    }

    /// The directory the tenant was read from ([`load_dir`](crate::load_dir)
    /// sets it): `file` secret references are relative to it.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Sets the directory `file` secret references are relative to.
    pub fn set_dir(&mut self, dir: impl Into<PathBuf>) {
        self.dir = Some(dir.into());
    }

    /// The file a policy was read from ([`load_dir`](crate::load_dir)
    /// records it), so that its exact bytes and its signature sidecar can
    /// be found.
    pub fn policy_file(&self, id: &PolicyId) -> Option<&Path> {
        self.policy_files.get(id).map(PathBuf::as_path)
    }

    /// Records the file a policy was read from.
    pub fn set_policy_file(&mut self, id: PolicyId, file: impl Into<PathBuf>) {
        self.policy_files.insert(id, file.into());
    }

    /// Whether every assigned policy must carry a valid signature by an
    /// author whose grant covers where it is assigned (`[tenant]
    /// require_signatures = true`).
    pub fn requires_signatures(&self) -> bool {
        self.require_signatures
    }

    /// Sets whether signatures are required.
    pub fn set_requires_signatures(&mut self, required: bool) {
        self.require_signatures = required;
    }

    /// The declared authors (`[[author]]` entries), in file order.
    pub fn authors(&self) -> &[Author] {
        &self.authors
    }

    /// Declares an author. The node must exist; a key id already declared
    /// must keep the same public key.
    pub fn add_author(&mut self, author: Author) -> Result<(), Error> {
        self.node_idx(&author.node)?;
        if self
            .authors
            .iter()
            .any(|a| a.key == author.key && a.public_key != author.public_key)
        {
            return Err(Error::ConflictingAuthorKey(author.key));
        }
        self.authors.push(author);
        Ok(())
    }

    /// The nearest `[[author]]` entry of `key` holding `grant` at `node` or
    /// at one of its ancestors: the grant that lets the key act at `node`.
    pub fn author_grant(&self, key: &AuthorKeyId, node: &NodeId, grant: Grant) -> Option<&Author> {
        let mut idx = self.index.get(node).copied();
        while let Some(i) = idx {
            let here = &self.nodes[i].id;
            if let Some(a) = self
                .authors
                .iter()
                .find(|a| &a.key == key && &a.node == here && a.may(grant))
            {
                return Some(a);
            }
            idx = self.nodes[i].parent;
        }
        None
    }

    /// A policy by id.
    pub fn policy(&self, id: &PolicyId) -> Option<&Policy> {
        self.policies.get(id).map(|c| &c.policy)
    }

    /// Every policy, by id.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.values().map(|c| &c.policy)
    }

    /// Assigns a policy to a node, after those already assigned there.
    /// The policy may be inserted later; [`Tenant::check`] reports
    /// assignments that never resolve.
    pub fn assign(&mut self, node: &NodeId, policy: PolicyId) -> Result<(), Error> {
        let idx = self.node_idx(node)?;
        self.nodes[idx].policies.push(policy);
        Ok(())
    }

    /// Removes a policy from a node's assignments; whether it was there.
    pub fn unassign(&mut self, node: &NodeId, policy: &PolicyId) -> Result<bool, Error> {
        let idx = self.node_idx(node)?;
        let before = self.nodes[idx].policies.len();
        self.nodes[idx].policies.retain(|p| p != policy);
        Ok(self.nodes[idx].policies.len() != before)
    }

    /// Adds a device at its node.
    pub fn add_device(&mut self, device: Device) -> Result<(), Error> {
        if self.devices.contains_key(&device.id) {
            return Err(Error::DuplicateDevice(device.id));
        }
        let idx = self.node_idx(&device.node)?;
        self.nodes[idx].devices.insert(device.id.clone());
        self.devices.insert(device.id.clone(), device);
        Ok(())
    }

    /// Moves a device to another node.
    pub fn move_device(&mut self, device: &DeviceId, to: &NodeId) -> Result<(), Error> {
        let to_idx = self.node_idx(to)?;
        let d = self
            .devices
            .get_mut(device)
            .ok_or_else(|| Error::UnknownDevice(device.clone()))?;
        let from_idx = self
            .index
            .get(&d.node)
            .copied()
            .ok_or_else(|| Error::UnknownNode(d.node.clone()))?;
        d.node = to.clone();
        self.nodes[from_idx].devices.remove(device);
        self.nodes[to_idx].devices.insert(device.clone());
        Ok(())
    }

    /// Sets a device's inventory facts (OS version, supervision, model,
    /// serial) to those of `facts`, the device its id names; the device's
    /// node and own policies stay.
    pub fn set_device_facts(&mut self, facts: &Device) -> Result<(), Error> {
        let d = self
            .devices
            .get_mut(&facts.id)
            .ok_or_else(|| Error::UnknownDevice(facts.id.clone()))?;
        d.os_version.clone_from(&facts.os_version);
        d.supervised = facts.supervised;
        d.model.clone_from(&facts.model);
        d.serial.clone_from(&facts.serial);
        Ok(())
    }

    /// Assigns a policy to one device, after its other own policies.
    pub fn assign_to_device(&mut self, device: &DeviceId, policy: PolicyId) -> Result<(), Error> {
        let d = self
            .devices
            .get_mut(device)
            .ok_or_else(|| Error::UnknownDevice(device.clone()))?;
        d.policies.push(policy);
        Ok(())
    }

    /// A copy of this tree (nodes, policies, authors, files) that keeps only
    /// those of `devices` it lists; every other device is left out.
    ///
    /// The copy costs the nodes and the kept devices, not the tree's whole
    /// inventory (policies are shared), so a server can plan or answer for a
    /// few devices of a large tenant without copying the rest. An id the
    /// tree does not list is skipped.
    pub fn only_devices<'a>(&self, devices: impl IntoIterator<Item = &'a DeviceId>) -> Self {
        let mut nodes: Vec<NodeData> = self
            .nodes
            .iter()
            .map(|n| NodeData {
                id: n.id.clone(),
                name: n.name.clone(),
                kind: n.kind.clone(),
                parent: n.parent,
                children: n.children.clone(),
                depth: n.depth,
                policies: n.policies.clone(),
                devices: BTreeSet::new(),
            })
            .collect();
        let mut kept = BTreeMap::new();
        for id in devices {
            let Some(d) = self.devices.get(id) else {
                continue;
            };
            if let Some(&idx) = self.index.get(&d.node) {
                nodes[idx].devices.insert(id.clone());
                kept.insert(id.clone(), d.clone());
            }
        }
        Self {
            id: self.id.clone(),
            name: self.name.clone(),
            nodes,
            index: self.index.clone(),
            devices: kept,
            policies: self.policies.clone(),
            policy_files: self.policy_files.clone(),
            dir: self.dir.clone(),
            require_signatures: self.require_signatures,
            authors: self.authors.clone(),
        }
    }

    /// A device by id.
    pub fn device(&self, id: &DeviceId) -> Option<&Device> {
        self.devices.get(id)
    }

    /// Every device, by id.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    /// The path from the root to `node`, root first.
    pub fn path_to(&self, node: &NodeId) -> Result<Vec<NodeRef<'_>>, Error> {
        let mut idx = Some(self.node_idx(node)?);
        let mut out = Vec::new();
        while let Some(i) = idx {
            out.push(NodeRef {
                tenant: self,
                idx: i,
            });
            idx = self.nodes[i].parent;
        }
        out.reverse();
        Ok(out)
    }

    /// `node` and every node below it, each before its children.
    pub fn subtree(&self, node: &NodeId) -> Result<Vec<NodeRef<'_>>, Error> {
        let idx = self.node_idx(node)?;
        Ok(self
            .preorder(idx)
            .into_iter()
            .map(|i| NodeRef {
                tenant: self,
                idx: i,
            })
            .collect())
    }

    /// The devices whose effective policy depends on `node`: every device
    /// at the node or below it, sorted by id.
    pub fn affected_devices(&self, node: &NodeId) -> Result<Vec<DeviceId>, Error> {
        let idx = self.node_idx(node)?;
        let mut out: Vec<DeviceId> = self
            .preorder(idx)
            .into_iter()
            .flat_map(|i| self.nodes[i].devices.iter().cloned())
            .collect();
        out.sort();
        Ok(out)
    }

    /// The nodes a policy is assigned to, parents before children.
    pub fn nodes_using(&self, policy: &PolicyId) -> Vec<&NodeId> {
        self.preorder(0)
            .into_iter()
            .filter(|&i| self.nodes[i].policies.contains(policy))
            .map(|i| &self.nodes[i].id)
            .collect()
    }

    /// The devices whose effective policy depends on `policy`.
    pub fn devices_using(&self, policy: &PolicyId) -> Vec<DeviceId> {
        let mut set = BTreeSet::new();
        for node in self.nodes_using(policy) {
            if let Ok(ds) = self.affected_devices(node) {
                set.extend(ds);
            }
        }
        set.extend(
            self.devices
                .values()
                .filter(|d| d.policies.contains(policy))
                .map(|d| d.id.clone()),
        );
        set.into_iter().collect()
    }

    /// Folds one node's policies into `state`.
    pub(crate) fn apply_node(&self, state: &mut MergeState, idx: usize) {
        let node = &self.nodes[idx];
        for pid in &node.policies {
            if let Some(compiled) = self.policies.get(pid) {
                let source = Source::new(Scope::Node(node.id.clone()), pid.clone());
                state.apply(node.depth, &source, compiled);
            }
        }
    }

    /// Folds a device's own policies into `state`.
    pub(crate) fn apply_device(&self, state: &mut MergeState, device: &Device, depth: usize) {
        for pid in &device.policies {
            if let Some(compiled) = self.policies.get(pid) {
                let source = Source::new(Scope::Device(device.id.clone()), pid.clone());
                state.apply(depth + 1, &source, compiled);
            }
        }
    }

    /// The merge state of a device, folded from the root.
    pub(crate) fn state_of(&self, device: &DeviceId) -> Result<MergeState, Error> {
        let d = self
            .devices
            .get(device)
            .ok_or_else(|| Error::UnknownDevice(device.clone()))?;
        let leaf = self.node_idx(&d.node)?;
        let mut chain = Vec::new();
        let mut idx = Some(leaf);
        while let Some(i) = idx {
            chain.push(i);
            idx = self.nodes[i].parent;
        }
        let mut state = MergeState::default();
        for &i in chain.iter().rev() {
            self.apply_node(&mut state, i);
        }
        self.apply_device(&mut state, d, self.nodes[leaf].depth);
        Ok(state)
    }
}

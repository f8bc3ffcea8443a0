//! What [`verify_layers`](super::verify_layers) found: per layer, where it
//! applies and who signed it; per failure, the file, the scope and why.

use std::fmt;
use std::path::PathBuf;

use mdmkit_core::{DeviceId, TenantId};
use mdmkit_policy::{NodeId, PolicyId};
use serde::Serialize;

use super::SIGNATURE_SUFFIX;

/// Where a policy layer applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "at", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LayerScope {
    /// Assigned to a node of the tree.
    Node {
        /// The node.
        node: NodeId,
    },
    /// Assigned to one device (its own policy).
    Device {
        /// The device.
        device: DeviceId,
        /// The device's node, where the grant is needed.
        node: NodeId,
    },
}

impl LayerScope {
    /// The node whose grants decide.
    pub fn node(&self) -> &NodeId {
        match self {
            LayerScope::Node { node } | LayerScope::Device { node, .. } => node,
        }
    }
}

impl fmt::Display for LayerScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerScope::Node { node } => write!(f, "node {node}"),
            LayerScope::Device { device, node } => write!(f, "device {device} (node {node})"),
        }
    }
}

/// Why a policy layer's signature is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LayerProblem {
    /// No `.sig` file next to the policy.
    #[error("unsigned: no {SIGNATURE_SUFFIX} file")]
    Unsigned,
    /// The policy was not read from a file, so there are no bytes to check.
    #[error("no policy file is known for this policy")]
    NoFile,
    /// The policy or its signature file could not be read.
    #[error("unreadable: {reason}")]
    Unreadable {
        /// Why.
        reason: String,
    },
    /// The signature file is not a signed policy-layer envelope.
    #[error("malformed signature: {reason}")]
    Malformed {
        /// Why.
        reason: String,
    },
    /// The signing key is not declared in the tree.
    #[error("signed with key {key}, which the tree does not declare")]
    UnknownKey {
        /// The key id in the envelope.
        key: String,
    },
    /// The signature does not verify under the declared key.
    #[error("the signature does not verify under key {key}")]
    BadSignature {
        /// The key id in the envelope.
        key: String,
    },
    /// The signature was made for another tenant.
    #[error("signed for tenant {found}, not this one")]
    WrongTenant {
        /// The tenant in the signature.
        found: String,
    },
    /// The signature was made for another policy.
    #[error("signed for policy {found}, not this one")]
    WrongPolicy {
        /// The policy in the signature.
        found: String,
    },
    /// The file's bytes are not the signed bytes.
    #[error("the file was changed after it was signed (sha256 {actual}, signed {signed})")]
    Tampered {
        /// The signed digest.
        signed: String,
        /// The file's digest.
        actual: String,
    },
    /// The file on disk no longer holds the policy that was loaded.
    #[error("the file changed since the tenant was loaded")]
    Changed,
    /// The key holds no `author` grant at this node or above.
    #[error("key {key} may not author policies at node {node}")]
    OutOfScope {
        /// The signing key.
        key: String,
        /// The node.
        node: NodeId,
    },
    /// The policy locks settings and the key holds no `lock` grant here.
    #[error("the policy locks settings and key {key} may not lock at node {node}")]
    NoLockRight {
        /// The signing key.
        key: String,
        /// The node.
        node: NodeId,
    },
}

/// One rejected (or, when signatures are optional, suspicious) layer: the
/// file, where it applies and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LayerFailure {
    /// The policy.
    pub policy: PolicyId,
    /// Its file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Where it applies, when the problem is about one scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<LayerScope>,
    /// Why.
    #[serde(flatten)]
    pub problem: LayerProblem,
}

impl fmt::Display for LayerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}: policy {}", file.display(), self.policy)?,
            None => write!(f, "policy {}", self.policy)?,
        }
        if let Some(scope) = &self.scope {
            write!(f, " at {scope}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// What is known of one layer's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LayerStatus {
    /// Signed by a declared key whose grants cover every scope.
    Signed {
        /// The key id.
        key: String,
        /// Who holds the key (the `name` of its `[[author]]` entry).
        #[serde(skip_serializing_if = "Option::is_none")]
        author: Option<String>,
        /// When it says it was signed.
        signed_at: String,
    },
    /// No signature.
    Unsigned,
    /// A signature is there but does not hold (see the report's problems).
    Invalid,
}

/// One policy and its signature status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Layer {
    /// The policy.
    pub policy: PolicyId,
    /// Its file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Where it is assigned; empty when it is assigned nowhere (then it
    /// affects no device and is never a failure).
    pub scopes: Vec<LayerScope>,
    /// Whether it locks settings.
    pub locks: bool,
    /// The signature status.
    #[serde(flatten)]
    pub status: LayerStatus,
}

/// The signature status of every policy of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LayerReport {
    /// The tenant.
    pub tenant: TenantId,
    /// Whether the tree requires signatures.
    pub requires_signatures: bool,
    /// Every policy, by id.
    pub layers: Vec<Layer>,
    /// Problems of assigned layers: bad signatures always; missing ones
    /// only when signatures are required.
    pub problems: Vec<LayerFailure>,
}

impl LayerReport {
    /// The key id that signed `policy`, when its signature holds.
    pub fn signed_by(&self, policy: &str) -> Option<&str> {
        self.layers
            .iter()
            .find(|l| l.policy.as_str() == policy)
            .and_then(|l| match &l.status {
                LayerStatus::Signed { key, .. } => Some(key.as_str()),
                _ => None,
            })
    }

    /// How many layers are signed with a valid, in-scope signature.
    pub fn signed_count(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| matches!(l.status, LayerStatus::Signed { .. }))
            .count()
    }
}

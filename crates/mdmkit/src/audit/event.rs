//! What the journal records.

use mdmkit_core::{DeviceId, Platform, TenantId};
use mdmkit_identity::{Payload, Signed};
use mdmkit_policy::{NodeId, PolicyId};
use mdmkit_queue::CommandId;
use serde::{Deserialize, Serialize};

/// One journal event. Serialised with a `type` tag (`policy_changed`,
/// `command_enqueued`, ...); digests are lower-case hex SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Event {
    /// A policy was added, changed or removed.
    PolicyChanged {
        /// The tenant.
        tenant: TenantId,
        /// The policy.
        policy: PolicyId,
        /// The nodes it is assigned to.
        nodes: Vec<NodeId>,
        /// The SHA-256 of its new file bytes (or of its canonical JSON when
        /// it has no file); `None` when the policy was removed.
        sha256: Option<String>,
    },
    /// A command was enqueued for one or more devices.
    CommandEnqueued {
        /// The tenant.
        tenant: TenantId,
        /// The command id (for a fan-out, the first one's).
        command: CommandId,
        /// The command kind (`InstallProfile`, `Replace`, `patch`...).
        kind: String,
        /// The platform.
        platform: Platform,
        /// How many devices it was enqueued for.
        devices: u64,
        /// The SHA-256 of the sorted target device ids, one per line
        /// ([`targets_sha256`]).
        targets_sha256: String,
        /// The SHA-256 of the payload bytes.
        payload_sha256: String,
    },
    /// A device answered a command.
    CommandAnswered {
        /// The tenant.
        tenant: TenantId,
        /// The device.
        device: DeviceId,
        /// The command.
        command: CommandId,
        /// What it answered (`acknowledged`, `error`, `not-now`, a Windows
        /// status code, ...).
        status: String,
        /// The device's error, if any.
        error: Option<String>,
    },
    /// A reconcile run finished.
    Reconciled {
        /// The tenant.
        tenant: TenantId,
        /// Devices whose effective policy was computed.
        devices: u64,
        /// Commands enqueued.
        commands: u64,
        /// Settings a platform cannot enforce.
        unsupported: u64,
        /// Conflicts between policies.
        conflicts: u64,
    },
    /// On opening, a torn last line (a write cut short by a crash) was cut
    /// off; what was dropped is recorded here.
    Recovered {
        /// The byte offset where the torn line started.
        offset: u64,
        /// How many bytes were dropped.
        dropped_bytes: u64,
        /// Their SHA-256.
        dropped_sha256: String,
    },
    /// A device enrolled (or enrolled again) under a node.
    DeviceEnrolled {
        /// The tenant.
        tenant: TenantId,
        /// The device.
        device: DeviceId,
        /// The node it was enrolled under.
        node: NodeId,
        /// Its platform.
        platform: Platform,
        /// SHA-256 of the certificate bound to the enrollment.
        certificate_sha256: Option<String>,
    },
    /// A device removed its enrollment.
    DeviceCheckedOut {
        /// The tenant.
        tenant: TenantId,
        /// The device.
        device: DeviceId,
    },
    /// An admin acted through the admin API.
    AdminAction {
        /// The tenant.
        tenant: TenantId,
        /// The token's id.
        token: String,
        /// The token's node.
        node: NodeId,
        /// The token's role.
        role: crate::access::Role,
        /// What it did (`enqueue DeviceLock`, `reconcile`).
        action: String,
        /// The device or node acted on.
        target: Option<String>,
    },
    /// A signature over the chain up to the previous entry.
    Checkpoint {
        /// The signed (seq, head) of the previous entry.
        signed: Signed<CheckpointPayload>,
    },
}

impl Event {
    /// The `type` tag of the event.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::PolicyChanged { .. } => "policy_changed",
            Event::CommandEnqueued { .. } => "command_enqueued",
            Event::CommandAnswered { .. } => "command_answered",
            Event::Reconciled { .. } => "reconciled",
            Event::Recovered { .. } => "recovered",
            Event::DeviceEnrolled { .. } => "device_enrolled",
            Event::DeviceCheckedOut { .. } => "device_checked_out",
            Event::AdminAction { .. } => "admin_action",
            Event::Checkpoint { .. } => "checkpoint",
        }
    }
}

/// What a checkpoint signs: the sequence number and hash of the entry just
/// before it. Since every entry's hash covers the one before, this
/// authenticates the whole chain up to there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckpointPayload {
    /// The covered entry's sequence number.
    pub seq: u64,
    /// The covered entry's hash.
    pub head: String,
}

impl CheckpointPayload {
    /// A payload covering entry `seq` of hash `head`.
    pub fn new(seq: u64, head: impl Into<String>) -> Self {
        Self {
            seq,
            head: head.into(),
        }
    }
}

impl Payload for CheckpointPayload {
    const KIND: &'static str = "audit-checkpoint";
}

/// The lower-case hex SHA-256 of `bytes`, as events record payloads and
/// policy files.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::signing::sha256_hex(bytes)
}

/// The `targets_sha256` of [`Event::CommandEnqueued`]: the SHA-256 of the
/// target device ids, sorted and deduplicated, each followed by `\n`.
pub fn targets_sha256<'a>(devices: impl IntoIterator<Item = &'a DeviceId>) -> String {
    let mut ids: Vec<&str> = devices.into_iter().map(DeviceId::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut text = String::with_capacity(ids.iter().map(|d| d.len() + 1).sum());
    for id in ids {
        text.push_str(id);
        text.push('\n');
    }
    sha256_hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrollment_and_admin_events_round_trip_and_refuse_unknown_fields() {
        let events = [
            Event::DeviceEnrolled {
                tenant: "region".parse().unwrap(),
                device: "ipad-1".parse().unwrap(),
                node: "school".parse().unwrap(),
                platform: Platform::Apple,
                certificate_sha256: Some("ab".repeat(32)),
            },
            Event::DeviceCheckedOut {
                tenant: "region".parse().unwrap(),
                device: "ipad-1".parse().unwrap(),
            },
            Event::AdminAction {
                tenant: "region".parse().unwrap(),
                token: "0123456789abcdef".into(),
                node: "school".parse().unwrap(),
                role: crate::access::Role::Operate,
                action: "enqueue DeviceLock".into(),
                target: Some("ipad-1".into()),
            },
        ];
        let kinds: Vec<&str> = events.iter().map(Event::kind).collect();
        assert_eq!(
            kinds,
            ["device_enrolled", "device_checked_out", "admin_action"]
        );
        for e in events {
            let mut value = serde_json::to_value(&e).unwrap();
            assert_eq!(value["type"], e.kind());
            let back: Event = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(back, e);
            value["extra"] = serde_json::Value::Bool(true);
            assert!(serde_json::from_value::<Event>(value).is_err());
        }
        let text = serde_json::to_string(&Event::AdminAction {
            tenant: "r".parse().unwrap(),
            token: "t".into(),
            node: "r".parse().unwrap(),
            role: crate::access::Role::Author,
            action: "reconcile".into(),
            target: None,
        })
        .unwrap();
        assert!(text.contains(r#""role":"author""#), "{text}");
    }

    #[test]
    fn the_targets_digest_ignores_order_and_duplicates() {
        let a: DeviceId = "a".parse().unwrap();
        let b: DeviceId = "b".parse().unwrap();
        assert_eq!(targets_sha256([&b, &a, &b]), targets_sha256([&a, &b]));
        assert_eq!(targets_sha256([&a, &b]), sha256_hex(b"a\nb\n"));
    }
}

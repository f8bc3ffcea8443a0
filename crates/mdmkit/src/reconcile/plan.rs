//! What a run did: the [`Plan`] a reconcile returns.

use std::collections::BTreeMap;

use mdmkit_core::{DeviceId, Platform, TenantId};
use mdmkit_policy::Category;
use mdmkit_queue::CommandId;
use serde::Serialize;

/// One command enqueued by a run (to every target at once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EnqueuedCommand {
    /// The queue command id (also Apple's `CommandUUID`).
    pub id: CommandId,
    /// Its platform.
    pub platform: Platform,
    /// Its kind.
    pub kind: String,
    /// The categories it carries.
    #[serde(serialize_with = "ser_categories")]
    pub categories: Vec<Category>,
    /// How many devices it was queued for.
    pub devices: u64,
    /// SHA-256 of the payload, hex.
    pub payload_sha256: String,
    /// SHA-256 over the sorted target device ids, hex.
    pub targets_sha256: String,
}

fn ser_categories<S: serde::Serializer>(c: &[Category], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(c.len()))?;
    for x in c {
        seq.serialize_element(x.as_str())?;
    }
    seq.end()
}

/// A setting a platform cannot enforce, counted over the devices of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UnsupportedSummary {
    /// The platform.
    pub platform: Platform,
    /// The setting.
    pub path: String,
    /// Why.
    pub reason: String,
    /// On how many devices.
    pub devices: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// The tenant.
    pub tenant: Option<TenantId>,
    /// Devices considered.
    pub devices: u64,
    /// Devices whose settings or facts changed (and got commands or new
    /// states).
    pub changed_devices: u64,
    /// Failed categories sent again.
    pub retried: u64,
    /// Devices forgotten because they left the tenant.
    pub removed_devices: u64,
    /// Devices whose node changed with nothing to send them (their
    /// effective policy is the same): only their record follows them, so
    /// per-node counts stay true.
    pub moved_devices: u64,
    /// Queue rows written (commands × devices).
    pub queued: u64,
    /// Commands per platform and kind (`apple` → `InstallProfile` → 30).
    pub commands: BTreeMap<String, BTreeMap<String, u64>>,
    /// Each distinct command enqueued.
    pub enqueued: Vec<EnqueuedCommand>,
    /// Older undelivered commands replaced.
    pub superseded: u64,
    /// Devices to wake by push (their queue went from empty to non-empty).
    pub wake: Vec<DeviceId>,
    /// Settings the platforms cannot enforce on the planned devices.
    pub unsupported: Vec<UnsupportedSummary>,
    /// The merge conflicts met in the effective policies of the devices in
    /// scope (a lock overridden, two layers of one node disagreeing), as
    /// text, each once.
    pub conflicts: Vec<String>,
    /// Devices whose platform has no encoder in this build.
    pub skipped_devices: u64,
    /// Identity renewals queued (certificates about to expire; see
    /// [`crate::renewal`]).
    pub renewals: Vec<crate::renewal::RenewalQueued>,
}

impl Plan {
    /// Whether the run queued nothing and changed no state.
    pub fn is_noop(&self) -> bool {
        self.changed_devices == 0
            && self.queued == 0
            && self.removed_devices == 0
            && self.moved_devices == 0
            && self.renewals.is_empty()
    }
}

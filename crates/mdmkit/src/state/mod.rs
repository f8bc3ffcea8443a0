//! The applied-state store: what the reconciler last planned for each
//! device, and the compliance state of each of its setting categories.
//!
//! The reconciler diffs a device's effective policy against the settings it
//! last planned for it (kept here, deduplicated by content hash: 100,000
//! devices of one school district share a handful of distinct policies), so
//! a second run with no change plans nothing and a change at one school
//! touches only that school's devices.
//!
//! Compliance is tracked per device and per category
//! ([`Category`]): `pending` (commands queued) → `sent` (delivered to the
//! device) → `verified` | `failed` (with the device's error, retried with
//! backoff) | `unsupported` (the platform cannot enforce the category).
//!
//! Three stores are built in: [`MemoryState`] (tests, simulations),
//! `SqliteState` (feature `sqlite`, the embedded default, in the same
//! database file as the queue) and `PostgresState` (feature `postgres`, for
//! a hosted deployment; tenant-leading keys like the queue's).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use mdmkit_core::{DeviceId, Platform, TenantId};
use mdmkit_policy::{Category, ContentHash, NodeId, Settings};
use mdmkit_queue::{CommandId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::access::AdminToken;
use crate::challenge::{Challenge, IssuedCertificate, Refusal};
use crate::error::Error;
use crate::inventory::Enrollment;
use crate::push::{PushAlert, PushState, StoredPushCertificate};

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod records;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryState;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresState;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteState;

/// Where a device's category stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ComplianceState {
    /// Commands are queued and not yet delivered.
    Pending,
    /// The device has fetched the commands and not answered them all.
    Sent,
    /// The device confirmed every command (and, on Android, reported the
    /// settings applied).
    Verified,
    /// The device refused a command or reported a setting not applied.
    Failed,
    /// The platform cannot enforce any setting of the category.
    Unsupported,
}

impl ComplianceState {
    /// Every state, in lifecycle order.
    pub const ALL: [ComplianceState; 5] = [
        Self::Pending,
        Self::Sent,
        Self::Verified,
        Self::Failed,
        Self::Unsupported,
    ];

    /// The name used in storage and JSON (`pending`, `sent`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Verified => "verified",
            Self::Failed => "failed",
            Self::Unsupported => "unsupported",
        }
    }

    /// Whether the device is compliant in this state (verified, or nothing
    /// the platform could enforce).
    pub fn is_compliant(self) -> bool {
        matches!(self, Self::Verified | Self::Unsupported)
    }
}

impl fmt::Display for ComplianceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ComplianceState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| Error::Corrupt {
                what: format!("compliance state {s:?} (unknown)"),
                source: None,
            })
    }
}

/// A setting the platform does not enforce on this device, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsupportedNote {
    /// The setting path (`restrictions.app_store`).
    pub path: String,
    /// Why (`needs a supervised device`).
    pub reason: String,
}

fn notes_empty(notes: &Arc<[UnsupportedNote]>) -> bool {
    notes.is_empty()
}

/// The compliance of one category of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CategoryState {
    /// The category.
    #[serde(with = "category_serde")]
    pub category: Category,
    /// Where it stands.
    pub state: ComplianceState,
    /// The content hash of the category's settings being enforced (64
    /// hex digits in JSON).
    #[serde(with = "hash_serde")]
    pub target: ContentHash,
    /// The commands not yet answered (or the last ones sent, once answered).
    pub commands: Vec<CommandId>,
    /// The device's error, when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many times the category failed in a row.
    pub attempts: u32,
    /// When a failed category is sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_retry: Option<Timestamp>,
    /// Settings of the category the platform does not enforce here.
    /// Shared: every device planned alike carries the same notes, so a run
    /// over 100,000 devices holds them once per group, not once per row.
    #[serde(default, skip_serializing_if = "notes_empty")]
    pub unsupported: Arc<[UnsupportedNote]>,
    /// Android: the policy version Google assigned to the accepted patch,
    /// which the device must report as applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// When the state last changed.
    pub updated_at: Timestamp,
}

impl CategoryState {
    /// A category with commands just queued.
    pub fn pending(
        category: Category,
        target: &ContentHash,
        commands: Vec<CommandId>,
        now: Timestamp,
    ) -> Self {
        Self {
            category,
            state: ComplianceState::Pending,
            target: *target,
            commands,
            error: None,
            attempts: 0,
            next_retry: None,
            unsupported: Arc::from([]),
            version: None,
            updated_at: now,
        }
    }
}

/// What the reconciler last planned for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceRecord {
    /// The device's platform.
    pub platform: Platform,
    /// The hash of the planned settings (a key of the content table).
    pub content: ContentHash,
    /// The hash of the inventory facts the plan depended on (OS version,
    /// supervision, model, serial).
    pub inventory: ContentHash,
    /// The node the device was placed at when it was last reconciled
    /// (`None` for a record written before stores kept it). The reconciler
    /// rewrites the record when the device moves, so per-node queries
    /// ([`StateStore::node_counts`]) follow the tree.
    pub node: Option<NodeId>,
}

impl DeviceRecord {
    /// A record (without a node: see [`DeviceRecord::with_node`]).
    pub fn new(platform: Platform, content: ContentHash, inventory: ContentHash) -> Self {
        Self {
            platform,
            content,
            inventory,
            node: None,
        }
    }

    /// The record placed at `node`.
    #[must_use]
    pub fn with_node(mut self, node: NodeId) -> Self {
        self.node = Some(node);
        self
    }
}

/// Devices of one node counted by platform and overall compliance: a row
/// of [`StateStore::node_counts`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NodeCount {
    /// The node the devices were placed at (their own node, not an
    /// ancestor).
    pub node: NodeId,
    /// Their platform.
    pub platform: Platform,
    /// Their overall compliance (the worst category); `None` for devices
    /// planned with nothing to enforce yet (no category state).
    pub state: Option<ComplianceState>,
    /// How many.
    pub devices: u64,
}

impl NodeCount {
    /// A count.
    pub fn new(
        node: NodeId,
        platform: Platform,
        state: Option<ComplianceState>,
        devices: u64,
    ) -> Self {
        Self {
            node,
            platform,
            state,
            devices,
        }
    }
}

/// Everything one reconcile run writes, in one transaction.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct StateBatch {
    /// Settings by content hash (written once per hash).
    pub contents: Vec<(ContentHash, Settings)>,
    /// Device records to write.
    pub devices: Vec<(DeviceId, DeviceRecord)>,
    /// Devices that left the tenant: their records and compliance go.
    pub removed: Vec<DeviceId>,
    /// Category states to write (replacing the previous one).
    pub compliance: Vec<(DeviceId, CategoryState)>,
    /// Category states to drop (the category became empty).
    pub cleared: Vec<(DeviceId, Category)>,
    /// Policy content hashes to record (`None`: the policy was removed).
    pub policies: Vec<(String, Option<String>)>,
    /// The audit journal's head after the events this state follows from
    /// (see [`AuditHeads`]).
    pub audit: Option<AuditHeads>,
}

/// The audit journal's heads a state store keeps, so that a journal cut
/// short is evident: the store holds a head the journal no longer does
/// (`mdmkit audit verify` checks it).
///
/// A store keeps the highest of each it was given: several writers may
/// commit heads out of order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditHeads {
    /// The journal's last entry when the state was committed.
    pub head: crate::audit::JournalHead,
    /// The journal's last signed checkpoint then.
    pub signed: Option<crate::audit::SignedHead>,
}

impl AuditHeads {
    /// Heads to record.
    pub fn new(head: crate::audit::JournalHead, signed: Option<crate::audit::SignedHead>) -> Self {
        Self { head, signed }
    }

    /// Keeps the highest head and the highest signed head of both.
    pub fn merge(&mut self, other: AuditHeads) {
        if other.head.seq > self.head.seq {
            self.head = other.head;
        }
        match (&self.signed, other.signed) {
            (Some(a), Some(b)) if b.seq > a.seq => self.signed = Some(b),
            (None, Some(b)) => self.signed = Some(b),
            _ => {}
        }
    }
}

impl StateBatch {
    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.contents.is_empty()
            && self.devices.is_empty()
            && self.removed.is_empty()
            && self.compliance.is_empty()
            && self.cleared.is_empty()
            && self.policies.is_empty()
            && self.audit.is_none()
    }
}

/// Storage for the reconciler's applied state and for compliance.
///
/// Every call names its tenant first and touches nothing outside it.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Every device record of a tenant.
    async fn device_records(
        &self,
        tenant: &TenantId,
    ) -> Result<HashMap<DeviceId, DeviceRecord>, Error>;

    /// The records of some devices (those without one are absent): what
    /// a reconcile of a node or of a few devices reads, instead of the
    /// whole tenant's. The default filters [`StateStore::device_records`];
    /// the built-in stores read only the rows asked for.
    async fn device_records_of(
        &self,
        tenant: &TenantId,
        devices: &[DeviceId],
    ) -> Result<HashMap<DeviceId, DeviceRecord>, Error> {
        let mut all = self.device_records(tenant).await?;
        Ok(devices.iter().filter_map(|d| all.remove_entry(d)).collect())
    }

    /// The settings stored under a content hash.
    async fn content(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<Settings>, Error>;

    /// Writes a batch in one transaction.
    async fn commit(&self, tenant: &TenantId, batch: &StateBatch) -> Result<(), Error>;

    /// The category states of one device, or of every device.
    async fn compliance(
        &self,
        tenant: &TenantId,
        device: Option<&DeviceId>,
    ) -> Result<Vec<(DeviceId, CategoryState)>, Error>;

    /// The category states of some devices (a node's, for a console),
    /// sorted by device then category. The default asks
    /// [`StateStore::compliance`] device by device; the built-in stores
    /// answer with one indexed query per batch of devices.
    async fn compliance_of(
        &self,
        tenant: &TenantId,
        devices: &[DeviceId],
    ) -> Result<Vec<(DeviceId, CategoryState)>, Error> {
        let mut sorted: Vec<&DeviceId> = devices.iter().collect();
        sorted.sort();
        sorted.dedup();
        let mut out = Vec::new();
        for d in sorted {
            let mut rows = self.compliance(tenant, Some(d)).await?;
            rows.sort_by_key(|(_, s)| s.category);
            out.extend(rows);
        }
        Ok(out)
    }

    /// The tenant's planned devices counted by the node they were placed
    /// at, their platform and their overall compliance (the worst
    /// category: failed, then pending, sent, verified, unsupported): one
    /// row per (node, platform, state) present, sorted. Devices never
    /// planned, or planned before stores kept nodes, are not counted.
    ///
    /// What a console's tree view adds up: the answer has as many rows as
    /// the tenant has such groups (a few per node), whatever its number of
    /// devices. The built-in SQL stores keep each device's node and overall
    /// state as columns maintained by [`StateStore::commit`], and answer
    /// from an index of those columns without reading compliance rows; the
    /// default computes it from [`StateStore::device_records`] and
    /// [`StateStore::device_states`].
    async fn node_counts(&self, tenant: &TenantId) -> Result<Vec<NodeCount>, Error> {
        let records = self.device_records(tenant).await?;
        let states: HashMap<DeviceId, ComplianceState> =
            self.device_states(tenant).await?.into_iter().collect();
        let mut counts: std::collections::BTreeMap<
            (NodeId, Platform, Option<ComplianceState>),
            u64,
        > = std::collections::BTreeMap::new();
        for (d, r) in &records {
            if let Some(node) = &r.node {
                *counts
                    .entry((node.clone(), r.platform, states.get(d).copied()))
                    .or_default() += 1;
            }
        }
        Ok(counts
            .into_iter()
            .map(|((node, platform, state), devices)| {
                NodeCount::new(node, platform, state, devices)
            })
            .collect())
    }

    /// Each device's overall compliance, one row per device that has any
    /// category state: its worst category (failed, then pending, sent,
    /// verified, unsupported). What a console counts per node; the SQL
    /// stores answer it with one grouped query instead of every row.
    async fn device_states(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<(DeviceId, ComplianceState)>, Error> {
        let rows = self.compliance(tenant, None).await?;
        Ok(crate::reconcile::overall_states(
            rows.into_iter().map(|(d, s)| (d, s.state)),
        ))
    }

    /// The content hash of each policy as last reconciled, by policy id.
    async fn policy_hashes(
        &self,
        tenant: &TenantId,
    ) -> Result<std::collections::BTreeMap<String, String>, Error>;

    /// The audit journal's heads recorded by [`StateStore::commit`]
    /// ([`StateBatch::audit`]), if any. The default records none: a store
    /// that keeps them overrides both.
    async fn audit_heads(&self, tenant: &TenantId) -> Result<Option<AuditHeads>, Error> {
        let _ = tenant;
        Ok(None)
    }

    /// Failed categories whose retry time has come.
    async fn due_retries(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<(DeviceId, CategoryState)>, Error>;

    /// One enrolled device.
    async fn enrollment(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> Result<Option<Enrollment>, Error>;

    /// Every enrolled device of a tenant (checked-out ones included),
    /// sorted by device.
    async fn enrollments(&self, tenant: &TenantId) -> Result<Vec<Enrollment>, Error>;

    /// The enrolled devices of a tenant (checked-out ones included) whose
    /// enrollment places them at one of `nodes`, sorted by device.
    ///
    /// What a console's query about one node reads instead of the tenant's
    /// whole inventory. The built-in SQL stores keep the node as an indexed
    /// column; the default filters [`StateStore::enrollments`].
    async fn enrollments_under(
        &self,
        tenant: &TenantId,
        nodes: &[NodeId],
    ) -> Result<Vec<Enrollment>, Error> {
        let wanted: std::collections::HashSet<&NodeId> = nodes.iter().collect();
        let mut all = self.enrollments(tenant).await?;
        all.retain(|e| wanted.contains(&e.node));
        Ok(all)
    }

    /// The enrollment a certificate (SHA-256, hex) is bound to.
    async fn enrollment_by_certificate(
        &self,
        tenant: &TenantId,
        sha256: &str,
    ) -> Result<Option<Enrollment>, Error>;

    /// Writes an enrollment (by tenant and device). A certificate bound to
    /// another device of the tenant is refused with
    /// [`Error::CertificateInUse`].
    async fn put_enrollment(&self, tenant: &TenantId, enrollment: &Enrollment)
    -> Result<(), Error>;

    /// Writes an admin token (by its tenant and id).
    async fn put_token(&self, token: &AdminToken) -> Result<(), Error>;

    /// One admin token of a tenant.
    async fn token(&self, tenant: &TenantId, id: &str) -> Result<Option<AdminToken>, Error>;

    /// Every admin token of a tenant, by id.
    async fn tokens(&self, tenant: &TenantId) -> Result<Vec<AdminToken>, Error>;

    /// Writes an enrollment challenge (by its tenant and hash).
    async fn put_challenge(&self, challenge: &Challenge) -> Result<(), Error>;

    /// Spends the challenge whose secret has this SHA-256 (hex) at `now`,
    /// atomically: of two processes spending one one-time challenge, one
    /// gets it and the other [`Refusal::Used`]. The challenge as spent, or
    /// why it was refused.
    async fn spend_challenge(
        &self,
        tenant: &TenantId,
        sha256: &str,
        now: Timestamp,
    ) -> Result<Result<Challenge, Refusal>, Error>;

    /// Every challenge of a tenant (spent and expired ones included), by
    /// hash.
    async fn challenges(&self, tenant: &TenantId) -> Result<Vec<Challenge>, Error>;

    /// Records a certificate enrollment issued (by its tenant and hash).
    async fn put_issued_certificate(&self, cert: &IssuedCertificate) -> Result<(), Error>;

    /// The record of an issued certificate (SHA-256 of its DER, hex).
    async fn issued_certificate(
        &self,
        tenant: &TenantId,
        sha256: &str,
    ) -> Result<Option<IssuedCertificate>, Error>;

    /// The issued certificates that expire before `before`, soonest first.
    async fn expiring_certificates(
        &self,
        tenant: &TenantId,
        before: Timestamp,
    ) -> Result<Vec<IssuedCertificate>, Error>;

    /// One challenge (by the SHA-256 of its secret, hex), without spending
    /// it: an enrollment that checks a token before the step that spends
    /// it (Windows' policy request before its certificate request).
    async fn challenge(&self, tenant: &TenantId, sha256: &str) -> Result<Option<Challenge>, Error>;

    /// A device's stored management session.
    async fn session(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> Result<Option<DeviceSession>, Error>;

    /// Writes a device's management session if the stored one is still at
    /// version `expected` (`None`: none stored), so that two processes
    /// answering the same session never both write it. Whether it was
    /// written.
    async fn put_session(
        &self,
        tenant: &TenantId,
        session: &DeviceSession,
        expected: Option<i64>,
    ) -> Result<bool, Error>;

    /// The tenant's MDM push certificate (with its alert), if one was
    /// uploaded.
    async fn push_certificate(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<StoredPushCertificate>, Error>;

    /// Writes the tenant's push certificate, replacing the previous one
    /// and clearing any alert: every process pushes with it from its next
    /// push on.
    async fn put_push_certificate(
        &self,
        tenant: &TenantId,
        cert: &StoredPushCertificate,
    ) -> Result<(), Error>;

    /// Records (`Some`) or clears (`None`) the alert of the certificate
    /// with this SHA-256 (hex), if it is still the tenant's.
    async fn set_push_alert(
        &self,
        tenant: &TenantId,
        sha256: &str,
        alert: Option<&PushAlert>,
    ) -> Result<(), Error>;

    /// The push state of every device of a tenant that has one, by device.
    async fn push_states(&self, tenant: &TenantId) -> Result<Vec<PushState>, Error>;

    /// Writes push states (each replacing the device's previous one).
    async fn put_push_states(&self, tenant: &TenantId, states: &[PushState]) -> Result<(), Error>;
}

/// A device's management session kept between two of its requests (an
/// OMA-DM session spans several): the state is the protocol layer's own
/// document, opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceSession {
    /// The device.
    pub device: DeviceId,
    /// Bumped by every write ([`StateStore::put_session`] compares it).
    pub version: i64,
    /// When it was last written.
    pub updated_at: Timestamp,
    /// The session's state (JSON).
    pub state: String,
}

impl DeviceSession {
    /// A session record.
    pub fn new(device: DeviceId, version: i64, updated_at: Timestamp, state: String) -> Self {
        Self {
            device,
            version,
            updated_at,
            state,
        }
    }
}

/// The devices whose overall compliance a batch may change (records or
/// category rows written or cleared), sorted, once each.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn touched_devices(batch: &StateBatch) -> Vec<DeviceId> {
    let mut out: Vec<DeviceId> = batch
        .devices
        .iter()
        .map(|(d, _)| d)
        .chain(batch.compliance.iter().map(|(d, _)| d))
        .chain(batch.cleared.iter().map(|(d, _)| d))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The hash of a whole settings value: SHA-256 over its category hashes.
pub fn content_hash(categories: &std::collections::BTreeMap<Category, ContentHash>) -> ContentHash {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"mdmkit-content/v1\0");
    for (c, hash) in categories {
        h.update(c.as_str().as_bytes());
        h.update(b"\0");
        h.update(hash.0);
    }
    ContentHash(h.finalize().into())
}

/// A compliance row as both SQL stores keep it: text columns, integer
/// times.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) struct RawCategoryRow {
    pub(crate) device: String,
    pub(crate) category: String,
    pub(crate) state: String,
    pub(crate) target: String,
    pub(crate) commands: String,
    pub(crate) error: Option<String>,
    pub(crate) attempts: i64,
    pub(crate) next_retry: Option<i64>,
    pub(crate) unsupported: String,
    pub(crate) version: Option<i64>,
    pub(crate) updated_at: i64,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl RawCategoryRow {
    /// Reads the row's columns by name, from either SQL store.
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: sqlx::Row,
        &'static str: sqlx::ColumnIndex<R>,
        String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(Self {
            device: row.try_get("device")?,
            category: row.try_get("category")?,
            state: row.try_get("state")?,
            target: row.try_get("target")?,
            commands: row.try_get("commands")?,
            error: row.try_get("error")?,
            attempts: row.try_get("attempts")?,
            next_retry: row.try_get("next_retry")?,
            unsupported: row.try_get("unsupported")?,
            version: row.try_get("version")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    /// The typed row; anything unreadable is [`Error::Corrupt`].
    pub(crate) fn into_state(self) -> Result<(DeviceId, CategoryState), Error> {
        let device =
            DeviceId::new(self.device).map_err(|e| Error::corrupt("stored identifier", e))?;
        let commands = self
            .commands
            .split_ascii_whitespace()
            .map(|s| {
                uuid::Uuid::parse_str(s)
                    .map(CommandId::from_uuid)
                    .map_err(|e| Error::corrupt(format!("command id {s:?}"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let unsupported: Arc<[UnsupportedNote]> = serde_json::from_str(&self.unsupported)
            .map_err(|e| Error::corrupt("unsupported notes", e))?;
        Ok((
            device,
            CategoryState {
                category: parse_category(&self.category)?,
                state: ComplianceState::from_str(&self.state)?,
                target: parse_hash(&self.target)?,
                commands,
                error: self.error,
                attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
                next_retry: self.next_retry.map(Timestamp::from_millis),
                unsupported,
                version: self.version,
                updated_at: Timestamp::from_millis(self.updated_at),
            },
        ))
    }
}

/// Command ids as stored: space-separated UUIDs.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn commands_text(ids: &[CommandId]) -> String {
    let mut out = String::with_capacity(ids.len() * 37);
    let mut buf = uuid::Uuid::encode_buffer();
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(id.as_uuid().hyphenated().encode_lower(&mut buf));
    }
    out
}

/// The overall severity of each device whose every category the batch
/// writes or clears, so that its stored rows do not matter: the worst rank
/// of its rows after the batch (`None`: no rows), ranked as the SQL stores
/// rank them (`records::OVERALL_OF_ROWS`, the reconciler's severity). Applied as the stores
/// apply a batch: clears first, then the rows, a later row of a category
/// replacing an earlier one.
#[cfg(feature = "sqlite")]
pub(crate) fn overall_of_covered(batch: &StateBatch) -> HashMap<&DeviceId, Option<i64>> {
    let index = |c: Category| Category::ALL.iter().position(|a| *a == c);
    let mut per: HashMap<&DeviceId, [Option<Option<i64>>; Category::ALL.len()]> = HashMap::new();
    for (d, c) in &batch.cleared {
        if let Some(i) = index(*c) {
            per.entry(d).or_default()[i] = Some(None);
        }
    }
    for (d, s) in &batch.compliance {
        if let Some(i) = index(s.category) {
            per.entry(d).or_default()[i] =
                Some(Some(i64::from(crate::reconcile::severity(s.state))));
        }
    }
    per.into_iter()
        .filter(|(_, cats)| cats.iter().all(Option::is_some))
        .map(|(d, cats)| (d, cats.into_iter().flatten().flatten().max()))
        .collect()
}

/// The overall state of a device from the grouped SQL query's severity
/// rank (see [`crate::reconcile`]'s ranking: 0 unsupported ... 4 failed).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn state_of_severity(rank: i64) -> Result<ComplianceState, Error> {
    Ok(match rank {
        0 => ComplianceState::Unsupported,
        1 => ComplianceState::Verified,
        2 => ComplianceState::Sent,
        3 => ComplianceState::Pending,
        4 => ComplianceState::Failed,
        other => {
            return Err(Error::Corrupt {
                what: format!("compliance severity {other} (unknown)"),
                source: None,
            });
        }
    })
}

/// Parses a category name.
pub(crate) fn parse_category(s: &str) -> Result<Category, Error> {
    Category::ALL
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| Error::Corrupt {
            what: format!("category {s:?} (unknown)"),
            source: None,
        })
}

/// Parses a hex content hash.
pub(crate) fn parse_hash(s: &str) -> Result<ContentHash, Error> {
    let bad = || Error::Corrupt {
        what: format!("content hash {s:?} (not 64 hex digits)"),
        source: None,
    };
    if s.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(chunk).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(text, 16).map_err(|_| bad())?;
    }
    Ok(ContentHash(out))
}

mod hash_serde {
    use mdmkit_policy::ContentHash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(h: &ContentHash, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(h)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ContentHash, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse_hash(&s).map_err(serde::de::Error::custom)
    }
}

mod category_serde {
    use mdmkit_policy::Category;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(c: &Category, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(c.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Category, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_category(&s).map_err(serde::de::Error::custom)
    }
}

/// What the stores' migration tests check after opening.
#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
#[allow(clippy::unwrap_used)]
pub(crate) mod test_support {
    use super::*;

    /// Commits a device's row and a compliance row, reads them back.
    pub(crate) async fn works(s: &dyn StateStore, label: &str) {
        let t = TenantId::new("mig").unwrap();
        let d = DeviceId::new("ipad-1").unwrap();
        let mut batch = StateBatch::default();
        batch.devices.push((
            d.clone(),
            DeviceRecord::new(Platform::Apple, ContentHash([1; 32]), ContentHash([2; 32])),
        ));
        batch.compliance.push((
            d.clone(),
            CategoryState::pending(
                Category::Passcode,
                &ContentHash([7; 32]),
                vec![mdmkit_queue::CommandId::new()],
                mdmkit_queue::Timestamp::from_millis(5),
            ),
        ));
        s.commit(&t, &batch).await.unwrap();
        assert_eq!(s.device_records(&t).await.unwrap().len(), 1, "{label}");
        assert_eq!(
            s.compliance(&t, Some(&d)).await.unwrap().len(),
            1,
            "{label}"
        );
    }
}

//! The reconcile loop: from a scope tree, its policies and its devices to
//! queued vendor commands, and from device answers to per-category
//! compliance.
//!
//! [`Reconciler::reconcile`] computes every device's effective policy,
//! compares it with what it last planned for the device (kept in a
//! [`StateStore`]), and for each device whose settings or inventory facts
//! changed:
//!
//! 1. finds the categories that changed (per-category content hashes);
//! 2. asks the platform's encoder for the fewest commands (see the table in
//!    the `vendor` notes below);
//! 3. enqueues them, one fan-out per distinct command: devices with the same
//!    change share one encoded payload and one queue command;
//! 4. records each category as `pending` (or `unsupported`) and the new
//!    applied state, then returns a [`Plan`] with the push hints.
//!
//! A second run with no change queues nothing; a change at one school plans
//! only that school's devices. Device answers go through
//! [`Reconciler::record_answer`] (and the platform helpers in
//! [`answers`]), which move categories to `verified` or `failed`; failed
//! categories are sent again by a later run once their backoff has passed.
//!
//! Commands are enqueued before the state is saved: a crash in between
//! plans the same change again on the next run (an Apple or Android command
//! supersedes its twin; a Windows `Replace` is idempotent), never loses it.
//!
//! | platform | commands | supersede key |
//! |---|---|---|
//! | Apple | `InstallProfile` of a changed category's whole profile, `RemoveProfile` for an emptied one, app installs and removals | `apple/profile/<PayloadIdentifier>`, `apple/app/<bundle id>` |
//! | Windows | one SyncML command per changed node | none: a diff must run in order |
//! | Android | the device's whole `Policy` (`PatchPolicy`, no update mask) | `android/policy` |

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use mdmkit_core::{DeviceId, Platform, TenantId};
use mdmkit_policy::{
    Category, ContentHash, Device, EffectiveCache, EnvFileResolver, NodeId, SecretCache,
    SecretResolver, Settings, Tenant, category_hashes,
};
use mdmkit_queue::{Clock, CommandId, EnrollmentId, NewCommand, QueueStore, SystemClock};
use sha2::{Digest, Sha256};

use crate::audit::{Appended, Event, JournalWriter, SignedHead, sha256_hex, targets_sha256};
use crate::error::Error;
use crate::state::{
    AuditHeads, CategoryState, ComplianceState, DeviceRecord, StateBatch, StateStore,
    UnsupportedNote, content_hash,
};

pub mod answers;
mod inventory;
mod options;
mod plan;
mod query;
mod renewals;
mod summary;
pub(crate) mod vendor;

pub use options::{Options, RetryPolicy};
pub use plan::{EnqueuedCommand, Plan, UnsupportedSummary};

pub use answers::{Answer, AnswerOutcome};
pub use query::{DeviceStatus, Finding, SettingSource};
pub(crate) use summary::overall_states;
pub use summary::{ComplianceCounts, NodeSummary};

type CategoryHashes = BTreeMap<Category, ContentHash>;

/// Which devices a run considers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// Every device of the tenant; devices that left are forgotten.
    All,
    /// The devices at a node and below it (after a change there).
    Node(NodeId),
    /// These devices.
    Devices(Vec<DeviceId>),
}

impl std::fmt::Display for Scope {
    /// `all`, `node:<id>`, or `devices:<count>` (the form logs use).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::All => f.write_str("all"),
            Scope::Node(n) => write!(f, "node:{n}"),
            Scope::Devices(d) => write!(f, "devices:{}", d.len()),
        }
    }
}

/// Plans and queues commands for devices, and tracks their answers.
pub struct Reconciler<Q: ?Sized, S: ?Sized> {
    queue: Arc<Q>,
    state: Arc<S>,
    options: Options,
    clock: Arc<dyn Clock>,
    journal: Option<JournalWriter>,
    /// The journal's heads since the last state commit, recorded with the
    /// next one ([`StateBatch::audit`]).
    unrecorded: Mutex<Option<AuditHeads>>,
    /// Reads secret references; `None`: [`EnvFileResolver::for_tenant`].
    secrets: Option<Arc<dyn SecretResolver>>,
    /// Commands this process delivered that carry no policy category.
    #[cfg_attr(not(feature = "apple"), allow(dead_code))]
    uncategorized: answers::Uncategorized,
}

impl<Q: ?Sized, S: ?Sized> std::fmt::Debug for Reconciler<Q, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Devices that share one change plan: same platform, same facts, same old
/// and new settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    platform: Platform,
    facts: ContentHash,
    old: Option<ContentHash>,
    new: ContentHash,
    forced: Vec<Category>,
    personal: bool,
}

struct Group {
    representative: Device,
    old: Settings,
    /// The new effective settings with their secrets resolved: what is
    /// encoded.
    resolved: Arc<Settings>,
    changed: Vec<Category>,
    new_hashes: Arc<BTreeMap<Category, ContentHash>>,
    devices: Vec<DeviceId>,
    /// The devices themselves, when the device category is planned per
    /// device.
    personal: Vec<Device>,
    attempts: HashMap<(DeviceId, Category), u32>,
}

/// One command to enqueue, with every device that gets it.
struct Merged {
    id: CommandId,
    platform: Platform,
    kind: String,
    supersede: Option<String>,
    body: vendor::Body,
    categories: Vec<Category>,
    targets: Vec<DeviceId>,
}

/// Devices planned together: a group's shared categories, or one device's
/// personal ones.
struct Unit<'g> {
    group: &'g Group,
    representative: &'g Device,
    changed: Vec<Category>,
    devices: Vec<DeviceId>,
}

impl<Q, S> Reconciler<Q, S>
where
    Q: QueueStore + ?Sized,
    S: StateStore + ?Sized,
{
    /// A reconciler over a queue store and a state store.
    pub fn new(queue: Arc<Q>, state: Arc<S>) -> Self {
        Self {
            queue,
            state,
            options: Options::default(),
            clock: Arc::new(SystemClock),
            journal: None,
            unrecorded: Mutex::new(None),
            secrets: None,
            uncategorized: answers::Uncategorized::default(),
        }
    }

    /// Reads the secret references of policies (`{ env = ... }`,
    /// `{ file = ... }`) with this resolver when payloads are encoded,
    /// instead of the default [`EnvFileResolver`] over the tenant's
    /// directory ([`Tenant::dir`]). A reference that does not resolve fails
    /// the run ([`Error::Secret`]) before anything is queued.
    pub fn with_secrets(mut self, resolver: Arc<dyn SecretResolver>) -> Self {
        self.secrets = Some(resolver);
        self
    }

    /// Appends every policy change, every command enqueued and every answer
    /// to this audit journal (before the state that follows from them is
    /// saved, so nothing is done without a record). Each state commit then
    /// records the journal's head in the state store
    /// ([`StateBatch::audit`]), which is what makes a journal cut short
    /// evident to `mdmkit audit verify`.
    pub fn with_journal(mut self, journal: JournalWriter) -> Self {
        self.journal = Some(journal);
        self
    }

    /// The audit journal's writer, if there is one.
    pub fn journal_writer(&self) -> Option<&JournalWriter> {
        self.journal.as_ref()
    }

    /// Appends events to the journal, if there is one; their head is
    /// recorded with the next state commit.
    pub(crate) async fn journal(&self, events: Vec<Event>) -> Result<(), Error> {
        let Some(j) = &self.journal else {
            return Ok(());
        };
        if events.is_empty() {
            return Ok(());
        }
        let appended = j.append_all(events).await?;
        self.note_heads(appended);
        Ok(())
    }

    /// Appends events to the journal and records its head in the state
    /// store at once: for events that no state change follows (an
    /// enrollment, an administrator's action).
    pub async fn journal_events(&self, tenant: &TenantId, events: Vec<Event>) -> Result<(), Error> {
        self.journal(events).await?;
        self.commit_state(tenant, StateBatch::default()).await
    }

    /// Records in the state store the heads an append through another
    /// handle of the journal left (a server appending its own events).
    pub async fn record_appended(
        &self,
        tenant: &TenantId,
        appended: Appended,
    ) -> Result<(), Error> {
        self.note_heads(appended);
        self.commit_state(tenant, StateBatch::default()).await
    }

    /// Signs the journal's head now (a checkpoint) and records it in the
    /// state store; returns the signed head, to export. `None` without a
    /// journal, or for an empty one.
    pub async fn checkpoint_journal(&self, tenant: &TenantId) -> Result<Option<SignedHead>, Error> {
        let Some(j) = &self.journal else {
            return Ok(None);
        };
        let appended = j.checkpoint().await?;
        let signed = appended.signed.clone();
        self.note_heads(appended);
        self.commit_state(tenant, StateBatch::default()).await?;
        Ok(signed)
    }

    fn note_heads(&self, appended: Appended) {
        let Some(head) = appended.head else {
            return;
        };
        let heads = AuditHeads::new(head, appended.signed);
        let mut pending = self.unrecorded.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *pending {
            Some(kept) => kept.merge(heads),
            None => *pending = Some(heads),
        }
    }

    /// Commits state with the journal heads not yet recorded; on failure
    /// they wait for the next commit.
    pub(crate) async fn commit_state(
        &self,
        tenant: &TenantId,
        mut batch: StateBatch,
    ) -> Result<(), Error> {
        let heads = self
            .unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = &heads {
            match &mut batch.audit {
                Some(kept) => kept.merge(h.clone()),
                None => batch.audit = Some(h.clone()),
            }
        }
        let out = self.state.commit(tenant, &batch).await;
        if out.is_err()
            && let Some(h) = heads
        {
            self.note_heads(Appended {
                head: Some(h.head),
                signed: h.signed,
                ..Appended::default()
            });
        }
        out
    }

    /// Sets the options.
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Sets the clock (retry times, state timestamps).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The queue store.
    pub fn queue(&self) -> &Arc<Q> {
        &self.queue
    }

    /// The state store.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    /// Plans and queues every change of `scope`, computing effective
    /// policies from scratch.
    ///
    /// The devices are the tree's own and the enrolled inventory
    /// ([`Reconciler::with_inventory`]).
    pub async fn reconcile(&self, tenant: &Tenant, scope: &Scope) -> Result<Plan, Error> {
        let tenant = self.with_inventory(tenant).await?;
        let cache = EffectiveCache::build(&tenant)?;
        self.reconcile_with(&tenant, &cache, scope).await
    }

    /// Plans and queues every change of `scope` with effective policies the
    /// caller keeps up to date ([`EffectiveCache::refresh`] after an edit).
    ///
    /// The tenant and the cache must already include the enrolled
    /// inventory: pass the tree through [`Reconciler::with_inventory`] and
    /// build the cache from its result. This method does not read the
    /// inventory itself, so with [`Scope::All`] an enrolled device missing
    /// from `tenant` is forgotten like a device removed from the file.
    #[tracing::instrument(name = "reconcile", level = "info", skip_all, fields(tenant = %tenant.id(), scope = %scope))]
    pub async fn reconcile_with(
        &self,
        tenant: &Tenant,
        cache: &EffectiveCache,
        scope: &Scope,
    ) -> Result<Plan, Error> {
        let tid = tenant.id().clone();
        let now = self.clock.now();
        let mut batch_policies = Vec::new();
        let mut plan = Plan {
            tenant: Some(tid.clone()),
            ..Plan::default()
        };
        let mut events = self.policy_changes(tenant, &mut batch_policies).await?;
        let in_scope: Vec<&Device> = match scope {
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
        };
        // The records of the devices in scope only, unless the whole
        // tenant is (then records of devices gone from it are found too).
        let records = match scope {
            Scope::All => self.state.device_records(&tid).await?,
            _ => {
                let ids: Vec<DeviceId> = in_scope.iter().map(|d| d.id.clone()).collect();
                self.state.device_records_of(&tid, &ids).await?
            }
        };
        plan.devices = in_scope.len() as u64;
        tracing::debug!(devices = plan.devices, "scope resolved");
        let mut batch = StateBatch {
            policies: batch_policies,
            ..StateBatch::default()
        };
        if *scope == Scope::All {
            let present: BTreeSet<&DeviceId> = tenant.devices().map(|d| &d.id).collect();
            let mut gone: Vec<DeviceId> = records
                .keys()
                .filter(|d| !present.contains(d))
                .cloned()
                .collect();
            gone.sort();
            plan.removed_devices = gone.len() as u64;
            batch.removed = gone;
        }

        // Failed categories whose backoff has passed are planned again.
        let mut forced: HashMap<DeviceId, Vec<(Category, u32)>> = HashMap::new();
        for (d, s) in self.state.due_retries(&tid, now).await? {
            forced.entry(d).or_default().push((s.category, s.attempts));
        }

        // Secrets are resolved once per reference and run; the hashes and
        // the stored state cover their digests, never their values.
        let default_secrets;
        let secrets: &dyn SecretResolver = match &self.secrets {
            Some(r) => &**r,
            None => {
                default_secrets = EnvFileResolver::for_tenant(tenant);
                &default_secrets
            }
        };
        let secrets = SecretCache::new(secrets);
        // Hash each distinct effective policy once (devices of a node share
        // one).
        let empty = Arc::new(category_hashes(&Settings::default()));
        // Keyed by the policy's address (as an integer, so the future stays
        // `Send`): devices sharing one `Arc<EffectivePolicy>` share hashes.
        let mut hashes: HashMap<usize, (Arc<CategoryHashes>, ContentHash, Arc<Settings>)> =
            HashMap::new();
        let mut groups: HashMap<GroupKey, Group> = HashMap::new();
        let mut contents_seen: BTreeSet<ContentHash> = BTreeSet::new();
        let mut conflicts: BTreeSet<String> = BTreeSet::new();
        let mut olds: HashMap<ContentHash, (Arc<Settings>, CategoryHashes)> = HashMap::new();
        let total = in_scope.len() as u64;
        for (i, device) in in_scope.iter().enumerate() {
            if let Some(p) = &self.options.progress
                && (i % 1024 == 0)
            {
                p(i as u64, total);
            }
            let eff = cache
                .get(&device.id)
                .ok_or_else(|| mdmkit_policy::Error::UnknownDevice(device.id.clone()))?;
            let (cats, content, resolved) = match hashes.entry(Arc::as_ptr(eff) as usize) {
                std::collections::hash_map::Entry::Occupied(o) => o.get().clone(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    conflicts.extend(eff.conflicts().iter().map(ToString::to_string));
                    let resolved = eff.settings().resolve_secrets(&secrets)?;
                    let c = category_hashes(&resolved);
                    let h = content_hash(&c);
                    v.insert((Arc::new(c), h, Arc::new(resolved))).clone()
                }
            };
            let facts = facts_hash(device, false);
            let inventory = facts_hash(device, true);
            let record = records.get(&device.id);
            let retry = forced.remove(&device.id).unwrap_or_default();
            let unchanged = record.is_some_and(|r| {
                r.content == content && r.inventory == inventory && r.platform == device.platform
            });
            if unchanged && retry.is_empty() {
                if record.is_some_and(|r| r.node.as_ref() != Some(&device.node)) {
                    // Moved (or placed before stores kept nodes) without a
                    // change of policy: only the record follows it.
                    plan.moved_devices += 1;
                    batch.devices.push((
                        device.id.clone(),
                        DeviceRecord::new(device.platform, content, inventory)
                            .with_node(device.node.clone()),
                    ));
                }
                continue;
            }
            let old = record
                .filter(|r| r.platform == device.platform && r.inventory == inventory)
                .map(|r| r.content);
            if !unchanged {
                plan.changed_devices += 1;
            }
            plan.retried += retry.len() as u64;
            // The old settings and their category hashes, loaded once per
            // distinct content.
            if let Some(h) = old
                && !olds.contains_key(&h)
            {
                let settings = self.state.content(&tid, &h).await?.unwrap_or_default();
                let hashes = category_hashes(&settings);
                olds.insert(h, (Arc::new(settings), hashes));
            }
            let old_hashes = match old.and_then(|h| olds.get(&h)) {
                Some((_, hashes)) => hashes,
                None => &*empty,
            };
            let device_changed =
                old.is_none() || old_hashes.get(&Category::Device) != cats.get(&Category::Device);
            // A name template (filled from each device's inventory) makes the
            // device category's commands personal on Windows and Apple;
            // everything else is shared by the devices with the same facts
            // and the same change.
            let personal = matches!(device.platform, Platform::Windows | Platform::Apple)
                && device_changed
                && eff.settings().device.name_template.is_some();
            let key = GroupKey {
                platform: device.platform,
                facts,
                old,
                new: content,
                forced: retry.iter().map(|(c, _)| *c).collect(),
                personal,
            };
            if !contents_seen.contains(&content) {
                contents_seen.insert(content);
                // Serialised with each secret's reference and digest only.
                batch.contents.push((content, (*resolved).clone()));
            }
            batch.devices.push((
                device.id.clone(),
                DeviceRecord::new(device.platform, content, inventory)
                    .with_node(device.node.clone()),
            ));
            let group = match groups.entry(key) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let mut changed: Vec<Category> = Category::ALL
                        .into_iter()
                        .filter(|c| old.is_none() || old_hashes.get(c) != cats.get(c))
                        .collect();
                    let mut old_settings = match old.and_then(|h| olds.get(&h)) {
                        Some((s, _)) => (**s).clone(),
                        None => Settings::default(),
                    };
                    for (c, _) in &retry {
                        // Sent again in full: plan as if the device had none.
                        old_settings = clear(&old_settings, *c);
                        if !changed.contains(c) {
                            changed.push(*c);
                        }
                    }
                    changed.sort();
                    v.insert(Group {
                        representative: (*device).clone(),
                        old: old_settings,
                        resolved: resolved.clone(),
                        changed,
                        new_hashes: cats.clone(),
                        devices: Vec::new(),
                        personal: Vec::new(),
                        attempts: HashMap::new(),
                    })
                }
            };
            group.devices.push(device.id.clone());
            if personal {
                group.personal.push((*device).clone());
            }
            for (c, a) in retry {
                group.attempts.insert((device.id.clone(), c), a);
            }
        }
        // Devices gone from scope with pending retries are left alone.
        drop(forced);
        tracing::debug!(
            changed = plan.changed_devices,
            retried = plan.retried,
            groups = groups.len(),
            "devices grouped by change"
        );

        let vendors = vendor::Vendors::new(
            &tid,
            self.options.apple_prefix.as_deref(),
            self.options.organization.as_deref(),
        );
        let mut unsupported: BTreeMap<(Platform, String, String), u64> = BTreeMap::new();
        let mut wake: BTreeSet<DeviceId> = BTreeSet::new();
        let mut ordered: Vec<(GroupKey, Group)> = groups.into_iter().collect();
        ordered.sort_by(|a, b| a.1.devices[0].cmp(&b.1.devices[0]));
        let mut units: Vec<Unit<'_>> = Vec::new();
        for (_, group) in &ordered {
            if group.personal.is_empty() {
                units.push(Unit {
                    group,
                    representative: &group.representative,
                    changed: group.changed.clone(),
                    devices: group.devices.clone(),
                });
                continue;
            }
            units.push(Unit {
                group,
                representative: &group.representative,
                changed: group
                    .changed
                    .iter()
                    .copied()
                    .filter(|c| *c != Category::Device)
                    .collect(),
                devices: group.devices.clone(),
            });
            for d in &group.personal {
                units.push(Unit {
                    group,
                    representative: d,
                    changed: vec![Category::Device],
                    devices: vec![d.id.clone()],
                });
            }
        }
        // Plan every unit, then merge identical commands across units:
        // devices of different groups often get the same profile (the
        // category that changed is the same for all of them).
        let mut merged: Vec<Merged> = Vec::new();
        let mut index: HashMap<(Platform, String, Option<String>, [u8; 32]), usize> =
            HashMap::new();
        let mut planned_units = Vec::with_capacity(units.len());
        for unit in &units {
            let group = unit.group;
            let Some(vplan) = vendors.plan(
                unit.representative,
                &group.old,
                &group.resolved,
                &unit.changed,
            )?
            else {
                plan.skipped_devices += unit.devices.len() as u64;
                continue;
            };
            let platform = unit.representative.platform;
            let mut per_category: BTreeMap<Category, Vec<usize>> = BTreeMap::new();
            for planned in vplan.commands {
                let probe = planned
                    .body
                    .encode(CommandId::from_uuid(uuid::Uuid::nil()))?;
                let key = (
                    platform,
                    planned.kind.clone(),
                    planned.supersede.clone(),
                    <[u8; 32]>::from(Sha256::digest(&probe)),
                );
                let i = *index.entry(key).or_insert_with(|| {
                    merged.push(Merged {
                        id: CommandId::new(),
                        platform,
                        kind: planned.kind.clone(),
                        supersede: planned.supersede.clone(),
                        body: planned.body.clone(),
                        categories: planned.categories.clone(),
                        targets: Vec::new(),
                    });
                    merged.len() - 1
                });
                merged[i].targets.extend(unit.devices.iter().cloned());
                for c in &planned.categories {
                    per_category.entry(*c).or_default().push(i);
                }
            }
            planned_units.push((unit, per_category, vplan.unsupported));
        }

        tracing::debug!(
            commands = merged.len(),
            skipped = plan.skipped_devices,
            "commands planned"
        );
        // The whole plan is queued in one transaction: one commit, and never
        // half a plan after a crash.
        let mut batch_commands = Vec::with_capacity(merged.len());
        let mut shas = Vec::with_capacity(merged.len());
        for m in &merged {
            let payload = m.body.encode(m.id)?;
            shas.push((sha256_hex(&payload), targets_sha256(&m.targets)));
            let targets: Vec<EnrollmentId> = m
                .targets
                .iter()
                .map(|d| EnrollmentId::device(d.clone()))
                .collect();
            let mut cmd = NewCommand::new(m.kind.clone(), payload).with_id(m.id);
            if let Some(k) = &m.supersede {
                cmd = cmd.with_supersede_key(k.clone());
            }
            batch_commands.push((cmd, targets));
        }
        let results = if batch_commands.is_empty() {
            Vec::new()
        } else {
            self.queue.enqueue_batch(&tid, &batch_commands).await?
        };
        drop(batch_commands);
        for ((m, done), (payload_sha, targets_sha)) in merged.iter().zip(results).zip(shas) {
            plan.queued += done.queued;
            plan.superseded += done.superseded.len() as u64;
            wake.extend(done.wake.into_iter().map(|e| e.device_id().clone()));
            *plan
                .commands
                .entry(m.platform.as_str().to_owned())
                .or_default()
                .entry(m.kind.clone())
                .or_default() += done.queued;
            events.push(Event::CommandEnqueued {
                tenant: tid.clone(),
                command: m.id,
                kind: m.kind.clone(),
                platform: m.platform,
                devices: done.queued,
                targets_sha256: targets_sha.clone(),
                payload_sha256: payload_sha.clone(),
            });
            plan.enqueued.push(EnqueuedCommand {
                id: m.id,
                platform: m.platform,
                kind: m.kind.clone(),
                categories: m.categories.clone(),
                devices: done.queued,
                payload_sha256: payload_sha,
                targets_sha256: targets_sha,
            });
        }

        for (unit, mut per_category, unsupported_notes) in planned_units {
            let group = unit.group;
            let mut notes: BTreeMap<Category, Vec<UnsupportedNote>> = BTreeMap::new();
            for (c, n) in unsupported_notes {
                *unsupported
                    .entry((
                        unit.representative.platform,
                        n.path.clone(),
                        n.reason.clone(),
                    ))
                    .or_default() += unit.devices.len() as u64;
                notes.entry(c).or_default().push(n);
            }
            for c in &unit.changed {
                let target = group
                    .new_hashes
                    .get(c)
                    .copied()
                    .unwrap_or(ContentHash([0; 32]));
                let is_empty = empty.get(c) == Some(&target);
                let commands: Vec<CommandId> = per_category
                    .remove(c)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| merged[i].id)
                    .collect();
                let cat_notes = notes.remove(c).unwrap_or_default();
                for d in &unit.devices {
                    let state = if !commands.is_empty() {
                        let mut s = CategoryState::pending(*c, &target, commands.clone(), now);
                        s.unsupported = cat_notes.clone();
                        s.attempts = group.attempts.get(&(d.clone(), *c)).copied().unwrap_or(0);
                        s
                    } else if is_empty {
                        batch.cleared.push((d.clone(), *c));
                        continue;
                    } else {
                        let mut s = CategoryState::pending(*c, &target, Vec::new(), now);
                        s.state = if cat_notes.is_empty() {
                            // Nothing the platform would send differs.
                            ComplianceState::Verified
                        } else {
                            ComplianceState::Unsupported
                        };
                        s.unsupported = cat_notes.clone();
                        s
                    };
                    batch.compliance.push((d.clone(), state));
                }
            }
        }
        plan.wake = wake.into_iter().collect();
        plan.conflicts = conflicts.into_iter().collect();
        plan.unsupported = unsupported
            .into_iter()
            .map(|((platform, path, reason), devices)| UnsupportedSummary {
                platform,
                path,
                reason,
                devices,
            })
            .collect();
        if let Some(p) = &self.options.progress {
            p(total, total);
        }
        if !plan.is_noop() || !events.is_empty() {
            events.push(Event::Reconciled {
                tenant: tid.clone(),
                devices: plan.devices,
                commands: plan.queued,
                unsupported: plan.unsupported.len() as u64,
                conflicts: plan.conflicts.len() as u64,
            });
        }
        if let Some(renewal) = &self.options.renewal {
            let ids: std::collections::HashSet<&DeviceId> =
                in_scope.iter().map(|d| &d.id).collect();
            let (queued, renewal_events) = self
                .queue_renewals(&tid, renewal, |d| ids.contains(d), now)
                .await?;
            for r in &queued {
                plan.wake.push(r.device.clone());
            }
            plan.wake.sort();
            plan.wake.dedup();
            plan.renewals = queued;
            events.extend(renewal_events);
        }
        // Device order for the same reason as the fan-outs' targets (a
        // stable sort keeps each device's categories in order).
        batch.devices.sort_by(|a, b| a.0.cmp(&b.0));
        batch.compliance.sort_by(|a, b| a.0.cmp(&b.0));
        self.journal(events).await?;
        self.commit_state(&tid, batch).await?;
        tracing::info!(
            devices = plan.devices,
            changed = plan.changed_devices,
            removed = plan.removed_devices,
            queued = plan.queued,
            superseded = plan.superseded,
            wake = plan.wake.len(),
            renewals = plan.renewals.len(),
            conflicts = plan.conflicts.len(),
            "reconciled"
        );
        Ok(plan)
    }

    /// The policies added, changed or removed since the last run, as
    /// journal events and state rows.
    async fn policy_changes(
        &self,
        tenant: &Tenant,
        rows: &mut Vec<(String, Option<String>)>,
    ) -> Result<Vec<Event>, Error> {
        let stored = self.state.policy_hashes(tenant.id()).await?;
        let mut events = Vec::new();
        let mut present = BTreeSet::new();
        for p in tenant.policies() {
            present.insert(p.id.as_str().to_owned());
            let bytes =
                serde_json::to_vec(p).map_err(|e| Error::corrupt("stored identifier", e))?;
            let hash = sha256_hex(&bytes);
            if stored.get(p.id.as_str()) == Some(&hash) {
                continue;
            }
            events.push(Event::PolicyChanged {
                tenant: tenant.id().clone(),
                policy: p.id.clone(),
                nodes: tenant.nodes_using(&p.id).into_iter().cloned().collect(),
                sha256: Some(hash.clone()),
            });
            rows.push((p.id.as_str().to_owned(), Some(hash)));
        }
        for id in stored.keys().filter(|k| !present.contains(*k)) {
            if let Ok(policy) = id.parse() {
                events.push(Event::PolicyChanged {
                    tenant: tenant.id().clone(),
                    policy,
                    nodes: Vec::new(),
                    sha256: None,
                });
            }
            rows.push((id.clone(), None));
        }
        Ok(events)
    }
}

/// The settings with one category emptied.
fn clear(settings: &Settings, category: Category) -> Settings {
    let keep: Vec<Category> = Category::ALL
        .into_iter()
        .filter(|c| *c != category)
        .collect();
    vendor::only(settings, &keep)
}

/// A hash of the inventory facts a plan depends on; `with_serial` adds the
/// per-device ones.
fn facts_hash(device: &Device, with_serial: bool) -> ContentHash {
    let mut h = Sha256::new();
    h.update(device.platform.as_str().as_bytes());
    for part in [
        device.os_version.as_deref(),
        device
            .supervised
            .map(|s| if s { "supervised" } else { "unsupervised" }),
        device.model.as_deref(),
    ] {
        h.update(b"\0");
        h.update(part.unwrap_or("-").as_bytes());
    }
    if with_serial {
        h.update(b"\0");
        h.update(device.id.as_str().as_bytes());
        h.update(b"\0");
        h.update(device.serial.as_deref().unwrap_or("-").as_bytes());
    }
    ContentHash(h.finalize().into())
}

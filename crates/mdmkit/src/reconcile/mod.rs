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

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use mdmkit_core::{DeviceId, TenantId};
use mdmkit_policy::{
    Category, EffectiveCache, EnvFileResolver, NodeId, SecretCache, SecretResolver, Tenant,
};
use mdmkit_queue::{Clock, QueueStore, SystemClock};

use crate::audit::{Appended, Event, JournalWriter, SignedHead, sha256_hex};
use crate::error::Error;
use crate::state::{AuditHeads, StateBatch, StateStore};

pub mod answers;
mod inventory;
mod options;
mod plan;
mod query;
mod renewals;
mod steps;
mod summary;
pub(crate) mod vendor;

pub use options::{Options, RetryPolicy};
pub use plan::{EnqueuedCommand, Plan, UnsupportedSummary};

#[cfg(feature = "windows")]
pub use answers::windows::{DeviceSaid, WindowsExchange};
pub use answers::{Answer, AnswerOutcome};
pub use query::{DeviceStatus, Finding, SettingSource};
pub(crate) use summary::overall_states;
#[cfg(feature = "sqlite")]
pub(crate) use summary::severity;
pub use summary::{ComplianceCounts, NodeSummary};

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

/// Up to how many devices a [`Scope::Devices`] run of
/// [`Reconciler::reconcile`] reads their enrollments one by one instead of
/// the tenant's inventory at once.
const FEW_DEVICES: usize = 32;

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
    ///
    /// For [`Scope::Devices`] of a few devices (up to 32), the run reads only those devices' enrollments and
    /// merges only their paths ([`Reconciler::with_inventory_of`],
    /// [`EffectiveCache::build_for`]): planning one enrolled device costs
    /// the same in a tenant of ten devices or of a hundred thousand.
    pub async fn reconcile(&self, tenant: &Tenant, scope: &Scope) -> Result<Plan, Error> {
        if let Scope::Devices(ids) = scope
            && ids.len() <= FEW_DEVICES
        {
            let narrow = self.with_inventory_of(tenant, ids).await?;
            let known = ids.iter().filter(|d| narrow.device(d).is_some());
            let cache = EffectiveCache::build_for(&narrow, known)?;
            return self.reconcile_with(&narrow, &cache, scope).await;
        }
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
        let mut plan = Plan {
            tenant: Some(tid.clone()),
            ..Plan::default()
        };
        let mut batch = StateBatch::default();

        // Read what the stores know of the run's devices.
        let mut events = self.policy_changes(tenant, &mut batch.policies).await?;
        let in_scope = steps::scope::devices(tenant, scope)?;
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
        if *scope == Scope::All {
            batch.removed = steps::scope::gone(tenant, &records);
            plan.removed_devices = batch.removed.len() as u64;
        }
        // Failed categories whose backoff has passed are planned again.
        let mut retries: HashMap<DeviceId, Vec<(Category, u32)>> = HashMap::new();
        for (d, s) in self.state.due_retries(&tid, now).await? {
            retries.entry(d).or_default().push((s.category, s.attempts));
        }

        // Plan: pure steps, except for loading the old settings the
        // changed devices' diffs start from.
        let default_secrets;
        let secrets: &dyn SecretResolver = match &self.secrets {
            Some(r) => &**r,
            None => {
                default_secrets = EnvFileResolver::for_tenant(tenant);
                &default_secrets
            }
        };
        let secrets = SecretCache::new(secrets);
        let classified = steps::classify::classify(
            &in_scope,
            cache,
            &records,
            retries,
            &secrets,
            self.options.progress.as_deref(),
        )?;
        drop(records);
        plan.moved_devices = classified.moved.len() as u64;
        plan.changed_devices = classified.changed_devices;
        plan.retried = classified.retried;
        plan.conflicts = classified.conflicts.iter().cloned().collect();
        let mut olds = steps::group::Olds::new();
        for h in classified.old_contents() {
            let settings = self.state.content(&tid, &h).await?;
            olds.insert(h, steps::group::old_entry(settings));
        }
        batch.devices = classified.moved;
        let grouped = steps::group::group(classified.candidates, &olds);
        drop(olds);
        tracing::debug!(
            changed = plan.changed_devices,
            retried = plan.retried,
            groups = grouped.groups.len(),
            "devices grouped by change"
        );
        batch.devices.extend(grouped.records);
        batch.contents = grouped.contents;
        let vendors = vendor::Vendors::new(
            &tid,
            self.options.apple_prefix.as_deref(),
            self.options.organization.as_deref(),
        );
        let commands = steps::commands::plan(&vendors, &grouped.groups)?;
        plan.skipped_devices = commands.skipped_devices;
        tracing::debug!(
            commands = commands.merged.len(),
            skipped = plan.skipped_devices,
            "commands planned"
        );
        let encoded = steps::commands::encode(&commands.merged)?;

        // Commit: the queue first (a crash before the state is saved plans
        // the same change again), then the journal, then the state.
        let wake = self
            .enqueue(&tid, &commands.merged, encoded, &mut plan, &mut events)
            .await?;
        // The compliance rows are built once the encoded commands are gone:
        // at 100,000 devices each is a few hundred megabytes, and holding
        // both at once set the run's peak memory.
        let rows = steps::rows::rows(&commands.merged, commands.units, now);
        batch.compliance = rows.compliance;
        batch.cleared = rows.cleared;
        plan.unsupported = rows.unsupported;
        plan.wake = wake.into_iter().collect();
        if let Some(p) = &self.options.progress {
            p(plan.devices, plan.devices);
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

    /// Queues the whole plan in one transaction (one commit, and never
    /// half a plan after a crash), counting what was queued into `plan` and
    /// journalling each command; returns the devices to wake.
    async fn enqueue(
        &self,
        tenant: &TenantId,
        merged: &[steps::commands::Merged],
        encoded: Vec<steps::commands::Encoded>,
        plan: &mut Plan,
        events: &mut Vec<Event>,
    ) -> Result<BTreeSet<DeviceId>, Error> {
        let mut wake = BTreeSet::new();
        if encoded.is_empty() {
            return Ok(wake);
        }
        let mut batch = Vec::with_capacity(encoded.len());
        let mut shas = Vec::with_capacity(encoded.len());
        for e in encoded {
            batch.push((e.command, e.targets));
            shas.push((e.payload_sha256, e.targets_sha256));
        }
        let results = self.queue.enqueue_batch(tenant, &batch).await?;
        drop(batch);
        for ((m, done), (payload_sha256, targets_sha256)) in merged.iter().zip(results).zip(shas) {
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
                tenant: tenant.clone(),
                command: m.id,
                kind: m.kind.clone(),
                platform: m.platform,
                devices: done.queued,
                targets_sha256: targets_sha256.clone(),
                payload_sha256: payload_sha256.clone(),
            });
            plan.enqueued.push(EnqueuedCommand {
                id: m.id,
                platform: m.platform,
                kind: m.kind.clone(),
                categories: m.categories.clone(),
                devices: done.queued,
                payload_sha256,
                targets_sha256,
            });
        }
        Ok(wake)
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

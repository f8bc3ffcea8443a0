//! Step 2: each device of the run against its stored record.
//!
//! A device whose effective settings (secrets resolved), inventory facts
//! and platform hash as its record does is unchanged and needs nothing,
//! unless a failed category of it is due again. A device that only moved
//! in the tree gets a new record and no command. Every other device is a
//! [`Candidate`] for [`group`](super::group).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use mdmkit_core::{DeviceId, Platform};
use mdmkit_policy::{
    Category, ContentHash, Device, EffectiveCache, SecretCache, Settings, category_hashes,
};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::state::{DeviceRecord, content_hash};

/// Category hashes of one effective policy.
pub(crate) type CategoryHashes = BTreeMap<Category, ContentHash>;

/// One effective policy, hashed: its category hashes, its content hash, and
/// its settings with secrets resolved (what is encoded).
#[derive(Debug, Clone)]
pub(crate) struct Hashed {
    pub(crate) categories: Arc<CategoryHashes>,
    pub(crate) content: ContentHash,
    pub(crate) resolved: Arc<Settings>,
}

/// A device that needs planning.
#[derive(Debug)]
pub(crate) struct Candidate<'t> {
    pub(crate) device: &'t Device,
    pub(crate) hashed: Hashed,
    /// The facts its commands depend on ([`facts_hash`] without serial).
    pub(crate) facts: ContentHash,
    /// Its inventory, as its record keeps it.
    pub(crate) inventory: ContentHash,
    /// The content last planned for it, when that plan still applies (same
    /// platform and inventory): the diff starts there; `None` plans from
    /// nothing.
    pub(crate) old: Option<ContentHash>,
    /// Failed categories due again, with their attempts so far.
    pub(crate) retry: Vec<(Category, u32)>,
    /// Its policy names the device from a template (filled per device).
    pub(crate) named: bool,
}

/// What [`classify`] found.
#[derive(Debug, Default)]
pub(crate) struct Classified<'t> {
    /// The devices to plan, in scope order.
    pub(crate) candidates: Vec<Candidate<'t>>,
    /// New records of devices that moved with no change of policy.
    pub(crate) moved: Vec<(DeviceId, DeviceRecord)>,
    /// The conflicts of every effective policy seen.
    pub(crate) conflicts: BTreeSet<String>,
    /// Devices whose settings, facts or platform changed.
    pub(crate) changed_devices: u64,
    /// Failed categories planned again.
    pub(crate) retried: u64,
}

impl Classified<'_> {
    /// The old contents the candidates' diffs start from (to load once
    /// each before [`group`](super::group::group)).
    pub(crate) fn old_contents(&self) -> BTreeSet<ContentHash> {
        self.candidates.iter().filter_map(|c| c.old).collect()
    }
}

/// Compares each device with its record. `retries` holds the failed
/// categories due again per device (devices not in `devices` keep theirs
/// for a later run). `progress` is called every 1,024 devices.
pub(crate) fn classify<'t>(
    devices: &[&'t Device],
    cache: &EffectiveCache,
    records: &HashMap<DeviceId, DeviceRecord>,
    mut retries: HashMap<DeviceId, Vec<(Category, u32)>>,
    secrets: &SecretCache<'_>,
    progress: Option<&(dyn Fn(u64, u64) + Send + Sync)>,
) -> Result<Classified<'t>, Error> {
    let mut out = Classified::default();
    // Keyed by the policy's address (as an integer, so that a future
    // holding this map stays `Send`): devices sharing one
    // `Arc<EffectivePolicy>` (the devices of a node) share its hashes.
    let mut hashed: HashMap<usize, Hashed> = HashMap::new();
    let total = devices.len() as u64;
    for (i, device) in devices.iter().copied().enumerate() {
        if let Some(p) = progress
            && i % 1024 == 0
        {
            p(i as u64, total);
        }
        let eff = cache
            .get(&device.id)
            .ok_or_else(|| mdmkit_policy::Error::UnknownDevice(device.id.clone()))?;
        let h = match hashed.entry(Arc::as_ptr(eff) as usize) {
            Entry::Occupied(o) => o.get().clone(),
            Entry::Vacant(v) => {
                out.conflicts
                    .extend(eff.conflicts().iter().map(ToString::to_string));
                // Secrets are resolved once per reference and run; the
                // hashes cover their digests, never their values.
                let resolved = eff.settings().resolve_secrets(secrets)?;
                let categories = category_hashes(&resolved);
                let content = content_hash(&categories);
                v.insert(Hashed {
                    categories: Arc::new(categories),
                    content,
                    resolved: Arc::new(resolved),
                })
                .clone()
            }
        };
        let inventory = facts_hash(device, true);
        let record = records.get(&device.id);
        let retry = retries.remove(&device.id).unwrap_or_default();
        let unchanged = record.is_some_and(|r| {
            r.content == h.content && r.inventory == inventory && r.platform == device.platform
        });
        if unchanged && retry.is_empty() {
            if record.is_some_and(|r| r.node.as_ref() != Some(&device.node)) {
                // Moved (or placed before stores kept nodes) without a change
                // of policy: only the record follows it.
                out.moved.push((
                    device.id.clone(),
                    DeviceRecord::new(device.platform, h.content, inventory)
                        .with_node(device.node.clone()),
                ));
            }
            continue;
        }
        if !unchanged {
            out.changed_devices += 1;
        }
        out.retried += retry.len() as u64;
        let old = record
            .filter(|r| r.platform == device.platform && r.inventory == inventory)
            .map(|r| r.content);
        out.candidates.push(Candidate {
            device,
            hashed: h,
            facts: facts_hash(device, false),
            inventory,
            old,
            retry,
            named: eff.settings().device.name_template.is_some(),
        });
    }
    Ok(out)
}

/// A hash of the inventory facts a plan depends on; `with_serial` adds the
/// per-device ones.
pub(crate) fn facts_hash(device: &Device, with_serial: bool) -> ContentHash {
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

/// Whether the platform plans a templated device name per device.
pub(crate) fn names_per_device(platform: Platform) -> bool {
    matches!(platform, Platform::Windows | Platform::Apple)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{all, dev, n, recorded, tenant};
    use super::*;
    use mdmkit_policy::EnvFileResolver;

    /// Classifies the whole fixture tenant against `records`.
    fn classify_all<'t>(
        t: &'t mdmkit_policy::Tenant,
        records: &HashMap<DeviceId, DeviceRecord>,
        retries: HashMap<DeviceId, Vec<(Category, u32)>>,
    ) -> Classified<'t> {
        let cache = EffectiveCache::build(t).unwrap();
        let resolver = EnvFileResolver::for_tenant(t);
        let secrets = SecretCache::new(&resolver);
        classify(&all(t), &cache, records, retries, &secrets, None).unwrap()
    }

    #[test]
    fn without_records_every_device_is_a_changed_candidate_from_nothing() {
        let t = tenant();
        let c = classify_all(&t, &HashMap::new(), HashMap::new());
        assert_eq!(c.candidates.len(), 5);
        assert_eq!(c.changed_devices, 5);
        assert!(c.candidates.iter().all(|c| c.old.is_none()));
        assert!(c.old_contents().is_empty());
        // The three devices of school s1 share one effective policy, so
        // one hash; ipad-3 (school s2, a stricter policy) has another.
        let content = |id: &str| {
            c.candidates
                .iter()
                .find(|x| x.device.id.as_str() == id)
                .unwrap()
                .hashed
                .content
        };
        assert_eq!(content("ipad-1"), content("ipad-2"));
        assert_ne!(content("ipad-1"), content("ipad-3"));
    }

    #[test]
    fn recorded_devices_are_unchanged_moved_or_changed() {
        let t = tenant();
        let mut records = recorded(&t);
        // pc-1 was recorded at another node: it moved.
        records.get_mut(&dev("pc-1")).unwrap().node = Some(n("s2"));
        // ipad-2's facts changed (another OS version): planned from nothing.
        records.get_mut(&dev("ipad-2")).unwrap().inventory = ContentHash([9; 32]);
        // ipad-3's content changed: planned from its old content.
        records.get_mut(&dev("ipad-3")).unwrap().content = ContentHash([7; 32]);
        let c = classify_all(&t, &records, HashMap::new());
        assert_eq!(c.moved.len(), 1);
        assert_eq!(c.moved[0].0, dev("pc-1"));
        assert_eq!(c.moved[0].1.node, Some(n("s1")));
        let ids: Vec<&str> = c.candidates.iter().map(|x| x.device.id.as_str()).collect();
        assert_eq!(ids, ["ipad-2", "ipad-3"]);
        assert_eq!(c.changed_devices, 2);
        assert_eq!(c.candidates[0].old, None);
        assert_eq!(c.candidates[1].old, Some(ContentHash([7; 32])));
        assert_eq!(c.old_contents().len(), 1);
    }

    #[test]
    fn a_due_retry_plans_an_unchanged_device_without_counting_it_changed() {
        let t = tenant();
        let records = recorded(&t);
        let mut retries = HashMap::new();
        retries.insert(dev("ipad-1"), vec![(Category::Passcode, 2)]);
        // A retry of a device outside the run is ignored.
        retries.insert(dev("elsewhere"), vec![(Category::Passcode, 1)]);
        let c = classify_all(&t, &records, retries);
        assert_eq!(c.changed_devices, 0);
        assert_eq!(c.retried, 1);
        assert_eq!(c.candidates.len(), 1);
        assert_eq!(c.candidates[0].retry, [(Category::Passcode, 2)]);
        assert_eq!(c.candidates[0].old, Some(records[&dev("ipad-1")].content));
    }

    #[test]
    fn the_facts_hash_ignores_the_serial_unless_asked() {
        let t = tenant();
        let mut a = t.device(&dev("ipad-1")).unwrap().clone();
        let b0 = facts_hash(&a, false);
        let s0 = facts_hash(&a, true);
        a.serial = Some("X".into());
        assert_eq!(facts_hash(&a, false), b0);
        assert_ne!(facts_hash(&a, true), s0);
        a.os_version = Some("99.0".into());
        assert_ne!(facts_hash(&a, false), b0);
    }
}

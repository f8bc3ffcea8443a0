//! Step 3: devices that share one change plan.
//!
//! Candidates with the same platform, plan-relevant facts, old and new
//! content, due retries and naming share a [`Group`], planned once for all
//! of them. The group's old settings are the content the run loaded for its
//! `old` hash (empty when planning from nothing), with every retried
//! category cleared, so that a retry sends the category whole.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use mdmkit_core::{DeviceId, Platform};
use mdmkit_policy::{Category, ContentHash, Device, Settings, category_hashes};

use super::classify::{Candidate, CategoryHashes, names_per_device};
use crate::reconcile::vendor;
use crate::state::DeviceRecord;

/// The old settings a run loaded, with their category hashes, by content
/// hash.
pub(crate) type Olds = HashMap<ContentHash, (Arc<Settings>, CategoryHashes)>;

/// An entry of [`Olds`] for settings read from the store (empty when the
/// store no longer has them).
pub(crate) fn old_entry(settings: Option<Settings>) -> (Arc<Settings>, CategoryHashes) {
    let settings = settings.unwrap_or_default();
    let hashes = category_hashes(&settings);
    (Arc::new(settings), hashes)
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

/// Devices planned together.
#[derive(Debug)]
pub(crate) struct Group {
    /// The first device of the group: its facts stand for all of them.
    pub(crate) representative: Device,
    /// The settings the diff starts from.
    pub(crate) old: Settings,
    /// The new effective settings with their secrets resolved: what is
    /// encoded.
    pub(crate) resolved: Arc<Settings>,
    /// The categories to plan, in order.
    pub(crate) changed: Vec<Category>,
    /// The new settings' category hashes.
    pub(crate) new_hashes: Arc<CategoryHashes>,
    /// The devices, in scope order.
    pub(crate) devices: Vec<DeviceId>,
    /// The devices themselves, when the device category is planned per
    /// device (a templated name).
    pub(crate) personal: Vec<Device>,
    /// The attempts so far of each retried category.
    pub(crate) attempts: HashMap<(DeviceId, Category), u32>,
}

/// What [`group`] returns: the groups and the state rows every candidate
/// gets.
#[derive(Debug, Default)]
pub(crate) struct Grouped {
    /// The groups, ordered by their first device.
    pub(crate) groups: Vec<Group>,
    /// Each distinct new content, once, in first-seen order (the state
    /// keeps it, with each secret's reference and digest only).
    pub(crate) contents: Vec<(ContentHash, Settings)>,
    /// The new record of each candidate.
    pub(crate) records: Vec<(DeviceId, DeviceRecord)>,
}

/// Groups the candidates. `olds` must hold every content of
/// [`Classified::old_contents`](super::classify::Classified::old_contents).
pub(crate) fn group(candidates: Vec<Candidate<'_>>, olds: &Olds) -> Grouped {
    let empty = category_hashes(&Settings::default());
    let mut out = Grouped::default();
    let mut groups: HashMap<GroupKey, Group> = HashMap::new();
    let mut seen: BTreeSet<ContentHash> = BTreeSet::new();
    for c in candidates {
        let device = c.device;
        let old = c.old.and_then(|h| olds.get(&h));
        let old_hashes = old.map_or(&empty, |(_, h)| h);
        let cats = &c.hashed.categories;
        let device_changed =
            c.old.is_none() || old_hashes.get(&Category::Device) != cats.get(&Category::Device);
        // A name template (filled from each device's inventory) makes the
        // device category's commands personal on Windows and Apple;
        // everything else is shared by the devices with the same facts and
        // the same change.
        let personal = names_per_device(device.platform) && device_changed && c.named;
        let key = GroupKey {
            platform: device.platform,
            facts: c.facts,
            old: c.old,
            new: c.hashed.content,
            forced: c.retry.iter().map(|(c, _)| *c).collect(),
            personal,
        };
        if seen.insert(c.hashed.content) {
            out.contents
                .push((c.hashed.content, (*c.hashed.resolved).clone()));
        }
        out.records.push((
            device.id.clone(),
            DeviceRecord::new(device.platform, c.hashed.content, c.inventory)
                .with_node(device.node.clone()),
        ));
        let group = match groups.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let mut changed: Vec<Category> = Category::ALL
                    .into_iter()
                    .filter(|k| c.old.is_none() || old_hashes.get(k) != cats.get(k))
                    .collect();
                let mut old_settings = old.map_or_else(Settings::default, |(s, _)| (**s).clone());
                for (k, _) in &c.retry {
                    // Sent again in full: plan as if the device had none.
                    old_settings = clear(&old_settings, *k);
                    if !changed.contains(k) {
                        changed.push(*k);
                    }
                }
                changed.sort();
                v.insert(Group {
                    representative: device.clone(),
                    old: old_settings,
                    resolved: c.hashed.resolved.clone(),
                    changed,
                    new_hashes: c.hashed.categories.clone(),
                    devices: Vec::new(),
                    personal: Vec::new(),
                    attempts: HashMap::new(),
                })
            }
        };
        group.devices.push(device.id.clone());
        if personal {
            group.personal.push(device.clone());
        }
        for (k, a) in c.retry {
            group.attempts.insert((device.id.clone(), k), a);
        }
    }
    out.groups = groups.into_values().collect();
    out.groups.sort_by(|a, b| a.devices[0].cmp(&b.devices[0]));
    out
}

/// The settings with one category emptied.
pub(crate) fn clear(settings: &Settings, category: Category) -> Settings {
    let keep: Vec<Category> = Category::ALL
        .into_iter()
        .filter(|c| *c != category)
        .collect();
    vendor::only(settings, &keep)
}

#[cfg(test)]
mod tests {
    use super::super::classify::classify;
    use super::super::fixtures::{all, dev, recorded, tenant};
    use super::*;
    use mdmkit_policy::{EffectiveCache, EnvFileResolver, SecretCache, Tenant};

    /// Classifies and groups `t` against `records`, loading old contents
    /// with `load`.
    fn grouped(
        t: &Tenant,
        records: &HashMap<DeviceId, crate::state::DeviceRecord>,
        retries: HashMap<DeviceId, Vec<(Category, u32)>>,
        load: impl Fn(&ContentHash) -> Option<Settings>,
    ) -> Grouped {
        let cache = EffectiveCache::build(t).unwrap();
        let resolver = EnvFileResolver::for_tenant(t);
        let secrets = SecretCache::new(&resolver);
        let c = classify(&all(t), &cache, records, retries, &secrets, None).unwrap();
        let olds: Olds = c
            .old_contents()
            .into_iter()
            .map(|h| (h, old_entry(load(&h))))
            .collect();
        group(c.candidates, &olds)
    }

    fn devices(g: &Group) -> Vec<&str> {
        g.devices.iter().map(|d| d.as_str()).collect()
    }

    #[test]
    fn devices_with_the_same_change_share_a_group_and_each_content_is_kept_once() {
        let g = grouped(&tenant(), &HashMap::new(), HashMap::new(), |_| None);
        // s1's two iPads share one; its PC, s2's iPad and the tablet have
        // one each (another platform or another policy).
        let mut shapes: Vec<Vec<&str>> = g.groups.iter().map(devices).collect();
        shapes.sort();
        assert_eq!(
            shapes,
            [
                vec!["android-1"],
                vec!["ipad-1", "ipad-2"],
                vec!["ipad-3"],
                vec!["pc-1"]
            ]
        );
        // Ordered by first device.
        assert_eq!(devices(&g.groups[0]), ["android-1"]);
        // From nothing, every category is planned.
        assert!(g.groups.iter().all(|x| x.changed == Category::ALL.to_vec()));
        assert_eq!(g.records.len(), 5);
        // Three distinct effective policies: the root's (android-1), s1's,
        // s2's.
        assert_eq!(g.contents.len(), 3);
    }

    #[test]
    fn a_change_plans_only_the_categories_whose_hash_moved() {
        let t = tenant();
        let records = recorded(&t);
        // What the iPads of s1 had: the same settings without the Wi-Fi.
        let cache = EffectiveCache::build(&t).unwrap();
        let before = clear(
            cache.get(&dev("ipad-1")).unwrap().settings(),
            Category::Wifi,
        );
        let mut records = records;
        let stale = ContentHash([3; 32]);
        for d in ["ipad-1", "ipad-2"] {
            records.get_mut(&dev(d)).unwrap().content = stale;
        }
        let g = grouped(&t, &records, HashMap::new(), |h| {
            (*h == stale).then(|| before.clone())
        });
        assert_eq!(g.groups.len(), 1);
        assert_eq!(devices(&g.groups[0]), ["ipad-1", "ipad-2"]);
        assert_eq!(g.groups[0].changed, [Category::Wifi]);
        assert_eq!(g.groups[0].old, before);
    }

    #[test]
    fn a_retried_category_is_planned_whole_and_its_attempts_kept() {
        let t = tenant();
        let records = recorded(&t);
        let cache = EffectiveCache::build(&t).unwrap();
        let now = cache.get(&dev("ipad-1")).unwrap().settings().clone();
        let mut retries = HashMap::new();
        retries.insert(dev("ipad-1"), vec![(Category::Passcode, 3)]);
        let content = records[&dev("ipad-1")].content;
        let g = grouped(&t, &records, retries, |h| {
            (*h == content).then(|| now.clone())
        });
        assert_eq!(g.groups.len(), 1);
        let only = &g.groups[0];
        assert_eq!(devices(only), ["ipad-1"]);
        assert_eq!(only.changed, [Category::Passcode]);
        assert_eq!(only.old, clear(&now, Category::Passcode));
        assert_eq!(only.attempts[&(dev("ipad-1"), Category::Passcode)], 3);
    }

    #[test]
    fn a_name_template_makes_the_device_category_personal_on_apple_and_windows() {
        let mut t = tenant();
        t.set_policy(
            mdmkit_policy::Policy::from_toml(
                "[policy]\nid = \"named\"\n[device]\nname_template = \"{serial}\"\n",
            )
            .unwrap(),
        );
        for node in ["s1", "t2"] {
            t.assign(&node.parse().unwrap(), "named".parse().unwrap())
                .unwrap();
        }
        let g = grouped(&t, &HashMap::new(), HashMap::new(), |_| None);
        let personal: BTreeSet<&str> = g
            .groups
            .iter()
            .flat_map(|x| x.personal.iter().map(|d| d.id.as_str()))
            .collect();
        // Android names devices otherwise: no personal plan there.
        assert_eq!(
            personal.into_iter().collect::<Vec<_>>(),
            ["ipad-1", "ipad-2", "pc-1"]
        );
    }
}

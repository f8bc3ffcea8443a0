//! Step 5: the compliance rows a run leaves.
//!
//! For each planned unit, each changed category of each of its devices
//! becomes:
//! - `pending` on the commands that carry it (with the unsupported notes
//!   of the category, and the attempts so far of a retry);
//! - cleared when the category is empty and nothing is sent for it;
//! - `verified` when it has settings but nothing the platform would send
//!   differs, or `unsupported` when all the platform could do is note what
//!   it cannot enforce.

use std::collections::BTreeMap;
use std::sync::Arc;

use mdmkit_core::{DeviceId, Platform};
use mdmkit_policy::{Category, ContentHash, Settings, category_hashes};
use mdmkit_queue::{CommandId, Timestamp};

use super::commands::{Merged, PlannedUnit};
use crate::reconcile::plan::UnsupportedSummary;
use crate::state::{CategoryState, ComplianceState, UnsupportedNote};

/// What [`rows`] returns.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    /// The new state of each (device, category), in unit order.
    pub(crate) compliance: Vec<(DeviceId, CategoryState)>,
    /// The (device, category) rows to remove.
    pub(crate) cleared: Vec<(DeviceId, Category)>,
    /// The settings platforms cannot enforce, counted over devices.
    pub(crate) unsupported: Vec<UnsupportedSummary>,
}

/// The rows of the planned units, stamped `now`.
pub(crate) fn rows(merged: &[Merged], units: Vec<PlannedUnit<'_>>, now: Timestamp) -> Rows {
    let empty = category_hashes(&Settings::default());
    let mut out = Rows::default();
    let mut unsupported: BTreeMap<(Platform, String, String), u64> = BTreeMap::new();
    let no_notes: Arc<[UnsupportedNote]> = Arc::from([]);
    for planned in units {
        let unit = planned.unit;
        let mut per_category = planned.per_category;
        let group = unit.group;
        let mut notes: BTreeMap<Category, Vec<UnsupportedNote>> = BTreeMap::new();
        for (c, n) in planned.unsupported {
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
            let cat_notes = notes.remove(c).map_or_else(|| no_notes.clone(), Arc::from);
            for d in &unit.devices {
                let state = if !commands.is_empty() {
                    let mut s = CategoryState::pending(*c, &target, commands.clone(), now);
                    s.unsupported = cat_notes.clone();
                    s.attempts = group.attempts.get(&(d.clone(), *c)).copied().unwrap_or(0);
                    s
                } else if is_empty {
                    out.cleared.push((d.clone(), *c));
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
                out.compliance.push((d.clone(), state));
            }
        }
    }
    out.unsupported = unsupported
        .into_iter()
        .map(|((platform, path, reason), devices)| UnsupportedSummary {
            platform,
            path,
            reason,
            devices,
        })
        .collect();
    out
}

#[cfg(test)]
#[cfg(all(feature = "apple", feature = "windows", feature = "android"))]
mod tests {
    use std::collections::HashMap;

    use super::super::classify::classify;
    use super::super::commands::plan;
    use super::super::fixtures::{all, dev, tenant};
    use super::super::group::{Olds, group, old_entry};
    use super::*;
    use crate::reconcile::vendor::Vendors;
    use mdmkit_policy::{EffectiveCache, EnvFileResolver, SecretCache, Tenant};

    /// Plans `t` against `records` (old contents from `load`) and returns
    /// the rows and the merged commands.
    fn planned(
        t: &Tenant,
        records: &HashMap<DeviceId, crate::state::DeviceRecord>,
        load: impl Fn(&ContentHash) -> Option<Settings>,
    ) -> (Rows, Vec<Merged>) {
        let cache = EffectiveCache::build(t).unwrap();
        let resolver = EnvFileResolver::for_tenant(t);
        let secrets = SecretCache::new(&resolver);
        let c = classify(&all(t), &cache, records, HashMap::new(), &secrets, None).unwrap();
        let olds: Olds = c
            .old_contents()
            .into_iter()
            .map(|h| (h, old_entry(load(&h))))
            .collect();
        let g = group(c.candidates, &olds);
        let vendors = Vendors::new(t.id(), None, None);
        let cmds = plan(&vendors, &g.groups).unwrap();
        let rows = rows(&cmds.merged, cmds.units, Timestamp::from_millis(42));
        (rows, cmds.merged)
    }

    fn states(r: &Rows, d: &str) -> BTreeMap<Category, ComplianceState> {
        r.compliance
            .iter()
            .filter(|(x, _)| x.as_str() == d)
            .map(|(_, s)| (s.category, s.state))
            .collect()
    }

    #[test]
    fn a_first_run_leaves_pending_rows_on_the_commands_and_clears_empty_categories() {
        let t = tenant();
        let (r, merged) = planned(&t, &HashMap::new(), |_| None);
        let ipad = states(&r, "ipad-1");
        assert_eq!(ipad[&Category::Passcode], ComplianceState::Pending);
        assert_eq!(ipad[&Category::Wifi], ComplianceState::Pending);
        // ipad-3 has no Wi-Fi: its empty category is cleared, not pending.
        assert!(!states(&r, "ipad-3").contains_key(&Category::Wifi));
        assert!(r.cleared.contains(&(dev("ipad-3"), Category::Wifi)));
        // Each pending row names commands that target its device and carry
        // its category.
        for (d, s) in &r.compliance {
            if s.state != ComplianceState::Pending {
                continue;
            }
            assert!(!s.commands.is_empty(), "{d} {:?}", s.category);
            for id in &s.commands {
                let m = merged.iter().find(|m| m.id == *id).unwrap();
                assert!(m.targets.contains(d));
                assert!(m.categories.contains(&s.category));
            }
            assert_eq!(s.updated_at, Timestamp::from_millis(42));
        }
        // Every (device, category) appears at most once.
        let mut keys: Vec<_> = r
            .compliance
            .iter()
            .map(|(d, s)| (d.clone(), s.category))
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }

    #[test]
    fn an_unsupported_setting_is_counted_per_device_and_noted_on_its_row() {
        let mut t = tenant();
        // Restrictions some platforms cannot enforce on these devices
        // (unsupervised iPads, a PC).
        t.set_policy(
            mdmkit_policy::Policy::from_toml(
                "[policy]\nid = \"locked\"\n[restrictions]\ncamera = \"deny\"\n\
                 bluetooth_changes = \"deny\"\nvoice_assistant = \"deny\"\n",
            )
            .unwrap(),
        );
        t.assign(&"r".parse().unwrap(), "locked".parse().unwrap())
            .unwrap();
        let (r, _) = planned(&t, &HashMap::new(), |_| None);
        assert!(!r.unsupported.is_empty());
        // Whatever the platforms cannot enforce is summed over devices and
        // noted on the rows of the devices concerned.
        for u in &r.unsupported {
            let noted: u64 = r
                .compliance
                .iter()
                .filter(|(d, s)| {
                    t.device(d).unwrap().platform == u.platform
                        && s.unsupported
                            .iter()
                            .any(|n| n.path == u.path && n.reason == u.reason)
                })
                .count() as u64;
            assert_eq!(noted, u.devices, "{u:?}");
        }
    }
}

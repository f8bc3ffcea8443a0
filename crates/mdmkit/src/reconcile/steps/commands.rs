//! Step 4: commands for the groups, identical ones merged.
//!
//! Each group is planned as one unit, except that a group whose devices
//! are named from a template plans its device category once per device.
//! The platform's encoder turns each unit's change into commands, and a
//! command identical to one already planned (same platform, kind,
//! supersede key and payload) gets the unit's devices as more targets:
//! devices of different groups often get the same profile.

use std::collections::{BTreeMap, HashMap};

use mdmkit_core::{DeviceId, Platform};
use mdmkit_policy::{Category, Device};
use mdmkit_queue::{CommandId, EnrollmentId, NewCommand};
use sha2::{Digest, Sha256};

use super::group::Group;
use crate::audit::{sha256_hex, targets_sha256};
use crate::error::Error;
use crate::reconcile::vendor;
use crate::state::UnsupportedNote;

/// One command to enqueue, with every device that gets it.
#[derive(Debug)]
pub(crate) struct Merged {
    pub(crate) id: CommandId,
    pub(crate) platform: Platform,
    pub(crate) kind: String,
    pub(crate) supersede: Option<String>,
    pub(crate) body: vendor::Body,
    pub(crate) categories: Vec<Category>,
    pub(crate) targets: Vec<DeviceId>,
}

/// Devices planned together: a group's shared categories, or one device's
/// personal ones.
#[derive(Debug)]
pub(crate) struct Unit<'g> {
    pub(crate) group: &'g Group,
    pub(crate) representative: &'g Device,
    pub(crate) changed: Vec<Category>,
    pub(crate) devices: Vec<DeviceId>,
}

/// A unit and what its plan gave: the merged commands carrying each
/// category (indexes into [`Commands::merged`]), and the settings its
/// platform cannot enforce.
#[derive(Debug)]
pub(crate) struct PlannedUnit<'g> {
    pub(crate) unit: Unit<'g>,
    pub(crate) per_category: BTreeMap<Category, Vec<usize>>,
    pub(crate) unsupported: Vec<(Category, UnsupportedNote)>,
}

/// What [`plan`] returns.
#[derive(Debug, Default)]
pub(crate) struct Commands<'g> {
    /// The commands, in the order first planned.
    pub(crate) merged: Vec<Merged>,
    /// The units that were planned, in order.
    pub(crate) units: Vec<PlannedUnit<'g>>,
    /// Devices of units the encoder skipped (no plan for their platform).
    pub(crate) skipped_devices: u64,
}

/// The units of the groups, in order.
pub(crate) fn units(groups: &[Group]) -> Vec<Unit<'_>> {
    let mut units = Vec::with_capacity(groups.len());
    for group in groups {
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
    units
}

/// Plans every unit of `groups` with the vendors' encoders, merging
/// identical commands across units.
pub(crate) fn plan<'g>(
    vendors: &vendor::Vendors,
    groups: &'g [Group],
) -> Result<Commands<'g>, Error> {
    let mut out = Commands::default();
    let mut index: HashMap<(Platform, String, Option<String>, [u8; 32]), usize> = HashMap::new();
    for unit in units(groups) {
        let group = unit.group;
        let Some(vplan) = vendors.plan(
            unit.representative,
            &group.old,
            &group.resolved,
            &unit.changed,
        )?
        else {
            out.skipped_devices += unit.devices.len() as u64;
            continue;
        };
        let platform = unit.representative.platform;
        let mut per_category: BTreeMap<Category, Vec<usize>> = BTreeMap::new();
        for planned in vplan.commands {
            // Identity of a command: its payload with a nil id.
            let probe = planned
                .body
                .encode(CommandId::from_uuid(uuid::Uuid::nil()))?;
            let key = (
                platform,
                planned.kind.clone(),
                planned.supersede.clone(),
                <[u8; 32]>::from(Sha256::digest(&probe)),
            );
            let merged = &mut out.merged;
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
            out.merged[i].targets.extend(unit.devices.iter().cloned());
            for c in &planned.categories {
                per_category.entry(*c).or_default().push(i);
            }
        }
        out.units.push(PlannedUnit {
            unit,
            per_category,
            unsupported: vplan.unsupported,
        });
    }
    Ok(out)
}

/// One command ready for the queue, with the digests the journal records.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub(crate) command: NewCommand,
    pub(crate) targets: Vec<EnrollmentId>,
    pub(crate) payload_sha256: String,
    pub(crate) targets_sha256: String,
}

/// Encodes each merged command's payload under its id.
pub(crate) fn encode(merged: &[Merged]) -> Result<Vec<Encoded>, Error> {
    merged
        .iter()
        .map(|m| {
            let payload = m.body.encode(m.id)?;
            let payload_sha256 = sha256_hex(&payload);
            let mut command = NewCommand::new(m.kind.clone(), payload).with_id(m.id);
            if let Some(k) = &m.supersede {
                command = command.with_supersede_key(k.clone());
            }
            Ok(Encoded {
                command,
                targets: m
                    .targets
                    .iter()
                    .map(|d| EnrollmentId::device(d.clone()))
                    .collect(),
                payload_sha256,
                targets_sha256: targets_sha256(&m.targets),
            })
        })
        .collect()
}

#[cfg(test)]
#[cfg(all(feature = "apple", feature = "windows", feature = "android"))]
mod tests {
    use std::collections::HashMap;

    use super::super::classify::classify;
    use super::super::fixtures::{all, dev, tenant};
    use super::super::group::{Grouped, group};
    use super::*;
    use mdmkit_policy::{EffectiveCache, EnvFileResolver, SecretCache, Tenant};

    fn grouped_from_nothing(t: &Tenant) -> Grouped {
        let cache = EffectiveCache::build(t).unwrap();
        let resolver = EnvFileResolver::for_tenant(t);
        let secrets = SecretCache::new(&resolver);
        let c = classify(
            &all(t),
            &cache,
            &HashMap::new(),
            HashMap::new(),
            &secrets,
            None,
        )
        .unwrap();
        group(c.candidates, &HashMap::new())
    }

    fn vendors(t: &Tenant) -> vendor::Vendors {
        vendor::Vendors::new(t.id(), None, None)
    }

    #[test]
    fn identical_commands_of_different_groups_are_one_command_with_both_targets() {
        let t = tenant();
        let g = grouped_from_nothing(&t);
        let c = plan(&vendors(&t), &g.groups).unwrap();
        assert_eq!(c.skipped_devices, 0);
        assert_eq!(c.units.len(), 4);
        // s1's iPads (floor: 6) and s2's iPad (strict: 8) get different
        // passcode profiles, each for its own targets.
        let passcode: Vec<&Merged> = c
            .merged
            .iter()
            .filter(|m| m.platform == Platform::Apple && m.categories.contains(&Category::Passcode))
            .collect();
        assert_eq!(passcode.len(), 2);
        let mut targets: Vec<Vec<&str>> = passcode
            .iter()
            .map(|m| m.targets.iter().map(|d| d.as_str()).collect())
            .collect();
        targets.sort();
        assert_eq!(targets, [vec!["ipad-1", "ipad-2"], vec!["ipad-3"]]);
        // Every command id is distinct, and every unit's categories point
        // at commands that carry them.
        let ids: std::collections::BTreeSet<_> = c.merged.iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), c.merged.len());
        for u in &c.units {
            for (cat, idx) in &u.per_category {
                for i in idx {
                    assert!(c.merged[*i].categories.contains(cat));
                    for d in &u.unit.devices {
                        assert!(c.merged[*i].targets.contains(d));
                    }
                }
            }
        }
    }

    #[test]
    fn the_same_change_in_two_groups_merges_into_one_command() {
        // Two iPads of one school with different OS versions: two groups
        // (their facts differ), one identical Wi-Fi profile.
        let mut t = tenant();
        let mut d = t.device(&dev("ipad-2")).unwrap().clone();
        d.os_version = Some("18.1".into());
        t.set_device_facts(&d).unwrap();
        let g = grouped_from_nothing(&t);
        let s1_ipads = g
            .groups
            .iter()
            .filter(|x| x.devices == [dev("ipad-1")] || x.devices == [dev("ipad-2")])
            .count();
        assert_eq!(s1_ipads, 2);
        let c = plan(&vendors(&t), &g.groups).unwrap();
        let shared = c
            .merged
            .iter()
            .find(|m| m.targets.contains(&dev("ipad-1")) && m.categories.contains(&Category::Wifi))
            .unwrap();
        assert!(
            shared.targets.contains(&dev("ipad-2")),
            "{:?}",
            shared.targets
        );
    }

    #[test]
    fn encoding_sets_each_command_id_and_the_digests() {
        let t = tenant();
        let g = grouped_from_nothing(&t);
        let c = plan(&vendors(&t), &g.groups).unwrap();
        let e = encode(&c.merged).unwrap();
        assert_eq!(e.len(), c.merged.len());
        for (m, e) in c.merged.iter().zip(&e) {
            assert_eq!(e.command.id, m.id);
            assert_eq!(e.payload_sha256, sha256_hex(&e.command.payload));
            assert_eq!(e.targets.len(), m.targets.len());
            assert_eq!(e.targets_sha256, targets_sha256(&m.targets));
            if m.platform == Platform::Apple {
                // The Apple payload carries the queue id as CommandUUID.
                let text = String::from_utf8_lossy(&e.command.payload).to_uppercase();
                assert!(text.contains(&m.id.as_uuid().to_string().to_uppercase()));
            }
        }
    }
}

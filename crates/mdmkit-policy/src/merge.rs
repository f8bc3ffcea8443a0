//! The layered merge: folding the policies along a device's path, one
//! merge unit at a time, with strategies, locks, provenance and conflicts.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use mdmkit_core::DeviceId;
use serde::Serialize;
use serde_json::Value;

use crate::catalog::{self, SettingDef, Strategy, Strictness};
use crate::document::Policy;
use crate::flat;
use crate::ids::{NodeId, PolicyId};
use crate::path::SettingPath;
use crate::validate::parse_version;

/// Where a policy is assigned: a node of the scope tree or a single device.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "id")]
#[non_exhaustive]
pub enum Scope {
    /// A node (the tenant root, a school, a class...).
    Node(NodeId),
    /// One device.
    Device(DeviceId),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Node(n) => write!(f, "node {n}"),
            Scope::Device(d) => write!(f, "device {d}"),
        }
    }
}

/// One definition's origin: which policy, assigned where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[non_exhaustive]
pub struct Source {
    /// Where the policy is assigned.
    pub scope: Scope,
    /// The policy.
    pub policy: PolicyId,
}

impl Source {
    /// A source.
    pub fn new(scope: Scope, policy: PolicyId) -> Self {
        Self { scope, policy }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {} at {}", self.policy, self.scope)
    }
}

/// Why a definition did not make the effective value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "reason")]
#[non_exhaustive]
pub enum Reason {
    /// A definition nearer the device replaced it (nearest wins, keyed union).
    ReplacedByNearer,
    /// The effective value is more restrictive (most restrictive wins).
    LessRestrictive,
    /// It states the value already in effect.
    SameValue,
    /// It would have relaxed a value locked above it.
    Locked {
        /// The lock.
        lock: Source,
        /// The locked path.
        lock_path: SettingPath,
    },
    /// Another policy of the same node disagreed and came later in the
    /// assignment order (also reported as a [`Conflict`]).
    SameLevel,
}

/// A definition that lost, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Overridden {
    /// Where it was defined.
    pub source: Source,
    /// The value it defined.
    pub value: Value,
    /// Why it lost.
    #[serde(flatten)]
    pub reason: Reason,
}

/// Where an effective value comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Provenance {
    /// The definition whose value is in effect (for a union, the nearest
    /// contributor).
    pub source: Source,
    /// For a union, every definition that contributed, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contributors: Vec<Source>,
    /// Definitions that lost, in path order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overridden: Vec<Overridden>,
    /// The lock that holds this value, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_by: Option<Source>,
}

/// A disagreement the merge could not settle on its own. The merge still
/// decides (the lock holds; the later policy of a node wins) and reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Conflict {
    /// The merge unit.
    pub path: SettingPath,
    /// What happened.
    #[serde(flatten)]
    pub kind: ConflictKind,
}

/// The kinds of [`Conflict`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "conflict")]
#[non_exhaustive]
pub enum ConflictKind {
    /// A definition below a lock tried to relax the locked value; the
    /// locked value was kept.
    LockViolation {
        /// The lock.
        lock: Source,
        /// The locked path.
        lock_path: SettingPath,
        /// The refused definition.
        attempted: Source,
        /// The value it tried to set.
        value: Value,
    },
    /// Two policies of the same node (or device) set different values; the
    /// later one in the assignment order was kept.
    SameLevel {
        /// The kept definition.
        kept: Source,
        /// The dropped definition.
        dropped: Source,
    },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ConflictKind::LockViolation {
                lock,
                lock_path,
                attempted,
                ..
            } => write!(
                f,
                "{}: {attempted} tries to change {lock_path}, locked by {lock}",
                self.path
            ),
            ConflictKind::SameLevel { kept, dropped } => write!(
                f,
                "{}: {kept} and {dropped} disagree at the same level; the first one is kept (later in the assignment order)",
                self.path
            ),
        }
    }
}

/// A policy prepared for merging: its merge units and their catalogue rows.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) policy: Policy,
    pub(crate) units: Vec<(SettingPath, Value, &'static SettingDef)>,
}

impl Compiled {
    pub(crate) fn new(policy: Policy) -> Arc<Self> {
        let units = flat::flatten(&policy.settings)
            .into_iter()
            .filter_map(|(p, v)| catalog::lookup(&p).map(|d| (p, v, d)))
            .collect();
        Arc::new(Self { policy, units })
    }
}

/// One effective merge unit during the merge.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) value: Value,
    pub(crate) provenance: Provenance,
    level: usize,
}

#[derive(Debug, Clone)]
struct ActiveLock {
    path: SettingPath,
    source: Source,
    level: usize,
}

/// The merge so far, after some layers. Cheap enough to clone per node so
/// that children continue from their parent's state.
#[derive(Debug, Clone, Default)]
pub(crate) struct MergeState {
    pub(crate) slots: BTreeMap<SettingPath, Slot>,
    locks: Vec<ActiveLock>,
    pub(crate) conflicts: Vec<Conflict>,
}

fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// How `new` compares to `old` in strictness: `Greater` if stricter.
fn strictness(s: Strictness, old: &Value, new: &Value) -> Ordering {
    let ord = match s {
        Strictness::Higher => as_f64(new).partial_cmp(&as_f64(old)),
        Strictness::Lower => as_f64(old).partial_cmp(&as_f64(new)),
        Strictness::TrueWins => new.as_bool().partial_cmp(&old.as_bool()),
        Strictness::DenyWins => {
            let rank = |v: &Value| v.as_str().map(|s| s == "deny");
            rank(new).partial_cmp(&rank(old))
        }
        Strictness::Ranked(order) => {
            let rank = |v: &Value| v.as_str().and_then(|s| order.iter().position(|o| *o == s));
            rank(new).partial_cmp(&rank(old))
        }
        Strictness::NewerVersion => {
            let version = |v: &Value| {
                v.get("version")
                    .and_then(Value::as_str)
                    .and_then(parse_version)
            };
            let deadline = |v: &Value| v.get("deadline").and_then(Value::as_str).map(str::to_owned);
            match version(new).cmp(&version(old)) {
                Ordering::Equal => match (deadline(new), deadline(old)) {
                    (Some(n), Some(o)) => Some(o.cmp(&n)),
                    (Some(_), None) => Some(Ordering::Greater),
                    (None, Some(_)) => Some(Ordering::Less),
                    (None, None) => Some(Ordering::Equal),
                },
                other => Some(other),
            }
        }
    };
    ord.unwrap_or(Ordering::Equal)
}

fn union(old: &Value, new: &Value) -> Value {
    let mut items: Vec<Value> = old.as_array().cloned().unwrap_or_default();
    for v in new.as_array().into_iter().flatten() {
        if !items.contains(v) {
            items.push(v.clone());
        }
    }
    Value::Array(items)
}

impl MergeState {
    /// Folds one assigned policy into the state. `level` is the depth of
    /// its scope (the root is 0, a device one more than its node).
    pub(crate) fn apply(&mut self, level: usize, source: &Source, compiled: &Compiled) {
        for (path, value, def) in &compiled.units {
            self.apply_unit(level, source, path, value, def);
        }
        for lock in &compiled.policy.locks {
            self.locks.push(ActiveLock {
                path: lock.clone(),
                source: source.clone(),
                level,
            });
        }
    }

    /// The lock (from a shallower level) that refuses changing `path` from
    /// `old` to `new`, if any.
    fn refusing_lock(
        &self,
        level: usize,
        path: &SettingPath,
        old: Option<&Value>,
        new: &Value,
    ) -> Option<&ActiveLock> {
        self.locks.iter().find(|l| {
            if l.level >= level || !l.path.overlaps(path) {
                return false;
            }
            match l.path.strip_prefix(path) {
                // The lock is inside this unit (`wifi["X"].password`):
                // only a change of that part is refused.
                Some(rest) if !rest.is_empty() => {
                    old.and_then(|o| flat::get_in(o, rest)) != flat::get_in(new, rest)
                }
                _ => old != Some(new),
            }
        })
    }

    fn apply_unit(
        &mut self,
        level: usize,
        source: &Source,
        path: &SettingPath,
        value: &Value,
        def: &SettingDef,
    ) {
        let Some(slot) = self.slots.get(path) else {
            // Setting a most-restrictive value where none was set only
            // tightens; anything else under a lock changes a frozen value.
            let tightens = matches!(def.strategy, Strategy::MostRestrictive(_));
            if let Some(lock) = self
                .refusing_lock(level, path, None, value)
                .filter(|_| !tightens)
            {
                let lock = lock.clone();
                self.refuse(path, source, value, &lock, None);
                return;
            }
            let value = match def.strategy {
                Strategy::Union => union(&Value::Array(Vec::new()), value),
                _ => value.clone(),
            };
            self.slots.insert(
                path.clone(),
                Slot {
                    value,
                    provenance: Provenance {
                        source: source.clone(),
                        contributors: if def.strategy == Strategy::Union {
                            vec![source.clone()]
                        } else {
                            Vec::new()
                        },
                        overridden: Vec::new(),
                        locked_by: None,
                    },
                    level,
                },
            );
            return;
        };
        let same_level = slot.level == level;
        let old = slot.value.clone();
        // What the strategy makes of the two definitions.
        let (winner, reason_for_loser) = match def.strategy {
            Strategy::MostRestrictive(s) => match strictness(s, &old, value) {
                Ordering::Greater => (Some(value.clone()), Reason::LessRestrictive),
                Ordering::Less => (None, Reason::LessRestrictive),
                Ordering::Equal => (None, Reason::SameValue),
            },
            Strategy::Nearest | Strategy::KeyedUnion => {
                if &old == value {
                    (None, Reason::SameValue)
                } else if same_level {
                    (Some(value.clone()), Reason::SameLevel)
                } else {
                    (Some(value.clone()), Reason::ReplacedByNearer)
                }
            }
            Strategy::Union => {
                let merged = union(&old, value);
                if merged == old {
                    (None, Reason::SameValue)
                } else {
                    (Some(merged), Reason::ReplacedByNearer)
                }
            }
        };
        let Some(new_value) = winner else {
            if let Some(slot) = self.slots.get_mut(path) {
                if def.strategy == Strategy::Union {
                    slot.provenance.contributors.push(source.clone());
                } else {
                    slot.provenance.overridden.push(Overridden {
                        source: source.clone(),
                        value: value.clone(),
                        reason: reason_for_loser,
                    });
                }
            }
            return;
        };
        if !matches!(def.strategy, Strategy::MostRestrictive(_))
            && let Some(lock) = self.refusing_lock(level, path, Some(&old), &new_value)
        {
            let lock = lock.clone();
            self.refuse(path, source, value, &lock, Some(()));
            return;
        }
        let Some(slot) = self.slots.get_mut(path) else {
            return;
        };
        if def.strategy == Strategy::Union {
            slot.value = new_value;
            slot.provenance.contributors.push(source.clone());
            slot.provenance.source = source.clone();
            slot.level = level;
            return;
        }
        if reason_for_loser == Reason::SameLevel {
            self.conflicts.push(Conflict {
                path: path.clone(),
                kind: ConflictKind::SameLevel {
                    kept: source.clone(),
                    dropped: slot.provenance.source.clone(),
                },
            });
        }
        let loser = Overridden {
            source: slot.provenance.source.clone(),
            value: std::mem::replace(&mut slot.value, new_value),
            reason: reason_for_loser,
        };
        slot.provenance.overridden.push(loser);
        slot.provenance.source = source.clone();
        slot.level = level;
    }

    fn refuse(
        &mut self,
        path: &SettingPath,
        source: &Source,
        value: &Value,
        lock: &ActiveLock,
        existing: Option<()>,
    ) {
        self.conflicts.push(Conflict {
            path: path.clone(),
            kind: ConflictKind::LockViolation {
                lock: lock.source.clone(),
                lock_path: lock.path.clone(),
                attempted: source.clone(),
                value: value.clone(),
            },
        });
        if existing.is_some()
            && let Some(slot) = self.slots.get_mut(path)
        {
            slot.provenance.overridden.push(Overridden {
                source: source.clone(),
                value: value.clone(),
                reason: Reason::Locked {
                    lock: lock.source.clone(),
                    lock_path: lock.path.clone(),
                },
            });
        }
    }

    /// Records, on every slot a lock covers, which lock holds it.
    pub(crate) fn mark_locks(&mut self) {
        for (path, slot) in &mut self.slots {
            slot.provenance.locked_by = self
                .locks
                .iter()
                .find(|l| l.path.overlaps(path))
                .map(|l| l.source.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strictness_orders_each_kind() {
        assert_eq!(
            strictness(Strictness::Higher, &json!(4), &json!(6)),
            Ordering::Greater
        );
        assert_eq!(
            strictness(Strictness::Lower, &json!(4), &json!(6)),
            Ordering::Less
        );
        assert_eq!(
            strictness(Strictness::DenyWins, &json!("allow"), &json!("deny")),
            Ordering::Greater
        );
        assert_eq!(
            strictness(
                Strictness::NewerVersion,
                &json!({"version": "17.10"}),
                &json!({"version": "17.9"})
            ),
            Ordering::Less
        );
        assert_eq!(
            strictness(
                Strictness::NewerVersion,
                &json!({"version": "17.5", "deadline": "2026-03-01"}),
                &json!({"version": "17.5", "deadline": "2026-01-01"})
            ),
            Ordering::Greater
        );
    }
}

//! Change sets between two policies, and per-category content hashes.
//!
//! A [`ChangeSet`] lists, in [`SettingPath`] order, every merge unit that is
//! added, changed or removed, with its old and new values. Vendor encoders
//! turn it into the fewest platform commands; [`apply`] replays it, so that
//! `apply(old, diff(old, new)) == new`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{ApplyError, Error};
use crate::flat::{self, FlatSettings};
use crate::model::{Category, Settings};
use crate::path::SettingPath;

/// What happens to one setting. Exhaustive on purpose: there is nothing
/// else a setting can do, and encoders should match all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// The setting was unset and is now set.
    Add,
    /// The setting's value changes.
    Change,
    /// The setting was set and is now unset.
    Remove,
}

/// One change of one merge unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Change {
    /// Add, change or remove.
    pub op: Op,
    /// The setting.
    pub path: SettingPath,
    /// The value before (`None` for an add).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value after (`None` for a remove).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

impl Change {
    /// The category of the changed setting.
    pub fn category(&self) -> Option<Category> {
        self.path.category().and_then(Category::from_key)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("unset".to_owned(), Value::to_string);
        match self.op {
            Op::Add => write!(f, "+ {} = {}", self.path, show(&self.new)),
            Op::Change => write!(
                f,
                "~ {}: {} -> {}",
                self.path,
                show(&self.old),
                show(&self.new)
            ),
            Op::Remove => write!(f, "- {} (was {})", self.path, show(&self.old)),
        }
    }
}

/// An ordered list of changes, at most one per setting, in path order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeSet {
    changes: Vec<Change>,
}

impl ChangeSet {
    /// The changes, in path order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Iterates the changes.
    pub fn iter(&self) -> std::slice::Iter<'_, Change> {
        self.changes.iter()
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The number of changes.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// The categories touched, in document order.
    pub fn categories(&self) -> Vec<Category> {
        let mut cats: Vec<Category> = self.changes.iter().filter_map(Change::category).collect();
        cats.sort();
        cats.dedup();
        cats
    }

    /// The changes of one category.
    pub fn in_category(&self, category: Category) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(move |c| c.category() == Some(category))
    }
}

impl<'a> IntoIterator for &'a ChangeSet {
    type Item = &'a Change;
    type IntoIter = std::slice::Iter<'a, Change>;
    fn into_iter(self) -> Self::IntoIter {
        self.changes.iter()
    }
}

/// The changes that turn `old` into `new`.
pub fn diff(old: &Settings, new: &Settings) -> ChangeSet {
    diff_flat(&flat::flatten(old), &flat::flatten(new))
}

/// [`diff`] over merge units.
pub fn diff_flat(old: &FlatSettings, new: &FlatSettings) -> ChangeSet {
    let mut changes = Vec::new();
    let mut a = old.iter().peekable();
    let mut b = new.iter().peekable();
    loop {
        let step = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((pa, _)), Some((pb, _))) => pa.cmp(pb),
        };
        match step {
            std::cmp::Ordering::Less => {
                if let Some((p, v)) = a.next() {
                    changes.push(Change {
                        op: Op::Remove,
                        path: p.clone(),
                        old: Some(v.clone()),
                        new: None,
                    });
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some((p, v)) = b.next() {
                    changes.push(Change {
                        op: Op::Add,
                        path: p.clone(),
                        old: None,
                        new: Some(v.clone()),
                    });
                }
            }
            std::cmp::Ordering::Equal => {
                if let (Some((p, va)), Some((_, vb))) = (a.next(), b.next())
                    && va != vb
                {
                    changes.push(Change {
                        op: Op::Change,
                        path: p.clone(),
                        old: Some(va.clone()),
                        new: Some(vb.clone()),
                    });
                }
            }
        }
    }
    ChangeSet { changes }
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "unset".to_owned(), Value::to_string)
}

/// Applies a change set to merge units, checking that each change's old
/// value is the current one.
pub fn apply_flat(flat: &mut FlatSettings, changes: &ChangeSet) -> Result<(), ApplyError> {
    for c in changes {
        let current = flat.get(&c.path);
        if current != c.old.as_ref() {
            return Err(ApplyError::Stale {
                path: c.path.clone(),
                expected: show(c.old.as_ref()),
                found: show(current),
            });
        }
        match &c.new {
            Some(v) => {
                flat.insert(c.path.clone(), v.clone());
            }
            None => {
                flat.remove(&c.path);
            }
        }
    }
    Ok(())
}

/// Applies a change set to settings: `apply(old, &diff(old, new)) == new`.
pub fn apply(settings: &Settings, changes: &ChangeSet) -> Result<Settings, Error> {
    let mut f = flat::flatten(settings);
    apply_flat(&mut f, changes).map_err(Error::Apply)?;
    flat::unflatten(&f).map_err(|e| Error::Apply(ApplyError::Shape(e.to_string())))
}

/// A SHA-256 content hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write of a stack buffer: state stores format a hash per device.
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 64];
        for (i, b) in self.0.iter().enumerate() {
            buf[2 * i] = DIGITS[usize::from(b >> 4)];
            buf[2 * i + 1] = DIGITS[usize::from(b & 15)];
        }
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A stable SHA-256 of each category's settings, over a canonical
/// encoding (`mdmkit-policy/v1`, the category, then each merge unit's path
/// and canonical JSON value in path order). Equal settings give equal
/// hashes across processes, versions of serde_json and formats; callers
/// compare them to skip categories that did not change. Every category is
/// present, empty ones included.
pub fn category_hashes(settings: &Settings) -> BTreeMap<Category, ContentHash> {
    category_hashes_flat(&flat::flatten(settings))
}

/// [`category_hashes`] over merge units.
pub fn category_hashes_flat(flat: &FlatSettings) -> BTreeMap<Category, ContentHash> {
    let mut hashers: BTreeMap<Category, Sha256> = Category::ALL
        .into_iter()
        .map(|c| {
            let mut h = Sha256::new();
            h.update(b"mdmkit-policy/v1\0");
            h.update(c.as_str().as_bytes());
            h.update(b"\0");
            (c, h)
        })
        .collect();
    let mut buf = String::new();
    for (path, value) in flat {
        let Some(h) = path
            .category()
            .and_then(Category::from_key)
            .and_then(|c| hashers.get_mut(&c))
        else {
            continue;
        };
        buf.clear();
        buf.push_str(&path.to_string());
        buf.push('\0');
        flat::canonical_json(value, &mut buf);
        buf.push('\n');
        h.update(buf.as_bytes());
    }
    hashers
        .into_iter()
        .map(|(c, h)| (c, ContentHash(h.finalize().into())))
        .collect()
}

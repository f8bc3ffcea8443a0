//! PATCH bodies with the fewest top-level fields in their `updateMask`.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};

use super::Mapped;

/// A `policies.patch` body and its `updateMask`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PatchBody {
    /// The new values of the masked fields (a masked field absent here is
    /// cleared).
    pub body: Map<String, Value>,
    /// The top-level Policy fields that changed, sorted.
    pub update_mask: Vec<String>,
}

impl PatchBody {
    /// Whether nothing changed (no request needed).
    pub fn is_empty(&self) -> bool {
        self.update_mask.is_empty()
    }

    /// The `updateMask` query value (`cameraAccess,applications`).
    pub fn update_mask_param(&self) -> String {
        self.update_mask.join(",")
    }

    /// `old` with the masked fields replaced by the body's: what Google
    /// stores after the patch.
    pub fn apply(&self, old: &Map<String, Value>) -> Map<String, Value> {
        let mut out = old.clone();
        for key in &self.update_mask {
            match self.body.get(key) {
                Some(v) => {
                    out.insert(key.clone(), v.clone());
                }
                None => {
                    out.remove(key);
                }
            }
        }
        out
    }
}

/// The PATCH from `old` to `new`: exactly the top-level fields that differ.
pub fn patch(old: &Mapped, new: &Mapped) -> PatchBody {
    patch_json(&old.policy, &new.policy)
}

/// [`patch`] on Policy JSON objects.
pub fn patch_json(old: &Map<String, Value>, new: &Map<String, Value>) -> PatchBody {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut body = Map::new();
    let mut update_mask = Vec::new();
    for key in keys {
        if old.get(key) != new.get(key) {
            update_mask.push(key.clone());
            if let Some(v) = new.get(key) {
                body.insert(key.clone(), v.clone());
            }
        }
    }
    PatchBody { body, update_mask }
}

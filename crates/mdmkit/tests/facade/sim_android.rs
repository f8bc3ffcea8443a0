//! A simulated Android device behind a simulated Google: a policy patch is
//! parsed as the Android Management API `Policy` (refused if it does not
//! parse), accepted with the next version number, and applied by the device,
//! which keeps the policy it applied. Its `Device` report is derived from
//! that state: `appliedPolicyVersion` is the version it applied, and one
//! `nonComplianceDetails` entry is reported for each top-level field it was
//! told to refuse ([`SimAndroid::refuse`]) that the applied policy sets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// The state of one simulated Android device.
#[derive(Debug, Clone, Default)]
pub(crate) struct SimAndroid {
    name: String,
    version: i64,
    applied: Option<Map<String, Value>>,
    refused: BTreeSet<String>,
}

impl SimAndroid {
    /// A device named `name` that has applied nothing.
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// The device will report this top-level `Policy` field non-compliant
    /// whenever its applied policy sets it.
    pub(crate) fn refuse(&mut self, field: &str) {
        self.refused.insert(field.to_owned());
    }

    /// Google accepts a `PatchPolicy` body (it must parse as a `Policy`)
    /// and gives it the next version; the device applies it. The version.
    pub(crate) fn accept_and_apply(&mut self, body: &[u8]) -> i64 {
        mdmkit::android::parse::policy(body).expect("Google accepts only a valid Policy");
        let Value::Object(policy) = serde_json::from_slice::<Value>(body).unwrap() else {
            panic!("a Policy is a JSON object");
        };
        self.version += 1;
        self.applied = Some(policy);
        self.version
    }

    /// The policy the device applied.
    pub(crate) fn applied(&self) -> Option<&Map<String, Value>> {
        self.applied.as_ref()
    }

    /// The device's `Device` resource, as Google reports it.
    pub(crate) fn report(&self) -> Vec<u8> {
        let details: Vec<Value> = self
            .applied
            .iter()
            .flat_map(|p| p.keys())
            .filter(|k| self.refused.contains(*k))
            .map(|k| json!({"settingName": k, "nonComplianceReason": "API_LEVEL"}))
            .collect();
        let mut d = json!({
            "name": self.name,
            "state": "ACTIVE",
            "policyCompliant": details.is_empty(),
        });
        if self.applied.is_some() {
            d["appliedPolicyVersion"] = json!(self.version.to_string());
        }
        if !details.is_empty() {
            d["nonComplianceDetails"] = Value::Array(details);
        }
        serde_json::to_vec(&d).unwrap()
    }
}

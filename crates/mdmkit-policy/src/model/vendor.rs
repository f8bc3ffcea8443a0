//! Vendor passthrough: raw settings the model does not cover.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Raw vendor settings, so an integrator is never blocked by a setting the
/// model lacks. Each map is keyed, and merges like Wi-Fi and apps: the
/// nearest definition of a key wins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Vendor {
    /// Apple payload dictionaries, keyed by a payload identifier.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub apple: BTreeMap<String, ApplePayload>,
    /// Windows OMA-URIs (`./Device/Vendor/MSFT/...`) and their typed values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub windows: BTreeMap<String, WindowsValue>,
    /// Top-level fields of an Android Management API `Policy`, with their
    /// JSON values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub android: BTreeMap<String, serde_json::Value>,
}

impl Vendor {
    /// Whether no passthrough entry is set.
    pub fn is_empty(&self) -> bool {
        self.apple.is_empty() && self.windows.is_empty() && self.android.is_empty()
    }
}

/// A raw Apple configuration-profile payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApplePayload {
    /// The `PayloadType` (`com.apple.dock`).
    pub payload_type: String,
    /// The payload's keys, as JSON (dates and data as strings).
    #[serde(default)]
    pub content: serde_json::Map<String, serde_json::Value>,
}

/// A typed OMA-DM value for a Windows OMA-URI (the SyncML `Format`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum WindowsValue {
    /// `int`.
    Int(i64),
    /// `bool`.
    Bool(bool),
    /// `chr`: a string.
    String(String),
    /// `b64`: base64 data.
    Base64(String),
    /// `xml`: an XML fragment.
    Xml(String),
    /// `float`.
    Float(f64),
}

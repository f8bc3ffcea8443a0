//! Wi-Fi networks.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Wi-Fi networks keyed by SSID.
pub type WifiNetworks = BTreeMap<String, WifiNetwork>;

/// One Wi-Fi network. The SSID is its key in [`Settings::wifi`](crate::Settings::wifi).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WifiNetwork {
    /// How the network is secured; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<WifiSecurity>,
    /// The pre-shared key (personal security: 8 to 63 characters, or 64
    /// hexadecimal digits) or the EAP password (PEAP). A secret: best a
    /// reference, `{ env = "MDMKIT_SECRET_NAME" }` or `{ file = "PATH" }`,
    /// resolved when payloads are encoded (`docs/policy.md`, section
    /// Secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The EAP method (enterprise security only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eap: Option<EapMethod>,
    /// The user name (PEAP), or the outer identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The client certificate (EAP-TLS): a key of `certificates.identities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_certificate: Option<String>,
    /// Certificates trusted to sign the RADIUS server's certificate: keys of
    /// `certificates.roots`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_server_certificates: Option<Vec<String>>,
    /// Names the RADIUS server certificate must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_names: Option<Vec<String>>,
    /// The network does not broadcast its SSID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// Join the network automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_join: Option<bool>,
    /// An HTTP proxy for this network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Proxy>,
}

/// Wi-Fi security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WifiSecurity {
    /// No encryption.
    Open,
    /// WPA2 with a pre-shared key.
    Wpa2Personal,
    /// WPA3 (SAE) with a password.
    Wpa3Personal,
    /// WPA2 with 802.1X.
    Wpa2Enterprise,
    /// WPA3 with 802.1X.
    Wpa3Enterprise,
}

impl WifiSecurity {
    /// Whether the network uses a pre-shared key.
    pub fn is_personal(self) -> bool {
        matches!(self, Self::Wpa2Personal | Self::Wpa3Personal)
    }

    /// Whether the network uses 802.1X.
    pub fn is_enterprise(self) -> bool {
        matches!(self, Self::Wpa2Enterprise | Self::Wpa3Enterprise)
    }

    /// The kebab-case name used in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Wpa2Personal => "wpa2-personal",
            Self::Wpa3Personal => "wpa3-personal",
            Self::Wpa2Enterprise => "wpa2-enterprise",
            Self::Wpa3Enterprise => "wpa3-enterprise",
        }
    }
}

/// The EAP method of an enterprise network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EapMethod {
    /// EAP-TLS: the device authenticates with a client certificate.
    Tls,
    /// PEAP (MSCHAPv2 inside TLS): the user authenticates with a password.
    Peap,
}

/// An HTTP proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Proxy {
    /// Manual (host and port) or automatic (a PAC file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ProxyMode>,
    /// The proxy host (manual mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The proxy port (manual mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The `https://` URL of a proxy auto-configuration file (automatic mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pac_url: Option<String>,
}

/// How a proxy is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProxyMode {
    /// A fixed host and port.
    Manual,
    /// A proxy auto-configuration (PAC) file.
    Auto,
}

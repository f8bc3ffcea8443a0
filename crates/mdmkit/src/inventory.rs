//! Enrolled devices: what a device told the server when it enrolled, the
//! certificate bound to its enrollment, and how to wake it.
//!
//! A device that enrolls over HTTP (`mdmkit-server`) becomes an
//! [`Enrollment`] in the state store, attached to the node its enrollment
//! was issued for. The reconciler plans for the union of the tree's own
//! devices (`devices.toml`) and these ([`crate::Reconciler::with_inventory`]),
//! so an enrolled iPad gets its school's policy without anyone editing a
//! file.

use std::collections::BTreeMap;
use std::fmt;

use mdmkit_core::{DeviceId, Platform};
use mdmkit_policy::{Device, NodeId};
use mdmkit_queue::Timestamp;
use serde::{Deserialize, Serialize};

/// Where an enrollment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum EnrollmentStatus {
    /// The device authenticated; it has not sent its push token yet.
    Authenticated,
    /// The device sent its push token: enrolled and reachable.
    Active,
    /// The device left (it removed its enrollment profile).
    CheckedOut,
}

/// The certificate bound to an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BoundCertificate {
    /// SHA-256 of its DER, lower-case hex.
    pub sha256: String,
    /// The device id of its `urn:mdmkit:` name (kept across renewals).
    pub cert_device: DeviceId,
    /// Its serial, hex.
    pub serial: String,
    /// End of its validity.
    pub not_after: Timestamp,
}

impl BoundCertificate {
    /// A binding record.
    pub fn new(
        sha256: String,
        cert_device: DeviceId,
        serial: String,
        not_after: Timestamp,
    ) -> Self {
        Self {
            sha256,
            cert_device,
            serial,
            not_after,
        }
    }
}

/// How to wake a device (or one user channel of it) by push.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushTarget {
    /// The push token, hex.
    pub token: String,
    /// The push topic (the push certificate's UID).
    pub topic: String,
    /// Apple's `PushMagic`, sent back in the push.
    pub push_magic: String,
    /// When the device last sent it (a TokenUpdate): a token declared dead
    /// before is alive again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

impl PushTarget {
    /// A push target.
    pub fn new(token: String, topic: String, push_magic: String) -> Self {
        Self {
            token,
            topic,
            push_magic,
            updated_at: None,
        }
    }
}

impl fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushTarget")
            .field("token", &"<redacted>")
            .field("topic", &self.topic)
            .field("push_magic", &"<redacted>")
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// An enrolled device.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Enrollment {
    /// The device (UDID, or EnrollmentID under user enrollment).
    pub device: DeviceId,
    /// Its platform.
    pub platform: Platform,
    /// The node it was enrolled under.
    pub node: NodeId,
    /// Where the enrollment stands.
    pub status: EnrollmentStatus,
    /// Serial number.
    #[serde(default)]
    pub serial: Option<String>,
    /// Hardware model (`iPad13,1`).
    #[serde(default)]
    pub model: Option<String>,
    /// Model name (`iPad`).
    #[serde(default)]
    pub model_name: Option<String>,
    /// Product name.
    #[serde(default)]
    pub product: Option<String>,
    /// OS version.
    #[serde(default)]
    pub os_version: Option<String>,
    /// OS build.
    #[serde(default)]
    pub build_version: Option<String>,
    /// The name the device reports.
    #[serde(default)]
    pub device_name: Option<String>,
    /// Whether it is supervised, once known.
    #[serde(default)]
    pub supervised: Option<bool>,
    /// The certificate bound to the enrollment.
    #[serde(default)]
    pub certificate: Option<BoundCertificate>,
    /// The device channel's push target.
    #[serde(default)]
    pub push: Option<PushTarget>,
    /// Push targets of user channels, by user id.
    #[serde(default)]
    pub user_channels: BTreeMap<String, PushTarget>,
    /// Windows: the WNS channel URI the device registered (the DMClient
    /// Push CSP's `ChannelURI`): a secret, like a push token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wns_channel: Option<String>,
    /// The bootstrap token (base64): a secret.
    #[serde(default)]
    pub bootstrap_token: Option<String>,
    /// First enrollment.
    pub enrolled_at: Timestamp,
    /// Last change of this record.
    pub updated_at: Timestamp,
    /// Last request of the device.
    pub last_seen: Timestamp,
}

impl fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrollment")
            .field("device", &self.device)
            .field("platform", &self.platform)
            .field("node", &self.node)
            .field("status", &self.status)
            .field("serial", &self.serial)
            .field("model", &self.model)
            .field("model_name", &self.model_name)
            .field("product", &self.product)
            .field("os_version", &self.os_version)
            .field("build_version", &self.build_version)
            .field("device_name", &self.device_name)
            .field("supervised", &self.supervised)
            .field("certificate", &self.certificate)
            .field("push", &self.push)
            .field("user_channels", &self.user_channels)
            .field(
                "wns_channel",
                &self.wns_channel.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "bootstrap_token",
                &self.bootstrap_token.as_ref().map(|_| "<redacted>"),
            )
            .field("enrolled_at", &self.enrolled_at)
            .field("updated_at", &self.updated_at)
            .field("last_seen", &self.last_seen)
            .finish()
    }
}

impl Enrollment {
    /// A device that just authenticated at `node`.
    pub fn new(device: DeviceId, platform: Platform, node: NodeId, now: Timestamp) -> Self {
        Self {
            device,
            platform,
            node,
            status: EnrollmentStatus::Authenticated,
            serial: None,
            model: None,
            model_name: None,
            product: None,
            os_version: None,
            build_version: None,
            device_name: None,
            supervised: None,
            certificate: None,
            push: None,
            user_channels: BTreeMap::new(),
            wns_channel: None,
            bootstrap_token: None,
            enrolled_at: now,
            updated_at: now,
            last_seen: now,
        }
    }

    /// The device as the policy tree sees it: its id, node and platform,
    /// and the facts planning uses (OS version, supervision, hardware
    /// model, serial). No device-level policy.
    pub fn to_device(&self) -> Device {
        let mut d = Device::new(self.device.clone(), self.node.clone(), self.platform);
        d.os_version = self.os_version.clone();
        d.supervised = self.supervised;
        d.model = self.model.clone();
        d.serial = self.serial.clone();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enrolled() -> Enrollment {
        let mut e = Enrollment::new(
            DeviceId::new("ipad-1").unwrap(),
            Platform::Apple,
            "school".parse().unwrap(),
            Timestamp::from_millis(7),
        );
        e.push = Some(PushTarget::new(
            "70757368746f6b656e".into(),
            "com.apple.mgmt.x".into(),
            "magic-words".into(),
        ));
        e.user_channels.insert(
            "user-1".into(),
            PushTarget::new("757365727075736800".into(), "t".into(), "user-magic".into()),
        );
        e.bootstrap_token = Some("Ym9vdHN0cmFwLXNlY3JldA==".into());
        e
    }

    #[test]
    fn a_new_enrollment_is_authenticated_and_knows_nothing_else() {
        let e = Enrollment::new(
            DeviceId::new("d").unwrap(),
            Platform::Windows,
            "n".parse().unwrap(),
            Timestamp::from_millis(3),
        );
        assert_eq!(e.status, EnrollmentStatus::Authenticated);
        assert_eq!((e.serial.as_ref(), e.os_version.as_ref()), (None, None));
        assert!(e.certificate.is_none() && e.push.is_none() && e.bootstrap_token.is_none());
        let t = Timestamp::from_millis(3);
        assert_eq!((e.enrolled_at, e.updated_at, e.last_seen), (t, t, t));
    }

    #[test]
    fn debug_redacts_push_secrets_and_the_bootstrap_token() {
        let text = format!("{:?}", enrolled());
        for secret in [
            "70757368746f6b656e",
            "magic-words",
            "757365727075736800",
            "user-magic",
            "Ym9vdHN0cmFwLXNlY3JldA==",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("com.apple.mgmt.x"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn the_policy_device_carries_the_planning_facts() {
        let mut e = enrolled();
        e.os_version = Some("17.5".into());
        e.supervised = Some(true);
        e.model = Some("iPad13,1".into());
        e.model_name = Some("iPad".into());
        e.serial = Some("F9FX".into());
        let d = e.to_device();
        assert_eq!(d.id, e.device);
        assert_eq!(d.node, e.node);
        assert_eq!(d.platform, Platform::Apple);
        assert_eq!(d.os_version.as_deref(), Some("17.5"));
        assert_eq!(d.supervised, Some(true));
        assert_eq!(d.model.as_deref(), Some("iPad13,1"));
        assert_eq!(d.serial.as_deref(), Some("F9FX"));
        assert!(d.policies.is_empty());
    }

    #[test]
    fn status_names_are_kebab_case() {
        let text = serde_json::to_string(&EnrollmentStatus::CheckedOut).unwrap();
        assert_eq!(text, "\"checked-out\"");
    }
}

//! AMAPI notifications as Cloud Pub/Sub delivers them to a push endpoint:
//! the JSON envelope, its base64 `data`, and the resource it carries.
//!
//! A push subscription POSTs one envelope per message:
//! `{"message": {"attributes": {"notificationType": "STATUS_REPORT"},
//! "data": "<base64 of a Device>", "messageId": "...", "publishTime":
//! "..."}, "subscription": "projects/p/subscriptions/s"}`. ENROLLMENT and
//! STATUS_REPORT carry a `Device`, COMMAND an `Operation`; the first
//! message of a new topic is a test message. Everything here is untrusted
//! input: sizes and depths are limited before anything is parsed, and every
//! failure says what and where.
//!
//! [`EnrollmentBinding`] is what mdmkit puts in an enrollment token's
//! `additionalData` so that the device lands under the right node: Google
//! echoes it back as `enrollmentTokenData` on the enrolled `Device`.

use std::collections::BTreeMap;

use base64::Engine as _;
use mdmkit_core::TenantId;
use mdmkit_policy::NodeId;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::model::{Device, Operation};
use crate::parse::Limits;

/// The largest envelope accepted by default: AMAPI device reports are a few
/// kilobytes; a device with hundreds of apps stays far below.
pub const DEFAULT_MAX_ENVELOPE: usize = 1024 * 1024;

/// The attribute naming the kind of an AMAPI notification.
pub const NOTIFICATION_TYPE: &str = "notificationType";

/// What kind of notification a message is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotificationType {
    /// A device enrolled (data: its `Device`).
    Enrollment,
    /// A device reported its state (data: its `Device`).
    StatusReport,
    /// A command finished (data: its `Operation`).
    Command,
    /// The test message Google publishes when the topic is set.
    Test,
    /// Another kind (`USAGE_LOGS`, `ENTERPRISE_UPGRADE`, ...), kept by name.
    Other(String),
}

impl NotificationType {
    /// Reads the attribute value.
    pub fn from_attribute(s: &str) -> Self {
        match s {
            "ENROLLMENT" => Self::Enrollment,
            "STATUS_REPORT" => Self::StatusReport,
            "COMMAND" => Self::Command,
            "test" | "TEST" => Self::Test,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }

    /// The attribute value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Enrollment => "ENROLLMENT",
            Self::StatusReport => "STATUS_REPORT",
            Self::Command => "COMMAND",
            Self::Test => "test",
            Self::Other(s) => s,
        }
    }
}

/// The resource a notification carries.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// A device enrolled.
    Enrollment(Box<Device>),
    /// A device reported its state.
    StatusReport(Box<Device>),
    /// A command reached a final state.
    Command(Box<Operation>),
    /// A test message (no resource).
    Test,
    /// A kind mdmkit does not act on.
    Other(String),
}

/// One pushed message, read and checked.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PushMessage {
    /// Pub/Sub's message id (deliveries of one message share it).
    pub message_id: String,
    /// When it was published (RFC 3339), if given.
    pub publish_time: Option<String>,
    /// The subscription that pushed it, if given.
    pub subscription: Option<String>,
    /// Every attribute of the message.
    pub attributes: BTreeMap<String, String>,
    /// The decoded `data` (the resource's JSON).
    pub data: Vec<u8>,
    /// The kind, from the `notificationType` attribute.
    pub kind: NotificationType,
    /// The resource, parsed.
    pub notification: Notification,
}

#[derive(Deserialize)]
struct Envelope {
    message: Message,
    #[serde(default)]
    subscription: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default, rename = "messageId", alias = "message_id")]
    message_id: Option<String>,
    #[serde(default, rename = "publishTime", alias = "publish_time")]
    publish_time: Option<String>,
}

fn bad(why: impl Into<String>) -> Error {
    Error::Unexpected {
        what: "Pub/Sub push",
        why: why.into(),
    }
}

/// Reads a push request body within `max_bytes` (and the default depth
/// limit): the envelope, the notification type, the base64 data and the
/// resource it carries.
pub fn parse_push(body: &[u8], max_bytes: usize) -> Result<PushMessage, Error> {
    let env: Envelope = Limits::DEFAULT.with_max_bytes(max_bytes).parse(body)?;
    let m = env.message;
    let message_id = m
        .message_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| bad("message.messageId is missing"))?;
    if message_id.len() > 256 {
        return Err(bad("message.messageId is longer than 256 bytes"));
    }
    let kind = m
        .attributes
        .get(NOTIFICATION_TYPE)
        .map(|s| NotificationType::from_attribute(s))
        .ok_or_else(|| bad("message.attributes.notificationType is missing"))?;
    let data = match m.data.as_deref() {
        None | Some("") => Vec::new(),
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| bad(format!("message.data is not base64: {e}")))?,
    };
    let resource = |what: &str| {
        if data.is_empty() {
            Err(bad(format!("message.data is empty; a {what} was expected")))
        } else {
            Ok(())
        }
    };
    let notification = match &kind {
        NotificationType::Enrollment => {
            resource("Device")?;
            Notification::Enrollment(Box::new(crate::parse::device(&data)?))
        }
        NotificationType::StatusReport => {
            resource("Device")?;
            Notification::StatusReport(Box::new(crate::parse::device(&data)?))
        }
        NotificationType::Command => {
            resource("Operation")?;
            Notification::Command(Box::new(crate::parse::operation(&data)?))
        }
        NotificationType::Test => Notification::Test,
        NotificationType::Other(s) => Notification::Other(s.clone()),
    };
    Ok(PushMessage {
        message_id,
        publish_time: m.publish_time,
        subscription: env.subscription,
        attributes: m.attributes,
        data,
        kind,
        notification,
    })
}

/// Builds a push envelope, as Pub/Sub would send it (tests, emulators,
/// replaying a captured message).
pub fn envelope(kind: &str, data: &[u8], message_id: &str, subscription: &str) -> Vec<u8> {
    let v = serde_json::json!({
        "message": {
            "attributes": { NOTIFICATION_TYPE: kind },
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "messageId": message_id,
        },
        "subscription": subscription,
    });
    // A JSON value with string keys always serialises.
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Where a device enrolled with a token belongs: mdmkit writes this into
/// the token's `additionalData` and reads it back from the enrolled
/// device's `enrollmentTokenData`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnrollmentBinding {
    /// The tenant that created the token.
    pub tenant: TenantId,
    /// The node of the tree the device goes under.
    pub node: NodeId,
}

#[derive(Serialize, Deserialize)]
struct BindingJson {
    mdmkit: BindingInner,
}

#[derive(Serialize, Deserialize)]
struct BindingInner {
    tenant: String,
    node: String,
}

impl EnrollmentBinding {
    /// A binding.
    pub fn new(tenant: TenantId, node: NodeId) -> Self {
        Self { tenant, node }
    }

    /// The `additionalData` text: `{"mdmkit":{"tenant":"...","node":"..."}}`.
    pub fn to_data(&self) -> String {
        let j = BindingJson {
            mdmkit: BindingInner {
                tenant: self.tenant.to_string(),
                node: self.node.to_string(),
            },
        };
        // Two strings always serialise.
        serde_json::to_string(&j).unwrap_or_default()
    }

    /// Reads `enrollmentTokenData` (at most
    /// [`crate::enrollment::MAX_ADDITIONAL_DATA`] bytes).
    pub fn parse(data: &str) -> Result<Self, Error> {
        let j: BindingJson = Limits::DEFAULT
            .with_max_bytes(crate::enrollment::MAX_ADDITIONAL_DATA)
            .with_max_depth(4)
            .parse(data.as_bytes())?;
        let tenant = TenantId::new(&j.mdmkit.tenant).map_err(|e| Error::Unexpected {
            what: "enrollment token data",
            why: format!("mdmkit.tenant: {e}"),
        })?;
        let node = j
            .mdmkit
            .node
            .parse::<NodeId>()
            .map_err(|e| Error::Unexpected {
                what: "enrollment token data",
                why: format!("mdmkit.node: {e}"),
            })?;
        Ok(Self { tenant, node })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_status_report_envelope_carries_its_device() {
        let body = envelope(
            "STATUS_REPORT",
            br#"{"name":"enterprises/LC01/devices/d1","appliedPolicyVersion":"3"}"#,
            "m-1",
            "projects/p/subscriptions/s",
        );
        let m = parse_push(&body, DEFAULT_MAX_ENVELOPE).unwrap();
        assert_eq!(m.kind, NotificationType::StatusReport);
        assert_eq!(m.message_id, "m-1");
        match m.notification {
            Notification::StatusReport(d) => {
                assert_eq!(d.name.as_deref(), Some("enterprises/LC01/devices/d1"));
                assert_eq!(d.applied_policy_version, Some(3));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_envelopes_say_what_is_wrong() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"message":{"attributes":{"notificationType":"ENROLLMENT"},"data":"!!"}}"#, "messageId"),
            (br#"{"message":{"messageId":"1","data":"e30="}}"#, "notificationType"),
            (br#"{"message":{"messageId":"1","attributes":{"notificationType":"ENROLLMENT"},"data":"%%%"}}"#, "base64"),
            (br#"{"message":{"messageId":"1","attributes":{"notificationType":"COMMAND"}}}"#, "Operation"),
            (br#"{"message":{"messageId":"1","attributes":{"notificationType":"STATUS_REPORT"},"data":"WzFd"}}"#, "Device"),
        ];
        for (body, needle) in cases {
            let e = parse_push(body, DEFAULT_MAX_ENVELOPE)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e}");
        }
        assert!(matches!(
            parse_push(&[b' '; 100], 10),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn test_messages_and_unknown_kinds_are_read_without_data() {
        let m = parse_push(
            br#"{"message":{"messageId":"7","attributes":{"notificationType":"test"}}}"#,
            DEFAULT_MAX_ENVELOPE,
        )
        .unwrap();
        assert_eq!(m.notification, Notification::Test);
        let m = parse_push(
            br#"{"message":{"message_id":"8","attributes":{"notificationType":"USAGE_LOGS"},"data":"e30="}}"#,
            DEFAULT_MAX_ENVELOPE,
        )
        .unwrap();
        assert_eq!(m.notification, Notification::Other("USAGE_LOGS".into()));
    }

    #[test]
    fn bindings_refuse_bad_ids() {
        assert!(EnrollmentBinding::parse(r#"{"mdmkit":{"tenant":"t","node":"a b"}}"#).is_err());
        assert!(EnrollmentBinding::parse(r#"{"mdmkit":{"tenant":"","node":"a"}}"#).is_err());
        assert!(EnrollmentBinding::parse("tenant=t").is_err());
    }

    proptest! {
        #[test]
        fn bindings_round_trip(tenant in "[a-z][a-z0-9-]{0,20}", node in "[a-z][a-z0-9-]{0,20}") {
            let b = EnrollmentBinding::new(TenantId::new(&tenant).unwrap(), node.parse().unwrap());
            prop_assert_eq!(EnrollmentBinding::parse(&b.to_data()).unwrap(), b);
        }

        #[test]
        fn envelopes_round_trip(id in "[0-9]{1,20}", version in 0i64..1_000_000) {
            let data = format!(r#"{{"name":"enterprises/E1/devices/d","appliedPolicyVersion":"{version}"}}"#);
            let m = parse_push(&envelope("ENROLLMENT", data.as_bytes(), &id, "s"), DEFAULT_MAX_ENVELOPE).unwrap();
            prop_assert_eq!(&m.message_id, &id);
            prop_assert_eq!(m.data, data.as_bytes().to_vec());
            match m.notification {
                Notification::Enrollment(d) => prop_assert_eq!(d.applied_policy_version, Some(version)),
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}

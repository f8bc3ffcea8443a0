//! Identifiers of commands and enrollments.

use std::fmt;
use std::str::FromStr;

use mdmkit_core::DeviceId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::QueueError;

/// The identifier of one command: a UUID, the Apple `CommandUUID` and the
/// Windows command reference.
///
/// New ids are UUIDv7 (time-ordered), which keeps database indexes compact;
/// any UUID a caller already has can be wrapped with [`CommandId::from_uuid`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommandId(Uuid);

impl CommandId {
    /// A fresh, time-ordered command id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Wraps an existing UUID.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for CommandId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl fmt::Debug for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommandId({})", self.0.hyphenated())
    }
}

impl FromStr for CommandId {
    type Err = QueueError;
    fn from_str(s: &str) -> Result<Self, QueueError> {
        Uuid::parse_str(s.trim())
            .map(Self)
            .map_err(|e| QueueError::InvalidCommandId {
                input: s.chars().take(64).collect(),
                source: e,
            })
    }
}

/// The longest accepted user channel name, in bytes.
pub const MAX_USER_CHANNEL_LEN: usize = 255;

/// Where a command goes: a device channel, or an Apple user channel under a
/// device (user enrollment, a macOS user session).
///
/// Each enrollment has its own queue. The device channel and every user
/// channel of the same device are distinct enrollments. As text (and in
/// JSON) it reads `DEVICE` or `DEVICE#USER`; a device id never contains `#`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct EnrollmentId {
    device: DeviceId,
    user: Option<String>,
}

impl From<EnrollmentId> for String {
    fn from(e: EnrollmentId) -> String {
        e.to_string()
    }
}

impl TryFrom<String> for EnrollmentId {
    type Error = QueueError;
    fn try_from(s: String) -> Result<Self, QueueError> {
        s.parse()
    }
}

impl EnrollmentId {
    /// The device channel of a device.
    pub fn device(device: DeviceId) -> Self {
        Self { device, user: None }
    }

    /// A user channel under a device: the Apple `UserID` (or short name) of
    /// the user, 1 to 255 bytes of printable ASCII without spaces.
    pub fn user(device: DeviceId, user: impl Into<String>) -> Result<Self, QueueError> {
        let user = user.into();
        validate_user(&user)?;
        Ok(Self {
            device,
            user: Some(user),
        })
    }

    /// The device this enrollment belongs to.
    pub fn device_id(&self) -> &DeviceId {
        &self.device
    }

    /// The user channel, if this is not the device channel.
    pub fn user_channel(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The user channel as stored in a database key (`""` for the device).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn channel_key(&self) -> &str {
        self.user.as_deref().unwrap_or("")
    }

    /// Rebuilds an enrollment from its stored key parts.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn from_parts(device: &str, channel: &str) -> Result<Self, QueueError> {
        let device = DeviceId::new(device).map_err(|e| QueueError::Corrupt {
            what: format!("stored device id {device:?}: {e}"),
        })?;
        if channel.is_empty() {
            Ok(Self::device(device))
        } else {
            Self::user(device, channel)
        }
    }
}

fn validate_user(user: &str) -> Result<(), QueueError> {
    if user.is_empty() {
        return Err(QueueError::InvalidUserChannel {
            reason: "it is empty".into(),
        });
    }
    if user.len() > MAX_USER_CHANNEL_LEN {
        return Err(QueueError::InvalidUserChannel {
            reason: format!(
                "it is {} bytes long, at most {MAX_USER_CHANNEL_LEN} are allowed",
                user.len()
            ),
        });
    }
    if let Some((offset, ch)) = user.char_indices().find(|&(_, c)| !c.is_ascii_graphic()) {
        return Err(QueueError::InvalidUserChannel {
            reason: format!(
                "it has the character {ch:?} at byte {offset}; allowed is printable ASCII without spaces"
            ),
        });
    }
    Ok(())
}

impl fmt::Display for EnrollmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.user {
            None => write!(f, "{}", self.device),
            Some(u) => write!(f, "{}#{}", self.device, u),
        }
    }
}

impl fmt::Debug for EnrollmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnrollmentId({self})")
    }
}

impl From<DeviceId> for EnrollmentId {
    fn from(device: DeviceId) -> Self {
        Self::device(device)
    }
}

impl FromStr for EnrollmentId {
    type Err = QueueError;
    /// Parses `DEVICE` or `DEVICE#USER` (a device id never contains `#`).
    fn from_str(s: &str) -> Result<Self, QueueError> {
        let (device, user) = match s.split_once('#') {
            Some((d, u)) => (d, Some(u)),
            None => (s, None),
        };
        let device = DeviceId::new(device).map_err(|e| QueueError::InvalidEnrollment {
            input: s.chars().take(64).collect(),
            source: e,
        })?;
        match user {
            None => Ok(Self::device(device)),
            Some(u) => Self::user(device, u),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrollment_ids_round_trip_through_display() {
        let d = DeviceId::new("UDID-1").unwrap();
        let e = EnrollmentId::user(d.clone(), "501").unwrap();
        assert_eq!(e.to_string(), "UDID-1#501");
        assert_eq!("UDID-1#501".parse::<EnrollmentId>().unwrap(), e);
        assert_eq!(
            "UDID-1".parse::<EnrollmentId>().unwrap(),
            EnrollmentId::device(d)
        );
        assert!("UDID-1#".parse::<EnrollmentId>().is_err());
        assert!("UDID 1".parse::<EnrollmentId>().is_err());
    }

    #[test]
    fn enrollment_ids_validate_on_the_way_in_from_json() {
        let e: EnrollmentId = serde_json::from_str("\"UDID-1#501\"").unwrap();
        assert_eq!(e.user_channel(), Some("501"));
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"UDID-1#501\"");
        assert!(serde_json::from_str::<EnrollmentId>("\"UDID-1#a b\"").is_err());
    }

    #[test]
    fn command_ids_parse_either_case() {
        let id = CommandId::new();
        let upper = id.to_string().to_uppercase();
        assert_eq!(upper.parse::<CommandId>().unwrap(), id);
        assert!("not-a-uuid".parse::<CommandId>().is_err());
    }
}

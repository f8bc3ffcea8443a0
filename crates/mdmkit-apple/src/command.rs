//! MDM commands: the plist a server sends in answer to a device's report.
//!
//! ```text
//! <dict>
//!   <key>Command</key>
//!   <dict><key>RequestType</key><string>DeviceLock</string> ...keys... </dict>
//!   <key>CommandUUID</key><string>...</string>
//! </dict>
//! ```
//!
//! Every command of the schema has a generated struct implementing
//! [`Request`]; [`Command::new`] wraps any of them. The functions of
//! [`everyday`] build the common ones in one call.

use std::fmt;

use plist::{Dictionary, Value};

use crate::error::{Error, MessageError};
use crate::generated::commands::AnyCommand;
use crate::plist_io::{self, Format, Limits};
use crate::typed::{KeyPath, Request};

/// A command's `CommandUUID`: any non-empty string of at most 128 bytes
/// (mdmkit makes random UUIDs; servers may use other strings).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandUuid(String);

impl CommandUuid {
    /// The longest accepted CommandUUID, in bytes.
    pub const MAX_LEN: usize = 128;

    /// A new random (v4) UUID, upper-case like Apple's.
    pub fn random() -> Self {
        Self(
            uuid::Uuid::new_v4()
                .hyphenated()
                .encode_upper(&mut uuid::Uuid::encode_buffer())
                .to_owned(),
        )
    }

    /// Wraps an existing CommandUUID.
    pub fn new(s: impl Into<String>) -> Result<Self, MessageError> {
        let s = s.into();
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(MessageError::BadCommandUuid);
        }
        Ok(Self(s))
    }

    /// The UUID text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommandUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An MDM command: its UUID, its request type and its keys.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Command {
    /// `CommandUUID`.
    pub uuid: CommandUuid,
    /// `Command.RequestType`.
    pub request_type: String,
    /// The other keys of the `Command` dictionary.
    pub keys: Dictionary,
    /// Top-level keys besides `Command` and `CommandUUID`, kept as they came.
    pub extra: Dictionary,
}

impl Command {
    /// A command with a random UUID from any generated request struct.
    pub fn new<R: Request>(request: &R) -> Self {
        Self::with_uuid(CommandUuid::random(), request)
    }

    /// A command with a chosen UUID.
    pub fn with_uuid<R: Request>(uuid: CommandUuid, request: &R) -> Self {
        Self {
            uuid,
            request_type: R::REQUEST_TYPE.to_owned(),
            keys: request.to_dict(),
            extra: Dictionary::new(),
        }
    }

    /// The command as its plist dictionary.
    pub fn to_dict(&self) -> Dictionary {
        let mut inner = Dictionary::new();
        inner.insert(
            "RequestType".into(),
            Value::String(self.request_type.clone()),
        );
        for (k, v) in &self.keys {
            if k != "RequestType" {
                inner.insert(k.clone(), v.clone());
            }
        }
        let mut d = Dictionary::new();
        d.insert("Command".into(), Value::Dictionary(inner));
        d.insert(
            "CommandUUID".into(),
            Value::String(self.uuid.as_str().to_owned()),
        );
        for (k, v) in &self.extra {
            d.insert(k.clone(), v.clone());
        }
        d
    }

    /// Encodes the command (XML is what devices get).
    pub fn to_bytes(&self, format: Format) -> Vec<u8> {
        plist_io::write(&Value::Dictionary(self.to_dict()), format)
    }

    /// Parses a command plist.
    pub fn from_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        let (d, _) = plist_io::read_dict(bytes, limits)?;
        Self::from_dict(d)
    }

    /// Reads a command from its plist dictionary.
    pub fn from_dict(mut d: Dictionary) -> Result<Self, Error> {
        let root = KeyPath::ROOT;
        let mut inner: Dictionary = crate::typed::take(&mut d, "Command", &root)?
            .ok_or(MessageError::NotACommand("Command"))?;
        let request_type: String =
            crate::typed::take(&mut inner, "RequestType", &root.key("Command"))?
                .ok_or(MessageError::NotACommand("Command.RequestType"))?;
        let uuid: String = crate::typed::take(&mut d, "CommandUUID", &root)?
            .ok_or(MessageError::NotACommand("CommandUUID"))?;
        Ok(Self {
            uuid: CommandUuid::new(uuid)?,
            request_type,
            keys: inner,
            extra: d,
        })
    }

    /// The keys as the generated struct of their request type.
    pub fn decode<R: Request>(&self) -> Result<R, Error> {
        if self.request_type != R::REQUEST_TYPE {
            return Err(MessageError::UnknownRequestType(self.request_type.clone()).into());
        }
        Ok(R::from_dict(
            self.keys.clone(),
            &KeyPath::ROOT.key("Command"),
        )?)
    }

    /// The keys typed by whatever request type the command has; `None` for
    /// a request type the schema does not know.
    pub fn typed(&self) -> Result<Option<AnyCommand>, Error> {
        Ok(AnyCommand::decode(
            &self.request_type,
            self.keys.clone(),
            &KeyPath::ROOT.key("Command"),
        )?)
    }
}

/// One-call constructors for the everyday commands.
pub mod everyday {
    use plist::Dictionary;

    use super::Command;
    use crate::generated::commands::*;
    use crate::plist_io::Format;
    use crate::profile::Profile;

    /// `InstallProfile` with a profile's bytes (plain or signed).
    pub fn install_profile(profile: Vec<u8>) -> Command {
        Command::new(&InstallProfileCommand {
            payload: Some(profile),
            ..Default::default()
        })
    }

    /// `InstallProfile` with a profile, encoded as XML.
    pub fn install_built_profile(profile: &Profile) -> Command {
        install_profile(profile.to_bytes(Format::Xml))
    }

    /// `RemoveProfile` of the profile with this `PayloadIdentifier`.
    pub fn remove_profile(identifier: impl Into<String>) -> Command {
        Command::new(&RemoveProfileCommand {
            identifier: Some(identifier.into()),
            ..Default::default()
        })
    }

    /// `ProfileList`.
    pub fn profile_list() -> Command {
        Command::new(&ProfileListCommand::default())
    }

    /// `DeviceInformation` for the given query names.
    pub fn device_information<S: Into<String>>(queries: impl IntoIterator<Item = S>) -> Command {
        Command::new(&DeviceInformationCommand {
            queries: Some(queries.into_iter().map(Into::into).collect()),
            ..Default::default()
        })
    }

    /// `SecurityInfo`.
    pub fn security_info() -> Command {
        Command::new(&SecurityInfoCommand::default())
    }

    /// `InstalledApplicationList` of every app.
    pub fn installed_application_list() -> Command {
        Command::new(&InstalledApplicationListCommand::default())
    }

    /// `InstallApplication` of an App Store app by its store id.
    pub fn install_store_application(itunes_store_id: i64) -> Command {
        Command::new(&InstallApplicationCommand {
            itunes_store_id: Some(itunes_store_id),
            ..Default::default()
        })
    }

    /// `InstallApplication` of an app by bundle identifier (a volume-purchased
    /// app already assigned to the device).
    pub fn install_application(bundle_id: impl Into<String>) -> Command {
        Command::new(&InstallApplicationCommand {
            identifier: Some(bundle_id.into()),
            ..Default::default()
        })
    }

    /// `InstallApplication` of an in-house app from its manifest URL.
    pub fn install_application_from_manifest(manifest_url: impl Into<String>) -> Command {
        Command::new(&InstallApplicationCommand {
            manifest_url: Some(manifest_url.into()),
            ..Default::default()
        })
    }

    /// `RemoveApplication` of a managed app.
    pub fn remove_application(bundle_id: impl Into<String>) -> Command {
        Command::new(&RemoveApplicationCommand {
            identifier: Some(bundle_id.into()),
            ..Default::default()
        })
    }

    /// `DeviceLock`, with an optional message and phone number for the lock
    /// screen.
    pub fn device_lock(message: Option<String>, phone_number: Option<String>) -> Command {
        Command::new(&DeviceLockCommand {
            message,
            phone_number,
            ..Default::default()
        })
    }

    /// `EraseDevice`; `pin` is the six-digit Find My PIN some Macs need.
    pub fn erase_device(pin: Option<String>) -> Command {
        Command::new(&EraseDeviceCommand {
            pin,
            ..Default::default()
        })
    }

    /// `RestartDevice`.
    pub fn restart_device() -> Command {
        Command::new(&RestartDeviceCommand::default())
    }

    /// `ShutDownDevice`.
    pub fn shut_down_device() -> Command {
        Command::new(&ShutDownDeviceCommand::default())
    }

    /// `Settings` with setting items (each a dictionary with an `Item` key).
    pub fn settings(items: Vec<Dictionary>) -> Command {
        Command::new(&SettingsCommand {
            settings: Some(items),
            ..Default::default()
        })
    }

    /// `ClearPasscode` with the unlock token from the device's TokenUpdate.
    pub fn clear_passcode(unlock_token: Vec<u8>) -> Command {
        Command::new(&ClearPasscodeCommand {
            unlock_token: Some(unlock_token),
            ..Default::default()
        })
    }

    /// `EnableLostMode`; a message or a phone number is needed.
    pub fn enable_lost_mode(
        message: Option<String>,
        phone_number: Option<String>,
        footnote: Option<String>,
    ) -> Command {
        Command::new(&EnableLostModeCommand {
            message,
            phone_number,
            footnote,
            ..Default::default()
        })
    }

    /// `DisableLostMode`.
    pub fn disable_lost_mode() -> Command {
        Command::new(&DisableLostModeCommand::default())
    }

    /// `DeclarativeManagement` with the synchronization tokens (JSON bytes),
    /// or without data to make the device synchronize.
    pub fn declarative_management(data: Option<Vec<u8>>) -> Command {
        Command::new(&DeclarativeManagementCommand {
            data,
            ..Default::default()
        })
    }

    /// `ScheduleOSUpdate` of one product key (or every available update when
    /// `product_key` is `None`) with an install action such as `Default`,
    /// `DownloadOnly` or `InstallASAP`.
    pub fn schedule_os_update(product_key: Option<String>, install_action: &str) -> Command {
        Command::new(&ScheduleOSUpdateCommand {
            updates: Some(vec![ScheduleOSUpdateUpdatesItem {
                product_key,
                install_action: Some(install_action.to_owned()),
                ..Default::default()
            }]),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::commands::{AnyCommand, DeviceLockCommand};
    use crate::schema::{SchemaKind, find};
    use crate::validate::validate_dict;

    #[test]
    fn a_command_round_trips_and_decodes_to_its_struct() {
        let cmd = everyday::device_lock(Some("Call the office".into()), None);
        let bytes = cmd.to_bytes(Format::Xml);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("<key>RequestType</key>\n\t\t<string>DeviceLock</string>"));
        let back = Command::from_bytes(&bytes, &Limits::DEFAULT).unwrap();
        assert_eq!(back, cmd);
        let lock: DeviceLockCommand = back.decode().unwrap();
        assert_eq!(lock.message.as_deref(), Some("Call the office"));
        assert!(matches!(
            back.typed().unwrap(),
            Some(AnyCommand::DeviceLock(_))
        ));
    }

    #[test]
    fn everyday_commands_validate_against_the_schema() {
        let cmds = [
            everyday::install_profile(b"x".to_vec()),
            everyday::remove_profile("com.example.a"),
            everyday::profile_list(),
            everyday::device_information(["UDID", "OSVersion"]),
            everyday::security_info(),
            everyday::installed_application_list(),
            everyday::install_store_application(361_309_726),
            everyday::install_application("com.example.app"),
            everyday::remove_application("com.example.app"),
            everyday::device_lock(None, None),
            everyday::erase_device(None),
            everyday::restart_device(),
            everyday::shut_down_device(),
            everyday::settings(vec![]),
            everyday::clear_passcode(vec![1, 2]),
            everyday::enable_lost_mode(Some("Lost".into()), None, None),
            everyday::disable_lost_mode(),
            everyday::declarative_management(None),
            everyday::schedule_os_update(None, "InstallASAP"),
        ];
        for c in cmds {
            let entry = find(SchemaKind::Command, &c.request_type).unwrap();
            let issues: Vec<_> = validate_dict(entry.keys, &c.keys)
                .into_iter()
                .filter(|i| i.is_error())
                .collect();
            assert!(issues.is_empty(), "{}: {issues:?}", c.request_type);
            assert!(c.typed().unwrap().is_some());
        }
    }

    #[test]
    fn a_plist_without_a_command_dictionary_is_refused() {
        let mut d = Dictionary::new();
        d.insert("CommandUUID".into(), Value::String("x".into()));
        assert!(matches!(
            Command::from_dict(d),
            Err(Error::Message(MessageError::NotACommand("Command")))
        ));
    }
}

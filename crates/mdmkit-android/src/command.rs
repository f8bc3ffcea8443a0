//! Typed `devices.issueCommand` bodies.
//!
//! The body of `POST /v1/{device}:issueCommand` is a `Command` resource;
//! [`DeviceCommand`] builds the seven commands mdmkit issues, checks what
//! AMAPI would reject, and reads a `Command` back (from an Operation's
//! metadata, say).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Error;
use crate::model::{
    ClearAppsDataParams, Command, CommandResetPasswordFlag, CommandType, StartLostModeParams,
    StopLostModeParams, UserFacingMessage,
};

/// The most packages one CLEAR_APP_DATA command names (a guard against
/// accidental huge bodies; AMAPI's own limit is not documented).
pub const MAX_CLEAR_APP_DATA_PACKAGES: usize = 1000;

/// A command for one device.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DeviceCommand {
    /// Lock the device, as if the power button had been pressed.
    Lock,
    /// Set or clear the device (or work profile) password.
    ResetPassword {
        /// The new password; `None` or empty clears it where allowed.
        new_password: Option<String>,
        /// How the reset behaves.
        flags: Vec<CommandResetPasswordFlag>,
    },
    /// Reboot the device (Android 7 and later, fully managed).
    Reboot,
    /// Remove the work profile and all policies from a company-owned
    /// device, handing it to the user.
    RelinquishOwnership,
    /// Clear the data of apps.
    ClearAppData {
        /// Package names of the apps.
        packages: Vec<String>,
    },
    /// Put the device in lost mode with what its lock screen shows.
    StartLostMode(LostMode),
    /// Take the device out of lost mode.
    StopLostMode,
}

/// What a device in lost mode shows. At least one item must be set.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct LostMode {
    /// The message on the lock screen.
    pub message: Option<Message>,
    /// The phone number to call (the device can dial it).
    pub phone_number: Option<Message>,
    /// The e-mail address to contact.
    pub email_address: Option<String>,
    /// The address to return the device to.
    pub street_address: Option<Message>,
    /// The organisation that owns the device.
    pub organization: Option<Message>,
}

/// A text shown to the device user, with optional translations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The text when no translation matches the device locale.
    pub default: String,
    /// Translations by BCP 47 language tag (`de`, `fr-CH`).
    pub localized: BTreeMap<String, String>,
}

impl Message {
    /// A message in one language.
    pub fn new(default: impl Into<String>) -> Self {
        Self {
            default: default.into(),
            localized: BTreeMap::new(),
        }
    }

    /// Adds a translation.
    pub fn localized(mut self, language: impl Into<String>, text: impl Into<String>) -> Self {
        self.localized.insert(language.into(), text.into());
        self
    }

    fn to_model(&self) -> UserFacingMessage {
        UserFacingMessage {
            default_message: Some(self.default.clone()),
            localized_messages: (!self.localized.is_empty()).then(|| self.localized.clone()),
            ..UserFacingMessage::default()
        }
    }

    fn from_model(m: &UserFacingMessage) -> Self {
        Self {
            default: m.default_message.clone().unwrap_or_default(),
            localized: m.localized_messages.clone().unwrap_or_default(),
        }
    }
}

impl LostMode {
    /// Lost mode showing a message.
    pub fn with_message(message: impl Into<String>) -> Self {
        Self {
            message: Some(Message::new(message)),
            ..Self::default()
        }
    }

    /// Sets the message.
    pub fn message(mut self, m: Message) -> Self {
        self.message = Some(m);
        self
    }

    /// Sets the phone number.
    pub fn phone_number(mut self, number: impl Into<String>) -> Self {
        self.phone_number = Some(Message::new(number));
        self
    }

    /// Sets the e-mail address.
    pub fn email_address(mut self, email: impl Into<String>) -> Self {
        self.email_address = Some(email.into());
        self
    }

    /// Sets the street address.
    pub fn street_address(mut self, address: Message) -> Self {
        self.street_address = Some(address);
        self
    }

    /// Sets the organisation.
    pub fn organization(mut self, org: Message) -> Self {
        self.organization = Some(org);
        self
    }

    fn is_empty(&self) -> bool {
        self.message.is_none()
            && self.phone_number.is_none()
            && self.email_address.is_none()
            && self.street_address.is_none()
            && self.organization.is_none()
    }
}

/// Whether `s` is a plausible Android package name (`org.example.app`).
pub fn is_package_name(s: &str) -> bool {
    s.len() <= 255
        && s.split('.').count() >= 2
        && s.split('.').all(|seg| {
            let mut b = seg.bytes();
            b.next().is_some_and(|c| c.is_ascii_alphabetic())
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        })
}

impl DeviceCommand {
    /// LOCK.
    pub fn lock() -> Self {
        DeviceCommand::Lock
    }

    /// RESET_PASSWORD to `new_password` (empty clears it), with no flags.
    pub fn reset_password(new_password: impl Into<String>) -> Self {
        DeviceCommand::ResetPassword {
            new_password: Some(new_password.into()),
            flags: Vec::new(),
        }
    }

    /// REBOOT.
    pub fn reboot() -> Self {
        DeviceCommand::Reboot
    }

    /// RELINQUISH_OWNERSHIP.
    pub fn relinquish_ownership() -> Self {
        DeviceCommand::RelinquishOwnership
    }

    /// CLEAR_APP_DATA for the given packages.
    pub fn clear_app_data<I, S>(packages: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        DeviceCommand::ClearAppData {
            packages: packages.into_iter().map(Into::into).collect(),
        }
    }

    /// START_LOST_MODE.
    pub fn start_lost_mode(lost: LostMode) -> Self {
        DeviceCommand::StartLostMode(lost)
    }

    /// STOP_LOST_MODE.
    pub fn stop_lost_mode() -> Self {
        DeviceCommand::StopLostMode
    }

    /// Adds a reset-password flag (only meaningful for RESET_PASSWORD).
    pub fn with_flag(mut self, flag: CommandResetPasswordFlag) -> Self {
        if let DeviceCommand::ResetPassword { flags, .. } = &mut self
            && !flags.contains(&flag)
        {
            flags.push(flag);
        }
        self
    }

    /// The command's type.
    pub fn command_type(&self) -> CommandType {
        match self {
            DeviceCommand::Lock => CommandType::Lock,
            DeviceCommand::ResetPassword { .. } => CommandType::ResetPassword,
            DeviceCommand::Reboot => CommandType::Reboot,
            DeviceCommand::RelinquishOwnership => CommandType::RelinquishOwnership,
            DeviceCommand::ClearAppData { .. } => CommandType::ClearAppData,
            DeviceCommand::StartLostMode(_) => CommandType::StartLostMode,
            DeviceCommand::StopLostMode => CommandType::StopLostMode,
        }
    }

    /// Checks the command and builds the `Command` body, valid for
    /// `expires_after` (Google's default, ten minutes, when `None`).
    pub fn to_command(&self, expires_after: Option<Duration>) -> Result<Command, Error> {
        let mut c = Command {
            r#type: Some(self.command_type()),
            ..Command::default()
        };
        if let Some(d) = expires_after {
            if d.is_zero() {
                return Err(invalid(self, "the command would expire at once".into()));
            }
            c.duration = Some(d);
        }
        match self {
            DeviceCommand::Lock | DeviceCommand::Reboot | DeviceCommand::RelinquishOwnership => {}
            DeviceCommand::ResetPassword {
                new_password,
                flags,
            } => {
                c.new_password = new_password.clone();
                if !flags.is_empty() {
                    c.reset_password_flags = Some(flags.clone());
                }
            }
            DeviceCommand::ClearAppData { packages } => {
                if packages.is_empty() {
                    return Err(invalid(self, "no package names".into()));
                }
                if packages.len() > MAX_CLEAR_APP_DATA_PACKAGES {
                    return Err(invalid(
                        self,
                        format!(
                            "{} package names, at most {MAX_CLEAR_APP_DATA_PACKAGES} are allowed",
                            packages.len()
                        ),
                    ));
                }
                if let Some(bad) = packages.iter().find(|p| !is_package_name(p)) {
                    return Err(invalid(self, format!("{bad:?} is not a package name")));
                }
                c.clear_apps_data_params = Some(ClearAppsDataParams {
                    package_names: Some(packages.clone()),
                    ..ClearAppsDataParams::default()
                });
            }
            DeviceCommand::StartLostMode(lost) => {
                if lost.is_empty() {
                    return Err(invalid(
                        self,
                        "lost mode needs a message, phone number, e-mail address, street address or organisation".into(),
                    ));
                }
                c.start_lost_mode_params = Some(StartLostModeParams {
                    lost_message: lost.message.as_ref().map(Message::to_model),
                    lost_phone_number: lost.phone_number.as_ref().map(Message::to_model),
                    lost_email_address: lost.email_address.clone(),
                    lost_street_address: lost.street_address.as_ref().map(Message::to_model),
                    lost_organization: lost.organization.as_ref().map(Message::to_model),
                    ..StartLostModeParams::default()
                });
            }
            DeviceCommand::StopLostMode => {
                c.stop_lost_mode_params = Some(StopLostModeParams::default());
            }
        }
        Ok(c)
    }

    /// The JSON body of `devices.issueCommand`.
    pub fn to_json(&self, expires_after: Option<Duration>) -> Result<Vec<u8>, Error> {
        crate::parse::to_vec(&self.to_command(expires_after)?)
    }

    /// Reads a `Command` back into the typed command; `None` for types this
    /// crate does not build (WIPE, ADD_ESIM, ...).
    pub fn from_command(c: &Command) -> Option<Self> {
        Some(match c.r#type.as_ref()? {
            CommandType::Lock => DeviceCommand::Lock,
            CommandType::ResetPassword => DeviceCommand::ResetPassword {
                new_password: c.new_password.clone(),
                flags: c.reset_password_flags.clone().unwrap_or_default(),
            },
            CommandType::Reboot => DeviceCommand::Reboot,
            CommandType::RelinquishOwnership => DeviceCommand::RelinquishOwnership,
            CommandType::ClearAppData => DeviceCommand::ClearAppData {
                packages: c
                    .clear_apps_data_params
                    .as_ref()
                    .and_then(|p| p.package_names.clone())
                    .unwrap_or_default(),
            },
            CommandType::StartLostMode => {
                let p = c.start_lost_mode_params.clone().unwrap_or_default();
                DeviceCommand::StartLostMode(LostMode {
                    message: p.lost_message.as_ref().map(Message::from_model),
                    phone_number: p.lost_phone_number.as_ref().map(Message::from_model),
                    email_address: p.lost_email_address.clone(),
                    street_address: p.lost_street_address.as_ref().map(Message::from_model),
                    organization: p.lost_organization.as_ref().map(Message::from_model),
                })
            }
            CommandType::StopLostMode => DeviceCommand::StopLostMode,
            _ => return None,
        })
    }
}

fn invalid(c: &DeviceCommand, why: String) -> Error {
    let what = match c {
        DeviceCommand::Lock => "LOCK command",
        DeviceCommand::ResetPassword { .. } => "RESET_PASSWORD command",
        DeviceCommand::Reboot => "REBOOT command",
        DeviceCommand::RelinquishOwnership => "RELINQUISH_OWNERSHIP command",
        DeviceCommand::ClearAppData { .. } => "CLEAR_APP_DATA command",
        DeviceCommand::StartLostMode(_) => "START_LOST_MODE command",
        DeviceCommand::StopLostMode => "STOP_LOST_MODE command",
    };
    Error::InvalidRequest { what, why }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_with_an_expiry_is_a_small_command_body() {
        let json = DeviceCommand::lock()
            .to_json(Some(Duration::from_secs(600)))
            .unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"duration":"600s","type":"LOCK"}"#
        );
    }

    #[test]
    fn reset_password_carries_password_and_flags_once() {
        let c = DeviceCommand::reset_password("2468")
            .with_flag(CommandResetPasswordFlag::LockNow)
            .with_flag(CommandResetPasswordFlag::LockNow)
            .with_flag(CommandResetPasswordFlag::RequireEntry);
        let json = String::from_utf8(c.to_json(None).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"newPassword":"2468","resetPasswordFlags":["LOCK_NOW","REQUIRE_ENTRY"],"type":"RESET_PASSWORD"}"#
        );
    }

    #[test]
    fn clear_app_data_refuses_empty_and_malformed_package_lists() {
        assert!(
            DeviceCommand::clear_app_data(Vec::<String>::new())
                .to_command(None)
                .is_err()
        );
        let e = DeviceCommand::clear_app_data(["org.example.app", "not a package"])
            .to_command(None)
            .unwrap_err();
        assert!(e.to_string().contains("\"not a package\""), "{e}");
        assert!(
            DeviceCommand::clear_app_data(["org.example.app"])
                .to_command(None)
                .is_ok()
        );
    }

    #[test]
    fn lost_mode_needs_something_to_show() {
        assert!(
            DeviceCommand::start_lost_mode(LostMode::default())
                .to_command(None)
                .is_err()
        );
        let lost = LostMode::with_message("Please return to the school office")
            .phone_number("+49 30 1234567")
            .organization(Message::new("Grundschule Nord").localized("en", "North Primary"));
        let c = DeviceCommand::start_lost_mode(lost)
            .to_command(None)
            .unwrap();
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["startLostModeParams"]["lostOrganization"]["localizedMessages"]["en"],
            "North Primary"
        );
    }

    #[test]
    fn every_command_reads_back_from_its_body() {
        let all = [
            DeviceCommand::lock(),
            DeviceCommand::reset_password("x")
                .with_flag(CommandResetPasswordFlag::DoNotAskCredentialsOnBoot),
            DeviceCommand::reboot(),
            DeviceCommand::relinquish_ownership(),
            DeviceCommand::clear_app_data(["com.example.a", "com.example.b"]),
            DeviceCommand::start_lost_mode(
                LostMode::with_message("lost").email_address("it@example.org"),
            ),
            DeviceCommand::stop_lost_mode(),
        ];
        for c in all {
            let body = c.to_json(None).unwrap();
            let back: Command = crate::parse::from_slice(&body).unwrap();
            assert_eq!(DeviceCommand::from_command(&back), Some(c));
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(crate::schema::check(&value, "Command").unwrap(), vec![]);
        }
    }
}

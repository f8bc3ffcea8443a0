//! What devices send: check-in messages and command reports.
//!
//! Both are untrusted. They are read with [`Limits`], every key is checked
//! against its schema type (a wrong type is an error naming the key path),
//! and keys the schema does not list are kept, never dropped.

use std::fmt;

use plist::{Dictionary, Value};

use mdmkit_core::DeviceId;

use crate::command::CommandUuid;
use crate::error::{Error, MessageError};
use crate::generated::checkin::AnyCheckin;
use crate::generated::commands::AnyResponse;
use crate::plist_io::{self, Format, Limits};
use crate::typed::{KeyPath, PlistDict, Request, put, remove_ordered, take};

/// Who a message is from: the device (UDID, or EnrollmentID under user
/// enrollment) and, on a user channel, the user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EnrollmentIds {
    /// `UDID` of the device (device enrollment).
    pub udid: Option<String>,
    /// `EnrollmentID` (user enrollment).
    pub enrollment_id: Option<String>,
    /// `UserID` of a user channel (macOS, Shared iPad).
    pub user_id: Option<String>,
    /// `EnrollmentUserID` (user channel under user enrollment).
    pub enrollment_user_id: Option<String>,
    /// `UserShortName` of a user channel.
    pub user_short_name: Option<String>,
}

const ID_KEYS: &[&str] = &[
    "UDID",
    "EnrollmentID",
    "UserID",
    "EnrollmentUserID",
    "UserShortName",
];

impl EnrollmentIds {
    fn read(d: &Dictionary, path: &KeyPath<'_>) -> Result<Self, Error> {
        let get = |k: &str| -> Result<Option<String>, Error> {
            match d.get(k) {
                None => Ok(None),
                Some(v) => Ok(Some(<String as crate::typed::FieldValue>::from_value(
                    v.clone(),
                    &path.key(k),
                )?)),
            }
        };
        let ids = Self {
            udid: get("UDID")?,
            enrollment_id: get("EnrollmentID")?,
            user_id: get("UserID")?,
            enrollment_user_id: get("EnrollmentUserID")?,
            user_short_name: get("UserShortName")?,
        };
        if ids.udid.is_none() && ids.enrollment_id.is_none() {
            return Err(MessageError::NoEnrollment.into());
        }
        Ok(ids)
    }

    /// The device's identifier: the UDID, else the EnrollmentID.
    pub fn device(&self) -> &str {
        self.udid
            .as_deref()
            .or(self.enrollment_id.as_deref())
            .unwrap_or_default()
    }

    /// The device identifier as a [`DeviceId`], when it fits its alphabet.
    pub fn device_id(&self) -> Option<DeviceId> {
        DeviceId::new(self.device()).ok()
    }

    /// Whether the message comes from a user channel.
    pub fn is_user_channel(&self) -> bool {
        self.user_id.is_some()
            || self.enrollment_user_id.is_some()
            || self.user_short_name.is_some()
    }
}

/// The keys of a check-in message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // one per message, never stored in bulk
pub enum CheckinBody {
    /// A message type of the schema, typed.
    Known(AnyCheckin),
    /// `ReturnToService`, which the schema does not describe: its keys.
    ReturnToService(Dictionary),
}

/// A check-in message (`PUT` to the check-in URL).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Checkin {
    /// `MessageType`.
    pub message_type: String,
    /// Who sent it.
    pub ids: EnrollmentIds,
    /// Its keys (including the identifiers and `MessageType`).
    pub body: CheckinBody,
}

impl Checkin {
    /// Parses a check-in message.
    pub fn from_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        let (d, _) = plist_io::read_dict(bytes, limits)?;
        Self::from_dict(d)
    }

    /// Reads a check-in message from its dictionary.
    pub fn from_dict(d: Dictionary) -> Result<Self, Error> {
        let root = KeyPath::ROOT;
        let message_type = match d.get("MessageType") {
            None => return Err(MessageError::NoMessageType.into()),
            Some(v) => <String as crate::typed::FieldValue>::from_value(
                v.clone(),
                &root.key("MessageType"),
            )?,
        };
        let ids = EnrollmentIds::read(&d, &root)?;
        let body = if message_type == "ReturnToService" {
            CheckinBody::ReturnToService(d)
        } else {
            match AnyCheckin::decode(&message_type, d, &root)? {
                Some(typed) => CheckinBody::Known(typed),
                None => return Err(MessageError::UnknownMessageType(message_type).into()),
            }
        };
        Ok(Self {
            message_type,
            ids,
            body,
        })
    }

    /// The message as its dictionary.
    pub fn to_dict(&self) -> Dictionary {
        match &self.body {
            CheckinBody::Known(t) => t.to_dict(),
            CheckinBody::ReturnToService(d) => d.clone(),
        }
    }

    /// Encodes the message.
    pub fn to_bytes(&self, format: Format) -> Vec<u8> {
        plist_io::write(&Value::Dictionary(self.to_dict()), format)
    }
}

/// The `Status` of a command report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// The device is ready for a command and reports no result.
    Idle,
    /// The command succeeded.
    Acknowledged,
    /// The command failed; see the error chain.
    Error,
    /// The command plist was malformed.
    CommandFormatError,
    /// The device cannot run the command now (locked, busy) and wants it
    /// again later.
    NotNow,
}

impl Status {
    /// Apple's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Acknowledged => "Acknowledged",
            Self::Error => "Error",
            Self::CommandFormatError => "CommandFormatError",
            Self::NotNow => "NotNow",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Idle" => Self::Idle,
            "Acknowledged" => Self::Acknowledged,
            "Error" => Self::Error,
            "CommandFormatError" => Self::CommandFormatError,
            "NotNow" => Self::NotNow,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a report's `ErrorChain`.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ErrorChainItem {
    /// `ErrorCode`.
    pub error_code: Option<i64>,
    /// `ErrorDomain`.
    pub error_domain: Option<String>,
    /// `LocalizedDescription`.
    pub localized_description: Option<String>,
    /// `USEnglishDescription`.
    pub us_english_description: Option<String>,
    /// Other keys, kept as they came.
    pub extra: Dictionary,
}

impl ErrorChainItem {
    fn from_value(v: Value, path: &KeyPath<'_>) -> Result<Self, Error> {
        let mut d = <Dictionary as crate::typed::FieldValue>::from_value(v, path)?;
        Ok(Self {
            error_code: take(&mut d, "ErrorCode", path)?,
            error_domain: take(&mut d, "ErrorDomain", path)?,
            localized_description: take(&mut d, "LocalizedDescription", path)?,
            us_english_description: take(&mut d, "USEnglishDescription", path)?,
            extra: d,
        })
    }

    fn to_dict(&self) -> Dictionary {
        let mut d = Dictionary::new();
        put(&mut d, "ErrorCode", &self.error_code);
        put(&mut d, "ErrorDomain", &self.error_domain);
        put(&mut d, "LocalizedDescription", &self.localized_description);
        put(&mut d, "USEnglishDescription", &self.us_english_description);
        for (k, v) in &self.extra {
            d.insert(k.clone(), v.clone());
        }
        d
    }
}

/// A device's report on the command channel (`PUT` to the server URL).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommandReport {
    /// `Status`.
    pub status: Status,
    /// `CommandUUID` (absent only when Idle).
    pub command_uuid: Option<CommandUuid>,
    /// Who sent it.
    pub ids: EnrollmentIds,
    /// `ErrorChain` (Error and CommandFormatError reports).
    pub error_chain: Vec<ErrorChainItem>,
    /// The result: every other key, as the device sent it. Type it with
    /// [`CommandReport::result`] or [`CommandReport::typed_result`].
    pub body: Dictionary,
}

const REPORT_KEYS: &[&str] = &["Status", "CommandUUID", "ErrorChain"];

impl CommandReport {
    /// Parses a report.
    pub fn from_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        let (d, _) = plist_io::read_dict(bytes, limits)?;
        Self::from_dict(d)
    }

    /// Reads a report from its dictionary.
    pub fn from_dict(mut d: Dictionary) -> Result<Self, Error> {
        let root = KeyPath::ROOT;
        let status_text: String = take(&mut d, "Status", &root)?.ok_or(MessageError::NoStatus)?;
        let status = Status::parse(&status_text).ok_or(MessageError::UnknownStatus(status_text))?;
        let ids = EnrollmentIds::read(&d, &root)?;
        for k in ID_KEYS {
            remove_ordered(&mut d, k);
        }
        let command_uuid = match take::<String>(&mut d, "CommandUUID", &root)? {
            Some(u) => Some(CommandUuid::new(u)?),
            None if status == Status::Idle => None,
            None => {
                return Err(MessageError::NoCommandUuid {
                    status: status.as_str(),
                }
                .into());
            }
        };
        let chain_path = root.key("ErrorChain");
        let error_chain = match take::<Vec<Value>>(&mut d, "ErrorChain", &root)? {
            None => Vec::new(),
            Some(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    out.push(ErrorChainItem::from_value(item, &chain_path.index(i))?);
                }
                out
            }
        };
        Ok(Self {
            status,
            command_uuid,
            ids,
            error_chain,
            body: d,
        })
    }

    /// The report as its dictionary.
    pub fn to_dict(&self) -> Dictionary {
        let mut d = Dictionary::new();
        if let Some(u) = &self.command_uuid {
            d.insert("CommandUUID".into(), Value::String(u.as_str().to_owned()));
        }
        let ids = [
            ("UDID", &self.ids.udid),
            ("EnrollmentID", &self.ids.enrollment_id),
            ("UserID", &self.ids.user_id),
            ("EnrollmentUserID", &self.ids.enrollment_user_id),
            ("UserShortName", &self.ids.user_short_name),
        ];
        for (k, v) in ids {
            put(&mut d, k, v);
        }
        if !self.error_chain.is_empty() {
            d.insert(
                "ErrorChain".into(),
                Value::Array(
                    self.error_chain
                        .iter()
                        .map(|e| Value::Dictionary(e.to_dict()))
                        .collect(),
                ),
            );
        }
        d.insert("Status".into(), Value::String(self.status.as_str().into()));
        for (k, v) in &self.body {
            if !REPORT_KEYS.contains(&k.as_str()) {
                d.insert(k.clone(), v.clone());
            }
        }
        d
    }

    /// Encodes the report.
    pub fn to_bytes(&self, format: Format) -> Vec<u8> {
        plist_io::write(&Value::Dictionary(self.to_dict()), format)
    }

    /// The result typed by the command it answers.
    pub fn result<R: Request>(&self) -> Result<R::Response, Error> {
        Ok(R::Response::from_dict(self.body.clone(), &KeyPath::ROOT)?)
    }

    /// The result typed by a request type known only at run time (the queue
    /// stores it with the command); `None` when that command has no response
    /// keys in the schema.
    pub fn typed_result(&self, request_type: &str) -> Result<Option<AnyResponse>, Error> {
        Ok(AnyResponse::decode(
            request_type,
            self.body.clone(),
            &KeyPath::ROOT,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::checkin::TokenUpdate;
    use crate::generated::commands::{DeviceInformationCommand, ProfileListCommand};

    fn plist(body: &str) -> Vec<u8> {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\"><dict>{body}</dict></plist>").into_bytes()
    }

    #[test]
    fn a_report_keeps_the_order_of_the_keys_the_device_sent() {
        // The enrollment keys are taken out of the middle of the report:
        // the remaining result keys keep their order, so re-encoding is
        // stable.
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>Zeta</key><integer>1</integer>
<key>UDID</key><string>U1</string>
<key>Alpha</key><integer>2</integer>
<key>Status</key><string>Acknowledged</string>
<key>Mid</key><integer>3</integer>
<key>CommandUUID</key><string>c1</string>
<key>Last</key><integer>4</integer>
</dict></plist>"#;
        let r = CommandReport::from_bytes(xml, &Limits::DEFAULT).unwrap();
        let keys: Vec<&str> = r.body.keys().map(String::as_str).collect();
        assert_eq!(keys, ["Zeta", "Alpha", "Mid", "Last"]);
        let once = r.to_bytes(Format::Xml);
        let twice = CommandReport::from_bytes(&once, &Limits::DEFAULT)
            .unwrap()
            .to_bytes(Format::Xml);
        assert_eq!(once, twice);
    }

    #[test]
    fn a_token_update_is_typed_and_names_its_device() {
        let msg = plist(
            "<key>MessageType</key><string>TokenUpdate</string>\
             <key>Topic</key><string>com.apple.mgmt.External.1</string>\
             <key>UDID</key><string>00008030-001A2B3C4D5E802E</string>\
             <key>Token</key><data>AAECAw==</data>\
             <key>PushMagic</key><string>4D1C-77</string>\
             <key>FutureKey</key><true/>",
        );
        let c = Checkin::from_bytes(&msg, &Limits::DEFAULT).unwrap();
        assert_eq!(c.ids.device(), "00008030-001A2B3C4D5E802E");
        assert!(!c.ids.is_user_channel());
        let CheckinBody::Known(AnyCheckin::TokenUpdate(TokenUpdate { token, extra, .. })) = &c.body
        else {
            panic!("{c:?}")
        };
        assert_eq!(token.as_deref(), Some(&[0u8, 1, 2, 3][..]));
        assert_eq!(extra.get("FutureKey"), Some(&Value::Boolean(true)));
        let again = Checkin::from_bytes(&c.to_bytes(Format::Binary), &Limits::DEFAULT).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn a_wrong_key_type_is_an_error_naming_the_key() {
        let msg = plist(
            "<key>MessageType</key><string>TokenUpdate</string>\
             <key>UDID</key><string>X</string><key>Token</key><string>not data</string>",
        );
        let err = Checkin::from_bytes(&msg, &Limits::DEFAULT).unwrap_err();
        assert_eq!(
            err.to_string(),
            "decoding: Token: expected data, found string"
        );
    }

    #[test]
    fn unknown_message_types_and_anonymous_messages_are_refused() {
        let err = Checkin::from_bytes(
            &plist("<key>MessageType</key><string>Nope</string><key>UDID</key><string>X</string>"),
            &Limits::DEFAULT,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::Message(MessageError::UnknownMessageType(_))
        ));
        let err = Checkin::from_bytes(
            &plist("<key>MessageType</key><string>CheckOut</string>"),
            &Limits::DEFAULT,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Message(MessageError::NoEnrollment)));
    }

    #[test]
    fn an_error_report_carries_its_chain() {
        let r = CommandReport::from_bytes(
            &plist(
                "<key>CommandUUID</key><string>0001</string>\
                 <key>ErrorChain</key><array><dict>\
                 <key>ErrorCode</key><integer>4001</integer>\
                 <key>ErrorDomain</key><string>MCProfileErrorDomain</string>\
                 <key>LocalizedDescription</key><string>Profile malformed</string>\
                 </dict></array>\
                 <key>Status</key><string>Error</string>\
                 <key>UDID</key><string>X</string>",
            ),
            &Limits::DEFAULT,
        )
        .unwrap();
        assert_eq!(r.status, Status::Error);
        assert_eq!(r.error_chain[0].error_code, Some(4001));
        assert!(r.body.is_empty());
        assert_eq!(CommandReport::from_dict(r.to_dict()).unwrap(), r);
    }

    #[test]
    fn an_idle_report_needs_no_command_uuid_but_others_do() {
        let idle = CommandReport::from_bytes(
            &plist("<key>Status</key><string>Idle</string><key>UDID</key><string>X</string>"),
            &Limits::DEFAULT,
        )
        .unwrap();
        assert_eq!(idle.status, Status::Idle);
        let err = CommandReport::from_bytes(
            &plist("<key>Status</key><string>NotNow</string><key>UDID</key><string>X</string>"),
            &Limits::DEFAULT,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::Message(MessageError::NoCommandUuid { status: "NotNow" })
        ));
    }

    #[test]
    fn a_result_body_is_typed_by_its_command() {
        let r = CommandReport::from_bytes(
            &plist(
                "<key>CommandUUID</key><string>0002</string>\
                 <key>QueryResponses</key><dict>\
                 <key>OSVersion</key><string>18.1</string>\
                 <key>BatteryLevel</key><real>0.5</real>\
                 </dict>\
                 <key>Status</key><string>Acknowledged</string>\
                 <key>UDID</key><string>X</string>",
            ),
            &Limits::DEFAULT,
        )
        .unwrap();
        let info = r.result::<DeviceInformationCommand>().unwrap();
        let q = info.query_responses.unwrap();
        assert_eq!(q.os_version.as_deref(), Some("18.1"));
        assert_eq!(q.battery_level, Some(0.5));
        assert!(matches!(
            r.typed_result("DeviceInformation").unwrap(),
            Some(AnyResponse::DeviceInformation(_))
        ));
        assert!(r.result::<ProfileListCommand>().is_ok());
    }
}

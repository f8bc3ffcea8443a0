//! The SyncML 1.2 DM message model, as Windows sends and accepts it.

use serde::{Serialize, Serializer};

use crate::error::DataError;
use crate::locuri::LocUri;
use crate::status::{AlertCode, StatusCode};

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps the text.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::new(s)
            }
        }

        impl From<u64> for $name {
            fn from(n: u64) -> Self {
                Self::new(n.to_string())
            }
        }
    };
}

opaque_id!(
    /// A command id (`CmdID`, `CmdRef`): opaque text, unique within a
    /// message. Numbers by convention, never by rule.
    CmdId
);
opaque_id!(
    /// A message id (`MsgID`, `MsgRef`), unique within a session.
    MsgId
);
opaque_id!(
    /// A session id (`SessionID`); `0` is legal.
    SessionId
);

/// One SyncML message: `<SyncML xmlns="SYNCML:SYNCML1.2">`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncMl {
    /// `SyncHdr`.
    pub header: SyncHdr,
    /// `SyncBody` commands, in message order.
    pub commands: Vec<Command>,
    /// Whether `<Final/>` closes the body (the last message of a package).
    #[serde(rename = "final")]
    pub final_: bool,
}

/// `SyncHdr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncHdr {
    /// `VerDTD`, `1.2`.
    pub ver_dtd: String,
    /// `VerProto`, `DM/1.2`.
    pub ver_proto: String,
    /// `SessionID`.
    pub session_id: SessionId,
    /// `MsgID`.
    pub msg_id: MsgId,
    /// `Target`: the recipient.
    pub target: Location,
    /// `Source`: the sender.
    pub source: Location,
    /// `RespURI`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resp_uri: Option<String>,
    /// `NoResp`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_resp: bool,
    /// `Cred`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cred: Option<Box<Cred>>,
    /// `Meta` (Windows ignores it on the way in; it sends `MaxMsgSize`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Box<Meta>>,
}

impl SyncHdr {
    /// A SyncML 1.2 / DM 1.2 header.
    pub fn new(
        session_id: impl Into<SessionId>,
        msg_id: impl Into<MsgId>,
        target: impl Into<LocUri>,
        source: impl Into<LocUri>,
    ) -> Self {
        Self {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            session_id: session_id.into(),
            msg_id: msg_id.into(),
            target: Location::new(target),
            source: Location::new(source),
            resp_uri: None,
            no_resp: false,
            cred: None,
            meta: None,
        }
    }
}

impl From<String> for SessionId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<String> for MsgId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<String> for CmdId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// `Target` or `Source`: a `LocURI` and an optional `LocName`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// `LocURI`.
    pub loc_uri: LocUri,
    /// `LocName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loc_name: Option<String>,
}

impl Location {
    /// A location with only a `LocURI`.
    pub fn new(uri: impl Into<LocUri>) -> Self {
        Self {
            loc_uri: uri.into(),
            loc_name: None,
        }
    }
}

impl From<&str> for Location {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// `Cred`: credentials, with their `Meta` (type and format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cred {
    /// `Meta`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Box<Meta>>,
    /// `Data`.
    pub data: Data,
}

/// `Meta`, whose children live in the `syncml:metinf` namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Meta {
    /// `Format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// `Type` (a MIME type, or `com.microsoft/MDM/LoginStatus` and the like).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// `Mark`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<String>,
    /// `Size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// `Version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `NextNonce`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_nonce: Option<String>,
    /// `MaxMsgSize`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_msg_size: Option<String>,
    /// `MaxObjSize`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_obj_size: Option<String>,
    /// Any other `metinf` element with text content (`EMI`, ...), kept in
    /// order after the known ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<(String, String)>,
}

impl Meta {
    /// A `Meta` with a `Format`.
    pub fn format(format: Format) -> Self {
        Self {
            format: Some(format),
            ..Self::default()
        }
    }

    /// Sets `Type`.
    pub fn with_type(mut self, type_: impl Into<String>) -> Self {
        self.type_ = Some(type_.into());
        self
    }

    /// Sets `Format`.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// A `Meta` with only a `Type`.
    pub fn type_only(type_: impl Into<String>) -> Self {
        Self {
            type_: Some(type_.into()),
            ..Self::default()
        }
    }

    /// A `Meta` with only a `MaxMsgSize`.
    pub fn max_msg_size(size: u64) -> Self {
        Self {
            max_msg_size: Some(size.to_string()),
            ..Self::default()
        }
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `Format`: how `<Data>` is to be read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// `chr`: text.
    Chr,
    /// `int`: a decimal integer.
    Int,
    /// `bool`: `true` or `false`.
    Bool,
    /// `b64`: base64.
    B64,
    /// `bin`: binary.
    Bin,
    /// `xml`: XML, escaped or in CDATA.
    Xml,
    /// `null`: no value.
    Null,
    /// `node`: an interior node.
    Node,
    /// `float`.
    Float,
    /// `date`.
    Date,
    /// `time`.
    Time,
    /// Any other text, kept as sent.
    Other(String),
}

impl Format {
    /// Reads a format name; unknown names are kept in [`Format::Other`].
    pub fn parse(s: &str) -> Self {
        match s {
            "chr" => Self::Chr,
            "int" => Self::Int,
            "bool" => Self::Bool,
            "b64" => Self::B64,
            "bin" => Self::Bin,
            "xml" => Self::Xml,
            "null" => Self::Null,
            "node" => Self::Node,
            "float" => Self::Float,
            "date" => Self::Date,
            "time" => Self::Time,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Chr => "chr",
            Self::Int => "int",
            Self::Bool => "bool",
            Self::B64 => "b64",
            Self::Bin => "bin",
            Self::Xml => "xml",
            Self::Null => "null",
            Self::Node => "node",
            Self::Float => "float",
            Self::Date => "date",
            Self::Time => "time",
            Self::Other(s) => s,
        }
    }
}

impl Serialize for Format {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How a `<Data>` value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DataForm {
    /// Character data, escaped (`&lt;` for `<`).
    Text,
    /// One or more CDATA sections (`<![CDATA[...]]>`).
    CData,
    /// Unescaped child elements, kept as their exact markup.
    Xml,
}

/// The content of `<Data>`.
///
/// A value read in one form is written back in the same form, so escaped
/// XML stays escaped, CDATA stays CDATA and the value is unchanged. The
/// writer always escapes text (`&`, `<`, `>` and carriage returns), which is
/// what a server forgets when it leaves every profile pending.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Data {
    value: String,
    form: DataForm,
}

impl Data {
    /// Text, escaped on writing.
    pub fn text(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            form: DataForm::Text,
        }
    }

    /// Text written as CDATA (split where it contains `]]>`).
    pub fn cdata(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            form: DataForm::CData,
        }
    }

    /// Unescaped XML child elements. The fragment must be well-formed.
    pub fn xml(fragment: impl Into<String>) -> Result<Self, DataError> {
        let value = fragment.into();
        let elements = crate::xml::check_fragment(&value).map_err(DataError::NotWellFormed)?;
        if elements == 0 {
            return Err(DataError::NoElement);
        }
        Ok(Self {
            value,
            form: DataForm::Xml,
        })
    }

    pub(crate) fn raw(value: String, form: DataForm) -> Self {
        Self { value, form }
    }

    /// The value: the unescaped text, or for [`DataForm::Xml`] the markup.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The form it is written in.
    pub fn form(&self) -> DataForm {
        self.form
    }

    /// Consumes the data into its value.
    pub fn into_string(self) -> String {
        self.value
    }
}

impl From<&str> for Data {
    fn from(s: &str) -> Self {
        Self::text(s)
    }
}

impl From<String> for Data {
    fn from(s: String) -> Self {
        Self::text(s)
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.form {
            DataForm::Text => s.serialize_str(&self.value),
            DataForm::CData => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("cdata", &self.value)?;
                m.end()
            }
            DataForm::Xml => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("xml", &self.value)?;
                m.end()
            }
        }
    }
}

/// `Item`: a node address and its value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `Target`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Location>,
    /// `Source`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Location>,
    /// `Meta`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Box<Meta>>,
    /// `Data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Data>,
    /// `MoreData`: the value continues in the next message.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more_data: bool,
}

impl Item {
    /// An item addressing `target`.
    pub fn target(uri: impl Into<LocUri>) -> Self {
        Self {
            target: Some(Location::new(uri)),
            ..Self::default()
        }
    }

    /// An item from `source` (what a device reports).
    pub fn source(uri: impl Into<LocUri>) -> Self {
        Self {
            source: Some(Location::new(uri)),
            ..Self::default()
        }
    }

    /// Sets `Meta`.
    pub fn with_meta(mut self, meta: Meta) -> Self {
        self.meta = Some(Box::new(meta));
        self
    }

    /// Sets `Data`.
    pub fn with_data(mut self, data: impl Into<Data>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// The target URI, or the source URI when there is no target.
    pub fn uri(&self) -> Option<&LocUri> {
        self.target
            .as_ref()
            .or(self.source.as_ref())
            .map(|l| &l.loc_uri)
    }
}

/// A command carrying items: `Add`, `Replace`, `Delete`, `Get`, `Copy`,
/// `Exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ItemCommand {
    /// `CmdID` (`None` when the sender left it out: answered 400).
    pub cmd_id: Option<CmdId>,
    /// `NoResp`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_resp: bool,
    /// `Cred`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cred: Option<Box<Cred>>,
    /// `Meta`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Box<Meta>>,
    /// `Correlator` (Exec).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlator: Option<String>,
    /// `Item`s.
    pub items: Vec<Item>,
}

impl ItemCommand {
    /// A command with one item.
    pub fn new(cmd_id: impl Into<CmdId>, item: Item) -> Self {
        Self {
            cmd_id: Some(cmd_id.into()),
            items: vec![item],
            ..Self::default()
        }
    }
}

/// `Atomic` or `Sequence`: commands run all-or-nothing, or in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Container {
    /// `CmdID`.
    pub cmd_id: Option<CmdId>,
    /// `NoResp`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_resp: bool,
    /// `Meta`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Box<Meta>>,
    /// The commands inside, in order.
    pub commands: Vec<Command>,
}

/// `Alert`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// `CmdID`.
    pub cmd_id: Option<CmdId>,
    /// `NoResp`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_resp: bool,
    /// `Cred`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cred: Option<Box<Cred>>,
    /// `Correlator`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlator: Option<String>,
    /// `Data`: the alert code.
    pub code: AlertCode,
    /// `Item`s (1224 and 1226 carry `Meta` `Type` and `Data`).
    pub items: Vec<Item>,
}

impl Alert {
    /// An alert without items.
    pub fn new(cmd_id: impl Into<CmdId>, code: AlertCode) -> Self {
        Self {
            cmd_id: Some(cmd_id.into()),
            no_resp: false,
            cred: None,
            correlator: None,
            code,
            items: Vec::new(),
        }
    }
}

/// `Status`: the outcome of one command (or of the header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// `CmdID`.
    pub cmd_id: Option<CmdId>,
    /// `MsgRef`: the message of the command answered.
    pub msg_ref: MsgId,
    /// `CmdRef`: the command answered (`0` for the header; `None` when that
    /// command had no `CmdID`, written as an empty `<CmdRef/>`).
    pub cmd_ref: Option<CmdId>,
    /// `Cmd`: the answered command's element name (`SyncHdr`, `Add`, ...).
    /// Serialised as `answers`: in a message's command list every element
    /// is labelled by its own name in `element` (`"element": "Status"`),
    /// and the answered command's name is kept out of any key a reader
    /// could take for that label (it once shared `cmd` with it, so a
    /// Status answering an Alert read as an Alert).
    #[serde(rename = "answers")]
    pub cmd: String,
    /// `TargetRef`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<String>,
    /// `SourceRef`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_refs: Vec<String>,
    /// `Cred`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cred: Option<Box<Cred>>,
    /// `Chal`: an authentication challenge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chal: Option<Box<Meta>>,
    /// `Data`: the status code.
    pub code: StatusCode,
    /// `Item`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
}

impl Status {
    /// A status for a command.
    pub fn new(
        cmd_id: impl Into<CmdId>,
        msg_ref: MsgId,
        cmd_ref: Option<CmdId>,
        cmd: impl Into<String>,
        code: StatusCode,
    ) -> Self {
        Self {
            cmd_id: Some(cmd_id.into()),
            msg_ref,
            cmd_ref,
            cmd: cmd.into(),
            target_refs: Vec::new(),
            source_refs: Vec::new(),
            cred: None,
            chal: None,
            code,
            items: Vec::new(),
        }
    }
}

/// `Results`: the values a `Get` asked for (serialised with
/// `"element": "Results"`; the `Get` it answers is at `msg_ref`/`cmd_ref`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Results {
    /// `CmdID`.
    pub cmd_id: Option<CmdId>,
    /// `MsgRef`.
    pub msg_ref: Option<MsgId>,
    /// `CmdRef`: the `Get` answered.
    pub cmd_ref: Option<CmdId>,
    /// `Meta`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Box<Meta>>,
    /// `TargetRef`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<String>,
    /// `SourceRef`s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_refs: Vec<String>,
    /// `Item`s: one per node read.
    pub items: Vec<Item>,
}

/// One command of a `SyncBody` (or of an `Atomic` / `Sequence`).
///
/// Serialised (for `mdmkit inspect`) as one object labelled by its SyncML
/// element name in `element` (`{"element": "Replace", "cmd_id": ..,
/// "items": [..]}`, `{"element": "Status", "msg_ref": .., "cmd_ref": ..,
/// "answers": "Alert", "code": 200}`), its other fields named after
/// SyncML's child elements in snake case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "element", rename_all = "PascalCase")]
#[non_exhaustive]
pub enum Command {
    /// `Add`: create nodes.
    Add(ItemCommand),
    /// `Replace`: set node values (Windows adds implicitly).
    Replace(ItemCommand),
    /// `Delete`: remove nodes and their subtrees.
    Delete(ItemCommand),
    /// `Get`: read nodes.
    Get(ItemCommand),
    /// `Copy`.
    Copy(ItemCommand),
    /// `Exec`: run a node.
    Exec(ItemCommand),
    /// `Alert`.
    Alert(Alert),
    /// `Atomic`: all or nothing.
    Atomic(Container),
    /// `Sequence`: in order.
    Sequence(Container),
    /// `Status`.
    Status(Status),
    /// `Results`.
    Results(Results),
}

impl Command {
    /// The element name (`Add`, `Status`, ...), as `Status/Cmd` names it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Add(_) => "Add",
            Self::Replace(_) => "Replace",
            Self::Delete(_) => "Delete",
            Self::Get(_) => "Get",
            Self::Copy(_) => "Copy",
            Self::Exec(_) => "Exec",
            Self::Alert(_) => "Alert",
            Self::Atomic(_) => "Atomic",
            Self::Sequence(_) => "Sequence",
            Self::Status(_) => "Status",
            Self::Results(_) => "Results",
        }
    }

    /// The command's `CmdID`.
    pub fn cmd_id(&self) -> Option<&CmdId> {
        match self {
            Self::Add(c)
            | Self::Replace(c)
            | Self::Delete(c)
            | Self::Get(c)
            | Self::Copy(c)
            | Self::Exec(c) => c.cmd_id.as_ref(),
            Self::Alert(a) => a.cmd_id.as_ref(),
            Self::Atomic(c) | Self::Sequence(c) => c.cmd_id.as_ref(),
            Self::Status(s) => s.cmd_id.as_ref(),
            Self::Results(r) => r.cmd_id.as_ref(),
        }
    }

    /// Sets the command's `CmdID`.
    pub fn set_cmd_id(&mut self, id: CmdId) {
        let slot = match self {
            Self::Add(c)
            | Self::Replace(c)
            | Self::Delete(c)
            | Self::Get(c)
            | Self::Copy(c)
            | Self::Exec(c) => &mut c.cmd_id,
            Self::Alert(a) => &mut a.cmd_id,
            Self::Atomic(c) | Self::Sequence(c) => &mut c.cmd_id,
            Self::Status(s) => &mut s.cmd_id,
            Self::Results(r) => &mut r.cmd_id,
        };
        *slot = Some(id);
    }

    /// Whether the sender asked for no Status.
    pub fn no_resp(&self) -> bool {
        match self {
            Self::Add(c)
            | Self::Replace(c)
            | Self::Delete(c)
            | Self::Get(c)
            | Self::Copy(c)
            | Self::Exec(c) => c.no_resp,
            Self::Alert(a) => a.no_resp,
            Self::Atomic(c) | Self::Sequence(c) => c.no_resp,
            Self::Status(_) | Self::Results(_) => false,
        }
    }

    /// The items of an item command or alert.
    pub fn items(&self) -> &[Item] {
        match self {
            Self::Add(c)
            | Self::Replace(c)
            | Self::Delete(c)
            | Self::Get(c)
            | Self::Copy(c)
            | Self::Exec(c) => &c.items,
            Self::Alert(a) => &a.items,
            Self::Status(s) => &s.items,
            Self::Results(r) => &r.items,
            Self::Atomic(_) | Self::Sequence(_) => &[],
        }
    }

    /// The commands inside an `Atomic` or `Sequence`.
    pub fn children(&self) -> &[Command] {
        match self {
            Self::Atomic(c) | Self::Sequence(c) => &c.commands,
            _ => &[],
        }
    }
}

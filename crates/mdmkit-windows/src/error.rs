//! The crate's error tree: one [`Error`] with a family per concern.

use std::fmt;

/// Any failure of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An XML message (SyncML or enrollment SOAP) could not be read.
    #[error("cannot read message")]
    Read(#[from] ReadError),
    /// A `LocURI` breaks the node rules.
    #[error("invalid loc uri")]
    LocUri(#[from] LocUriError),
    /// A `<Data>` value could not be built.
    #[error("invalid data")]
    Data(#[from] DataError),
    /// A message does not fit the session it arrived in.
    #[error("session")]
    Session(#[from] SessionError),
    /// An enrollment message is wrong.
    #[error("enrollment")]
    Enrollment(#[from] EnrollmentError),
}

/// A message that could not be read, and the byte offset where reading
/// stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct ReadError {
    /// Byte offset into the input.
    pub offset: u64,
    /// What was wrong.
    #[source]
    pub kind: ReadErrorKind,
}

impl ReadError {
    pub(crate) fn new(offset: u64, kind: ReadErrorKind) -> Self {
        Self { offset, kind }
    }
}

/// What was wrong with an XML message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadErrorKind {
    /// The input is not UTF-8.
    #[error("the input is not utf-8")]
    NotUtf8,
    /// The XML is not well-formed.
    #[error("malformed xml")]
    Syntax(#[source] XmlSyntaxError),
    /// A document type declaration: DTDs and entity definitions are refused.
    #[error("a document type declaration is not allowed")]
    DocType,
    /// An entity reference other than the five predefined ones.
    #[error("unknown entity &{name};")]
    UnknownEntity {
        /// The entity name.
        name: String,
    },
    /// A character reference that is not a legal character.
    #[error("invalid character reference &{reference};")]
    BadCharRef {
        /// The reference text.
        reference: String,
    },
    /// The input is larger than the limit.
    #[error("the message is {len} bytes, at most {max} are allowed")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Elements nest deeper than the limit.
    #[error("elements nest deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More commands than the limit.
    #[error("more than {max} commands")]
    TooManyCommands {
        /// The limit.
        max: usize,
    },
    /// More items in one command than the limit.
    #[error("more than {max} items in one command")]
    TooManyItems {
        /// The limit.
        max: usize,
    },
    /// The root element is not the expected one.
    #[error("the root element is <{found}>, expected <{expected}>")]
    UnexpectedRoot {
        /// The element found.
        found: String,
        /// The element expected.
        expected: &'static str,
    },
    /// An element that does not belong where it is.
    #[error("unexpected element <{name}> in <{parent}>")]
    UnexpectedElement {
        /// The element found.
        name: String,
        /// Its parent.
        parent: String,
    },
    /// A required element is missing.
    #[error("<{parent}> has no <{name}>")]
    MissingElement {
        /// The missing element.
        name: &'static str,
        /// Where it was expected.
        parent: String,
    },
    /// An element that may occur once occurs twice.
    #[error("<{name}> occurs twice in <{parent}>")]
    DuplicateElement {
        /// The element.
        name: String,
        /// Its parent.
        parent: String,
    },
    /// Text where only elements belong.
    #[error("unexpected text in <{parent}>")]
    UnexpectedText {
        /// The element holding the text.
        parent: String,
    },
    /// A value that should be a number is not.
    #[error("<{element}> holds {value:?}, expected a number")]
    BadNumber {
        /// The element.
        element: &'static str,
        /// The text found (cut to 64 bytes).
        value: String,
    },
    /// The input ended inside an element.
    #[error("the input ends before the message does")]
    Truncated,
    /// Something other than whitespace or comments follows the root.
    #[error("content after the root element")]
    TrailingContent,
}

/// The XML parser's own description of a syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlSyntaxError(pub(crate) String);

impl fmt::Display for XmlSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for XmlSyntaxError {}

/// A `LocURI` that breaks the rules for node addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocUriError {
    /// Empty.
    #[error("the loc uri is empty")]
    Empty,
    /// Too long.
    #[error("the loc uri is {len} bytes, at most {max} are allowed")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Starts with `/` (Windows refuses these).
    #[error("the loc uri {uri:?} starts with '/'")]
    LeadingSlash {
        /// The URI.
        uri: String,
    },
    /// An empty, `*` or `..` segment.
    #[error("the loc uri {uri:?} has the segment {segment:?} at byte {offset}")]
    BadSegment {
        /// The URI.
        uri: String,
        /// The segment.
        segment: String,
        /// Its byte offset.
        offset: usize,
    },
}

/// A `<Data>` value that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Embedded XML that is not a well-formed fragment.
    #[error("embedded xml is not a well-formed fragment")]
    NotWellFormed(#[source] ReadError),
    /// Embedded XML without any element (write it as text instead).
    #[error("embedded xml holds no element")]
    NoElement,
}

/// A message that does not belong to the session it arrived in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The SessionID differs from the session's.
    #[error("session id {found:?} does not match the session's {expected:?}")]
    WrongSession {
        /// The session's id.
        expected: String,
        /// The id in the message.
        found: String,
    },
    /// A protocol version other than SyncML 1.2 / DM 1.2.
    #[error("unsupported protocol: VerDTD {ver_dtd:?}, VerProto {ver_proto:?}")]
    UnsupportedProtocol {
        /// VerDTD found.
        ver_dtd: String,
        /// VerProto found.
        ver_proto: String,
    },
    /// A MsgID seen before in this session.
    #[error("message id {msg_id:?} was already received in this session")]
    RepeatedMessage {
        /// The MsgID.
        msg_id: String,
    },
    /// The session is over.
    #[error("the session has ended")]
    Ended,
}

/// Why a large object a device sent in chunks (`MoreData`) was not taken:
/// the device was answered with the status in
/// [`LargeObjectError::status`], and the caller is told through
/// [`crate::session::Reply::object_failures`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LargeObjectError {
    /// The chunks add up to another size than the first one declared.
    #[error("the chunks hold {received} bytes or more, the first declared {declared}")]
    SizeMismatch {
        /// The `Size` of the first chunk.
        declared: usize,
        /// The bytes received (when more than declared: as soon as they
        /// were).
        received: usize,
    },
    /// The object is larger than the session accepts.
    #[error("the object is {size} bytes or more, at most {max} are accepted")]
    TooLarge {
        /// Its declared size, or the bytes received so far.
        size: usize,
        /// The limit ([`crate::session::SessionConfig::max_object_size`]).
        max: usize,
    },
    /// Another command carrying data arrived before the object's last
    /// chunk.
    #[error("interrupted by {by:?} before its last chunk")]
    Interrupted {
        /// What interrupted it: the command name and its item's `LocURI`.
        by: String,
    },
    /// The session ended, or a new one began, before the last chunk.
    #[error("the session ended before the object's last chunk")]
    SessionEnded,
    /// An item with `MoreData` that is not its command's last.
    #[error("MoreData on an item that is not its command's last")]
    MoreDataNotLast,
    /// The object's stored state does not read back (a damaged store).
    #[error("the stored chunks cannot be read back")]
    Corrupt,
}

impl LargeObjectError {
    /// The status answered to the device for the chunk that failed.
    pub fn status(&self) -> crate::status::StatusCode {
        use crate::status::StatusCode;
        match self {
            Self::SizeMismatch { .. } => StatusCode::SIZE_MISMATCH,
            Self::TooLarge { .. } => StatusCode::REQUEST_ENTITY_TOO_LARGE,
            Self::Interrupted { .. } | Self::SessionEnded => StatusCode::INCOMPLETE_COMMAND,
            Self::MoreDataNotLast => StatusCode::BAD_REQUEST,
            Self::Corrupt => StatusCode::COMMAND_FAILED,
        }
    }
}

/// An enrollment message that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollmentError {
    /// The XML could not be read.
    #[error("cannot read the soap envelope")]
    Read(#[from] ReadError),
    /// The body holds another message than expected.
    #[error("the soap body holds <{found}>, expected <{expected}>")]
    WrongMessage {
        /// The body's first element.
        found: String,
        /// The expected element.
        expected: &'static str,
    },
    /// A required element or attribute is missing.
    #[error("missing {path}")]
    Missing {
        /// Path of the missing element, `Body/RequestSecurityToken/...`.
        path: String,
    },
    /// A value is not valid base64.
    #[error("{path} is not valid base64")]
    BadBase64 {
        /// Where.
        path: String,
    },
    /// A value is out of its domain.
    #[error("{path} holds {value:?}: {reason}")]
    BadValue {
        /// Where.
        path: String,
        /// The value (cut to 64 bytes).
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The policy and enrollment service URLs must share a host name.
    #[error(
        "the policy service host {policy:?} differs from the enrollment service host {enrollment:?}"
    )]
    HostMismatch {
        /// Host of EnrollmentPolicyServiceUrl.
        policy: String,
        /// Host of EnrollmentServiceUrl.
        enrollment: String,
    },
    /// A provisioning document may hold at most one root and one
    /// intermediate certificate.
    #[error("{what}")]
    Provisioning {
        /// What is wrong.
        what: &'static str,
    },
    /// The certificate request in `BinarySecurityToken` was refused
    /// (signature, key policy, encoding).
    #[error("the enrollment certificate request is refused")]
    Csr(#[from] mdmkit_identity::CsrError),
    /// The tenant CA could not issue the device certificate.
    #[error("the device certificate could not be issued")]
    Issue(#[from] mdmkit_identity::CaError),
}

pub(crate) fn cut(s: &str) -> String {
    if s.len() <= 64 {
        return s.to_owned();
    }
    let mut end = 64;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

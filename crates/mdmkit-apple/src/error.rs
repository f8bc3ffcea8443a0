//! The crate's error tree: one [`Error`] with a nested enum per family.

/// Any failure of mdmkit-apple.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not an acceptable property list.
    #[error("property list: {0}")]
    Plist(#[from] PlistError),
    /// A value has the wrong type or is malformed.
    #[error("decoding: {0}")]
    Decode(#[from] DecodeError),
    /// A device message is structurally wrong.
    #[error("device message: {0}")]
    Message(#[from] MessageError),
    /// A profile cannot be built or parsed.
    #[error("profile: {0}")]
    Profile(#[from] ProfileError),
    /// Signing or verifying CMS failed.
    #[error("cms: {0}")]
    Cms(#[from] CmsError),
    /// A push request cannot be built.
    #[error("push: {0}")]
    Push(#[from] crate::apns::PushError),
    /// Declarative management: JSON documents, endpoints, device support.
    #[error("declarative management: {0}")]
    Declarative(#[from] DeclarativeError),
}

/// What went wrong with declarative management (DDM): a JSON document a
/// device sent, an endpoint it asked for, or a device that cannot take
/// declarations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeclarativeError {
    /// The input is larger than the limit.
    #[error("{len} bytes is larger than the {max}-byte limit")]
    TooLarge {
        /// The input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Arrays and objects nest deeper than the limit.
    #[error("{path}: nesting is deeper than {max} levels")]
    TooDeep {
        /// Where the limit was crossed.
        path: String,
        /// The limit.
        max: usize,
    },
    /// The document has more values than the limit.
    #[error("more than {max} values")]
    TooManyValues {
        /// The limit.
        max: usize,
    },
    /// The bytes are not JSON.
    #[error("line {line}, column {column}: {message}")]
    Json {
        /// The line (1-based) where the parser stopped.
        line: usize,
        /// The column (1-based) where the parser stopped.
        column: usize,
        /// What the parser found.
        message: String,
    },
    /// The root of a document is not an object.
    #[error("the root is {found}, not an object")]
    RootNotAnObject {
        /// The root's JSON type.
        found: &'static str,
    },
    /// A `null`, which no declarative document uses.
    #[error("{path}: null is not allowed")]
    Null {
        /// Where the null is.
        path: String,
    },
    /// A number that is neither a 64-bit integer nor a finite real.
    #[error("{path}: number {number} is out of range")]
    BadNumber {
        /// Where the number is.
        path: String,
        /// Its text.
        number: String,
    },
    /// The check-in `Endpoint` is not one of the protocol's.
    #[error("unknown endpoint {0:?}")]
    UnknownEndpoint(String),
    /// Two declarations share an identifier.
    #[error("two declarations have the identifier {0:?}")]
    DuplicateIdentifier(String),
    /// A declaration `Type` is not `com.apple.<kind>.…`.
    #[error("declaration type {0:?} is not an activation, configuration, asset or management type")]
    UnknownKind(String),
    /// The device cannot take declarations at all.
    #[error("the device cannot use declarative management: {reason}")]
    DeviceNotSupported {
        /// Why (`needs iOS 15.0`, `not available on tvOS`).
        reason: String,
    },
}

/// Why bytes are not an acceptable property list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlistError {
    /// The input is larger than the limit.
    #[error("{len} bytes is larger than the {max}-byte limit")]
    TooLarge {
        /// The input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Arrays and dictionaries nest deeper than the limit.
    #[error("nesting is deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// The document has more values than the limit.
    #[error("more than {max} values")]
    TooManyValues {
        /// The limit.
        max: usize,
    },
    /// The input is neither an XML nor a binary property list.
    #[error("not an XML or binary property list")]
    NotAPlist,
    /// The root is not a dictionary.
    #[error("the root is {found}, not a dictionary")]
    RootNotADictionary {
        /// The root's type.
        found: &'static str,
    },
    /// A dictionary has the same key twice.
    #[error("the key {key:?} appears twice in one dictionary")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// The XML declares entities (the way to billion-laughs and external
    /// fetches): refused outright.
    #[error("entity declaration at byte {offset}: entities are not allowed")]
    EntityDeclaration {
        /// Where the declaration starts.
        offset: usize,
    },
    /// The XML refers to an entity other than the five predefined ones.
    #[error("entity reference &{name}; at byte {offset} is not allowed")]
    UnknownEntity {
        /// The entity name.
        name: String,
        /// Where the reference starts.
        offset: usize,
    },
    /// The XML has a CDATA section, which plist readers handle
    /// inconsistently; refused rather than read differently.
    #[error("CDATA section at byte {offset} is not supported")]
    Cdata {
        /// Where the section starts.
        offset: usize,
    },
    /// The property list is malformed (the message says what and where).
    #[error("{message}")]
    Syntax {
        /// What is wrong, with the byte offset when the parser knows it.
        message: String,
    },
}

/// A value that does not fit its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The value has another plist type than the schema says.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Where the value is.
        path: String,
        /// The type the schema gives.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A key needed to decode the document is missing.
    #[error("{path}: missing")]
    Missing {
        /// Where the key should be.
        path: String,
    },
    /// The value is malformed.
    #[error("{path}: {reason}")]
    Invalid {
        /// Where the value is.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// A device message that is structurally wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The check-in message has no `MessageType`.
    #[error("MessageType is missing")]
    NoMessageType,
    /// The `MessageType` is not one mdmkit knows.
    #[error("unknown MessageType {0:?}")]
    UnknownMessageType(String),
    /// A command report has no `Status`.
    #[error("Status is missing")]
    NoStatus,
    /// The `Status` is not one of Apple's values.
    #[error("unknown Status {0:?}")]
    UnknownStatus(String),
    /// A report other than Idle has no `CommandUUID`.
    #[error("CommandUUID is missing from a {status} report")]
    NoCommandUuid {
        /// The report's status.
        status: &'static str,
    },
    /// A CommandUUID is empty or too long.
    #[error("CommandUUID must be 1 to 128 bytes")]
    BadCommandUuid,
    /// The message names neither a UDID nor an EnrollmentID.
    #[error("neither UDID nor EnrollmentID is present")]
    NoEnrollment,
    /// A command plist has no `Command` dictionary or no `RequestType`.
    #[error("{0} is missing")]
    NotACommand(&'static str),
    /// The request type is not in the schema.
    #[error("unknown RequestType {0:?}")]
    UnknownRequestType(String),
}

/// A profile that cannot be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// A top-level key is missing.
    #[error("{0} is missing")]
    Missing(String),
    /// `PayloadType` of the profile is not `Configuration`.
    #[error("PayloadType is {0:?}, not \"Configuration\"")]
    NotAConfiguration(String),
    /// An identifier part is empty or has characters outside the reverse-DNS
    /// alphabet.
    #[error("identifier {0:?} is not reverse-DNS (letters, digits, '-', '_' and '.')")]
    BadIdentifier(String),
    /// Two payloads have the same identifier.
    #[error("two payloads have the identifier {0:?}")]
    DuplicatePayload(String),
}

/// Signing or verifying CMS failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmsError {
    /// The PEM or DER input (certificate, key or signature) is malformed.
    #[error("{what} is malformed")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The key type or algorithm is not supported.
    #[error("unsupported {0}")]
    Unsupported(String),
    /// The signed data has no signer, or a signer whose certificate is absent.
    #[error("no signer certificate in the signed data")]
    NoSigner,
    /// The content digest does not match the signed digest.
    #[error("the content does not match the signed message digest")]
    DigestMismatch,
    /// The signature does not verify with the signer certificate's key.
    #[error("the signature does not verify")]
    BadSignature,
    /// The signed data carries no content (and none was supplied).
    #[error("the signed data has no content")]
    NoContent,
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// The Mdm-Signature header is not base64.
    #[error("the signature header is not base64")]
    NotBase64,
}

impl CmsError {
    pub(crate) fn malformed(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Malformed {
            what,
            source: Box::new(source),
        }
    }
}

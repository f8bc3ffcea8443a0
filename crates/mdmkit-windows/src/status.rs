//! OMA-DM status codes and alert codes, typed with their meanings.
//!
//! A status code travels as decimal text in `<Status><Data>`; an alert code
//! in `<Alert><Data>`. Both are kept as numbers wrapped in newtypes so that a
//! code the table does not know (a vendor code, a future code) still
//! round-trips, while the known ones carry their meaning and class.

use std::fmt;

use serde::Serialize;

/// An OMA-DM / SyncML response status code (`<Status><Data>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct StatusCode(u16);

/// The class of a status code, from its hundreds digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatusClass {
    /// 1xx: informational (in progress).
    Informational,
    /// 2xx: the command succeeded (or was accepted, cancelled by choice,
    /// rolled back as asked).
    Success,
    /// 3xx: redirection.
    Redirection,
    /// 4xx: the originator's error (bad request, not found, not allowed...).
    ClientError,
    /// 5xx: the recipient failed (command failed, Atomic failed...).
    ServerError,
    /// Anything else.
    Other,
}

macro_rules! status_codes {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        impl StatusCode {
            $(
                #[doc = concat!("`", stringify!($code), "`: ", $text, ".")]
                pub const $name: StatusCode = StatusCode($code);
            )*

            /// The meaning of a known code, as the SyncML representation
            /// protocol names it; `None` for a code outside the table.
            pub fn meaning(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

status_codes! {
    IN_PROGRESS = 101, "in progress";
    OK = 200, "ok";
    ITEM_ADDED = 201, "item added";
    ACCEPTED = 202, "accepted for processing";
    NON_AUTHORITATIVE = 203, "non-authoritative response";
    NO_CONTENT = 204, "no content";
    RESET_CONTENT = 205, "reset content";
    PARTIAL_CONTENT = 206, "partial content";
    CONFLICT_MERGED = 207, "conflict resolved with merge";
    CONFLICT_CLIENT_WON = 208, "conflict resolved with client's command winning";
    CONFLICT_DUPLICATE = 209, "conflict resolved with duplicate";
    DELETE_WITHOUT_ARCHIVE = 210, "delete without archive";
    ITEM_NOT_DELETED = 211, "item not deleted";
    AUTHENTICATION_ACCEPTED = 212, "authentication accepted";
    CHUNK_ACCEPTED = 213, "chunked item accepted and buffered";
    OPERATION_CANCELLED = 214, "operation cancelled";
    NOT_EXECUTED = 215, "not executed";
    ATOMIC_ROLLBACK_OK = 216, "atomic roll back ok";
    MULTIPLE_CHOICES = 300, "multiple choices";
    MOVED_PERMANENTLY = 301, "moved permanently";
    FOUND = 302, "found";
    SEE_OTHER = 303, "see other uri";
    NOT_MODIFIED = 304, "not modified";
    USE_PROXY = 305, "use proxy";
    BAD_REQUEST = 400, "bad request";
    INVALID_CREDENTIALS = 401, "invalid credentials";
    PAYMENT_REQUIRED = 402, "payment required";
    FORBIDDEN = 403, "forbidden";
    NOT_FOUND = 404, "not found";
    COMMAND_NOT_ALLOWED = 405, "command not allowed";
    OPTIONAL_FEATURE_NOT_SUPPORTED = 406, "optional feature not supported";
    MISSING_CREDENTIALS = 407, "missing credentials";
    REQUEST_TIMEOUT = 408, "request timeout";
    CONFLICT = 409, "conflict";
    GONE = 410, "gone";
    SIZE_REQUIRED = 411, "size required";
    INCOMPLETE_COMMAND = 412, "incomplete command";
    REQUEST_ENTITY_TOO_LARGE = 413, "request entity too large";
    URI_TOO_LONG = 414, "uri too long";
    UNSUPPORTED_MEDIA_TYPE = 415, "unsupported media type or format";
    REQUESTED_SIZE_TOO_BIG = 416, "requested size too big";
    RETRY_LATER = 417, "retry later";
    ALREADY_EXISTS = 418, "already exists";
    CONFLICT_SERVER_WON = 419, "conflict resolved with server data";
    DEVICE_FULL = 420, "device full";
    UNKNOWN_SEARCH_GRAMMAR = 421, "unknown search grammar";
    BAD_CGI_SCRIPT = 422, "bad cgi script";
    SOFT_DELETE_CONFLICT = 423, "soft-delete conflict";
    SIZE_MISMATCH = 424, "size mismatch";
    PERMISSION_DENIED = 425, "permission denied";
    COMMAND_FAILED = 500, "command failed";
    NOT_IMPLEMENTED = 501, "command not implemented";
    BAD_GATEWAY = 502, "bad gateway";
    SERVICE_UNAVAILABLE = 503, "service unavailable";
    GATEWAY_TIMEOUT = 504, "gateway timeout";
    DTD_VERSION_NOT_SUPPORTED = 505, "dtd version not supported";
    PROCESSING_ERROR = 506, "processing error";
    ATOMIC_FAILED = 507, "atomic failed";
    REFRESH_REQUIRED = 508, "refresh required";
    RESERVED = 509, "reserved for future use";
    DATA_STORE_FAILURE = 510, "data store failure";
    SERVER_FAILURE = 511, "server failure";
    SYNCHRONIZATION_FAILED = 512, "synchronization failed";
    PROTOCOL_VERSION_NOT_SUPPORTED = 513, "protocol version not supported";
    OPERATION_CANCELLED_FAILED = 514, "operation cancelled";
    ATOMIC_ROLLBACK_FAILED = 516, "atomic roll back failed";
    ATOMIC_RESPONSE_TOO_LARGE = 517, "atomic response too large to fit";
}

impl StatusCode {
    /// Wraps any numeric code.
    pub const fn new(code: u16) -> Self {
        Self(code)
    }

    /// The numeric code.
    pub const fn code(self) -> u16 {
        self.0
    }

    /// The class of the code.
    pub fn class(self) -> StatusClass {
        match self.0 {
            100..=199 => StatusClass::Informational,
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirection,
            400..=499 => StatusClass::ClientError,
            500..=599 => StatusClass::ServerError,
            _ => StatusClass::Other,
        }
    }

    /// Whether the command took effect (or was accepted to): a 2xx code
    /// other than 214 (cancelled), 215 (not executed) and 216 (rolled back).
    pub fn is_success(self) -> bool {
        self.class() == StatusClass::Success && !matches!(self.0, 211 | 214 | 215 | 216)
    }

    /// Whether the command was undone because its Atomic failed (216), or
    /// the Atomic itself failed (507) or could not roll back (516).
    pub fn is_atomic_outcome(self) -> bool {
        matches!(self.0, 216 | 507 | 516 | 517)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.meaning() {
            Some(m) => write!(f, "{} ({m})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// An OMA-DM alert code (`<Alert><Data>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AlertCode(u16);

macro_rules! alert_codes {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        impl AlertCode {
            $(
                #[doc = concat!("`", stringify!($code), "`: ", $text, ".")]
                pub const $name: AlertCode = AlertCode($code);
            )*

            /// The meaning of a known alert code.
            pub fn meaning(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

alert_codes! {
    DISPLAY = 1100, "display a message to the user";
    CONFIRM = 1101, "continue or abort, asked of the user";
    TEXT_INPUT = 1102, "text input from the user";
    SINGLE_CHOICE = 1103, "single choice from the user";
    MULTIPLE_CHOICE = 1104, "multiple choice from the user";
    SERVER_INITIATED = 1200, "server-initiated management session";
    CLIENT_INITIATED = 1201, "client-initiated management session";
    NEXT_MESSAGE = 1222, "next message, continue the package";
    SESSION_ABORT = 1223, "session abort";
    CLIENT_EVENT = 1224, "client event (windows: login status)";
    NO_END_OF_DATA = 1225, "no end of data";
    GENERIC = 1226, "generic alert";
}

impl AlertCode {
    /// Wraps any numeric code.
    pub const fn new(code: u16) -> Self {
        Self(code)
    }

    /// The numeric code.
    pub const fn code(self) -> u16 {
        self.0
    }
}

impl fmt::Display for AlertCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.meaning() {
            Some(m) => write!(f, "{} ({m})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_carry_their_meaning_and_class() {
        assert_eq!(StatusCode::ATOMIC_FAILED.meaning(), Some("atomic failed"));
        assert_eq!(StatusCode::new(216), StatusCode::ATOMIC_ROLLBACK_OK);
        assert_eq!(StatusCode::new(425).class(), StatusClass::ClientError);
        assert!(StatusCode::OK.is_success());
        assert!(!StatusCode::ATOMIC_ROLLBACK_OK.is_success());
        assert!(StatusCode::ATOMIC_FAILED.is_atomic_outcome());
        assert_eq!(StatusCode::new(299).meaning(), None);
        assert_eq!(StatusCode::new(299).to_string(), "299");
        assert_eq!(StatusCode::OK.to_string(), "200 (ok)");
        for code in 400..=425 {
            assert!(StatusCode::new(code).meaning().is_some(), "{code}");
        }
        assert_eq!(AlertCode::new(1224), AlertCode::CLIENT_EVENT);
    }
}

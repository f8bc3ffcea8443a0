//! What to do about a failure: Google's RPC status codes, API error bodies,
//! and the [`Remedy`] every failure in this crate is classified into, so the
//! caller never leaves a rejected body stuck nor resends one that cannot
//! succeed.

use serde::Deserialize;

use crate::Error;

/// What to do next about something that did not (yet) take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Remedy {
    /// In progress on the device or at Google: check again later.
    Wait,
    /// A transient failure: resend the same body after a back-off.
    Retry,
    /// The body is wrong: resend only once it has changed (then always).
    FixPolicy,
    /// An administrator must act outside the policy (approve an app, buy
    /// licences, fix the enterprise); resend once that is done.
    AdminAction,
    /// The device user must act (set a passcode, accept a permission).
    UserAction,
    /// This device, its Android version or its management mode cannot do
    /// it: resending the same body will never help.
    Unsupported,
}

impl Remedy {
    /// Whether resending the identical body may succeed.
    pub fn resend_unchanged(self) -> bool {
        matches!(self, Remedy::Retry)
    }

    /// A stable lower-case name (`wait`, `retry`, `fix-policy`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Remedy::Wait => "wait",
            Remedy::Retry => "retry",
            Remedy::FixPolicy => "fix-policy",
            Remedy::AdminAction => "admin-action",
            Remedy::UserAction => "user-action",
            Remedy::Unsupported => "unsupported",
        }
    }
}

impl std::fmt::Display for Remedy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `google.rpc.Code`: the status of a failed call or operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[allow(missing_docs)] // the names are Google's canonical codes
pub enum RpcCode {
    Ok,
    Cancelled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
    /// A code this crate does not know.
    Other(i32),
}

const CODES: [(RpcCode, i32, &str); 17] = [
    (RpcCode::Ok, 0, "OK"),
    (RpcCode::Cancelled, 1, "CANCELLED"),
    (RpcCode::Unknown, 2, "UNKNOWN"),
    (RpcCode::InvalidArgument, 3, "INVALID_ARGUMENT"),
    (RpcCode::DeadlineExceeded, 4, "DEADLINE_EXCEEDED"),
    (RpcCode::NotFound, 5, "NOT_FOUND"),
    (RpcCode::AlreadyExists, 6, "ALREADY_EXISTS"),
    (RpcCode::PermissionDenied, 7, "PERMISSION_DENIED"),
    (RpcCode::ResourceExhausted, 8, "RESOURCE_EXHAUSTED"),
    (RpcCode::FailedPrecondition, 9, "FAILED_PRECONDITION"),
    (RpcCode::Aborted, 10, "ABORTED"),
    (RpcCode::OutOfRange, 11, "OUT_OF_RANGE"),
    (RpcCode::Unimplemented, 12, "UNIMPLEMENTED"),
    (RpcCode::Internal, 13, "INTERNAL"),
    (RpcCode::Unavailable, 14, "UNAVAILABLE"),
    (RpcCode::DataLoss, 15, "DATA_LOSS"),
    (RpcCode::Unauthenticated, 16, "UNAUTHENTICATED"),
];

impl RpcCode {
    /// The code for its number.
    pub fn from_i32(n: i32) -> Self {
        CODES
            .iter()
            .find(|(_, k, _)| *k == n)
            .map_or(RpcCode::Other(n), |(c, _, _)| *c)
    }

    /// The code for its canonical name (`INVALID_ARGUMENT`).
    pub fn from_name(name: &str) -> Option<Self> {
        CODES
            .iter()
            .find(|(_, _, s)| *s == name)
            .map(|(c, _, _)| *c)
    }

    /// The number.
    pub fn number(self) -> i32 {
        match self {
            RpcCode::Other(n) => n,
            c => CODES
                .iter()
                .find(|(k, _, _)| *k == c)
                .map_or(-1, |(_, n, _)| *n),
        }
    }

    /// The canonical name, `OTHER` for unknown codes.
    pub fn name(self) -> &'static str {
        CODES
            .iter()
            .find(|(k, _, _)| *k == self)
            .map_or("OTHER", |(_, _, s)| *s)
    }

    /// What to do about a call or operation that failed with this code.
    pub fn remedy(self) -> Remedy {
        match self {
            RpcCode::Ok => Remedy::Wait,
            RpcCode::Cancelled
            | RpcCode::Unknown
            | RpcCode::DeadlineExceeded
            | RpcCode::Aborted
            | RpcCode::Internal
            | RpcCode::Unavailable
            | RpcCode::ResourceExhausted
            | RpcCode::DataLoss
            | RpcCode::Other(_) => Remedy::Retry,
            RpcCode::InvalidArgument | RpcCode::OutOfRange | RpcCode::AlreadyExists => {
                Remedy::FixPolicy
            }
            RpcCode::NotFound
            | RpcCode::PermissionDenied
            | RpcCode::FailedPrecondition
            | RpcCode::Unauthenticated => Remedy::AdminAction,
            RpcCode::Unimplemented => Remedy::Unsupported,
        }
    }
}

/// An error answer of Google's API (`{"error": {"code": 400, "message":
/// ..., "status": "INVALID_ARGUMENT"}}`), as returned with a non-2xx HTTP
/// status by `policies.patch`, `devices.issueCommand` and the rest.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status code Google put in the body.
    pub http_status: u16,
    /// The RPC status.
    pub code: RpcCode,
    /// Google's message (for logs; not for matching).
    pub message: String,
    /// The `details` array, unparsed.
    pub details: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: u16,
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Vec<serde_json::Value>,
}

impl ApiError {
    /// Parses an error body.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let env: ErrorEnvelope = crate::parse::from_slice(bytes)?;
        let b = env.error;
        let code = b
            .status
            .as_deref()
            .and_then(RpcCode::from_name)
            .unwrap_or(match b.code {
                400 => RpcCode::InvalidArgument,
                401 => RpcCode::Unauthenticated,
                403 => RpcCode::PermissionDenied,
                404 => RpcCode::NotFound,
                409 => RpcCode::Aborted,
                429 => RpcCode::ResourceExhausted,
                501 => RpcCode::Unimplemented,
                503 => RpcCode::Unavailable,
                504 => RpcCode::DeadlineExceeded,
                s if s >= 500 => RpcCode::Internal,
                _ => RpcCode::Unknown,
            });
        Ok(Self {
            http_status: b.code,
            code,
            message: b.message,
            details: b.details,
        })
    }

    /// What to do about it.
    pub fn remedy(&self) -> Remedy {
        self.code.remedy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_policy_errors_wait_for_a_fix_and_outages_are_retried() {
        let e = ApiError::parse(
            br#"{"error":{"code":400,"message":"Invalid value at 'policy.password_policies'","status":"INVALID_ARGUMENT"}}"#,
        )
        .unwrap();
        assert_eq!(e.code, RpcCode::InvalidArgument);
        assert_eq!(e.remedy(), Remedy::FixPolicy);
        assert!(!e.remedy().resend_unchanged());
        let e = ApiError::parse(br#"{"error":{"code":503,"message":"try later"}}"#).unwrap();
        assert_eq!(e.remedy(), Remedy::Retry);
        assert!(e.remedy().resend_unchanged());
    }

    #[test]
    fn rpc_codes_round_trip_through_numbers_and_names() {
        for n in -1..20 {
            let c = RpcCode::from_i32(n);
            assert_eq!(c.number(), n);
            if let Some(back) = RpcCode::from_name(c.name()) {
                assert_eq!(back, c);
            }
        }
    }
}

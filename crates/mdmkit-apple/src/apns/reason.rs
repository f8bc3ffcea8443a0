//! APNs' answers, typed: every documented `reason` and what a provider
//! does about it.
//!
//! Apple documents the reasons in "Handling notification responses from
//! APNs". [`Reason::parse`] is the only place that compares strings; a
//! reason Apple adds later becomes [`Reason::Other`] and is classified by
//! its status code.

use std::fmt;
use std::time::Duration;

/// A `reason` of an APNs error answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// 400: the collapse identifier is too long.
    BadCollapseId,
    /// 400: the device token is invalid (or of the other environment).
    BadDeviceToken,
    /// 400: `apns-expiration` is bad.
    BadExpirationDate,
    /// 400: `apns-id` is bad.
    BadMessageId,
    /// 400: `apns-priority` is bad.
    BadPriority,
    /// 400: `apns-topic` is invalid.
    BadTopic,
    /// 400: the token does not match the topic (the device enrolled with
    /// another push certificate).
    DeviceTokenNotForTopic,
    /// 400: a header was repeated.
    DuplicateHeaders,
    /// 400: the connection sat idle too long.
    IdleTimeout,
    /// 400: `apns-push-type` is bad.
    InvalidPushType,
    /// 400: no device token in the path.
    MissingDeviceToken,
    /// 400: `apns-topic` is missing and required.
    MissingTopic,
    /// 400: the body is empty.
    PayloadEmpty,
    /// 400: pushing to this topic is not allowed with this certificate.
    TopicDisallowed,
    /// 403: the certificate is invalid (revoked, expired, unknown).
    BadCertificate,
    /// 403: the certificate is for the other environment.
    BadCertificateEnvironment,
    /// 403: the provider token is stale (token-based authentication).
    ExpiredProviderToken,
    /// 403: the action is not allowed.
    Forbidden,
    /// 403: the provider token is invalid.
    InvalidProviderToken,
    /// 403: no certificate and no provider token.
    MissingProviderToken,
    /// 403: the key id of the provider token is unrelated.
    UnrelatedKeyIdInToken,
    /// 403: the environment key of the provider token is wrong.
    BadEnvironmentKeyInToken,
    /// 404: the path is bad.
    BadPath,
    /// 405: not a POST.
    MethodNotAllowed,
    /// 410: the device token has expired.
    ExpiredToken,
    /// 410: the device token is no longer active for the topic.
    Unregistered,
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 429: the provider token changed too often.
    TooManyProviderTokenUpdates,
    /// 429: too many requests to the same device token.
    TooManyRequests,
    /// 500: an internal server error.
    InternalServerError,
    /// 503: the service is unavailable.
    ServiceUnavailable,
    /// 503: the APNs server is shutting down.
    Shutdown,
    /// A reason this build does not know (kept for logs).
    Other(String),
}

/// What a provider does about an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum OutcomeClass {
    /// Accepted by APNs.
    Delivered,
    /// Transient: try again later, with backoff (429, 5xx, connection
    /// failures).
    Retry,
    /// The token is dead: stop pushing this enrollment until its next
    /// TokenUpdate.
    TokenDead,
    /// The push certificate is the problem (expired, revoked, wrong
    /// environment or topic): alert the operator; every push with it fails.
    Certificate,
    /// The request itself is wrong (a bug on our side): do not retry it.
    Rejected,
}

impl OutcomeClass {
    /// The name in logs, counters and JSON (`delivered`, `retry`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::TokenDead => "token-dead",
            Self::Certificate => "certificate",
            Self::Rejected => "rejected",
        }
    }
}

impl fmt::Display for OutcomeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const NAMES: &[(&str, Reason)] = &[
    ("BadCollapseId", Reason::BadCollapseId),
    ("BadDeviceToken", Reason::BadDeviceToken),
    ("BadExpirationDate", Reason::BadExpirationDate),
    ("BadMessageId", Reason::BadMessageId),
    ("BadPriority", Reason::BadPriority),
    ("BadTopic", Reason::BadTopic),
    ("DeviceTokenNotForTopic", Reason::DeviceTokenNotForTopic),
    ("DuplicateHeaders", Reason::DuplicateHeaders),
    ("IdleTimeout", Reason::IdleTimeout),
    ("InvalidPushType", Reason::InvalidPushType),
    ("MissingDeviceToken", Reason::MissingDeviceToken),
    ("MissingTopic", Reason::MissingTopic),
    ("PayloadEmpty", Reason::PayloadEmpty),
    ("TopicDisallowed", Reason::TopicDisallowed),
    ("BadCertificate", Reason::BadCertificate),
    (
        "BadCertificateEnvironment",
        Reason::BadCertificateEnvironment,
    ),
    ("ExpiredProviderToken", Reason::ExpiredProviderToken),
    ("Forbidden", Reason::Forbidden),
    ("InvalidProviderToken", Reason::InvalidProviderToken),
    ("MissingProviderToken", Reason::MissingProviderToken),
    ("UnrelatedKeyIdInToken", Reason::UnrelatedKeyIdInToken),
    ("BadEnvironmentKeyInToken", Reason::BadEnvironmentKeyInToken),
    ("BadPath", Reason::BadPath),
    ("MethodNotAllowed", Reason::MethodNotAllowed),
    ("ExpiredToken", Reason::ExpiredToken),
    ("Unregistered", Reason::Unregistered),
    ("PayloadTooLarge", Reason::PayloadTooLarge),
    (
        "TooManyProviderTokenUpdates",
        Reason::TooManyProviderTokenUpdates,
    ),
    ("TooManyRequests", Reason::TooManyRequests),
    ("InternalServerError", Reason::InternalServerError),
    ("ServiceUnavailable", Reason::ServiceUnavailable),
    ("Shutdown", Reason::Shutdown),
];

impl Reason {
    /// Every documented reason (not [`Reason::Other`]).
    pub fn all() -> impl Iterator<Item = Reason> {
        NAMES.iter().map(|(_, r)| r.clone())
    }

    /// The reason of this name (as APNs spells it).
    pub fn parse(s: &str) -> Reason {
        NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map_or_else(|| Reason::Other(s.to_owned()), |(_, r)| r.clone())
    }

    /// The name as APNs spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Reason::Other(s) => s,
            r => NAMES
                .iter()
                .find(|(_, k)| k == r)
                .map_or("Other", |(n, _)| n),
        }
    }

    /// The HTTP status APNs answers this reason with (0 for
    /// [`Reason::Other`]).
    pub fn status(&self) -> u16 {
        use Reason::*;
        match self {
            BadCollapseId
            | BadDeviceToken
            | BadExpirationDate
            | BadMessageId
            | BadPriority
            | BadTopic
            | DeviceTokenNotForTopic
            | DuplicateHeaders
            | IdleTimeout
            | InvalidPushType
            | MissingDeviceToken
            | MissingTopic
            | PayloadEmpty
            | TopicDisallowed => 400,
            BadCertificate
            | BadCertificateEnvironment
            | ExpiredProviderToken
            | Forbidden
            | InvalidProviderToken
            | MissingProviderToken
            | UnrelatedKeyIdInToken
            | BadEnvironmentKeyInToken => 403,
            BadPath => 404,
            MethodNotAllowed => 405,
            ExpiredToken | Unregistered => 410,
            PayloadTooLarge => 413,
            TooManyProviderTokenUpdates | TooManyRequests => 429,
            InternalServerError => 500,
            ServiceUnavailable | Shutdown => 503,
            Other(_) => 0,
        }
    }

    /// What to do about it, given the status it came with.
    pub fn class(&self, status: u16) -> OutcomeClass {
        use Reason::*;
        match self {
            // The token will never work for this topic again.
            BadDeviceToken | DeviceTokenNotForTopic | ExpiredToken | Unregistered => {
                OutcomeClass::TokenDead
            }
            // The certificate (or the topic it allows) is the problem.
            BadTopic
            | TopicDisallowed
            | BadCertificate
            | BadCertificateEnvironment
            | ExpiredProviderToken
            | Forbidden
            | InvalidProviderToken
            | MissingProviderToken
            | UnrelatedKeyIdInToken
            | BadEnvironmentKeyInToken => OutcomeClass::Certificate,
            IdleTimeout
            | TooManyProviderTokenUpdates
            | TooManyRequests
            | InternalServerError
            | ServiceUnavailable
            | Shutdown => OutcomeClass::Retry,
            BadCollapseId | BadExpirationDate | BadMessageId | BadPriority | DuplicateHeaders
            | InvalidPushType | MissingDeviceToken | MissingTopic | PayloadEmpty | BadPath
            | MethodNotAllowed | PayloadTooLarge => OutcomeClass::Rejected,
            Other(_) => match status {
                200 => OutcomeClass::Delivered,
                403 => OutcomeClass::Certificate,
                410 => OutcomeClass::TokenDead,
                429 | 500..=599 => OutcomeClass::Retry,
                _ => OutcomeClass::Rejected,
            },
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// 200: APNs accepted the push.
    Delivered {
        /// The `apns-id` APNs gave it.
        apns_id: Option<String>,
    },
    /// Try again later.
    Retry {
        /// The reason, when APNs gave one (none for a transport failure).
        reason: Option<Reason>,
        /// The HTTP status (0: no answer).
        status: u16,
        /// APNs' `Retry-After`, if any.
        retry_after: Option<Duration>,
        /// A transport error, when there was no answer.
        detail: Option<String>,
    },
    /// The token is dead: stop pushing until the next TokenUpdate.
    TokenDead {
        /// Why.
        reason: Reason,
        /// For 410: when APNs last knew the token valid (ms since epoch).
        since_ms: Option<i64>,
    },
    /// The push certificate is the problem: alert the operator.
    Certificate {
        /// Why.
        reason: Reason,
    },
    /// The request was wrong; it is not retried.
    Rejected {
        /// Why.
        reason: Reason,
        /// The HTTP status.
        status: u16,
    },
}

impl Outcome {
    /// What kind of outcome it is.
    pub fn class(&self) -> OutcomeClass {
        match self {
            Self::Delivered { .. } => OutcomeClass::Delivered,
            Self::Retry { .. } => OutcomeClass::Retry,
            Self::TokenDead { .. } => OutcomeClass::TokenDead,
            Self::Certificate { .. } => OutcomeClass::Certificate,
            Self::Rejected { .. } => OutcomeClass::Rejected,
        }
    }

    /// The APNs reason, if there was one.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Self::Delivered { .. } => None,
            Self::Retry { reason, .. } => reason.as_ref(),
            Self::TokenDead { reason, .. }
            | Self::Certificate { reason }
            | Self::Rejected { reason, .. } => Some(reason),
        }
    }

    /// A failure to get an answer at all (connection, TLS, timeout).
    pub fn transport(detail: impl Into<String>) -> Self {
        Self::Retry {
            reason: None,
            status: 0,
            retry_after: None,
            detail: Some(detail.into()),
        }
    }

    /// The outcome of an answer: its status, its `Retry-After` and its
    /// JSON body (`{"reason": "...", "timestamp": ...}`).
    pub fn from_answer(
        status: u16,
        apns_id: Option<String>,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Self {
        if status == 200 {
            return Self::Delivered { apns_id };
        }
        #[derive(serde::Deserialize)]
        struct Body {
            reason: Option<String>,
            timestamp: Option<i64>,
        }
        let parsed: Option<Body> = serde_json::from_slice(body).ok();
        let (reason, timestamp) = match parsed {
            Some(b) => (b.reason.map(|r| Reason::parse(&r)), b.timestamp),
            None => (None, None),
        };
        let reason = reason.unwrap_or_else(|| Reason::Other(format!("HTTP {status}")));
        match reason.class(status) {
            OutcomeClass::Delivered => Self::Delivered { apns_id },
            OutcomeClass::Retry => Self::Retry {
                reason: Some(reason),
                status,
                retry_after,
                detail: None,
            },
            OutcomeClass::TokenDead => Self::TokenDead {
                reason,
                since_ms: timestamp,
            },
            OutcomeClass::Certificate => Self::Certificate { reason },
            OutcomeClass::Rejected => Self::Rejected { reason, status },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_and_is_classified() {
        for r in Reason::all() {
            assert_eq!(Reason::parse(r.as_str()), r);
            let class = r.class(r.status());
            assert_ne!(class, OutcomeClass::Delivered, "{r}");
            let body = format!(r#"{{"reason":"{}"}}"#, r.as_str());
            assert_eq!(
                Outcome::from_answer(r.status(), None, None, body.as_bytes()).class(),
                class
            );
        }
        assert_eq!(Reason::Unregistered.class(410), OutcomeClass::TokenDead);
        assert_eq!(Reason::BadDeviceToken.class(400), OutcomeClass::TokenDead);
        assert_eq!(Reason::BadCertificate.class(403), OutcomeClass::Certificate);
        assert_eq!(Reason::TooManyRequests.class(429), OutcomeClass::Retry);
        assert_eq!(Reason::Shutdown.class(503), OutcomeClass::Retry);
        assert_eq!(Reason::InvalidPushType.class(400), OutcomeClass::Rejected);
    }

    #[test]
    fn unknown_reasons_fall_back_on_the_status() {
        let o = Outcome::from_answer(410, None, None, br#"{"reason":"Gone2","timestamp":5}"#);
        assert_eq!(
            o,
            Outcome::TokenDead {
                reason: Reason::Other("Gone2".into()),
                since_ms: Some(5)
            }
        );
        assert_eq!(
            Outcome::from_answer(503, None, None, b"").class(),
            OutcomeClass::Retry
        );
        assert_eq!(
            Outcome::from_answer(403, None, None, b"x").class(),
            OutcomeClass::Certificate
        );
        assert_eq!(
            Outcome::from_answer(200, Some("id".into()), None, b""),
            Outcome::Delivered {
                apns_id: Some("id".into())
            }
        );
    }
}

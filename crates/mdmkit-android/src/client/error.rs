//! What can go wrong talking to Google.

use crate::remedy::ApiError;

/// Why an AMAPI call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Google answered with an error (its body parsed when it was Google's
    /// JSON error shape).
    #[error("{method} {path}: HTTP {status}: {}", .error.as_ref().map_or_else(|| .excerpt.clone(), |e| format!("{} {}", e.code.name(), e.message)))]
    Api {
        /// The method.
        method: &'static str,
        /// The resource path (`enterprises/e/policies/p`).
        path: String,
        /// The HTTP status.
        status: u16,
        /// Google's error, when the body was one.
        error: Option<Box<ApiError>>,
        /// The start of the body otherwise (an HTML page of a proxy, ...).
        excerpt: String,
    },
    /// The connection failed or timed out.
    #[error("{method} {path}: {message}")]
    Transport {
        /// The method.
        method: &'static str,
        /// The resource path.
        path: String,
        /// What the HTTP client said.
        message: String,
    },
    /// Google kept answering 429 or 5xx (or the connection kept failing)
    /// for every attempt.
    #[error("gave up after {attempts} attempts: {last}")]
    Exhausted {
        /// How many requests were sent.
        attempts: u32,
        /// The last failure.
        #[source]
        last: Box<ClientError>,
    },
    /// A successful answer whose body is not the expected resource.
    #[error("{path}: {source}")]
    Decode {
        /// The resource path.
        path: String,
        /// The parse error (with the JSON path).
        #[source]
        source: crate::Error,
    },
    /// An answer larger than the client reads.
    #[error("{path}: answer larger than {limit} bytes")]
    TooLarge {
        /// The resource path.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// The service-account key cannot be used.
    #[error("service-account key: {0}")]
    Key(String),
    /// The OAuth token endpoint refused the grant.
    #[error("OAuth token endpoint: HTTP {status}: {body}")]
    Token {
        /// The HTTP status.
        status: u16,
        /// The start of its body (`{"error":"invalid_grant",...}`).
        body: String,
    },
    /// A request could not be built (bad name, bad mask).
    #[error(transparent)]
    Request(#[from] crate::Error),
    /// The client settings are unusable (a base URL that is not http(s),
    /// no trust roots).
    #[error("client settings: {0}")]
    Config(String),
}

impl ClientError {
    /// Google's error, when the failure is one (also inside
    /// [`ClientError::Exhausted`]).
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Api { error, .. } => error.as_deref(),
            Self::Exhausted { last, .. } => last.api_error(),
            _ => None,
        }
    }

    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Token { status, .. } => Some(*status),
            Self::Exhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// Whether the same request may succeed later (Google overloaded or
    /// down, the network): the caller keeps it queued.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Exhausted { .. } | Self::Transport { .. } => true,
            Self::Api { status, .. } | Self::Token { status, .. } => {
                *status == 429 || *status >= 500
            }
            _ => false,
        }
    }
}

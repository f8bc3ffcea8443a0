//! Why a request was refused, and the HTTP answer each reason gets.
//!
//! The rule for device endpoints: a device's own bad input is never a 401
//! (Apple unenrolls on 401, and on 403 with an `ErrorUnrecognizedDevice`
//! body) and never a 500. It is a 400 (413 for an oversized body) with the
//! reason logged. Only a failure of the server itself (its store, its
//! journal) is a 5xx, logged with an error id that the response carries so
//! an operator can find the log line.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why a device or admin request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The route names a tenant this server does not serve.
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    /// The body is larger than the configured limit.
    #[error("body larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body could not be read from the connection.
    #[error("cannot read the body: {0}")]
    Body(String),
    /// The request carried no device certificate (no TLS client
    /// certificate, no `Mdm-Signature`, no trusted `Client-Cert`).
    #[error("no device certificate presented")]
    NoCertificate,
    /// The `Mdm-Signature` header does not verify over the body.
    #[error("Mdm-Signature: {0}")]
    Signature(#[source] mdmkit::apple::error::CmsError),
    /// The `Client-Cert` header of a trusted proxy is malformed.
    #[error("Client-Cert header: {0}")]
    ClientCertHeader(#[source] crate::identity::ClientCertError),
    /// The certificate does not verify against the tenant's CA.
    #[error("certificate refused: {0}")]
    Certificate(#[source] mdmkit::identity::VerifyError),
    /// The enrollment is bound to another certificate.
    #[error("enrollment {device} is bound to another certificate")]
    NotBound {
        /// The enrollment's device.
        device: String,
    },
    /// The certificate is bound to another enrollment.
    #[error("certificate is bound to enrollment {holder}, not {device}")]
    CertificateInUse {
        /// The device that claimed it.
        device: String,
        /// The device it is bound to.
        holder: String,
    },
    /// A message for an enrollment that never authenticated (or checked
    /// out).
    #[error("no enrollment for {0}")]
    UnknownEnrollment(String),
    /// The device message could not be read.
    #[error("device message: {0}")]
    Message(#[source] mdmkit::apple::Error),
    /// The device message is well formed but not acceptable (a report for
    /// another device, an unknown command, an identifier out of its
    /// alphabet).
    #[error("{0}")]
    Invalid(String),
    /// Something the device asked for does not exist (a declaration).
    #[error("not found: {0}")]
    NotFound(String),
    /// The server declines the request the way the protocol documents
    /// (`UserAuthenticate`: 410).
    #[error("declined: {0}")]
    Declined(&'static str),
    /// An admin request without a valid bearer token.
    #[error("admin token missing, unknown or revoked")]
    Unauthorized,
    /// An admin token whose role or node does not allow the request.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// An admin request whose JSON or parameters are wrong.
    #[error("bad request: {0}")]
    BadAdminRequest(String),
    /// A Pub/Sub push whose OIDC token is missing, malformed, forged,
    /// expired or for another audience.
    #[error("push refused: {0}")]
    PushRefused(String),
    /// Something the server needs is unreachable for now (the push token
    /// issuer's key set): the sender should try again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Another process answered the same device session meanwhile: the
    /// device should send again (503).
    #[error("busy: {0}")]
    Busy(String),
    /// The request conflicts with what is stored (a push certificate whose
    /// topic would strand enrolled devices): 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The server failed (store, journal): not the device's fault.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl RequestError {
    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownTenant(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Declined(_) => StatusCode::GONE,
            Self::Unauthorized | Self::PushRefused(_) => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Body(_)
            | Self::NoCertificate
            | Self::Signature(_)
            | Self::ClientCertHeader(_)
            | Self::Certificate(_)
            | Self::NotBound { .. }
            | Self::CertificateInUse { .. }
            | Self::UnknownEnrollment(_)
            | Self::Message(_)
            | Self::Invalid(_)
            | Self::BadAdminRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// Wraps a server-side failure.
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    /// Sorts a facade error by its [`kind`](mdmkit::Error::kind): what the
    /// device said wrong is a 400, a certificate already held by another
    /// enrollment is a 400, a store that is unreachable or lost a write race
    /// is a 503 (the device comes back; it is never told 500 for a database
    /// hiccup), the rest is the server's failure.
    pub fn from_facade(e: mdmkit::Error) -> Self {
        match e {
            mdmkit::Error::DeviceMessage { reason, .. } => Self::Invalid(reason),
            mdmkit::Error::UnknownCommand { device, command } => Self::Invalid(format!(
                "device {device} answered unknown command {command}"
            )),
            mdmkit::Error::CertificateInUse { device } => Self::CertificateInUse {
                device: String::new(),
                holder: device,
            },
            other => match other.kind() {
                mdmkit::ErrorKind::StoreUnavailable => {
                    tracing::warn!(error = %other, source = ?std::error::Error::source(&other), "state store unavailable");
                    Self::Unavailable("the store is unavailable; try again".into())
                }
                mdmkit::ErrorKind::Conflict => {
                    Self::Busy("a concurrent write won; try again".into())
                }
                _ => Self::internal(other),
            },
        }
    }
}

impl From<mdmkit::Error> for RequestError {
    fn from(e: mdmkit::Error) -> Self {
        Self::from_facade(e)
    }
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = if let Self::Internal(e) = &self {
            // The cause stays in the log; the caller gets the id to quote.
            let id = uuid::Uuid::new_v4();
            tracing::error!(error_id = %id, error = %e, source = ?std::error::Error::source(&**e), "request failed");
            format!("internal error, id {id}\n")
        } else {
            tracing::warn!(status = status.as_u16(), reason = %self, "request refused");
            format!("{self}\n")
        };
        let mut r = (status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750: say which scheme the admin API wants.
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mdmkit\""),
            );
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_device_refusal_is_a_401_or_a_403() {
        let device_side = [
            RequestError::TooLarge { limit: 1 },
            RequestError::NoCertificate,
            RequestError::NotBound { device: "d".into() },
            RequestError::UnknownEnrollment("d".into()),
            RequestError::Invalid("x".into()),
            RequestError::Body("x".into()),
        ];
        for e in device_side {
            let s = e.status();
            assert!(
                s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
                "{e}: {s}"
            );
            assert!(!s.is_server_error(), "{e}: {s}");
        }
    }
}

//! Windows over the wire: the MS-MDE2 enrollment services and the OMA-DM
//! management endpoint.
//!
//! | route | what |
//! |---|---|
//! | `GET /{tenant}/windows/EnrollmentServer/Discovery.svc` | 200, empty: Windows probes before it posts |
//! | `POST /{tenant}/windows/EnrollmentServer/Discovery.svc` | the `Discover` message: where the policy and enrollment services are |
//! | `POST /{tenant}/windows/EnrollmentServer/Policy.svc` | MS-XCEP `GetPolicies`: the key and validity the CSR must follow |
//! | `POST /{tenant}/windows/EnrollmentServer/Enrollment.svc` | MS-WSTEP `RequestSecurityToken`: the certificate and the provisioning document |
//! | `POST /{tenant}/windows/ManagementServer/MDM.svc` | OMA-DM (SyncML 1.2, `application/vnd.syncml.dm+xml`) |
//!
//! The enrollment routes also answer without the `windows` segment
//! (`/{tenant}/EnrollmentServer/Discovery.svc`), which is the path Windows
//! tries on `https://enterpriseenrollment.<domain>/` when host-based routing
//! ([`crate::ServerConfig::with_host_tenant`]) maps that host to a tenant.
//!
//! Enrollment authenticates with the `OnPremise` policy: the password of
//! the WS-Security `UsernameToken` is a one-time enrollment challenge
//! (`mdmkit enroll challenge DIR --node N`, [`mdmkit::challenge`]); the PC
//! lands under the challenge's node. `Federated` is an extension point
//! ([`FederatedAuth`]). Refusals are SOAP faults with the MS-MDE2 error
//! types, answered 400 (a server failure is an `InternalServiceFault`,
//! 500, with an error id in the log).
//!
//! Management authenticates every request by its certificate (the TLS
//! client certificate, or a trusted proxy's `Client-Cert`), which must
//! chain to the tenant CA and be the one bound to the enrollment of exactly
//! the device named in `SyncHdr/Source`. The session's state lives in the
//! state store between requests ([`mdmkit::state::StateStore::session`]),
//! so it survives a restart and continues on another process.

use std::sync::Arc;

use axum::Router;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mdmkit::identity::{DEFAULT_DEVICE_DAYS, TenantCa};
use mdmkit::policy::NodeId;
use mdmkit::windows::enroll::GetPoliciesResponse;

use crate::state::AppState;

mod enroll;
mod manage;
mod session;

pub use session::MAX_PENDING;

/// The content type of the enrollment services (SOAP 1.2).
pub const SOAP_CONTENT_TYPE: &str = mdmkit::windows::enroll::CONTENT_TYPE;
/// The content type of OMA-DM messages.
pub const SYNCML_CONTENT_TYPE: &str = "application/vnd.syncml.dm+xml";

/// A federated sign-in, for tenants that authenticate Windows enrollment
/// with a web page of their own (`AuthPolicy` `Federated`): the page's
/// URL goes into the discovery answer, and the token Windows brings back
/// from it is checked here.
pub trait FederatedAuth: Send + Sync {
    /// The `https` sign-in page (`AuthenticationServiceUrl`).
    fn authentication_url(&self) -> &str;
    /// Checks the token the page issued (the text of the
    /// `BinarySecurityToken`): the node the PC lands under (`None`: the
    /// root), or why it is refused.
    fn verify(&self, token: &str) -> Result<Option<NodeId>, String>;
}

/// A tenant's Windows services: the CA that issues device certificates
/// and the settings of the provisioning document and of sessions.
pub struct WindowsService {
    ca: Arc<TenantCa>,
    days: u32,
    provider_id: String,
    policy: GetPoliciesResponse,
    max_msg_size: usize,
    federated: Option<Arc<dyn FederatedAuth>>,
}

impl std::fmt::Debug for WindowsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowsService")
            .field("tenant", self.ca.tenant())
            .field("provider_id", &self.provider_id)
            .finish_non_exhaustive()
    }
}

impl WindowsService {
    /// Issues device certificates with `ca`; provider id `mdmkit`, the
    /// identity crate's default validity, replies up to 64 KiB.
    pub fn new(ca: impl Into<Arc<TenantCa>>) -> Self {
        let ca = ca.into();
        let days = DEFAULT_DEVICE_DAYS;
        let mut policy = GetPoliciesResponse::default();
        policy.validity_seconds = u64::from(days) * 24 * 3600;
        Self {
            ca,
            days,
            provider_id: "mdmkit".into(),
            policy,
            max_msg_size: 64 * 1024,
            federated: None,
        }
    }

    /// Sets how long issued certificates are valid, in days.
    pub fn with_days(mut self, days: u32) -> Self {
        self.days = days;
        self.policy.validity_seconds = u64::from(days) * 24 * 3600;
        self
    }

    /// Sets the DM provider id written into the provisioning document.
    pub fn with_provider_id(mut self, id: impl Into<String>) -> Self {
        self.provider_id = id.into();
        self
    }

    /// Sets the largest reply of a management session, in bytes (the
    /// device's `MaxMsgSize` lowers it).
    pub fn with_max_msg_size(mut self, bytes: usize) -> Self {
        self.max_msg_size = bytes;
        self
    }

    /// Accepts the `Federated` policy through `auth`.
    pub fn with_federated(mut self, auth: Arc<dyn FederatedAuth>) -> Self {
        self.federated = Some(auth);
        self
    }
}

/// The Windows routes, to merge into an app.
pub fn router() -> Router<AppState> {
    let mut r = Router::new();
    for prefix in [
        "/{tenant}/windows/EnrollmentServer",
        "/{tenant}/EnrollmentServer",
    ] {
        r = r
            .route(
                &format!("{prefix}/Discovery.svc"),
                axum::routing::get(enroll::probe).post(enroll::discovery),
            )
            .route(&format!("{prefix}/Policy.svc"), post(enroll::policy))
            .route(
                &format!("{prefix}/Enrollment.svc"),
                post(enroll::enrollment),
            );
    }
    r.route(
        "/{tenant}/windows/ManagementServer/MDM.svc",
        post(manage::endpoint),
    )
}

/// The `https` base URL the device reached, from its `Host` header (a TLS
/// proxy in front keeps it): the services' URLs in discovery and in the
/// provisioning document are built on it.
fn base_url(parts: &Parts, tenant: &str) -> String {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("https://{host}/{tenant}/windows")
}

/// A 200 (or `status`) with a body of `content_type`, its length set
/// (Windows refuses chunked enrollment answers).
fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

//! The MS-MDE2 enrollment services: discovery, policy (MS-XCEP) and
//! enrollment (MS-WSTEP).
//!
//! Every refusal is a SOAP fault of the type MS-MDE2 documents (so that the
//! PC shows the right message), answered 400; a failure of the server is
//! an `InternalServiceFault`, 500, its cause logged with an error id that
//! the fault carries as its trace id.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::response::Response;
use mdmkit::audit::Event;
use mdmkit::challenge::{self, IssuedCertificate};
use mdmkit::identity::CertificateRequest;
use mdmkit::inventory::{BoundCertificate, Enrollment, EnrollmentStatus};
use mdmkit::policy::NodeId;
use mdmkit::queue::{Clock as _, EnrollmentId, SystemClock, Timestamp};
use mdmkit::state::StateBatch;
use mdmkit::windows::enroll::{
    self as mde, AuthPolicy, Credentials, DiscoverRequest, DiscoverResponse, EnrollmentFault,
    FaultType, GetPoliciesRequest, RequestSecurityToken,
};
use mdmkit::{DeviceId, Platform, Scope};

use super::{SOAP_CONTENT_TYPE, WindowsService, answer, base_url};
use crate::error::RequestError;
use crate::state::AppState;
use crate::tenant::TenantContext;

/// A refusal of an enrollment step, answered as a SOAP fault.
struct Fault {
    fault: EnrollmentFault,
    status: StatusCode,
    action: &'static str,
    relates_to: Option<String>,
}

impl Fault {
    /// The device's fault: a 400 with the reason logged.
    fn device(action: &'static str, t: FaultType, reason: impl Into<String>) -> Self {
        Self {
            fault: EnrollmentFault::new(t, reason),
            status: StatusCode::BAD_REQUEST,
            action,
            relates_to: None,
        }
    }

    fn relating(mut self, id: Option<&str>) -> Self {
        self.relates_to = id.map(str::to_owned);
        self
    }

    /// The server's failure: logged with an id, the fault carries the id.
    fn server(action: &'static str, e: &dyn std::fmt::Display) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        tracing::error!(error_id = %id, error = %e, "Windows enrollment failed");
        Self {
            fault: EnrollmentFault::new(FaultType::InternalServiceFault, "internal error")
                .with_trace_id(id),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            action,
            relates_to: None,
        }
    }

    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::warn!(
                fault = self.fault.fault_type.as_str(),
                reason = %self.fault.reason,
                "Windows enrollment refused"
            );
        }
        answer(
            self.status,
            SOAP_CONTENT_TYPE,
            self.fault.to_xml(self.action, self.relates_to.as_deref()),
        )
    }
}

/// Runs a step; a refusal becomes its fault.
fn respond(r: Result<Response, Fault>) -> Response {
    r.unwrap_or_else(Fault::into_response)
}

/// The tenant and its Windows service, the request head and body, or the
/// fault refusing them.
async fn open(
    app: &AppState,
    tenant: &str,
    req: Request<Body>,
    action: &'static str,
) -> Result<
    (
        std::sync::Arc<TenantContext>,
        axum::http::request::Parts,
        Vec<u8>,
    ),
    Fault,
> {
    let ctx = app
        .tenant(tenant)
        .map_err(|e| Fault::device(action, FaultType::NotSupported, e.to_string()))?;
    service(&ctx, action)?;
    let (parts, body) = req.into_parts();
    let body = crate::body::read(&parts.headers, body, app.config().body_limit)
        .await
        .map_err(|e| Fault::device(action, FaultType::MessageFormat, e.to_string()))?;
    Ok((ctx, parts, body.to_vec()))
}

/// The tenant's Windows service, or the fault saying it has none.
fn service<'c>(ctx: &'c TenantContext, action: &'static str) -> Result<&'c WindowsService, Fault> {
    ctx.windows().ok_or_else(|| {
        Fault::device(
            action,
            FaultType::NotSupported,
            format!("Windows enrollment is not served for tenant {}", ctx.id()),
        )
    })
}

/// `GET Discovery.svc`: Windows probes the URL before it posts.
pub(super) async fn probe(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<StatusCode, RequestError> {
    let ctx = app.tenant(&tenant)?;
    if ctx.windows().is_none() {
        return Err(RequestError::NotFound(format!(
            "Windows enrollment is not served for tenant {tenant}"
        )));
    }
    Ok(StatusCode::OK)
}

/// `POST Discovery.svc`: the policy and enrollment URLs, on the host the
/// PC reached.
pub(super) async fn discovery(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    req: Request<Body>,
) -> Response {
    respond(discover(&app, &tenant, req).await)
}

async fn discover(app: &AppState, tenant: &str, req: Request<Body>) -> Result<Response, Fault> {
    let action = mde::ACTION_DISCOVER_RESPONSE;
    let (ctx, parts, body) = open(app, tenant, req, action).await?;
    tracing::Span::current().record("message", "Discover");
    let d = DiscoverRequest::read(&body)
        .map_err(|e| Fault::device(action, FaultType::MessageFormat, e.to_string()))?;
    let relates = d.message_id.as_deref();
    // Any version from 4.0 up is served (Windows 11 25H2 sends 9.0); older
    // ones do not speak the messages this server writes.
    if let Some(v) = d.request_version
        && !v.at_least(4, 0)
    {
        return Err(Fault::device(
            action,
            FaultType::DeviceNotSupported,
            format!("RequestVersion {v}: 4.0 or later is needed"),
        )
        .relating(relates));
    }
    let s = service(&ctx, action)?;
    let base = base_url(&parts, ctx.id().as_str());
    let federated = s
        .federated
        .as_ref()
        .filter(|_| d.auth_policies.contains(&AuthPolicy::Federated));
    let policy = if federated.is_some() {
        AuthPolicy::Federated
    } else {
        AuthPolicy::OnPremise
    };
    let mut r = DiscoverResponse::new(
        policy,
        DiscoverResponse::negotiate(d.request_version),
        format!("{base}/EnrollmentServer/Policy.svc"),
        format!("{base}/EnrollmentServer/Enrollment.svc"),
    )
    .map_err(|e| {
        Fault::device(action, FaultType::MessageFormat, e.to_string()).relating(relates)
    })?;
    if let Some(f) = federated {
        r = r
            .with_authentication_service_url(f.authentication_url())
            .map_err(|e| Fault::server(action, &e))?;
    }
    tracing::info!(
        version = ?d.request_version,
        policy = r.auth_policy.as_str(),
        "Windows discovery answered"
    );
    Ok(answer(StatusCode::OK, SOAP_CONTENT_TYPE, r.to_xml(relates)))
}

/// Where the credentials of a request put the PC, or why they are refused.
/// `spend`: the enrollment step spends a one-time challenge; the policy
/// step only checks it.
async fn authorise(
    ctx: &TenantContext,
    credentials: &Credentials,
    spend: bool,
    action: &'static str,
) -> Result<(NodeId, Option<String>), Fault> {
    let now = SystemClock.now();
    let refused = |why: &str| Fault::device(action, FaultType::Authentication, why.to_owned());
    match credentials {
        Credentials::UsernameToken { password, .. } => {
            let digest = challenge::digest(password.trim());
            let state = ctx.reconciler().state();
            let c = if spend {
                match state
                    .spend_challenge(ctx.id(), &digest, now)
                    .await
                    .map_err(|e| Fault::server(action, &e))?
                {
                    Ok(c) => c,
                    Err(r) => return Err(refused(&format!("enrollment token {}", r.as_str()))),
                }
            } else {
                let c = state
                    .challenge(ctx.id(), &digest)
                    .await
                    .map_err(|e| Fault::server(action, &e))?
                    .ok_or_else(|| refused("enrollment token unknown"))?;
                if let Err(r) = c.usable(now) {
                    return Err(refused(&format!("enrollment token {}", r.as_str())));
                }
                c
            };
            Ok((c.node, Some(c.id)))
        }
        Credentials::BinarySecurityToken { token, .. } => {
            let Some(f) = service(ctx, action)?.federated.as_ref() else {
                return Err(refused("federated sign-in is not configured"));
            };
            let node = f.verify(token).map_err(|why| refused(&why))?;
            Ok((node.unwrap_or_else(|| ctx.tree().root().id().clone()), None))
        }
        _ => Err(refused(
            "no credentials (OnPremise needs the enrollment token as password)",
        )),
    }
}

/// `POST Policy.svc`: the certificate policy, to a PC whose token is
/// usable (not spent here).
pub(super) async fn policy(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    req: Request<Body>,
) -> Response {
    respond(get_policies(&app, &tenant, req).await)
}

async fn get_policies(app: &AppState, tenant: &str, req: Request<Body>) -> Result<Response, Fault> {
    let action = mde::ACTION_GET_POLICIES_RESPONSE;
    let (ctx, _, body) = open(app, tenant, req, action).await?;
    tracing::Span::current().record("message", "GetPolicies");
    let r = GetPoliciesRequest::read(&body)
        .map_err(|e| Fault::device(action, FaultType::MessageFormat, e.to_string()))?;
    let relates = r.message_id.as_deref();
    authorise(&ctx, &r.credentials, false, action)
        .await
        .map_err(|f| f.relating(relates))?;
    Ok(answer(
        StatusCode::OK,
        SOAP_CONTENT_TYPE,
        service(&ctx, action)?.policy.to_xml(relates),
    ))
}

/// `POST Enrollment.svc`: spends the token, issues the certificate, records
/// the enrollment under the token's node and plans the PC's policy.
pub(super) async fn enrollment(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    req: Request<Body>,
) -> Response {
    respond(request_token(&app, &tenant, req).await)
}

fn timestamp(t: time::OffsetDateTime) -> Timestamp {
    Timestamp::from_millis(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

async fn request_token(
    app: &AppState,
    tenant: &str,
    req: Request<Body>,
) -> Result<Response, Fault> {
    let action = mde::ACTION_RSTRC;
    let (ctx, parts, body) = open(app, tenant, req, action).await?;
    tracing::Span::current().record("message", "RequestSecurityToken");
    let rst = RequestSecurityToken::read(&body)
        .map_err(|e| Fault::device(action, FaultType::MessageFormat, e.to_string()))?;
    let relates = rst.message_id.as_deref();
    let device_fault = |t: FaultType, why: String| Fault::device(action, t, why).relating(relates);
    if rst.is_renewal() {
        return renew(app, &ctx, &parts, &body, &rst).await;
    }
    let device = rst
        .device_id()
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| {
            device_fault(
                FaultType::InvalidEnrollmentData,
                "AdditionalContext has no DeviceID".into(),
            )
        })
        .and_then(|d| {
            DeviceId::new(d.trim()).map_err(|e| {
                device_fault(FaultType::InvalidEnrollmentData, format!("DeviceID: {e}"))
            })
        })?;
    tracing::Span::current().record("device", device.as_str());
    // The CSR is checked before the token is spent: a malformed request
    // does not burn it.
    let csr = rst
        .certificate_request()
        .map_err(|e| device_fault(FaultType::CertificateRequest, format!("CSR: {e}")))?;
    CertificateRequest::parse(&csr)
        .map_err(|e| device_fault(FaultType::CertificateRequest, format!("CSR: {e}")))?;
    let (node, challenge_id) = authorise(&ctx, &rst.credentials, true, action)
        .await
        .map_err(|f| f.relating(relates))?;
    let s = service(&ctx, action)?;
    let base = base_url(&parts, ctx.id().as_str());
    let enrolled = mdmkit::windows::enroll::enroll(
        &s.ca,
        &rst,
        device.clone(),
        s.days,
        &s.provider_id,
        &format!("{base}/ManagementServer/MDM.svc"),
    )
    .map_err(|e| device_fault(FaultType::CertificateRequest, format!("cannot issue: {e}")))?;
    let cert = &enrolled.certificate;
    let now = SystemClock.now();
    let tree = ctx.tree();
    let node = Some(node)
        .filter(|n| tree.node(n).is_some())
        .unwrap_or_else(|| tree.root().id().clone());
    let sha256 = cert.sha256.to_hex();
    let mut record = IssuedCertificate::new(
        ctx.id().clone(),
        sha256.clone(),
        node.clone(),
        cert.serial.to_string(),
        cert.device_id.to_string(),
        now,
        timestamp(cert.not_after),
    );
    if let Some(c) = challenge_id {
        record = record.with_challenge(c);
    }
    let state = ctx.reconciler().state();
    state
        .put_issued_certificate(&record)
        .await
        .map_err(|e| Fault::server(action, &e))?;
    let old = state
        .enrollment(ctx.id(), &device)
        .await
        .map_err(|e| Fault::server(action, &e))?;
    let mut e = Enrollment::new(device.clone(), Platform::Windows, node.clone(), now);
    if let Some(old) = &old {
        e.enrolled_at = old.enrolled_at;
        // A re-enrollment: what was queued or planned for the old one never
        // reaches this installation.
        ctx.reconciler()
            .queue()
            .clear_enrollment(ctx.id(), &EnrollmentId::device(device.clone()))
            .await
            .map_err(|err| Fault::server(action, &err))?;
        let mut batch = StateBatch::default();
        batch.removed.push(device.clone());
        state
            .commit(ctx.id(), &batch)
            .await
            .map_err(|err| Fault::server(action, &err))?;
    }
    e.status = EnrollmentStatus::Active;
    e.certificate = Some(BoundCertificate::new(
        sha256.clone(),
        cert.device_id.clone(),
        cert.serial.to_hex(),
        timestamp(cert.not_after),
    ));
    e.os_version = rst.context_value("OSVersion").map(str::to_owned);
    e.device_name = rst.context_value("DeviceName").map(str::to_owned);
    state
        .put_enrollment(ctx.id(), &e)
        .await
        .map_err(|err| Fault::server(action, &err))?;
    ctx.record(vec![Event::DeviceEnrolled {
        tenant: ctx.id().clone(),
        device: device.clone(),
        node: node.clone(),
        platform: Platform::Windows,
        certificate_sha256: Some(sha256),
    }])
    .await
    .map_err(|err| Fault::server(action, &err))?;
    let plan = ctx
        .reconciler()
        .reconcile(&tree, &Scope::Devices(vec![device.clone()]))
        .await
        .map_err(|err| Fault::server(action, &err))?;
    tracing::info!(%device, node = %node, commands = plan.queued, "Windows PC enrolled");
    Ok(answer(
        StatusCode::OK,
        SOAP_CONTENT_TYPE,
        enrolled.response.to_xml(relates),
    ))
}

/// A renewal (`RequestType` Renew, or a PKCS#7 request): the PC presents
/// its current certificate (TLS, or the trusted proxy's header), which must
/// verify against the tenant CA and be the one bound to its active Windows
/// enrollment; it gets a new certificate for the same device, ending after
/// the current one. The binding moves when the PC first presents the new
/// certificate to the management endpoint (a renewal by identity and
/// expiry), so a PC that never received this answer keeps working with its
/// current one. Queue, compliance and node are kept.
async fn renew(
    app: &AppState,
    ctx: &TenantContext,
    parts: &axum::http::request::Parts,
    body: &[u8],
    rst: &RequestSecurityToken,
) -> Result<Response, Fault> {
    let action = mde::ACTION_RSTRC;
    let relates = rst.message_id.as_deref();
    let refuse = |t: FaultType, why: String| Fault::device(action, t, why).relating(relates);
    let presented = crate::identity::presented(parts, body, app.config())
        .map_err(|e| {
            refuse(
                FaultType::Authentication,
                format!("client certificate: {e}"),
            )
        })?
        .ok_or_else(|| {
            refuse(
                FaultType::Authentication,
                "a renewal needs the PC's current certificate as its TLS client certificate".into(),
            )
        })?;
    let id = ctx
        .verify(&presented)
        .map_err(|e| refuse(FaultType::Authentication, e.to_string()))?;
    let device = id.device_id.clone();
    tracing::Span::current().record("device", device.as_str());
    let state = ctx.reconciler().state();
    let enrollment = state
        .enrollment(ctx.id(), &device)
        .await
        .map_err(|e| Fault::server(action, &e))?
        .filter(|e| e.platform == Platform::Windows && e.status == EnrollmentStatus::Active)
        .ok_or_else(|| {
            refuse(
                FaultType::NotEligibleToRenew,
                format!("{device} has no active Windows enrollment: enroll it again"),
            )
        })?;
    let sha256 = id.sha256.to_hex();
    if enrollment.certificate.as_ref().map(|c| c.sha256.as_str()) != Some(sha256.as_str()) {
        return Err(refuse(
            FaultType::NotEligibleToRenew,
            format!("the certificate presented is not the one bound to {device}'s enrollment"),
        ));
    }
    let s = service(ctx, action)?;
    let base = base_url(parts, ctx.id().as_str());
    let renewed = mdmkit::windows::enroll::renew(
        &s.ca,
        rst,
        device.clone(),
        s.days,
        id.not_after,
        &s.provider_id,
        &format!("{base}/ManagementServer/MDM.svc"),
    )
    .map_err(|e| refuse(FaultType::CertificateRequest, format!("cannot renew: {e}")))?;
    let cert = &renewed.certificate;
    let record = IssuedCertificate::new(
        ctx.id().clone(),
        cert.sha256.to_hex(),
        enrollment.node.clone(),
        cert.serial.to_string(),
        cert.device_id.to_string(),
        SystemClock.now(),
        timestamp(cert.not_after),
    );
    state
        .put_issued_certificate(&record)
        .await
        .map_err(|e| Fault::server(action, &e))?;
    tracing::info!(%device, serial = %cert.serial, "Windows certificate renewed");
    Ok(answer(
        StatusCode::OK,
        SOAP_CONTENT_TYPE,
        renewed.response.to_xml(relates),
    ))
}

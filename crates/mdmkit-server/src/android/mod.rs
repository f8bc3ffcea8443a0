//! Android over HTTP: the Cloud Pub/Sub push endpoint of AMAPI
//! notifications, and delivery of queued Android commands through
//! Google's API.
//!
//! | route | what |
//! |---|---|
//! | `POST /{tenant}/android/pubsub` | ENROLLMENT, STATUS_REPORT, COMMAND (and test) notifications pushed by Pub/Sub |
//!
//! A push is authenticated by its OIDC bearer token (issuer, audience
//! and RS256 signature against the issuer's key set, [`PushVerifier`]).
//! An ENROLLMENT puts the device into inventory under the node its
//! enrollment token names ([`mdmkit::android::pubsub::EnrollmentBinding`]
//! in the token's `additionalData`), plans its policy and delivers it; a
//! STATUS_REPORT verifies the device's categories
//! ([`mdmkit::Reconciler::android_report_for`]) and delivers what is
//! queued. Every message is idempotent: a duplicate or a late one changes
//! nothing that a newer one settled. The answer is 204 once the message
//! has been acted on; Pub/Sub delivers any other answer again.
//!
//! A tenant without an [`AndroidService`] answers 404 on its push route.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mdmkit::android::client::{AmapiClient, PushAuthError, PushVerifier};
use mdmkit::android::names::{DeviceName, EnterpriseName, PolicyName};
use mdmkit::android::pubsub::{self, Notification};

use crate::error::RequestError;
use crate::state::AppState;
use crate::tenant::TenantContext;

mod deliver;
mod enroll;

pub use deliver::{Delivery, drain_device, drain_tenant};

/// The prefix of the policy mdmkit keeps for each device
/// (`enterprises/E/policies/mdmkit-<device id>`).
pub const POLICY_PREFIX: &str = "mdmkit-";

/// A tenant's Android Enterprise: its enterprise name, the client that
/// calls Google for it, and the verifier of its Pub/Sub pushes.
pub struct AndroidService {
    enterprise: EnterpriseName,
    client: Arc<AmapiClient>,
    push: PushVerifier,
    max_envelope: usize,
}

impl std::fmt::Debug for AndroidService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AndroidService")
            .field("enterprise", &self.enterprise)
            .finish_non_exhaustive()
    }
}

impl AndroidService {
    /// Manages `enterprise` through `client`, accepting pushes that
    /// `push` verifies.
    pub fn new(enterprise: EnterpriseName, client: Arc<AmapiClient>, push: PushVerifier) -> Self {
        Self {
            enterprise,
            client,
            push,
            max_envelope: pubsub::DEFAULT_MAX_ENVELOPE,
        }
    }

    /// Sets the largest push body read (default
    /// [`pubsub::DEFAULT_MAX_ENVELOPE`]).
    pub fn with_max_envelope(mut self, bytes: usize) -> Self {
        self.max_envelope = bytes;
        self
    }

    /// The enterprise.
    pub fn enterprise(&self) -> &EnterpriseName {
        &self.enterprise
    }

    /// The AMAPI client.
    pub fn client(&self) -> &Arc<AmapiClient> {
        &self.client
    }

    /// The policy mdmkit keeps for a device: its effective policy, patched
    /// whole by every `PatchPolicy` of its queue.
    pub fn policy_for(&self, device: &DeviceName) -> Result<PolicyName, RequestError> {
        self.enterprise
            .policy(&format!("{POLICY_PREFIX}{}", device.id()))
            .map_err(|e| RequestError::Invalid(format!("policy name for {device}: {e}")))
    }

    /// Reads a device name of this enterprise.
    pub(crate) fn device(&self, name: Option<&str>) -> Result<DeviceName, RequestError> {
        let name = name.ok_or_else(|| RequestError::Invalid("Device without a name".into()))?;
        let d = DeviceName::parse(name)
            .map_err(|e| RequestError::Invalid(format!("device name: {e}")))?;
        if d.enterprise() != self.enterprise {
            return Err(RequestError::Invalid(format!(
                "device {d} is not of enterprise {}",
                self.enterprise
            )));
        }
        Ok(d)
    }
}

/// The Android routes, to merge into an app.
pub fn router() -> Router<AppState> {
    Router::new().route("/{tenant}/android/pubsub", post(pubsub_route))
}

async fn pubsub_route(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    req: Request<Body>,
) -> Result<Response, RequestError> {
    let ctx = app.tenant(&tenant)?;
    let android = ctx
        .android()
        .ok_or_else(|| RequestError::NotFound("this tenant has no Android configuration".into()))?;
    let (parts, body) = req.into_parts();
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let now = mdmkit::queue::Clock::now(&mdmkit::queue::SystemClock).as_millis() / 1000;
    android.push.verify(auth, now).await.map_err(|e| match e {
        PushAuthError::Refused(o) => RequestError::PushRefused(o.to_string()),
        other => RequestError::Unavailable(other.to_string()),
    })?;
    let limit = app.config().body_limit.min(android.max_envelope);
    let body = crate::body::read(&parts.headers, body, limit).await?;
    let msg = pubsub::parse_push(&body, limit)
        .map_err(|e| RequestError::Invalid(format!("push: {e}")))?;
    let span = tracing::Span::current();
    span.record("message", msg.kind.as_str());
    handle(&ctx, android, &msg.notification, &msg.data).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn handle(
    ctx: &TenantContext,
    android: &AndroidService,
    n: &Notification,
    data: &[u8],
) -> Result<(), RequestError> {
    match n {
        Notification::Enrollment(dev) => {
            let name = android.device(dev.name.as_deref())?;
            tracing::Span::current().record("device", name.as_str());
            let id = enroll::on_enrollment(ctx, &name, dev).await?;
            deliver::drain_device(ctx, android, &id).await?;
        }
        Notification::StatusReport(dev) => {
            let name = android.device(dev.name.as_deref())?;
            tracing::Span::current().record("device", name.as_str());
            let id = device_id(&name)?;
            enroll::seen(ctx, &id, dev).await?;
            let policy = android.policy_for(&name)?;
            let changed = ctx
                .reconciler()
                .android_report_for(ctx.id(), &id, data, Some(policy.as_str()))
                .await?;
            tracing::info!(device = %id, changed = changed.len(), "status report");
            deliver::drain_device(ctx, android, &id).await?;
        }
        Notification::Command(op) => {
            let outcome = mdmkit::android::operation::CommandOutcome::from_operation(op)
                .map_err(|e| RequestError::Invalid(format!("command notification: {e}")))?;
            tracing::info!(operation = ?outcome.name, state = ?outcome.state, "command notification");
            let Some(op_name) = &outcome.name else {
                return Err(RequestError::Invalid(
                    "command notification without an operation name".into(),
                ));
            };
            let name = op_name.device();
            if name.enterprise() != android.enterprise {
                return Err(RequestError::Invalid(format!(
                    "operation {op_name} is not of enterprise {}",
                    android.enterprise
                )));
            }
            tracing::Span::current().record("device", name.as_str());
            let id = device_id(&name)?;
            if let Some(answer) = deliver::operation_answer(op) {
                answer_issued(ctx, &id, &answer).await?;
            }
            deliver::drain_device(ctx, android, &id).await?;
        }
        _ => tracing::debug!("notification without action"),
    }
    Ok(())
}

/// Records a done operation's answer for the device command in flight
/// (one at a time per device, as delivery issues them). A duplicate or
/// late notification finds no device command in flight and changes
/// nothing.
async fn answer_issued(
    ctx: &TenantContext,
    device: &mdmkit::DeviceId,
    answer: &mdmkit::reconcile::Answer,
) -> Result<(), RequestError> {
    let r = ctx.reconciler();
    let entries = r
        .queue()
        .list(
            ctx.id(),
            &mdmkit::queue::EnrollmentId::device(device.clone()),
        )
        .await
        .map_err(|e| RequestError::from_facade(e.into()))?;
    let in_flight = entries.into_iter().find(|e| {
        e.state == mdmkit::queue::CommandState::Delivered
            && crate::admin::ANDROID_COMMAND_KINDS.contains(&e.kind.as_str())
    });
    match in_flight {
        Some(e) => {
            tracing::info!(%device, command = %e.id, ?answer, "android command answered");
            r.record_answer(ctx.id(), device, e.id, answer, None)
                .await?;
        }
        None => tracing::debug!(%device, "no device command in flight; notification ignored"),
    }
    Ok(())
}

/// The mdmkit device id of an AMAPI device (its full resource name).
pub(crate) fn device_id(name: &DeviceName) -> Result<mdmkit::DeviceId, RequestError> {
    name.device_id()
        .map_err(|e| RequestError::Invalid(format!("device id of {name}: {e}")))
}

//! The check-in endpoint: `Authenticate`, `TokenUpdate`, `CheckOut`,
//! bootstrap tokens, `UserAuthenticate`, `DeclarativeManagement`,
//! `GetToken`.

use axum::body::Bytes;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use mdmkit::apple::apns::PushRequest;
use mdmkit::apple::generated::checkin::{AnyCheckin, Authenticate, TokenUpdate};
use mdmkit::apple::{Checkin, CheckinBody, Dictionary, Format, Value};
use mdmkit::audit::Event;
use mdmkit::inventory::{Enrollment, EnrollmentStatus, PushTarget};
use mdmkit::queue::{Clock as _, EnrollmentId, SystemClock};
use mdmkit::state::StateBatch;
use mdmkit::{DeviceId, Platform, Scope};

use super::auth::{Authed, authenticate};
use super::{ddm, limits};
use crate::error::RequestError;
use crate::identity::binding::{self, Decision};
use crate::state::AppState;
use crate::tenant::TenantContext;

/// Handles one check-in message (already read within the body limit).
pub(crate) async fn handle(
    app: &AppState,
    ctx: &TenantContext,
    parts: &Parts,
    body: Bytes,
    node_hint: Option<mdmkit::policy::NodeId>,
) -> Result<Response, RequestError> {
    let msg = Checkin::from_bytes(&body, &limits(app)).map_err(RequestError::Message)?;
    let span = tracing::Span::current();
    span.record("message", msg.message_type.as_str());
    span.record("device", msg.ids.device());
    let device = DeviceId::new(msg.ids.device())
        .map_err(|e| RequestError::Invalid(format!("device identifier: {e}")))?;
    let is_auth = matches!(msg.body, CheckinBody::Known(AnyCheckin::Authenticate(_)));
    let authed = authenticate(app, ctx, parts, &body, &device, is_auth).await?;
    match &msg.body {
        CheckinBody::Known(AnyCheckin::Authenticate(a)) => {
            on_authenticate(ctx, &device, a, authed, node_hint).await
        }
        CheckinBody::Known(AnyCheckin::TokenUpdate(t)) => {
            on_token_update(ctx, &device, &msg, t, authed).await
        }
        CheckinBody::Known(AnyCheckin::CheckOut(_)) => on_check_out(ctx, &device, authed).await,
        CheckinBody::Known(AnyCheckin::SetBootstrapToken(s)) => {
            let mut e = bound_enrollment(authed, &device)?;
            e.bootstrap_token = s
                .bootstrap_token
                .as_ref()
                .map(|t| base64::engine::general_purpose::STANDARD.encode(t));
            save(ctx, &e).await?;
            Ok(empty())
        }
        CheckinBody::Known(AnyCheckin::GetBootstrapToken(_)) => {
            let e = bound_enrollment(authed, &device)?;
            let mut d = Dictionary::new();
            if let Some(t) = &e.bootstrap_token
                && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(t)
            {
                d.insert("BootstrapToken".into(), Value::Data(bytes));
            }
            Ok(plist(d))
        }
        CheckinBody::Known(AnyCheckin::UserAuthenticate(_)) => {
            // Apple's documented way to decline network-user login.
            Err(RequestError::Declined(
                "UserAuthenticate: user channels for network users are not offered",
            ))
        }
        CheckinBody::Known(AnyCheckin::GetToken(g)) => Err(RequestError::Declined(
            match g.token_service_type.as_deref() {
                Some(_) => "GetToken: no token service is configured",
                None => "GetToken without TokenServiceType",
            },
        )),
        CheckinBody::Known(AnyCheckin::DeclarativeManagement(m)) => {
            let e = bound_enrollment(authed, &device)?;
            ddm::respond(ctx, &e, m).await
        }
        CheckinBody::ReturnToService(_) => Err(RequestError::Declined(
            "ReturnToService: not offered by this server",
        )),
        _ => Err(RequestError::Invalid(format!(
            "check-in message {} is not handled",
            msg.message_type
        ))),
    }
}

/// The stored enrollment (a renewal already re-bound by
/// [`authenticate`]).
fn bound_enrollment(authed: Authed, device: &DeviceId) -> Result<Enrollment, RequestError> {
    authed
        .enrollment
        .ok_or_else(|| RequestError::UnknownEnrollment(device.to_string()))
}

pub(crate) async fn save(ctx: &TenantContext, e: &Enrollment) -> Result<(), RequestError> {
    let saved = ctx.reconciler().state().put_enrollment(ctx.id(), e).await;
    match &saved {
        Ok(()) => ctx.remember_enrollment(e),
        Err(_) => ctx.forget_enrollment(&e.device),
    }
    saved.map_err(|err| match err {
        mdmkit::Error::CertificateInUse { device } => RequestError::CertificateInUse {
            device: e.device.to_string(),
            holder: device,
        },
        other => RequestError::from_facade(other),
    })
}

async fn on_authenticate(
    ctx: &TenantContext,
    device: &DeviceId,
    a: &Authenticate,
    authed: Authed,
    node_hint: Option<mdmkit::policy::NodeId>,
) -> Result<Response, RequestError> {
    let now = SystemClock.now();
    let renewal = authed.decision == Decision::Rebind;
    let tree = ctx.tree();
    // Where the device lands: the enrollment token of the URL, else the
    // node its certificate was issued for (an enrollment challenge), else
    // where it was, else the root.
    let issued_for = if node_hint.is_none() {
        ctx.reconciler()
            .state()
            .issued_certificate(ctx.id(), &authed.identity.sha256.to_hex())
            .await?
            .map(|c| c.node)
    } else {
        None
    };
    let node = node_hint
        .or(issued_for)
        .or_else(|| authed.enrollment.as_ref().map(|e| e.node.clone()))
        .filter(|n| tree.node(n).is_some())
        .unwrap_or_else(|| tree.root().id().clone());
    // A renewal keeps the record; a (re-)enrollment starts a new one.
    let mut e = match authed.enrollment {
        Some(e) if renewal => e,
        Some(old) => {
            let mut e = Enrollment::new(device.clone(), Platform::Apple, node.clone(), now);
            e.enrolled_at = old.enrolled_at;
            e
        }
        None => Enrollment::new(device.clone(), Platform::Apple, node.clone(), now),
    };
    e.certificate = Some(binding::bound(&authed.identity));
    e.serial = a.serial_number.clone().or(e.serial);
    e.model = a.model.clone().or(e.model);
    e.model_name = a.model_name.clone().or(e.model_name);
    e.product = a.product_name.clone().or(e.product);
    e.os_version = a.os_version.clone().or(e.os_version);
    e.build_version = a.build_version.clone().or(e.build_version);
    e.device_name = a.device_name.clone().or(e.device_name);
    e.updated_at = now;
    e.last_seen = now;
    if !renewal {
        // A (re-)enrollment: whatever was queued for the old enrollment is
        // stale, and what the reconciler planned for it never reached
        // this installation. Both are reset; the reconcile after the
        // first TokenUpdate plans everything again.
        let r = ctx.reconciler();
        let cleared = r
            .queue()
            .clear_enrollment(ctx.id(), &EnrollmentId::device(device.clone()))
            .await
            .map_err(|e| RequestError::from_facade(e.into()))?;
        let mut batch = StateBatch::default();
        batch.removed.push(device.clone());
        r.state().commit(ctx.id(), &batch).await?;
        tracing::info!(%device, node = %e.node, cleared, "device authenticated");
    }
    save(ctx, &e).await?;
    ctx.record(vec![Event::DeviceEnrolled {
        tenant: ctx.id().clone(),
        device: device.clone(),
        node: e.node.clone(),
        platform: Platform::Apple,
        certificate_sha256: Some(authed.identity.sha256.to_hex()),
    }])
    .await?;
    Ok(empty())
}

async fn on_token_update(
    ctx: &TenantContext,
    device: &DeviceId,
    msg: &Checkin,
    t: &TokenUpdate,
    authed: Authed,
) -> Result<Response, RequestError> {
    let mut e = bound_enrollment(authed, device)?;
    // The push this TokenUpdate makes possible: the apns module checks
    // Token, Topic and PushMagic as APNs needs them.
    let push = PushRequest::from_token_update(t)
        .map_err(|err| RequestError::Invalid(format!("TokenUpdate: {err}")))?;
    let now = SystemClock.now();
    let mut target = PushTarget::new(
        push.token_hex(),
        push.topic().to_owned(),
        push.push_magic().to_owned(),
    );
    // A token declared dead before this TokenUpdate lives again.
    target.updated_at = Some(now);
    let first = e.status == EnrollmentStatus::Authenticated;
    if msg.ids.is_user_channel() {
        let user = msg
            .ids
            .enrollment_user_id
            .clone()
            .or_else(|| msg.ids.user_id.clone())
            .or_else(|| msg.ids.user_short_name.clone())
            .unwrap_or_default();
        e.user_channels.insert(user, target);
    } else {
        e.push = Some(target);
        e.status = EnrollmentStatus::Active;
    }
    e.updated_at = now;
    e.last_seen = now;
    save(ctx, &e).await?;
    if first && !msg.ids.is_user_channel() {
        // The enrollment is complete: plan the device's policy now, so it
        // gets its node's settings without anyone editing a file.
        let tree = ctx.tree();
        let plan = ctx
            .reconciler()
            .reconcile(&tree, &Scope::Devices(vec![device.clone()]))
            .await?;
        tracing::info!(%device, commands = plan.queued, "enrolled device planned");
    }
    Ok(empty())
}

async fn on_check_out(
    ctx: &TenantContext,
    device: &DeviceId,
    authed: Authed,
) -> Result<Response, RequestError> {
    let mut e = bound_enrollment(authed, device)?;
    let now = SystemClock.now();
    e.status = EnrollmentStatus::CheckedOut;
    e.push = None;
    e.user_channels.clear();
    e.updated_at = now;
    e.last_seen = now;
    save(ctx, &e).await?;
    ctx.reconciler()
        .queue()
        .clear_enrollment(ctx.id(), &EnrollmentId::device(device.clone()))
        .await
        .map_err(|e| RequestError::from_facade(e.into()))?;
    ctx.record(vec![Event::DeviceCheckedOut {
        tenant: ctx.id().clone(),
        device: device.clone(),
    }])
    .await?;
    tracing::info!(%device, "device checked out");
    Ok(empty())
}

/// An empty 200.
pub(crate) fn empty() -> Response {
    StatusCode::OK.into_response()
}

/// A 200 with an XML plist dictionary.
pub(crate) fn plist(d: Dictionary) -> Response {
    let bytes = crate::apple::dict_bytes(d, Format::Xml);
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

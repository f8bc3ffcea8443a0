//! The command endpoint: a device's report in, its next command out.

use axum::body::Bytes;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mdmkit::DeviceId;
use mdmkit::apple::{CommandReport, Dictionary, Value};
use mdmkit::inventory::Enrollment;
use mdmkit::queue::{Clock as _, SystemClock};

use super::auth::authenticate;
use super::checkin::{empty, save};
use super::limits;
use crate::error::RequestError;
use crate::state::AppState;
use crate::tenant::TenantContext;

/// How stale `last_seen` may get before a command request writes it.
const LAST_SEEN_EVERY_MS: i64 = 60_000;

/// Handles one report (Idle, Acknowledged, Error, CommandFormatError,
/// NotNow) and answers with the next command, or an empty 200.
pub(crate) async fn handle(
    app: &AppState,
    ctx: &TenantContext,
    parts: &Parts,
    body: Bytes,
) -> Result<Response, RequestError> {
    let report = CommandReport::from_bytes(&body, &limits(app)).map_err(RequestError::Message)?;
    let span = tracing::Span::current();
    span.record("message", report.status.as_str());
    span.record("device", report.ids.device());
    let device = DeviceId::new(report.ids.device())
        .map_err(|e| RequestError::Invalid(format!("device identifier: {e}")))?;
    let authed = authenticate(app, ctx, parts, &body, &device, false).await?;
    if let Some(mut e) = authed.enrollment {
        let now = SystemClock.now();
        let refreshed = match report.body.get("QueryResponses") {
            Some(Value::Dictionary(q)) => refresh_facts(&mut e, q),
            _ => false,
        };
        if refreshed || now.as_millis() - e.last_seen.as_millis() >= LAST_SEEN_EVERY_MS {
            e.last_seen = now;
            e.updated_at = now;
            save(ctx, &e).await?;
        }
    }
    let next = ctx
        .reconciler()
        .apple_answer(ctx.id(), &device, &report, &body)
        .await?;
    Ok(match next {
        Some(cmd) => {
            tracing::debug!(command = %cmd.id, kind = %cmd.kind, "command delivered");
            let mut r = (StatusCode::OK, cmd.payload).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
            r
        }
        None => empty(),
    })
}

/// Takes the inventory facts of a `DeviceInformation` answer; whether any
/// changed.
fn refresh_facts(e: &mut Enrollment, q: &Dictionary) -> bool {
    let text = |k: &str| match q.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let before = e.clone();
    for (key, field) in [
        ("OSVersion", &mut e.os_version),
        ("BuildVersion", &mut e.build_version),
        ("SerialNumber", &mut e.serial),
        ("Model", &mut e.model),
        ("ModelName", &mut e.model_name),
        ("ProductName", &mut e.product),
        ("DeviceName", &mut e.device_name),
    ] {
        if let Some(v) = text(key) {
            *field = Some(v);
        }
    }
    if let Some(Value::Boolean(b)) = q.get("IsSupervised") {
        e.supervised = Some(*b);
    }
    *e != before
}

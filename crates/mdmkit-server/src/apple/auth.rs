//! The identity step every Apple request goes through.

use axum::http::request::Parts;
use mdmkit::DeviceId;
use mdmkit::identity::DeviceIdentity;
use mdmkit::inventory::Enrollment;

use crate::error::RequestError;
use crate::identity;
use crate::identity::binding::{self, Decision};
use crate::state::AppState;
use crate::tenant::TenantContext;

/// A request whose certificate verified and may speak for its enrollment.
pub(crate) struct Authed {
    pub(crate) identity: DeviceIdentity,
    pub(crate) enrollment: Option<Enrollment>,
    pub(crate) decision: Decision,
}

/// Finds, verifies and checks the binding of the request's certificate
/// for `device`.
pub(crate) async fn authenticate(
    app: &AppState,
    ctx: &TenantContext,
    parts: &Parts,
    body: &[u8],
    device: &DeviceId,
    is_authenticate: bool,
) -> Result<Authed, RequestError> {
    let presented =
        identity::presented(parts, body, app.config())?.ok_or(RequestError::NoCertificate)?;
    let id = ctx.verify(&presented)?;
    tracing::Span::current().record("cert", presented.source.as_str());
    let state = ctx.reconciler().state();
    let sha256 = id.sha256.to_hex();
    // A command request of a device this process served a moment ago, with
    // the certificate that enrollment is bound to, skips the read (see
    // `TenantContext::recent_enrollment`); Authenticate always reads.
    let recent = if is_authenticate {
        None
    } else {
        ctx.recent_enrollment(device)
            .filter(|e| e.certificate.as_ref().is_some_and(|c| c.sha256 == sha256))
    };
    let mut enrollment = match recent {
        Some(e) => Some(e),
        None => {
            let read = state.enrollment(ctx.id(), device).await?;
            match &read {
                Some(e) => ctx.remember_enrollment(e),
                None => ctx.forget_enrollment(device),
            }
            read
        }
    };
    // The store binds a certificate to one enrollment at most, so when it
    // is this enrollment's own (every command request of a bound device)
    // there is no other holder to look for.
    let own = enrollment
        .as_ref()
        .and_then(|e| e.certificate.as_ref())
        .is_some_and(|c| c.sha256 == sha256);
    let holder = if own {
        None
    } else {
        state
            .enrollment_by_certificate(ctx.id(), &sha256)
            .await?
            .map(|e| e.device)
    };
    let decision = if is_authenticate {
        binding::on_authenticate(device, enrollment.as_ref(), holder.as_ref(), &id)?
    } else {
        binding::on_message(device, enrollment.as_ref(), holder.as_ref(), &id)?
    };
    if decision == Decision::Rebind
        && !is_authenticate
        && let Some(e) = enrollment.as_mut()
    {
        // A renewed certificate of the bound identity: the binding follows
        // it, and the old certificate is refused from now on.
        e.certificate = Some(binding::bound(&id));
        super::checkin::save(ctx, e).await?;
        tracing::info!(%device, serial = %id.serial, "renewed certificate bound");
    }
    Ok(Authed {
        identity: id,
        enrollment,
        decision,
    })
}

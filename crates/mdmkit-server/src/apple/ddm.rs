//! Declarative management: the `DeclarativeManagement` check-in answered
//! from the declarations compiled from the device's effective policy.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mdmkit::apple::declarative::{DdmRequest, DeclarativeMapper, Endpoint};
use mdmkit::apple::generated::checkin::DeclarativeManagement;
use mdmkit::apple::{Limits, mapping};
use mdmkit::inventory::Enrollment;

use crate::error::RequestError;
use crate::tenant::TenantContext;

/// Answers one DDM request: the tokens, the manifest, a declaration (404
/// when the device's set has no such declaration, as Apple specifies), or
/// a status report (read, logged, 200 with no body).
pub(crate) async fn respond(
    ctx: &TenantContext,
    e: &Enrollment,
    m: &DeclarativeManagement,
) -> Result<Response, RequestError> {
    let req = DdmRequest::from_message(m).map_err(RequestError::Message)?;
    tracing::Span::current().record("endpoint", tracing::field::display(&req.endpoint));
    if req.endpoint == Endpoint::Status {
        let report = req
            .status_report(&Limits::DEFAULT)
            .map_err(RequestError::Message)?;
        tracing::info!(device = %e.device, full = report.as_ref().is_some_and(|r| r.full_report), "DDM status report");
        return Ok(StatusCode::OK.into_response());
    }
    let tree = ctx.tree_of(std::slice::from_ref(&e.device)).await?;
    let device = tree
        .device(&e.device)
        .ok_or_else(|| RequestError::NotFound(format!("device {} is not in the tree", e.device)))?;
    let eff = tree.effective(&e.device).map_err(RequestError::internal)?;
    let dctx = mapping::device_context(device)
        .ok_or_else(|| RequestError::Invalid("not an Apple device".into()))?;
    // The legacy profiles carry Wi-Fi keys: resolve the policies' secret
    // references (a missing one is a server fault, logged with its setting).
    let settings = eff
        .settings()
        .resolve_secrets(&mdmkit::policy::EnvFileResolver::for_tenant(&tree))
        .map_err(RequestError::internal)?;
    let compiled = DeclarativeMapper::new(tree.id().clone())
        .compile(&settings, &dctx)
        .map_err(|err| RequestError::Invalid(format!("declarative management: {err}")))?;
    match compiled.set.respond(&req.endpoint, None) {
        Some(json) => {
            let mut r = (StatusCode::OK, json).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(r)
        }
        None => Err(RequestError::NotFound(req.endpoint.to_string())),
    }
}

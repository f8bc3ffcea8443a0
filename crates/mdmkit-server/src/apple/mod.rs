//! Apple's MDM protocol over HTTP: the check-in and command endpoints.
//!
//! | route | what |
//! |---|---|
//! | `POST`/`PUT /{tenant}/apple/checkin` | check-in messages |
//! | `PUT /{tenant}/apple/mdm` | command reports; check-in messages too, routed by content type |
//! | `PUT`/`POST /{tenant}/apple` | one URL for both (a profile without `CheckInURL`) |
//!
//! A check-in URL may carry `?enroll=TOKEN`: an enrollment token
//! (`mdmkit admin token create DIR --node N --role enroll`) that puts the
//! device under node N when it authenticates. Without one, a new device
//! lands at the root of the tree (or where `devices.toml` puts it).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::Request;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use axum::routing::post;
use mdmkit::apple::{Dictionary, Format, Limits, Value};
use mdmkit::policy::NodeId;
use serde::Deserialize;

use crate::error::RequestError;
use crate::state::AppState;
use crate::tenant::TenantContext;

mod auth;
mod checkin;
mod command;
mod ddm;

/// The content type Apple devices send check-in messages with.
pub const CHECKIN_CONTENT_TYPE: &str = "application/x-apple-aspen-mdm-checkin";

/// The Apple routes, to merge into an app.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/{tenant}/apple/checkin",
            post(checkin_route).put(checkin_route),
        )
        .route(
            "/{tenant}/apple/mdm",
            post(combined_route).put(combined_route),
        )
        .route("/{tenant}/apple", post(combined_route).put(combined_route))
}

/// The query a check-in URL may carry.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EnrollQuery {
    enroll: Option<String>,
}

async fn checkin_route(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<EnrollQuery>,
    req: Request<Body>,
) -> Result<Response, RequestError> {
    route(app, &tenant, q, req, true).await
}

async fn combined_route(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<EnrollQuery>,
    req: Request<Body>,
) -> Result<Response, RequestError> {
    route(app, &tenant, q, req, false).await
}

/// Reads the body and hands it to the check-in or the command handler: a
/// check-in route always to the first, a combined route by content type
/// (or, without Apple's, by the body's keys).
async fn route(
    app: AppState,
    tenant: &str,
    q: EnrollQuery,
    req: Request<Body>,
    checkin_only: bool,
) -> Result<Response, RequestError> {
    let ctx = app.tenant(tenant)?;
    let (parts, body) = req.into_parts();
    let body = crate::body::read(&parts.headers, body, app.config().body_limit).await?;
    let is_checkin = checkin_only
        || match parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            Some(ct) if ct.starts_with(CHECKIN_CONTENT_TYPE) => true,
            _ => looks_like_checkin(&body, &limits(&app)),
        };
    if is_checkin {
        let node = enroll_node(&ctx, q.enroll.as_deref()).await?;
        checkin::handle(&app, &ctx, &parts, body, node).await
    } else {
        command::handle(&app, &ctx, &parts, body).await
    }
}

/// Whether a body is a check-in message (it has a top-level
/// `MessageType`), for requests without Apple's content type.
fn looks_like_checkin(body: &[u8], limits: &Limits) -> bool {
    mdmkit::apple::plist_io::read_dict(body, limits)
        .is_ok_and(|(d, _)| d.contains_key("MessageType") && !d.contains_key("Status"))
}

/// The node an enrollment token puts a device under.
async fn enroll_node(
    ctx: &TenantContext,
    token: Option<&str>,
) -> Result<Option<NodeId>, RequestError> {
    let Some(bearer) = token else {
        return Ok(None);
    };
    let bad = || RequestError::Invalid("enrollment token unknown or revoked".into());
    let (id, secret) = mdmkit::access::parse_bearer(bearer).ok_or_else(bad)?;
    let t = ctx
        .reconciler()
        .state()
        .token(ctx.id(), id)
        .await?
        .ok_or_else(bad)?;
    if !t.verify_secret(secret) {
        return Err(bad());
    }
    Ok(Some(t.node))
}

/// The plist limits for device messages: the body limit and Apple's
/// default depth and size bounds.
pub(crate) fn limits(app: &AppState) -> Limits {
    Limits::DEFAULT.with_max_bytes(app.config().body_limit)
}

/// A dictionary as plist bytes.
pub(crate) fn dict_bytes(d: Dictionary, format: Format) -> Vec<u8> {
    mdmkit::apple::plist_io::write(&Value::Dictionary(d), format)
}

//! The admin API's handlers: decode, authorise, call the facade, encode.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use mdmkit::access::Role;
use serde::Deserialize;
use serde_json::json;

use super::auth::authorize;
use super::ops::{self, parse_device};
use crate::error::RequestError;
use crate::state::AppState;

type Answer = Result<Response, RequestError>;

/// A node and its answer for it, written straight to JSON text (a
/// node's device list of a large school is tens of megabytes: no
/// intermediate `Value` tree).
#[derive(serde::Serialize)]
struct ForNode<'a, T: serde::Serialize> {
    node: &'a mdmkit::policy::NodeId,
    #[serde(flatten)]
    answer: T,
}

/// The query string, read after the token was checked (a caller without
/// a token learns nothing, not even that a parameter is wrong).
fn query<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, RequestError> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(q)| q)
        .map_err(|e| RequestError::BadAdminRequest(format!("query: {}", e.body_text())))
}

/// `v` as a JSON answer, serialised once into the body.
fn to_json(v: impl serde::Serialize) -> Answer {
    let body = serde_json::to_vec(&v).map_err(RequestError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET whoami`.
pub(crate) async fn whoami(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Read).await?;
    to_json(json!({
        "tenant": a.ctx.id(),
        "token": a.token.id,
        "node": a.token.node,
        "role": a.token.role,
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct NodeQuery {
    node: Option<String>,
}

/// `GET devices[?node=N]`.
pub(crate) async fn devices(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Read).await?;
    let q: NodeQuery = query(&uri)?;
    let (node, status) = ops::devices(&a, q.node.as_deref()).await?;
    #[derive(serde::Serialize)]
    struct Devices<'a> {
        devices: &'a [mdmkit::reconcile::DeviceStatus],
    }
    to_json(ForNode {
        node: &node,
        answer: Devices { devices: &status },
    })
}

/// `GET nodes[?node=N]`: N (default: the token's node) and every node
/// below it, with device counts by platform and by compliance.
pub(crate) async fn nodes(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Read).await?;
    let q: NodeQuery = query(&uri)?;
    let (node, nodes) = ops::summary(&a, q.node.as_deref()).await?;
    #[derive(serde::Serialize)]
    struct Nodes<'a> {
        nodes: &'a [mdmkit::reconcile::NodeSummary],
    }
    to_json(ForNode {
        node: &node,
        answer: Nodes { nodes: &nodes },
    })
}

/// `GET devices/{device}`.
pub(crate) async fn device(
    State(app): State<AppState>,
    Path((tenant, device)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Read).await?;
    let id = parse_device(&device)?;
    let view = ops::device(&a, &id).await?;
    let enrollment = view.enrollment.map(|e| {
        json!({
            "status": e.status,
            "node": e.node,
            "serial": e.serial,
            "model": e.model,
            "model_name": e.model_name,
            "product": e.product,
            "os_version": e.os_version,
            "build_version": e.build_version,
            "device_name": e.device_name,
            "supervised": e.supervised,
            "certificate_sha256": e.certificate.as_ref().map(|c| c.sha256.clone()),
            "certificate_not_after": e.certificate.as_ref().map(|c| c.not_after.as_millis()),
            "push": e.push.is_some(),
            "enrolled_at": e.enrolled_at.as_millis(),
            "last_seen": e.last_seen.as_millis(),
        })
    });
    to_json(json!({ "device": view.device, "status": view.status, "enrollment": enrollment }))
}

/// `GET devices/{device}/effective`.
pub(crate) async fn effective(
    State(app): State<AppState>,
    Path((tenant, device)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Read).await?;
    let id = parse_device(&device)?;
    let (tree, _) = ops::scoped_device(&a, &id).await?;
    let mut eff = tree.effective(&id).map_err(RequestError::internal)?;
    // Never a secret in clear over the API (references are shown).
    eff.redact_secrets();
    to_json(eff.to_json_explained())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandRequest {
    kind: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    pin: Option<String>,
}

/// `POST devices/{device}/commands`.
pub(crate) async fn enqueue(
    State(app): State<AppState>,
    Path((tenant, device)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Operate).await?;
    let req: CommandRequest = serde_json::from_slice(&body)
        .map_err(|e| RequestError::BadAdminRequest(format!("command: {e}")))?;
    let id = parse_device(&device)?;
    let cmd = ops::CommandRequest {
        kind: req.kind,
        message: req.message,
        phone_number: req.phone_number,
        pin: req.pin,
    };
    let q = ops::enqueue(&a, &id, &cmd).await?;
    to_json(json!({ "id": q.id, "kind": cmd.kind, "device": id, "wake": q.wake }))
}

/// `POST devices/{device}/resend`: the device's whole policy again.
pub(crate) async fn resend(
    State(app): State<AppState>,
    Path((tenant, device)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Operate).await?;
    let id = parse_device(&device)?;
    let plan = ops::resend(&a, &id).await?;
    to_json(plan)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReconcileRequest {
    #[serde(default)]
    node: Option<String>,
}

/// `POST reconcile`.
pub(crate) async fn reconcile(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Operate).await?;
    let req: ReconcileRequest = if body.is_empty() {
        ReconcileRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| RequestError::BadAdminRequest(format!("reconcile: {e}")))?
    };
    let (_, plan) = ops::reconcile(&a, req.node.as_deref()).await?;
    to_json(plan)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChallengeRequest {
    node: Option<String>,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    ttl_seconds: Option<u64>,
    #[serde(default)]
    reusable: bool,
}

/// The longest a challenge made through the API may live (30 days).
const MAX_CHALLENGE_TTL: u64 = 30 * 86_400;

/// `POST enroll/challenges`: a one-time enrollment challenge for a node.
pub(crate) async fn create_challenge(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    use mdmkit::challenge::{self, ChallengeOptions};
    use mdmkit::queue::{Clock as _, SystemClock};
    let a = authorize(&app, &tenant, &headers, Role::Operate).await?;
    let req: ChallengeRequest = if body.is_empty() {
        ChallengeRequest {
            node: None,
            device: None,
            label: None,
            ttl_seconds: None,
            reusable: false,
        }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| RequestError::BadAdminRequest(format!("challenge: {e}")))?
    };
    let tree = a.ctx.tree();
    let node = a.node(&tree, req.node.as_deref())?;
    let mut options = ChallengeOptions::default();
    if let Some(ttl) = req.ttl_seconds {
        if ttl == 0 || ttl > MAX_CHALLENGE_TTL {
            return Err(RequestError::BadAdminRequest(format!(
                "ttl_seconds must be between 1 and {MAX_CHALLENGE_TTL}"
            )));
        }
        options = options.with_ttl(std::time::Duration::from_secs(ttl));
    }
    if let Some(d) = req.device {
        options = options.for_device(d);
    }
    if let Some(l) = req.label {
        options = options.with_label(l);
    }
    if req.reusable {
        options = options.reusable();
    }
    let issued = challenge::issue(a.ctx.id().clone(), node.clone(), options, SystemClock.now());
    a.record(
        format!("create enrollment challenge {}", issued.challenge.id),
        node.to_string(),
    )
    .await?;
    a.ctx
        .reconciler()
        .state()
        .put_challenge(&issued.challenge)
        .await?;
    let c = &issued.challenge;
    to_json(json!({
        "challenge": issued.secret,
        "id": c.id,
        "node": c.node,
        "device": c.device,
        "reusable": c.reusable,
        "expires_at": c.expires_at.as_millis(),
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET audit`.
pub(crate) async fn audit(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Read).await?;
    let q: AuditQuery = query(&uri)?;
    let entries = ops::audit(&a, q.node.as_deref(), q.after, q.limit.unwrap_or(100)).await?;
    to_json(json!({ "entries": entries }))
}

/// `GET push/certificate`: the push certificate (never its key), its
/// expiry and alert, and a summary of pushes.
pub(crate) async fn push_status(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Read).await?;
    let s = crate::push::status(a.ctx.reconciler().state().as_ref(), a.ctx.id()).await?;
    to_json(s)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PushCertificateRequest {
    certificate: String,
    key: String,
    #[serde(default)]
    force: bool,
}

/// `PUT push/certificate`: replaces the tenant's push certificate (author
/// role at the root: it reaches every device of the tenant).
pub(crate) async fn put_push_certificate(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    use crate::push::UploadError;
    let a = authorize(&app, &tenant, &headers, Role::Author).await?;
    let tree = a.ctx.tree();
    if a.token.node != *tree.root().id() {
        return Err(RequestError::Forbidden(
            "the push certificate serves the whole tenant: a token at the root is needed".into(),
        ));
    }
    let req: PushCertificateRequest = serde_json::from_slice(&body)
        .map_err(|e| RequestError::BadAdminRequest(format!("push certificate: {e}")))?;
    let by = format!("token:{}", a.token.id);
    // Journaled before it is carried out, as every admin change: by the
    // SHA-256 of the certificate (its key never reaches the journal).
    let cert = mdmkit::apple::apns::certificate::PushCertificate::from_pem(
        req.certificate.as_bytes(),
        req.key.as_bytes(),
    )
    .map_err(|e| RequestError::BadAdminRequest(e.to_string()))?;
    a.record("set push certificate".into(), cert.sha256().to_owned())
        .await?;
    let done = crate::push::set_certificate(
        a.ctx.reconciler().state().as_ref(),
        a.ctx.id(),
        &req.certificate,
        &req.key,
        req.force,
        &by,
    )
    .await
    .map_err(|e| match e {
        UploadError::Store(e) => RequestError::from_facade(e),
        e @ UploadError::TopicChange { .. } => RequestError::Conflict(e.to_string()),
        other => RequestError::BadAdminRequest(other.to_string()),
    })?;
    to_json(done)
}

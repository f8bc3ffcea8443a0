//! The admin API's handlers: decode, authorise, call the facade, encode.

use std::io::BufRead as _;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use mdmkit::access::Role;
use mdmkit::apple::command::everyday;
use mdmkit::apple::{CommandUuid, Format};
use mdmkit::policy::{Device, NodeId, Tenant};
use mdmkit::queue::{CommandId, EnrollmentId, NewCommand};
use mdmkit::{DeviceId, Platform, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Admin, authorize};
use crate::error::RequestError;
use crate::state::AppState;

type Answer = Result<Json<Value>, RequestError>;

fn parse_device(s: &str) -> Result<DeviceId, RequestError> {
    DeviceId::new(s).map_err(|e| RequestError::BadAdminRequest(format!("device {s:?}: {e}")))
}

/// The query string, read after the token was checked (a caller without
/// a token learns nothing, not even that a parameter is wrong).
fn query<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, RequestError> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(q)| q)
        .map_err(|e| RequestError::BadAdminRequest(format!("query: {}", e.body_text())))
}

fn to_json(v: impl serde::Serialize) -> Answer {
    serde_json::to_value(v)
        .map(Json)
        .map_err(RequestError::internal)
}

/// `GET whoami`.
pub(crate) async fn whoami(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Read).await?;
    Ok(Json(json!({
        "tenant": a.ctx.id(),
        "token": a.token.id,
        "node": a.token.node,
        "role": a.token.role,
    })))
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
    let tree = a.ctx.tree();
    let node = a.node(&tree, q.node.as_deref())?;
    let status = a.ctx.reconciler().status(&tree, &node).await?;
    to_json(json!({ "node": node, "devices": status }))
}

/// Finds a device in the token's scope; returns it with the tree and
/// inventory it was found in.
async fn scoped_device(
    a: &Admin,
    device: &DeviceId,
) -> Result<(Arc<Tenant>, Device), RequestError> {
    let tree = a.ctx.tree_with_inventory().await?;
    let d = tree
        .device(device)
        .filter(|d| a.covers(&tree, &d.node))
        .cloned()
        .ok_or_else(|| RequestError::NotFound(format!("device {device}")))?;
    Ok((tree, d))
}

/// `GET devices/{device}`.
pub(crate) async fn device(
    State(app): State<AppState>,
    Path((tenant, device)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Read).await?;
    let id = parse_device(&device)?;
    let (tree, d) = scoped_device(&a, &id).await?;
    let r = a.ctx.reconciler();
    let status = r
        .status(&tree, &d.node)
        .await?
        .into_iter()
        .find(|s| s.device == id);
    let enrollment = r.state().enrollment(a.ctx.id(), &id).await?.map(|e| {
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
    to_json(json!({ "device": d, "status": status, "enrollment": enrollment }))
}

/// `GET devices/{device}/effective`.
pub(crate) async fn effective(
    State(app): State<AppState>,
    Path((tenant, device)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Read).await?;
    let id = parse_device(&device)?;
    let (tree, _) = scoped_device(&a, &id).await?;
    let eff = tree.effective(&id).map_err(RequestError::internal)?;
    Ok(Json(eff.to_json_explained()))
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

/// The commands an operator may queue, by kind.
pub(crate) const COMMAND_KINDS: &[&str] = &[
    "DeviceLock",
    "EraseDevice",
    "RestartDevice",
    "ShutDownDevice",
    "DeviceInformation",
    "ProfileList",
    "SecurityInfo",
    "InstalledApplicationList",
];

fn apple_command(req: &CommandRequest) -> Result<mdmkit::apple::Command, RequestError> {
    Ok(match req.kind.as_str() {
        "DeviceLock" => everyday::device_lock(req.message.clone(), req.phone_number.clone()),
        "EraseDevice" => everyday::erase_device(req.pin.clone()),
        "RestartDevice" => everyday::restart_device(),
        "ShutDownDevice" => everyday::shut_down_device(),
        "DeviceInformation" => everyday::device_information([
            "UDID",
            "DeviceName",
            "OSVersion",
            "BuildVersion",
            "ModelName",
            "Model",
            "ProductName",
            "SerialNumber",
            "IsSupervised",
        ]),
        "ProfileList" => everyday::profile_list(),
        "SecurityInfo" => everyday::security_info(),
        "InstalledApplicationList" => everyday::installed_application_list(),
        other => {
            return Err(RequestError::BadAdminRequest(format!(
                "unknown command kind {other:?}; one of {}",
                COMMAND_KINDS.join(", ")
            )));
        }
    })
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
    let (_, d) = scoped_device(&a, &id).await?;
    if d.platform != Platform::Apple {
        return Err(RequestError::BadAdminRequest(format!(
            "commands for {} devices are not offered by this API yet",
            d.platform
        )));
    }
    let mut cmd = apple_command(&req)?;
    let cid = CommandId::new();
    cmd.uuid = CommandUuid::new(cid.as_uuid().to_string()).map_err(RequestError::internal)?;
    let new = NewCommand::new(req.kind.clone(), cmd.to_bytes(Format::Xml)).with_id(cid);
    a.record(format!("enqueue {}", req.kind), id.to_string())
        .await?;
    let enq = a
        .ctx
        .reconciler()
        .queue()
        .enqueue(a.ctx.id(), &new, &[EnrollmentId::device(id.clone())])
        .await
        .map_err(|e| RequestError::from_facade(e.into()))?;
    tracing::info!(device = %id, kind = %req.kind, command = %cid, "admin command queued");
    if !enq.wake.is_empty() {
        crate::push::spawn_wake(a.ctx.clone(), vec![id.clone()]);
    }
    to_json(json!({ "id": cid, "kind": req.kind, "device": id, "wake": !enq.wake.is_empty() }))
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
    let tree = a.ctx.reload()?;
    let node = a.node(&tree, req.node.as_deref())?;
    a.record("reconcile".into(), node.to_string()).await?;
    let scope = if node == *tree.root().id() {
        Scope::All
    } else {
        Scope::Node(node)
    };
    let plan = a.ctx.reconciler().reconcile(&tree, &scope).await?;
    crate::push::spawn_wake(a.ctx.clone(), plan.wake.clone());
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
    limit: Option<usize>,
}

/// The most entries one audit call returns.
const MAX_AUDIT: usize = 1000;

/// `GET audit`.
pub(crate) async fn audit(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    let a = authorize(&app, &tenant, &headers, Role::Read).await?;
    let q: AuditQuery = query(&uri)?;
    let Some(path) = a.ctx.journal_path().map(std::path::Path::to_path_buf) else {
        return to_json(json!({ "entries": [] }));
    };
    let tree = a.ctx.tree_with_inventory().await?;
    let root = a.token.node == *tree.root().id();
    let limit = q.limit.unwrap_or(100).min(MAX_AUDIT);
    let after = q.after;
    let token_node = a.token.node.clone();
    let entries = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<Value>> {
        let file = std::fs::File::open(&path)?;
        let mut out = Vec::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v.get("seq").and_then(Value::as_u64).unwrap_or(0) <= after {
                continue;
            }
            if out.len() >= limit {
                break;
            }
            if root || in_scope(&v, &tree, &token_node) {
                out.push(v);
            }
        }
        Ok(out)
    })
    .await
    .map_err(RequestError::internal)?
    .map_err(RequestError::internal)?;
    to_json(json!({ "entries": entries }))
}

/// Whether a journal entry concerns the token's scope: an event about a
/// device under its node, or an admin action by a token at or below its
/// node or on a device or node under it (a school sees the region's lock
/// of its own iPad).
fn in_scope(v: &Value, tree: &Tenant, scope: &NodeId) -> bool {
    let event = v.get("event");
    let text = |k: &str| event.and_then(|e| e.get(k)).and_then(Value::as_str);
    let device_in_scope = |d: &str| {
        DeviceId::new(d).ok().is_some_and(|d| {
            tree.device(&d)
                .is_some_and(|d| mdmkit::access::covers(tree, scope, &d.node))
        })
    };
    let node_in_scope = |n: &str| {
        n.parse::<NodeId>()
            .is_ok_and(|n| mdmkit::access::covers(tree, scope, &n))
    };
    if text("type") == Some("admin_action") {
        return text("node").is_some_and(node_in_scope)
            || text("target").is_some_and(|t| device_in_scope(t) || node_in_scope(t));
    }
    text("device").is_some_and(device_in_scope)
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

//! What an admin may do, once: the operations behind the admin API's
//! handlers and the console's pages. Each takes an authorised [`Admin`]
//! (a bearer token, or a console session of one) and calls the facade;
//! scope checks and journaling happen here, so both clients get the same
//! answers from the same store calls.

use std::sync::Arc;

use mdmkit::apple::command::everyday;
use mdmkit::apple::{CommandUuid, Format};
use mdmkit::inventory::Enrollment;
use mdmkit::policy::{Device, NodeId, Tenant};
use mdmkit::queue::{CommandId, EnrollmentId, HistoryEvent, NewCommand, QueueEntry};
use mdmkit::reconcile::{DeviceStatus, NodeSummary};
use mdmkit::{DeviceId, Plan, Platform, Scope};
use serde_json::Value;

use super::auth::Admin;
use crate::error::RequestError;

/// The commands an operator may queue, by kind.
pub const COMMAND_KINDS: &[&str] = &[
    "DeviceLock",
    "EraseDevice",
    "RestartDevice",
    "ShutDownDevice",
    "DeviceInformation",
    "ProfileList",
    "SecurityInfo",
    "InstalledApplicationList",
];

/// A command to queue for one device.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommandRequest {
    pub(crate) kind: String,
    pub(crate) message: Option<String>,
    pub(crate) phone_number: Option<String>,
    pub(crate) pin: Option<String>,
}

/// A command queued by an admin.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub(crate) id: CommandId,
    pub(crate) wake: bool,
}

/// One device as an admin sees it.
#[derive(Debug)]
pub(crate) struct DeviceView {
    pub(crate) tree: Arc<Tenant>,
    pub(crate) device: Device,
    pub(crate) status: Option<DeviceStatus>,
    pub(crate) enrollment: Option<Enrollment>,
}

pub(crate) fn parse_device(s: &str) -> Result<DeviceId, RequestError> {
    DeviceId::new(s).map_err(|e| RequestError::BadAdminRequest(format!("device {s:?}: {e}")))
}

/// Finds a device in the admin's scope; returns it with the tree and
/// inventory it was found in. Out of scope is a 404, like unknown.
pub(crate) async fn scoped_device(
    a: &Admin,
    device: &DeviceId,
) -> Result<(Arc<Tenant>, Device), RequestError> {
    let tree = Arc::new(a.ctx.tree_of(std::slice::from_ref(device)).await?);
    let d = tree
        .device(device)
        .filter(|d| a.covers(&tree, &d.node))
        .cloned()
        .ok_or_else(|| RequestError::NotFound(format!("device {device}")))?;
    Ok((tree, d))
}

/// The node named (default: the admin's own) and every node below it,
/// counted by platform and compliance.
pub(crate) async fn summary(
    a: &Admin,
    node: Option<&str>,
) -> Result<(NodeId, Vec<NodeSummary>), RequestError> {
    let tree = a.ctx.tree();
    let node = a.node(&tree, node)?;
    let nodes = a.ctx.reconciler().node_summaries(&tree, &node).await?;
    Ok((node, nodes))
}

/// The devices at a node (default: the admin's own) and below.
pub(crate) async fn devices(
    a: &Admin,
    node: Option<&str>,
) -> Result<(NodeId, Vec<DeviceStatus>), RequestError> {
    let tree = a.ctx.tree();
    let node = a.node(&tree, node)?;
    let status = a.ctx.reconciler().status(&tree, &node).await?;
    Ok((node, status))
}

/// One device: where it stands and its enrollment.
pub(crate) async fn device(a: &Admin, id: &DeviceId) -> Result<DeviceView, RequestError> {
    let (tree, d) = scoped_device(a, id).await?;
    let r = a.ctx.reconciler();
    let status = r.device_status(&tree, id).await?;
    let enrollment = r.state().enrollment(a.ctx.id(), id).await?;
    Ok(DeviceView {
        tree,
        device: d,
        status,
        enrollment,
    })
}

/// A device's queue and the transitions of its commands, oldest first.
pub(crate) async fn command_history(
    a: &Admin,
    id: &DeviceId,
) -> Result<(Vec<QueueEntry>, Vec<HistoryEvent>), RequestError> {
    scoped_device(a, id).await?;
    let q = a.ctx.reconciler().queue();
    let e = EnrollmentId::device(id.clone());
    let list = q
        .list(a.ctx.id(), &e)
        .await
        .map_err(|e| RequestError::from_facade(e.into()))?;
    let history = q
        .history(a.ctx.id(), &e, None)
        .await
        .map_err(|e| RequestError::from_facade(e.into()))?;
    Ok((list, history))
}

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

/// The commands an operator may queue for an Android device: the same
/// kinds as Apple's, issued through Google (`devices.issueCommand`).
pub const ANDROID_COMMAND_KINDS: &[&str] = &["DeviceLock", "RestartDevice"];

/// An Android command's queued payload: the AMAPI `Command` JSON that
/// delivery issues ([`crate::android::deliver`]).
fn android_command(req: &CommandRequest) -> Result<Vec<u8>, RequestError> {
    let cmd = match req.kind.as_str() {
        "DeviceLock" => mdmkit::android::command::DeviceCommand::lock(),
        "RestartDevice" => mdmkit::android::command::DeviceCommand::reboot(),
        other => {
            return Err(RequestError::BadAdminRequest(format!(
                "command kind {other:?} is not offered for Android devices; one of {}",
                ANDROID_COMMAND_KINDS.join(", ")
            )));
        }
    };
    cmd.to_json(None).map_err(RequestError::internal)
}

/// Queues a command for one device of the admin's scope, journaled first.
pub(crate) async fn enqueue(
    a: &Admin,
    id: &DeviceId,
    req: &CommandRequest,
) -> Result<Queued, RequestError> {
    let (_, d) = scoped_device(a, id).await?;
    let cid = CommandId::new();
    let payload = match d.platform {
        Platform::Apple => {
            let mut cmd = apple_command(req)?;
            cmd.uuid =
                CommandUuid::new(cid.as_uuid().to_string()).map_err(RequestError::internal)?;
            cmd.to_bytes(Format::Xml)
        }
        Platform::Android => android_command(req)?,
        other => {
            return Err(RequestError::BadAdminRequest(format!(
                "commands for {other} devices are not offered by this API yet"
            )));
        }
    };
    let new = NewCommand::new(req.kind.clone(), payload).with_id(cid);
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
    if d.platform == Platform::Android && a.ctx.android().is_some() {
        // Google delivers it: issue it now rather than at the next drain.
        let ctx = a.ctx.clone();
        let device = id.clone();
        tokio::spawn(async move {
            if let Some(android) = ctx.android()
                && let Err(e) = crate::android::drain_device(&ctx, android, &device).await
            {
                tracing::warn!(%device, error = %e, "android delivery");
            }
        });
    }
    if !enq.wake.is_empty() {
        crate::push::spawn_wake(a.ctx.clone(), vec![id.clone()]);
    }
    Ok(Queued {
        id: cid,
        wake: !enq.wake.is_empty(),
    })
}

/// Plans and queues the changes at a node (default: the admin's own) and
/// below, after reloading the tree; journaled first.
pub(crate) async fn reconcile(
    a: &Admin,
    node: Option<&str>,
) -> Result<(NodeId, Plan), RequestError> {
    let tree = a.ctx.reload()?;
    let node = a.node(&tree, node)?;
    a.record("reconcile".into(), node.to_string()).await?;
    let scope = if node == *tree.root().id() {
        Scope::All
    } else {
        Scope::Node(node.clone())
    };
    let plan = a.ctx.reconciler().reconcile(&tree, &scope).await?;
    crate::push::spawn_wake(a.ctx.clone(), plan.wake.clone());
    Ok((node, plan))
}

/// Sends one device's whole policy again; journaled first.
pub(crate) async fn resend(a: &Admin, id: &DeviceId) -> Result<Plan, RequestError> {
    scoped_device(a, id).await?;
    a.record("resend policy".into(), id.to_string()).await?;
    let tree = a.ctx.tree();
    let plan = a.ctx.reconciler().resend(&tree, id).await?;
    crate::push::spawn_wake(a.ctx.clone(), plan.wake.clone());
    Ok(plan)
}

/// The most entries one audit read returns.
pub(crate) const MAX_AUDIT: usize = 1000;

/// Lines read per page of the journal.
const AUDIT_PAGE: usize = 2000;

/// Journal entries after `after` about `node` (default: the admin's own
/// node), at most `limit`, oldest first.
pub(crate) async fn audit(
    a: &Admin,
    node: Option<&str>,
    after: u64,
    limit: usize,
) -> Result<Vec<Value>, RequestError> {
    let Some(reader) = a.ctx.journal_reader() else {
        return Ok(Vec::new());
    };
    let (tree, scope, everything) = audit_scope(a, node).await?;
    let limit = limit.min(MAX_AUDIT);
    let mut out = Vec::new();
    let mut cursor = after;
    while out.len() < limit {
        let page = reader
            .page(cursor, AUDIT_PAGE)
            .await
            .map_err(RequestError::internal)?;
        let done = page.len() < AUDIT_PAGE;
        for (seq, line) in page {
            cursor = cursor.max(seq);
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if out.len() < limit && (everything || in_scope(&v, &tree, &scope)) {
                out.push(v);
            }
        }
        if done {
            break;
        }
    }
    Ok(out)
}

/// The newest `limit` journal entries about `node` (default: the admin's
/// own node), newest first: a node's activity.
pub(crate) async fn audit_newest(
    a: &Admin,
    node: Option<&str>,
    limit: usize,
) -> Result<Vec<Value>, RequestError> {
    let Some(reader) = a.ctx.journal_reader() else {
        return Ok(Vec::new());
    };
    let (tree, scope, everything) = audit_scope(a, node).await?;
    let limit = limit.clamp(1, MAX_AUDIT);
    let mut out = std::collections::VecDeque::with_capacity(limit);
    let mut cursor = 0;
    loop {
        let page = reader
            .page(cursor, AUDIT_PAGE)
            .await
            .map_err(RequestError::internal)?;
        let done = page.len() < AUDIT_PAGE;
        for (seq, line) in page {
            cursor = cursor.max(seq);
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if everything || in_scope(&v, &tree, &scope) {
                if out.len() == limit {
                    out.pop_front();
                }
                out.push_back(v);
            }
        }
        if done {
            break;
        }
    }
    Ok(out.into_iter().rev().collect())
}

/// Whether a journal entry concerns `scope`: an event about a device under
/// it, or an admin action by a token at or below it or on a device or node
/// under it (a school sees the region's lock of its own iPad).
/// The tree an audit read filters with, its node, and whether that node is
/// the root (then nothing is filtered and no inventory is read; otherwise
/// only the node's own, [`mdmkit::Reconciler::with_inventory_under`]).
async fn audit_scope(
    a: &Admin,
    node: Option<&str>,
) -> Result<(Arc<Tenant>, NodeId, bool), RequestError> {
    let tree = a.ctx.tree();
    let scope = a.node(&tree, node)?;
    if scope == *tree.root().id() {
        return Ok((tree, scope, true));
    }
    let under = a
        .ctx
        .reconciler()
        .with_inventory_under(&tree, &scope)
        .await?
        .into_owned();
    Ok((Arc::new(under), scope, false))
}

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

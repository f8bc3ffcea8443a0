//! The OMA-DM management endpoint: one device message in, the server's
//! message out, the session kept in the store in between.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use mdmkit::inventory::Enrollment;
use mdmkit::queue::{Clock as _, SystemClock};
use mdmkit::reconcile::DeviceSaid;
use mdmkit::windows::session::{MatchedResults, QueuedCommand, SessionConfig};
use mdmkit::windows::syncml::{Command, Item, ItemCommand, Limits, SyncMl};
use mdmkit::{Answer, DeviceId, Platform};

use super::session::{self, MAX_PENDING};
use super::{SYNCML_CONTENT_TYPE, answer};
use crate::error::RequestError;
use crate::identity::{self, binding};
use crate::state::AppState;
use crate::tenant::TenantContext;

/// The queue reference of the inventory reads the server adds itself.
const INVENTORY_REF: &str = "inventory";

/// The nodes read into the device's inventory at its first session.
const INVENTORY_NODES: &[&str] = &[
    "./DevDetail/SwV",
    "./DevDetail/Ext/Microsoft/DeviceName",
    "./DevDetail/Ext/Microsoft/SMBIOSSerialNumber",
];

/// How stale `last_seen` may get before a session writes it.
const LAST_SEEN_EVERY_MS: i64 = 60_000;

/// The queue reference of the DMClient Push commands (WNS channel).
const WNS_REF: &str = "wns";

/// `POST /{tenant}/windows/ManagementServer/MDM.svc`.
pub(super) async fn endpoint(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    req: Request<Body>,
) -> Result<Response, RequestError> {
    let ctx = app.tenant(&tenant)?;
    let Some(service) = ctx.windows() else {
        return Err(RequestError::NotFound(format!(
            "Windows management is not served for tenant {tenant}"
        )));
    };
    let (parts, body) = req.into_parts();
    let body = crate::body::read(&parts.headers, body, app.config().body_limit).await?;
    let mut limits = Limits::default();
    limits.max_bytes = app.config().body_limit;
    let incoming = SyncMl::read_with(&body, &limits)
        .map_err(|e| RequestError::Invalid(format!("SyncML: {e}")))?;
    let source = incoming.header.source.loc_uri.as_str();
    let span = tracing::Span::current();
    span.record("device", source);
    span.record("message", "SyncML");
    let device =
        DeviceId::new(source).map_err(|e| RequestError::Invalid(format!("SyncHdr/Source: {e}")))?;
    let config = SessionConfig::new(incoming.header.target.loc_uri.as_str())
        .with_max_msg_size(service.max_msg_size);
    // The enrollment and the session are read side by side (two round
    // trips' time in one); the session is used only once the certificate
    // proved the device.
    let (enrollment, loaded) = tokio::join!(
        authenticate(&app, &ctx, &parts, &body, &device),
        session::load(&ctx, &device, &incoming, config)
    );
    let mut enrollment = enrollment?;
    let mut loaded = loaded?;
    let r = ctx.reconciler();
    // What the device said is taken in before anything is fetched, so
    // that recording its answers and fetching the reply's commands are one
    // queue call (and one compliance update). A message the session cannot
    // answer is refused here, before the queue hands anything out.
    let received = loaded
        .session
        .receive(&incoming)
        .map_err(|e| RequestError::Invalid(format!("OMA-DM session: {e}")))?;
    // A large object the last session left unfinished fails its command.
    let abandoned = loaded.abandoned.take();
    let mut room = 0;
    if incoming.final_ {
        if loaded.fresh && enrollment.serial.is_none() {
            for (i, uri) in INVENTORY_NODES.iter().enumerate() {
                loaded.pending.insert(
                    i,
                    QueuedCommand::new(
                        format!("{INVENTORY_REF}:{i}"),
                        Command::Get(ItemCommand::new("0", Item::target(*uri))),
                    ),
                );
            }
        }
        // The WNS channel the PC registered (DMClient Push CSP), read at
        // the start of every session so a renewed channel is picked up.
        if loaded.fresh
            && let Some(push) = ctx.push()
            && push.config().wns.is_some()
        {
            let at = loaded.pending.len().min(INVENTORY_NODES.len());
            let mut cmds = Vec::new();
            if let Some(pfn) = &push.config().wns_pfn {
                cmds.push(QueuedCommand::new(
                    format!("{WNS_REF}:pfn"),
                    Command::Replace(ItemCommand::new(
                        "0",
                        Item::target(mdmkit::windows::wns::pfn_node(&service.provider_id))
                            .with_data(pfn.clone()),
                    )),
                ));
            }
            cmds.push(QueuedCommand::new(
                format!("{WNS_REF}:channel"),
                Command::Get(ItemCommand::new(
                    "0",
                    Item::target(mdmkit::windows::wns::channel_uri_node(&service.provider_id)),
                )),
            ));
            for (i, c) in cmds.into_iter().enumerate() {
                loaded.pending.insert(at + i, c);
            }
        }
        room = MAX_PENDING.saturating_sub(loaded.pending.len());
    }
    // What the device said first, then what goes out: one queue call.
    let exchange = {
        let (statuses, failures);
        let said = match &abandoned {
            None => DeviceSaid::new(
                received.statuses(),
                received.results(),
                received.object_failures(),
            ),
            Some(a) => {
                statuses = [received.statuses(), &a.statuses].concat();
                failures = [received.object_failures(), std::slice::from_ref(&a.failure)].concat();
                DeviceSaid::new(&statuses, received.results(), &failures)
            }
        };
        r.windows_exchange(ctx.id(), &device, &said, room).await?
    };
    let (said_statuses, said_failures) =
        (received.statuses().len(), received.object_failures().len());
    loaded.pending.extend(exchange.commands);
    let reply = loaded.session.reply(received, &loaded.pending);
    // A session that ended with a large object unfinished fails it too
    // (rare: a chunk sent with `Final`).
    let (late_statuses, late_failures) = (
        reply.statuses.get(said_statuses..).unwrap_or_default(),
        reply
            .object_failures
            .get(said_failures..)
            .unwrap_or_default(),
    );
    if !late_statuses.is_empty() || !late_failures.is_empty() {
        r.windows_answers(ctx.id(), &device, late_statuses, &[], late_failures)
            .await?;
    }
    for f in reply
        .object_failures
        .iter()
        .chain(abandoned.as_ref().map(|a| &a.failure))
    {
        tracing::warn!(%device, cmd = f.cmd, uri = f.uri, error = %f.error, "large object from the device not taken");
    }
    for q in &reply.too_large {
        // Larger than a whole reply at this device's MaxMsgSize and not
        // splittable into a large object: recorded as failed with the
        // reason (retried by the reconciler), never silently dropped.
        if let Ok(u) = uuid::Uuid::parse_str(q.as_str()) {
            r.record_answer(
                ctx.id(),
                &device,
                mdmkit::queue::CommandId::from_uuid(u),
                &Answer::Error(
                    "larger than the device's MaxMsgSize allows, and not splittable".into(),
                ),
                None,
            )
            .await?;
        }
        tracing::warn!(%device, command = q.as_str(), "command larger than MaxMsgSize");
    }
    let mut changed = facts_from_devinfo(&mut enrollment, &reply.device_commands);
    changed |= facts_from_results(&mut enrollment, &reply.results);
    loaded
        .pending
        .retain(|q| !reply.sent.contains(&q.queue_ref) && !reply.too_large.contains(&q.queue_ref));
    session::save(&ctx, &device, &loaded).await?;
    let now = SystemClock.now();
    if changed || now.as_millis() - enrollment.last_seen.as_millis() >= LAST_SEEN_EVERY_MS {
        enrollment.last_seen = now;
        enrollment.updated_at = now;
        ctx.reconciler()
            .state()
            .put_enrollment(ctx.id(), &enrollment)
            .await?;
    }
    tracing::debug!(
        %device,
        sent = reply.sent.len(),
        statuses = reply.statuses.len(),
        complete = reply.session_complete,
        "OMA-DM message answered"
    );
    Ok(answer(
        StatusCode::OK,
        SYNCML_CONTENT_TYPE,
        reply.message.to_xml(),
    ))
}

/// The certificate of the request, verified against the tenant CA, naming
/// exactly `device` and bound to its Windows enrollment.
async fn authenticate(
    app: &AppState,
    ctx: &TenantContext,
    parts: &Parts,
    body: &[u8],
    device: &DeviceId,
) -> Result<Enrollment, RequestError> {
    let presented =
        identity::presented(parts, body, app.config())?.ok_or(RequestError::NoCertificate)?;
    tracing::Span::current().record("cert", presented.source.as_str());
    let id = ctx.verify(&presented)?;
    if &id.device_id != device {
        return Err(RequestError::Invalid(format!(
            "SyncHdr/Source {device} is not the device of the certificate ({})",
            id.device_id
        )));
    }
    let state = ctx.reconciler().state();
    let mut enrollment = state.enrollment(ctx.id(), device).await?;
    let sha256 = id.sha256.to_hex();
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
    let decision = binding::on_message(device, enrollment.as_ref(), holder.as_ref(), &id)?;
    let mut e = enrollment
        .take()
        .ok_or_else(|| RequestError::UnknownEnrollment(device.to_string()))?;
    if e.platform != Platform::Windows {
        return Err(RequestError::Invalid(format!(
            "{device} is enrolled as a {} device",
            e.platform
        )));
    }
    if decision == binding::Decision::Rebind {
        e.certificate = Some(binding::bound(&id));
        state.put_enrollment(ctx.id(), &e).await?;
        tracing::info!(%device, serial = %id.serial, "renewed certificate bound");
    }
    Ok(e)
}

/// Sets a fact from a node's value; whether it changed.
fn set(field: &mut Option<String>, value: Option<&str>) -> bool {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return false;
    };
    let v: String = v.chars().take(256).collect();
    if field.as_deref() == Some(v.as_str()) {
        return false;
    }
    *field = Some(v);
    true
}

/// Takes one node's value into the inventory facts.
fn take_fact(e: &mut Enrollment, item: &Item) -> bool {
    let Some(uri) = item.uri() else {
        return false;
    };
    let value = item.data.as_ref().map(|d| d.as_str());
    if mdmkit::windows::wns::is_channel_uri_node(uri.normalized().as_ref()) {
        // A channel URI carries a secret token: kept whole (they run to a
        // few hundred characters), never logged.
        let v = value
            .map(str::trim)
            .filter(|v| v.starts_with("http") && v.len() <= 2048)
            .map(str::to_owned);
        if v.is_some() && e.wns_channel != v {
            e.wns_channel = v;
            return true;
        }
        return false;
    }
    match uri
        .normalized()
        .trim_start_matches("./")
        .to_ascii_lowercase()
        .as_str()
    {
        "devinfo/mod" => set(&mut e.model, value),
        "devinfo/man" => set(&mut e.product, value),
        "devdetail/swv" => set(&mut e.os_version, value),
        "devdetail/ext/microsoft/devicename" => set(&mut e.device_name, value),
        "devdetail/ext/microsoft/smbiosserialnumber" => set(&mut e.serial, value),
        _ => false,
    }
}

/// The facts in the device's Replace of `./DevInfo`.
fn facts_from_devinfo(e: &mut Enrollment, commands: &[Command]) -> bool {
    let mut changed = false;
    for c in commands {
        if let Command::Replace(_) = c {
            for it in c.items() {
                changed |= take_fact(e, it);
            }
        }
    }
    changed
}

/// The facts in the results of `Get`s of `./DevDetail` and `./DevInfo`.
fn facts_from_results(e: &mut Enrollment, results: &[MatchedResults]) -> bool {
    let mut changed = false;
    for r in results {
        for it in &r.items {
            changed |= take_fact(e, it);
        }
    }
    changed
}

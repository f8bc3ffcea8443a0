//! An OMA-DM session kept in the state store between the device's
//! requests: the protocol state ([`SessionSnapshot`]) and the commands
//! fetched from the queue that have not gone out yet. Writes compare the
//! stored version, so two processes answering one session never both
//! write it.

use mdmkit::DeviceId;
use mdmkit::queue::{Clock as _, SystemClock};
use mdmkit::state::DeviceSession;
use mdmkit::windows::session::{
    Abandoned, QueuedCommand, ServerSession, SessionConfig, SessionSnapshot,
};
use mdmkit::windows::syncml::{Command, SyncHdr, SyncMl};
use serde::{Deserialize, Serialize};

use crate::error::RequestError;
use crate::tenant::TenantContext;

/// The most commands a session holds fetched from the queue and not sent
/// yet (more wait in the queue for the next message).
pub const MAX_PENDING: usize = 500;

/// What the store keeps.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Doc {
    snapshot: SessionSnapshot,
    pending: Vec<Pending>,
}

/// A command not sent yet: its queue reference and the command, as a
/// SyncML message carrying it alone (the codec's own format).
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    queue_ref: String,
    xml: String,
}

fn encode(q: &QueuedCommand) -> Pending {
    let msg = SyncMl {
        header: SyncHdr::new("0", "0", "device", "server"),
        commands: vec![q.command.clone()],
        final_: true,
    };
    Pending {
        queue_ref: q.queue_ref.as_str().to_owned(),
        xml: msg.to_xml(),
    }
}

fn decode(p: &Pending) -> Option<QueuedCommand> {
    let msg = SyncMl::read(p.xml.as_bytes()).ok()?;
    let cmd: Command = msg.commands.into_iter().next()?;
    Some(QueuedCommand::new(p.queue_ref.clone(), cmd))
}

/// A session as loaded for one device message.
pub(super) struct Loaded {
    /// The protocol state.
    pub(super) session: ServerSession,
    /// Commands fetched from the queue, not sent yet, in order.
    pub(super) pending: Vec<QueuedCommand>,
    /// Whether this message opened a new session.
    pub(super) fresh: bool,
    /// The large object the stored session was receiving when this
    /// message began another: the caller records its failure.
    pub(super) abandoned: Option<Abandoned>,
    version: Option<i64>,
}

/// The session this message belongs to: the stored one when it is the
/// same session (same `SessionID`, not ended, not a new `MsgID` 1), else a
/// new one that inherits the commands the last one did not send.
pub(super) async fn load(
    ctx: &TenantContext,
    device: &DeviceId,
    incoming: &SyncMl,
    config: SessionConfig,
) -> Result<Loaded, RequestError> {
    let stored = ctx.reconciler().state().session(ctx.id(), device).await?;
    let version = stored.as_ref().map(|s| s.version);
    let doc: Doc = match &stored {
        None => Doc::default(),
        Some(s) => serde_json::from_str(&s.state).unwrap_or_else(|e| {
            // Not the device's fault, and nothing to lose but this session.
            tracing::warn!(%device, error = %e, "stored OMA-DM session unreadable, starting anew");
            Doc::default()
        }),
    };
    let pending: Vec<QueuedCommand> = doc.pending.iter().filter_map(decode).collect();
    let h = &incoming.header;
    let same = doc.snapshot.session_id.as_deref() == Some(h.session_id.as_str())
        && !doc.snapshot.ended
        && h.msg_id.as_str().trim() != "1";
    let (session, abandoned) = if same {
        (ServerSession::restore(config, &doc.snapshot), None)
    } else {
        let abandoned =
            doc.snapshot.incoming.as_ref().and_then(|_| {
                ServerSession::restore(config.clone(), &doc.snapshot).abandon_incoming()
            });
        (ServerSession::new(config), abandoned)
    };
    Ok(Loaded {
        session,
        pending,
        fresh: !same,
        abandoned,
        version,
    })
}

/// Writes the session back; another process having written it since is
/// [`RequestError::Busy`] (the device sends again).
pub(super) async fn save(
    ctx: &TenantContext,
    device: &DeviceId,
    l: &Loaded,
) -> Result<(), RequestError> {
    let doc = Doc {
        snapshot: l.session.snapshot(),
        pending: l.pending.iter().map(encode).collect(),
    };
    let state = serde_json::to_string(&doc).map_err(RequestError::internal)?;
    let record = DeviceSession::new(
        device.clone(),
        l.version.map_or(1, |v| v + 1),
        SystemClock.now(),
        state,
    );
    let written = ctx
        .reconciler()
        .state()
        .put_session(ctx.id(), &record, l.version)
        .await?;
    if written {
        Ok(())
    } else {
        Err(RequestError::Busy(format!(
            "the OMA-DM session of {device} was answered elsewhere meanwhile"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdmkit::windows::syncml::{Item, ItemCommand};

    #[test]
    fn a_pending_command_survives_its_encoding() {
        let q = QueuedCommand::new(
            "3f0e",
            Command::Replace(ItemCommand::new(
                "7",
                Item::target("./Vendor/MSFT/X").with_data("<a & b>"),
            )),
        );
        let back = decode(&encode(&q)).unwrap_or_else(|| panic!("decodes"));
        assert_eq!(back, q);
    }
}

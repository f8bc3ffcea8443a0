//! The server side of an OMA-DM management session.
//!
//! A Windows device opens each session (Alert 1201, its login status in
//! Alert 1224, a Replace of `./DevInfo/*`) and the server answers every
//! message with:
//!
//! 1. a `Status` for the header (`MsgRef`, `CmdRef` 0, `Cmd` `SyncHdr`),
//! 2. a `Status` for each of the device's commands (`MsgRef`, `CmdRef`,
//!    `Cmd`; 400 for a command without `CmdID`),
//! 3. queued commands, in order, as many as fit the byte budget (the
//!    smaller of the configured size and the device's `MaxMsgSize`),
//! 4. `Final` once every queued command has gone out.
//!
//! When the device's message has no `Final` (it has more to say) the server
//! only answers statuses and asks for the next message with Alert 1222; when
//! the server's reply has no `Final` (commands left over) the device answers
//! with its statuses and the session continues. Statuses and results the
//! device sends back are matched to the queued commands by
//! (`MsgRef`, `CmdRef`), including commands nested in `Atomic` and
//! `Sequence`.
//!
//! Large objects go both ways (OMA DM 1.2 large object handling). A queued
//! `Add` or `Replace` whose value does not fit a reply is sent in chunks
//! with `MoreData`, the first declaring the whole `Size`. A value the device
//! sends in chunks (a `Results` item, or an item of its own `Add` /
//! `Replace`) is buffered chunk by chunk, each answered 213, and handed up
//! once, whole, with the held-back statuses of the `Get` it answers: one
//! [`MatchedResults`]. A total other than the declared `Size` (424), more
//! than [`SessionConfig::max_object_size`] (413), or an object cut short
//! (Alert 1225) is reported in [`Reply::object_failures`] with a
//! [`crate::LargeObjectError`]. Both objects in flight are part of the
//! [`SessionSnapshot`].
//!
//! Queued commands are this module's own input type, [`QueuedCommand`]: a
//! caller's reference (a queue row id) and a [`Command`]. The session
//! assigns the `CmdID`s.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

mod incoming;

pub use incoming::{Abandoned, DeferredStatus, IncomingObject, ObjectFailure};
use incoming::{Origin, Taken};

use crate::error::SessionError;
use crate::status::{AlertCode, StatusCode};
use crate::syncml::{
    Alert, CmdId, Command, Data, DataForm, Item, Location, Meta, MsgId, SessionId, Status, SyncHdr,
    SyncMl,
};

/// The caller's reference to a queued command (a queue row id, a UUID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct QueueRef(String);

impl QueueRef {
    /// Wraps a reference.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for QueueRef {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for QueueRef {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

/// A command waiting for the device: the caller's reference and the
/// command (its `CmdID`s are replaced when it is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedCommand {
    /// The caller's reference.
    pub queue_ref: QueueRef,
    /// The command.
    pub command: Command,
}

impl QueuedCommand {
    /// A queued command.
    pub fn new(queue_ref: impl Into<QueueRef>, command: Command) -> Self {
        Self {
            queue_ref: queue_ref.into(),
            command,
        }
    }
}

/// How the server side answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The server's URL, written as the reply's `Source`.
    pub server_uri: String,
    /// The largest reply in bytes (default 64 KiB); the device's
    /// `MaxMsgSize` lowers it.
    pub max_msg_size: usize,
    /// The status for the device's header (200; 212 once the device's
    /// `Cred` was checked and accepted).
    pub header_status: StatusCode,
    /// The largest value the device may send as a large object, in bytes
    /// (default 4 MiB): a larger one is refused with 413 and reported, so
    /// that a device cannot grow the server's memory or the stored session
    /// without bound.
    pub max_object_size: usize,
}

impl SessionConfig {
    /// The defaults for a server at `server_uri`.
    pub fn new(server_uri: impl Into<String>) -> Self {
        Self {
            server_uri: server_uri.into(),
            max_msg_size: 64 * 1024,
            header_status: StatusCode::OK,
            max_object_size: 4 * 1024 * 1024,
        }
    }

    /// Sets the largest value a device may send in chunks.
    pub fn with_max_object_size(mut self, bytes: usize) -> Self {
        self.max_object_size = bytes;
        self
    }

    /// Sets the byte budget of a reply.
    pub fn with_max_msg_size(mut self, n: usize) -> Self {
        self.max_msg_size = n;
        self
    }

    /// Sets the status answered for the device's header.
    pub fn with_header_status(mut self, code: StatusCode) -> Self {
        self.header_status = code;
        self
    }
}

/// A device's status for a command the server sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedStatus {
    /// The queued command it belongs to.
    pub queue_ref: QueueRef,
    /// The `CmdID` the command (or the nested command) was sent with.
    pub cmd_id: CmdId,
    /// The command name.
    pub cmd: String,
    /// Whether this is a command nested in an `Atomic` or `Sequence`.
    pub nested: bool,
    /// The status code.
    pub code: StatusCode,
    /// The status's items.
    pub items: Vec<Item>,
}

/// A device's results for a `Get` the server sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedResults {
    /// The queued command it belongs to.
    pub queue_ref: QueueRef,
    /// The `CmdID` the `Get` was sent with.
    pub cmd_id: CmdId,
    /// The values read.
    pub items: Vec<Item>,
}

/// The server's reply to one device message, and what the device's message
/// told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Reply {
    /// The reply to send.
    pub message: SyncMl,
    /// The queued commands in this reply, in order.
    pub sent: Vec<QueueRef>,
    /// Queued commands larger than an empty reply's budget: not sent.
    pub too_large: Vec<QueueRef>,
    /// The device's statuses for commands sent earlier.
    pub statuses: Vec<MatchedStatus>,
    /// The device's results for `Get`s sent earlier.
    pub results: Vec<MatchedResults>,
    /// The device's status for the server's last header, if sent.
    pub header_status: Option<StatusCode>,
    /// Statuses and results that refer to nothing this session sent.
    pub unmatched: Vec<Command>,
    /// The device's alerts (1201, 1224 login status, 1226 generic, 1222).
    pub alerts: Vec<Alert>,
    /// The device's other commands (the Replace of `./DevInfo/*`, ...).
    pub device_commands: Vec<Command>,
    /// Whether the reply ends the session: it has `Final` and no command
    /// but statuses, so the device will not answer.
    pub session_complete: bool,
    /// Large objects from the device that were refused or cut short (the
    /// device was answered 413, 424, or Alert 1225): a `Get` whose results
    /// are here has no complete value.
    pub object_failures: Vec<ObjectFailure>,
}

#[derive(Debug, Clone)]
struct Sent {
    queue_ref: QueueRef,
    cmd: String,
    nested: bool,
}

/// What a [`ServerSession`] remembers between two device messages, as
/// plain data: a server keeps it in its store so that a session survives a
/// restart, or continues on another process ([`ServerSession::snapshot`],
/// [`ServerSession::restore`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionSnapshot {
    /// The session's id, once the first message arrived.
    pub session_id: Option<String>,
    /// The `MsgID` of the server's next message.
    pub next_msg: u64,
    /// The device's `MsgID`s seen in this session, sorted.
    pub seen: Vec<String>,
    /// Every command sent in this session, by (`MsgID`, `CmdID`).
    pub sent: Vec<SentCommand>,
    /// The server's last `MsgID`.
    pub last_msg: Option<String>,
    /// Whether the session ended.
    pub ended: bool,
    /// The large object being sent, if one is.
    #[serde(default)]
    pub large_object: Option<LargeObject>,
    /// The large object being received, if one is.
    #[serde(default)]
    pub incoming: Option<IncomingObject>,
}

/// A device message taken in by [`ServerSession::receive`], waiting for
/// [`ServerSession::reply`] to choose the commands of the answer.
#[derive(Debug)]
pub struct Received {
    /// The reply so far: its header (the reply's `MsgID`, the device as
    /// target) and the statuses of the device's message.
    reply: Reply,
    counter: CmdCounter,
    floor: usize,
    final_: bool,
    budget: usize,
    continuation: bool,
}

impl Received {
    /// The device's statuses for the commands sent (those of a `Get`
    /// whose large result is still arriving are held back with it).
    pub fn statuses(&self) -> &[MatchedStatus] {
        &self.reply.statuses
    }

    /// The results of `Get`s sent (a large object once whole).
    pub fn results(&self) -> &[MatchedResults] {
        &self.reply.results
    }

    /// The large objects from the device that were refused or cut short.
    pub fn object_failures(&self) -> &[ObjectFailure] {
        &self.reply.object_failures
    }

    /// Whether the device has more to send (its message had no `Final`):
    /// the reply then carries no new command.
    pub fn has_more(&self) -> bool {
        !self.final_
    }
}

/// The `CmdID`s of one reply, from 1.
#[derive(Debug)]
struct CmdCounter(u64);

impl CmdCounter {
    fn next(&mut self) -> CmdId {
        let id = CmdId::from(self.0);
        self.0 += 1;
        id
    }
}

/// One command a session sent (a nested one has its own entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SentCommand {
    /// The server message's `MsgID`.
    pub msg_id: String,
    /// The command's `CmdID`.
    pub cmd_id: String,
    /// The caller's reference.
    pub queue_ref: String,
    /// The command name.
    pub cmd: String,
    /// Whether it is nested in an `Atomic` or `Sequence`.
    pub nested: bool,
}

/// The server side of one management session with one device.
#[derive(Debug, Clone)]
pub struct ServerSession {
    config: SessionConfig,
    session_id: Option<SessionId>,
    next_msg: u64,
    seen: HashSet<String>,
    sent: HashMap<(String, String), Sent>,
    sent_refs: HashSet<QueueRef>,
    last_msg: Option<MsgId>,
    ended: bool,
    large: Option<LargeObject>,
    incoming: Option<IncomingObject>,
}

/// A large object (a value split over several messages with `MoreData`)
/// being sent: which queued command, and how many bytes of its value went
/// out already.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LargeObject {
    /// The queued command whose value is being sent.
    pub queue_ref: String,
    /// Bytes of the value sent so far.
    pub offset: usize,
}

const FINAL: &str = "<Final/>";

impl ServerSession {
    /// A new session.
    pub fn new(config: SessionConfig) -> Self {
        Self {
            config,
            session_id: None,
            next_msg: 1,
            seen: HashSet::new(),
            sent: HashMap::new(),
            sent_refs: HashSet::new(),
            last_msg: None,
            ended: false,
            large: None,
            incoming: None,
        }
    }

    /// The session's id, once the first message arrived.
    pub fn session_id(&self) -> Option<&SessionId> {
        self.session_id.as_ref()
    }

    /// The session as plain data, to store between two device messages.
    pub fn snapshot(&self) -> SessionSnapshot {
        let mut seen: Vec<String> = self.seen.iter().cloned().collect();
        seen.sort();
        let mut sent: Vec<SentCommand> = self
            .sent
            .iter()
            .map(|((m, c), s)| SentCommand {
                msg_id: m.clone(),
                cmd_id: c.clone(),
                queue_ref: s.queue_ref.as_str().to_owned(),
                cmd: s.cmd.clone(),
                nested: s.nested,
            })
            .collect();
        sent.sort_by(|a, b| (&a.msg_id, &a.cmd_id).cmp(&(&b.msg_id, &b.cmd_id)));
        SessionSnapshot {
            session_id: self.session_id.as_ref().map(|s| s.as_str().to_owned()),
            next_msg: self.next_msg,
            seen,
            sent,
            last_msg: self.last_msg.as_ref().map(|m| m.as_str().to_owned()),
            ended: self.ended,
            large_object: self.large.clone(),
            incoming: self.incoming.clone(),
        }
    }

    /// The session a [`SessionSnapshot`] was taken of, answering with
    /// `config`.
    pub fn restore(config: SessionConfig, s: &SessionSnapshot) -> Self {
        let sent: HashMap<(String, String), Sent> = s
            .sent
            .iter()
            .map(|c| {
                (
                    (c.msg_id.clone(), c.cmd_id.clone()),
                    Sent {
                        queue_ref: QueueRef::new(c.queue_ref.clone()),
                        cmd: c.cmd.clone(),
                        nested: c.nested,
                    },
                )
            })
            .collect();
        let sent_refs = sent.values().map(|v| v.queue_ref.clone()).collect();
        Self {
            config,
            session_id: s.session_id.clone().map(SessionId::from),
            next_msg: s.next_msg.max(1),
            seen: s.seen.iter().cloned().collect(),
            sent,
            sent_refs,
            last_msg: s.last_msg.clone().map(MsgId::from),
            ended: s.ended,
            large: s.large_object.clone(),
            incoming: s.incoming.clone(),
        }
    }

    /// Whether the session ended (its last reply had `Final` and only
    /// statuses).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Whether the queued command went out in this session.
    pub fn has_sent(&self, queue_ref: &QueueRef) -> bool {
        self.sent_refs.contains(queue_ref)
    }

    /// Whether this session can answer `incoming` (what
    /// [`respond`](Self::respond) checks first): not ended, SyncML 1.2 and
    /// DM/1.2, its session, a message id not seen yet.
    pub fn check(&self, incoming: &SyncMl) -> Result<(), SessionError> {
        if self.ended {
            return Err(SessionError::Ended);
        }
        let h = &incoming.header;
        if h.ver_dtd.trim() != "1.2" || !h.ver_proto.trim().eq_ignore_ascii_case("DM/1.2") {
            return Err(SessionError::UnsupportedProtocol {
                ver_dtd: crate::error::cut(&h.ver_dtd),
                ver_proto: crate::error::cut(&h.ver_proto),
            });
        }
        if let Some(id) = &self.session_id
            && *id != h.session_id
        {
            return Err(SessionError::WrongSession {
                expected: id.as_str().to_owned(),
                found: crate::error::cut(h.session_id.as_str()),
            });
        }
        if self.seen.contains(h.msg_id.as_str()) {
            return Err(SessionError::RepeatedMessage {
                msg_id: crate::error::cut(h.msg_id.as_str()),
            });
        }
        Ok(())
    }

    /// Answers one device message. `queued` lists the device's pending
    /// commands in order; the ones already sent in this session are
    /// skipped. The same as [`receive`](Self::receive) then
    /// [`reply`](Self::reply).
    pub fn respond(
        &mut self,
        incoming: &SyncMl,
        queued: &[QueuedCommand],
    ) -> Result<Reply, SessionError> {
        let received = self.receive(incoming)?;
        Ok(self.reply(received, queued))
    }

    /// Takes in one device message: what the device said (its statuses
    /// and results matched to the commands sent, its alerts and commands,
    /// the large objects it sends) is known before the reply's commands
    /// are chosen, so a server can record the answers and fetch the next
    /// commands in one store call, then [`reply`](Self::reply). Fails on a
    /// message this session cannot answer ([`check`](Self::check)).
    pub fn receive(&mut self, incoming: &SyncMl) -> Result<Received, SessionError> {
        self.check(incoming)?;
        let h = &incoming.header;
        if self.session_id.is_none() {
            self.session_id = Some(h.session_id.clone());
        }
        self.seen.insert(h.msg_id.as_str().to_owned());

        let msg_id = MsgId::from(self.next_msg);
        self.next_msg += 1;
        let mut counter = CmdCounter(1);

        let mut reply = Reply {
            message: SyncMl {
                header: SyncHdr::new(
                    h.session_id.clone(),
                    msg_id,
                    h.source.loc_uri.clone(),
                    self.config.server_uri.as_str(),
                ),
                commands: Vec::new(),
                final_: false,
            },
            sent: Vec::new(),
            too_large: Vec::new(),
            statuses: Vec::new(),
            results: Vec::new(),
            header_status: None,
            unmatched: Vec::new(),
            alerts: Vec::new(),
            device_commands: Vec::new(),
            session_complete: false,
            object_failures: Vec::new(),
        };

        // 1. The header.
        let mut hs = Status::new(
            counter.next(),
            h.msg_id.clone(),
            Some(CmdId::new("0")),
            "SyncHdr",
            self.config.header_status,
        );
        hs.target_refs.push(h.target.loc_uri.as_str().to_owned());
        hs.source_refs.push(h.source.loc_uri.as_str().to_owned());
        reply.message.commands.push(Command::Status(hs));

        // The smallest reply there can be (the header and its status): a
        // command that does not fit beside it never fits, one that only
        // does not fit beside this reply's statuses waits for the next.
        let floor = reply.message.to_xml().len() + FINAL.len();

        // 2. The device's commands.
        for c in &incoming.commands {
            self.take_in(c, &h.msg_id, &mut reply, &mut || counter.next());
        }
        self.defer_statuses(&mut reply);

        Ok(Received {
            reply,
            counter,
            floor,
            final_: incoming.final_,
            budget: self.budget(h.meta.as_deref()),
            continuation: incoming.commands.iter().all(|c| match c {
                Command::Status(_) => true,
                Command::Alert(a) => a.code == AlertCode::NEXT_MESSAGE,
                _ => false,
            }),
        })
    }

    /// Completes the answer to a message [`receive`](Self::receive)d:
    /// `queued` lists the device's pending commands in order (the ones
    /// already sent in this session are skipped). When the device has
    /// more to send (its message had no `Final`), nothing is sent but the
    /// request for its next message.
    pub fn reply(&mut self, received: Received, queued: &[QueuedCommand]) -> Reply {
        let Received {
            mut reply,
            mut counter,
            floor,
            final_,
            budget,
            continuation,
        } = received;
        let msg_id = reply.message.header.msg_id.clone();
        let mut cmd_id = || counter.next();

        if !final_ {
            // The device has more to send: ask for it, send nothing new.
            let mut a = Alert::new(cmd_id(), AlertCode::NEXT_MESSAGE);
            a.items.push(Item {
                target: Some(reply.message.header.target.clone()),
                source: Some(Location::new(self.config.server_uri.as_str())),
                ..Item::default()
            });
            reply.message.commands.push(Command::Alert(a));
            self.last_msg = Some(msg_id);
            return reply;
        }

        // 3. Queued commands up to the budget.
        let mut size = reply.message.to_xml().len() + FINAL.len();
        let mut all_out = true;
        // 3a. A large object being sent goes first, chunk by chunk; after
        // a chunk with `MoreData` nothing else goes in that message.
        if let Some(lo) = self.large.clone() {
            match queued.iter().find(|q| q.queue_ref.as_str() == lo.queue_ref) {
                None => self.large = None,
                Some(q) => {
                    let room = budget.saturating_sub(size);
                    match self.send_chunk(q, lo.offset, room, &msg_id, &mut cmd_id, &mut reply) {
                        Some(len) => {
                            size += len;
                            all_out = self.large.is_none();
                        }
                        None if reply.sent.is_empty() && continuation => {
                            // Not even a small chunk fits a minimal reply.
                            self.large = None;
                            reply.too_large.push(q.queue_ref.clone());
                        }
                        None => all_out = false,
                    }
                }
            }
        }
        // 3b. The others in order.
        for q in queued.iter().filter(|_| all_out) {
            if self.sent_refs.contains(&q.queue_ref)
                || self
                    .large
                    .as_ref()
                    .is_some_and(|l| l.queue_ref == q.queue_ref.as_str())
            {
                continue;
            }
            let mut cmd = q.command.clone();
            let mut assigned = Vec::new();
            assign_ids(&mut cmd, &mut cmd_id, &mut assigned, false);
            let len = cmd.to_xml().len();
            // Too large when it cannot fit beside the header alone, or
            // when it is first in line and the device's message was
            // already as small as a message gets (its statuses and the
            // request for more): waiting would not make room. A value
            // that can be split goes out as a large object instead.
            let minimal = reply.sent.is_empty() && continuation;
            if floor + len > budget || (size + len > budget && minimal) {
                if chunkable(&q.command).is_some() && self.large.is_none() {
                    let room = budget.saturating_sub(size);
                    if let Some(len) = self.send_chunk(q, 0, room, &msg_id, &mut cmd_id, &mut reply)
                    {
                        size += len;
                        if self.large.is_some() {
                            all_out = false;
                            break;
                        }
                        continue;
                    }
                    if !minimal {
                        all_out = false;
                        break;
                    }
                }
                reply.too_large.push(q.queue_ref.clone());
                continue;
            }
            if size + len > budget {
                all_out = false;
                break;
            }
            size += len;
            for (id, name, nested) in assigned {
                self.sent.insert(
                    (msg_id.as_str().to_owned(), id.as_str().to_owned()),
                    Sent {
                        queue_ref: q.queue_ref.clone(),
                        cmd: name.to_owned(),
                        nested,
                    },
                );
            }
            self.sent_refs.insert(q.queue_ref.clone());
            reply.sent.push(q.queue_ref.clone());
            reply.message.commands.push(cmd);
        }
        reply.message.final_ = all_out;
        reply.session_complete = all_out
            && reply
                .message
                .commands
                .iter()
                .all(|c| matches!(c, Command::Status(_)));
        if reply.session_complete {
            self.ended = true;
            // A device that sent a chunk with `Final` will not send the
            // rest.
            if let Some(a) = self.abandon_incoming() {
                reply.statuses.extend(a.statuses);
                reply.object_failures.push(a.failure);
            }
        }
        self.last_msg = Some(msg_id);
        reply
    }

    /// Sends the next chunk of `q`'s value from byte `offset`, as large as
    /// fits `room` bytes: with `MoreData` (and, on the first chunk, the
    /// whole value's `Size`) while more remains. Only the last chunk is
    /// matched to the queued command (the others are answered 213). The
    /// chunk's length, or `None` when not even one character fits.
    fn send_chunk(
        &mut self,
        q: &QueuedCommand,
        offset: usize,
        room: usize,
        msg_id: &MsgId,
        cmd_id: &mut impl FnMut() -> CmdId,
        reply: &mut Reply,
    ) -> Option<usize> {
        let (value, cdata) = chunkable(&q.command)?;
        let total = value.len();
        if offset >= total {
            return None;
        }
        let id = cmd_id();
        let mut n = total - offset;
        for _ in 0..64 {
            let mut end = offset + n;
            while end > offset && !value.is_char_boundary(end) {
                end -= 1;
            }
            if end <= offset {
                return None;
            }
            let more = end < total;
            let mut cmd = q.command.clone();
            cmd.set_cmd_id(id.clone());
            if let Command::Add(c) | Command::Replace(c) = &mut cmd
                && let Some(it) = c.items.first_mut()
            {
                let piece = &value[offset..end];
                it.data = Some(if cdata {
                    Data::cdata(piece)
                } else {
                    Data::text(piece)
                });
                it.more_data = more;
                if offset == 0 && more {
                    it.meta.get_or_insert_with(Box::default).size = Some(total.to_string());
                }
            }
            let len = cmd.to_xml().len();
            if len > room {
                // Shrink in proportion (escaping makes a byte of the
                // value up to five on the wire), and by one at least.
                let now = end - offset;
                n = (now.saturating_mul(room) / len).min(now - 1);
                continue;
            }
            if more {
                self.large = Some(LargeObject {
                    queue_ref: q.queue_ref.as_str().to_owned(),
                    offset: end,
                });
            } else {
                self.large = None;
                self.sent.insert(
                    (msg_id.as_str().to_owned(), id.as_str().to_owned()),
                    Sent {
                        queue_ref: q.queue_ref.clone(),
                        cmd: cmd.name().to_owned(),
                        nested: false,
                    },
                );
                self.sent_refs.insert(q.queue_ref.clone());
                reply.sent.push(q.queue_ref.clone());
            }
            reply.message.commands.push(cmd);
            return Some(len);
        }
        None
    }

    fn budget(&self, meta: Option<&Meta>) -> usize {
        let device = meta
            .and_then(|m| m.max_msg_size.as_deref())
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|&n| n >= 1024);
        match device {
            Some(n) => n.min(self.config.max_msg_size),
            None => self.config.max_msg_size,
        }
    }

    fn take_in(
        &mut self,
        c: &Command,
        msg_ref: &MsgId,
        reply: &mut Reply,
        cmd_id: &mut impl FnMut() -> CmdId,
    ) {
        match c {
            Command::Status(s) => {
                if s.cmd_ref.as_ref().is_some_and(|r| r.as_str() == "0") && s.cmd == "SyncHdr" {
                    reply.header_status = Some(s.code);
                    return;
                }
                match self.lookup(Some(&s.msg_ref), s.cmd_ref.as_ref()) {
                    Some((sent, id)) => reply.statuses.push(MatchedStatus {
                        queue_ref: sent.queue_ref.clone(),
                        cmd_id: id,
                        cmd: sent.cmd.to_owned(),
                        nested: sent.nested,
                        code: s.code,
                        items: s.items.clone(),
                    }),
                    None => reply.unmatched.push(c.clone()),
                }
            }
            Command::Results(r) => {
                let matched = self
                    .lookup(r.msg_ref.as_ref(), r.cmd_ref.as_ref())
                    .map(|(sent, id)| (sent.queue_ref.clone(), id));
                let code = match matched {
                    Some((queue_ref, id)) => {
                        let origin = Origin {
                            queue_ref: Some(queue_ref.clone()),
                            msg_ref: r
                                .msg_ref
                                .as_ref()
                                .or(self.last_msg.as_ref())
                                .map(|m| m.as_str().to_owned()),
                            cmd_ref: Some(id.as_str().to_owned()),
                        };
                        let items = match self.take_chunks(c, origin, reply, cmd_id) {
                            Taken::Plain => Some(r.items.clone()),
                            Taken::Whole(whole) => Some(whole.items().to_vec()),
                            Taken::Held(code) | Taken::Refused(code) => {
                                self.answer(c, msg_ref, reply, cmd_id, code);
                                return;
                            }
                        };
                        if let Some(items) = items {
                            reply.results.push(MatchedResults {
                                queue_ref,
                                cmd_id: id,
                                items,
                            });
                        }
                        StatusCode::OK
                    }
                    None => {
                        reply.unmatched.push(c.clone());
                        StatusCode::OK
                    }
                };
                self.answer(c, msg_ref, reply, cmd_id, code);
            }
            Command::Alert(a) => {
                reply.alerts.push(a.clone());
                self.answer(c, msg_ref, reply, cmd_id, StatusCode::OK);
            }
            Command::Atomic(k) | Command::Sequence(k) => {
                self.answer(c, msg_ref, reply, cmd_id, StatusCode::OK);
                for child in &k.commands {
                    self.take_in(child, msg_ref, reply, cmd_id);
                }
            }
            Command::Add(_) | Command::Replace(_) => {
                let origin = Origin {
                    queue_ref: None,
                    msg_ref: None,
                    cmd_ref: None,
                };
                let code = match self.take_chunks(c, origin, reply, cmd_id) {
                    Taken::Plain => {
                        reply.device_commands.push(c.clone());
                        StatusCode::OK
                    }
                    Taken::Whole(whole) => {
                        reply.device_commands.push(whole);
                        StatusCode::OK
                    }
                    Taken::Held(code) | Taken::Refused(code) => code,
                };
                self.answer(c, msg_ref, reply, cmd_id, code);
            }
            _ => {
                reply.device_commands.push(c.clone());
                self.answer(c, msg_ref, reply, cmd_id, StatusCode::OK);
            }
        }
    }

    /// Answers a device command: 400 without `CmdID` or with a `LocURI`
    /// starting with `/`, else `code`.
    fn answer(
        &self,
        c: &Command,
        msg_ref: &MsgId,
        reply: &mut Reply,
        cmd_id: &mut impl FnMut() -> CmdId,
        code: StatusCode,
    ) {
        if c.no_resp() {
            return;
        }
        let bad_uri = c
            .items()
            .iter()
            .filter_map(Item::uri)
            .any(|u| !u.is_absolute() && u.as_str().starts_with('/'));
        let code = if c.cmd_id().is_none() || bad_uri {
            StatusCode::BAD_REQUEST
        } else {
            code
        };
        reply.message.commands.push(Command::Status(Status::new(
            cmd_id(),
            msg_ref.clone(),
            c.cmd_id().cloned(),
            c.name(),
            code,
        )));
    }

    fn lookup(&self, msg_ref: Option<&MsgId>, cmd_ref: Option<&CmdId>) -> Option<(&Sent, CmdId)> {
        let cmd_ref = cmd_ref?;
        let msg = msg_ref.or(self.last_msg.as_ref())?;
        self.sent
            .get(&(msg.as_str().to_owned(), cmd_ref.as_str().to_owned()))
            .map(|s| (s, cmd_ref.clone()))
    }
}

/// The value of a command that can travel as a large object: an `Add` or
/// `Replace` of one item whose data is text or CDATA (not inline XML,
/// which cannot be cut); and whether it is CDATA.
fn chunkable(c: &Command) -> Option<(&str, bool)> {
    let (Command::Add(ic) | Command::Replace(ic)) = c else {
        return None;
    };
    let [it] = ic.items.as_slice() else {
        return None;
    };
    let d = it.data.as_ref().filter(|_| !it.more_data)?;
    match d.form() {
        DataForm::Text => Some((d.as_str(), false)),
        DataForm::CData => Some((d.as_str(), true)),
        _ => None,
    }
}

fn assign_ids(
    cmd: &mut Command,
    next: &mut impl FnMut() -> CmdId,
    out: &mut Vec<(CmdId, &'static str, bool)>,
    nested: bool,
) {
    let id = next();
    cmd.set_cmd_id(id.clone());
    out.push((id, cmd.name(), nested));
    if let Command::Atomic(k) | Command::Sequence(k) = cmd {
        for child in &mut k.commands {
            assign_ids(child, next, out, true);
        }
    }
}

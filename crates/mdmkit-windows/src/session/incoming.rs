//! Large objects the device sends: a `Results` item (or an item of the
//! device's own `Add` / `Replace`) split over several messages.
//!
//! OMA DM 1.2 (representation protocol, large object handling): each chunk
//! but the last carries `MoreData` and is its command's last item, the
//! first chunk's `Meta/Size` gives the whole size, and a message holding a
//! chunk has no `Final`. The receiver answers each buffered chunk 213 and
//! asks for the next message with Alert 1222; the last chunk completes the
//! value, which must have the declared size (424 otherwise). A data command
//! that does not continue the object ends it (Alert 1225 to the sender).
//!
//! The object being received is plain data in the session's snapshot
//! ([`IncomingObject`]), so it continues across requests and processes;
//! its size is capped by [`super::SessionConfig::max_object_size`]. The
//! statuses of the queued command it answers are held back with it, so
//! that the caller sees the command's answer and its whole result together.

use serde::{Deserialize, Serialize};

use super::{MatchedStatus, QueueRef, Reply, ServerSession};
use crate::error::LargeObjectError;
use crate::status::{AlertCode, StatusCode};
use crate::syncml::{
    Alert, CmdId, Command, Data, DataForm, Item, Limits, Location, SyncHdr, SyncMl,
};

/// A large object being received from the device, as plain data (part of
/// [`super::SessionSnapshot`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct IncomingObject {
    /// The queued command whose `Get` it answers; `None` for the device's
    /// own `Add` or `Replace`.
    pub queue_ref: Option<String>,
    /// The command carrying it: `Results`, `Add` or `Replace`.
    pub cmd: String,
    /// For `Results`: the server's `MsgID` of the `Get` answered.
    pub msg_ref: Option<String>,
    /// For `Results`: the `CmdID` of the `Get` answered.
    pub cmd_ref: Option<String>,
    /// The chunked item's `LocURI`.
    pub uri: String,
    /// The `Size` the first chunk declared.
    pub declared_size: Option<usize>,
    /// The chunks so far, one after the other.
    pub value: String,
    /// Whether the first chunk was CDATA.
    pub cdata: bool,
    /// The command of the first chunk, as a SyncML message (the codec's
    /// own format): the items complete before the chunked one, then the
    /// chunked one without its `Data`.
    pub head: String,
    /// Once refused: the code answered to its remaining chunks, which are
    /// not kept.
    pub refused: Option<u16>,
    /// The queued command's statuses, held back until the object is whole
    /// (or failed).
    pub deferred: Vec<DeferredStatus>,
}

/// A device status held back with an [`IncomingObject`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DeferredStatus {
    /// The `CmdID` the command was sent with.
    pub cmd_id: String,
    /// The command name.
    pub cmd: String,
    /// Whether it is nested in an `Atomic` or `Sequence`.
    pub nested: bool,
    /// The status code.
    pub code: u16,
}

/// A large object from the device that was not taken (the device was told
/// with a status or Alert 1225).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ObjectFailure {
    /// The queued command whose `Get` it answered (`None`: the device's
    /// own `Add` / `Replace`).
    pub queue_ref: Option<QueueRef>,
    /// The command carrying it.
    pub cmd: String,
    /// The item's `LocURI`.
    pub uri: String,
    /// What went wrong.
    pub error: LargeObjectError,
}

/// The large object a session was receiving when it was given up, with
/// the statuses held back for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Abandoned {
    /// The failure ([`LargeObjectError::SessionEnded`]).
    pub failure: ObjectFailure,
    /// The queued command's statuses held back for it.
    pub statuses: Vec<MatchedStatus>,
}

/// Where a data command belongs: the `Get` a `Results` answers.
pub(super) struct Origin {
    pub(super) queue_ref: Option<QueueRef>,
    pub(super) msg_ref: Option<String>,
    pub(super) cmd_ref: Option<String>,
}

/// What became of a data command.
pub(super) enum Taken {
    /// Not a large object: handled as before.
    Plain,
    /// A chunk kept (213) or, after a refusal, dropped (its code).
    Held(StatusCode),
    /// The last chunk: the command with its whole items.
    Whole(Command),
    /// Refused with this code (and reported).
    Refused(StatusCode),
}

/// The statuses a `Status` and an item's `LocURI` name a command by.
fn uri_of(it: &Item) -> String {
    it.uri().map(|u| u.as_str().to_owned()).unwrap_or_default()
}

fn encode(cmd: Command) -> String {
    SyncMl {
        header: SyncHdr::new("0", "0", "server", "device"),
        commands: vec![cmd],
        final_: true,
    }
    .to_xml()
}

fn decode(head: &str) -> Option<Command> {
    // Written by `encode`: one message of one command, at most a device
    // message's items.
    let limits = Limits::default().with_max_bytes(head.len().max(1));
    SyncMl::read_with(head.as_bytes(), &limits)
        .ok()?
        .commands
        .into_iter()
        .next()
}

fn with_items(mut c: Command, items: Vec<Item>) -> Command {
    match &mut c {
        Command::Results(r) => r.items = items,
        Command::Add(ic) | Command::Replace(ic) => ic.items = items,
        _ => {}
    }
    c
}

fn declared_size(it: &Item) -> Option<usize> {
    it.meta
        .as_ref()
        .and_then(|m| m.size.as_deref())
        .and_then(|s| s.trim().parse::<usize>().ok())
}

impl ServerSession {
    /// Takes a data command (a matched `Results`, a device's `Add` or
    /// `Replace`) into the large object being received.
    pub(super) fn take_chunks(
        &mut self,
        c: &Command,
        origin: Origin,
        reply: &mut Reply,
        cmd_id: &mut impl FnMut() -> CmdId,
    ) -> Taken {
        let items = c.items();
        let first_uri = items.first().map(uri_of);
        let continues = self.incoming.as_ref().is_some_and(|o| {
            o.cmd == c.name()
                && o.msg_ref == origin.msg_ref
                && o.cmd_ref == origin.cmd_ref
                && Some(&o.uri) == first_uri.as_ref()
        });
        if !continues {
            if let Some(o) = self.incoming.take() {
                let by = format!("{} {}", c.name(), first_uri.as_deref().unwrap_or(""));
                self.interrupt(o, crate::error::cut(&by), reply, cmd_id);
            }
            if !items.iter().any(|i| i.more_data) {
                return Taken::Plain;
            }
            return self.gather(c.clone(), &origin, Vec::new(), items, Vec::new(), reply);
        }
        let Some(mut o) = self.incoming.take() else {
            return Taken::Plain;
        };
        let [first, rest @ ..] = items else {
            return Taken::Plain;
        };
        if let Some(code) = o.refused {
            // The rest of a refused object: dropped until its last chunk.
            if first.more_data {
                self.incoming = Some(o);
            }
            return Taken::Held(StatusCode::new(code));
        }
        if first.more_data && !rest.is_empty() {
            return self.refuse(o, LargeObjectError::MoreDataNotLast, false, reply);
        }
        o.value
            .push_str(first.data.as_ref().map_or("", |d| d.as_str()));
        if let Some(e) = self.overflow(&o) {
            return self.refuse(o, e, first.more_data, reply);
        }
        if first.more_data {
            self.incoming = Some(o);
            return Taken::Held(StatusCode::CHUNK_ACCEPTED);
        }
        if let Some(d) = o.declared_size.filter(|&d| d != o.value.len()) {
            let received = o.value.len();
            return self.refuse(
                o,
                LargeObjectError::SizeMismatch {
                    declared: d,
                    received,
                },
                false,
                reply,
            );
        }
        let Some(template) = decode(&o.head) else {
            return self.refuse(o, LargeObjectError::Corrupt, false, reply);
        };
        let mut done = template.items().to_vec();
        let value = std::mem::take(&mut o.value);
        if let Some(last) = done.last_mut() {
            last.data = Some(if o.cdata {
                Data::cdata(value)
            } else {
                Data::text(value)
            });
        }
        let deferred = self.release(&o);
        self.gather(template, &origin, done, rest, deferred, reply)
    }

    /// Adds `rest` to the complete items `done` of `template`: the command
    /// whole, or the start of a new object when its last item has
    /// `MoreData`. `released` are statuses to hand up once it is whole.
    fn gather(
        &mut self,
        template: Command,
        origin: &Origin,
        mut done: Vec<Item>,
        rest: &[Item],
        released: Vec<MatchedStatus>,
        reply: &mut Reply,
    ) -> Taken {
        reply.statuses.extend(released);
        for (i, it) in rest.iter().enumerate() {
            if !it.more_data {
                done.push(it.clone());
                continue;
            }
            let mut o = IncomingObject {
                queue_ref: origin.queue_ref.as_ref().map(|q| q.as_str().to_owned()),
                cmd: template.name().to_owned(),
                msg_ref: origin.msg_ref.clone(),
                cmd_ref: origin.cmd_ref.clone(),
                uri: uri_of(it),
                declared_size: declared_size(it),
                value: it.data.as_ref().map_or("", |d| d.as_str()).to_owned(),
                cdata: it
                    .data
                    .as_ref()
                    .is_some_and(|d| d.form() == DataForm::CData),
                ..IncomingObject::default()
            };
            if i + 1 != rest.len() {
                return self.refuse(o, LargeObjectError::MoreDataNotLast, false, reply);
            }
            if let Some(e) = self.overflow(&o) {
                return self.refuse(o, e, true, reply);
            }
            let mut head_item = it.clone();
            head_item.data = None;
            head_item.more_data = false;
            done.push(head_item);
            o.head = encode(with_items(template, done));
            self.incoming = Some(o);
            return Taken::Held(StatusCode::CHUNK_ACCEPTED);
        }
        Taken::Whole(with_items(template, done))
    }

    /// Whether the object has outgrown its declared size or the cap.
    fn overflow(&self, o: &IncomingObject) -> Option<LargeObjectError> {
        let max = self.config.max_object_size;
        let size = o.declared_size.unwrap_or(0).max(o.value.len());
        if size > max {
            return Some(LargeObjectError::TooLarge { size, max });
        }
        match o.declared_size {
            Some(d) if o.value.len() > d => Some(LargeObjectError::SizeMismatch {
                declared: d,
                received: o.value.len(),
            }),
            _ => None,
        }
    }

    /// Reports `o` failed with `error` and hands up its held statuses; when
    /// more chunks of it will come (`more`), they are answered with the
    /// same code and dropped.
    fn refuse(
        &mut self,
        o: IncomingObject,
        error: LargeObjectError,
        more: bool,
        reply: &mut Reply,
    ) -> Taken {
        let code = error.status();
        reply.statuses.extend(self.release(&o));
        reply.object_failures.push(ObjectFailure {
            queue_ref: o.queue_ref.clone().map(QueueRef::new),
            cmd: o.cmd.clone(),
            uri: o.uri.clone(),
            error,
        });
        if more {
            self.incoming = Some(IncomingObject {
                refused: Some(code.code()),
                value: String::new(),
                head: String::new(),
                deferred: Vec::new(),
                ..o
            });
        }
        Taken::Refused(code)
    }

    /// Ends `o` because another data command came first: reported, and the
    /// device told with Alert 1225 (end of data for a chunked object not
    /// received).
    fn interrupt(
        &mut self,
        o: IncomingObject,
        by: String,
        reply: &mut Reply,
        cmd_id: &mut impl FnMut() -> CmdId,
    ) {
        if o.refused.is_some() {
            return;
        }
        let mut a = Alert::new(cmd_id(), AlertCode::NO_END_OF_DATA);
        a.items.push(Item {
            target: Some(Location::new(o.uri.as_str())),
            ..Item::default()
        });
        reply.message.commands.push(Command::Alert(a));
        self.refuse(o, LargeObjectError::Interrupted { by }, false, reply);
    }

    /// The statuses held back with `o`.
    fn release(&self, o: &IncomingObject) -> Vec<MatchedStatus> {
        let Some(q) = &o.queue_ref else {
            return Vec::new();
        };
        o.deferred
            .iter()
            .map(|d| MatchedStatus {
                queue_ref: QueueRef::new(q.clone()),
                cmd_id: CmdId::new(d.cmd_id.clone()),
                cmd: d.cmd.clone(),
                nested: d.nested,
                code: StatusCode::new(d.code),
                items: Vec::new(),
            })
            .collect()
    }

    /// Holds back the statuses of the queued command whose results are
    /// being received (called once a device message is taken in).
    pub(super) fn defer_statuses(&mut self, reply: &mut Reply) {
        let Some(o) = self.incoming.as_mut().filter(|o| o.refused.is_none()) else {
            return;
        };
        let Some(q) = o.queue_ref.as_deref() else {
            return;
        };
        let (held, kept): (Vec<MatchedStatus>, Vec<MatchedStatus>) =
            std::mem::take(&mut reply.statuses)
                .into_iter()
                .partition(|s| s.queue_ref.as_str() == q);
        reply.statuses = kept;
        o.deferred.extend(held.into_iter().map(|s| DeferredStatus {
            cmd_id: s.cmd_id.as_str().to_owned(),
            cmd: s.cmd,
            nested: s.nested,
            code: s.code.code(),
        }));
    }

    /// Gives up the large object being received, if any: the session ended,
    /// or the server starts a new one in its place. The caller records the
    /// failure (the device will not send the rest).
    pub fn abandon_incoming(&mut self) -> Option<Abandoned> {
        let o = self.incoming.take()?;
        let statuses = self.release(&o);
        if o.refused.is_some() {
            // Reported when it was refused.
            return None;
        }
        Some(Abandoned {
            failure: ObjectFailure {
                queue_ref: o.queue_ref.map(QueueRef::new),
                cmd: o.cmd,
                uri: o.uri,
                error: LargeObjectError::SessionEnded,
            },
            statuses,
        })
    }

    /// The large object being received, if any.
    pub fn incoming(&self) -> Option<&IncomingObject> {
        self.incoming.as_ref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::{QueuedCommand, SessionConfig, SessionSnapshot};
    use super::*;
    use crate::device::TestDevice;
    use crate::syncml::{ItemCommand, Meta, MsgId, Results, Status};
    use proptest::prelude::*;

    const SERVER: &str = "https://mdm.example/omadm";
    const NODE: &str = "./Vendor/MSFT/Test/Big";

    fn get(queue_ref: &str, uri: &str) -> QueuedCommand {
        QueuedCommand::new(
            queue_ref,
            Command::Get(ItemCommand::new("0", Item::target(uri))),
        )
    }

    /// Through JSON, as a store keeps it.
    fn stored(s: &ServerSession, config: &SessionConfig) -> ServerSession {
        let json = serde_json::to_string(&s.snapshot()).unwrap();
        let back: SessionSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s.snapshot());
        ServerSession::restore(config.clone(), &back)
    }

    /// A session that sent `queued` (Gets) in its first reply; the
    /// `CmdID` each went out with.
    fn opened(config: &SessionConfig, queued: &[QueuedCommand]) -> (ServerSession, Vec<String>) {
        let mut device = TestDevice::new("dev-1");
        let mut server = ServerSession::new(config.clone());
        let reply = server
            .respond(&device.open_session(SERVER), queued)
            .unwrap();
        let ids = reply
            .message
            .commands
            .iter()
            .filter(|c| matches!(c, Command::Get(_)))
            .map(|c| c.cmd_id().unwrap().as_str().to_owned())
            .collect();
        (server, ids)
    }

    /// A device message (`MsgID` `n`) with `commands`.
    fn message(n: u64, commands: Vec<Command>, final_: bool) -> SyncMl {
        let mut commands = commands;
        for (i, c) in commands.iter_mut().enumerate() {
            if c.cmd_id().is_none() {
                c.set_cmd_id(CmdId::from(i as u64 + 1));
            }
        }
        SyncMl {
            header: SyncHdr::new("0", MsgId::from(n), SERVER, "dev-1"),
            commands,
            final_,
        }
    }

    /// A `Results` chunk answering the `Get` `cmd_ref` of server message 1.
    fn chunk(cmd_ref: &str, piece: &str, more: bool, size: Option<usize>) -> Command {
        let mut it = Item::source(NODE).with_data(piece);
        it.more_data = more;
        if let Some(n) = size {
            it.meta = Some(Box::new(Meta {
                size: Some(n.to_string()),
                ..Meta::default()
            }));
        }
        Command::Results(Results {
            cmd_id: None,
            msg_ref: Some("1".into()),
            cmd_ref: Some(cmd_ref.into()),
            meta: None,
            target_refs: Vec::new(),
            source_refs: Vec::new(),
            items: vec![it],
        })
    }

    fn status_for(cmd_ref: &str, cmd: &str, code: StatusCode) -> Command {
        Command::Status(Status::new(
            "0",
            MsgId::from("1"),
            Some(CmdId::new(cmd_ref)),
            cmd,
            code,
        ))
    }

    /// The codes the server answered for the device's `Results`.
    fn results_codes(reply: &Reply) -> Vec<u16> {
        reply
            .message
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Status(s) if s.cmd == "Results" => Some(s.code.code()),
                _ => None,
            })
            .collect()
    }

    fn value_of(r: &super::super::MatchedResults) -> &str {
        r.items[0].data.as_ref().unwrap().as_str()
    }

    #[test]
    fn a_chunked_result_is_reassembled_across_messages_and_restores() {
        let value: String = "<wlan & é>".repeat(2_000);
        let config = SessionConfig::new(SERVER);
        let mut device = TestDevice::new("dev-1").with_chunk_size(2_000);
        device.set_node(NODE, &value);
        let queued = [get("q-big", NODE), get("q-man", "./DevInfo/Man")];
        let mut server = ServerSession::new(config.clone());
        let mut msg = Some(device.open_session(SERVER));
        let (mut results, mut statuses, mut buffered) = (Vec::new(), Vec::new(), 0);
        let mut rounds = 0;
        while let Some(m) = msg.take() {
            rounds += 1;
            assert!(rounds < 200, "the session does not end");
            assert!(m.to_xml().len() <= 2_000 + 200, "{}", m.to_xml().len());
            let reply = server.respond(&m, &queued).unwrap();
            assert!(
                reply.object_failures.is_empty(),
                "{:?}",
                reply.object_failures
            );
            buffered += results_codes(&reply).iter().filter(|&&c| c == 213).count();
            results.extend(reply.results.clone());
            statuses.extend(reply.statuses.clone());
            if server.incoming().is_some() {
                // Held back until the value is whole.
                assert!(statuses.iter().all(|s| s.queue_ref.as_str() != "q-big"));
            }
            server = stored(&server, &config);
            msg = device.handle(&reply.message);
        }
        assert!(buffered >= 10, "{buffered} chunks");
        assert!(server.is_ended() && server.incoming().is_none());
        let big: Vec<_> = results
            .iter()
            .filter(|r| r.queue_ref.as_str() == "q-big")
            .collect();
        assert_eq!(big.len(), 1, "one result for the whole value");
        assert_eq!(value_of(big[0]), value);
        assert_eq!(big[0].items.len(), 1);
        let man: Vec<_> = results
            .iter()
            .filter(|r| r.queue_ref.as_str() == "q-man")
            .collect();
        assert_eq!(value_of(man[0]), "Contoso Ltd");
        let codes: Vec<(&str, u16)> = statuses
            .iter()
            .map(|s| (s.queue_ref.as_str(), s.code.code()))
            .collect();
        assert!(
            codes.contains(&("q-big", 200)) && codes.contains(&("q-man", 200)),
            "{codes:?}"
        );
    }

    #[test]
    fn a_total_other_than_the_declared_size_is_answered_424_and_reported() {
        let config = SessionConfig::new(SERVER);
        let (mut s, ids) = opened(&config, &[get("q", NODE)]);
        let r = s
            .respond(
                &message(
                    2,
                    vec![
                        status_for(&ids[0], "Get", StatusCode::OK),
                        chunk(&ids[0], "abcde", true, Some(10)),
                    ],
                    false,
                ),
                &[],
            )
            .unwrap();
        assert_eq!(results_codes(&r), [213]);
        assert!(r.statuses.is_empty() && r.results.is_empty());
        let mut s = stored(&s, &config);
        let r = s
            .respond(
                &message(3, vec![chunk(&ids[0], "xyz", false, None)], true),
                &[],
            )
            .unwrap();
        assert_eq!(results_codes(&r), [424]);
        assert!(r.results.is_empty());
        assert_eq!(
            r.object_failures[0].error,
            LargeObjectError::SizeMismatch {
                declared: 10,
                received: 8
            }
        );
        assert_eq!(r.object_failures[0].queue_ref, Some(QueueRef::new("q")));
        // The Get's own status comes with the failure, not before.
        assert_eq!(r.statuses.len(), 1);
        assert_eq!(r.statuses[0].code, StatusCode::OK);
        assert!(s.incoming().is_none());
    }

    #[test]
    fn more_bytes_than_declared_fail_as_soon_as_they_arrive() {
        let config = SessionConfig::new(SERVER);
        let (mut s, ids) = opened(&config, &[get("q", NODE)]);
        s.respond(
            &message(2, vec![chunk(&ids[0], "abcde", true, Some(6))], false),
            &[],
        )
        .unwrap();
        let r = s
            .respond(
                &message(3, vec![chunk(&ids[0], "fghij", true, None)], false),
                &[],
            )
            .unwrap();
        assert_eq!(results_codes(&r), [424]);
        assert_eq!(r.object_failures.len(), 1);
        // Its remaining chunks are answered the same and dropped.
        let r = s
            .respond(
                &message(4, vec![chunk(&ids[0], "k", false, None)], true),
                &[],
            )
            .unwrap();
        assert_eq!(results_codes(&r), [424]);
        assert!(r.results.is_empty() && r.object_failures.is_empty());
        assert!(s.incoming().is_none());
    }

    #[test]
    fn an_object_over_the_cap_is_refused_413_and_not_kept() {
        let config = SessionConfig::new(SERVER).with_max_object_size(8);
        let (mut s, ids) = opened(&config, &[get("q", NODE), get("q2", NODE)]);
        // Declared too large: refused at the first chunk.
        let r = s
            .respond(
                &message(2, vec![chunk(&ids[0], "abcd", true, Some(100))], false),
                &[],
            )
            .unwrap();
        assert_eq!(results_codes(&r), [413]);
        assert_eq!(
            r.object_failures[0].error,
            LargeObjectError::TooLarge { size: 100, max: 8 }
        );
        assert!(s.snapshot().incoming.unwrap().value.is_empty());
        let r = s
            .respond(
                &message(3, vec![chunk(&ids[0], "efgh", true, None)], false),
                &[],
            )
            .unwrap();
        assert_eq!(results_codes(&r), [413]);
        let r = s
            .respond(
                &message(4, vec![chunk(&ids[0], "ij", false, None)], false),
                &[],
            )
            .unwrap();
        assert_eq!(results_codes(&r), [413]);
        assert!(r.results.is_empty() && r.object_failures.is_empty());
        // No Size: refused once the chunks pass the cap.
        s.respond(
            &message(5, vec![chunk(&ids[1], "12345", true, None)], false),
            &[],
        )
        .unwrap();
        let r = s
            .respond(
                &message(6, vec![chunk(&ids[1], "6789", true, None)], false),
                &[],
            )
            .unwrap();
        assert_eq!(results_codes(&r), [413]);
        assert_eq!(
            r.object_failures[0].error,
            LargeObjectError::TooLarge { size: 9, max: 8 }
        );
        assert!(s.snapshot().incoming.unwrap().value.len() <= 8);
    }

    #[test]
    fn unrelated_statuses_interleaved_with_chunks_pass_at_once() {
        let config = SessionConfig::new(SERVER);
        let queued = [
            get("q", NODE),
            QueuedCommand::new(
                "r",
                Command::Replace(ItemCommand::new("0", Item::target("./X").with_data("1"))),
            ),
        ];
        let (mut s, ids) = opened(&config, &queued);
        let replace_id = (ids[0].parse::<u64>().unwrap() + 1).to_string();
        let r = s
            .respond(
                &message(
                    2,
                    vec![
                        status_for(&ids[0], "Get", StatusCode::OK),
                        status_for(&replace_id, "Replace", StatusCode::OK),
                        chunk(&ids[0], "ab", true, Some(5)),
                    ],
                    false,
                ),
                &[],
            )
            .unwrap();
        let refs: Vec<&str> = r.statuses.iter().map(|s| s.queue_ref.as_str()).collect();
        assert_eq!(refs, ["r"]);
        let held = &s.snapshot().incoming.unwrap().deferred;
        assert_eq!(held.len(), 1);
        // A status of something never sent, and an Alert, between chunks.
        let r = s
            .respond(
                &message(
                    3,
                    vec![
                        status_for("99", "Add", StatusCode::OK),
                        Command::Alert(Alert::new("0", AlertCode::NEXT_MESSAGE)),
                        chunk(&ids[0], "cd", true, None),
                    ],
                    false,
                ),
                &[],
            )
            .unwrap();
        assert_eq!(r.unmatched.len(), 1);
        assert_eq!(results_codes(&r), [213]);
        let r = s
            .respond(
                &message(4, vec![chunk(&ids[0], "e", false, None)], true),
                &[],
            )
            .unwrap();
        assert_eq!(results_codes(&r), [200]);
        assert_eq!(value_of(&r.results[0]), "abcde");
        assert_eq!(r.statuses[0].queue_ref.as_str(), "q");
    }

    #[test]
    fn a_chunk_of_another_item_ends_the_object_with_alert_1225() {
        let config = SessionConfig::new(SERVER);
        let (mut s, ids) = opened(&config, &[get("q", NODE), get("q2", "./DevInfo/Man")]);
        s.respond(
            &message(2, vec![chunk(&ids[0], "ab", true, Some(5))], false),
            &[],
        )
        .unwrap();
        let mut other = chunk(&ids[1], "Contoso", false, None);
        if let Command::Results(r) = &mut other {
            r.items[0].source = Some(Location::new("./DevInfo/Man"));
        }
        let r = s.respond(&message(3, vec![other], true), &[]).unwrap();
        assert!(matches!(
            r.object_failures[0].error,
            LargeObjectError::Interrupted { .. }
        ));
        assert!(
            r.message
                .commands
                .iter()
                .any(|c| matches!(c, Command::Alert(a) if a.code == AlertCode::NO_END_OF_DATA))
        );
        // The interrupting command is taken as it is.
        assert_eq!(r.results.len(), 1);
        assert_eq!(r.results[0].queue_ref.as_str(), "q2");
        assert!(s.incoming().is_none());
    }

    #[test]
    fn a_new_session_gives_up_the_object_and_says_so() {
        let config = SessionConfig::new(SERVER);
        let (mut s, ids) = opened(&config, &[get("q", NODE)]);
        s.respond(
            &message(
                2,
                vec![
                    status_for(&ids[0], "Get", StatusCode::OK),
                    chunk(&ids[0], "ab", true, Some(5)),
                ],
                false,
            ),
            &[],
        )
        .unwrap();
        let mut s = stored(&s, &config);
        let a = s.abandon_incoming().unwrap();
        assert_eq!(a.failure.error, LargeObjectError::SessionEnded);
        assert_eq!(a.failure.queue_ref, Some(QueueRef::new("q")));
        assert_eq!(a.statuses.len(), 1);
        assert!(s.abandon_incoming().is_none());
    }

    #[test]
    fn a_device_replace_in_chunks_is_handed_up_whole() {
        let config = SessionConfig::new(SERVER);
        let (mut s, _) = opened(&config, &[get("q", NODE)]);
        let part = |piece: &str, more: bool| {
            let mut it = Item::target("./Vendor/MSFT/Log").with_data(piece);
            it.more_data = more;
            Command::Replace(ItemCommand::new("0", it))
        };
        let r = s
            .respond(&message(2, vec![part("abc", true)], false), &[])
            .unwrap();
        assert!(r.device_commands.is_empty());
        let r = s
            .respond(&message(3, vec![part("def", false)], true), &[])
            .unwrap();
        assert_eq!(r.device_commands.len(), 1);
        assert_eq!(
            r.device_commands[0].items()[0]
                .data
                .as_ref()
                .unwrap()
                .as_str(),
            "abcdef"
        );
    }

    #[test]
    fn a_snapshot_stored_before_large_objects_still_loads() {
        let old = r#"{"session_id":"3","next_msg":2,"seen":["1"],"sent":[],"last_msg":"1","ended":false}"#;
        let s: SessionSnapshot = serde_json::from_str(old).unwrap();
        assert!(s.incoming.is_none() && s.large_object.is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any value cut at any points reassembles to exactly itself, the
        /// session stored and restored between every two chunks.
        #[test]
        fn any_value_cut_anywhere_reassembles_exactly(
            value in "[a-z<>&\"' é€😀\\n]{1,300}",
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
            cdata in any::<bool>(),
        ) {
            let config = SessionConfig::new(SERVER);
            let (mut s, ids) = opened(&config, &[get("q", NODE)]);
            let mut points: Vec<usize> = cuts
                .iter()
                .map(|i| i.index(value.len() + 1))
                .filter(|&p| value.is_char_boundary(p) && p > 0 && p < value.len())
                .collect();
            points.sort_unstable();
            points.dedup();
            points.push(value.len());
            let mut from = 0;
            let mut last = None;
            for (n, &to) in points.iter().enumerate() {
                let more = to < value.len();
                let mut c = chunk(&ids[0], "", more, (n == 0 && more).then_some(value.len()));
                if let Command::Results(r) = &mut c {
                    let piece = &value[from..to];
                    r.items[0].data = Some(if cdata && !piece.contains("]]>") {
                        Data::cdata(piece)
                    } else {
                        Data::text(piece)
                    });
                }
                let msg = message(n as u64 + 2, vec![c], !more);
                // Through the wire form, as a device sends it.
                let msg = SyncMl::read(msg.to_xml().as_bytes()).unwrap();
                let r = s.respond(&msg, &[]).unwrap();
                prop_assert!(r.object_failures.is_empty(), "{:?}", r.object_failures);
                prop_assert_eq!(results_codes(&r), [if more { 213 } else { 200 }]);
                s = stored(&s, &config);
                from = to;
                last = Some(r);
            }
            let r = last.unwrap();
            prop_assert_eq!(r.results.len(), 1);
            prop_assert_eq!(value_of(&r.results[0]), value.as_str());
        }
    }
}

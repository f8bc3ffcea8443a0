#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Session conformance: the server side against the simulated device,
//! every command type and the edge cases Windows documents.

use mdmkit_windows::device::TestDevice;
use mdmkit_windows::session::{QueuedCommand, Reply, ServerSession, SessionConfig};
use mdmkit_windows::syncml::{Alert, Command, Container, Format, Item, ItemCommand, Meta, SyncMl};
use mdmkit_windows::{AlertCode, SessionError, StatusCode};

const SERVER: &str = "https://mdm.example.org/ManagementServer/MDM.svc";

fn replace(uri: &str, value: &str) -> Command {
    Command::Replace(ItemCommand::new(
        "0",
        Item::target(uri)
            .with_meta(Meta::format(Format::Int))
            .with_data(value),
    ))
}

fn add(uri: &str, value: &str) -> Command {
    Command::Add(ItemCommand::new("0", Item::target(uri).with_data(value)))
}

fn get(uri: &str) -> Command {
    Command::Get(ItemCommand::new("0", Item::target(uri)))
}

fn atomic(commands: Vec<Command>) -> Command {
    Command::Atomic(Container {
        cmd_id: Some("0".into()),
        commands,
        ..Container::default()
    })
}

/// Runs one full session: the device opens, the server answers with the
/// queue, until the session completes. Returns every server reply.
fn run_session(
    device: &mut TestDevice,
    server: &mut ServerSession,
    queue: &[QueuedCommand],
) -> Vec<Reply> {
    let mut replies = Vec::new();
    let mut msg = device.open_session(SERVER);
    for _ in 0..100 {
        // Every message crosses the wire as XML.
        let msg_wire = SyncMl::read(msg.to_xml().as_bytes()).unwrap();
        // In two steps, as a server that records the device's answers
        // before it fetches the reply's commands: what `receive` reports
        // is what the reply reports.
        let received = server.receive(&msg_wire).unwrap();
        let early = received.statuses().to_vec();
        let reply = server.reply(received, queue);
        assert!(
            reply.statuses.starts_with(&early),
            "receive's statuses differ from the reply's"
        );
        let done = reply.session_complete;
        let reply_wire = SyncMl::read(reply.message.to_xml().as_bytes()).unwrap();
        replies.push(reply);
        if done {
            assert!(
                device.handle(&reply_wire).is_none(),
                "device answered a final status-only reply"
            );
            return replies;
        }
        msg = device.handle(&reply_wire).expect("device answers commands");
    }
    panic!("session did not end");
}

fn codes(replies: &[Reply], queue_ref: &str) -> Vec<(String, bool, u16)> {
    replies
        .iter()
        .flat_map(|r| &r.statuses)
        .filter(|s| s.queue_ref.as_str() == queue_ref)
        .map(|s| (s.cmd.clone(), s.nested, s.code.code()))
        .collect()
}

#[test]
fn the_reply_answers_the_header_and_each_device_command_in_order() {
    let msg = SyncMl::read(include_bytes!("../fixtures/client-first.xml")).unwrap();
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let reply = server.respond(&msg, &[]).unwrap();
    let statuses: Vec<_> = reply
        .message
        .commands
        .iter()
        .map(|c| match c {
            Command::Status(s) => (
                s.msg_ref.as_str().to_owned(),
                s.cmd_ref.as_ref().map(|c| c.as_str().to_owned()),
                s.cmd.clone(),
                s.code,
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    let s = |c: &str, cmd: &str| {
        (
            "1".to_owned(),
            Some(c.to_owned()),
            cmd.to_owned(),
            StatusCode::OK,
        )
    };
    assert_eq!(
        statuses,
        [
            s("0", "SyncHdr"),
            s("1", "Alert"),
            s("2", "Alert"),
            s("3", "Replace")
        ]
    );
    // Target and source swap; SessionID 0 is kept.
    let h = &reply.message.header;
    assert_eq!(h.session_id.as_str(), "0");
    assert_eq!(
        h.target.loc_uri.as_str(),
        "{7BA748C8-703E-4DF2-A74A-92984117346A}"
    );
    assert_eq!(h.source.loc_uri.as_str(), SERVER);
    assert!(reply.message.final_);
    assert!(reply.session_complete);
    assert_eq!(reply.alerts.len(), 2);
    assert_eq!(
        reply.alerts[1].items[0].data.as_ref().unwrap().as_str(),
        "user"
    );
    assert_eq!(reply.device_commands.len(), 1);
}

#[test]
fn messages_from_another_session_or_protocol_are_refused() {
    let msg = SyncMl::read(include_bytes!("../fixtures/client-first.xml")).unwrap();
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let mut queued = vec![QueuedCommand::new("q", get("./DevInfo/Man"))];
    server.respond(&msg, &queued).unwrap();
    assert!(matches!(
        server.respond(&msg, &[]),
        Err(SessionError::RepeatedMessage { .. })
    ));
    let mut other = msg.clone();
    other.header.session_id = "7".into();
    other.header.msg_id = "2".into();
    assert!(matches!(
        server.respond(&other, &[]),
        Err(SessionError::WrongSession { .. })
    ));
    // Receiving first refuses the same messages.
    assert!(matches!(
        server.receive(&msg),
        Err(SessionError::RepeatedMessage { .. })
    ));
    assert!(matches!(
        server.receive(&other),
        Err(SessionError::WrongSession { .. })
    ));
    let mut old = msg.clone();
    old.header.ver_proto = "DM/1.1".into();
    let mut fresh = ServerSession::new(SessionConfig::new(SERVER));
    assert!(matches!(
        fresh.respond(&old, &[]),
        Err(SessionError::UnsupportedProtocol { .. })
    ));
    queued.clear();
}

#[test]
fn every_command_type_is_applied_and_answered() {
    let mut device = TestDevice::new("dev-1");
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let queue = vec![
        QueuedCommand::new(
            "add",
            add("./Vendor/MSFT/Policy/Config/Camera/AllowCamera", "0"),
        ),
        QueuedCommand::new(
            "replace",
            replace("./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera", "1"),
        ),
        QueuedCommand::new("get", get("Vendor/MSFT/Policy/Config/Camera/AllowCamera")),
        QueuedCommand::new("get-interior", get("./DevInfo")),
        QueuedCommand::new(
            "exec",
            Command::Exec(ItemCommand::new(
                "0",
                Item::target("./Vendor/MSFT/Reboot/RebootNow"),
            )),
        ),
        QueuedCommand::new("alert", Command::Alert(Alert::new("0", AlertCode::DISPLAY))),
        QueuedCommand::new(
            "atomic",
            atomic(vec![
                add("./Vendor/MSFT/A/x", "1"),
                replace("./Vendor/MSFT/A/y", "2"),
            ]),
        ),
        QueuedCommand::new(
            "sequence",
            Command::Sequence(Container {
                cmd_id: Some("0".into()),
                commands: vec![replace("./Vendor/MSFT/B", "3"), get("./Vendor/MSFT/B")],
                ..Container::default()
            }),
        ),
        QueuedCommand::new(
            "delete",
            Command::Delete(ItemCommand::new("0", Item::target("./Vendor/MSFT/A"))),
        ),
        QueuedCommand::new(
            "delete-missing",
            Command::Delete(ItemCommand::new("0", Item::target("./Vendor/MSFT/Nope"))),
        ),
        QueuedCommand::new("add-existing", add("./DevInfo/Man", "x")),
    ];
    let replies = run_session(&mut device, &mut server, &queue);
    let ok = |c: &str| (c.to_owned(), false, 200);
    assert_eq!(codes(&replies, "add"), [ok("Add")]);
    assert_eq!(codes(&replies, "replace"), [ok("Replace")]);
    assert_eq!(codes(&replies, "get"), [ok("Get")]);
    assert_eq!(codes(&replies, "exec"), [ok("Exec")]);
    assert_eq!(codes(&replies, "alert"), [ok("Alert")]);
    assert_eq!(
        codes(&replies, "atomic"),
        [
            ok("Atomic"),
            ("Add".into(), true, 200),
            ("Replace".into(), true, 200)
        ]
    );
    assert_eq!(
        codes(&replies, "sequence"),
        [
            ok("Sequence"),
            ("Replace".into(), true, 200),
            ("Get".into(), true, 200)
        ]
    );
    assert_eq!(codes(&replies, "delete"), [ok("Delete")]);
    assert_eq!(
        codes(&replies, "delete-missing"),
        [("Delete".into(), false, 404)]
    );
    assert_eq!(
        codes(&replies, "add-existing"),
        [("Add".into(), false, 418)]
    );

    let results: Vec<_> = replies.iter().flat_map(|r| &r.results).collect();
    let value = |q: &str| {
        results
            .iter()
            .find(|r| r.queue_ref.as_str() == q)
            .map(|r| r.items[0].data.as_ref().unwrap().as_str().to_owned())
    };
    // Three spellings of one node: the Get sees the Replace.
    assert_eq!(value("get").as_deref(), Some("1"));
    assert_eq!(
        value("get-interior").as_deref(),
        Some("DevId/DmV/Lang/Man/Mod")
    );
    assert_eq!(value("sequence").as_deref(), Some("3"));
    assert_eq!(
        device.node("./Vendor/MSFT/A/x"),
        None,
        "deleted with its subtree"
    );
    assert!(replies.iter().all(|r| r.unmatched.is_empty()));
}

#[test]
fn a_nested_atomic_is_answered_500_and_its_parent_507() {
    let mut device = TestDevice::new("dev-1");
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let queue = vec![QueuedCommand::new(
        "outer",
        atomic(vec![
            replace("./Vendor/MSFT/X", "1"),
            atomic(vec![replace("./Vendor/MSFT/Y", "2")]),
        ]),
    )];
    let replies = run_session(&mut device, &mut server, &queue);
    assert_eq!(
        codes(&replies, "outer"),
        [
            ("Atomic".into(), false, 507),
            ("Replace".into(), true, 216),
            ("Atomic".into(), true, 500),
        ]
    );
    assert_eq!(device.node("./Vendor/MSFT/X"), None, "rolled back");
}

#[test]
fn add_then_replace_of_one_node_inside_atomic_fails_and_rolls_back() {
    let mut device = TestDevice::new("dev-1");
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let queue = vec![QueuedCommand::new(
        "a",
        atomic(vec![
            add("./Vendor/MSFT/N", "1"),
            replace("./Device/Vendor/MSFT/N", "2"),
        ]),
    )];
    let replies = run_session(&mut device, &mut server, &queue);
    assert_eq!(
        codes(&replies, "a"),
        [
            ("Atomic".into(), false, 507),
            ("Add".into(), true, 216),
            ("Replace".into(), true, 500)
        ]
    );
    assert_eq!(device.node("./Vendor/MSFT/N"), None);
    let status = replies[1].statuses[0].code;
    assert_eq!(status, StatusCode::ATOMIC_FAILED);
    assert!(status.is_atomic_outcome() && !status.is_success());
}

#[test]
fn a_get_inside_atomic_is_answered_500() {
    let mut device = TestDevice::new("dev-1");
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let queue = vec![QueuedCommand::new("a", atomic(vec![get("./DevInfo/Man")]))];
    let replies = run_session(&mut device, &mut server, &queue);
    assert_eq!(
        codes(&replies, "a"),
        [("Atomic".into(), false, 507), ("Get".into(), true, 500)]
    );
}

#[test]
fn a_locuri_starting_with_a_slash_is_answered_400() {
    let mut device = TestDevice::new("dev-1");
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let queue = vec![QueuedCommand::new(
        "slash",
        replace("/Vendor/MSFT/Policy/Config/X", "1"),
    )];
    let replies = run_session(&mut device, &mut server, &queue);
    assert_eq!(codes(&replies, "slash"), [("Replace".into(), false, 400)]);
    assert_eq!(device.node("./Vendor/MSFT/Policy/Config/X"), None);
    // The server applies the same rule to what a device sends.
    let mut msg = device.open_session(SERVER);
    if let Command::Replace(r) = &mut msg.commands[2] {
        r.items[0].source = Some("/DevInfo/DevId".into());
    }
    let reply = ServerSession::new(SessionConfig::new(SERVER))
        .respond(&msg, &[])
        .unwrap();
    let Command::Status(s) = &reply.message.commands[3] else {
        panic!()
    };
    assert_eq!(
        (s.cmd.as_str(), s.code),
        ("Replace", StatusCode::BAD_REQUEST)
    );
}

#[test]
fn a_missing_cmdid_is_answered_400_with_a_blank_cmdref() {
    // The device's side: a server command without CmdID.
    let mut device = TestDevice::new("dev-1");
    let hello = device.open_session(SERVER);
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let mut reply = server
        .respond(
            &hello,
            &[QueuedCommand::new("q", replace("./Vendor/MSFT/X", "1"))],
        )
        .unwrap();
    if let Some(Command::Replace(r)) = reply.message.commands.last_mut() {
        r.cmd_id = None;
    }
    let wire = reply.message.to_xml();
    assert!(!wire.contains("<Replace><CmdID>"));
    let answer = device
        .handle(&SyncMl::read(wire.as_bytes()).unwrap())
        .unwrap();
    let xml = answer.to_xml();
    assert!(xml.contains("<CmdRef></CmdRef><Cmd>Replace</Cmd><TargetRef>./Vendor/MSFT/X</TargetRef><Data>400</Data>"), "{xml}");
    assert_eq!(device.node("./Vendor/MSFT/X"), None);
    // The server's side: a device command without CmdID.
    let mut hello = TestDevice::new("dev-2").open_session(SERVER);
    if let Command::Alert(a) = &mut hello.commands[0] {
        a.cmd_id = None;
    }
    let reply = ServerSession::new(SessionConfig::new(SERVER))
        .respond(&hello, &[])
        .unwrap();
    let Command::Status(s) = &reply.message.commands[1] else {
        panic!()
    };
    assert_eq!(
        (s.cmd_ref.as_ref(), s.code),
        (None, StatusCode::BAD_REQUEST)
    );
}

#[test]
fn queued_commands_beyond_the_budget_continue_in_the_next_message_in_order() {
    let mut device = TestDevice::new("dev-1");
    let mut server = ServerSession::new(SessionConfig::new(SERVER).with_max_msg_size(4096));
    let queue: Vec<_> = (0..60)
        .map(|i| {
            QueuedCommand::new(
                format!("q{i:02}"),
                replace(
                    &format!("./Vendor/MSFT/Policy/Config/S/N{i}"),
                    &i.to_string(),
                ),
            )
        })
        .collect();
    let replies = run_session(&mut device, &mut server, &queue);
    assert!(replies.len() > 3, "{} replies", replies.len());
    for r in &replies {
        assert!(r.message.to_xml().len() <= 4096);
    }
    // All but the last command-carrying replies lack Final.
    let carrying: Vec<_> = replies.iter().filter(|r| !r.sent.is_empty()).collect();
    assert!(
        carrying[..carrying.len() - 1]
            .iter()
            .all(|r| !r.message.final_)
    );
    let sent: Vec<_> = replies
        .iter()
        .flat_map(|r| r.sent.iter().map(|q| q.as_str().to_owned()))
        .collect();
    let expected: Vec<_> = queue
        .iter()
        .map(|q| q.queue_ref.as_str().to_owned())
        .collect();
    assert_eq!(sent, expected, "each once, in order");
    let statuses: usize = replies.iter().map(|r| r.statuses.len()).sum();
    assert_eq!(statuses, 60);
    // The device asked for each continuation with Alert 1222.
    let asks = replies
        .iter()
        .flat_map(|r| &r.alerts)
        .filter(|a| a.code == AlertCode::NEXT_MESSAGE)
        .count();
    assert_eq!(asks, carrying.len() - 1);
    assert_eq!(device.node("./Vendor/MSFT/Policy/Config/S/N59"), Some("59"));
}

#[test]
fn the_device_max_msg_size_lowers_the_budget_and_a_large_value_travels_in_chunks() {
    let mut device = TestDevice::new("dev-1").with_max_msg_size(2048);
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let big = "x<&>".repeat(1250);
    let queue = vec![
        QueuedCommand::new("big", replace("./Vendor/MSFT/Big", &big)),
        QueuedCommand::new("small", replace("./Vendor/MSFT/Small", "1")),
        // An Exec cannot be cut: reported, never blocking the queue.
        QueuedCommand::new(
            "exec",
            Command::Exec(ItemCommand::new(
                "0",
                Item::target("./Vendor/MSFT/Run").with_data("y".repeat(5000)),
            )),
        ),
    ];
    let mut msg = Some(device.open_session(SERVER));
    let (mut sent, mut too_large, mut statuses) = (Vec::new(), Vec::new(), Vec::new());
    let mut chunks = 0;
    while let Some(m) = msg.take() {
        let reply = server.respond(&m, &queue).unwrap();
        assert!(reply.message.to_xml().len() <= 2048);
        chunks += reply
            .message
            .commands
            .iter()
            .filter(|c| c.items().first().is_some_and(|i| i.more_data))
            .count();
        sent.extend(reply.sent.iter().map(|q| q.as_str().to_owned()));
        too_large.extend(reply.too_large.iter().map(|q| q.as_str().to_owned()));
        statuses.extend(
            reply
                .statuses
                .iter()
                .map(|s| (s.queue_ref.as_str().to_owned(), s.code)),
        );
        msg = device.handle(&reply.message);
    }
    assert!(
        chunks >= 2,
        "{chunks} chunks; sent {sent:?}, too large {too_large:?}, {statuses:?}"
    );
    assert_eq!(device.node("./Vendor/MSFT/Big"), Some(big.as_str()));
    assert_eq!(device.node("./Vendor/MSFT/Small"), Some("1"));
    assert_eq!(sent, ["big", "small"]);
    // (Reported at each message while the caller keeps offering it.)
    too_large.dedup();
    assert_eq!(too_large, ["exec"]);
    // The large object is answered once, by its last chunk's status.
    assert_eq!(
        statuses,
        [
            ("big".to_owned(), StatusCode::OK),
            ("small".to_owned(), StatusCode::OK)
        ]
    );
}

#[test]
fn a_large_object_whose_size_does_not_match_is_refused_by_the_device() {
    let mut device = TestDevice::new("dev-1");
    let open = device.open_session(SERVER);
    let mut first = Item::target("./Vendor/MSFT/Big").with_data("abc");
    first.more_data = true;
    let mut meta = Meta::default();
    meta.size = Some("10".into());
    first.meta = Some(Box::new(meta));
    let last = Item::target("./Vendor/MSFT/Big").with_data("def");
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let queue = vec![
        QueuedCommand::new("a", Command::Replace(ItemCommand::new("0", first))),
        QueuedCommand::new("b", Command::Replace(ItemCommand::new("0", last))),
    ];
    let reply = server.respond(&open, &queue).unwrap();
    let answer = device.handle(&reply.message).unwrap();
    let codes: Vec<u16> = answer
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) if s.cmd == "Replace" => Some(s.code.code()),
            _ => None,
        })
        .collect();
    assert_eq!(codes, [213, 424]);
    assert_eq!(device.node("./Vendor/MSFT/Big"), None);
}

#[test]
fn a_device_message_without_final_gets_statuses_and_alert_1222_only() {
    let mut device = TestDevice::new("dev-1");
    let mut hello = device.open_session(SERVER);
    hello.final_ = false;
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let queue = vec![QueuedCommand::new("q", replace("./Vendor/MSFT/X", "1"))];
    let reply = server.respond(&hello, &queue).unwrap();
    assert!(reply.sent.is_empty());
    assert!(!reply.message.final_);
    let Some(Command::Alert(a)) = reply.message.commands.last() else {
        panic!()
    };
    assert_eq!(a.code, AlertCode::NEXT_MESSAGE);
    // The rest of the device's package, with Final: now the command goes.
    let mut rest = device.open_session(SERVER);
    rest.header.session_id = hello.header.session_id.clone();
    rest.header.msg_id = "2".into();
    rest.commands.truncate(0);
    let reply = server.respond(&rest, &queue).unwrap();
    assert_eq!(reply.sent.len(), 1);
    assert!(reply.message.final_);
}

#[test]
fn statuses_for_commands_never_sent_are_reported_unmatched() {
    let msg = SyncMl::read(include_bytes!("../fixtures/client-results.xml")).unwrap();
    let reply = ServerSession::new(SessionConfig::new(SERVER))
        .respond(&msg, &[])
        .unwrap();
    assert_eq!(reply.header_status, Some(StatusCode::OK));
    assert!(reply.statuses.is_empty());
    assert_eq!(reply.unmatched.len(), 8, "six statuses and two results");
    assert_eq!(reply.alerts[0].code, AlertCode::GENERIC);
}

#[test]
fn generic_alerts_from_the_device_reach_the_server() {
    let mut device = TestDevice::new("dev-1");
    let msg = device.generic_alert(
        "com.microsoft:mdm.unenrollment.userrequest",
        "./Vendor/MSFT/DMClient/Unenroll",
        "1",
    );
    let reply = ServerSession::new(SessionConfig::new(SERVER))
        .respond(&msg, &[])
        .unwrap();
    let a = &reply.alerts[1];
    assert_eq!(a.code, AlertCode::GENERIC);
    assert_eq!(
        a.items[0].meta.as_ref().unwrap().type_.as_deref(),
        Some("com.microsoft:mdm.unenrollment.userrequest")
    );
    assert_eq!(reply.message.commands.len(), 3);
}

#[test]
fn a_resumed_device_never_reuses_a_session_id() {
    let mut device = TestDevice::new("dev-9");
    assert_eq!(device.next_session_id(), 0);
    let first = device.open_session(SERVER);
    assert_eq!(first.header.session_id.as_str(), "0");
    assert_eq!(device.next_session_id(), 1);
    // Saved and loaded again (as `mdmkit simulate --fleet` does).
    let mut again = TestDevice::new("dev-9").resumed(SERVER, device.next_session_id());
    let second = again.open_session(SERVER);
    assert_eq!(second.header.session_id.as_str(), "1");
    assert_eq!(again.next_session_id(), 2);
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A session restored from its snapshot at every message answers exactly
//! as the session that never left memory: what a server keeps in its store
//! between two HTTP requests is the whole session. And whatever the
//! device's `MaxMsgSize`, every queued value arrives whole: small ones
//! wait for room, large ones travel as large objects (`MoreData`).

use mdmkit_windows::device::TestDevice;
use mdmkit_windows::session::{QueuedCommand, ServerSession, SessionConfig, SessionSnapshot};
use mdmkit_windows::syncml::{Command, Format, Item, ItemCommand, Meta};
use proptest::prelude::*;

const SERVER: &str = "https://mdm.example.org/ManagementServer/MDM.svc";

fn queued(sizes: &[usize]) -> Vec<QueuedCommand> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            QueuedCommand::new(
                format!("q-{i}"),
                Command::Replace(ItemCommand::new(
                    "0",
                    Item::target(format!("./Vendor/MSFT/Test/Node{i}"))
                        .with_meta(Meta::format(Format::Chr))
                        .with_data("x".repeat(*n)),
                )),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_session_restored_at_every_message_answers_like_the_one_in_memory(
        sizes in proptest::collection::vec(1usize..6000, 0..12),
        max in 1024usize..4096,
    ) {
        let queue = queued(&sizes);
        let config = SessionConfig::new(SERVER);
        let mut device_a = TestDevice::new("dev-1").with_max_msg_size(max);
        let mut device_b = device_a.clone();
        let mut kept = ServerSession::new(config.clone());
        let mut stored: SessionSnapshot = ServerSession::new(config.clone()).snapshot();

        let mut msg_a = Some(device_a.open_session(SERVER));
        let mut msg_b = Some(device_b.open_session(SERVER));
        let mut rounds = 0;
        while let (Some(a), Some(b)) = (msg_a.take(), msg_b.take()) {
            rounds += 1;
            prop_assert!(rounds < 200, "the session does not end");
            let ra = kept.respond(&a, &queue).unwrap();
            // Through JSON, as a store keeps it.
            let json = serde_json::to_string(&stored).unwrap();
            let back: SessionSnapshot = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &stored);
            let mut restored = ServerSession::restore(config.clone(), &back);
            let rb = restored.respond(&b, &queue).unwrap();
            stored = restored.snapshot();
            prop_assert_eq!(&stored, &kept.snapshot());
            prop_assert_eq!(ra.message.to_xml(), rb.message.to_xml());
            prop_assert_eq!(&ra.statuses, &rb.statuses);
            prop_assert_eq!(&ra.sent, &rb.sent);
            prop_assert!(ra.too_large.is_empty(), "{:?}", ra.too_large);
            msg_a = device_a.handle(&ra.message);
            msg_b = device_b.handle(&rb.message);
        }
        prop_assert!(msg_a.is_none() && msg_b.is_none());
        prop_assert!(stored.ended);
        for (i, n) in sizes.iter().enumerate() {
            let want = "x".repeat(*n);
            let uri = format!("./Vendor/MSFT/Test/Node{i}");
            prop_assert_eq!(device_a.node(&uri), Some(want.as_str()));
            prop_assert_eq!(device_b.node(&uri), Some(want.as_str()));
        }
    }
}

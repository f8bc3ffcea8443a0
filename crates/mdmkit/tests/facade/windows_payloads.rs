//! A queued Windows payload of several commands goes out whole (as one
//! `Sequence`) and is answered by all its statuses: acknowledged when
//! every command succeeded, an error when any failed, never half recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mdmkit::queue::{CommandId, CommandState, EnrollmentId, MemoryStore, NewCommand, QueueStore};
use mdmkit::state::MemoryState;
use mdmkit::windows::SyncMl;
use mdmkit::windows::device::TestDevice;
use mdmkit::windows::session::{ServerSession, SessionConfig};
use mdmkit::windows::syncml::{Command, Item, ItemCommand, SyncHdr};
use mdmkit::{DeviceId, Reconciler, TenantId};

const SERVER: &str = "https://mdm.example.org/MDM.svc";

fn payload(commands: Vec<Command>) -> Vec<u8> {
    SyncMl {
        header: SyncHdr::new("1", "1", "device", "server"),
        commands,
        final_: true,
    }
    .to_xml()
    .into_bytes()
}

fn replace(uri: &str) -> Command {
    Command::Replace(ItemCommand::new("1", Item::target(uri).with_data("1")))
}

#[tokio::test]
async fn a_payload_of_several_commands_is_sent_whole_and_answered_by_all_its_statuses() {
    let queue: Arc<dyn QueueStore> = Arc::new(MemoryStore::new());
    let r = Reconciler::new(queue.clone(), Arc::new(MemoryState::new()));
    let t = TenantId::new("w").unwrap();
    let dev = DeviceId::new("PC-1").unwrap();
    let target = [EnrollmentId::device(dev.clone())];
    let good = CommandId::new();
    let bad = CommandId::new();
    let both = payload(vec![
        replace("./Vendor/MSFT/A/One"),
        replace("./Vendor/MSFT/A/Two"),
    ]);
    queue
        .enqueue(&t, &NewCommand::new("Replace", both).with_id(good), &target)
        .await
        .unwrap();
    // The second deletes a node the PC does not have: 404.
    let half = payload(vec![
        replace("./Vendor/MSFT/B/One"),
        Command::Delete(ItemCommand::new("2", Item::target("./Vendor/MSFT/Missing"))),
    ]);
    queue
        .enqueue(&t, &NewCommand::new("Replace", half).with_id(bad), &target)
        .await
        .unwrap();

    let queued = r.windows_commands(&t, &dev, 10).await.unwrap();
    assert_eq!(queued.len(), 2);
    let mut device = TestDevice::new("PC-1");
    let mut s = ServerSession::new(SessionConfig::new(SERVER));
    let open = device.open_session(SERVER);
    let reply = s.respond(&open, &queued).unwrap();
    let answer = device.handle(&reply.message).unwrap();
    let reply = s.respond(&answer, &queued).unwrap();
    r.windows_statuses(&t, &dev, &reply.statuses).await.unwrap();

    assert_eq!(device.node("./Vendor/MSFT/A/One"), Some("1"));
    assert_eq!(device.node("./Vendor/MSFT/A/Two"), Some("1"));
    let states: Vec<(CommandId, CommandState)> = queue
        .list(&t, &target[0])
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.state))
        .collect();
    assert!(
        states.contains(&(good, CommandState::Acknowledged)),
        "{states:?}"
    );
    assert!(states.contains(&(bad, CommandState::Error)), "{states:?}");
}

//! One conformance suite, run unchanged against the memory, SQLite and
//! PostgreSQL stores.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cloned_ref_to_slice_refs
)]

use crate::common;

use std::time::Duration;

use common::{Harness, dev, tenant};
use mdmkit_core::DeviceId;
use mdmkit_queue::{
    CommandId, CommandState, DeliverOptions, EnrollmentId, NewCommand, QueueError, Reason, Report,
    ReportOutcome, ReportStatus,
};

fn cmd(kind: &str) -> NewCommand {
    NewCommand::new(kind, kind.as_bytes().to_vec())
}

fn ack() -> Report {
    Report::new(ReportStatus::Acknowledged)
}

async fn next_kind(h: &Harness, t: &str, d: &EnrollmentId) -> Option<String> {
    h.store.next(&tenant(t), d).await.unwrap().map(|c| c.kind)
}

async fn deliver_ack(h: &Harness, t: &str, d: &EnrollmentId) -> Option<String> {
    let c = h.store.next(&tenant(t), d).await.unwrap()?;
    h.store.report(&tenant(t), d, c.id, &ack()).await.unwrap();
    Some(c.kind)
}

async fn state_of(h: &Harness, t: &str, d: &EnrollmentId, id: CommandId) -> CommandState {
    let l = h.store.list(&tenant(t), d).await.unwrap();
    l.iter().find(|e| e.id == id).map(|e| e.state).unwrap()
}

async fn queue_orders_by_priority_then_creation(h: &Harness) {
    let d = dev("ipad-1");
    let t = tenant("t1");
    for (k, p) in [("a", 0), ("b", 5), ("c", 0), ("d", 5)] {
        h.store
            .enqueue(&t, &cmd(k).with_priority(p), &[d.clone()])
            .await
            .unwrap();
        h.clock.advance(Duration::from_millis(1));
    }
    let mut got = Vec::new();
    while let Some(k) = deliver_ack(h, "t1", &d).await {
        got.push(k);
    }
    assert_eq!(got, ["b", "d", "a", "c"]);
    let l = h.store.list(&t, &d).await.unwrap();
    assert!(
        l.iter()
            .all(|e| e.state == CommandState::Acknowledged && e.attempts == 1)
    );
}

async fn delivered_payload_is_the_enqueued_bytes(h: &Harness) {
    let d = dev("ipad-1");
    let payload: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let q = h
        .store
        .enqueue(
            &tenant("t1"),
            &NewCommand::new("InstallProfile", payload.clone()),
            &[d.clone()],
        )
        .await
        .unwrap();
    let c = h.store.next(&tenant("t1"), &d).await.unwrap().unwrap();
    assert_eq!(
        (c.id, c.kind.as_str(), c.attempt),
        (q.id, "InstallProfile", 1)
    );
    assert_eq!(c.payload, payload);
    assert_eq!(
        c.lease_until,
        common::START.plus(DeliverOptions::DEFAULT_LEASE)
    );
}

async fn apple_delivers_one_command_at_a_time(h: &Harness) {
    let d = dev("ipad-1");
    h.store
        .enqueue(&tenant("t1"), &cmd("a"), &[d.clone()])
        .await
        .unwrap();
    h.store
        .enqueue(&tenant("t1"), &cmd("b"), &[d.clone()])
        .await
        .unwrap();
    assert_eq!(next_kind(h, "t1", &d).await.as_deref(), Some("a"));
    assert_eq!(next_kind(h, "t1", &d).await, None, "a is still in flight");
    // A Windows-style batch ignores the in-flight rule.
    let b = h.store.next_batch(&tenant("t1"), &d, 10).await.unwrap();
    assert_eq!(b.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>(), ["b"]);
}

async fn notnow_command_waits_for_a_non_notnow_report(h: &Harness) {
    let t = tenant("t1");
    let d = dev("ipad-1");
    let a = h
        .store
        .enqueue(&t, &cmd("a"), &[d.clone()])
        .await
        .unwrap()
        .id;
    let b = h
        .store
        .enqueue(&t, &cmd("b"), &[d.clone()])
        .await
        .unwrap()
        .id;
    assert_eq!(h.store.next(&t, &d).await.unwrap().unwrap().id, a);
    let o = h
        .store
        .report(&t, &d, a, &Report::new(ReportStatus::NotNow))
        .await
        .unwrap();
    assert_eq!(o, ReportOutcome::Recorded(CommandState::NotNow));
    // The NotNow'd command is not offered again in a loop: b comes next.
    assert_eq!(h.store.next(&t, &d).await.unwrap().unwrap().id, b);
    h.store
        .report(&t, &d, b, &Report::new(ReportStatus::NotNow))
        .await
        .unwrap();
    assert!(h.store.next(&t, &d).await.unwrap().is_none());
    // Idle: the device is free again; both are offered, in order.
    h.store.idle(&t, &d).await.unwrap();
    let again = h.store.next(&t, &d).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempt), (a, 2));
    h.store.report(&t, &d, a, &ack()).await.unwrap();
    assert_eq!(h.store.next(&t, &d).await.unwrap().unwrap().id, b);
}

/// `report_all_and_next_batch` is each `report` then `next_batch`, however
/// a backend writes it: the reports are recorded first (what they release
/// is delivered), one bad report is its own error, a repeated one is
/// harmless, and results are kept.
async fn report_all_and_next_batch_is_reports_then_a_batch(h: &Harness) {
    let t = tenant("t1");
    let d = dev("pc-1");
    let mut ids = Vec::new();
    for k in ["a", "b", "c", "d", "e"] {
        ids.push(h.store.enqueue(&t, &cmd(k), &[d.clone()]).await.unwrap().id);
    }
    let [a, b, c, dd, e] = ids[..] else {
        unreachable!()
    };
    let first = h.store.next_batch(&t, &d, 2).await.unwrap();
    assert_eq!(first.iter().map(|x| x.id).collect::<Vec<_>>(), [a, b]);
    let unknown = CommandId::new();
    let reports = [
        (a, ack().with_result(b"a-result".to_vec())),
        (unknown, ack()),
        (c, ack()),
        (b, Report::new(ReportStatus::Error)),
    ];
    let (outcomes, next) = h
        .store
        .report_all_and_next_batch(&t, &d, &reports, 2)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 4);
    assert_eq!(
        outcomes[0].as_ref().unwrap(),
        &ReportOutcome::Recorded(CommandState::Acknowledged)
    );
    assert!(
        matches!(outcomes[1], Err(QueueError::UnknownCommand { .. })),
        "{:?}",
        outcomes[1]
    );
    assert!(
        matches!(outcomes[2], Err(QueueError::NotDelivered { .. })),
        "{:?}",
        outcomes[2]
    );
    assert_eq!(
        outcomes[3].as_ref().unwrap(),
        &ReportOutcome::Recorded(CommandState::Error)
    );
    // The bad reports withheld nothing: the next two in queue order.
    assert_eq!(next.iter().map(|x| x.id).collect::<Vec<_>>(), [c, dd]);
    assert_eq!(
        (next[0].kind.as_str(), next[0].payload.as_slice()),
        ("c", &b"c"[..])
    );
    // A repeated report is harmless; no room delivers nothing.
    let (outcomes, next) = h
        .store
        .report_all_and_next_batch(&t, &d, &[(a, ack()), (c, ack())], 0)
        .await
        .unwrap();
    assert_eq!(
        outcomes[0].as_ref().unwrap(),
        &ReportOutcome::AlreadyFinal(CommandState::Acknowledged)
    );
    assert_eq!(
        outcomes[1].as_ref().unwrap(),
        &ReportOutcome::Recorded(CommandState::Acknowledged)
    );
    assert!(next.is_empty());
    assert_eq!(state_of(h, "t1", &d, e).await, CommandState::Queued);
    let hist = h.store.history(&t, &d, Some(a)).await.unwrap();
    assert_eq!(
        hist.last().unwrap().result.as_deref(),
        Some(&b"a-result"[..])
    );
    // Several reports with results: each result is kept with its command.
    let (outcomes, next) = h
        .store
        .report_all_and_next_batch(
            &t,
            &d,
            &[
                (dd, ack().with_result(b"d-result".to_vec())),
                (c, ack().with_result(b"late".to_vec())),
            ],
            5,
        )
        .await
        .unwrap();
    assert_eq!(
        outcomes[0].as_ref().unwrap(),
        &ReportOutcome::Recorded(CommandState::Acknowledged)
    );
    assert_eq!(
        outcomes[1].as_ref().unwrap(),
        &ReportOutcome::AlreadyFinal(CommandState::Acknowledged)
    );
    assert_eq!(next.iter().map(|x| x.id).collect::<Vec<_>>(), [e]);
    let hist = h.store.history(&t, &d, Some(dd)).await.unwrap();
    assert_eq!(
        hist.last().unwrap().result.as_deref(),
        Some(&b"d-result"[..])
    );
}

/// `report_and_next` is `report` then `next`, whichever way a backend
/// writes it: what a report releases is delivered in queue order, a
/// NotNow'd command waits, a repeated report is harmless, and a refused
/// report delivers nothing.
async fn report_and_next_is_a_report_then_a_delivery(h: &Harness) {
    let t = tenant("t1");
    let d = dev("ipad-1");
    let mut ids = Vec::new();
    for k in ["a", "b", "c"] {
        ids.push(h.store.enqueue(&t, &cmd(k), &[d.clone()]).await.unwrap().id);
    }
    let [a, b, c] = ids[..] else { unreachable!() };
    assert_eq!(h.store.next(&t, &d).await.unwrap().unwrap().id, a);
    let (o, n) = h
        .store
        .report_and_next(&t, &d, a, &Report::new(ReportStatus::NotNow))
        .await
        .unwrap();
    assert_eq!(o, ReportOutcome::Recorded(CommandState::NotNow));
    let n = n.unwrap();
    assert_eq!(
        (n.id, n.kind.as_str(), n.payload.as_slice()),
        (b, "b", &b"b"[..])
    );
    // Acknowledging b releases a, which comes before c.
    let (o, n) = h.store.report_and_next(&t, &d, b, &ack()).await.unwrap();
    assert_eq!(o, ReportOutcome::Recorded(CommandState::Acknowledged));
    let n = n.unwrap();
    assert_eq!((n.id, n.attempt), (a, 2));
    let (_, n) = h
        .store
        .report_and_next(&t, &d, a, &ack().with_result(b"answer".to_vec()))
        .await
        .unwrap();
    assert_eq!(n.unwrap().id, c);
    let (o, n) = h.store.report_and_next(&t, &d, c, &ack()).await.unwrap();
    assert_eq!(o, ReportOutcome::Recorded(CommandState::Acknowledged));
    assert!(n.is_none());
    // A repeated report changes nothing and delivers what is due (nothing).
    let (o, n) = h.store.report_and_next(&t, &d, c, &ack()).await.unwrap();
    assert_eq!(o, ReportOutcome::AlreadyFinal(CommandState::Acknowledged));
    assert!(n.is_none());
    // A report on an unknown command is refused and delivers nothing.
    let e = h
        .store
        .enqueue(&t, &cmd("e"), &[d.clone()])
        .await
        .unwrap()
        .id;
    let err = h
        .store
        .report_and_next(&t, &d, CommandId::new(), &ack())
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::UnknownCommand { .. }), "{err:?}");
    assert_eq!(state_of(h, "t1", &d, e).await, CommandState::Queued);
    // The result was kept, and every transition is in the history in order.
    let hist = h.store.history(&t, &d, Some(a)).await.unwrap();
    let moves: Vec<(Reason, CommandState)> = hist.iter().map(|e| (e.reason, e.to)).collect();
    assert_eq!(
        moves,
        [
            (Reason::Enqueued, CommandState::Queued),
            (Reason::Delivered, CommandState::Delivered),
            (Reason::Reported, CommandState::NotNow),
            (Reason::Released, CommandState::Queued),
            (Reason::Delivered, CommandState::Delivered),
            (Reason::Reported, CommandState::Acknowledged),
        ]
    );
    assert_eq!(hist.last().unwrap().result.as_deref(), Some(&b"answer"[..]));
}

async fn acknowledgement_releases_notnow_commands(h: &Harness) {
    let t = tenant("t1");
    let d = dev("ipad-1");
    let a = h
        .store
        .enqueue(&t, &cmd("a"), &[d.clone()])
        .await
        .unwrap()
        .id;
    let b = h
        .store
        .enqueue(&t, &cmd("b"), &[d.clone()])
        .await
        .unwrap()
        .id;
    h.store.next(&t, &d).await.unwrap();
    h.store
        .report(&t, &d, a, &Report::new(ReportStatus::NotNow))
        .await
        .unwrap();
    h.store.next(&t, &d).await.unwrap();
    h.store.report(&t, &d, b, &ack()).await.unwrap();
    assert_eq!(state_of(h, "t1", &d, a).await, CommandState::Queued);
    assert_eq!(h.store.next(&t, &d).await.unwrap().unwrap().id, a);
}

async fn ended_lease_redelivers_and_duplicate_reports_are_harmless(h: &Harness) {
    let t = tenant("t1");
    let d = dev("pc-1");
    let opts = DeliverOptions::single().with_lease(Duration::from_secs(60));
    let id = h
        .store
        .enqueue(&t, &cmd("a"), &[d.clone()])
        .await
        .unwrap()
        .id;
    assert_eq!(h.store.deliver(&t, &d, &opts).await.unwrap().len(), 1);
    h.clock.advance(Duration::from_secs(59));
    assert!(h.store.deliver(&t, &d, &opts).await.unwrap().is_empty());
    h.clock.advance(Duration::from_secs(1));
    let again = h.store.deliver(&t, &d, &opts).await.unwrap();
    assert_eq!((again[0].id, again[0].attempt), (id, 2));
    assert_eq!(
        h.store.report(&t, &d, id, &ack()).await.unwrap(),
        ReportOutcome::Recorded(CommandState::Acknowledged)
    );
    // The first delivery's late answer arrives too.
    assert_eq!(
        h.store
            .report(&t, &d, id, &Report::new(ReportStatus::Error))
            .await
            .unwrap(),
        ReportOutcome::AlreadyFinal(CommandState::Acknowledged)
    );
    assert_eq!(state_of(h, "t1", &d, id).await, CommandState::Acknowledged);
}

async fn late_answer_after_lease_expiry_is_accepted(h: &Harness) {
    let t = tenant("t1");
    let d = dev("pc-1");
    let id = h
        .store
        .enqueue(&t, &cmd("a"), &[d.clone()])
        .await
        .unwrap()
        .id;
    h.store.next(&t, &d).await.unwrap().unwrap();
    h.clock.advance(DeliverOptions::DEFAULT_LEASE);
    h.store.idle(&t, &d).await.unwrap();
    assert_eq!(state_of(h, "t1", &d, id).await, CommandState::Queued);
    h.store.report(&t, &d, id, &ack()).await.unwrap();
    assert_eq!(state_of(h, "t1", &d, id).await, CommandState::Acknowledged);
    assert!(h.store.next(&t, &d).await.unwrap().is_none());
}

async fn windows_batch_matches_results_by_command_id(h: &Harness) {
    let t = tenant("t1");
    let d = dev("pc-1");
    let mut ids = Vec::new();
    for k in ["a", "b", "c"] {
        ids.push(h.store.enqueue(&t, &cmd(k), &[d.clone()]).await.unwrap().id);
    }
    let batch = h.store.next_batch(&t, &d, 2).await.unwrap();
    assert_eq!(batch.iter().map(|c| c.id).collect::<Vec<_>>(), ids[..2]);
    // Results come back in any order.
    h.store
        .report(&t, &d, ids[1], &Report::new(ReportStatus::Error))
        .await
        .unwrap();
    h.store.report(&t, &d, ids[0], &ack()).await.unwrap();
    assert_eq!(
        state_of(h, "t1", &d, ids[0]).await,
        CommandState::Acknowledged
    );
    assert_eq!(state_of(h, "t1", &d, ids[1]).await, CommandState::Error);
    let rest = h.store.next_batch(&t, &d, 10).await.unwrap();
    assert_eq!(rest.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[2]]);
}

async fn supersede_replaces_only_undelivered_commands(h: &Harness) {
    let t = tenant("t1");
    let d = dev("ipad-1");
    let key = "profile:wifi";
    let v1 = h
        .store
        .enqueue(&t, &cmd("v1").with_supersede_key(key), &[d.clone()])
        .await
        .unwrap();
    let v2 = h
        .store
        .enqueue(&t, &cmd("v2").with_supersede_key(key), &[d.clone()])
        .await
        .unwrap();
    assert_eq!(v2.superseded, vec![(d.clone(), v1.id)]);
    assert_eq!(state_of(h, "t1", &d, v1.id).await, CommandState::Superseded);
    let hist = h.store.history(&t, &d, Some(v1.id)).await.unwrap();
    let last = hist.last().unwrap();
    assert_eq!((last.reason, last.by), (Reason::Superseded, Some(v2.id)));
    // Delivered: a newer version no longer replaces it.
    assert_eq!(next_kind(h, "t1", &d).await.as_deref(), Some("v2"));
    let v3 = h
        .store
        .enqueue(&t, &cmd("v3").with_supersede_key(key), &[d.clone()])
        .await
        .unwrap();
    assert!(v3.superseded.is_empty());
    assert_eq!(state_of(h, "t1", &d, v2.id).await, CommandState::Delivered);
    // Other keys and other devices are untouched.
    let other = dev("ipad-2");
    let o = h
        .store
        .enqueue(&t, &cmd("o").with_supersede_key(key), &[other.clone()])
        .await
        .unwrap();
    assert!(o.superseded.is_empty());
}

async fn fan_out_supersedes_each_enrollments_older_command(h: &Harness) {
    let t = tenant("t1");
    let key = "profile:passcode";
    let devices: Vec<EnrollmentId> = (0..40).map(|i| dev(&format!("d{i}"))).collect();
    let v1 = h
        .store
        .enqueue(&t, &cmd("v1").with_supersede_key(key), &devices)
        .await
        .unwrap();
    // d0..d10 answered NotNow (attempts 1, still replaceable); d10..d20 have
    // it in flight (not replaceable); d20.. still have it queued.
    for d in &devices[..20] {
        assert_eq!(h.store.next(&t, d).await.unwrap().unwrap().id, v1.id);
    }
    for d in &devices[..10] {
        h.store
            .report(&t, d, v1.id, &Report::new(ReportStatus::NotNow))
            .await
            .unwrap();
    }
    h.clock.advance(Duration::from_secs(3));
    let v2 = h
        .store
        .enqueue(&t, &cmd("v2").with_supersede_key(key), &devices)
        .await
        .unwrap();
    let mut got: Vec<EnrollmentId> = v2
        .superseded
        .iter()
        .map(|(e, id)| {
            assert_eq!(*id, v1.id);
            e.clone()
        })
        .collect();
    got.sort();
    let mut want: Vec<EnrollmentId> = devices[..10]
        .iter()
        .chain(&devices[20..])
        .cloned()
        .collect();
    want.sort();
    assert_eq!(got, want);
    for (i, d) in devices.iter().enumerate() {
        let expect = if (10..20).contains(&i) {
            CommandState::Delivered
        } else {
            CommandState::Superseded
        };
        assert_eq!(state_of(h, "t1", d, v1.id).await, expect, "{d}");
        let hist = h.store.history(&t, d, Some(v1.id)).await.unwrap();
        let last = hist.last().unwrap();
        if expect == CommandState::Superseded {
            let from = if i < 10 {
                CommandState::NotNow
            } else {
                CommandState::Queued
            };
            assert_eq!(
                (last.from, last.to, last.reason, last.by, last.at),
                (
                    Some(from),
                    CommandState::Superseded,
                    Reason::Superseded,
                    Some(v2.id),
                    common::START.plus(Duration::from_secs(3))
                ),
                "{d}"
            );
        }
    }
    // The NotNow'd devices' attempts survive the supersede; v2 is next everywhere
    // but where v1 is still in flight.
    let listed = h.store.list(&t, &devices[0]).await.unwrap();
    let old = listed.iter().find(|c| c.id == v1.id).unwrap();
    assert_eq!(old.attempts, 1);
    assert_eq!(next_kind(h, "t1", &devices[0]).await.as_deref(), Some("v2"));
    assert_eq!(next_kind(h, "t1", &devices[15]).await, None);
    assert_eq!(
        next_kind(h, "t1", &devices[30]).await.as_deref(),
        Some("v2")
    );
}

async fn a_batch_is_queued_whole_or_not_at_all(h: &Harness) {
    let t = tenant("t1");
    let key = "profile:wifi";
    let devices: Vec<EnrollmentId> = (0..6).map(|i| dev(&format!("b{i}"))).collect();
    let old = h
        .store
        .enqueue(&t, &cmd("old").with_supersede_key(key), &devices[..2])
        .await
        .unwrap();
    let taken = cmd("taken");
    h.store.enqueue(&t, &taken, &devices[5..]).await.unwrap();
    // The second command's id is taken: nothing of the batch is queued.
    let refused = h
        .store
        .enqueue_batch(
            &t,
            &[
                (cmd("new").with_supersede_key(key), devices.clone()),
                (taken.clone(), devices.clone()),
            ],
        )
        .await;
    assert!(matches!(refused, Err(QueueError::DuplicateCommand { .. })));
    assert_eq!(
        state_of(h, "t1", &devices[0], old.id).await,
        CommandState::Queued
    );
    assert_eq!(h.store.list(&t, &devices[3]).await.unwrap().len(), 0);
    // The same id twice within one batch is refused too.
    let twice = cmd("twice");
    assert!(matches!(
        h.store
            .enqueue_batch(
                &t,
                &[(twice.clone(), devices.clone()), (twice, devices.clone())]
            )
            .await,
        Err(QueueError::DuplicateCommand { .. })
    ));
    assert_eq!(h.store.list(&t, &devices[3]).await.unwrap().len(), 0);

    // Accepted: in order, each as one enqueue; wake names an enrollment
    // under the first command that filled its queue.
    let a = cmd("a").with_supersede_key(key);
    let b = cmd("b");
    let c = cmd("c").with_supersede_key(key);
    let done = h
        .store
        .enqueue_batch(
            &t,
            &[
                (a.clone(), devices[..4].to_vec()),
                (b.clone(), devices[2..].to_vec()),
                (c.clone(), devices[..1].to_vec()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(done.len(), 3);
    assert_eq!((done[0].id, done[1].id, done[2].id), (a.id, b.id, c.id));
    assert_eq!((done[0].queued, done[1].queued, done[2].queued), (4, 4, 1));
    let mut sup0 = done[0].superseded.clone();
    sup0.sort();
    assert_eq!(
        sup0,
        vec![(devices[0].clone(), old.id), (devices[1].clone(), old.id)]
    );
    assert_eq!(done[2].superseded, vec![(devices[0].clone(), a.id)]);
    let mut wake0 = done[0].wake.clone();
    wake0.sort();
    assert_eq!(wake0, vec![devices[2].clone(), devices[3].clone()]);
    assert_eq!(done[1].wake, vec![devices[4].clone()]);
    assert!(done[2].wake.is_empty());
    assert_eq!(
        state_of(h, "t1", &devices[0], a.id).await,
        CommandState::Superseded
    );
    assert_eq!(next_kind(h, "t1", &devices[0]).await.as_deref(), Some("c"));
    assert_eq!(next_kind(h, "t1", &devices[4]).await.as_deref(), Some("b"));
    assert!(h.store.enqueue_batch(&t, &[]).await.unwrap().is_empty());
}

/// A supersede key and enrollments used for the first time inside a batch
/// act at once (a later command of the batch replaces an earlier one), a
/// key is the tenant's own (the same key in another tenant replaces
/// nothing there), and a refused batch leaves nothing behind that a later
/// enqueue would see.
async fn a_key_first_used_in_a_batch_supersedes_within_its_tenant(h: &Harness) {
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let key = "fresh-key";
    let (x, y) = (dev("new-x"), dev("new-y"));
    // Refused whole (the second id is taken): the key and the enrollments
    // it would have introduced are not kept in any way that shows.
    let taken = cmd("taken");
    h.store
        .enqueue(&t1, &taken, std::slice::from_ref(&y))
        .await
        .unwrap();
    assert!(matches!(
        h.store
            .enqueue_batch(
                &t1,
                &[
                    (cmd("lost").with_supersede_key(key), vec![x.clone()]),
                    (taken, vec![x.clone()]),
                ],
            )
            .await,
        Err(QueueError::DuplicateCommand { .. })
    ));
    assert!(h.store.list(&t1, &x).await.unwrap().is_empty());
    let other = h
        .store
        .enqueue(&t2, &cmd("other").with_supersede_key(key), &[x.clone()])
        .await
        .unwrap();
    let a = cmd("a").with_supersede_key(key);
    let c = cmd("c").with_supersede_key(key);
    let done = h
        .store
        .enqueue_batch(
            &t1,
            &[
                (a.clone(), vec![x.clone(), y.clone()]),
                (c.clone(), vec![x.clone()]),
            ],
        )
        .await
        .unwrap();
    assert!(done[0].superseded.is_empty(), "{:?}", done[0].superseded);
    // x's queue was empty in t1 (t2's row is another tenant's); y had a
    // command.
    assert_eq!(done[0].wake, vec![x.clone()]);
    assert_eq!(done[1].superseded, vec![(x.clone(), a.id)]);
    assert!(done[1].wake.is_empty());
    assert_eq!(state_of(h, "t1", &x, a.id).await, CommandState::Superseded);
    assert_eq!(state_of(h, "t1", &y, a.id).await, CommandState::Queued);
    assert_eq!(state_of(h, "t2", &x, other.id).await, CommandState::Queued);
    assert_eq!(next_kind(h, "t1", &x).await.as_deref(), Some("c"));
    assert_eq!(next_kind(h, "t2", &x).await.as_deref(), Some("other"));
}

async fn fan_out_queues_once_per_enrollment_and_wakes_empty_queues(h: &Harness) {
    let t = tenant("t1");
    let devices: Vec<EnrollmentId> = (0..500).map(|i| dev(&format!("d{i}"))).collect();
    h.store
        .enqueue(&t, &cmd("first"), &devices[..10])
        .await
        .unwrap();
    // The first ten are busy; duplicates count once.
    let mut targets = devices.clone();
    targets.extend(devices[..50].iter().cloned());
    let q = h.store.enqueue(&t, &cmd("all"), &targets).await.unwrap();
    assert_eq!(q.queued, 500);
    let mut wake = q.wake.clone();
    wake.sort();
    let mut want: Vec<EnrollmentId> = devices[10..].to_vec();
    want.sort();
    assert_eq!(wake, want);
    assert_eq!(
        h.store.counts(&t).await.unwrap().get(CommandState::Queued),
        510
    );
    assert_eq!(
        deliver_ack(h, "t1", &devices[499]).await.as_deref(),
        Some("all")
    );
    assert!(
        h.store
            .enqueue(&t, &cmd("none"), &[])
            .await
            .is_ok_and(|q| q.queued == 0)
    );
}

async fn not_before_holds_back_and_expiry_expires(h: &Harness) {
    let t = tenant("t1");
    let d = dev("ipad-1");
    let later = h.clock_now().plus(Duration::from_secs(10));
    let held = h
        .store
        .enqueue(&t, &cmd("held").with_not_before(later), &[d.clone()])
        .await
        .unwrap();
    let soon = h
        .store
        .enqueue(
            &t,
            &cmd("soon").with_expires_at(h.clock_now().plus(Duration::from_secs(5))),
            &[d.clone()],
        )
        .await
        .unwrap();
    h.clock.advance(Duration::from_secs(5));
    assert_eq!(h.store.next(&t, &d).await.unwrap().map(|c| c.id), None);
    assert_eq!(state_of(h, "t1", &d, soon.id).await, CommandState::Expired);
    h.clock.advance(Duration::from_secs(5));
    assert_eq!(
        h.store.next(&t, &d).await.unwrap().map(|c| c.id),
        Some(held.id)
    );
}

async fn attempts_run_out_into_expired(h: &Harness) {
    let t = tenant("t1");
    let d = dev("ipad-1");
    let id = h
        .store
        .enqueue(&t, &cmd("a").with_max_attempts(2), &[d.clone()])
        .await
        .unwrap()
        .id;
    for _ in 0..2 {
        assert!(h.store.next(&t, &d).await.unwrap().is_some());
        h.store.idle(&t, &d).await.unwrap();
    }
    assert!(h.store.next(&t, &d).await.unwrap().is_none());
    assert_eq!(state_of(h, "t1", &d, id).await, CommandState::Expired);
    let hist = h.store.history(&t, &d, Some(id)).await.unwrap();
    assert_eq!(hist.last().unwrap().reason, Reason::AttemptsExhausted);
}

async fn cancel_ends_every_pending_row_of_a_command(h: &Harness) {
    let t = tenant("t1");
    let (a, b, c) = (dev("a"), dev("b"), dev("c"));
    let id = h
        .store
        .enqueue(&t, &cmd("x"), &[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap()
        .id;
    deliver_ack(h, "t1", &a).await.unwrap();
    h.store.next(&t, &b).await.unwrap().unwrap();
    assert_eq!(h.store.cancel(&t, id).await.unwrap(), 2);
    assert_eq!(state_of(h, "t1", &a, id).await, CommandState::Acknowledged);
    assert_eq!(state_of(h, "t1", &b, id).await, CommandState::Cancelled);
    assert_eq!(state_of(h, "t1", &c, id).await, CommandState::Cancelled);
    assert!(h.store.next(&t, &c).await.unwrap().is_none());
    assert_eq!(h.store.cancel(&t, id).await.unwrap(), 0);
    assert!(matches!(
        h.store.cancel(&t, CommandId::new()).await,
        Err(QueueError::UnknownCommand { .. })
    ));
    // A late report on the cancelled delivery changes nothing.
    assert_eq!(
        h.store.report(&t, &b, id, &ack()).await.unwrap(),
        ReportOutcome::AlreadyFinal(CommandState::Cancelled)
    );
}

async fn clearing_an_enrollment_is_explicit_and_keeps_history(h: &Harness) {
    let t = tenant("t1");
    let d = dev("ipad-1");
    let other = dev("ipad-2");
    let a = h
        .store
        .enqueue(&t, &cmd("a"), &[d.clone(), other.clone()])
        .await
        .unwrap()
        .id;
    h.store.enqueue(&t, &cmd("b"), &[d.clone()]).await.unwrap();
    h.store.next(&t, &d).await.unwrap();
    assert_eq!(h.store.clear_enrollment(&t, &d).await.unwrap(), 2);
    assert!(h.store.next(&t, &d).await.unwrap().is_none());
    assert_eq!(state_of(h, "t1", &other, a).await, CommandState::Queued);
    let hist = h.store.history(&t, &d, Some(a)).await.unwrap();
    assert_eq!(hist.last().unwrap().reason, Reason::Cleared);
    // After re-enrollment new commands flow again and wake the device.
    let q = h.store.enqueue(&t, &cmd("c"), &[d.clone()]).await.unwrap();
    assert_eq!(q.wake, vec![d.clone()]);
}

async fn history_keeps_every_transition_and_each_notnow(h: &Harness) {
    let t = tenant("t1");
    let d = dev("ipad-1");
    let id = h
        .store
        .enqueue(&t, &cmd("a"), &[d.clone()])
        .await
        .unwrap()
        .id;
    for _ in 0..3 {
        h.clock.advance(Duration::from_secs(1));
        h.store.next(&t, &d).await.unwrap().unwrap();
        h.store
            .report(&t, &d, id, &Report::new(ReportStatus::NotNow))
            .await
            .unwrap();
        h.store.idle(&t, &d).await.unwrap();
    }
    h.clock.advance(Duration::from_secs(1));
    h.store.next(&t, &d).await.unwrap().unwrap();
    h.store
        .report(&t, &d, id, &ack().with_result(b"<dict/>".to_vec()))
        .await
        .unwrap();
    let hist = h.store.history(&t, &d, None).await.unwrap();
    let trail: Vec<(Option<CommandState>, CommandState, Reason)> =
        hist.iter().map(|e| (e.from, e.to, e.reason)).collect();
    use CommandState::*;
    let mut want = vec![(None, Queued, Reason::Enqueued)];
    for _ in 0..3 {
        want.push((Some(Queued), Delivered, Reason::Delivered));
        want.push((Some(Delivered), NotNow, Reason::Reported));
        want.push((Some(NotNow), Queued, Reason::Idle));
    }
    want.push((Some(Queued), Delivered, Reason::Delivered));
    want.push((Some(Delivered), Acknowledged, Reason::Reported));
    assert_eq!(trail, want);
    assert!(hist.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(hist[0].at, common::START);
    assert_eq!(
        hist.last().unwrap().at,
        common::START.plus(Duration::from_secs(4))
    );
    assert_eq!(
        hist.last().unwrap().result.as_deref(),
        Some(&b"<dict/>"[..])
    );
}

async fn counts_are_per_tenant(h: &Harness) {
    let d = dev("ipad-1");
    h.store
        .enqueue(&tenant("t1"), &cmd("a"), &[d.clone(), dev("x")])
        .await
        .unwrap();
    h.store
        .enqueue(&tenant("t2"), &cmd("b"), &[d.clone()])
        .await
        .unwrap();
    deliver_ack(h, "t1", &d).await.unwrap();
    let c1 = h.store.counts(&tenant("t1")).await.unwrap();
    assert_eq!(
        (
            c1.get(CommandState::Queued),
            c1.get(CommandState::Acknowledged)
        ),
        (1, 1)
    );
    let c2 = h.store.counts(&tenant("t2")).await.unwrap();
    assert_eq!((c2.get(CommandState::Queued), c2.total()), (1, 1));
    assert_eq!(h.store.counts(&tenant("t3")).await.unwrap().total(), 0);
    let all = h.store.counts_by_tenant().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[&tenant("t1")], c1);
}

/// The enrollments with something queued or delivered and unanswered, in
/// order, per tenant; answered, cancelled and user-channel queues are
/// told apart.
async fn pending_enrollments_are_those_with_unanswered_commands(h: &Harness) {
    let t = tenant("t1");
    let (a, b, c) = (dev("a-ipad"), dev("b-tablet"), dev("c-pc"));
    let user = EnrollmentId::user(DeviceId::new("a-ipad").unwrap(), "alice").unwrap();
    assert!(h.store.pending_enrollments(&t).await.unwrap().is_empty());
    h.store
        .enqueue(
            &t,
            &cmd("one"),
            &[c.clone(), a.clone(), b.clone(), user.clone()],
        )
        .await
        .unwrap();
    h.store
        .enqueue(&tenant("t2"), &cmd("other"), &[dev("z-elsewhere")])
        .await
        .unwrap();
    assert_eq!(
        h.store.pending_enrollments(&t).await.unwrap(),
        [a.clone(), user.clone(), b.clone(), c.clone()]
    );
    // Delivered and unanswered: still pending. Answered: not.
    let delivered = h.store.next(&t, &b).await.unwrap().unwrap();
    deliver_ack(h, "t1", &a).await.unwrap();
    let cancelled = h
        .store
        .enqueue(&t, &cmd("two"), &[dev("d-gone")])
        .await
        .unwrap();
    h.store.cancel(&t, cancelled.id).await.unwrap();
    assert_eq!(
        h.store.pending_enrollments(&t).await.unwrap(),
        [user.clone(), b.clone(), c.clone()]
    );
    h.store.report(&t, &b, delivered.id, &ack()).await.unwrap();
    assert_eq!(h.store.pending_enrollments(&t).await.unwrap(), [user, c]);
    assert_eq!(
        h.store.pending_enrollments(&tenant("t2")).await.unwrap(),
        [dev("z-elsewhere")]
    );
}

async fn tenants_never_see_each_other(h: &Harness) {
    let d = dev("shared-udid");
    let id = CommandId::new();
    h.store
        .enqueue(&tenant("t1"), &cmd("a").with_id(id), &[d.clone()])
        .await
        .unwrap();
    // The same command id may exist in another tenant.
    h.store
        .enqueue(&tenant("t2"), &cmd("b").with_id(id), &[d.clone()])
        .await
        .unwrap();
    assert!(matches!(
        h.store
            .enqueue(&tenant("t1"), &cmd("c").with_id(id), &[d.clone()])
            .await,
        Err(QueueError::DuplicateCommand { .. })
    ));
    assert_eq!(next_kind(h, "t2", &d).await.as_deref(), Some("b"));
    assert!(matches!(
        h.store.report(&tenant("t3"), &d, id, &ack()).await,
        Err(QueueError::UnknownCommand { .. })
    ));
    assert!(matches!(
        h.store.cancel(&tenant("t3"), id).await,
        Err(QueueError::UnknownCommand { .. })
    ));
    assert_eq!(h.store.cancel(&tenant("t2"), id).await.unwrap(), 1);
    assert_eq!(state_of(h, "t1", &d, id).await, CommandState::Queued);
    assert_eq!(next_kind(h, "t1", &d).await.as_deref(), Some("a"));
}

async fn user_channels_are_queues_of_their_own(h: &Harness) {
    let t = tenant("t1");
    let device = dev("mac-1");
    let user = EnrollmentId::user(DeviceId::new("mac-1").unwrap(), "501").unwrap();
    h.store
        .enqueue(&t, &cmd("for-device"), &[device.clone()])
        .await
        .unwrap();
    let q = h
        .store
        .enqueue(&t, &cmd("for-user"), &[user.clone()])
        .await
        .unwrap();
    assert_eq!(q.wake, vec![user.clone()]);
    assert_eq!(next_kind(h, "t1", &user).await.as_deref(), Some("for-user"));
    assert_eq!(
        next_kind(h, "t1", &device).await.as_deref(),
        Some("for-device")
    );
    // One fan-out to both queues of the device queues a row in each.
    let both = h
        .store
        .enqueue(&t, &cmd("for-both"), &[device.clone(), user.clone()])
        .await
        .unwrap();
    assert_eq!(both.queued, 2);
    for e in [&device, &user] {
        let kinds: Vec<String> = h
            .store
            .list(&t, e)
            .await
            .unwrap()
            .into_iter()
            .map(|q| q.kind)
            .collect();
        assert!(kinds.iter().any(|k| k == "for-both"), "{e}: {kinds:?}");
    }
}

async fn reports_on_unknown_or_undelivered_commands_are_refused(h: &Harness) {
    let t = tenant("t1");
    let d = dev("ipad-1");
    let id = h
        .store
        .enqueue(&t, &cmd("a"), &[d.clone()])
        .await
        .unwrap()
        .id;
    assert!(matches!(
        h.store.report(&t, &d, id, &ack()).await,
        Err(QueueError::NotDelivered { .. })
    ));
    assert!(matches!(
        h.store.report(&t, &d, CommandId::new(), &ack()).await,
        Err(QueueError::UnknownCommand { .. })
    ));
    assert!(matches!(
        h.store.report(&t, &dev("other"), id, &ack()).await,
        Err(QueueError::UnknownCommand { .. })
    ));
    assert!(
        h.store
            .enqueue(&t, &NewCommand::new("", vec![]), &[d.clone()])
            .await
            .is_err()
    );
    assert_eq!(state_of(h, "t1", &d, id).await, CommandState::Queued);
}

async fn purge_drops_finished_rows_past_retention(h: &Harness) {
    let t = tenant("t1");
    let d = dev("ipad-1");
    let old = h
        .store
        .enqueue(&t, &cmd("old"), &[d.clone()])
        .await
        .unwrap()
        .id;
    deliver_ack(h, "t1", &d).await.unwrap();
    let pending = h
        .store
        .enqueue(&t, &cmd("pending"), &[d.clone()])
        .await
        .unwrap()
        .id;
    h.clock.advance(Duration::from_secs(86_400 * 31));
    let fresh = h
        .store
        .enqueue(&t, &cmd("fresh"), &[d.clone()])
        .await
        .unwrap()
        .id;
    h.store.cancel(&t, fresh).await.unwrap();
    h.store
        .enqueue(&tenant("t2"), &cmd("other"), &[d.clone()])
        .await
        .unwrap();
    let cutoff = h.clock_now().minus(Duration::from_secs(86_400 * 30));
    assert_eq!(h.store.purge(&t, cutoff).await.unwrap(), 1);
    let ids: Vec<CommandId> = h
        .store
        .list(&t, &d)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [pending, fresh]);
    assert!(h.store.history(&t, &d, Some(old)).await.unwrap().is_empty());
    assert!(matches!(
        h.store.cancel(&t, old).await,
        Err(QueueError::UnknownCommand { .. })
    ));
    assert_eq!(h.store.counts(&tenant("t2")).await.unwrap().total(), 1);
}

trait Now {
    fn clock_now(&self) -> mdmkit_queue::Timestamp;
}
impl Now for Harness {
    fn clock_now(&self) -> mdmkit_queue::Timestamp {
        use mdmkit_queue::Clock;
        self.clock.now()
    }
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $( #[tokio::test] async fn $case() { super::$case(&super::common::memory()).await; } )*
        }
        #[cfg(feature = "sqlite")]
        mod sqlite {
            $( #[tokio::test] async fn $case() { super::$case(&super::common::sqlite().await).await; } )*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $( #[tokio::test] async fn $case() {
                if let Some(h) = super::common::postgres().await { super::$case(&h).await; }
            } )*
        }
    };
}

suite!(
    queue_orders_by_priority_then_creation,
    delivered_payload_is_the_enqueued_bytes,
    apple_delivers_one_command_at_a_time,
    notnow_command_waits_for_a_non_notnow_report,
    acknowledgement_releases_notnow_commands,
    report_and_next_is_a_report_then_a_delivery,
    report_all_and_next_batch_is_reports_then_a_batch,
    ended_lease_redelivers_and_duplicate_reports_are_harmless,
    late_answer_after_lease_expiry_is_accepted,
    windows_batch_matches_results_by_command_id,
    supersede_replaces_only_undelivered_commands,
    fan_out_supersedes_each_enrollments_older_command,
    a_batch_is_queued_whole_or_not_at_all,
    a_key_first_used_in_a_batch_supersedes_within_its_tenant,
    fan_out_queues_once_per_enrollment_and_wakes_empty_queues,
    not_before_holds_back_and_expiry_expires,
    attempts_run_out_into_expired,
    cancel_ends_every_pending_row_of_a_command,
    clearing_an_enrollment_is_explicit_and_keeps_history,
    history_keeps_every_transition_and_each_notnow,
    counts_are_per_tenant,
    pending_enrollments_are_those_with_unanswered_commands,
    tenants_never_see_each_other,
    user_channels_are_queues_of_their_own,
    reports_on_unknown_or_undelivered_commands_are_refused,
    purge_drops_finished_rows_past_retention,
);

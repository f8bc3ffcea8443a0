//! Model-based tests: random operation sequences run against a small,
//! independent reference model and against each store must give the same
//! observable results, never reach an impossible state, and never let one
//! tenant's calls read or change another tenant's data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cloned_ref_to_slice_refs
)]

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::{Harness, dev, tenant};
use mdmkit_queue::{
    Clock, CommandId, CommandState, DeliverOptions, EnrollmentId, NewCommand, QueueError, Report,
    ReportOutcome, ReportStatus, Timestamp,
};
use proptest::prelude::*;

const TENANTS: [&str; 3] = ["t0", "t1", "t2"];
const DEVICES: [&str; 2] = ["d0", "d1"];
const STATUSES: [ReportStatus; 4] = [
    ReportStatus::Acknowledged,
    ReportStatus::Error,
    ReportStatus::FormatError,
    ReportStatus::NotNow,
];

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        t: usize,
        targets: Vec<usize>,
        priority: i32,
        key: Option<u8>,
        not_before: Option<u16>,
        expires: Option<u16>,
        max_attempts: Option<u32>,
    },
    Deliver {
        t: usize,
        d: usize,
        exclusive: bool,
        max: usize,
        lease: u16,
    },
    Report {
        t: usize,
        d: usize,
        pick: usize,
        status: usize,
        result: bool,
        /// Report on a random id instead of a recent delivery.
        stray: bool,
    },
    Idle {
        t: usize,
        d: usize,
    },
    Cancel {
        t: usize,
        pick: usize,
    },
    Clear {
        t: usize,
        d: usize,
    },
    Advance(u16),
    Purge {
        t: usize,
        age: u16,
    },
}

fn op(tenants: usize) -> impl Strategy<Value = Op> {
    let t = 0..tenants;
    let d = 0..DEVICES.len();
    prop_oneof![
        3 => (
            t.clone(),
            proptest::collection::vec(0..DEVICES.len(), 0..4),
            0i32..3,
            proptest::option::of(0u8..2),
            proptest::option::weighted(0.2, 0u16..200),
            proptest::option::weighted(0.2, 1u16..400),
            proptest::option::weighted(0.3, 1u32..3),
        )
            .prop_map(|(t, targets, priority, key, not_before, expires, max_attempts)| Op::Enqueue {
                t, targets, priority, key, not_before, expires, max_attempts
            }),
        3 => (t.clone(), d.clone(), any::<bool>(), 1usize..4, 10u16..300)
            .prop_map(|(t, d, exclusive, max, lease)| Op::Deliver { t, d, exclusive, max, lease }),
        4 => (t.clone(), d.clone(), 0usize..64, 0usize..4, any::<bool>(), proptest::bool::weighted(0.2))
            .prop_map(|(t, d, pick, status, result, stray)| Op::Report { t, d, pick, status, result, stray }),
        1 => (t.clone(), d.clone()).prop_map(|(t, d)| Op::Idle { t, d }),
        1 => (t.clone(), 0usize..64).prop_map(|(t, pick)| Op::Cancel { t, pick }),
        1 => (t.clone(), d.clone()).prop_map(|(t, d)| Op::Clear { t, d }),
        2 => (0u16..150).prop_map(Op::Advance),
        1 => (t, 0u16..500).prop_map(|(t, age)| Op::Purge { t, age }),
    ]
}

/// What a call returned, in a form both sides produce.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Obs {
    Enqueued {
        queued: u64,
        wake: Vec<EnrollmentId>,
        superseded: Vec<(EnrollmentId, CommandId)>,
    },
    Delivered(Vec<(CommandId, u32, i64)>),
    Report(ReportOutcome),
    Count(u64),
    Unit,
    Err(&'static str),
}

fn err_kind(e: &QueueError) -> &'static str {
    match e {
        QueueError::UnknownCommand { .. } => "unknown",
        QueueError::NotDelivered { .. } => "not-delivered",
        QueueError::DuplicateCommand { .. } => "duplicate",
        QueueError::InvalidCommand { .. } => "invalid",
        other => panic!("unexpected error {other}"),
    }
}

// ---------------------------------------------------------------------------
// The reference model: the rules written out plainly, independent of
// `mdmkit_queue::machine`.

#[derive(Debug, Clone)]
struct Row {
    id: CommandId,
    state: CommandState,
    attempts: u32,
    lease: Option<i64>,
    priority: i32,
    created: i64,
    seq: i64,
    not_before: Option<i64>,
    expires: Option<i64>,
    max: Option<u32>,
    key: Option<String>,
    updated: i64,
}

#[derive(Debug, Default)]
struct Model {
    seq: i64,
    queues: BTreeMap<(usize, EnrollmentId), Vec<Row>>,
    commands: HashMap<(usize, CommandId), ()>,
}

fn pending(s: CommandState) -> bool {
    matches!(
        s,
        CommandState::Queued | CommandState::Delivered | CommandState::NotNow
    )
}

fn reap(rows: &mut [Row], now: i64) {
    for r in rows.iter_mut() {
        if r.state == CommandState::Delivered && r.lease.is_some_and(|l| l <= now) {
            r.state = CommandState::Queued;
            r.lease = None;
            r.updated = now;
        }
        let expired = matches!(r.state, CommandState::Queued | CommandState::NotNow)
            && r.expires.is_some_and(|e| e <= now);
        let exhausted = r.state == CommandState::Queued && r.max.is_some_and(|m| r.attempts >= m);
        if expired || exhausted {
            r.state = CommandState::Expired;
            r.updated = now;
        }
    }
}

impl Model {
    fn rows(&mut self, t: usize, e: &EnrollmentId) -> &mut Vec<Row> {
        self.queues.entry((t, e.clone())).or_default()
    }

    fn enqueue(&mut self, t: usize, c: &NewCommand, targets: &[EnrollmentId], now: i64) -> Obs {
        if self.commands.contains_key(&(t, c.id)) {
            return Obs::Err("duplicate");
        }
        self.commands.insert((t, c.id), ());
        self.seq += 1;
        let seq = self.seq;
        let mut targets = targets.to_vec();
        targets.sort();
        targets.dedup();
        let (mut wake, mut superseded) = (Vec::new(), Vec::new());
        for e in &targets {
            let rows = self.rows(t, e);
            if rows.iter().all(|r| !pending(r.state)) {
                wake.push(e.clone());
            }
            for r in rows.iter_mut() {
                if c.supersede_key.is_some()
                    && r.key == c.supersede_key
                    && matches!(r.state, CommandState::Queued | CommandState::NotNow)
                {
                    r.state = CommandState::Superseded;
                    r.updated = now;
                    superseded.push((e.clone(), r.id));
                }
            }
            rows.push(Row {
                id: c.id,
                state: CommandState::Queued,
                attempts: 0,
                lease: None,
                priority: c.priority,
                created: now,
                seq,
                not_before: c.not_before.map(Timestamp::as_millis),
                expires: c.expires_at.map(Timestamp::as_millis),
                max: c.max_attempts,
                key: c.supersede_key.clone(),
                updated: now,
            });
        }
        Obs::Enqueued {
            queued: targets.len() as u64,
            wake,
            superseded,
        }
    }

    fn deliver(&mut self, t: usize, e: &EnrollmentId, o: &DeliverOptions, now: i64) -> Obs {
        let rows = self.rows(t, e);
        reap(rows, now);
        if o.exclusive && rows.iter().any(|r| r.state == CommandState::Delivered) {
            return Obs::Delivered(vec![]);
        }
        let mut cand: Vec<usize> = (0..rows.len())
            .filter(|&i| {
                rows[i].state == CommandState::Queued && rows[i].not_before.is_none_or(|n| n <= now)
            })
            .collect();
        cand.sort_by_key(|&i| (-rows[i].priority, rows[i].created, rows[i].seq));
        let lease = now + o.lease.as_millis() as i64;
        let n = if o.exclusive { 1 } else { o.max };
        let mut out = Vec::new();
        for i in cand.into_iter().take(n) {
            let r = &mut rows[i];
            r.state = CommandState::Delivered;
            r.attempts += 1;
            r.lease = Some(lease);
            r.updated = now;
            out.push((r.id, r.attempts, lease));
        }
        Obs::Delivered(out)
    }

    fn report(
        &mut self,
        t: usize,
        e: &EnrollmentId,
        id: CommandId,
        st: ReportStatus,
        now: i64,
    ) -> Obs {
        let rows = self.rows(t, e);
        let Some(i) = rows.iter().position(|r| r.id == id) else {
            return Obs::Err("unknown");
        };
        if !pending(rows[i].state) {
            return Obs::Report(ReportOutcome::AlreadyFinal(rows[i].state));
        }
        if rows[i].attempts == 0 {
            return Obs::Err("not-delivered");
        }
        let to = st.target_state();
        rows[i].state = to;
        rows[i].lease = None;
        rows[i].updated = now;
        if st != ReportStatus::NotNow {
            for (j, r) in rows.iter_mut().enumerate() {
                if j != i && r.state == CommandState::NotNow {
                    r.state = CommandState::Queued;
                    r.updated = now;
                }
            }
        }
        Obs::Report(ReportOutcome::Recorded(to))
    }

    fn idle(&mut self, t: usize, e: &EnrollmentId, now: i64) -> Obs {
        let rows = self.rows(t, e);
        reap(rows, now);
        for r in rows.iter_mut() {
            if matches!(r.state, CommandState::Delivered | CommandState::NotNow) {
                r.state = CommandState::Queued;
                r.lease = None;
                r.updated = now;
            }
        }
        Obs::Unit
    }

    fn cancel(&mut self, t: usize, id: CommandId, now: i64) -> Obs {
        if !self.commands.contains_key(&(t, id)) {
            return Obs::Err("unknown");
        }
        let mut n = 0;
        for ((tt, _), rows) in self.queues.iter_mut() {
            for r in rows
                .iter_mut()
                .filter(|r| *tt == t && r.id == id && pending(r.state))
            {
                r.state = CommandState::Cancelled;
                r.lease = None;
                r.updated = now;
                n += 1;
            }
        }
        Obs::Count(n)
    }

    fn clear(&mut self, t: usize, e: &EnrollmentId, now: i64) -> Obs {
        let mut n = 0;
        for r in self.rows(t, e).iter_mut().filter(|r| pending(r.state)) {
            r.state = CommandState::Cancelled;
            r.lease = None;
            r.updated = now;
            n += 1;
        }
        Obs::Count(n)
    }

    fn purge(&mut self, t: usize, before: i64) -> Obs {
        let mut n = 0;
        for ((tt, _), rows) in self.queues.iter_mut() {
            if *tt == t {
                let len = rows.len();
                rows.retain(|r| pending(r.state) || r.updated >= before);
                n += (len - rows.len()) as u64;
            }
        }
        let live: Vec<(usize, CommandId)> = self
            .queues
            .iter()
            .flat_map(|((tt, _), rows)| rows.iter().map(move |r| (*tt, r.id)))
            .collect();
        self.commands.retain(|k, _| k.0 != t || live.contains(k));
        Obs::Count(n)
    }

    /// `(id, state, attempts, lease)` in queue order.
    fn list(&self, t: usize, e: &EnrollmentId) -> Vec<(CommandId, CommandState, u32, Option<i64>)> {
        let mut rows: Vec<&Row> = self
            .queues
            .get(&(t, e.clone()))
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        rows.sort_by_key(|r| (-r.priority, r.created, r.seq));
        rows.iter()
            .map(|r| (r.id, r.state, r.attempts, r.lease))
            .collect()
    }
}

// ---------------------------------------------------------------------------

fn to_obs<T>(r: Result<T, QueueError>, f: impl FnOnce(T) -> Obs) -> Obs {
    match r {
        Ok(v) => f(v),
        Err(e) => Obs::Err(err_kind(&e)),
    }
}

async fn run(h: &Harness, ops: &[Op]) {
    let mut model = Model::default();
    let mut ids: Vec<CommandId> = vec![CommandId::new()]; // one never enqueued
    let mut deliveries: Vec<(usize, usize, CommandId)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let now = h.clock.now().as_millis();
        let ts = |ms: u16| Timestamp::from_millis(now + i64::from(ms));
        let (got, want) = match op {
            Op::Enqueue {
                t,
                targets,
                priority,
                key,
                not_before,
                expires,
                max_attempts,
            } => {
                let mut c =
                    NewCommand::new(format!("k{step}"), vec![step as u8]).with_priority(*priority);
                c.supersede_key = key.map(|k| format!("key{k}"));
                c.not_before = not_before.map(ts);
                c.expires_at = expires.map(|e| ts(e + not_before.unwrap_or(0)));
                c.max_attempts = *max_attempts;
                ids.push(c.id);
                let targets: Vec<EnrollmentId> = targets.iter().map(|&d| dev(DEVICES[d])).collect();
                let got = to_obs(
                    h.store.enqueue(&tenant(TENANTS[*t]), &c, &targets).await,
                    |q| Obs::Enqueued {
                        queued: q.queued,
                        wake: q.wake,
                        superseded: q.superseded,
                    },
                );
                (got, model.enqueue(*t, &c, &targets, now))
            }
            Op::Deliver {
                t,
                d,
                exclusive,
                max,
                lease,
            } => {
                let mut o = if *exclusive {
                    DeliverOptions::single()
                } else {
                    DeliverOptions::batch(*max)
                };
                o = o.with_lease(Duration::from_millis(u64::from(*lease)));
                let e = dev(DEVICES[*d]);
                let got = to_obs(h.store.deliver(&tenant(TENANTS[*t]), &e, &o).await, |v| {
                    deliveries.extend(v.iter().map(|c| (*t, *d, c.id)));
                    Obs::Delivered(
                        v.iter()
                            .map(|c| (c.id, c.attempt, c.lease_until.as_millis()))
                            .collect(),
                    )
                });
                (got, model.deliver(*t, &e, &o, now))
            }
            Op::Report {
                t,
                d,
                pick,
                status,
                result,
                stray,
            } => {
                let (t, d, id) = if *stray || deliveries.is_empty() {
                    (t, d, ids[pick % ids.len()])
                } else {
                    let (t, d, id) =
                        &deliveries[deliveries.len() - 1 - pick % deliveries.len().min(4)];
                    (t, d, *id)
                };
                let e = dev(DEVICES[*d]);
                let mut r = Report::new(STATUSES[*status]);
                if *result {
                    r = r.with_result(b"result".to_vec());
                }
                let got = to_obs(
                    h.store.report(&tenant(TENANTS[*t]), &e, id, &r).await,
                    Obs::Report,
                );
                (got, model.report(*t, &e, id, STATUSES[*status], now))
            }
            Op::Idle { t, d } => {
                let e = dev(DEVICES[*d]);
                let got = to_obs(h.store.idle(&tenant(TENANTS[*t]), &e).await, |()| Obs::Unit);
                (got, model.idle(*t, &e, now))
            }
            Op::Cancel { t, pick } => {
                let id = ids[pick % ids.len()];
                let got = to_obs(h.store.cancel(&tenant(TENANTS[*t]), id).await, Obs::Count);
                (got, model.cancel(*t, id, now))
            }
            Op::Clear { t, d } => {
                let e = dev(DEVICES[*d]);
                let got = to_obs(
                    h.store.clear_enrollment(&tenant(TENANTS[*t]), &e).await,
                    Obs::Count,
                );
                (got, model.clear(*t, &e, now))
            }
            Op::Advance(ms) => {
                h.clock.advance(Duration::from_millis(u64::from(*ms)));
                (Obs::Unit, Obs::Unit)
            }
            Op::Purge { t, age } => {
                let before = Timestamp::from_millis(now - i64::from(*age));
                let got = to_obs(
                    h.store.purge(&tenant(TENANTS[*t]), before).await,
                    Obs::Count,
                );
                (got, model.purge(*t, before.as_millis()))
            }
        };
        assert_eq!(got, want, "step {step}: {op:?}");
        // Every queue, in every tenant, matches the model and is possible.
        for (ti, t) in TENANTS.iter().enumerate() {
            let mut total = 0;
            for d in DEVICES {
                let e = dev(d);
                let list = h.store.list(&tenant(t), &e).await.unwrap();
                let got: Vec<_> = list
                    .iter()
                    .map(|q| {
                        (
                            q.id,
                            q.state,
                            q.attempts,
                            q.lease_until.map(Timestamp::as_millis),
                        )
                    })
                    .collect();
                assert_eq!(
                    got,
                    model.list(ti, &e),
                    "step {step}: {op:?}: queue {t}/{d}"
                );
                for q in &list {
                    assert_eq!(q.state == CommandState::Delivered, q.lease_until.is_some());
                    assert!(
                        q.attempts > 0
                            || !matches!(
                                q.state,
                                CommandState::Delivered
                                    | CommandState::NotNow
                                    | CommandState::Acknowledged
                                    | CommandState::Error
                                    | CommandState::FormatError
                            )
                    );
                    assert!(q.max_attempts.is_none_or(|m| q.attempts <= m));
                }
                // History ends in the current state of each command.
                let hist = h.store.history(&tenant(t), &e, None).await.unwrap();
                for q in &list {
                    let last = hist.iter().rev().find(|ev| ev.command == q.id).unwrap();
                    assert_eq!(last.to, q.state, "step {step}: history of {}", q.id);
                }
                total += list.len() as u64;
            }
            assert_eq!(h.store.counts(&tenant(t)).await.unwrap().total(), total);
        }
    }
}

/// Snapshot of everything a tenant can see.
async fn snapshot(h: &Harness, t: &str) -> String {
    let mut s = format!("{:?}", h.store.counts(&tenant(t)).await.unwrap());
    for d in DEVICES {
        s += &format!("{:?}", h.store.list(&tenant(t), &dev(d)).await.unwrap());
        s += &format!(
            "{:?}",
            h.store.history(&tenant(t), &dev(d), None).await.unwrap()
        );
    }
    s
}

fn op_tenant(op: &Op) -> Option<usize> {
    match op {
        Op::Enqueue { t, .. }
        | Op::Deliver { t, .. }
        | Op::Report { t, .. }
        | Op::Idle { t, .. }
        | Op::Cancel { t, .. }
        | Op::Clear { t, .. }
        | Op::Purge { t, .. } => Some(*t),
        Op::Advance(_) => None,
    }
}

async fn isolation(h: &Harness, ops: &[Op]) {
    let mut ids = vec![CommandId::new()];
    for (step, op) in ops.iter().enumerate() {
        let Some(t) = op_tenant(op) else { continue };
        let before: Vec<String> = futures_snapshots(h, t).await;
        let te = tenant(TENANTS[t]);
        // Run the op without a model: only the other tenants matter here.
        match op {
            Op::Enqueue { targets, key, .. } => {
                // Reuse ids across tenants on purpose: equal ids must not collide.
                let id = ids[step % ids.len()];
                let mut c = NewCommand::new("k", vec![1]).with_id(id);
                c.supersede_key = key.map(|k| format!("key{k}"));
                let targets: Vec<EnrollmentId> = targets.iter().map(|&d| dev(DEVICES[d])).collect();
                if h.store.enqueue(&te, &c, &targets).await.is_err() {
                    let fresh = NewCommand::new("k", vec![2]);
                    ids.push(fresh.id);
                    let _ = h.store.enqueue(&te, &fresh, &targets).await;
                }
            }
            Op::Deliver {
                d, exclusive, max, ..
            } => {
                let o = if *exclusive {
                    DeliverOptions::single()
                } else {
                    DeliverOptions::batch(*max)
                };
                h.store.deliver(&te, &dev(DEVICES[*d]), &o).await.unwrap();
            }
            Op::Report {
                d, pick, status, ..
            } => {
                let _ = h
                    .store
                    .report(
                        &te,
                        &dev(DEVICES[*d]),
                        ids[pick % ids.len()],
                        &Report::new(STATUSES[*status]),
                    )
                    .await;
            }
            Op::Idle { d, .. } => h.store.idle(&te, &dev(DEVICES[*d])).await.unwrap(),
            Op::Cancel { pick, .. } => {
                let _ = h.store.cancel(&te, ids[pick % ids.len()]).await;
            }
            Op::Clear { d, .. } => {
                h.store
                    .clear_enrollment(&te, &dev(DEVICES[*d]))
                    .await
                    .unwrap();
            }
            Op::Purge { .. } => {
                h.store.purge(&te, h.clock.now()).await.unwrap();
            }
            Op::Advance(_) => {}
        }
        let after = futures_snapshots(h, t).await;
        assert_eq!(
            before, after,
            "step {step}: {op:?} in {} touched another tenant",
            TENANTS[t]
        );
    }
}

/// Snapshots of every tenant but `t`.
async fn futures_snapshots(h: &Harness, t: usize) -> Vec<String> {
    let mut v = Vec::new();
    for (i, name) in TENANTS.iter().enumerate() {
        if i != t {
            v.push(snapshot(h, name).await);
        }
    }
    v
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Sequences over two tenants (for the model) or three (for isolation).
fn ops(tenants: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(tenants), 1..80)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: mdmkit_core::proptest_cases(96), ..ProptestConfig::default() })]

    #[test]
    fn memory_store_matches_the_model(ops in ops(2)) {
        block_on(run(&common::memory(), &ops));
    }

    #[test]
    fn memory_store_keeps_tenants_apart(ops in ops(3)) {
        block_on(isolation(&common::memory(), &ops));
    }
}

#[cfg(feature = "sqlite")]
proptest! {
    #![proptest_config(ProptestConfig { cases: mdmkit_core::proptest_cases(24), ..ProptestConfig::default() })]

    #[test]
    fn sqlite_store_matches_the_model(ops in ops(2)) {
        block_on(async { run(&common::sqlite().await, &ops).await });
    }

    #[test]
    fn sqlite_store_keeps_tenants_apart(ops in ops(3)) {
        block_on(async { isolation(&common::sqlite().await, &ops).await });
    }
}

#[cfg(feature = "postgres")]
proptest! {
    #![proptest_config(ProptestConfig { cases: mdmkit_core::proptest_cases(16), ..ProptestConfig::default() })]

    #[test]
    fn postgres_store_matches_the_model(ops in ops(2)) {
        block_on(async {
            if let Some(h) = common::postgres().await { run(&h, &ops).await }
        });
    }

    #[test]
    fn postgres_store_keeps_tenants_apart(ops in ops(3)) {
        block_on(async {
            if let Some(h) = common::postgres().await { isolation(&h, &ops).await }
        });
    }
}

//! The reconcile loop on the embedded SQLite store: plan and enqueue after a
//! change at the region root (every one of 100,000 devices), and after a
//! change at one school (500 devices).
//!
//! Baselines measured in the same run: computing the 100,000 effective
//! policies alone (`EffectiveCache::build`), and the queue's fan-out of one
//! command to the same 100,000 enrollments, superseding the previous one
//! (the kind of write a root change cannot avoid), on a database file of
//! its own.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mdmkit::policy::{EffectiveCache, NodeId};
use mdmkit::queue::{
    EnrollmentId, NewCommand, QueueStore, SqliteOptions, SqliteStore, Synchronous,
};
use mdmkit::state::SqliteState;
use mdmkit::{Reconciler, Scope};
use mdmkit_benches::region::{DEVICES, floor, pid, policy, tenant_with};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mdmkit.db");
    // MDMKIT_BENCH_PER_CLASS=5 runs a 10,000-device region for a quick look.
    let per_class = std::env::var("MDMKIT_BENCH_PER_CLASS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEVICES);
    let mut t = tenant_with(per_class);
    let n = t.devices().count() as u64;
    let per_school = (per_class * 10) as u64;
    let school: NodeId = "g0-t0-s0".parse().unwrap();
    let one = |v: u32| {
        policy(
            "one-school",
            &format!(
                "[restrictions]\nbluetooth_changes = \"allow\"\n[passcode]\nmax_failed_attempts = {v}"
            ),
        )
    };
    t.set_policy(one(10));
    t.assign(&school, pid("one-school")).unwrap();
    let r = open(&rt, &db);
    let start = Instant::now();
    let first = rt.block_on(r.reconcile(&t, &Scope::All)).unwrap();
    eprintln!(
        "first reconcile of {} devices: {:?}, {} queue rows, {} distinct payloads",
        first.devices,
        start.elapsed(),
        first.queued,
        first.enqueued.len()
    );

    let mut g = c.benchmark_group("reconcile_100k");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(20));

    g.bench_function("baseline_effective_policies", |b| {
        b.iter(|| EffectiveCache::build(&t).unwrap().len())
    });

    // Each root change starts from the store exactly as the first reconcile
    // left it (a copy of the closed database file): samples measure the
    // same work. Run back to back on one store instead, every sample would
    // carry the previous samples' 100,000 unanswered commands more.
    rt.block_on(async {
        r.queue().close().await;
        r.state().close().await;
    });
    drop(r);
    let snapshot = dir.path().join("after-first.db");
    copy_store(&db, &snapshot);
    let run_db = dir.path().join("run.db");
    g.bench_function("root_change", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                copy_store(&snapshot, &run_db);
                let r = open(&rt, &run_db);
                t.set_policy(floor(6));
                let start = Instant::now();
                let plan = rt.block_on(r.reconcile(&t, &Scope::All)).unwrap();
                total += start.elapsed();
                assert_eq!(plan.changed_devices, n);
                rt.block_on(async {
                    r.queue().close().await;
                    r.state().close().await;
                });
            }
            total
        })
    });

    // The school changes run on the store of the first reconcile.
    t.set_policy(floor(5));
    let r = open(&rt, &db);
    let mut cache = EffectiveCache::build(&t).unwrap();
    let mut v = 10u32;
    g.bench_function("school_change", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                v = if v == 10 { 11 } else { 10 };
                t.set_policy(one(v));
                let start = Instant::now();
                cache.refresh(&t, &school).unwrap();
                let plan = rt
                    .block_on(r.reconcile_with(&t, &cache, &Scope::Node(school.clone())))
                    .unwrap();
                total += start.elapsed();
                assert_eq!(plan.changed_devices, per_school);
            }
            total
        })
    });
    // The fan-out baseline writes to a database of its own: its iterations
    // would otherwise leave millions of superseded rows in the reconciler's
    // store, which the root and school changes above would then carry.
    let fan_db = dir.path().join("fan-out.db");
    let fan_queue = rt.block_on(async {
        SqliteStore::open(SqliteOptions::new(&fan_db).with_synchronous(Synchronous::Normal))
            .await
            .unwrap()
    });
    let targets: Vec<EnrollmentId> = t
        .devices()
        .map(|d| EnrollmentId::device(d.id.clone()))
        .collect();
    g.bench_function("baseline_fanout_100k", |b| {
        b.iter(|| {
            rt.block_on(fan_queue.enqueue(
                t.id(),
                &NewCommand::new("Baseline", vec![0u8; 2048]).with_supersede_key("baseline"),
                &targets,
            ))
            .unwrap()
            .queued
        })
    });

    g.finish();
}

/// The reconciler over the SQLite file at `db`, as `mdmkit reconcile` opens it.
fn open(rt: &tokio::runtime::Runtime, db: &Path) -> Reconciler<SqliteStore, SqliteState> {
    rt.block_on(async {
        let queue = SqliteStore::open(SqliteOptions::new(db).with_synchronous(Synchronous::Normal))
            .await
            .unwrap();
        let state = SqliteState::open(db).await.unwrap();
        Reconciler::new(Arc::new(queue), Arc::new(state))
    })
}

/// Copies a closed SQLite database (and its WAL, if one was left).
fn copy_store(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let (f, t) = (
            PathBuf::from(format!("{}{suffix}", from.display())),
            PathBuf::from(format!("{}{suffix}", to.display())),
        );
        let _ = std::fs::remove_file(&t);
        if f.exists() {
            std::fs::copy(&f, &t).unwrap();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

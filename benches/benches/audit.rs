#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The audit journal's batched append (`Journal::append_all`: encode,
//! hash-chain, one write, one `fdatasync`) against the raw limit: writing
//! the same bytes with one write and one `fdatasync` per batch. A second
//! pair without the sync isolates the CPU cost of encoding and hashing.
//! Checkpoints are signed every 1,000 entries, as by default.
//!
//! A third group is the server's case: 64 devices answering at once, one
//! event each, through the group-commit [`JournalWriter`] from async tasks,
//! against the baseline of one `Journal::append` (and `fdatasync`) per
//! answer behind a mutex, as servers journaled before the writer existed.
//!
//! `cargo bench -p mdmkit-benches --bench audit -- --warm-up-time 1 --measurement-time 3`

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mdmkit::Platform;
use mdmkit::audit::{Event, Journal, JournalOptions, JournalWriter};
use mdmkit::identity::EnvelopeSigner;
use mdmkit::queue::CommandId;

const BATCH: usize = 100;

fn events() -> Vec<Event> {
    (0..BATCH as u64)
        .map(|i| Event::CommandEnqueued {
            tenant: "academie-hauts-de-lys".parse().unwrap(),
            command: CommandId::new(),
            kind: "InstallProfile".into(),
            platform: Platform::Apple,
            devices: 1 + i % 40,
            targets_sha256: "5e".repeat(32),
            payload_sha256: "a1".repeat(32),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let batch = events();
    // The bytes one batch takes in a journal, for the raw baseline.
    let sample = dir.path().join("sample.jsonl");
    let mut j = Journal::open(
        &sample,
        EnvelopeSigner::generate().unwrap(),
        JournalOptions::default()
            .with_checkpoint_every(0)
            .with_sync(false),
    )
    .unwrap();
    j.append_all(batch.clone()).unwrap();
    drop(j);
    let bytes = std::fs::read(&sample).unwrap();

    for sync in [true, false] {
        let name = if sync { "fsync" } else { "no_sync" };
        let mut g = c.benchmark_group(format!("audit/append_batch_{BATCH}_{name}"));
        g.throughput(Throughput::Elements(BATCH as u64));
        let path = dir.path().join(format!("journal-{name}.jsonl"));
        let mut journal = Journal::open(
            &path,
            EnvelopeSigner::generate().unwrap(),
            JournalOptions::default().with_sync(sync),
        )
        .unwrap();
        g.bench_function("journal_append_all", |b| {
            b.iter(|| black_box(journal.append_all(batch.iter().cloned()).unwrap()))
        });
        let raw_path = dir.path().join(format!("raw-{name}.jsonl"));
        let mut raw: File = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&raw_path)
            .unwrap();
        g.bench_function("baseline_raw_write", |b| {
            b.iter(|| {
                raw.write_all(&bytes).unwrap();
                if sync {
                    raw.sync_data().unwrap();
                }
            })
        });
        g.finish();
    }
}

/// 64 concurrent one-event appends: group commit against one sync each.
fn concurrent(c: &mut Criterion) {
    const ANSWERS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let event = events().remove(0);
    let mut g = c.benchmark_group(format!("audit/concurrent_answers_{ANSWERS}_fsync"));
    g.throughput(Throughput::Elements(ANSWERS as u64));
    let writer = JournalWriter::spawn(
        Journal::open(
            dir.path().join("grouped.jsonl"),
            EnvelopeSigner::generate().unwrap(),
            JournalOptions::default(),
        )
        .unwrap(),
    )
    .unwrap();
    g.bench_function("journal_writer_group_commit", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..ANSWERS)
                    .map(|_| {
                        let w = writer.clone();
                        let e = event.clone();
                        tokio::spawn(async move { w.append_all(vec![e]).await.unwrap() })
                    })
                    .collect();
                for t in tasks {
                    black_box(t.await.unwrap());
                }
            })
        })
    });
    let stats = writer.stats();
    eprintln!(
        "group commit: {} appends in {} writes ({:.1} per write)",
        stats.appends,
        stats.writes,
        stats.appends as f64 / stats.writes.max(1) as f64
    );
    let locked = std::sync::Arc::new(std::sync::Mutex::new(
        Journal::open(
            dir.path().join("locked.jsonl"),
            EnvelopeSigner::generate().unwrap(),
            JournalOptions::default(),
        )
        .unwrap(),
    ));
    g.bench_function("baseline_append_per_answer", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..ANSWERS)
                    .map(|_| {
                        let j = locked.clone();
                        let e = event.clone();
                        tokio::task::spawn_blocking(move || j.lock().unwrap().append(e).unwrap())
                    })
                    .collect();
                for t in tasks {
                    black_box(t.await.unwrap());
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench, concurrent);
criterion_main!(benches);

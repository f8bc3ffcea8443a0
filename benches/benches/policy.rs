#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Effective policies and diffs for 100,000 devices in a 5-level tree with
//! 20 policies, and the incremental recomputation of one school against a
//! full recomputation in the same run.
//!
//! `cargo bench -p mdmkit-benches --bench policy -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mdmkit::DeviceId;
use mdmkit::policy::{EffectiveCache, NodeId, category_hashes, diff::diff_flat};
use mdmkit_benches::region::{DEVICES, floor, pid, policy, tenant};

fn bench(c: &mut Criterion) {
    let mut t = tenant();
    let all: Vec<DeviceId> = t.devices().map(|d| d.id.clone()).collect();
    // One device per class: the baseline merges each from the root.
    let sample: Vec<DeviceId> = all.iter().step_by(DEVICES).cloned().collect();

    let mut g = c.benchmark_group("policy/effective_100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(all.len() as u64));
    g.bench_function("cache_build_all_devices", |b| {
        b.iter(|| black_box(EffectiveCache::build(&t).unwrap()))
    });
    g.throughput(Throughput::Elements(sample.len() as u64));
    g.bench_function("baseline_direct_merge_per_device_2k", |b| {
        b.iter(|| {
            for d in &sample {
                black_box(t.effective(d).unwrap());
            }
        })
    });
    g.finish();

    // Diffs after a change at the root that touches every device.
    let before = EffectiveCache::build(&t).unwrap();
    t.set_policy(floor(4));
    let after = EffectiveCache::build(&t).unwrap();
    let pairs: Vec<_> = all
        .iter()
        .map(|d| {
            (
                before.get(d).unwrap().flatten(),
                after.get(d).unwrap().flatten(),
            )
        })
        .collect();
    let mut g = c.benchmark_group("policy/diff_100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(pairs.len() as u64));
    g.bench_function("diff_per_device", |b| {
        b.iter(|| {
            let mut n = 0;
            for (a, b) in &pairs {
                n += diff_flat(a, b).len();
            }
            assert_eq!(n, pairs.len());
            n
        })
    });
    let settings: Vec<_> = all
        .iter()
        .map(|d| {
            (
                before.get(d).unwrap().settings().clone(),
                after.get(d).unwrap().settings().clone(),
            )
        })
        .collect();
    g.bench_function("baseline_category_hash_compare_per_device", |b| {
        b.iter(|| {
            let mut n = 0;
            for (a, b) in &settings {
                let (ha, hb) = (category_hashes(a), category_hashes(b));
                n += ha.iter().zip(hb.iter()).filter(|(x, y)| x != y).count();
            }
            n
        })
    });
    g.finish();

    // One change at one school: recompute only its subtree, against a full
    // recomputation.
    let school: NodeId = "g3-t2-s1".parse().unwrap();
    let affected = t.affected_devices(&school).unwrap().len();
    t.set_policy(floor(5));
    let mut cache = EffectiveCache::build(&t).unwrap();
    // The school gets a policy of its own, changed at every iteration.
    t.set_policy(policy(
        "school-own",
        "[device]\nlock_screen_message = \"v0\"",
    ));
    t.assign(&school, pid("school-own")).unwrap();
    cache.refresh(&t, &school).unwrap();
    let mut g = c.benchmark_group("policy/one_school_change");
    g.sample_size(10);
    let mut round = 0u64;
    g.bench_function("refresh_school_subtree", |b| {
        b.iter(|| {
            round += 1;
            t.set_policy(policy(
                "school-own",
                &format!("[device]\nlock_screen_message = \"v{round}\""),
            ));
            let r = cache.refresh(&t, &school).unwrap();
            assert_eq!((r.devices, r.changed.len()), (affected, affected));
            r.devices
        })
    });
    g.bench_function("baseline_full_rebuild", |b| {
        b.iter_batched(
            || (),
            |()| black_box(EffectiveCache::build(&t).unwrap()),
            BatchSize::PerIteration,
        )
    });
    g.finish();
    println!(
        "one_school_change: {affected} devices below the school, {} in the tenant",
        all.len()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

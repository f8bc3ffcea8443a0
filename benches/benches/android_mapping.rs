#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Mapping the effective policies of the 100,000-device region tenant to
//! Android Management API Policy JSON, next to serialising the same
//! effective settings as plain JSON with serde in the same run (the cost of
//! producing any JSON at all from them).
//!
//! `cargo bench -p mdmkit-benches --bench android_mapping -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mdmkit::android::mapping::from_effective;
use mdmkit::policy::{EffectiveCache, EffectivePolicy};
use mdmkit_benches::region::tenant;

fn bench(c: &mut Criterion) {
    let t = tenant();
    let cache = EffectiveCache::build(&t).unwrap();
    // Every device's effective policy, as the reconcile loop would map it
    // (the Android mapping is platform-neutral in cost, so all 100,000).
    let all: Vec<Arc<EffectivePolicy>> = t
        .devices()
        .map(|d| Arc::clone(cache.get(&d.id).unwrap()))
        .collect();
    assert_eq!(all.len(), 100_000);

    let mut g = c.benchmark_group("android/mapping_100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(all.len() as u64));
    g.bench_function("map_to_policy_json", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for e in &all {
                let mapped = from_effective(e);
                bytes += serde_json::to_vec(&mapped.to_value()).unwrap().len();
            }
            black_box(bytes)
        })
    });
    g.bench_function("baseline_serde_json_of_effective_settings", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for e in &all {
                bytes += serde_json::to_vec(e.settings()).unwrap().len();
            }
            black_box(bytes)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

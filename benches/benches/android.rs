//! AMAPI JSON at scale: parsing and serialising 1,000 `Device` resources
//! (a `devices.list` page) and a 500-app `Policy` with the typed model,
//! next to a plain `serde_json::Value` parse and serialisation of the same
//! bytes in the same run (the floor any typed model is measured against).
//!
//! `cargo bench -p mdmkit-benches --bench android`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mdmkit::android::model::{ListDevicesResponse, Policy};
use mdmkit::android::parse;
use mdmkit::android::serde_json::{self, Value};

const DEVICE: &str =
    include_str!("../../crates/mdmkit-android/tests/fixtures/device-noncompliant.json");
const POLICY: &str = include_str!("../../crates/mdmkit-android/tests/fixtures/policy-school.json");

/// A `devices.list` page of `n` devices, each with its own name and version.
fn device_page(n: usize) -> Vec<u8> {
    let template: Value = serde_json::from_str(DEVICE).unwrap();
    let devices: Vec<Value> = (0..n)
        .map(|i| {
            let mut d = template.clone();
            d["name"] = Value::from(format!("enterprises/LC02abc123/devices/{i:016x}"));
            d["appliedPolicyVersion"] = Value::from((i % 40).to_string());
            d
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"devices": devices, "nextPageToken": "t"})).unwrap()
}

/// A policy with `n` applications, each with a managed configuration.
fn big_policy(n: usize) -> Vec<u8> {
    let mut p: Value = serde_json::from_str(POLICY).unwrap();
    let template = p["applications"][0].clone();
    p["applications"] = Value::Array(
        (0..n)
            .map(|i| {
                let mut a = template.clone();
                a["packageName"] = Value::from(format!("org.example.app{i}"));
                a
            })
            .collect(),
    );
    serde_json::to_vec(&p).unwrap()
}

fn bench_devices(c: &mut Criterion) {
    let bytes = device_page(1000);
    let limits = parse::Limits::DEFAULT.with_max_bytes(64 * 1024 * 1024);
    let typed: ListDevicesResponse = limits.parse(&bytes).unwrap();
    let value: Value = serde_json::from_slice(&bytes).unwrap();

    let mut g = c.benchmark_group("android_devices_1000");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse_value_baseline", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&bytes)).unwrap())
    });
    g.bench_function("parse_typed_plain_serde", |b| {
        b.iter(|| serde_json::from_slice::<ListDevicesResponse>(black_box(&bytes)).unwrap())
    });
    g.bench_function("parse_typed_checked", |b| {
        b.iter(|| {
            limits
                .parse::<ListDevicesResponse>(black_box(&bytes))
                .unwrap()
        })
    });
    g.bench_function("serialize_value_baseline", |b| {
        b.iter(|| serde_json::to_vec(black_box(&value)).unwrap())
    });
    g.bench_function("serialize_typed", |b| {
        b.iter(|| parse::to_vec(black_box(&typed)).unwrap())
    });
    g.finish();
}

fn bench_policy(c: &mut Criterion) {
    let bytes = big_policy(500);
    let typed: Policy = parse::policy(&bytes).unwrap();
    let value: Value = serde_json::from_slice(&bytes).unwrap();

    let mut g = c.benchmark_group("android_policy_500_apps");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse_value_baseline", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&bytes)).unwrap())
    });
    g.bench_function("parse_typed_checked", |b| {
        b.iter(|| parse::policy(black_box(&bytes)).unwrap())
    });
    g.bench_function("serialize_value_baseline", |b| {
        b.iter(|| serde_json::to_vec(black_box(&value)).unwrap())
    });
    g.bench_function("serialize_typed", |b| {
        b.iter(|| parse::to_vec(black_box(&typed)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_devices, bench_policy);
criterion_main!(benches);

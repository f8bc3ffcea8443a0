#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Effective policies and diffs for 100,000 devices in a 5-level tree with
//! 20 policies, and the incremental recomputation of one school against a
//! full recomputation in the same run.
//!
//! `cargo bench -p mdmkit-benches --bench policy -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mdmkit::policy::{
    EffectiveCache, NodeId, Policy, PolicyId, Tenant, category_hashes, diff::diff_flat,
};
use mdmkit::{DeviceId, Platform, TenantId};

const GROUPS: usize = 10;
const TOWNS: usize = 5; // per group
const SCHOOLS: usize = 4; // per town
const CLASSES: usize = 10; // per school
const DEVICES: usize = 50; // per class: 10 * 5 * 4 * 10 * 50 = 100,000

fn policy(id: &str, body: &str) -> Policy {
    Policy::from_toml(&format!("[policy]\nid = \"{id}\"\n{body}")).unwrap()
}

fn pid(s: &str) -> PolicyId {
    s.parse().unwrap()
}

fn floor(auto_lock: u32) -> Policy {
    policy(
        "floor",
        &format!(
            "[passcode]\nrequired = true\nmin_length = 6\nauto_lock_minutes = {auto_lock}\n\
             [restrictions]\nexplicit_content = \"deny\"\ndeveloper_mode = \"deny\"\nfactory_reset = \"deny\"\n\
             [web_filter]\nmode = \"automatic\"\ndenied_urls = [\"https://a.example\", \"https://b.example\"]\n\
             [certificates.roots.racine]\nsha256 = \"{}\"",
            "ab".repeat(32)
        ),
    )
}

fn school_policy(variant: usize, message: &str) -> Policy {
    policy(
        &format!("school-{variant}"),
        &format!(
            "[device]\nlock_screen_message = \"{message}\"\n\
             [wifi.\"SCHOOL-{variant}\"]\nsecurity = \"wpa2-personal\"\npassword = \"school-password-{variant}\"\n\
             [apps.app{variant}]\ninstall = \"required\"\nandroid = {{ package = \"org.school.app{variant}\" }}\n\
             [restrictions]\ncamera = \"{}\"",
            if variant.is_multiple_of(2) {
                "deny"
            } else {
                "allow"
            }
        ),
    )
}

/// The 5-level tree: region > 10 groups > 50 towns > 200 schools >
/// 2,000 classes > 100,000 devices, with 20 policies.
fn tenant() -> Tenant {
    let mut t = Tenant::new(TenantId::new("region").unwrap());
    let root: NodeId = "region".parse().unwrap();
    t.set_policy(floor(5));
    t.set_policy(policy(
        "apps",
        "[apps.ent]\ninstall = \"required\"\nandroid = { package = \"org.ent.app\" }\napple = { bundle_id = \"org.ent.app\" }\n\
         [os_updates]\ndeferral_days = 7\nmaintenance_window = { start = \"22:00\", end = \"05:00\" }\n\
         [device]\ntime_zone = \"Europe/Paris\"",
    ));
    t.set_policy(policy(
        "vendor",
        "[vendor.android]\nstatusBar = \"SYSTEM_INFO_ONLY\"",
    ));
    t.assign(&root, pid("floor")).unwrap();
    t.assign(&root, pid("apps")).unwrap();
    t.assign(&root, pid("vendor")).unwrap();
    for w in 0..2 {
        t.set_policy(policy(
            &format!("wifi-{w}"),
            &format!(
                "[wifi.\"NET-{w}\"]\nsecurity = \"wpa2-enterprise\"\neap = \"tls\"\nidentity_certificate = \"dev\"\n\
                 trusted_server_certificates = [\"racine\"]\n[certificates.identities.dev]\nsource = \"tenant-ca\""
            ),
        ));
    }
    for n in 0..3 {
        t.set_policy(policy(
            &format!("naming-{n}"),
            &format!("[device]\nname_template = \"T{n}-{{serial}}\""),
        ));
    }
    for s in 0..8 {
        t.set_policy(school_policy(s, "v1"));
    }
    t.set_policy(policy("exam", "[web_filter]\nmode = \"allowlist\"\nallowed_urls = [\"https://exam.example\"]\n[restrictions]\nscreen_capture = \"deny\"\nnearby_sharing = \"deny\""));
    t.set_policy(policy("kiosk", "[apps.kiosk-app]\ninstall = \"required\"\nandroid = { package = \"org.kiosk.app\" }\n[kiosk]\nmode = \"single-app\"\napp = \"kiosk-app\""));
    t.set_policy(policy("young", "[restrictions]\napp_store = \"deny\"\nin_app_purchases = \"deny\"\n[passcode]\nmin_length = 4"));
    t.set_policy(policy(
        "teachers",
        "[passcode]\nmin_length = 8\ncomplexity = \"alphanumeric\"",
    ));
    let mut dev = 0usize;
    for g in 0..GROUPS {
        let group: NodeId = format!("g{g}").parse().unwrap();
        t.add_node(group.clone(), &root, None, Some("group".into()))
            .unwrap();
        t.assign(&group, pid(&format!("wifi-{}", g % 2))).unwrap();
        for w in 0..TOWNS {
            let town: NodeId = format!("g{g}-t{w}").parse().unwrap();
            t.add_node(town.clone(), &group, None, Some("town".into()))
                .unwrap();
            t.assign(&town, pid(&format!("naming-{}", w % 3))).unwrap();
            for s in 0..SCHOOLS {
                let school: NodeId = format!("g{g}-t{w}-s{s}").parse().unwrap();
                t.add_node(school.clone(), &town, None, Some("school".into()))
                    .unwrap();
                t.assign(&school, pid(&format!("school-{}", (g + w + s) % 8)))
                    .unwrap();
                for c in 0..CLASSES {
                    let class: NodeId = format!("g{g}-t{w}-s{s}-c{c}").parse().unwrap();
                    t.add_node(class.clone(), &school, None, Some("class".into()))
                        .unwrap();
                    match c {
                        0 => t.assign(&class, pid("exam")).unwrap(),
                        1 => t.assign(&class, pid("kiosk")).unwrap(),
                        2 | 3 => t.assign(&class, pid("young")).unwrap(),
                        9 => t.assign(&class, pid("teachers")).unwrap(),
                        _ => {}
                    }
                    for _ in 0..DEVICES {
                        let platform = Platform::ALL[dev % 3];
                        let id = DeviceId::new(format!("dev-{dev:06}")).unwrap();
                        t.add_device(mdmkit::policy::Device::new(id, class.clone(), platform))
                            .unwrap();
                        dev += 1;
                    }
                }
            }
        }
    }
    assert_eq!(t.devices().count(), 100_000);
    assert_eq!(t.policies().count(), 20);
    t
}

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

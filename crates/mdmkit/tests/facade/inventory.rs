//! Enrolled devices and admin tokens: the inventory joins the tree's
//! devices in every run and query, a checked-out device is forgotten, the
//! file's facts win; the stores (memory, SQLite, PostgreSQL) keep
//! enrollments and tokens, and refuse a certificate bound to two devices.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mdmkit::access::{self, Role};
use mdmkit::inventory::{BoundCertificate, Enrollment, EnrollmentStatus, PushTarget};
use mdmkit::policy::{Device, NodeId, Policy, Tenant};
use mdmkit::queue::{MemoryStore, QueueStore, Timestamp};
use mdmkit::state::{MemoryState, SqliteState, StateStore};
use mdmkit::{DeviceId, Error, Platform, Reconciler, Scope, TenantId};
use proptest::prelude::*;

fn n(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

/// `region` (floor: passcode 6) > `school` (strict: passcode 8), one
/// Android tablet listed at the root.
fn tenant() -> Tenant {
    let mut t = Tenant::new(TenantId::new("region").unwrap());
    t.add_node(n("school"), &n("region"), None, None).unwrap();
    t.set_policy(
        Policy::from_toml("[policy]\nid = \"floor\"\n[passcode]\nmin_length = 6\n").unwrap(),
    );
    t.set_policy(
        Policy::from_toml("[policy]\nid = \"strict\"\n[passcode]\nmin_length = 8\n").unwrap(),
    );
    t.assign(&n("region"), "floor".parse().unwrap()).unwrap();
    t.assign(&n("school"), "strict".parse().unwrap()).unwrap();
    t.add_device(Device::new(dev("tablet"), n("region"), Platform::Android))
        .unwrap();
    t
}

fn enrollment(device: &str, node: &str, status: EnrollmentStatus) -> Enrollment {
    let mut e = Enrollment::new(
        dev(device),
        Platform::Apple,
        n(node),
        Timestamp::from_millis(1_000),
    );
    e.status = status;
    e
}

fn reconciler() -> Reconciler<MemoryStore, MemoryState> {
    Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()))
}

#[tokio::test]
async fn an_enrolled_device_absent_from_the_file_gets_its_nodes_commands() {
    let t = tenant();
    let r = reconciler();
    let ipad = enrollment("ipad-1", "school", EnrollmentStatus::Active);
    r.state().put_enrollment(t.id(), &ipad).await.unwrap();

    let plan = r.reconcile(&t, &Scope::All).await.unwrap();
    assert_eq!(plan.devices, 2);
    assert!(plan.wake.contains(&dev("ipad-1")), "{plan:?}");
    let cmd = r.next(t.id(), &dev("ipad-1")).await.unwrap().unwrap();
    assert_eq!(cmd.kind, "InstallProfile");
    // The school's policy, not only the root's.
    let full = r.with_inventory(&t).await.unwrap();
    let cache = mdmkit::policy::EffectiveCache::build(&full).unwrap();
    let min = cache
        .get(&dev("ipad-1"))
        .unwrap()
        .settings()
        .passcode
        .min_length;
    assert_eq!(min, Some(8));

    // Queries see it too.
    let status = r.status(&t, &n("school")).await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].device, dev("ipad-1"));
    let findings = r.noncompliant(&t, &n("region")).await.unwrap();
    assert!(findings.iter().any(|f| f.device == dev("ipad-1")));
    // Nothing new on a second run.
    assert!(r.reconcile(&t, &Scope::All).await.unwrap().is_noop());
}

#[tokio::test]
async fn a_device_enrolled_under_a_removed_node_is_planned_at_the_root() {
    let t = tenant();
    let r = reconciler();
    let e = enrollment("ipad-2", "closed-school", EnrollmentStatus::Authenticated);
    r.state().put_enrollment(t.id(), &e).await.unwrap();
    let full = r.with_inventory(&t).await.unwrap();
    assert_eq!(full.device(&dev("ipad-2")).unwrap().node, n("region"));
    let plan = r.reconcile(&t, &Scope::All).await.unwrap();
    assert!(plan.wake.contains(&dev("ipad-2")));
}

/// The kinds of the commands queued for a device, sorted.
async fn kinds(r: &Reconciler<MemoryStore, MemoryState>, t: &Tenant, id: &str) -> Vec<String> {
    let e = mdmkit::queue::EnrollmentId::device(dev(id));
    let mut v: Vec<String> = r
        .queue()
        .list(t.id(), &e)
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.kind)
        .collect();
    v.sort();
    v
}

/// What a server does at each enrollment: plan one device. The run reads
/// that device's own enrollment (not the tenant's) and must plan exactly
/// what a whole run plans for it: same node (a removed node falls back to
/// the root), same commands.
#[tokio::test]
async fn planning_one_enrolled_device_plans_what_a_whole_run_plans_for_it() {
    let t = tenant();
    let enrolled = [
        enrollment("ipad-1", "school", EnrollmentStatus::Active),
        enrollment("ipad-2", "closed-school", EnrollmentStatus::Authenticated),
        enrollment("ipad-3", "region", EnrollmentStatus::Active),
    ];
    let whole = reconciler();
    for e in &enrolled {
        whole.state().put_enrollment(t.id(), e).await.unwrap();
    }
    whole.reconcile(&t, &Scope::All).await.unwrap();
    for id in ["ipad-1", "ipad-2", "ipad-3", "tablet"] {
        let one = reconciler();
        for e in &enrolled {
            one.state().put_enrollment(t.id(), e).await.unwrap();
        }
        let plan = one
            .reconcile(&t, &Scope::Devices(vec![dev(id)]))
            .await
            .unwrap();
        assert_eq!(plan.devices, 1, "{id}");
        let narrow = one.with_inventory_of(&t, &[dev(id)]).await.unwrap();
        let full = whole.with_inventory(&t).await.unwrap();
        assert_eq!(narrow.devices().count(), 1, "{id}");
        assert_eq!(narrow.device(&dev(id)), full.device(&dev(id)), "{id}");
        let planned = kinds(&one, &t, id).await;
        assert!(!planned.is_empty(), "{id}");
        assert_eq!(planned, kinds(&whole, &t, id).await, "{id}");
        // Nothing is planned for the other devices.
        for other in ["ipad-1", "ipad-2", "ipad-3", "tablet"] {
            if other != id {
                assert!(
                    one.next(t.id(), &dev(other)).await.unwrap().is_none(),
                    "{other}"
                );
            }
        }
    }
    // A device neither listed nor enrolled is still an error naming it.
    let r = reconciler();
    let e = r
        .reconcile(&t, &Scope::Devices(vec![dev("nobody")]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nobody"), "{e}");
}

/// A console's question about one node reads that node's enrollments
/// only, and answers what the whole inventory answers for that node: an
/// enrolled device the tree lists elsewhere stays where the tree puts it,
/// and one enrolled under a removed node counts at the root only.
#[tokio::test]
async fn node_queries_read_the_nodes_enrollments_and_agree_with_the_whole_inventory() {
    let mut t = tenant();
    t.add_node(n("other"), &n("region"), None, None).unwrap();
    t.add_node(n("class"), &n("school"), None, None).unwrap();
    let r = reconciler();
    for e in [
        enrollment("ipad-1", "school", EnrollmentStatus::Active),
        enrollment("ipad-2", "other", EnrollmentStatus::Active),
        enrollment("ipad-3", "class", EnrollmentStatus::Active),
        enrollment("ipad-4", "closed-school", EnrollmentStatus::Active),
        // Listed by the tree at the root: the tree wins.
        enrollment("tablet", "school", EnrollmentStatus::Active),
        enrollment("gone", "school", EnrollmentStatus::CheckedOut),
    ] {
        r.state().put_enrollment(t.id(), &e).await.unwrap();
    }
    r.reconcile(&t, &Scope::All).await.unwrap();
    let everything = r.status(&t, &n("region")).await.unwrap();
    let names = |v: &[mdmkit::reconcile::DeviceStatus]| {
        v.iter().map(|s| s.device.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(
        names(&everything),
        ["ipad-1", "ipad-2", "ipad-3", "ipad-4", "tablet"]
    );
    let full = r.with_inventory(&t).await.unwrap();
    for node in ["school", "class", "other"] {
        let under: Vec<NodeId> = full
            .subtree(&n(node))
            .unwrap()
            .iter()
            .map(|x| x.id().clone())
            .collect();
        let expected: Vec<_> = everything
            .iter()
            .filter(|s| under.contains(&s.node))
            .cloned()
            .collect();
        assert_eq!(r.status(&t, &n(node)).await.unwrap(), expected, "{node}");
        let summary = r.node_summaries(&t, &n(node)).await.unwrap();
        assert_eq!(summary[0].devices, expected.len() as u64, "{node}");
        let findings = r.noncompliant(&t, &n(node)).await.unwrap();
        assert!(
            findings
                .iter()
                .all(|f| expected.iter().any(|s| s.device == f.device)),
            "{node}: {findings:?}"
        );
    }
    assert_eq!(
        names(&r.status(&t, &n("school")).await.unwrap()),
        ["ipad-1", "ipad-3"]
    );
    let root = r.node_summaries(&t, &n("region")).await.unwrap();
    assert_eq!(root[0].devices, 5);
}

#[tokio::test]
async fn a_checked_out_device_is_forgotten_like_a_device_removed_from_the_file() {
    let t = tenant();
    let r = reconciler();
    let mut ipad = enrollment("ipad-1", "school", EnrollmentStatus::Active);
    r.state().put_enrollment(t.id(), &ipad).await.unwrap();
    r.reconcile(&t, &Scope::All).await.unwrap();
    assert!(
        r.state()
            .device_records(t.id())
            .await
            .unwrap()
            .contains_key(&dev("ipad-1"))
    );

    ipad.status = EnrollmentStatus::CheckedOut;
    r.state().put_enrollment(t.id(), &ipad).await.unwrap();
    let full = r.with_inventory(&t).await.unwrap();
    assert!(matches!(full, std::borrow::Cow::Borrowed(_)));
    r.reconcile(&t, &Scope::All).await.unwrap();
    let records = r.state().device_records(t.id()).await.unwrap();
    assert!(!records.contains_key(&dev("ipad-1")), "{records:?}");
    assert!(records.contains_key(&dev("tablet")));
    let status = r.status(&t, &n("region")).await.unwrap();
    assert_eq!(
        status.iter().map(|s| s.device.as_str()).collect::<Vec<_>>(),
        ["tablet"]
    );
    // Still in the inventory, as checked out.
    let kept = r.state().enrollments(t.id()).await.unwrap();
    assert_eq!(kept[0].status, EnrollmentStatus::CheckedOut);
}

#[tokio::test]
async fn the_files_entry_wins_and_the_inventory_fills_only_what_it_leaves_unset() {
    let mut t = tenant();
    let mut listed = Device::new(dev("ipad-9"), n("region"), Platform::Apple);
    listed.os_version = Some("16.0".into());
    t.add_device(listed).unwrap();
    let r = reconciler();
    let mut e = enrollment("ipad-9", "school", EnrollmentStatus::Active);
    e.os_version = Some("17.5".into());
    e.model = Some("iPad13,1".into());
    e.model_name = Some("iPad Air".into());
    e.serial = Some("F9FXK1".into());
    e.supervised = Some(true);
    r.state().put_enrollment(t.id(), &e).await.unwrap();

    let full = r.with_inventory(&t).await.unwrap();
    let d = full.device(&dev("ipad-9")).unwrap();
    assert_eq!(d.node, n("region")); // the file's node
    assert_eq!(d.os_version.as_deref(), Some("16.0")); // the file's fact
    assert_eq!(d.model.as_deref(), Some("iPad13,1"));
    assert_eq!(d.serial.as_deref(), Some("F9FXK1"));
    assert_eq!(d.supervised, Some(true));
    assert_eq!(full.devices().count(), 2);
    // A checked-out enrollment does not remove a device the file lists.
    e.status = EnrollmentStatus::CheckedOut;
    r.state().put_enrollment(t.id(), &e).await.unwrap();
    let plan = r.reconcile(&t, &Scope::All).await.unwrap();
    assert_eq!(plan.devices, 2);
}

fn cert(sha: char, device: &str) -> BoundCertificate {
    BoundCertificate::new(
        sha.to_string().repeat(64),
        dev(device),
        "01ab".into(),
        Timestamp::from_millis(9_000),
    )
}

/// The store contract for enrollments and tokens; `tag` keeps tenants of
/// runs sharing one database apart.
async fn store_contract<S: StateStore + ?Sized>(s: &S, tag: &str) {
    let t = TenantId::new(format!("inv-{tag}")).unwrap();
    let other = TenantId::new(format!("inv-{tag}-other")).unwrap();
    assert!(s.enrollments(&t).await.unwrap().is_empty());
    assert!(s.enrollment(&t, &dev("b")).await.unwrap().is_none());

    let mut b = enrollment("b", "school", EnrollmentStatus::Authenticated);
    b.certificate = Some(cert('a', "b"));
    b.push = Some(PushTarget::new(
        "00ff".into(),
        "topic".into(),
        "magic".into(),
    ));
    b.bootstrap_token = Some("c2VjcmV0".into());
    b.user_channels.insert(
        "u1".into(),
        PushTarget::new("11".into(), "topic".into(), "m2".into()),
    );
    let mut a = enrollment("a", "region", EnrollmentStatus::Active);
    a.os_version = Some("17.5".into());
    s.put_enrollment(&t, &b).await.unwrap();
    s.put_enrollment(&t, &a).await.unwrap();
    assert_eq!(
        s.enrollment(&t, &dev("b")).await.unwrap().as_ref(),
        Some(&b)
    );
    let all = s.enrollments(&t).await.unwrap();
    assert_eq!(all, [a.clone(), b.clone()]); // sorted by device
    let sha_a = "a".repeat(64);
    assert_eq!(
        s.enrollment_by_certificate(&t, &sha_a).await.unwrap(),
        Some(b.clone())
    );
    assert!(
        s.enrollment_by_certificate(&other, &sha_a)
            .await
            .unwrap()
            .is_none()
    );

    // Upsert by device: the same device may keep or renew its certificate.
    b.status = EnrollmentStatus::Active;
    s.put_enrollment(&t, &b).await.unwrap();
    assert_eq!(s.enrollment(&t, &dev("b")).await.unwrap(), Some(b.clone()));
    assert_eq!(s.enrollments(&t).await.unwrap().len(), 2);

    // Another device of the tenant cannot take a bound certificate...
    let mut thief = enrollment("c", "region", EnrollmentStatus::Authenticated);
    thief.certificate = Some(cert('a', "c"));
    match s.put_enrollment(&t, &thief).await {
        Err(Error::CertificateInUse { device }) => assert_eq!(device, "b"),
        other => panic!("expected CertificateInUse, got {other:?}"),
    }
    assert!(s.enrollment(&t, &dev("c")).await.unwrap().is_none());
    // ...nor can an existing one.
    a.certificate = Some(cert('a', "a"));
    assert!(matches!(
        s.put_enrollment(&t, &a).await,
        Err(Error::CertificateInUse { .. })
    ));
    // Another tenant's device may hold the same certificate.
    s.put_enrollment(&other, &thief).await.unwrap();
    // Once renewed, the old certificate is free.
    b.certificate = Some(cert('b', "b"));
    s.put_enrollment(&t, &b).await.unwrap();
    s.put_enrollment(&t, &thief).await.unwrap();
    assert_eq!(
        s.enrollment_by_certificate(&t, &sha_a)
            .await
            .unwrap()
            .map(|e| e.device),
        Some(dev("c"))
    );
    // Devices without a certificate never clash.
    a.certificate = None;
    s.put_enrollment(&t, &a).await.unwrap();
    let mut d = enrollment("d", "region", EnrollmentStatus::Active);
    d.certificate = None;
    s.put_enrollment(&t, &d).await.unwrap();
    assert_eq!(s.enrollments(&t).await.unwrap().len(), 4);
    assert_eq!(s.enrollments(&other).await.unwrap().len(), 1);

    // Per node: the enrollments placed at the nodes asked for, sorted by
    // device, in this tenant only; an upsert that moves a device moves it
    // between nodes.
    let ids = |v: Vec<Enrollment>| {
        v.into_iter()
            .map(|e| e.device.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(s.enrollments_under(&t, &[n("region")]).await.unwrap()),
        ["a", "c", "d"]
    );
    assert_eq!(
        ids(s.enrollments_under(&t, &[n("school")]).await.unwrap()),
        ["b"]
    );
    let mut moved = d.clone();
    moved.node = n("school");
    s.put_enrollment(&t, &moved).await.unwrap();
    assert_eq!(
        ids(s.enrollments_under(&t, &[n("school")]).await.unwrap()),
        ["b", "d"]
    );
    assert_eq!(
        ids(s.enrollments_under(&t, &[n("region")]).await.unwrap()),
        ["a", "c"]
    );
    assert_eq!(
        ids(s
            .enrollments_under(&t, &[n("school"), n("region"), n("nowhere")])
            .await
            .unwrap()),
        ["a", "b", "c", "d"]
    );
    assert!(s.enrollments_under(&t, &[]).await.unwrap().is_empty());
    assert_eq!(
        ids(s.enrollments_under(&other, &[n("region")]).await.unwrap()),
        ["c"]
    );
    s.put_enrollment(&t, &d).await.unwrap();

    // Tokens: upsert by (tenant, id), listed by id, tenants apart.
    let now = Timestamp::from_millis(5);
    let one = access::issue(
        t.clone(),
        n("school"),
        Role::Operate,
        Some("ops".into()),
        now,
    );
    let two = access::issue(t.clone(), n("region"), Role::Read, None, now);
    let foreign = access::issue(other.clone(), n("region"), Role::Author, None, now);
    for i in [&one, &two, &foreign] {
        s.put_token(&i.token).await.unwrap();
    }
    assert_eq!(
        s.token(&t, &one.token.id).await.unwrap(),
        Some(one.token.clone())
    );
    assert!(s.token(&t, &foreign.token.id).await.unwrap().is_none());
    let mut expected = vec![one.token.clone(), two.token.clone()];
    expected.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(s.tokens(&t).await.unwrap(), expected);
    // A stored token verifies its bearer's secret until revoked.
    let (id, secret) = access::parse_bearer(&one.bearer).unwrap();
    let stored = s.token(&t, id).await.unwrap().unwrap();
    assert!(stored.verify_secret(secret));
    let mut revoked = stored;
    revoked.revoked = true;
    s.put_token(&revoked).await.unwrap();
    let stored = s.token(&t, id).await.unwrap().unwrap();
    assert!(stored.revoked);
    assert!(!stored.verify_secret(secret));
    assert_eq!(s.tokens(&t).await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_memory_store_keeps_enrollments_and_tokens() {
    store_contract(&MemoryState::new(), "memory").await;
}

#[tokio::test]
async fn the_sqlite_store_keeps_enrollments_and_tokens_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let s = SqliteState::open(&path).await.unwrap();
    store_contract(&s, "sqlite").await;
    s.close().await;
    let s = SqliteState::open(&path).await.unwrap();
    let t = TenantId::new("inv-sqlite").unwrap();
    assert_eq!(s.enrollments(&t).await.unwrap().len(), 4);
    assert_eq!(s.tokens(&t).await.unwrap().len(), 2);
}

/// The throwaway server's URL. A missing server is a failure, not a skip:
/// run through `scripts/test` (or `start_throwaway_postgres` of
/// `scripts/lib.sh`).
#[cfg(feature = "postgres")]
fn postgres_url() -> String {
    match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "MDMKIT_TEST_POSTGRES_URL is unset: run `bash -c '. scripts/lib.sh; \
             start_throwaway_postgres; cargo test -p mdmkit --all-features'`"
        ),
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_postgres_store_keeps_enrollments_and_tokens() {
    use mdmkit::state::PostgresState;
    let url = postgres_url();
    // Two opens at once: the migrations are serialised, applied once.
    let (s, again) = tokio::join!(PostgresState::open(&url), PostgresState::open(&url));
    let (s, _again) = (s.unwrap(), again.unwrap());
    let tag = format!(
        "pg-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    store_contract(&s, &tag).await;
    // And the reconcile loop plans an enrolled device from PostgreSQL.
    let t = tenant();
    let tid = TenantId::new(format!("inv-{tag}-loop")).unwrap();
    let mut t2 = Tenant::new(tid.clone());
    t2.add_node(n("school"), &NodeId::from_tenant(&tid), None, None)
        .unwrap();
    for p in t.policies() {
        t2.set_policy(p.clone());
    }
    t2.assign(&n("school"), "strict".parse().unwrap()).unwrap();
    let r = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(s));
    r.state()
        .put_enrollment(
            &tid,
            &enrollment("ipad-1", "school", EnrollmentStatus::Active),
        )
        .await
        .unwrap();
    let plan = r.reconcile(&t2, &Scope::All).await.unwrap();
    assert_eq!(plan.wake, [dev("ipad-1")]);
}

fn arb_enrollment() -> impl Strategy<Value = Enrollment> {
    let text = || proptest::option::of("[ -~]{0,12}|é€😀");
    (
        "[a-z0-9][a-z0-9.-]{0,20}",
        prop_oneof![
            Just(Platform::Apple),
            Just(Platform::Windows),
            Just(Platform::Android)
        ],
        prop_oneof![
            Just(EnrollmentStatus::Authenticated),
            Just(EnrollmentStatus::Active),
            Just(EnrollmentStatus::CheckedOut)
        ],
        (text(), text(), text(), text(), text()),
        (proptest::option::of(any::<bool>()), any::<i64>(), 0..3u8),
        proptest::option::of(("[0-9a-f]{64}", "[0-9a-f]{1,40}", any::<i64>())),
        proptest::option::of(("[0-9a-f]{0,64}", text(), text())),
    )
        .prop_map(
            |(id, platform, status, strings, (supervised, at, users), cert, push)| {
                let mut e = Enrollment::new(
                    DeviceId::new(id.clone()).unwrap(),
                    platform,
                    n("school"),
                    Timestamp::from_millis(at),
                );
                e.status = status;
                (e.serial, e.model, e.model_name, e.os_version, e.device_name) = strings;
                e.supervised = supervised;
                e.updated_at = Timestamp::from_millis(at.wrapping_add(1));
                e.certificate = cert.map(|(sha, serial, not_after)| {
                    BoundCertificate::new(
                        sha,
                        DeviceId::new(id.clone()).unwrap(),
                        serial,
                        Timestamp::from_millis(not_after),
                    )
                });
                e.push = push.map(|(token, topic, magic)| {
                    PushTarget::new(token, topic.unwrap_or_default(), magic.unwrap_or_default())
                });
                for u in 0..users {
                    e.user_channels.insert(
                        format!("user-{u}"),
                        PushTarget::new(format!("{u:02x}"), "t".into(), "m".into()),
                    );
                }
                e
            },
        )
}

#[test]
fn put_enrollment_then_enrollment_round_trips_on_memory_and_sqlite() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = rt
        .block_on(SqliteState::open(dir.path().join("state.db")))
        .unwrap();
    let memory = MemoryState::new();
    let t = TenantId::new("props").unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(
        mdmkit::core::proptest_cases(64),
    ));
    runner
        .run(&arb_enrollment(), |e| {
            rt.block_on(async {
                for s in [&memory as &dyn StateStore, &sqlite] {
                    // A certificate drawn twice for two devices is refused
                    // alike by both stores; the round trip is of the rest.
                    let put = s.put_enrollment(&t, &e).await;
                    if let Err(Error::CertificateInUse { .. }) = put {
                        continue;
                    }
                    put.unwrap();
                    let back = s.enrollment(&t, &e.device).await.unwrap();
                    prop_assert_eq!(back.as_ref(), Some(&e));
                    if let Some(c) = &e.certificate {
                        let by = s.enrollment_by_certificate(&t, &c.sha256).await.unwrap();
                        prop_assert_eq!(by.as_ref(), Some(&e));
                    }
                }
                Ok(())
            })
        })
        .unwrap();
    // Both stores saw the same writes.
    let (m, q) = rt.block_on(async {
        (
            memory.enrollments(&t).await.unwrap(),
            sqlite.enrollments(&t).await.unwrap(),
        )
    });
    assert_eq!(m, q);
}

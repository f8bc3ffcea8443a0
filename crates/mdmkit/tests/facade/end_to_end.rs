//! End to end: reconcile the example region on the embedded SQLite store,
//! let simulated Apple, Windows and Android devices answer with their own
//! protocol messages, and reach "verified" for every supported setting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mdmkit::apple::{Command as AppleCommand, Limits};
use mdmkit::core::{DeviceId, Platform};
use mdmkit::policy::{NodeId, Tenant, load_dir};
use mdmkit::queue::{
    Clock, EnrollmentId, ManualClock, QueueStore, SqliteOptions, SqliteStore, Synchronous,
    Timestamp,
};
use mdmkit::reconcile::{Options, RetryPolicy};
use mdmkit::state::{ComplianceState, SqliteState, StateStore};
use mdmkit::windows::SyncMl;
use mdmkit::windows::device::TestDevice;
use mdmkit::windows::session::{ServerSession, SessionConfig};
use mdmkit::{Answer, Reconciler, Scope};

type R = Reconciler<SqliteStore, SqliteState>;

const SERVER: &str = "https://mdm.example/ManagementServer/MDM.svc";

fn region() -> Tenant {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/region")).unwrap()
}

fn copy_region(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/region");
    copy_dir(&from, to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == ".mdmkit" {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(&name));
        } else {
            std::fs::copy(&p, to.join(&name)).unwrap();
        }
    }
}

async fn open(db: &Path, clock: &ManualClock) -> R {
    let c: Arc<dyn Clock> = Arc::new(clock.clone());
    let queue = SqliteStore::open(
        SqliteOptions::new(db)
            .with_synchronous(Synchronous::Normal)
            .with_clock(c.clone()),
    )
    .await
    .unwrap();
    let state = SqliteState::open(db).await.unwrap();
    Reconciler::new(Arc::new(queue), Arc::new(state))
        .with_clock(c)
        .with_options(Options::default().with_retry(RetryPolicy::default()))
}

fn idle(udid: &str) -> Vec<u8> {
    report(udid, "Idle", None, None)
}

fn report(udid: &str, status: &str, uuid: Option<&str>, error: Option<(i64, &str)>) -> Vec<u8> {
    let mut s =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>");
    s.push_str(&format!("<key>Status</key><string>{status}</string>"));
    s.push_str(&format!("<key>UDID</key><string>{udid}</string>"));
    if let Some(u) = uuid {
        s.push_str(&format!("<key>CommandUUID</key><string>{u}</string>"));
    }
    if let Some((code, text)) = error {
        s.push_str(&format!(
            "<key>ErrorChain</key><array><dict><key>ErrorCode</key><integer>{code}</integer>\
             <key>ErrorDomain</key><string>MCProfileErrorDomain</string>\
             <key>USEnglishDescription</key><string>{text}</string></dict></array>"
        ));
    }
    s.push_str("</dict></plist>\n");
    s.into_bytes()
}

/// An Apple device: checks in with Idle and acknowledges every command
/// (after checking it is a well-formed command plist) until none is left.
async fn apple_device<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    id: &DeviceId,
) -> usize {
    let t = tenant.id();
    let mut next = r.apple_report(t, id, &idle(id.as_str())).await.unwrap();
    let mut n = 0;
    while let Some(d) = next {
        let cmd = AppleCommand::from_bytes(&d.payload, &Limits::default()).unwrap();
        assert!(
            [
                "InstallProfile",
                "RemoveProfile",
                "InstallApplication",
                "RemoveApplication",
                "Settings"
            ]
            .contains(&cmd.request_type.as_str()),
            "{}",
            cmd.request_type
        );
        let body = report(id.as_str(), "Acknowledged", Some(cmd.uuid.as_str()), None);
        next = r.apple_report(t, id, &body).await.unwrap();
        n += 1;
        assert!(n < 100, "endless queue");
    }
    n
}

/// A Windows device: one OMA-DM session with everything queued for it.
async fn windows_device<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    id: &DeviceId,
) -> usize {
    let t = tenant.id();
    let queued = r.windows_commands(t, id, 500).await.unwrap();
    let mut device = TestDevice::new(id.as_str());
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let mut msg = device.open_session(SERVER);
    for _ in 0..100 {
        let wire = SyncMl::read(msg.to_xml().as_bytes()).unwrap();
        let reply = server.respond(&wire, &queued).unwrap();
        r.windows_statuses(t, id, &reply.statuses).await.unwrap();
        let reply_wire = SyncMl::read(reply.message.to_xml().as_bytes()).unwrap();
        if reply.session_complete {
            return queued.len();
        }
        msg = device.handle(&reply_wire).expect("device answers commands");
    }
    panic!("session did not end");
}

/// An Android device: the integrator sends the queued policy to Google
/// (which accepts it as version N), then the device reports it applied.
async fn android_device<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    id: &DeviceId,
    version: i64,
) -> usize {
    let t = tenant.id();
    let mut n = 0;
    while let Some(d) = r.next(t, id).await.unwrap() {
        assert_eq!(d.kind, "PatchPolicy");
        mdmkit::android::parse::policy(&d.payload).unwrap();
        r.record_answer(
            t,
            id,
            d.id,
            &Answer::Accepted {
                version: Some(version),
            },
            None,
        )
        .await
        .unwrap();
        n += 1;
    }
    let report = format!(
        r#"{{"name": "{id}", "state": "ACTIVE", "appliedPolicyVersion": "{version}", "policyCompliant": true}}"#
    );
    r.android_report(t, id, report.as_bytes()).await.unwrap();
    n
}

async fn answer_all<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    version: i64,
) -> usize {
    let mut n = 0;
    for d in tenant.devices() {
        n += match d.platform {
            Platform::Apple => apple_device(r, tenant, &d.id).await,
            Platform::Windows => windows_device(r, tenant, &d.id).await,
            Platform::Android => android_device(r, tenant, &d.id, version).await,
            _ => 0,
        };
    }
    n
}

async fn assert_all_compliant<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
) {
    let status = r.status(tenant, tenant.root().id()).await.unwrap();
    assert_eq!(status.len(), tenant.devices().count());
    for d in &status {
        assert!(!d.categories.is_empty(), "{} has no state", d.device);
        for c in &d.categories {
            assert!(
                c.state.is_compliant(),
                "{} {}: {} ({:?})",
                d.device,
                c.category.as_str(),
                c.state,
                c.error
            );
        }
    }
    assert!(
        status
            .iter()
            .flat_map(|d| &d.categories)
            .any(|c| c.state == ComplianceState::Verified)
    );
}

fn tmp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mdmkit.db");
    (dir, db)
}

#[tokio::test]
async fn every_platform_reaches_verified_and_a_second_run_queues_nothing() {
    let (_dir, db) = tmp_db();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let tenant = region();
    let r = open(&db, &clock).await;
    whole_loop(&r, &tenant).await;
}

/// The same loop on the hosted stores: PostgreSQL for the queue and the
/// state, several tenants in one database.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn every_platform_reaches_verified_on_postgresql() {
    use mdmkit::queue::{PostgresOptions, PostgresStore};
    use mdmkit::state::PostgresState;
    let url = match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!("MDMKIT_TEST_POSTGRES_URL is unset: run the tests through scripts/test"),
    };
    // A tenant of its own, so runs against one server never meet.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("region");
    copy_region(&tree);
    let unique = format!("e2e-{}", uuid_like());
    let text = std::fs::read_to_string(tree.join("tree.toml")).unwrap();
    std::fs::write(
        tree.join("tree.toml"),
        text.replace(
            "id = \"academie-hauts-de-lys\"",
            &format!("id = \"{unique}\""),
        ),
    )
    .unwrap();
    let tenant = load_dir(&tree).unwrap();
    assert_eq!(tenant.id().as_str(), unique);
    let queue = PostgresStore::open(PostgresOptions::new(url.clone()))
        .await
        .unwrap();
    let state = PostgresState::open(&url).await.unwrap();
    let r = Reconciler::new(Arc::new(queue), Arc::new(state));
    whole_loop(&r, &tenant).await;
}

#[cfg(feature = "postgres")]
fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{t:x}-{}", std::process::id())
}

async fn whole_loop<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
) {
    let plan = r.reconcile(tenant, &Scope::All).await.unwrap();
    assert_eq!(plan.devices, 30);
    assert_eq!(plan.changed_devices, 30);
    assert!(plan.queued > 0);
    assert_eq!(plan.wake.len(), 30);
    for p in ["apple", "windows", "android"] {
        assert!(plan.commands.contains_key(p), "no {p} commands");
    }
    // Nothing verified before the devices answer.
    let before = r.status(tenant, tenant.root().id()).await.unwrap();
    assert!(before.iter().all(|d| !d.compliant));

    let answered = answer_all(r, tenant, 1).await;
    assert_eq!(answered as u64, plan.queued);
    assert_all_compliant(r, tenant).await;
    let counts = r.queue().counts(tenant.id()).await.unwrap();
    assert_eq!(
        counts
            .0
            .get(&mdmkit::queue::CommandState::Acknowledged)
            .copied(),
        Some(plan.queued)
    );

    let again = r.reconcile(tenant, &Scope::All).await.unwrap();
    assert!(again.is_noop(), "{again:?}");
    assert_eq!(again.queued, 0);
}

#[tokio::test]
async fn a_change_at_one_school_queues_for_that_school_only() {
    let (dir, db) = tmp_db();
    let tree = dir.path().join("region");
    copy_region(&tree);
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let r = open(&db, &clock).await;
    let tenant = load_dir(&tree).unwrap();
    r.reconcile(&tenant, &Scope::All).await.unwrap();
    answer_all(&r, &tenant, 1).await;

    // The school tightens its passcode.
    let file = tree.join("policies/ecole-jules-ferry.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("[passcode]\n"));
    std::fs::write(
        &file,
        text.replace("[passcode]\n", "[passcode]\nmax_failed_attempts = 7\n"),
    )
    .unwrap();
    let tenant2 = load_dir(&tree).unwrap();
    let school: NodeId = "ecole-jules-ferry".parse().unwrap();
    let below: Vec<DeviceId> = tenant2.affected_devices(&school).unwrap();
    assert!(!below.is_empty());
    let plan = r.reconcile(&tenant2, &Scope::All).await.unwrap();
    assert!(plan.queued > 0);
    assert!(plan.changed_devices as usize <= below.len());
    assert!(plan.changed_devices > 0);
    for d in &plan.wake {
        assert!(below.contains(d), "{d} is not below the school");
    }
    // The same change planned for the school alone finds nothing left.
    let scoped = r.reconcile(&tenant2, &Scope::Node(school)).await.unwrap();
    assert!(scoped.is_noop());

    answer_all(&r, &tenant2, 2).await;
    assert_all_compliant(&r, &tenant2).await;
}

#[tokio::test]
async fn restarting_between_steps_loses_nothing() {
    let (_dir, db) = tmp_db();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let tenant = region();
    {
        let r = open(&db, &clock).await;
        r.reconcile(&tenant, &Scope::All).await.unwrap();
    }
    // Half the devices answer, then the server restarts.
    let half: Vec<_> = tenant.devices().take(15).cloned().collect();
    {
        let r = open(&db, &clock).await;
        for d in &half {
            match d.platform {
                Platform::Apple => apple_device(&r, &tenant, &d.id).await,
                Platform::Windows => windows_device(&r, &tenant, &d.id).await,
                Platform::Android => android_device(&r, &tenant, &d.id, 1).await,
                _ => 0,
            };
        }
    }
    let r = open(&db, &clock).await;
    assert!(r.reconcile(&tenant, &Scope::All).await.unwrap().is_noop());
    answer_all(&r, &tenant, 1).await;
    assert_all_compliant(&r, &tenant).await;
}

#[tokio::test]
async fn a_refused_profile_fails_then_is_retried_after_its_backoff() {
    let (_dir, db) = tmp_db();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let tenant = region();
    let r = open(&db, &clock).await;
    r.reconcile(&tenant, &Scope::All).await.unwrap();
    let ipad = tenant
        .devices()
        .find(|d| d.platform == Platform::Apple)
        .unwrap()
        .id
        .clone();
    let t = tenant.id();
    // The device refuses the first command, then NotNows the second.
    let first = r
        .apple_report(t, &ipad, &idle(ipad.as_str()))
        .await
        .unwrap()
        .unwrap();
    let uuid = AppleCommand::from_bytes(&first.payload, &Limits::default())
        .unwrap()
        .uuid;
    let refused = report(
        ipad.as_str(),
        "Error",
        Some(uuid.as_str()),
        Some((4001, "The profile could not be installed")),
    );
    let second = r.apple_report(t, &ipad, &refused).await.unwrap().unwrap();
    let failed: Vec<_> = r
        .state()
        .compliance(t, Some(&ipad))
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, s)| s.state == ComplianceState::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    let (_, f) = &failed[0];
    assert!(
        f.error.as_deref().unwrap().contains("4001"),
        "{:?}",
        f.error
    );
    assert_eq!(f.attempts, 1);
    let uuid2 = AppleCommand::from_bytes(&second.payload, &Limits::default())
        .unwrap()
        .uuid;
    let not_now = report(ipad.as_str(), "NotNow", Some(uuid2.as_str()), None);
    // The queue may offer another command; the device goes quiet instead
    // and checks in again later with Idle.
    r.apple_report(t, &ipad, &not_now).await.unwrap();

    // The console sees why.
    let findings = r.noncompliant(&tenant, tenant.root().id()).await.unwrap();
    let mine: Vec<_> = findings.iter().filter(|f| f.device == ipad).collect();
    assert!(mine.iter().any(|f| f.state.state == ComplianceState::Failed
        && !f.settings.is_empty()
        && f.settings.iter().all(|s| !s.policy.is_empty())));

    // Before the backoff nothing is retried; after it, the category is
    // queued again and the device answers everything.
    assert_eq!(r.reconcile(&tenant, &Scope::All).await.unwrap().retried, 0);
    clock.advance(Duration::from_secs(301));
    let retry = r.reconcile(&tenant, &Scope::All).await.unwrap();
    assert_eq!(retry.retried, 1);
    assert!(retry.queued >= 1);
    assert_eq!(retry.wake.len(), 0, "the iPad's queue was not empty");
    answer_all(&r, &tenant, 1).await;
    assert_all_compliant(&r, &tenant).await;
}

#[tokio::test]
async fn devices_leaving_the_tree_are_forgotten_and_their_queues_kept() {
    let (_dir, db) = tmp_db();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let tenant = region();
    let r = open(&db, &clock).await;
    r.reconcile(&tenant, &Scope::All).await.unwrap();
    let smaller = Tenant::new(tenant.id().clone());
    let plan = r.reconcile(&smaller, &Scope::All).await.unwrap();
    assert_eq!(plan.removed_devices, 30);
    assert!(
        r.state()
            .device_records(tenant.id())
            .await
            .unwrap()
            .is_empty()
    );
    let ipad = tenant.devices().next().unwrap().id.clone();
    let queued = r
        .queue()
        .list(tenant.id(), &EnrollmentId::device(ipad))
        .await
        .unwrap();
    assert!(
        !queued.is_empty(),
        "leaving the tree is not a re-enrollment"
    );
}

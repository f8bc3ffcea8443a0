//! End to end: reconcile the example region (30 devices) on the embedded
//! SQLite store (and on PostgreSQL), let stateful simulated devices apply
//! what they are sent and answer with their own protocol messages through
//! the facade's entry points (`apple_report`, `windows_commands` and
//! `windows_statuses`, `android_report`), then check what they hold.
//!
//! What is proven, for every device of the tree:
//! - the categories with a compliance row are exactly the categories its
//!   effective policy has settings in; each one its platform is sent
//!   something for (worked out from the vendor mappings alone, in
//!   `end_to_end/expected.rs`) is `verified`, each other one is
//!   `unsupported` with the notes saying why: never merely "compliant";
//! - the device holds what its effective policy asks, read back through the
//!   queue as an administrator would: an Apple device's `ProfileList` has
//!   one profile per category, the very profile the mapping builds (same
//!   identifier and content-derived UUIDs of the profile and each payload)
//!   and nothing else, its `InstalledApplicationList` the apps to install
//!   and not those to remove, its `DeviceInformation` the `Settings` items
//!   (name, time zone); a Windows device answers a `Get` of every CSP node
//!   of its settings with the value the mapping sets (and 404 for a node
//!   to remove); an Android device applied the whole `Policy` the mapping
//!   makes, field by field for each category;
//! - a setting an Android device reports non-compliant fails its category
//!   and no other; a profile an Apple device refuses fails its category
//!   until it is retried after its backoff and installed; a kiosk changed
//!   alone is rebuilt with the app it names on Apple and Windows as well.
//!
//! The simulated devices (`sim_apple.rs`, `sim_android.rs`, and
//! `mdmkit::windows::device::TestDevice`) parse what they receive with the
//! vendors' own formats and refuse what does not parse; they do not model
//! each setting's effect on a real device.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod expected;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mdmkit::apple::command::everyday;
use mdmkit::apple::generated::commands::{
    DeviceInformationCommand, InstalledApplicationListCommand, ProfileListCommand,
};
use mdmkit::apple::{CommandReport, CommandUuid, Format, Limits, Status};
use mdmkit::core::{DeviceId, Platform};
use mdmkit::policy::{Category, Device, NodeId, Tenant, load_dir};
use mdmkit::queue::{
    Clock, CommandId, CommandState, EnrollmentId, ManualClock, NewCommand, QueueStore,
    SqliteOptions, SqliteStore, Synchronous, Timestamp,
};
use mdmkit::reconcile::{Options, RetryPolicy};
use mdmkit::state::{ComplianceState, SqliteState, StateStore};
use mdmkit::windows::SyncMl;
use mdmkit::windows::device::TestDevice;
use mdmkit::windows::session::{MatchedResults, ServerSession, SessionConfig};
use mdmkit::windows::syncml::{Command as WinCommand, Item, ItemCommand};
use mdmkit::{Reconciler, Scope};

use crate::sim_android::SimAndroid;
use crate::sim_apple::{Next, SimApple};

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

/// The simulated devices of a tree, kept across reconciler restarts and
/// policy changes (a device does not forget what it applied).
#[derive(Default)]
struct Fleet {
    apple: HashMap<DeviceId, SimApple>,
    windows: HashMap<DeviceId, TestDevice>,
    android: HashMap<DeviceId, SimAndroid>,
}

impl Fleet {
    fn apple(&mut self, d: &Device) -> &mut SimApple {
        self.apple
            .entry(d.id.clone())
            .or_insert_with(|| SimApple::new(d))
    }

    fn windows(&mut self, d: &Device) -> &mut TestDevice {
        self.windows
            .entry(d.id.clone())
            .or_insert_with(|| TestDevice::new(d.id.as_str()))
    }

    fn android(&mut self, d: &Device) -> &mut SimAndroid {
        self.android
            .entry(d.id.clone())
            .or_insert_with(|| SimAndroid::new(d.id.as_str()))
    }

    /// One device answers everything queued for it; how many commands.
    async fn answer<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
        &mut self,
        r: &Reconciler<Q, S>,
        tenant: &Tenant,
        d: &Device,
    ) -> usize {
        match d.platform {
            Platform::Apple => apple_session(r, tenant, self.apple(d)).await,
            Platform::Windows => windows_session(r, tenant, &d.id, self.windows(d)).await.0,
            Platform::Android => android_session(r, tenant, &d.id, self.android(d)).await,
            other => panic!("no simulated {other} device"),
        }
    }

    /// Every device answers everything queued for it.
    async fn answer_all<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
        &mut self,
        r: &Reconciler<Q, S>,
        tenant: &Tenant,
    ) -> usize {
        let mut n = 0;
        for d in tenant.devices() {
            n += self.answer(r, tenant, d).await;
        }
        n
    }
}

/// An Apple device checks in with Idle and runs commands until none is
/// left; how many it ran.
async fn apple_session<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    sim: &mut SimApple,
) -> usize {
    let t = tenant.id();
    let id = DeviceId::new(sim.udid()).unwrap();
    let mut next = r.apple_report(t, &id, &sim.idle()).await.unwrap();
    let mut n = 0;
    while let Some(d) = next {
        let body = sim.handle(&d.payload);
        next = r.apple_report(t, &id, &body).await.unwrap();
        n += 1;
        assert!(n < 100, "endless queue");
    }
    n
}

/// A Windows device: one OMA-DM session with everything queued for it; how
/// many commands, and the `Results` the device returned.
async fn windows_session<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    id: &DeviceId,
    device: &mut TestDevice,
) -> (usize, Vec<MatchedResults>) {
    let t = tenant.id();
    let queued = r.windows_commands(t, id, 500).await.unwrap();
    let mut server = ServerSession::new(SessionConfig::new(SERVER));
    let mut msg = device.open_session(SERVER);
    let mut results = Vec::new();
    for _ in 0..100 {
        let wire = SyncMl::read(msg.to_xml().as_bytes()).unwrap();
        let reply = server.respond(&wire, &queued).unwrap();
        r.windows_statuses(t, id, &reply.statuses).await.unwrap();
        results.extend(reply.results);
        let reply_wire = SyncMl::read(reply.message.to_xml().as_bytes()).unwrap();
        if reply.session_complete {
            return (queued.len(), results);
        }
        msg = device.handle(&reply_wire).expect("device answers commands");
    }
    panic!("session did not end");
}

/// An Android device: the integrator sends each queued policy to Google
/// (the simulation accepts it with the next version and the device applies
/// it), then the device reports its state; how many commands.
async fn android_session<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    id: &DeviceId,
    sim: &mut SimAndroid,
) -> usize {
    let t = tenant.id();
    let mut n = 0;
    while let Some(d) = r.next(t, id).await.unwrap() {
        assert_eq!(d.kind, "PatchPolicy");
        let version = sim.accept_and_apply(&d.payload);
        r.record_answer(
            t,
            id,
            d.id,
            &mdmkit::Answer::Accepted {
                version: Some(version),
            },
            None,
        )
        .await
        .unwrap();
        n += 1;
    }
    r.android_report(t, id, &sim.report()).await.unwrap();
    n
}

/// Every device's categories are those of its effective policy, each
/// verified where its platform is sent something for it and unsupported
/// (with its reasons) where not; except `failed`, which must be failed.
async fn assert_states<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    failed: &[(DeviceId, Category)],
) {
    let status = r.status(tenant, tenant.root().id()).await.unwrap();
    assert_eq!(status.len(), tenant.devices().count());
    let mut verified: BTreeMap<Platform, BTreeSet<Category>> = BTreeMap::new();
    for d in &status {
        let device = tenant.device(&d.device).unwrap();
        let settings = expected::settings(tenant, device);
        let categories = expected::categories(&settings);
        let supported = expected::supported(tenant, device, &settings);
        assert!(supported.is_subset(&categories));
        let rows: BTreeMap<Category, _> = d.categories.iter().map(|c| (c.category, c)).collect();
        assert_eq!(
            rows.len(),
            d.categories.len(),
            "{}: a category twice",
            d.device
        );
        assert_eq!(
            rows.keys().copied().collect::<BTreeSet<_>>(),
            categories,
            "{} ({}): the categories with a state are not those with settings",
            d.device,
            d.platform
        );
        for (c, row) in rows {
            let what = format!(
                "{} ({}) {}: {} ({:?}, {:?})",
                d.device,
                d.platform,
                c.as_str(),
                row.state,
                row.error,
                row.unsupported
            );
            if failed.contains(&(d.device.clone(), c)) {
                assert_eq!(row.state, ComplianceState::Failed, "{what}");
            } else if supported.contains(&c) {
                assert_eq!(row.state, ComplianceState::Verified, "{what}");
                verified.entry(d.platform).or_default().insert(c);
            } else {
                assert_eq!(row.state, ComplianceState::Unsupported, "{what}");
                assert!(!row.unsupported.is_empty(), "{what}: no reason given");
            }
        }
    }
    // Not vacuous: the region's passcode, restrictions and Wi-Fi are
    // verified on every platform.
    for p in [Platform::Apple, Platform::Windows, Platform::Android] {
        let v = verified.get(&p).cloned().unwrap_or_default();
        for c in [Category::Passcode, Category::Restrictions, Category::Wifi] {
            assert!(v.contains(&c), "{p}: {} never verified ({v:?})", c.as_str());
        }
    }
}

async fn assert_all_verified<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
) {
    assert_states(r, tenant, &[]).await;
}

/// Queues an Apple command for one device as the admin API does (its
/// `CommandUUID` is the queue id).
async fn enqueue_apple<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    id: &DeviceId,
    kind: &str,
    mut cmd: mdmkit::apple::Command,
) -> CommandId {
    let cid = CommandId::new();
    cmd.uuid = CommandUuid::new(cid.as_uuid().to_string()).unwrap();
    let new = NewCommand::new(kind, cmd.to_bytes(Format::Xml)).with_id(cid);
    r.queue()
        .enqueue(tenant.id(), &new, &[EnrollmentId::device(id.clone())])
        .await
        .unwrap();
    cid
}

/// The report the device sent for a command, as the queue kept it.
async fn apple_result<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    id: &DeviceId,
    cid: CommandId,
) -> CommandReport {
    let history = r
        .queue()
        .history(tenant.id(), &EnrollmentId::device(id.clone()), Some(cid))
        .await
        .unwrap();
    let bytes = history
        .iter()
        .rev()
        .find_map(|e| e.result.clone())
        .unwrap_or_else(|| panic!("{id}: no result for {cid}"));
    let report = CommandReport::from_bytes(&bytes, &Limits::default()).unwrap();
    assert_eq!(report.status, Status::Acknowledged, "{id}: {report:?}");
    report
}

/// Reads back, through the queue, what every device holds, and compares
/// it with what its effective policy asks; how many read-back commands the
/// devices acknowledged.
async fn assert_devices_hold<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    fleet: &mut Fleet,
) -> usize {
    let mut acknowledged = 0;
    for d in tenant.devices() {
        let settings = expected::settings(tenant, d);
        acknowledged += match d.platform {
            Platform::Apple => apple_holds(r, tenant, d, &settings, fleet.apple(d)).await,
            Platform::Windows => windows_holds(r, tenant, d, &settings, fleet.windows(d)).await,
            Platform::Android => {
                android_holds(d, &settings, fleet.android(d));
                0
            }
            other => panic!("no simulated {other} device"),
        };
    }
    acknowledged
}

async fn apple_holds<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    d: &Device,
    settings: &mdmkit::policy::Settings,
    sim: &mut SimApple,
) -> usize {
    let want = expected::apple(tenant, d, settings);
    let id = &d.id;
    let list = enqueue_apple(r, tenant, id, "ProfileList", everyday::profile_list()).await;
    let apps = enqueue_apple(
        r,
        tenant,
        id,
        "InstalledApplicationList",
        everyday::installed_application_list(),
    )
    .await;
    let info = enqueue_apple(
        r,
        tenant,
        id,
        "DeviceInformation",
        everyday::device_information(["DeviceName", "TimeZone"]),
    )
    .await;
    assert_eq!(apple_session(r, tenant, sim).await, 3);

    // One profile per category, the one the mapping builds, and no other.
    let held = apple_result(r, tenant, id, list)
        .await
        .result::<ProfileListCommand>()
        .unwrap()
        .profile_list
        .unwrap();
    let held: BTreeMap<String, _> = held
        .into_iter()
        .map(|p| (p.payload_identifier.clone().unwrap(), p))
        .collect();
    assert_eq!(
        held.keys().cloned().collect::<BTreeSet<_>>(),
        want.profiles
            .iter()
            .map(|(_, p)| p.identifier.clone())
            .collect::<BTreeSet<_>>(),
        "{id}: the installed profiles"
    );
    for (c, p) in &want.profiles {
        assert!(
            p.identifier.ends_with(&format!(".{}", c.as_str())),
            "{id}: {} is not the {} profile",
            p.identifier,
            c.as_str()
        );
        let h = &held[&p.identifier];
        assert_eq!(
            h.payload_uuid.as_deref(),
            Some(p.uuid.as_str()),
            "{id} {c:?}"
        );
        let payloads: Vec<_> = h
            .payload_content
            .iter()
            .flatten()
            .map(|x| {
                (
                    x.payload_type.clone().unwrap(),
                    x.payload_identifier.clone().unwrap(),
                    x.payload_uuid.clone().unwrap(),
                )
            })
            .collect();
        let asked: Vec<_> = p
            .payloads
            .iter()
            .map(|x| (x.payload_type.clone(), x.identifier.clone(), x.uuid.clone()))
            .collect();
        assert!(!asked.is_empty(), "{id} {c:?}: an empty profile");
        assert_eq!(payloads, asked, "{id} {c:?}: the payloads");
    }

    // The apps to install, not those to remove.
    let listed: BTreeSet<String> = apple_result(r, tenant, id, apps)
        .await
        .result::<InstalledApplicationListCommand>()
        .unwrap()
        .installed_application_list
        .unwrap_or_default()
        .into_iter()
        .filter_map(|a| a.identifier)
        .collect();
    assert!(want.installed.is_subset(&listed), "{id}: {listed:?}");
    assert!(want.removed.is_disjoint(&listed), "{id}: {listed:?}");

    // The Settings items (device name, time zone).
    let info = apple_result(r, tenant, id, info)
        .await
        .result::<DeviceInformationCommand>()
        .unwrap()
        .query_responses
        .unwrap();
    for (item, value) in &want.items {
        let got = match item.as_str() {
            "DeviceName" => info.device_name.as_deref(),
            "TimeZone" => info.time_zone.as_deref(),
            other => panic!("Settings item {other} is new: teach the test"),
        };
        assert_eq!(got, Some(value.as_str()), "{id}: {item}");
    }
    3
}

async fn windows_holds<Q: QueueStore + ?Sized, S: StateStore + ?Sized>(
    r: &Reconciler<Q, S>,
    tenant: &Tenant,
    d: &Device,
    settings: &mdmkit::policy::Settings,
    device: &mut TestDevice,
) -> usize {
    let want = expected::windows(d, settings);
    let mut asked: HashMap<String, (Category, String, expected::Node)> = HashMap::new();
    for (c, nodes) in &want {
        for (uri, node) in nodes {
            // One Get per node, so that a missing node is told apart.
            let get = WinCommand::Get(ItemCommand::new(1u64, Item::target(uri.as_str())));
            let mut one = mdmkit::windows::csp::Compiled::default();
            one.commands.push(get);
            let message = one.to_message("1", "1", "mdmkit", "device");
            let cid = CommandId::new();
            let new = NewCommand::new("Get", message.to_xml().into_bytes()).with_id(cid);
            r.queue()
                .enqueue(tenant.id(), &new, &[EnrollmentId::device(d.id.clone())])
                .await
                .unwrap();
            asked.insert(cid.as_uuid().to_string(), (*c, uri.clone(), node.clone()));
        }
    }
    let (n, results) = windows_session(r, tenant, &d.id, device).await;
    assert_eq!(n, asked.len());
    let mut got: HashMap<String, String> = HashMap::new();
    for res in results {
        let (_, uri, _) = &asked[res.queue_ref.as_str()];
        assert_eq!(res.items.len(), 1, "{}: {uri}", d.id);
        let data = res.items[0].data.as_ref().map(|x| x.as_str().to_owned());
        got.insert(uri.clone(), data.unwrap_or_default());
    }
    let mut present = 0;
    for (c, uri, node) in asked.values() {
        match node {
            expected::Node::Value(v) => {
                present += 1;
                assert_eq!(got.get(uri), Some(v), "{} {}: {uri}", d.id, c.as_str());
            }
            expected::Node::Absent => {
                assert!(
                    !got.contains_key(uri),
                    "{} {}: {uri} is there",
                    d.id,
                    c.as_str()
                );
            }
        }
    }
    present
}

fn android_holds(d: &Device, settings: &mdmkit::policy::Settings, sim: &SimAndroid) {
    let (fields, whole) = expected::android(settings);
    let applied = sim
        .applied()
        .unwrap_or_else(|| panic!("{}: no policy applied", d.id));
    for (c, keys) in &fields {
        for k in keys {
            assert_eq!(applied.get(k), whole.get(k), "{} {}: {k}", d.id, c.as_str());
            assert!(
                applied.contains_key(k),
                "{} {}: {k} missing",
                d.id,
                c.as_str()
            );
        }
    }
    assert_eq!(
        &serde_json::Value::Object(applied.clone()),
        &whole,
        "{}: the applied policy",
        d.id
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

    let mut fleet = Fleet::default();
    let answered = fleet.answer_all(r, tenant).await;
    assert_eq!(answered as u64, plan.queued);
    assert_all_verified(r, tenant).await;
    let read_back = assert_devices_hold(r, tenant, &mut fleet).await;
    assert!(read_back > 0);
    let counts = r.queue().counts(tenant.id()).await.unwrap();
    assert_eq!(
        counts.get(CommandState::Acknowledged),
        plan.queued + read_back as u64,
        "{counts:?}"
    );
    assert_eq!(counts.get(CommandState::Error), 0, "{counts:?}");

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
    let mut fleet = Fleet::default();
    fleet.answer_all(&r, &tenant).await;

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

    fleet.answer_all(&r, &tenant2).await;
    assert_all_verified(&r, &tenant2).await;
    // The devices hold the new passcode rules, not the old ones.
    assert_devices_hold(&r, &tenant2, &mut fleet).await;
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
    let mut fleet = Fleet::default();
    let half: Vec<_> = tenant.devices().take(15).cloned().collect();
    {
        let r = open(&db, &clock).await;
        for d in &half {
            fleet.answer(&r, &tenant, d).await;
        }
    }
    let r = open(&db, &clock).await;
    assert!(r.reconcile(&tenant, &Scope::All).await.unwrap().is_noop());
    fleet.answer_all(&r, &tenant).await;
    assert_all_verified(&r, &tenant).await;
    assert_devices_hold(&r, &tenant, &mut fleet).await;
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
        .clone();
    let t = tenant.id();
    let mut fleet = Fleet::default();
    let sim = fleet.apple(&ipad);
    // The device refuses the first command, then NotNows the second.
    sim.script = vec![
        Next::Refuse(4001, "The profile could not be installed".into()),
        Next::NotNow,
    ];
    let first = r
        .apple_report(t, &ipad.id, &sim.idle())
        .await
        .unwrap()
        .unwrap();
    let refused = sim.handle(&first.payload);
    let second = r
        .apple_report(t, &ipad.id, &refused)
        .await
        .unwrap()
        .unwrap();
    let failed: Vec<_> = r
        .state()
        .compliance(t, Some(&ipad.id))
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
    let refused_category = f.category;
    let not_now = sim.handle(&second.payload);
    assert_eq!(sim.log.len(), 2);
    assert!(
        sim.profiles().is_empty(),
        "a refused command installed something"
    );
    // The queue may offer another command; the device goes quiet instead
    // and checks in again later with Idle.
    r.apple_report(t, &ipad.id, &not_now).await.unwrap();

    // The console sees why.
    let findings = r.noncompliant(&tenant, tenant.root().id()).await.unwrap();
    let mine: Vec<_> = findings.iter().filter(|f| f.device == ipad.id).collect();
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
    fleet.answer_all(&r, &tenant).await;
    let row = r
        .state()
        .compliance(t, Some(&ipad.id))
        .await
        .unwrap()
        .into_iter()
        .find(|(_, s)| s.category == refused_category)
        .unwrap()
        .1;
    assert_eq!(row.state, ComplianceState::Verified, "{row:?}");
    assert_all_verified(&r, &tenant).await;
    assert_devices_hold(&r, &tenant, &mut fleet).await;
}

#[tokio::test]
async fn a_setting_an_android_device_reports_non_compliant_fails_its_category_only() {
    let (_dir, db) = tmp_db();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let tenant = region();
    let r = open(&db, &clock).await;
    r.reconcile(&tenant, &Scope::All).await.unwrap();
    let phone = tenant
        .devices()
        .find(|d| d.platform == Platform::Android)
        .unwrap()
        .clone();
    // A passcode field that no other category writes.
    let (fields, _) = expected::android(&expected::settings(&tenant, &phone));
    let field = fields[&Category::Passcode]
        .iter()
        .find(|k| {
            fields
                .iter()
                .all(|(c, keys)| *c == Category::Passcode || !keys.contains(*k))
        })
        .expect("a field of the passcode alone")
        .clone();
    let mut fleet = Fleet::default();
    fleet.android(&phone).refuse(&field);
    fleet.answer_all(&r, &tenant).await;

    assert_states(&r, &tenant, &[(phone.id.clone(), Category::Passcode)]).await;
    let rows = r
        .state()
        .compliance(tenant.id(), Some(&phone.id))
        .await
        .unwrap();
    let (_, passcode) = rows
        .iter()
        .find(|(_, s)| s.category == Category::Passcode)
        .unwrap();
    let error = passcode.error.as_deref().unwrap();
    assert!(error.contains(&field), "{error}");
    // The device did apply the policy: only the refused field is missing
    // from what it enforces.
    assert_eq!(
        fleet.android(&phone).applied().unwrap().get(&field),
        expected::android(&expected::settings(&tenant, &phone))
            .1
            .get(&field)
    );
}

/// A kiosk names an app of `apps`: when the kiosk alone changes, every
/// platform still builds it with the app it names.
#[tokio::test]
async fn a_kiosk_changed_alone_is_built_with_the_app_it_names_on_every_platform() {
    let (dir, db) = tmp_db();
    let tree = dir.path().join("region");
    copy_region(&tree);
    // A supervised iPad and a PC join the library's Android terminals.
    let mut devices = std::fs::read_to_string(tree.join("devices.toml")).unwrap();
    devices.push_str(
        "\n[[device]]\nid = \"00008101-CD1CD1CD1CD1CD1C\"\nnode = \"sainte-marie-cdi\"\n\
         platform = \"apple\"\nos_version = \"18.1\"\nsupervised = true\n\
         model = \"iPad (10th generation)\"\nserial = \"DMPCD1000001\"\n\
         \n[[device]]\nid = \"CD1CD1CD-0000-0000-0000-000000000001\"\n\
         node = \"sainte-marie-cdi\"\nplatform = \"windows\"\nos_version = \"10.0.22631\"\n\
         model = \"Dell OptiPlex 3000\"\nserial = \"CD10001\"\n",
    );
    std::fs::write(tree.join("devices.toml"), devices).unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
    let r = open(&db, &clock).await;
    let tenant = load_dir(&tree).unwrap();
    r.reconcile(&tenant, &Scope::All).await.unwrap();
    let mut fleet = Fleet::default();
    fleet.answer_all(&r, &tenant).await;
    assert_all_verified(&r, &tenant).await;
    assert_devices_hold(&r, &tenant, &mut fleet).await;

    // The terminals now show the school's timetable app instead.
    let file = tree.join("policies/kiosque-cdi.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("app = \"esidoc\"\n"));
    std::fs::write(
        &file,
        text.replace("app = \"esidoc\"\n", "app = \"pronote\"\n"),
    )
    .unwrap();
    let tenant2 = load_dir(&tree).unwrap();
    let plan = r.reconcile(&tenant2, &Scope::All).await.unwrap();
    assert!(plan.queued > 0);
    fleet.answer_all(&r, &tenant2).await;
    assert_all_verified(&r, &tenant2).await;
    assert_devices_hold(&r, &tenant2, &mut fleet).await;
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

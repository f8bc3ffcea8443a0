//! The console's tree view of a 100,000-device tenant, rendered by the
//! server, against the admin API's JSON of the same data in the same run.
//!
//! The tenant is the bench region (`mdmkit_benches::region`: 10 groups,
//! 50 towns, 200 schools, 2,000 classes, 100,000 devices); its compliance
//! is written to the embedded SQLite state store as a reconcile and the
//! devices' answers would leave it, eight categories per device (800,000
//! rows): most verified, some pending, failed or unsupported. Both
//! requests go over HTTP on a loopback port to the real
//! `mdmkit_server::router` served by `serve::serve`, from one `reqwest`
//! client, and read the whole answer:
//!
//! - `console_tree/admin_api_json`: `GET /{tenant}/admin/v1/nodes` with a
//!   root read token: every node's counts as JSON (the baseline);
//! - `console_tree/console_html`: `GET /console/{tenant}/nodes/{root}` with
//!   a console session: the same counts as the tree page;
//! - `console_parts/*` (SQLite) and `console_parts_postgres/*`: the
//!   console's queries without HTTP, each beside the whole-tenant read it
//!   replaced (see [`parts`]): per-node counts, the whole tree view,
//!   `status` of one class and `noncompliant` of one school (issue 19's
//!   node-sized queries);
//! - `console_enrolled*`: the same questions with the devices enrolled in
//!   the state store instead of listed by the tree (see [`enrolled`]).
//!
//! Run: `bash -c '. scripts/lib.sh; start_throwaway_postgres; cargo bench
//! -p mdmkit-benches --bench console'` (PostgreSQL is skipped, with a
//! note, when `MDMKIT_TEST_POSTGRES_URL` is unset).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mdmkit::access::{self, Role};
use mdmkit::identity::{CaBuilder, KeyAlgorithm};
use mdmkit::policy::{Category, ContentHash, NodeId};
use mdmkit::queue::{QueueStore, SqliteOptions, SqliteStore, Timestamp};
use mdmkit::state::{
    CategoryState, ComplianceState, DeviceRecord, PostgresState, SqliteState, StateBatch,
    StateStore,
};
use mdmkit::{Reconciler, TenantId};
use mdmkit_server::console::SessionKey;
use mdmkit_server::{AppState, DynReconciler, ServerConfig, TenantContext, Tenants};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// Categories per device.
const CATEGORIES: usize = 8;

struct Fixture {
    _dir: tempfile::TempDir,
    reconciler: Arc<DynReconciler>,
    tree: mdmkit::policy::Tenant,
    api: String,
    console: String,
    bearer: String,
    cookie: String,
    _stop: oneshot::Sender<()>,
}

/// A device's state in the fixture: 1 in 50 failed, 1 in 20 pending, 1 in
/// 100 unsupported, the rest verified.
fn state_of(device: usize, category: usize) -> ComplianceState {
    match (device * 7 + category * 13) % 400 {
        0..=7 => ComplianceState::Failed,
        8..=27 => ComplianceState::Pending,
        28..=31 => ComplianceState::Unsupported,
        _ => ComplianceState::Verified,
    }
}

/// Writes the tenant's records (each device at its node) and compliance
/// as a reconcile and the devices' answers leave them.
async fn fill(state: &dyn StateStore, tree: &mdmkit::policy::Tenant) {
    let tid = tree.id();
    let hash = ContentHash([7; 32]);
    let devices: Vec<_> = tree.devices().collect();
    for (chunk_no, chunk) in devices.chunks(10_000).enumerate() {
        let mut b = StateBatch::default();
        for (i, d) in chunk.iter().enumerate() {
            let n = chunk_no * 10_000 + i;
            b.devices.push((
                d.id.clone(),
                DeviceRecord::new(d.platform, hash, hash).with_node(d.node.clone()),
            ));
            for (c, cat) in Category::ALL.iter().take(CATEGORIES).enumerate() {
                let mut s =
                    CategoryState::pending(*cat, &hash, Vec::new(), Timestamp::from_millis(1));
                s.state = state_of(n, c);
                b.compliance.push((d.id.clone(), s));
            }
        }
        state.commit(tid, &b).await.unwrap();
    }
}

fn setup(server: &Runtime) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mdmkit.db");
    let tree = mdmkit_benches::region::tenant();
    let tid: TenantId = tree.id().clone();
    let (reconciler, key, bearer) = server.block_on(async {
        let queue = SqliteStore::open(SqliteOptions::new(&db)).await.unwrap();
        let state = SqliteState::open(&db).await.unwrap();
        fill(&state, &tree).await;
        let issued = access::issue(
            tid.clone(),
            NodeId::from_tenant(&tid),
            Role::Read,
            None,
            Timestamp::from_millis(0),
        );
        state.put_token(&issued.token).await.unwrap();
        let r: Arc<DynReconciler> = Arc::new(Reconciler::new(
            Arc::new(queue) as Arc<dyn QueueStore>,
            Arc::new(state) as Arc<dyn StateStore>,
        ));
        (r, SessionKey::generate(), issued.bearer)
    });
    let ca = CaBuilder::new(tid.clone())
        .algorithm(KeyAlgorithm::P256)
        .build()
        .unwrap();
    let ctx =
        TenantContext::new(tree.clone(), ca.verifier(), reconciler.clone()).with_console_key(key);
    let app = mdmkit_server::router(AppState::new(Tenants::new().with(ctx), ServerConfig::new()));
    let (listener, addr) = server.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        (l, a)
    });
    let (stop, stopped) = oneshot::channel::<()>();
    server.spawn(async move {
        mdmkit_server::serve::serve(listener, app, None, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let base = format!("http://{addr}");
    // A console session, as a browser gets one.
    let cookie = server.block_on(async {
        let c = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = c.get(format!("{base}/console/")).send().await.unwrap();
        let login = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("mdmkit_console_login="))
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_owned();
        let r = c
            .post(format!("{base}/console/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("mdmkit_console_login={login}"))
            .body(format!("csrf={login}&tenant={tid}&token={bearer}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303);
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("mdmkit_console="))
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_owned()
    });
    Fixture {
        _dir: dir,
        reconciler,
        api: format!("{base}/{tid}/admin/v1/nodes"),
        console: format!("{base}/console/{tid}/nodes/{tid}"),
        bearer,
        cookie,
        tree,
        _stop: stop,
    }
}

fn bench(c: &mut Criterion) {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = setup(&server);
    let http = reqwest::Client::new();
    let get = |url: &str, header: (&str, String)| {
        client_rt.block_on(async {
            let r = http
                .get(url)
                .header(header.0, header.1)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.bytes().await.unwrap()
        })
    };
    // Both answers describe the same 2,261 nodes and 100,000 devices.
    let json = get(&f.api, ("authorization", format!("Bearer {}", f.bearer)));
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["nodes"].as_array().unwrap().len(), 2_261);
    assert_eq!(v["nodes"][0]["devices"], 100_000);
    let html = get(&f.console, ("cookie", f.cookie.clone()));
    let html = String::from_utf8(html.to_vec()).unwrap();
    assert_eq!(html.matches("<tr><th scope=\"row\"").count(), 2_261);
    eprintln!(
        "console bench: JSON {} bytes, HTML {} bytes",
        json.len(),
        html.len()
    );

    let mut g = c.benchmark_group("console_tree");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("admin_api_json", |b| {
        b.iter(|| get(&f.api, ("authorization", format!("Bearer {}", f.bearer))))
    });
    g.bench_function("console_html", |b| {
        b.iter(|| get(&f.console, ("cookie", f.cookie.clone())))
    });
    g.finish();

    parts(c, "console_parts", &server, &f.reconciler, &f.tree);
    enrolled(c, "console_enrolled", &server, &f.reconciler, &f.tree);

    // The same queries on PostgreSQL, in a database of their own.
    let Some(url) = std::env::var("MDMKIT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("note: MDMKIT_TEST_POSTGRES_URL is unset; skipping the PostgreSQL benches");
        return;
    };
    let pg = server.block_on(async {
        let url = fresh_database(&url).await;
        let queue =
            mdmkit::queue::PostgresStore::open(mdmkit::queue::PostgresOptions::new(url.clone()))
                .await
                .unwrap();
        let state = PostgresState::open(&url).await.unwrap();
        fill(&state, &f.tree).await;
        let r: Arc<DynReconciler> = Arc::new(Reconciler::new(
            Arc::new(queue) as Arc<dyn QueueStore>,
            Arc::new(state) as Arc<dyn StateStore>,
        ));
        r
    });
    parts(c, "console_parts_postgres", &server, &pg, &f.tree);
    enrolled(c, "console_enrolled_postgres", &server, &pg, &f.tree);
}

/// The same questions when the devices are enrolled (a server's inventory,
/// in the state store) instead of listed by the tree: the tree keeps its
/// nodes and policies and lists no device, and each device has an
/// enrollment at its node. Each query beside the read it replaced (the
/// baseline, in the same run):
///
/// - `baseline_whole_inventory`: every enrollment of the tenant merged into
///   the tree (`Reconciler::with_inventory`), what `status`, `noncompliant`
///   and a request about one device read before;
/// - `status_class` and `noncompliant_school` of a class and a school;
/// - `device_status`: one device (the admin API's device page).
fn enrolled(
    c: &mut Criterion,
    group: &str,
    rt: &Runtime,
    r: &Arc<DynReconciler>,
    tree: &mdmkit::policy::Tenant,
) {
    use mdmkit::inventory::{Enrollment, EnrollmentStatus};
    let tid = tree.id().clone();
    let bare = tree.only_devices(std::iter::empty());
    rt.block_on(async {
        for d in tree.devices() {
            let mut e = Enrollment::new(
                d.id.clone(),
                d.platform,
                d.node.clone(),
                Timestamp::from_millis(1),
            );
            e.status = EnrollmentStatus::Active;
            r.state().put_enrollment(&tid, &e).await.unwrap();
        }
    });
    let class: NodeId = "g3-t2-s1-c4".parse().unwrap();
    let school: NodeId = "g3-t2-s1".parse().unwrap();
    let listed = rt.block_on(r.status(tree, &class)).unwrap();
    let status = rt.block_on(r.status(&bare, &class)).unwrap();
    assert_eq!(status, listed, "the enrolled class reads as the listed one");
    let one = status[0].device.clone();
    let whole = rt.block_on(r.with_inventory(&bare)).unwrap();
    assert_eq!(whole.devices().count(), 100_000);
    drop(whole);
    eprintln!("{group}: class of {} enrolled devices", status.len());

    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("baseline_whole_inventory", |b| {
        b.iter(|| {
            rt.block_on(r.with_inventory(&bare))
                .unwrap()
                .devices()
                .count()
        })
    });
    g.bench_function("status_class", |b| {
        b.iter(|| rt.block_on(r.status(&bare, &class)).unwrap())
    });
    g.bench_function("noncompliant_school", |b| {
        b.iter(|| rt.block_on(r.noncompliant(&bare, &school)).unwrap())
    });
    g.bench_function("device_status", |b| {
        b.iter(|| rt.block_on(r.device_status(&bare, &one)).unwrap())
    });
    g.finish();
}

/// The console's queries, each beside the whole-tenant read it replaced
/// (the baselines, in the same run):
///
/// - `node_counts` (per node, platform and state, from the index of
///   records) against `baseline_device_states` (every device's worst
///   category, grouped from the compliance rows);
/// - `node_summaries` (the facade's whole tree view);
/// - `status_class` (a class of 50 devices: its rows by device) and
///   `noncompliant_school` (a school of 500) against
///   `baseline_tenant_compliance` (every compliance row of the tenant,
///   what both read before).
fn parts(
    c: &mut Criterion,
    group: &str,
    rt: &Runtime,
    r: &Arc<DynReconciler>,
    tree: &mdmkit::policy::Tenant,
) {
    let tid = tree.id().clone();
    let root = NodeId::from_tenant(&tid);
    let class: NodeId = "g3-t2-s1-c4".parse().unwrap();
    let school: NodeId = "g3-t2-s1".parse().unwrap();
    // The answers are what they should be.
    let status = rt.block_on(r.status(tree, &class)).unwrap();
    assert!(!status.is_empty() && status.iter().all(|s| s.categories.len() == CATEGORIES));
    let summaries = rt.block_on(r.node_summaries(tree, &root)).unwrap();
    assert_eq!(summaries[0].devices, 100_000);
    assert_eq!(summaries[0].compliance.unplanned, 0);
    let findings = rt.block_on(r.noncompliant(tree, &school)).unwrap();
    assert!(!findings.is_empty());
    eprintln!(
        "{group}: class of {} devices, school with {} findings",
        status.len(),
        findings.len()
    );

    let mut g = c.benchmark_group(group);
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("baseline_device_states", |b| {
        b.iter(|| rt.block_on(r.state().device_states(&tid)).unwrap())
    });
    g.bench_function("node_counts", |b| {
        b.iter(|| rt.block_on(r.state().node_counts(&tid)).unwrap())
    });
    g.bench_function("node_summaries", |b| {
        b.iter(|| rt.block_on(r.node_summaries(tree, &root)).unwrap())
    });
    g.bench_function("baseline_tenant_compliance", |b| {
        b.iter(|| rt.block_on(r.state().compliance(&tid, None)).unwrap())
    });
    g.bench_function("status_class", |b| {
        b.iter(|| rt.block_on(r.status(tree, &class)).unwrap())
    });
    g.bench_function("noncompliant_school", |b| {
        b.iter(|| rt.block_on(r.noncompliant(tree, &school)).unwrap())
    });
    g.finish();
}

/// A fresh database beside `url`'s, and its URL.
async fn fresh_database(url: &str) -> String {
    use sqlx::Connection as _;
    let name = format!("console_bench_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    // One statement each: DROP DATABASE refuses a transaction block.
    for statement in [
        format!("DROP DATABASE IF EXISTS \"{name}\""),
        format!("CREATE DATABASE \"{name}\""),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut c)
            .await
            .unwrap();
    }
    c.close().await.unwrap();
    let (prefix, _) = url.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

criterion_group!(benches, bench);
criterion_main!(benches);

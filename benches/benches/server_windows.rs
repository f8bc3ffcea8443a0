//! A Windows management session over HTTP on a loopback port: an enrolled,
//! simulated PC sends one message carrying its statuses for the commands of
//! the last reply, and gets the next commands back, against the real
//! `mdmkit-server` router (`/{tenant}/windows/ManagementServer/MDM.svc`,
//! served by `mdmkit_server::serve::serve`, plain HTTP, the PC's
//! certificate in the `Client-Cert` header of a trusted proxy), over the
//! embedded SQLite stores and over PostgreSQL. Every message reads and
//! writes the session's state in the store (it spans requests).
//!
//! The baselines, in the same run: a minimal axum handler on loopback that
//! reads the body and answers a fixed SyncML message of the size mdmkit's
//! replies have; and a durable baseline per store, what any OMA-DM server
//! must do per message and nothing more: read the message (`SyncMl::read`),
//! check the device's certificate (the `Client-Cert` header compared as
//! bytes, as a verified-certificate cache does), record the message in one
//! single-statement transaction on the same kind of store
//! (`common/durable.rs`, shared with the Apple cycle's bench), and answer
//! the fixed message. One `reqwest` client sends everything; the servers
//! run on a multi-threaded runtime of their own, as `mdmkit serve` does.
//!
//! Timed: the PC's request and the whole response. Untimed, before each
//! request: one command (`Replace` of a Policy CSP node) queued through
//! the queue store, as the reconcile loop queues it; after each: the reply
//! checked (it carries that command) and the PC's answer built
//! (`TestDevice::handle`). Sessions are 16 messages long (a PC's session
//! carries a policy change, not an endless stream); their opening and
//! closing messages are not timed.
//!
//! `server_windows_paired` (printed): mdmkit's rate as a share of the
//! axum baseline's and of its store's durable baseline's, measured in
//! alternating blocks so that all see the same machine.
//!
//! PostgreSQL runs when `MDMKIT_TEST_POSTGRES_URL` is set, in a fresh
//! database.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "common/durable.rs"]
mod durable;
use durable::BaselineDb;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mdmkit::challenge::{self, ChallengeOptions};
use mdmkit::identity::{CaBuilder, KeyAlgorithm};
use mdmkit::queue::{
    Clock as _, CommandId, EnrollmentId, NewCommand, PostgresOptions, PostgresStore, QueueStore,
    SqliteOptions, SqliteStore, Synchronous, SystemClock,
};
use mdmkit::state::{PostgresState, SqliteState, StateStore};
use mdmkit::windows::device::TestDevice;
use mdmkit::windows::enroll::{Credentials, DiscoverResponse, ProtocolVersion};
use mdmkit::windows::syncml::{Command, Format, Item, ItemCommand, Meta, SyncHdr, SyncMl};
use mdmkit::{DeviceId, Reconciler};
use mdmkit_server::windows::WindowsService;
use mdmkit_server::{AppState, DynReconciler, ServerConfig, TenantContext, Tenants};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

const PC: &str = "PC-BENCH-0001";
const SYNCML: &str = "application/vnd.syncml.dm+xml";
/// Messages per session (the first and the last untimed).
const SESSION: usize = 16;

type Stores = (Arc<dyn QueueStore>, Arc<dyn StateStore>);

struct Served {
    base: String,
    _stop: oneshot::Sender<()>,
}

/// One server and the PC's state with it.
struct Target {
    served: Served,
    reconciler: Option<Arc<DynReconciler>>,
    device: TestDevice,
    cert: Vec<u8>,
    /// The PC's next message, when a session is open.
    next: Option<SyncMl>,
    /// Messages sent in this session.
    in_session: usize,
    /// The baseline's request body (a real status batch) and answer.
    fixed: Option<(String, Bytes)>,
}

struct Bench {
    client_rt: Runtime,
    server_rt: Runtime,
    client: reqwest::Client,
    tree: mdmkit::policy::Tenant,
    dir: tempfile::TempDir,
}

/// The command queued before each timed message.
fn command(id: CommandId) -> Vec<u8> {
    let c = Command::Replace(ItemCommand::new(
        "1",
        Item::target(format!(
            "./Device/Vendor/MSFT/Policy/Config/Bench/Setting{}",
            &id.as_uuid().simple().to_string()[..8]
        ))
        .with_meta(Meta::format(Format::Int))
        .with_data("1"),
    ));
    SyncMl {
        header: SyncHdr::new("1", "1", "device", "mdmkit"),
        commands: vec![c],
        final_: true,
    }
    .to_xml()
    .into_bytes()
}

async fn post_to(c: &reqwest::Client, url: &str, body: String, cert: &[u8]) -> (u16, Bytes) {
    let mut r = c.post(url).header(CONTENT_TYPE, SYNCML).body(body);
    if !cert.is_empty() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert);
        r = r.header("client-cert", format!(":{b64}:"));
    }
    let resp = r.send().await.unwrap();
    let s = resp.status().as_u16();
    (s, resp.bytes().await.unwrap())
}

impl Bench {
    fn new() -> Self {
        Self {
            server_rt: tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap(),
            client_rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::new(),
            tree: mdmkit_benches::region::tenant_with(0),
            dir: tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap(),
        }
    }

    fn listen(&self) -> (tokio::net::TcpListener, std::net::SocketAddr) {
        self.server_rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a = l.local_addr().unwrap();
            (l, a)
        })
    }

    /// The mdmkit server over `stores`, the PC enrolled over HTTP (with a
    /// one-time challenge) and everything its enrollment planned drained.
    fn mdmkit(&self, label: &str, (queue, state): Stores) -> Target {
        let ca = CaBuilder::new(self.tree.id().clone())
            .algorithm(KeyAlgorithm::P256)
            .build()
            .unwrap();
        let r: Arc<DynReconciler> = Arc::new(Reconciler::new(queue, state.clone()));
        let ctx = TenantContext::new(self.tree.clone(), ca.verifier(), r.clone())
            .with_windows(WindowsService::new(ca));
        let config =
            ServerConfig::new().trust_proxy(mdmkit_server::parse_cidr("127.0.0.1").unwrap());
        let app = mdmkit_server::router(AppState::new(Tenants::new().with(ctx), config));
        let (listener, addr) = self.listen();
        let (stop, stopped) = oneshot::channel::<()>();
        self.server_rt.spawn(async move {
            mdmkit_server::serve::serve(listener, app, None, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let base = format!("http://{addr}");
        let issued = challenge::issue(
            self.tree.id().clone(),
            self.tree.root().id().clone(),
            ChallengeOptions::default(),
            SystemClock.now(),
        );
        self.server_rt
            .block_on(state.put_challenge(&issued.challenge))
            .unwrap();
        let mut device = TestDevice::new(PC);
        let tenant = self.tree.id().clone();
        let cert = self.client_rt.block_on(async {
            let disc = format!("{base}/{tenant}/windows/EnrollmentServer/Discovery.svc");
            let req = device.discovery_request("pc@example.org", ProtocolVersion::new(9, 0), &disc);
            let d = self
                .client
                .post(&disc)
                .header(CONTENT_TYPE, "application/soap+xml; charset=utf-8")
                .body(req)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let found = DiscoverResponse::read(&d).unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let csr = rcgen::CertificateParams::new(Vec::<String>::new())
                .unwrap()
                .serialize_request(&key)
                .unwrap()
                .der()
                .to_vec();
            let creds = Credentials::UsernameToken {
                username: "pc@example.org".into(),
                password: issued.secret.clone(),
            };
            let (_, rst) = device.enrollment_request_with(&d, csr, creds).unwrap();
            let body = self
                .client
                .post(
                    found
                        .enrollment_service_url
                        .replacen("https://", "http://", 1),
                )
                .header(CONTENT_TYPE, "application/soap+xml; charset=utf-8")
                .body(rst)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            device
                .accept_enrollment(&body)
                .unwrap()
                .client_cert_der
                .clone()
        });
        let mut t = Target {
            served: Served { base, _stop: stop },
            reconciler: Some(r),
            device,
            cert,
            next: None,
            in_session: 0,
            fixed: None,
        };
        // The first session takes what enrollment planned.
        let n = self.drain(&mut t);
        eprintln!("{label}: the PC enrolled; its first session took {n} messages");
        t
    }

    /// The management URL of a target.
    fn url(&self, t: &Target) -> String {
        format!(
            "{}/{}/windows/ManagementServer/MDM.svc",
            t.served.base,
            self.tree.id()
        )
    }

    /// Sends the PC's messages until its session ends; how many.
    fn drain(&self, t: &mut Target) -> usize {
        let url = self.url(t);
        let server = t.device.provisioning().unwrap().server_url.clone();
        let mut msg = t
            .next
            .take()
            .or_else(|| Some(t.device.open_session(&server)));
        let mut n = 0;
        while let Some(m) = msg.take() {
            n += 1;
            let (s, body) =
                self.client_rt
                    .block_on(post_to(&self.client, &url, m.to_xml(), &t.cert));
            assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
            msg = t.device.handle(&SyncMl::read(&body).unwrap());
        }
        t.in_session = 0;
        n
    }

    /// Queues one command for the PC (on the servers' runtime).
    fn enqueue(&self, t: &Target) -> CommandId {
        let r = t.reconciler.clone().unwrap();
        let id = CommandId::new();
        let new = NewCommand::new("Replace", command(id)).with_id(id);
        let tenant = self.tree.id().clone();
        self.server_rt
            .block_on(async move {
                r.queue()
                    .enqueue(
                        &tenant,
                        &new,
                        &[EnrollmentId::device(DeviceId::new(PC).unwrap())],
                    )
                    .await
            })
            .unwrap();
        id
    }

    /// Opens a session (untimed) whose reply carries one command, so the
    /// PC's next message is a status batch.
    fn open(&self, t: &mut Target) {
        self.enqueue(t);
        let url = self.url(t);
        let server = t.device.provisioning().unwrap().server_url.clone();
        let m = t.device.open_session(&server);
        let (s, body) = self
            .client_rt
            .block_on(post_to(&self.client, &url, m.to_xml(), &t.cert));
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
        t.next = t.device.handle(&SyncMl::read(&body).unwrap());
        assert!(t.next.is_some());
        t.in_session = 1;
    }

    /// The baseline: a fixed answer (one of mdmkit's own replies).
    fn baseline(&self, request: String, answer: Bytes) -> Target {
        let fixed = answer.clone();
        let app = axum::Router::new().route(
            "/{tenant}/windows/ManagementServer/MDM.svc",
            post(move |_body: Bytes| {
                let a = fixed.clone();
                async move { ([(CONTENT_TYPE, SYNCML)], a) }
            }),
        );
        self.serve_baseline(app, request, answer, Vec::new())
    }

    /// The durable baseline over `db`: the message read, the PC's
    /// certificate header checked, the message recorded, the fixed answer.
    fn durable_baseline(
        &self,
        request: String,
        answer: Bytes,
        cert: &[u8],
        db: BaselineDb,
    ) -> Target {
        let fixed = answer.clone();
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert);
        let expected = Arc::new(format!(":{b64}:"));
        let app = axum::Router::new().route(
            "/{tenant}/windows/ManagementServer/MDM.svc",
            post(move |headers: axum::http::HeaderMap, body: Bytes| {
                let (a, expected, db) = (fixed.clone(), expected.clone(), db.clone());
                async move {
                    let msg = SyncMl::read(&body).unwrap();
                    assert_eq!(msg.header.source.loc_uri.as_str(), PC);
                    let presented = headers
                        .get("client-cert")
                        .map(|v| v.as_bytes())
                        .unwrap_or_default();
                    assert_eq!(presented, expected.as_bytes(), "the baseline's certificate");
                    db.record(&body).await;
                    ([(CONTENT_TYPE, SYNCML)], a)
                }
            }),
        );
        self.serve_baseline(app, request, answer, cert.to_vec())
    }

    /// A baseline `app` served by plain `axum::serve` (`TCP_NODELAY`, as
    /// `serve::serve` sets it), sent `request` with `cert` and expected to
    /// answer `answer`.
    fn serve_baseline(
        &self,
        app: axum::Router,
        request: String,
        answer: Bytes,
        cert: Vec<u8>,
    ) -> Target {
        use axum::serve::ListenerExt as _;
        let (listener, addr) = self.listen();
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let (stop, stopped) = oneshot::channel::<()>();
        self.server_rt.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Target {
            served: Served {
                base: format!("http://{addr}"),
                _stop: stop,
            },
            reconciler: None,
            device: TestDevice::new(PC),
            cert,
            next: None,
            in_session: 0,
            fixed: Some((request, answer)),
        }
    }

    /// `n` status batches in, next commands out; only the requests timed.
    fn cycles(&self, t: &mut Target, n: u64) -> Duration {
        let url = self.url(t);
        let mut total = Duration::ZERO;
        for _ in 0..n {
            if let Some((req, _)) = &t.fixed {
                let req = req.clone();
                let start = Instant::now();
                let (s, _) = self
                    .client_rt
                    .block_on(post_to(&self.client, &url, req, &t.cert));
                total += start.elapsed();
                assert_eq!(s, 200);
                continue;
            }
            if t.next.is_none() || t.in_session >= SESSION - 1 {
                if t.next.is_some() {
                    self.drain(t);
                }
                self.open(t);
            }
            let id = self.enqueue(t);
            let m = t.next.take().unwrap().to_xml();
            let start = Instant::now();
            let (s, body) = self
                .client_rt
                .block_on(post_to(&self.client, &url, m, &t.cert));
            total += start.elapsed();
            assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
            let reply = SyncMl::read(&body).unwrap();
            let fresh = format!("Setting{}", &id.as_uuid().simple().to_string()[..8]);
            assert!(
                body.windows(fresh.len()).any(|w| w == fresh.as_bytes()),
                "the queued command is not in the reply"
            );
            t.next = t.device.handle(&reply);
            t.in_session += 1;
        }
        total
    }

    /// One real status batch and mdmkit's reply to it, for the baseline.
    fn sample(&self, t: &mut Target) -> (String, Bytes) {
        self.open(t);
        self.enqueue(t);
        let m = t.next.take().unwrap().to_xml();
        let (_, body) =
            self.client_rt
                .block_on(post_to(&self.client, &self.url(t), m.clone(), &t.cert));
        t.next = t.device.handle(&SyncMl::read(&body).unwrap());
        t.in_session += 1;
        self.drain(t);
        (m, body)
    }
}

async fn sqlite_stores(db: &std::path::Path) -> Stores {
    (
        Arc::new(
            SqliteStore::open(SqliteOptions::new(db).with_synchronous(Synchronous::Normal))
                .await
                .unwrap(),
        ),
        Arc::new(SqliteState::open(db).await.unwrap()),
    )
}

/// The stores in a fresh database of the server at `url`, and that
/// database's URL.
async fn postgres_stores(url: &str) -> (Stores, String) {
    use sqlx::Connection as _;
    let name = format!(
        "bench_windows_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let (prefix, _) = url.rsplit_once('/').unwrap();
    let url = format!("{prefix}/{name}");
    let stores: Stores = (
        Arc::new(
            PostgresStore::open(PostgresOptions::new(url.clone()))
                .await
                .unwrap(),
        ),
        Arc::new(PostgresState::open(&url).await.unwrap()),
    );
    (stores, url)
}

fn cycles(c: &mut Criterion) {
    let bench = Bench::new();
    let mut sqlite = bench.mdmkit(
        "sqlite",
        bench
            .server_rt
            .block_on(sqlite_stores(&bench.dir.path().join("windows.db"))),
    );
    let (req, answer) = bench.sample(&mut sqlite);
    eprintln!(
        "a status batch is {} bytes, a reply {} bytes",
        req.len(),
        answer.len()
    );
    let mut baseline = bench.baseline(req.clone(), answer.clone());
    let mut durable_sqlite = bench.durable_baseline(
        req.clone(),
        answer.clone(),
        &sqlite.cert,
        bench
            .server_rt
            .block_on(BaselineDb::sqlite(&bench.dir.path().join("baseline.db"))),
    );
    let url = std::env::var("MDMKIT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("note: MDMKIT_TEST_POSTGRES_URL is unset; skipping PostgreSQL");
    }
    let mut postgres = url.map(|u| {
        let (stores, db_url) = bench.server_rt.block_on(postgres_stores(&u));
        let ours = bench.mdmkit("postgres", stores);
        let db = bench.server_rt.block_on(BaselineDb::postgres(&db_url));
        let durable = bench.durable_baseline(req.clone(), answer.clone(), &ours.cert, db);
        (ours, durable)
    });

    let mut g = c.benchmark_group("server_windows");
    g.throughput(Throughput::Elements(1));
    g.bench_function("baseline_axum", |b| {
        b.iter_custom(|n| bench.cycles(&mut baseline, n))
    });
    g.bench_function("baseline_durable_sqlite", |b| {
        b.iter_custom(|n| bench.cycles(&mut durable_sqlite, n))
    });
    g.bench_function("sqlite", |b| {
        b.iter_custom(|n| bench.cycles(&mut sqlite, n))
    });
    if let Some((pg, durable)) = postgres.as_mut() {
        g.bench_function("baseline_durable_postgres", |b| {
            b.iter_custom(|n| bench.cycles(durable, n))
        });
        g.bench_function("postgres", |b| b.iter_custom(|n| bench.cycles(pg, n)));
    }
    g.finish();

    let mut stores = vec![("sqlite", &mut durable_sqlite, &mut sqlite)];
    if let Some((pg, durable)) = postgres.as_mut() {
        stores.push(("postgres", durable, pg));
    }
    paired(&bench, &mut baseline, stores);
}

const ROUNDS: usize = 15;
const BLOCK: u64 = 150;

/// mdmkit's rate as a share of the axum baseline's and of its store's
/// durable baseline's, in alternating blocks (the axum baseline, then per
/// store its durable baseline and mdmkit).
fn paired(bench: &Bench, baseline: &mut Target, mut stores: Vec<(&str, &mut Target, &mut Target)>) {
    if mdmkit_benches::criterion_filter()
        .is_some_and(|f| !"server_windows_paired".contains(f.as_str()))
    {
        return;
    }
    let mut base_rates = Vec::new();
    // Per store: [durable rate, mdmkit rate, share of axum, share of durable].
    let mut figures: Vec<[Vec<f64>; 4]> = stores.iter().map(|_| Default::default()).collect();
    for _ in 0..ROUNDS {
        let base = bench.cycles(baseline, BLOCK).as_secs_f64();
        base_rates.push(BLOCK as f64 / base);
        for ((_, durable, ours), f) in stores.iter_mut().zip(&mut figures) {
            let d = bench.cycles(durable, BLOCK).as_secs_f64();
            let o = bench.cycles(ours, BLOCK).as_secs_f64();
            f[0].push(BLOCK as f64 / d);
            f[1].push(BLOCK as f64 / o);
            f[2].push(base / o);
            f[3].push(d / o);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "server_windows_paired/baseline_axum: {:.0} messages/s (median of {ROUNDS} blocks of {BLOCK})",
        median(&mut base_rates)
    );
    for ((store, ..), f) in stores.iter().zip(&mut figures) {
        let durable = median(&mut f[0]);
        let rate = median(&mut f[1]);
        let to_axum = median(&mut f[2]);
        let to_durable = median(&mut f[3]);
        println!(
            "server_windows_paired/baseline_durable_{store}: {durable:.0} messages/s (median of {ROUNDS} blocks of {BLOCK})"
        );
        println!(
            "server_windows_paired/{store}: {rate:.0} messages/s, {:.0} % of the axum baseline's rate \
             (range {:.0}-{:.0} %), {:.0} % of the durable baseline's (range {:.0}-{:.0} %) \
             (medians of {ROUNDS} alternating rounds of {BLOCK})",
            100.0 * to_axum,
            100.0 * f[2][0],
            100.0 * f[2][f[2].len() - 1],
            100.0 * to_durable,
            100.0 * f[3][0],
            100.0 * f[3][f[3].len() - 1],
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = cycles
}
criterion_main!(benches);

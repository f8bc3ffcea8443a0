//! The Apple command cycle over HTTP on a loopback port: an enrolled,
//! simulated iPad sends its report (`Acknowledged` for the previous
//! command) and gets its next command plist back, against the real
//! `mdmkit-server` router served by `mdmkit_server::serve::serve` (plain
//! HTTP, the iPad's certificate carried by `Mdm-Signature`), over the
//! embedded SQLite stores and over PostgreSQL.
//!
//! The baseline, in the same run: a minimal axum handler on loopback that
//! reads the body of every PUT and answers with a fixed command plist of
//! the same size (`axum::serve`, `TCP_NODELAY` as `serve::serve` sets it).
//! One `reqwest` client (one keep-alive connection per server, reused)
//! sends every request; the servers run on a multi-threaded tokio runtime
//! of their own, as `mdmkit serve` does, and the client on the bench's
//! thread.
//!
//! The timed part is the device's request and the whole response, nothing
//! else. Before each request, untimed, one `DeviceInformation` command is
//! queued through the queue store (as the admin API queues it), so the
//! iPad's queue holds the same number of waiting commands at every request
//! (10; `MDMKIT_BENCH_QUEUE_DEPTH` sets another), and the report is signed:
//! signing is the device's work, verifying it the server's. The queue
//! delivers in FIFO order, so every answer is checked (untimed) against the
//! command expected. The baseline gets the same signed report every time.
//!
//! Also measured: `server_cycle_journal`, the SQLite cycle with the
//! tenant's audit journal as `mdmkit serve` keeps it (an `fdatasync` per
//! answer); `server_cycle_paired`, printed, mdmkit's rate as a share of the
//! baseline's measured in alternating blocks (as `queue_cycle_paired`
//! does) so that both see the same machine; and `server_parts`, the
//! handler's steps timed alone, to show where a cycle's time goes.
//!
//! The iPad's key is P-256, as in the `mdmkit serve` tests;
//! `MDMKIT_BENCH_DEVICE_KEY=rsa` gives it an RSA-2048 key (what SCEP
//! enrollments usually give iPads). `server_parts` times both.
//!
//! PostgreSQL runs when `MDMKIT_TEST_POSTGRES_URL` is set (e.g. `bash -c
//! '. scripts/lib.sh; start_throwaway_postgres; cargo bench ...'`), in a
//! fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "common/durable.rs"]
mod durable;
use durable::BaselineDb;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::put;
use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mdmkit::apple::command::everyday;
use mdmkit::apple::{CommandReport, CommandUuid, Format, Limits, SigningIdentity};
use mdmkit::audit::{Journal, JournalOptions, JournalWriter};
use mdmkit::identity::{CaBuilder, CertificateRequest, IssueRequest, KeyAlgorithm, TenantCa};
use mdmkit::policy::Tenant;
use mdmkit::queue::{
    CommandId, EnrollmentId, NewCommand, PostgresOptions, PostgresStore, QueueStore, SqliteOptions,
    SqliteStore, Synchronous,
};
use mdmkit::state::{PostgresState, SqliteState, StateStore};
use mdmkit::{DeviceId, Reconciler, TenantId};
use mdmkit_server::{AppState, DynReconciler, ServerConfig, TenantContext, Tenants};
use reqwest::header::HeaderValue;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// Commands waiting in the iPad's queue at each request (a policy change
/// queues a handful per device); `MDMKIT_BENCH_QUEUE_DEPTH` overrides it.
const DEPTH: usize = 10;

/// The simulated iPad.
const UDID: &str = "00008101-BENCH0000000001";

/// What `DeviceInformation` asks for (the admin API's query list).
const QUERIES: [&str; 9] = [
    "UDID",
    "DeviceName",
    "OSVersion",
    "BuildVersion",
    "ModelName",
    "Model",
    "ProductName",
    "SerialNumber",
    "IsSupervised",
];

// --- the simulated iPad ------------------------------------------------------

/// A key, a certificate of the tenant CA naming the UDID, and the signing
/// identity for `Mdm-Signature` (as in the `mdmkit serve` tests).
struct Ipad {
    signer: SigningIdentity,
}

impl Ipad {
    /// A P-256 key (what the `mdmkit serve` tests use), or RSA-2048 (what
    /// SCEP enrollments usually give iPads).
    fn issue(ca: &TenantCa, rsa: bool) -> Self {
        let key = if rsa {
            rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap()
        } else {
            rcgen::KeyPair::generate().unwrap()
        };
        let csr = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let csr = CertificateRequest::parse(csr.as_bytes()).unwrap();
        let cert = ca
            .issue(&csr, &IssueRequest::new(DeviceId::new(UDID).unwrap()))
            .unwrap();
        let signer =
            SigningIdentity::from_pem(cert.pem.as_bytes(), key.serialize_pem().as_bytes()).unwrap();
        Self { signer }
    }

    fn authenticate(&self) -> String {
        plist(&format!(
            "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{UDID}</string>\
             <key>Topic</key><string>com.apple.mgmt.External.bench</string>\
             <key>SerialNumber</key><string>SIMBENCH01</string><key>Model</key><string>iPad13,1</string>\
             <key>ModelName</key><string>iPad</string><key>OSVersion</key><string>17.5</string>\
             <key>ProductName</key><string>iPad13,1</string><key>DeviceName</key><string>iPad bench</string>"
        ))
    }

    fn token_update(&self) -> String {
        plist(&format!(
            "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{UDID}</string>\
             <key>Topic</key><string>com.apple.mgmt.External.bench</string>\
             <key>Token</key><data>AAECAwQFBgc=</data><key>PushMagic</key><string>magic-1</string>"
        ))
    }

    /// `Idle`, or `Acknowledged` for a command, signed.
    fn report(&self, acknowledged: Option<&str>) -> Signed {
        let body = match acknowledged {
            None => plist(&format!(
                "<key>UDID</key><string>{UDID}</string><key>Status</key><string>Idle</string>"
            )),
            Some(u) => plist(&format!(
                "<key>UDID</key><string>{UDID}</string><key>Status</key><string>Acknowledged</string>\
                 <key>CommandUUID</key><string>{u}</string>"
            )),
        };
        self.sign(body)
    }

    fn sign(&self, body: String) -> Signed {
        let der = mdmkit::apple::cms::sign_detached(body.as_bytes(), &self.signer).unwrap();
        let sig = base64::engine::general_purpose::STANDARD.encode(der);
        Signed {
            body: Bytes::from(body),
            signature: HeaderValue::from_str(&sig).unwrap(),
        }
    }
}

/// A request body and its `Mdm-Signature`.
#[derive(Clone)]
struct Signed {
    body: Bytes,
    signature: HeaderValue,
}

/// An XML plist of one dictionary.
fn plist(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\"><dict>{body}</dict></plist>\n"
    )
}

/// The command every cycle delivers: `DeviceInformation`, as the admin API
/// queues it, with this UUID.
fn command(id: CommandId) -> Vec<u8> {
    let mut cmd = everyday::device_information(QUERIES);
    cmd.uuid = CommandUuid::new(id.as_uuid().to_string()).unwrap();
    cmd.to_bytes(Format::Xml)
}

/// A signed PUT; the status and the body.
async fn send(c: &reqwest::Client, url: &str, r: &Signed) -> (u16, Bytes) {
    let resp = c
        .put(url)
        .header("mdm-signature", r.signature.clone())
        .body(r.body.clone())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap())
}

// --- servers -----------------------------------------------------------------

/// A server on a loopback port: its command URL, and the sender that stops
/// it when dropped.
struct Served {
    url: String,
    _stop: oneshot::Sender<()>,
}

fn listen(server: &Runtime) -> (tokio::net::TcpListener, SocketAddr) {
    server.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        (l, a)
    })
}

/// The baseline: a minimal axum handler that reads the body and answers
/// every PUT with the same command plist.
fn serve_baseline(server: &Runtime, tenant: &TenantId, answer: Bytes) -> Served {
    let app = axum::Router::new().route(
        "/{tenant}/apple/mdm",
        put(move |_body: Bytes| {
            let answer = answer.clone();
            async move { ([(CONTENT_TYPE, "application/xml")], answer) }
        }),
    );
    serve_axum(server, tenant, app)
}

/// A baseline's `app` served by plain `axum::serve` (`TCP_NODELAY`, as
/// `serve::serve` sets it).
fn serve_axum(server: &Runtime, tenant: &TenantId, app: axum::Router) -> Served {
    use axum::serve::ListenerExt as _;
    let (listener, addr) = listen(server);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (stop, stopped) = oneshot::channel::<()>();
    server.spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Served {
        url: format!("http://{addr}/{tenant}/apple/mdm"),
        _stop: stop,
    }
}

/// The durable baseline: what any MDM server must do per command cycle and
/// nothing more. It checks the report's `Mdm-Signature` (CMS parse, digest,
/// the device key's signature; the signer must be the iPad's certificate,
/// compared as bytes, as mdmkit's verified-certificate cache does), records
/// the report in one single-statement transaction on the same kind of
/// store, and answers with the fixed command plist.
fn serve_durable_baseline(
    server: &Runtime,
    tenant: &TenantId,
    answer: Bytes,
    device_cert: Arc<Vec<u8>>,
    db: BaselineDb,
) -> Served {
    let app = axum::Router::new().route(
        "/{tenant}/apple/mdm",
        put(move |headers: axum::http::HeaderMap, body: Bytes| {
            let (answer, device_cert, db) = (answer.clone(), device_cert.clone(), db.clone());
            async move {
                let sig = headers
                    .get("mdm-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let der = mdmkit::apple::verify_mdm_signature(sig, &body).unwrap();
                assert_eq!(der, *device_cert, "the baseline's signer");
                db.record(&body).await;
                ([(CONTENT_TYPE, "application/xml")], answer)
            }
        }),
    );
    serve_axum(server, tenant, app)
}

/// `mdmkit_server::router` for this tenant, served by `serve::serve`.
fn serve_mdmkit(server: &Runtime, ctx: TenantContext) -> Served {
    let tenant = ctx.id().clone();
    let app = mdmkit_server::router(AppState::new(Tenants::new().with(ctx), ServerConfig::new()));
    let (listener, addr) = listen(server);
    let (stop, stopped) = oneshot::channel::<()>();
    server.spawn(async move {
        mdmkit_server::serve::serve(listener, app, None, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Served {
        url: format!("http://{addr}/{tenant}/apple/mdm"),
        _stop: stop,
    }
}

type Stores = (Arc<dyn QueueStore>, Arc<dyn StateStore>);

/// The SQLite queue and state in one file, as `mdmkit serve` opens them.
async fn sqlite_stores(db: &Path) -> Stores {
    (
        Arc::new(
            SqliteStore::open(SqliteOptions::new(db).with_synchronous(Synchronous::Normal))
                .await
                .unwrap(),
        ),
        Arc::new(SqliteState::open(db).await.unwrap()),
    )
}

/// A fresh database on the PostgreSQL server at `url`, with the queue and
/// the state in it, as `mdmkit serve --store` opens them, and its URL.
async fn postgres_stores(url: &str) -> (Stores, String) {
    use sqlx::Connection as _;
    let name = format!(
        "bench_server_{}_{}",
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

fn postgres_url() -> Option<String> {
    let url = std::env::var("MDMKIT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("note: MDMKIT_TEST_POSTGRES_URL is unset; skipping the PostgreSQL benches");
    }
    url
}

// --- targets -----------------------------------------------------------------

/// One server the iPad talks to, and what it holds.
struct Target {
    served: Served,
    /// The mdmkit server's reconciler (to queue commands); `None` for the
    /// baseline.
    reconciler: Option<Arc<DynReconciler>>,
    /// The commands queued for the iPad and not yet delivered, oldest
    /// first (the order the queue delivers them in).
    queued: VecDeque<String>,
    /// The command the iPad holds and acknowledges next.
    in_flight: Option<String>,
}

/// The runtimes, the client, the tenant and its iPad.
struct Bench {
    client_rt: Runtime,
    server_rt: Runtime,
    client: reqwest::Client,
    tree: Tenant,
    ca: TenantCa,
    ipad: Ipad,
    /// The baseline's report, signed once, and its fixed answer's UUID.
    baseline_report: Signed,
    baseline_uuid: String,
    /// Commands waiting in the iPad's queue at each request.
    depth: usize,
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        // The servers get a runtime of their own, with a worker per core,
        // as `mdmkit serve` does; the client runs on the bench's thread.
        let server_rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let client_rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let tree = mdmkit_benches::region::tenant_with(0);
        let ca = CaBuilder::new(tree.id().clone())
            .algorithm(KeyAlgorithm::P256)
            .build()
            .unwrap();
        // MDMKIT_BENCH_DEVICE_KEY=rsa gives the iPad an RSA-2048 key.
        let rsa = std::env::var("MDMKIT_BENCH_DEVICE_KEY").is_ok_and(|k| k == "rsa");
        let ipad = Ipad::issue(&ca, rsa);
        let baseline_uuid = CommandId::new().as_uuid().to_string();
        let depth = std::env::var("MDMKIT_BENCH_QUEUE_DEPTH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEPTH);
        eprintln!(
            "queue depth: {depth} commands waiting at each request; device key: {}",
            if rsa { "RSA-2048" } else { "P-256" }
        );
        Self {
            client: reqwest::Client::new(),
            baseline_report: ipad.report(Some(&baseline_uuid)),
            baseline_uuid,
            ipad,
            tree,
            ca,
            client_rt,
            server_rt,
            depth,
            dir: tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap(),
        }
    }

    /// The baseline server; its fixed answer is a `DeviceInformation`
    /// command of the same size as mdmkit's.
    fn baseline(&self) -> Target {
        let uuid = CommandId::from_uuid(self.baseline_uuid.parse().unwrap());
        Target {
            served: serve_baseline(&self.server_rt, self.tree.id(), Bytes::from(command(uuid))),
            reconciler: None,
            queued: VecDeque::new(),
            in_flight: None,
        }
    }

    /// The durable baseline over `db`.
    fn durable_baseline(&self, db: BaselineDb) -> Target {
        let uuid = CommandId::from_uuid(self.baseline_uuid.parse().unwrap());
        let sig = self.baseline_report.signature.to_str().unwrap();
        let der = mdmkit::apple::verify_mdm_signature(sig, &self.baseline_report.body).unwrap();
        Target {
            served: serve_durable_baseline(
                &self.server_rt,
                self.tree.id(),
                Bytes::from(command(uuid)),
                Arc::new(der),
                db,
            ),
            reconciler: None,
            queued: VecDeque::new(),
            in_flight: None,
        }
    }

    /// An mdmkit server over `stores` (with `mdmkit serve`'s audit journal
    /// when `journal` is set), the iPad enrolled on it and its queue
    /// filled to the bench's depth.
    fn mdmkit(&self, label: &str, stores: Stores, journal: bool) -> Target {
        let (queue, state) = stores;
        let tree = &self.tree;
        let options = mdmkit::reconcile::Options::default()
            .with_organization(tree.name().unwrap_or(tree.id().as_str()).to_owned());
        let mut r = Reconciler::new(queue, state).with_options(options);
        let mut j = None;
        if journal {
            let dir = self.dir.path().join(label);
            let signer = mdmkit::audit::load_or_create_key(&dir).unwrap();
            let journal = Journal::open(
                mdmkit::audit::journal_path(&dir),
                signer,
                JournalOptions::default(),
            )
            .unwrap();
            let journal = JournalWriter::spawn(journal).unwrap();
            r = r.with_journal(journal.clone());
            j = Some(journal);
        }
        let r: Arc<DynReconciler> = Arc::new(r);
        let mut ctx = TenantContext::new(tree.clone(), self.ca.verifier(), r.clone());
        if let Some(j) = j {
            ctx = ctx.with_journal(j);
        }
        let served = serve_mdmkit(&self.server_rt, ctx);
        let mut t = self.enroll(served, r, label);
        self.client_rt.block_on(async {
            for _ in 0..self.depth {
                self.enqueue(&mut t).await;
            }
        });
        t
    }

    /// Enrolls the iPad (Authenticate, TokenUpdate: the reconcile plans the
    /// root's policy) and acknowledges everything that plan queued, over
    /// HTTP, untimed.
    fn enroll(&self, served: Served, reconciler: Arc<DynReconciler>, label: &str) -> Target {
        let checkin = served.url.replace("/apple/mdm", "/apple/checkin");
        let planned = self.client_rt.block_on(async {
            for body in [self.ipad.authenticate(), self.ipad.token_update()] {
                let (s, b) = send(&self.client, &checkin, &self.ipad.sign(body)).await;
                assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
            }
            let mut n = 0;
            let mut last: Option<String> = None;
            loop {
                let (s, b) = send(
                    &self.client,
                    &served.url,
                    &self.ipad.report(last.as_deref()),
                )
                .await;
                assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
                if b.is_empty() {
                    return n;
                }
                let cmd = mdmkit::apple::Command::from_bytes(&b, &Limits::DEFAULT).unwrap();
                last = Some(cmd.uuid.as_str().to_owned());
                n += 1;
                assert!(n < 1000, "the enrollment's queue never drains");
            }
        });
        eprintln!(
            "{label}: the iPad enrolled and acknowledged the {planned} commands planned for it"
        );
        Target {
            served,
            reconciler: Some(reconciler),
            queued: VecDeque::new(),
            in_flight: None,
        }
    }

    /// Queues one `DeviceInformation` for the iPad, as the admin API does
    /// (on the servers' runtime, where the stores live).
    async fn enqueue(&self, t: &mut Target) {
        let Some(r) = &t.reconciler else {
            return;
        };
        let id = CommandId::new();
        let new = NewCommand::new("DeviceInformation", command(id)).with_id(id);
        let device = EnrollmentId::device(DeviceId::new(UDID).unwrap());
        let q = r.queue().clone();
        let tenant = self.tree.id().clone();
        self.server_rt
            .spawn(async move { q.enqueue(&tenant, &new, &[device]).await })
            .await
            .unwrap()
            .unwrap();
        t.queued.push_back(id.as_uuid().to_string());
    }

    /// `n` cycles; only the request and its response are timed. Before
    /// each, untimed: one command queued (the queue stays at the bench's
    /// depth) and the report signed; after each, untimed: the answer
    /// checked.
    fn cycles(&self, t: &mut Target, n: u64) -> Duration {
        let url = t.served.url.clone();
        self.client_rt.block_on(async {
            let mut total = Duration::ZERO;
            for _ in 0..n {
                let (report, expected) = if t.reconciler.is_some() {
                    self.enqueue(t).await;
                    (
                        self.ipad.report(t.in_flight.as_deref()),
                        t.queued.pop_front().unwrap(),
                    )
                } else {
                    (self.baseline_report.clone(), self.baseline_uuid.clone())
                };
                let start = Instant::now();
                let (status, body) = send(&self.client, &url, &report).await;
                total += start.elapsed();
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                let cmd = mdmkit::apple::Command::from_bytes(&body, &Limits::DEFAULT).unwrap();
                assert_eq!(cmd.uuid.as_str(), expected);
                if t.reconciler.is_some() {
                    t.in_flight = Some(expected);
                }
            }
            total
        })
    }
}

// --- benches -----------------------------------------------------------------

fn cycles(c: &mut Criterion) {
    let bench = Bench::new();
    let mut baseline = bench.baseline();
    let mut sqlite = bench.mdmkit(
        "sqlite",
        bench
            .server_rt
            .block_on(sqlite_stores(&bench.dir.path().join("mdmkit.db"))),
        false,
    );
    let mut durable_sqlite = bench.durable_baseline(
        bench
            .server_rt
            .block_on(BaselineDb::sqlite(&bench.dir.path().join("baseline.db"))),
    );
    let mut postgres = postgres_url().map(|url| {
        let (stores, db_url) = bench.server_rt.block_on(postgres_stores(&url));
        let durable =
            bench.durable_baseline(bench.server_rt.block_on(BaselineDb::postgres(&db_url)));
        (bench.mdmkit("postgres", stores, false), durable)
    });

    let mut g = c.benchmark_group("server_cycle");
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

    // `mdmkit serve`'s own configuration: the same SQLite stores plus the
    // tenant's audit journal, which syncs each answer to disk. Fewer
    // samples: a cycle waits for an `fdatasync`.
    let mut journaled = bench.mdmkit(
        "sqlite_journal",
        bench
            .server_rt
            .block_on(sqlite_stores(&bench.dir.path().join("journaled.db"))),
        true,
    );
    let mut g = c.benchmark_group("server_cycle_journal");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.bench_function("sqlite_journal", |b| {
        b.iter_custom(|n| bench.cycles(&mut journaled, n))
    });
    g.finish();

    paired(
        &bench,
        &mut baseline,
        (&mut durable_sqlite, &mut sqlite),
        postgres.as_mut().map(|(pg, d)| (d, pg)),
    );

    let mut stores: Vec<(&str, &mut Target)> = vec![("sqlite", &mut sqlite)];
    if let Some((pg, _)) = postgres.as_mut() {
        stores.push(("postgres", pg));
    }
    parts(c, &bench, &mut stores);
}

// --- parts ------------------------------------------------------------------

/// What the command handler does besides HTTP, each part timed alone (the
/// facade's calls, the same stores, the same iPad), to show where a cycle's
/// time goes: the `Mdm-Signature` check (CMS parse and signature), the
/// certificate's verification against the tenant CA, the report's parse,
/// the enrollment read, and `Reconciler::apple_answer` (the queue's report
/// and next delivery, and the compliance updates of both, each of which
/// reads the device's compliance rows: `compliance_read`).
fn parts(c: &mut Criterion, bench: &Bench, stores: &mut [(&str, &mut Target)]) {
    let mut g = c.benchmark_group("server_parts");
    g.throughput(Throughput::Elements(1));
    // Each key type's two checks: the signature over the body (CMS parse,
    // digest, public-key verification) and the signer's certificate
    // against the tenant CA.
    let verifier = bench.ca.verifier();
    let signed = bench.ipad.report(Some(&bench.baseline_uuid));
    for (key, rsa) in [("p256", false), ("rsa2048", true)] {
        let r = Ipad::issue(&bench.ca, rsa).report(Some(&bench.baseline_uuid));
        let header = r.signature.to_str().unwrap().to_owned();
        g.bench_function(format!("mdm_signature_{key}"), |b| {
            b.iter(|| mdmkit::apple::verify_mdm_signature(&header, &r.body).unwrap())
        });
        let der = mdmkit::apple::verify_mdm_signature(&header, &r.body).unwrap();
        g.bench_function(format!("certificate_{key}"), |b| {
            b.iter(|| {
                verifier
                    .verify_der(&der, &[], time::OffsetDateTime::now_utc())
                    .unwrap()
            })
        });
    }
    g.bench_function("report_parse", |b| {
        b.iter(|| CommandReport::from_bytes(&signed.body, &Limits::DEFAULT).unwrap())
    });
    let device = DeviceId::new(UDID).unwrap();
    for (name, t) in stores.iter_mut() {
        if t.in_flight.is_none() {
            // One cycle over HTTP, so every part below acknowledges.
            bench.cycles(t, 1);
        }
        let r = t.reconciler.clone().unwrap();
        let tenant = bench.tree.id().clone();
        g.bench_function(format!("enrollment_read_{name}"), |b| {
            b.iter_custom(|n| {
                let (r, tenant, device) = (r.clone(), tenant.clone(), device.clone());
                bench.server_rt.block_on(async move {
                    let start = Instant::now();
                    for _ in 0..n {
                        r.state()
                            .enrollment(&tenant, &device)
                            .await
                            .unwrap()
                            .unwrap();
                    }
                    start.elapsed()
                })
            })
        });
        g.bench_function(format!("compliance_read_{name}"), |b| {
            b.iter_custom(|n| {
                let (r, tenant, device) = (r.clone(), tenant.clone(), device.clone());
                bench.server_rt.block_on(async move {
                    let start = Instant::now();
                    for _ in 0..n {
                        r.state().compliance(&tenant, Some(&device)).await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
        // The queue's share of `apple_answer`: the report and the next
        // delivery in one call.
        g.bench_function(format!("queue_report_and_next_{name}"), |b| {
            b.iter_custom(|n| {
                let mut total = Duration::ZERO;
                for _ in 0..n {
                    bench.client_rt.block_on(bench.enqueue(t));
                    let held = t.in_flight.clone().unwrap();
                    let expected = t.queued.pop_front().unwrap();
                    let (r, tenant, device) = (r.clone(), tenant.clone(), device.clone());
                    let (took, got) = bench.server_rt.block_on(async move {
                        let id = CommandId::from_uuid(held.parse().unwrap());
                        let report =
                            mdmkit::queue::Report::new(mdmkit::queue::ReportStatus::Acknowledged);
                        let e = EnrollmentId::device(device);
                        let start = Instant::now();
                        let (_, d) = r
                            .queue()
                            .report_and_next(&tenant, &e, id, &report)
                            .await
                            .unwrap();
                        (start.elapsed(), d.unwrap().id)
                    });
                    total += took;
                    assert_eq!(got.as_uuid().to_string(), expected);
                    t.in_flight = Some(expected);
                }
                total
            })
        });
        g.bench_function(format!("apple_answer_{name}"), |b| {
            b.iter_custom(|n| {
                let mut total = Duration::ZERO;
                for _ in 0..n {
                    bench.client_rt.block_on(bench.enqueue(t));
                    let body = bench.ipad.report(t.in_flight.as_deref()).body;
                    let expected = t.queued.pop_front().unwrap();
                    let (r, tenant, device) = (r.clone(), tenant.clone(), device.clone());
                    let (took, got) = bench.server_rt.block_on(async move {
                        let report = CommandReport::from_bytes(&body, &Limits::DEFAULT).unwrap();
                        let start = Instant::now();
                        let d = r
                            .apple_answer(&tenant, &device, &report, &body)
                            .await
                            .unwrap()
                            .unwrap();
                        (start.elapsed(), d.id)
                    });
                    total += took;
                    assert_eq!(got.as_uuid().to_string(), expected);
                    t.in_flight = Some(expected);
                }
                total
            })
        });
    }
    g.finish();
}

// --- paired ratio ------------------------------------------------------------

/// Rounds of the paired measurement, and cycles per side in each round.
const ROUNDS: usize = 15;
const BLOCK: u64 = 200;

/// mdmkit's cycle rate as a share of the baselines', measured in
/// alternating blocks (the axum baseline, then per store its durable
/// baseline and mdmkit: baseline, durable SQLite, SQLite, durable
/// PostgreSQL, PostgreSQL, baseline, ...) so that all see the same
/// machine; prints the median and the range of the per-round ratios.
fn paired(
    bench: &Bench,
    baseline: &mut Target,
    sqlite: (&mut Target, &mut Target),
    pg: Option<(&mut Target, &mut Target)>,
) {
    // Honour criterion's filter: run with none, or one naming this.
    if mdmkit_benches::criterion_filter()
        .is_some_and(|f| !"server_cycle_paired".contains(f.as_str()))
    {
        return;
    }
    let mut stores: Vec<(&str, &mut Target, &mut Target)> = vec![("sqlite", sqlite.0, sqlite.1)];
    if let Some((durable, ours)) = pg {
        stores.push(("postgres", durable, ours));
    }
    // Per store: [durable rate, mdmkit rate, ratio to axum, ratio to durable].
    let mut figures: Vec<[Vec<f64>; 4]> = stores.iter().map(|_| Default::default()).collect();
    let mut base_rates = Vec::new();
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
        "server_cycle_paired/baseline_axum: {:.0} cycles/s (median of {ROUNDS} blocks of {BLOCK})",
        median(&mut base_rates)
    );
    for ((store, ..), f) in stores.iter().zip(&mut figures) {
        let durable = median(&mut f[0]);
        let rate = median(&mut f[1]);
        let to_axum = median(&mut f[2]);
        let to_durable = median(&mut f[3]);
        println!(
            "server_cycle_paired/baseline_durable_{store}: {durable:.0} cycles/s (median of {ROUNDS} blocks of {BLOCK})"
        );
        println!(
            "server_cycle_paired/{store}: {rate:.0} cycles/s; {:.0} % of the axum baseline's rate \
             (range {:.0}-{:.0} %), {:.0} % of the durable baseline's (range {:.0}-{:.0} %) \
             (medians of {ROUNDS} alternating rounds of {BLOCK} cycles each)",
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

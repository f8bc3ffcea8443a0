//! Tenant and node isolation across the whole API, as a property: two
//! tenants served by one server over real HTTP on a loopback port, sharing
//! one queue store and one state store (as a hosting firm's single
//! database), with the same node names and one UDID enrolled in both.
//! Random sequences of admin calls (any token of any tenant and node, any
//! role, any tenant in the URL, any device or node of either tenant) and
//! device reports (any device to any tenant's URL) must:
//!
//! - answer a token in another tenant's URL with 401, as an unknown token,
//!   and a tenant that does not exist the same way;
//! - answer a device or node outside the token's node with 404, exactly as
//!   one that does not exist;
//! - never put another tenant's data, or a device outside the token's node,
//!   in a 200 answer;
//! - refuse a device's certificate at another tenant's URL with 400 (never
//!   401, 403 or 500);
//! - queue an admin command on exactly the device named in the URL's
//!   tenant, and nowhere else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use mdmkit::access::{self, Role};
use mdmkit::apple::SigningIdentity;
use mdmkit::audit::{Journal, JournalOptions, JournalWriter};
use mdmkit::identity::{CaBuilder, CertificateRequest, IssueRequest, KeyAlgorithm, TenantCa};
use mdmkit::policy::{NodeId, Policy, Tenant};
use mdmkit::queue::{EnrollmentId, MemoryStore, QueueStore, Timestamp};
use mdmkit::state::{MemoryState, StateStore};

/// The stores both tenants share.
type Stores = (Arc<dyn QueueStore>, Arc<dyn StateStore>);
use mdmkit::{DeviceId, Reconciler, TenantId};
use mdmkit_server::{AppState, DynReconciler, ServerConfig, TenantContext, Tenants};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// How many tenants the server serves.
const TENANTS: usize = 2;
/// Below each tenant's root: `school-1 > class-1a` and `school-2`.
const NODES: [(&str, &str); 3] = [
    ("school-1", "root"),
    ("class-1a", "school-1"),
    ("school-2", "root"),
];
/// The UDID enrolled in both tenants (at `school-1`).
const SHARED_UDID: &str = "ipad-shared";

fn n(s: &str) -> NodeId {
    s.parse().unwrap()
}

/// One enrolled iPad: its tenant, node, UDID, serial and signing identity.
struct Ipad {
    tenant: usize,
    node: String,
    udid: String,
    serial: String,
    signer: SigningIdentity,
}

/// One admin token.
struct Token {
    tenant: usize,
    node: String,
    role: Role,
    bearer: String,
}

/// The server and what the property knows about its contents.
struct Fixture {
    base: String,
    /// The tenants' names (`town-a-TAG`, `town-b-TAG`).
    names: Vec<String>,
    trees: Vec<Arc<Tenant>>,
    ipads: Vec<Ipad>,
    tokens: Vec<Token>,
    queue: Arc<dyn QueueStore>,
    /// Admin commands queued through the API, by (tenant, UDID).
    queued: Mutex<BTreeMap<(usize, String), usize>>,
    client: reqwest::Client,
    _tmp: tempfile::TempDir,
}

fn tree(t: &str) -> Tenant {
    let mut tree = Tenant::new(TenantId::new(t).unwrap());
    for (node, parent) in NODES {
        let parent = if parent == "root" { t } else { parent };
        tree.add_node(n(node), &n(parent), None, None).unwrap();
    }
    tree.set_policy(
        Policy::from_toml(&format!(
            "[policy]\nid = \"floor-{t}\"\n[passcode]\nmin_length = 6\n"
        ))
        .unwrap(),
    );
    tree.assign(&n(t), format!("floor-{t}").parse().unwrap())
        .unwrap();
    tree
}

fn issue(ca: &TenantCa, udid: &str) -> SigningIdentity {
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let csr = CertificateRequest::parse(csr.as_bytes()).unwrap();
    let cert = ca
        .issue(&csr, &IssueRequest::new(DeviceId::new(udid).unwrap()))
        .unwrap();
    SigningIdentity::from_pem(cert.pem.as_bytes(), key.serialize_pem().as_bytes()).unwrap()
}

fn plist(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>{body}</dict></plist>\n"
    )
}

impl Ipad {
    fn authenticate(&self) -> String {
        plist(&format!(
            "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{}</string>\
             <key>Topic</key><string>com.apple.mgmt.test</string><key>SerialNumber</key><string>{}</string>\
             <key>Model</key><string>iPad13,1</string><key>OSVersion</key><string>17.5</string>",
            self.udid, self.serial
        ))
    }

    fn token_update(&self) -> String {
        plist(&format!(
            "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{}</string>\
             <key>Topic</key><string>com.apple.mgmt.test</string>\
             <key>Token</key><data>AAECAwQFBgc=</data><key>PushMagic</key><string>magic</string>",
            self.udid
        ))
    }

    fn idle(&self) -> String {
        plist(&format!(
            "<key>UDID</key><string>{}</string><key>Status</key><string>Idle</string>",
            self.udid
        ))
    }

    async fn put(&self, c: &reqwest::Client, url: &str, body: String) -> u16 {
        let der = mdmkit::apple::cms::sign_detached(body.as_bytes(), &self.signer).unwrap();
        let sig = base64::engine::general_purpose::STANDARD.encode(der);
        c.put(url)
            .header("Mdm-Signature", sig)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

impl Fixture {
    /// Serves two tenants named `town-a-TAG` and `town-b-TAG` over one
    /// queue and one state store.
    async fn start((queue, state): Stores, tag: &str, tmp: tempfile::TempDir) -> Fixture {
        let names: Vec<String> = ["town-a", "town-b"]
            .iter()
            .map(|t| format!("{t}{tag}"))
            .collect();
        let mut tenants = Tenants::new();
        let mut trees = Vec::new();
        let mut cas = Vec::new();
        let mut tokens = Vec::new();
        let mut enroll = BTreeMap::new();
        for (i, t) in names.iter().enumerate() {
            let t = t.as_str();
            let tree = tree(t);
            let ca = CaBuilder::new(tree.id().clone())
                .algorithm(KeyAlgorithm::P256)
                .build()
                .unwrap();
            let reconciler: Arc<DynReconciler> =
                Arc::new(Reconciler::new(queue.clone(), state.clone()));
            let signer = mdmkit::audit::load_or_create_key(&tmp.path().join(t)).unwrap();
            let journal = Journal::open(
                tmp.path().join(t).join("journal.jsonl"),
                signer,
                JournalOptions::default(),
            )
            .unwrap();
            let nodes = std::iter::once(t).chain(NODES.iter().map(|(n, _)| *n));
            for node in nodes {
                for role in [Role::Enroll, Role::Read, Role::Operate] {
                    let issued = access::issue(
                        tree.id().clone(),
                        n(node),
                        role,
                        None,
                        Timestamp::from_millis(0),
                    );
                    state.put_token(&issued.token).await.unwrap();
                    if role == Role::Enroll {
                        enroll.insert((i, node.to_owned()), issued.bearer.clone());
                    }
                    tokens.push(Token {
                        tenant: i,
                        node: node.to_owned(),
                        role,
                        bearer: issued.bearer,
                    });
                }
            }
            tenants.insert(
                TenantContext::new(tree.clone(), ca.verifier(), reconciler)
                    .with_journal(JournalWriter::spawn(journal).unwrap()),
            );
            trees.push(Arc::new(tree));
            cas.push(ca);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = mdmkit_server::router(AppState::new(tenants, ServerConfig::new()));
        tokio::spawn(mdmkit_server::serve::serve(
            listener,
            app,
            None,
            std::future::pending(),
        ));

        // An iPad at every node of each tenant, and the shared UDID at
        // school-1 of both; enrolled over HTTP with the node's token.
        let mut ipads = Vec::new();
        for (i, t) in names.iter().enumerate() {
            let t = t.as_str();
            let nodes = std::iter::once(t).chain(NODES.iter().map(|(n, _)| *n));
            for node in nodes {
                let udid = format!("{t}-{node}-ipad");
                ipads.push(Ipad {
                    tenant: i,
                    node: node.to_owned(),
                    serial: format!("SER-{udid}"),
                    signer: issue(&cas[i], &udid),
                    udid,
                });
            }
            ipads.push(Ipad {
                tenant: i,
                node: "school-1".into(),
                udid: SHARED_UDID.into(),
                serial: format!("SER-{t}-shared"),
                signer: issue(&cas[i], SHARED_UDID),
            });
        }
        let client = reqwest::Client::new();
        for ipad in &ipads {
            let t = &names[ipad.tenant];
            let url = format!(
                "{base}/{t}/apple/checkin?enroll={}",
                enroll[&(ipad.tenant, ipad.node.clone())]
            );
            assert_eq!(ipad.put(&client, &url, ipad.authenticate()).await, 200);
            assert_eq!(ipad.put(&client, &url, ipad.token_update()).await, 200);
        }
        Fixture {
            base,
            names,
            trees,
            ipads,
            tokens,
            queue,
            queued: Mutex::new(BTreeMap::new()),
            client,
            _tmp: tmp,
        }
    }

    /// Whether `node` (a name) is in `tenant`'s tree at or below `scope`.
    fn covers(&self, tenant: usize, scope: &str, node: &str) -> bool {
        let tree = &self.trees[tenant];
        tree.node(&n(node)).is_some() && access::covers(tree, &n(scope), &n(node))
    }

    /// The markers (UDIDs, serials, the other tenants' names) that must not
    /// appear in a 200 answer to `token`.
    fn forbidden(&self, token: &Token) -> Vec<String> {
        let mut out: Vec<String> = self
            .names
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != token.tenant)
            .map(|(_, t)| t.clone())
            .collect();
        let visible =
            |d: &Ipad| d.tenant == token.tenant && self.covers(d.tenant, &token.node, &d.node);
        // The shared UDID may show when the token's own tenant's device of
        // that UDID is in its scope; its serial tells which one it is.
        let shared_visible = self
            .ipads
            .iter()
            .any(|d| d.udid == SHARED_UDID && visible(d));
        for d in self.ipads.iter().filter(|d| !visible(d)) {
            out.push(d.serial.clone());
            if d.udid != SHARED_UDID || !shared_visible {
                out.push(d.udid.clone());
            }
        }
        out
    }
}

/// What a case does.
#[derive(Debug, Clone)]
enum Op {
    Whoami,
    Devices(Option<usize>),
    Device(usize),
    Effective(usize),
    Command(usize),
    Reconcile(Option<usize>),
    /// An enrollment challenge for a node.
    Challenge(Option<usize>),
    Audit,
    /// A device's Idle at a tenant's command URL.
    Report {
        ipad: usize,
        tenant: usize,
    },
}

/// A call: an op, with a token (an index past the end: a forged one) and
/// the tenant named in the URL (an index past the end: an unknown one).
#[derive(Debug, Clone)]
struct Call {
    op: Op,
    token: usize,
    url_tenant: usize,
}

impl Fixture {
    /// Every node name of every tenant, and one that exists nowhere.
    fn node_names(&self) -> Vec<String> {
        let mut v = self.names.clone();
        v.extend(NODES.iter().map(|(n, _)| (*n).to_owned()));
        v.push("nowhere".into());
        v
    }
}

fn calls(ipads: usize, tokens: usize, nodes: usize) -> impl Strategy<Value = Vec<Call>> {
    let op = prop_oneof![
        Just(Op::Whoami),
        proptest::option::of(0..nodes).prop_map(Op::Devices),
        (0..=ipads).prop_map(Op::Device),
        (0..=ipads).prop_map(Op::Effective),
        (0..=ipads).prop_map(Op::Command),
        proptest::option::of(0..nodes).prop_map(Op::Reconcile),
        proptest::option::of(0..nodes).prop_map(Op::Challenge),
        Just(Op::Audit),
        (0..ipads, 0..TENANTS).prop_map(|(ipad, tenant)| Op::Report { ipad, tenant }),
    ];
    let call = (op, 0..=tokens, 0..=TENANTS).prop_map(|(op, token, url_tenant)| Call {
        op,
        token,
        url_tenant,
    });
    proptest::collection::vec(call, 1..8)
}

async fn check(f: &Fixture, call: &Call) -> Result<(), TestCaseError> {
    let nodes = f.node_names();
    // A device index past the end names a device that exists nowhere.
    let udid = |i: usize| {
        f.ipads
            .get(i)
            .map_or_else(|| "ipad-unknown".to_owned(), |d| d.udid.clone())
    };
    if let Op::Report { ipad, tenant } = call.op {
        let d = &f.ipads[ipad];
        let url = format!("{}/{}/apple/mdm", f.base, f.names[tenant]);
        let s = d.put(&f.client, &url, d.idle()).await;
        let want = if d.tenant == tenant { 200 } else { 400 };
        prop_assert_eq!(s, want, "{} of {} at {}", d.udid, f.names[d.tenant], url);
        return Ok(());
    }
    let url_tenant = f
        .names
        .get(call.url_tenant)
        .map_or("town-z", String::as_str);
    let base = format!("{}/{url_tenant}/admin/v1", f.base);
    let (method, path, body) = match &call.op {
        Op::Whoami => ("GET", "whoami".to_owned(), None),
        Op::Devices(None) => ("GET", "devices".to_owned(), None),
        Op::Devices(Some(node)) => ("GET", format!("devices?node={}", nodes[*node]), None),
        Op::Device(d) => ("GET", format!("devices/{}", udid(*d)), None),
        Op::Effective(d) => ("GET", format!("devices/{}/effective", udid(*d)), None),
        Op::Command(d) => (
            "POST",
            format!("devices/{}/commands", udid(*d)),
            Some(r#"{"kind":"DeviceInformation"}"#.to_owned()),
        ),
        Op::Reconcile(node) => (
            "POST",
            "reconcile".to_owned(),
            Some(node.map_or_else(
                || "{}".to_owned(),
                |node| format!(r#"{{"node":"{}"}}"#, nodes[node]),
            )),
        ),
        Op::Challenge(node) => (
            "POST",
            "enroll/challenges".to_owned(),
            Some(node.map_or_else(
                || "{}".to_owned(),
                |node| format!(r#"{{"node":"{}"}}"#, nodes[node]),
            )),
        ),
        Op::Audit => ("GET", "audit".to_owned(), None),
        Op::Report { .. } => unreachable!("handled above"),
    };
    let token = f.tokens.get(call.token);
    let bearer = token.map_or_else(
        || "mdmkit_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        |t| t.bearer.clone(),
    );
    let req = if method == "GET" {
        f.client.get(format!("{base}/{path}"))
    } else {
        f.client
            .post(format!("{base}/{path}"))
            .body(body.unwrap_or_default())
    };
    let r = req.bearer_auth(&bearer).send().await.unwrap();
    let status = r.status().as_u16();
    let challenge = r.headers().get("www-authenticate").cloned();
    let text = r.text().await.unwrap();

    // The expected status.
    let want = if call.url_tenant >= TENANTS {
        // An unknown tenant answers as an unknown token does.
        401
    } else if let Some(t) = token.filter(|t| t.tenant == call.url_tenant) {
        let needed = if matches!(
            call.op,
            Op::Command(_) | Op::Reconcile(_) | Op::Challenge(_)
        ) {
            Role::Operate
        } else {
            Role::Read
        };
        // The device of that UDID in the URL's tenant is under the token's
        // node (the shared UDID names a device in each tenant).
        let in_scope_device = |d: usize| {
            let id = udid(d);
            f.ipads.iter().any(|i| {
                i.udid == id && i.tenant == t.tenant && f.covers(t.tenant, &t.node, &i.node)
            })
        };
        let in_scope_node = |node: &Option<usize>| {
            node.is_none_or(|node| f.covers(t.tenant, &t.node, &nodes[node]))
        };
        if !t.role.allows(needed) {
            403
        } else {
            match &call.op {
                Op::Whoami | Op::Audit => 200,
                Op::Devices(node) | Op::Reconcile(node) | Op::Challenge(node) => {
                    if in_scope_node(node) { 200 } else { 404 }
                }
                Op::Device(d) | Op::Effective(d) | Op::Command(d) => {
                    if in_scope_device(*d) {
                        200
                    } else {
                        404
                    }
                }
                Op::Report { .. } => unreachable!("handled above"),
            }
        }
    } else {
        // A forged token, or a token of another tenant: unknown here.
        401
    };
    prop_assert_eq!(status, want, "{} {}/{}: {}", method, base, path, text);
    if status == 401 {
        prop_assert_eq!(
            challenge.as_ref().and_then(|v| v.to_str().ok()),
            Some("Bearer realm=\"mdmkit\"")
        );
    }

    if status == 200 {
        let t = token.expect("a 200 has a token");
        for marker in f.forbidden(t) {
            prop_assert!(
                !text.contains(&marker),
                "{} {}/{} with a token of {} at {} leaks {:?}: {}",
                method,
                base,
                path,
                f.names[t.tenant],
                t.node,
                marker,
                text
            );
        }
        if let Op::Command(d) = call.op {
            *f.queued
                .lock()
                .unwrap()
                .entry((call.url_tenant, udid(d)))
                .or_default() += 1;
        }
    }
    Ok(())
}

/// The admin commands in each (tenant, UDID)'s queue are exactly those
/// queued through that tenant's URL.
async fn check_queues(f: &Fixture) {
    let queued = f.queued.lock().unwrap().clone();
    for ipad in &f.ipads {
        let tenant = TenantId::new(&f.names[ipad.tenant]).unwrap();
        let entries = f
            .queue
            .list(
                &tenant,
                &EnrollmentId::device(DeviceId::new(&ipad.udid).unwrap()),
            )
            .await
            .unwrap();
        let got = entries
            .iter()
            .filter(|e| e.kind == "DeviceInformation")
            .count();
        let want = queued
            .get(&(ipad.tenant, ipad.udid.clone()))
            .copied()
            .unwrap_or(0);
        assert_eq!(got, want, "{} of {}", ipad.udid, f.names[ipad.tenant]);
    }
}

/// Runs the property against a fixture built on the runtime.
fn run(start: impl AsyncFnOnce() -> Fixture) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(start());
    let mut runner = TestRunner::new(Config {
        cases: mdmkit::core::proptest_cases(64),
        ..Config::default()
    });
    let strategy = calls(f.ipads.len(), f.tokens.len(), f.node_names().len());
    runner
        .run(&strategy, |calls| {
            rt.block_on(async {
                for call in &calls {
                    check(&f, call).await?;
                }
                Ok(())
            })
        })
        .unwrap();
    rt.block_on(check_queues(&f));
}

#[test]
fn no_call_reaches_another_tenant_or_outside_its_node_in_memory() {
    run(async || {
        let stores: Stores = (Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()));
        Fixture::start(stores, "", tempfile::tempdir().unwrap()).await
    });
}

#[test]
fn no_call_reaches_another_tenant_or_outside_its_node_on_sqlite() {
    use mdmkit::queue::{SqliteOptions, SqliteStore};
    use mdmkit::state::SqliteState;
    run(async || {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("shared.db");
        let stores: Stores = (
            Arc::new(SqliteStore::open(SqliteOptions::new(&db)).await.unwrap()),
            Arc::new(SqliteState::open(&db).await.unwrap()),
        );
        Fixture::start(stores, "", tmp).await
    });
}

/// On the throwaway PostgreSQL server (a missing server is a failure: run
/// through `scripts/test`); the tenants' names carry a tag of this run, as
/// the server is shared by the whole test suite.
#[test]
fn no_call_reaches_another_tenant_or_outside_its_node_on_postgres() {
    use mdmkit::queue::{PostgresOptions, PostgresStore};
    use mdmkit::state::PostgresState;
    let url = match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "MDMKIT_TEST_POSTGRES_URL is unset: run `./scripts/test` (or \
             `. scripts/lib.sh; start_throwaway_postgres` first)"
        ),
    };
    run(async || {
        let stores: Stores = (
            Arc::new(
                PostgresStore::open(PostgresOptions::new(url.clone()))
                    .await
                    .unwrap(),
            ),
            Arc::new(PostgresState::open(&url).await.unwrap()),
        );
        let tag = format!(
            "-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        Fixture::start(stores, &tag, tempfile::tempdir().unwrap()).await
    });
}

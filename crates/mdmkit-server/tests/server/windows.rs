//! Windows over real HTTP on a loopback port: the simulated PC enrolls
//! through the MS-MDE2 services with a one-time token bound to a school,
//! then runs OMA-DM sessions whose state lives in the store (continued by
//! a second server on the same store between two messages), and the bad
//! cases are refused without a 401 or a 500.
//!
//! The PC reaches the server as through a TLS-terminating proxy: the
//! `https` URLs the server hands out are called over plain HTTP on the
//! loopback port, and the PC's certificate travels in the RFC 9440
//! `Client-Cert` header, believed from 127.0.0.1 only.

use std::sync::Arc;

use base64::Engine as _;
use mdmkit::challenge::{self, ChallengeOptions};
use mdmkit::identity::{CaBuilder, KeyAlgorithm, TenantCa};
use mdmkit::policy::{NodeId, Policy, Tenant};
use mdmkit::queue::{Clock as _, QueueStore, SystemClock};
use mdmkit::state::{ComplianceState, StateStore};
use mdmkit::windows::device::TestDevice;
use mdmkit::windows::enroll::{
    Credentials, EnrollmentFault, FaultType, GetPoliciesRequest, ProtocolVersion,
};
use mdmkit::windows::syncml::SyncMl;
use mdmkit::{Platform, Reconciler, TenantId};
use mdmkit_server::windows::WindowsService;
use mdmkit_server::{AppState, DynReconciler, ServerConfig, TenantContext, Tenants};

type Stores = (Arc<dyn QueueStore>, Arc<dyn StateStore>);

const SCHOOL: &str = "school-1";

fn tree(t: &str) -> Tenant {
    let mut tree = Tenant::new(TenantId::new(t).unwrap());
    tree.add_node(
        NodeId::new(SCHOOL).unwrap(),
        &NodeId::new(t).unwrap(),
        None,
        None,
    )
    .unwrap();
    tree.set_policy(
        Policy::from_toml(
            "[policy]\nid = \"school\"\n[passcode]\nrequired = true\nmin_length = 8\n\
             [restrictions]\ncamera = \"deny\"\n",
        )
        .unwrap(),
    );
    tree.assign(&NodeId::new(SCHOOL).unwrap(), "school".parse().unwrap())
        .unwrap();
    tree
}

/// One server over `stores` for tenants `town-a` and `town-b` (CAs given),
/// on a port of its own: its base URL.
async fn serve(stores: &Stores, cas: &[(String, Arc<TenantCa>)]) -> String {
    let mut tenants = Tenants::new();
    for (t, ca) in cas {
        let reconciler: Arc<DynReconciler> =
            Arc::new(Reconciler::new(stores.0.clone(), stores.1.clone()));
        tenants.insert(
            TenantContext::new(tree(t), ca.verifier(), reconciler)
                .with_windows(WindowsService::new(ca.clone())),
        );
    }
    let config = ServerConfig::new()
        .trust_proxy(mdmkit_server::parse_cidr("127.0.0.1").unwrap())
        .with_host_tenant(
            "enterpriseenrollment.town-a.example",
            TenantId::new(&cas[0].0).unwrap(),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = mdmkit_server::router(AppState::new(tenants, config));
    tokio::spawn(mdmkit_server::serve::serve(
        listener,
        app,
        None,
        std::future::pending(),
    ));
    base
}

/// A simulated PC over HTTP: the test device, its key, its certificate.
struct Pc {
    device: TestDevice,
    key: rcgen::KeyPair,
    cert: Option<Vec<u8>>,
}

/// A POST; `https://` URLs are called over plain HTTP (the proxy's job).
async fn post(
    c: &reqwest::Client,
    url: &str,
    content_type: &str,
    body: String,
    cert: Option<&[u8]>,
) -> (u16, String) {
    let url = url.replacen("https://", "http://", 1);
    let mut r = c.post(url).header("content-type", content_type).body(body);
    if let Some(der) = cert {
        r = r.header(
            "client-cert",
            format!(
                ":{}:",
                base64::engine::general_purpose::STANDARD.encode(der)
            ),
        );
    }
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.text().await.unwrap())
}

const SOAP: &str = "application/soap+xml; charset=utf-8";
const SYNCML: &str = "application/vnd.syncml.dm+xml";

impl Pc {
    fn new(id: &str) -> Self {
        Self {
            device: TestDevice::new(id),
            key: rcgen::KeyPair::generate().unwrap(),
            cert: None,
        }
    }

    /// Discovery, policy and enrollment with `token`; the enrollment
    /// answer's status and body.
    async fn enroll(
        &mut self,
        c: &reqwest::Client,
        base: &str,
        tenant: &str,
        token: &str,
    ) -> (u16, String) {
        let discovery = format!("{base}/{tenant}/windows/EnrollmentServer/Discovery.svc");
        assert_eq!(c.get(&discovery).send().await.unwrap().status(), 200);
        let req = self.device.discovery_request(
            "user@example.org",
            ProtocolVersion::new(9, 0),
            &discovery,
        );
        let (s, d) = post(c, &discovery, SOAP, req, None).await;
        assert_eq!(s, 200, "{d}");
        assert!(d.contains("https://"), "{d}");
        let creds = Credentials::UsernameToken {
            username: "user@example.org".into(),
            password: token.into(),
        };
        let resp = mdmkit::windows::enroll::DiscoverResponse::read(d.as_bytes()).unwrap();
        let (s, p) = post(
            c,
            &resp.policy_service_url,
            SOAP,
            GetPoliciesRequest::to_xml("urn:uuid:1", &resp.policy_service_url, &creds),
            None,
        )
        .await;
        if s != 200 {
            return (s, p);
        }
        let csr = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(&self.key)
            .unwrap()
            .der()
            .to_vec();
        let (_, rst) = self
            .device
            .enrollment_request_with(d.as_bytes(), csr, creds)
            .unwrap();
        let (s, body) = post(c, &resp.enrollment_service_url, SOAP, rst, None).await;
        if s == 200 {
            let doc = self.device.accept_enrollment(body.as_bytes()).unwrap();
            self.cert = Some(doc.client_cert_der.clone());
        }
        (s, body)
    }

    /// One management session to `servers` in turn (message i goes to
    /// `servers[i % len]`); the number of messages the PC sent.
    async fn session(&mut self, c: &reqwest::Client, servers: &[String]) -> usize {
        let url = self.device.provisioning().unwrap().server_url.clone();
        let path = url.splitn(4, '/').nth(3).unwrap().to_owned();
        let mut msg = Some(self.device.open_session(&url));
        let mut n = 0;
        while let Some(m) = msg.take() {
            let base = &servers[n % servers.len()];
            n += 1;
            assert!(n < 50, "the session does not end");
            let (s, body) = post(
                c,
                &format!("{base}/{path}"),
                SYNCML,
                m.to_xml(),
                self.cert.as_deref(),
            )
            .await;
            assert_eq!(s, 200, "{body}");
            let reply = SyncMl::read(body.as_bytes()).unwrap();
            msg = self.device.handle(&reply);
        }
        n
    }
}

fn fault(body: &str) -> FaultType {
    EnrollmentFault::read(body.as_bytes()).unwrap().fault_type
}

async fn token(state: &Arc<dyn StateStore>, tenant: &str, node: &str) -> String {
    let issued = challenge::issue(
        TenantId::new(tenant).unwrap(),
        NodeId::new(node).unwrap(),
        ChallengeOptions::default(),
        SystemClock.now(),
    );
    state.put_challenge(&issued.challenge).await.unwrap();
    issued.secret
}

async fn scenario(stores: Stores, tag: &str) {
    let names = [format!("town-a{tag}"), format!("town-b{tag}")];
    let cas: Vec<(String, Arc<TenantCa>)> = names
        .iter()
        .map(|t| {
            let ca = CaBuilder::new(TenantId::new(t).unwrap())
                .algorithm(KeyAlgorithm::P256)
                .build()
                .unwrap();
            (t.clone(), Arc::new(ca))
        })
        .collect();
    let (a, b) = (names[0].as_str(), names[1].as_str());
    let one = serve(&stores, &cas).await;
    let two = serve(&stores, &cas).await;
    let c = reqwest::Client::new();
    let state = &stores.1;

    // Enrollment: the token puts the PC under the school; it is spent.
    let t = token(state, a, SCHOOL).await;
    let mut pc = Pc::new(&format!("PC-ONE{tag}"));
    let (s, body) = pc.enroll(&c, &one, a, &t).await;
    assert_eq!(s, 200, "{body}");
    let dev = mdmkit::DeviceId::new(pc.device.device_id()).unwrap();
    let tid = TenantId::new(a).unwrap();
    let e = state.enrollment(&tid, &dev).await.unwrap().unwrap();
    assert_eq!(e.node.as_str(), SCHOOL);
    assert_eq!(e.platform, Platform::Windows);
    let mut again = Pc::new(&format!("PC-TWO{tag}"));
    let (s, body) = again.enroll(&c, &one, a, &t).await;
    assert_eq!(
        (s, fault(&body)),
        (400, FaultType::Authentication),
        "{body}"
    );
    let (s, body) = again.enroll(&c, &one, a, "not-a-token").await;
    assert_eq!(
        (s, fault(&body)),
        (400, FaultType::Authentication),
        "{body}"
    );
    // The other tenant does not know this tenant's token.
    let t2 = token(state, a, SCHOOL).await;
    let (s, body) = again.enroll(&c, &one, b, &t2).await;
    assert_eq!(
        (s, fault(&body)),
        (400, FaultType::Authentication),
        "{body}"
    );

    // Management: sessions alternate between the two servers message by
    // message (the session lives in the store), with a small MaxMsgSize so
    // the policy takes several messages.
    pc.device = pc.device.clone().with_max_msg_size(1600);
    let servers = [one.clone(), two.clone()];
    let n = pc.session(&c, &servers).await;
    assert!(n >= 3, "{n} messages");
    let e = state.enrollment(&tid, &dev).await.unwrap().unwrap();
    assert_eq!(e.model.as_deref(), Some("Surface Laptop"), "{e:?}");
    assert_eq!(e.serial.as_deref(), Some("SN-0001"), "{e:?}");
    assert_eq!(e.os_version.as_deref(), Some("10.0.26100.1"), "{e:?}");
    let states = state.compliance(&tid, Some(&dev)).await.unwrap();
    assert_eq!(
        pc.device
            .node("./Device/Vendor/MSFT/Policy/Config/DeviceLock/MinDevicePasswordLength"),
        Some("8"),
        "{states:?}"
    );
    assert!(!states.is_empty());
    for (_, st) in &states {
        assert!(
            matches!(
                st.state,
                ComplianceState::Verified | ComplianceState::Unsupported
            ),
            "{st:?}"
        );
    }
    // A later session has nothing new.
    assert_eq!(pc.session(&c, &servers).await, 1);

    // A value larger than the PC's MaxMsgSize travels as a large object,
    // chunk by chunk, its progress kept in the store between servers.
    let big = "<WLANProfile>&".repeat(400);
    let id = mdmkit::queue::CommandId::new();
    let payload = SyncMl {
        header: mdmkit::windows::syncml::SyncHdr::new("1", "1", "device", "server"),
        commands: vec![mdmkit::windows::syncml::Command::Replace(
            mdmkit::windows::syncml::ItemCommand::new(
                "1",
                mdmkit::windows::syncml::Item::target("./Vendor/MSFT/WiFi/Profile/Big/WlanXml")
                    .with_data(big.as_str()),
            ),
        )],
        final_: true,
    };
    stores
        .0
        .enqueue(
            &tid,
            &mdmkit::queue::NewCommand::new("Replace", payload.to_xml().into_bytes()).with_id(id),
            &[mdmkit::queue::EnrollmentId::device(dev.clone())],
        )
        .await
        .unwrap();
    let n = pc.session(&c, &servers).await;
    assert!(n >= 4, "{n} messages for {} bytes", big.len());
    assert_eq!(
        pc.device.node("./Vendor/MSFT/WiFi/Profile/Big/WlanXml"),
        Some(big.as_str())
    );
    let entry = stores
        .0
        .list(&tid, &mdmkit::queue::EnrollmentId::device(dev.clone()))
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.id == id)
        .unwrap();
    assert_eq!(entry.state, mdmkit::queue::CommandState::Acknowledged);

    // The other way: a Get whose value (200 KB) is larger than the PC
    // sends in one message comes back in chunks (213 each, Alert 1222 for
    // the next), over several requests; a server started in the middle (as
    // after a restart) continues from the store; the queue command ends
    // with the whole value as its one result.
    let report: String = (0..20_000)
        .map(|i| format!("{:09}|", i))
        .collect::<String>()[..200_000]
        .to_owned();
    let node = "./Vendor/MSFT/Test/Report";
    pc.device.set_node(node, &report);
    pc.device = pc.device.clone().with_chunk_size(16 * 1024);
    let id = mdmkit::queue::CommandId::new();
    let get = SyncMl {
        header: mdmkit::windows::syncml::SyncHdr::new("1", "1", "device", "server"),
        commands: vec![mdmkit::windows::syncml::Command::Get(
            mdmkit::windows::syncml::ItemCommand::new(
                "1",
                mdmkit::windows::syncml::Item::target(node),
            ),
        )],
        final_: true,
    };
    let enrollment_id = mdmkit::queue::EnrollmentId::device(dev.clone());
    stores
        .0
        .enqueue(
            &tid,
            &mdmkit::queue::NewCommand::new("Get", get.to_xml().into_bytes()).with_id(id),
            std::slice::from_ref(&enrollment_id),
        )
        .await
        .unwrap();
    let url = pc.device.provisioning().unwrap().server_url.clone();
    let path = url.splitn(4, '/').nth(3).unwrap().to_owned();
    let mut msg = Some(pc.device.open_session(&url));
    let (mut n, mut chunks, mut stored_mid) = (0, 0, false);
    let mut later: Option<String> = None;
    while let Some(m) = msg.take() {
        n += 1;
        assert!(n < 50, "the session does not end");
        chunks += usize::from(!m.final_);
        let base = match &later {
            Some(b) => b.clone(),
            None => servers[n % 2].clone(),
        };
        let (s, body) = post(
            &c,
            &format!("{base}/{path}"),
            SYNCML,
            m.to_xml(),
            pc.cert.as_deref(),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        if chunks == 3 && later.is_none() {
            // Half-way, the buffered chunks are in the store...
            let kept = state.session(&tid, &dev).await.unwrap().unwrap();
            let doc: serde_json::Value = serde_json::from_str(&kept.state).unwrap();
            let incoming = &doc["snapshot"]["incoming"];
            let held = incoming["value"].as_str().unwrap().len();
            assert!(held > 0 && held < report.len(), "{held}");
            stored_mid = true;
            // ...and a server that was not running answers the rest.
            later = Some(serve(&stores, &cas).await);
        }
        let reply = SyncMl::read(body.as_bytes()).unwrap();
        msg = pc.device.handle(&reply);
    }
    assert!(
        stored_mid && chunks >= 10,
        "{chunks} chunks in {n} messages"
    );
    let history = stores
        .0
        .history(&tid, &enrollment_id, Some(id))
        .await
        .unwrap();
    let results: Vec<&Vec<u8>> = history.iter().filter_map(|h| h.result.as_ref()).collect();
    assert_eq!(results.len(), 1, "{history:?}");
    let back = SyncMl::read(results[0]).unwrap();
    assert_eq!(back.commands.len(), 1);
    let items = back.commands[0].items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].data.as_ref().unwrap().as_str(), report);
    let entry = stores
        .0
        .list(&tid, &enrollment_id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.id == id)
        .unwrap();
    assert_eq!(entry.state, mdmkit::queue::CommandState::Acknowledged);
    pc.device = pc.device.clone().with_max_msg_size(1600);

    // Refusals: Source of another device, another tenant's certificate, no
    // certificate, garbage; 400 each, never 401 or 500.
    let mut other = Pc::new(&format!("PC-THREE{tag}"));
    let t3 = token(state, a, SCHOOL).await;
    assert_eq!(other.enroll(&c, &one, a, &t3).await.0, 200);
    let mut liar = pc.device.clone();
    let hello = liar.open_session(&pc.device.provisioning().unwrap().server_url);
    let mdm = format!("{one}/{a}/windows/ManagementServer/MDM.svc");
    let (s, body) = post(&c, &mdm, SYNCML, hello.to_xml(), other.cert.as_deref()).await;
    assert_eq!(s, 400, "{body}");
    let mut foreign = Pc::new(&format!("PC-FOUR{tag}"));
    let t4 = token(state, b, b).await;
    assert_eq!(foreign.enroll(&c, &one, b, &t4).await.0, 200);
    let mut own = foreign.device.clone();
    let hello = own.open_session(&mdm);
    let (s, body) = post(&c, &mdm, SYNCML, hello.to_xml(), foreign.cert.as_deref()).await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = post(&c, &mdm, SYNCML, hello.to_xml(), None).await;
    assert_eq!(s, 400);
    let (s, _) = post(&c, &mdm, SYNCML, "<SyncML><nope".into(), pc.cert.as_deref()).await;
    assert_eq!(s, 400);
    let discovery = format!("{one}/{a}/windows/EnrollmentServer/Discovery.svc");
    let (s, body) = post(&c, &discovery, SOAP, "<x/>".into(), None).await;
    assert_eq!((s, fault(&body)), (400, FaultType::MessageFormat), "{body}");
    let old = pc
        .device
        .discovery_request("u@example.org", ProtocolVersion::new(3, 0), &discovery);
    let (s, body) = post(&c, &discovery, SOAP, old, None).await;
    assert_eq!(
        (s, fault(&body)),
        (400, FaultType::DeviceNotSupported),
        "{body}"
    );

    // Host-based routing: Windows' first guess, without the tenant.
    let r = c
        .post(format!("{one}/EnrollmentServer/Discovery.svc"))
        .header("host", "enterpriseenrollment.town-a.example")
        .header("content-type", SOAP)
        .body(
            pc.device
                .discovery_request("u@example.org", ProtocolVersion::new(5, 0), "x"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains(&format!(
            "https://enterpriseenrollment.town-a.example/{a}/windows/EnrollmentServer/Policy.svc"
        )),
        "{text}"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_pc_enrolls_and_its_sessions_continue_across_servers_on_sqlite() {
    use mdmkit::queue::{SqliteOptions, SqliteStore};
    use mdmkit::state::SqliteState;
    runtime().block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("shared.db");
        let stores: Stores = (
            Arc::new(SqliteStore::open(SqliteOptions::new(&db)).await.unwrap()),
            Arc::new(SqliteState::open(&db).await.unwrap()),
        );
        scenario(stores, "").await;
    });
}

/// On the throwaway PostgreSQL server (a missing server is a failure: run
/// through `scripts/test`).
#[test]
fn a_pc_enrolls_and_its_sessions_continue_across_servers_on_postgres() {
    use mdmkit::queue::{PostgresOptions, PostgresStore};
    use mdmkit::state::PostgresState;
    let url = match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "MDMKIT_TEST_POSTGRES_URL is unset: run `./scripts/test` (or \
             `. scripts/lib.sh; start_throwaway_postgres` first)"
        ),
    };
    runtime().block_on(async {
        let stores: Stores = (
            Arc::new(
                PostgresStore::open(PostgresOptions::new(url.clone()))
                    .await
                    .unwrap(),
            ),
            Arc::new(PostgresState::open(&url).await.unwrap()),
        );
        let tag = format!("-{}", std::process::id());
        scenario(stores, &tag).await;
    });
}

/// A sign-in page of the integrator's: tokens `ok-<node>` put the PC
/// under that node.
struct Page;

impl mdmkit_server::windows::FederatedAuth for Page {
    fn authentication_url(&self) -> &str {
        "https://login.example.org/mdm"
    }
    fn verify(&self, token: &str) -> Result<Option<NodeId>, String> {
        let node = token.strip_prefix("ok-").ok_or("not signed in")?;
        Ok(Some(NodeId::new(node).map_err(|e| e.to_string())?))
    }
}

#[test]
fn a_federated_tenant_offers_its_sign_in_page_and_places_the_pc_by_its_token() {
    use mdmkit::queue::MemoryStore;
    use mdmkit::state::MemoryState;
    runtime().block_on(async {
        let t = "town-fed";
        let ca = CaBuilder::new(TenantId::new(t).unwrap())
            .algorithm(KeyAlgorithm::P256)
            .build()
            .unwrap();
        let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
        let reconciler: Arc<DynReconciler> = Arc::new(Reconciler::new(
            Arc::new(MemoryStore::new()) as Arc<dyn QueueStore>,
            state.clone(),
        ));
        let tenants = Tenants::new().with(
            TenantContext::new(tree(t), ca.verifier(), reconciler)
                .with_windows(WindowsService::new(ca).with_federated(Arc::new(Page))),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = mdmkit_server::router(AppState::new(tenants, ServerConfig::new()));
        tokio::spawn(mdmkit_server::serve::serve(
            listener,
            app,
            None,
            std::future::pending(),
        ));
        let c = reqwest::Client::new();
        let pc = Pc::new("PC-FED");
        let discovery = format!("{base}/{t}/windows/EnrollmentServer/Discovery.svc");
        let req = pc
            .device
            .discovery_request("u@example.org", ProtocolVersion::new(6, 0), &discovery);
        let (s, d) = post(&c, &discovery, SOAP, req, None).await;
        assert_eq!(s, 200, "{d}");
        let found = mdmkit::windows::enroll::DiscoverResponse::read(d.as_bytes()).unwrap();
        assert_eq!(found.auth_policy.as_str(), "Federated");
        assert_eq!(
            found.authentication_service_url.as_deref(),
            Some("https://login.example.org/mdm")
        );
        let csr = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(&pc.key)
            .unwrap()
            .der()
            .to_vec();
        for (token, status) in [("nope", 400), (&format!("ok-{SCHOOL}") as &str, 200)] {
            let creds = Credentials::BinarySecurityToken {
                value_type: "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentUserToken".into(),
                token: token.into(),
            };
            let (_, rst) = pc
                .device
                .enrollment_request_with(d.as_bytes(), csr.clone(), creds)
                .unwrap();
            let (s, body) = post(&c, &found.enrollment_service_url, SOAP, rst, None).await;
            assert_eq!(s, status, "{body}");
        }
        let e = state
            .enrollment(&TenantId::new(t).unwrap(), &mdmkit::DeviceId::new("PC-FED").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(e.node.as_str(), SCHOOL);
    });
}

/// A PC reports the WNS channel its DMClient registered (the Push CSP's
/// `ChannelURI`, read by the server at the start of each session, after
/// the server set the app's `PFN`); the wake loop then wakes it with a raw
/// notification through the WNS emulator (an OAuth token of the app's
/// credentials, refreshed once on a 401). 406 is retried; 410 means the
/// channel expired: no more notifications until the PC reports another.
#[tokio::test]
async fn a_pc_reports_its_wns_channel_and_is_woken_through_wns() {
    use mdmkit::windows::wns::emulator::WnsEmulator;
    use mdmkit_server::push::wns::WnsClient;
    use mdmkit_server::push::{PushConfig, PushService};

    let emu = WnsEmulator::start().await.unwrap();
    let t = "town-wns";
    let stores: Stores = (
        Arc::new(mdmkit::queue::MemoryStore::new()),
        Arc::new(mdmkit::state::MemoryState::new()),
    );
    let ca = Arc::new(
        CaBuilder::new(TenantId::new(t).unwrap())
            .algorithm(KeyAlgorithm::P256)
            .build()
            .unwrap(),
    );
    let reconciler: Arc<DynReconciler> =
        Arc::new(Reconciler::new(stores.0.clone(), stores.1.clone()));
    let push = PushConfig::new()
        .with_min_interval(std::time::Duration::ZERO)
        .with_backoff(
            std::time::Duration::from_millis(50),
            std::time::Duration::from_millis(50),
        )
        .with_wns(WnsClient::new(emu.config()).unwrap())
        .with_wns_pfn("Contoso.Mdm_8wekyb3d8bbwe");
    let mut tenants = Tenants::new();
    tenants.insert(
        TenantContext::new(tree(t), ca.verifier(), reconciler)
            .with_windows(WindowsService::new(ca.clone()))
            .with_push(PushService::new(push)),
    );
    let app = AppState::new(
        tenants,
        ServerConfig::new().trust_proxy(mdmkit_server::parse_cidr("127.0.0.1").unwrap()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(mdmkit_server::serve::serve(
        listener,
        mdmkit_server::router(app.clone()),
        None,
        std::future::pending(),
    ));
    let c = reqwest::Client::new();
    let state = &stores.1;
    let tok = token(state, t, SCHOOL).await;
    let mut pc = Pc::new("PC-WNS-1");
    let (s, body) = pc.enroll(&c, &base, t, &tok).await;
    assert_eq!(s, 200, "{body}");
    let channel_node = mdmkit::windows::wns::channel_uri_node("mdmkit");
    pc.device.set_node(&channel_node, &emu.channel_uri("pc-1"));
    pc.session(&c, std::slice::from_ref(&base)).await;
    assert_eq!(
        pc.device.node(&mdmkit::windows::wns::pfn_node("mdmkit")),
        Some("Contoso.Mdm_8wekyb3d8bbwe")
    );
    let tid = TenantId::new(t).unwrap();
    let dev = mdmkit::DeviceId::new("PC-WNS-1").unwrap();
    let e = state.enrollment(&tid, &dev).await.unwrap().unwrap();
    assert_eq!(
        e.wns_channel.as_deref(),
        Some(emu.channel_uri("pc-1").as_str())
    );
    assert!(
        !format!("{e:?}").contains("/channel/pc-1"),
        "the channel is redacted"
    );

    let ctx = app.tenants().get(t).unwrap();
    let wake = || async {
        ctx.push()
            .unwrap()
            .wake(&ctx, std::slice::from_ref(&dev))
            .await
            .unwrap()
    };
    assert_eq!(wake().await.count("delivered"), 1);
    let n = emu.notified();
    assert_eq!(n.len(), 1);
    assert_eq!(
        (n[0].channel.as_str(), n[0].wns_type.as_deref(), n[0].status),
        ("pc-1", Some("wns/raw"), 200)
    );
    assert_eq!(emu.tokens_issued(), 1);
    // The token is cached; a revoked one is replaced once.
    assert_eq!(wake().await.count("delivered"), 1);
    assert_eq!(emu.tokens_issued(), 1);
    emu.revoke_tokens();
    assert_eq!(wake().await.count("delivered"), 1);
    assert_eq!(emu.tokens_issued(), 2);
    // Throttled: retried.
    emu.fail_next(406, 1);
    assert_eq!(wake().await.count("retry"), 1);
    // Expired: dead until the PC reports another channel.
    emu.expire("pc-1");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let r = ctx.push().unwrap().sweep(&ctx).await.unwrap();
    assert_eq!(r.count("token-dead"), 1, "{r:?}");
    let before = emu.notified().len();
    assert_eq!(wake().await.skipped("token-dead"), 1);
    assert_eq!(emu.notified().len(), before);
    pc.device.set_node(&channel_node, &emu.channel_uri("pc-2"));
    pc.session(&c, std::slice::from_ref(&base)).await;
    assert_eq!(wake().await.count("delivered"), 1);
    assert_eq!(emu.notified().last().unwrap().channel, "pc-2");
}

/// `der` as a PEM file at `path` (through the `openssl` binary).
fn pem_file(der: &[u8], path: &std::path::Path, kind: &str) {
    let der_path = path.with_extension("der");
    std::fs::write(&der_path, der).unwrap();
    let out = std::process::Command::new("openssl")
        .args([kind, "-inform", "DER", "-in"])
        .arg(&der_path)
        .arg("-out")
        .arg(path)
        .output()
        .expect("openssl (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PC renews its certificate through WSTEP the way Windows does: a
/// PKCS#7 (made by the `openssl` binary) signed with its current key,
/// wrapping a new PKCS#10, over a connection that presents the current
/// certificate. Its next session with the new certificate moves the
/// binding; the old certificate is refused from then on, for sessions and
/// renewals. Without a certificate the renewal is refused.
#[test]
fn a_pc_renews_its_certificate_with_a_pkcs7_request_and_keeps_its_enrollment() {
    use mdmkit::queue::{SqliteOptions, SqliteStore};
    use mdmkit::state::SqliteState;
    use mdmkit::windows::enroll::{REQUEST_TYPE_RENEW, RequestSecurityToken, VALUE_TYPE_PKCS7};
    runtime().block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("renew.db");
        let stores: Stores = (
            Arc::new(SqliteStore::open(SqliteOptions::new(&db)).await.unwrap()),
            Arc::new(SqliteState::open(&db).await.unwrap()),
        );
        let t = "town-r";
        let ca = Arc::new(
            CaBuilder::new(TenantId::new(t).unwrap())
                .algorithm(KeyAlgorithm::P256)
                .build()
                .unwrap(),
        );
        let base = serve(&stores, &[(t.to_owned(), ca)]).await;
        let c = reqwest::Client::new();
        let state = &stores.1;
        let mut pc = Pc::new("PC-RENEW");
        let secret = token(state, t, SCHOOL).await;
        let (s, body) = pc.enroll(&c, &base, t, &secret).await;
        assert_eq!(s, 200, "{body}");
        pc.session(&c, std::slice::from_ref(&base)).await;
        let dev = mdmkit::DeviceId::new(pc.device.device_id()).unwrap();
        let tid = TenantId::new(t).unwrap();
        let before = state.enrollment(&tid, &dev).await.unwrap().unwrap();
        let old_cert = pc.cert.clone().unwrap();

        // The new request, signed with the current key into a PKCS#7.
        let new_key = rcgen::KeyPair::generate().unwrap();
        let csr = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(&new_key)
            .unwrap()
            .der()
            .to_vec();
        let dir = tmp.path();
        std::fs::write(dir.join("csr.der"), &csr).unwrap();
        pem_file(&old_cert, &dir.join("old.pem"), "x509");
        std::fs::write(dir.join("old.key"), pc.key.serialize_pem()).unwrap();
        let out = std::process::Command::new("openssl")
            .args([
                "cms",
                "-sign",
                "-binary",
                "-nodetach",
                "-outform",
                "DER",
                "-in",
            ])
            .arg(dir.join("csr.der"))
            .arg("-signer")
            .arg(dir.join("old.pem"))
            .arg("-inkey")
            .arg(dir.join("old.key"))
            .arg("-out")
            .arg(dir.join("renew.p7"))
            .output()
            .expect("openssl (scripts/test installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut rst = RequestSecurityToken::new(std::fs::read(dir.join("renew.p7")).unwrap())
            .with_context("DeviceID", pc.device.device_id());
        rst.request_type = REQUEST_TYPE_RENEW.into();
        rst.value_type = VALUE_TYPE_PKCS7.into();
        let url = format!("{base}/{t}/windows/EnrollmentServer/Enrollment.svc");
        let xml = rst.to_xml("urn:uuid:renew-1", &url);

        // Without the current certificate: refused, as a SOAP fault.
        let (s, body) = post(&c, &url, SOAP, xml.clone(), None).await;
        assert_eq!(
            (s, fault(&body)),
            (400, FaultType::Authentication),
            "{body}"
        );
        // With the current certificate: a new certificate for the same PC.
        let (s, body) = post(&c, &url, SOAP, xml, Some(&old_cert)).await;
        assert_eq!(s, 200, "{body}");
        let doc = pc.device.accept_enrollment(body.as_bytes()).unwrap();
        assert_ne!(doc.client_cert_der, old_cert);
        // Nothing moved yet: the old binding holds until the new
        // certificate is presented.
        let e = state.enrollment(&tid, &dev).await.unwrap().unwrap();
        assert_eq!(e.certificate, before.certificate);

        // The next session, with the new certificate, moves the binding
        // and keeps the enrollment (node, enrolled time).
        pc.cert = Some(doc.client_cert_der.clone());
        pc.key = new_key;
        pc.session(&c, std::slice::from_ref(&base)).await;
        let e = state.enrollment(&tid, &dev).await.unwrap().unwrap();
        let (new_b, old_b) = (
            e.certificate.clone().unwrap(),
            before.certificate.clone().unwrap(),
        );
        assert_ne!(new_b.sha256, old_b.sha256);
        assert_eq!(new_b.cert_device, old_b.cert_device);
        assert!(new_b.not_after > old_b.not_after);
        assert_eq!(e.node, before.node);
        assert_eq!(e.enrolled_at, before.enrolled_at);
        // The old certificate is refused from then on, without a 500.
        let url_m = pc.device.provisioning().unwrap().server_url.clone();
        let (s, body) = post(
            &c,
            &url_m,
            SYNCML,
            pc.device.open_session(&url_m).to_xml(),
            Some(&old_cert),
        )
        .await;
        assert!(s != 200 && s < 500, "{s} {body}");
        // And a renewal presenting it is not eligible any more.
        let (s, body) = post(
            &c,
            &url,
            SOAP,
            rst.to_xml("urn:uuid:renew-2", &url),
            Some(&old_cert),
        )
        .await;
        assert_eq!(
            (s, fault(&body)),
            (400, FaultType::NotEligibleToRenew),
            "{body}"
        );
    });
}

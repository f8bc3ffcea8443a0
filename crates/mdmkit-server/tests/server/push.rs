//! Waking devices over real loopback HTTP: a server whose tenant pushes
//! through the APNs emulator (HTTP/2 over TLS, started here), iPads that
//! enroll, receive pushes and check in over HTTP.
//!
//! - a policy change at a school pushes exactly that school's iPads, which
//!   then check in and receive their commands (end to end);
//! - each APNs outcome: a dead token stops pushes until the next
//!   TokenUpdate, 429 is retried after a backoff by the sweep, a revoked
//!   certificate raises an alert and holds pushes until a new certificate,
//!   which the next push uses without restart;
//! - a certificate whose topic would strand enrolled devices is refused
//!   (409, with how many) unless forced, and only an author at the root
//!   may upload one;
//! - the per-device rate limit, and a device flagged after N unanswered
//!   pushes (until it checks in).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use mdmkit::access::{self, Role};
use mdmkit::apple::SigningIdentity;
use mdmkit::apple::apns::Reason;
use mdmkit::apple::apns::emulator::{ApnsEmulator, TestCertificate, test_push_certificate};
use mdmkit::identity::{CaBuilder, CertificateRequest, IssueRequest, KeyAlgorithm, TenantCa};
use mdmkit::policy::{NodeId, Policy, Tenant};
use mdmkit::queue::{Clock as _, MemoryStore, QueueStore, SystemClock, Timestamp};
use mdmkit::state::{MemoryState, StateStore};
use mdmkit::{DeviceId, Reconciler, TenantId};
use mdmkit_server::push::{PushConfig, PushService};
use mdmkit_server::{AppState, DynReconciler, ServerConfig, TenantContext, Tenants};

const TENANT: &str = "district";
const TOPIC: &str = "com.apple.mgmt.External.0d15c0de-0000-4000-8000-000000000016";

fn n(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn plist(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>{body}</dict></plist>\n"
    )
}

struct Ipad {
    udid: String,
    node: String,
    /// The push token (8 bytes) as hex.
    token: String,
    signer: SigningIdentity,
}

impl Ipad {
    fn token_update(&self, topic: &str) -> String {
        let bytes: Vec<u8> = (0..self.token.len() / 2)
            .map(|i| u8::from_str_radix(&self.token[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        plist(&format!(
            "<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>{}</string>\
             <key>Topic</key><string>{topic}</string>\
             <key>Token</key><data>{}</data><key>PushMagic</key><string>magic-{}</string>",
            self.udid,
            base64::engine::general_purpose::STANDARD.encode(bytes),
            self.udid
        ))
    }

    fn authenticate(&self) -> String {
        plist(&format!(
            "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>{}</string>\
             <key>Topic</key><string>{TOPIC}</string><key>SerialNumber</key><string>S-{}</string>\
             <key>Model</key><string>iPad13,1</string><key>OSVersion</key><string>17.5</string>",
            self.udid, self.udid
        ))
    }

    async fn put(&self, c: &reqwest::Client, url: &str, body: String) -> (u16, String) {
        let der = mdmkit::apple::cms::sign_detached(body.as_bytes(), &self.signer).unwrap();
        let sig = base64::engine::general_purpose::STANDARD.encode(der);
        let r = c
            .put(url)
            .header("Mdm-Signature", sig)
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// What a woken iPad does: Idle, then acknowledge each command until
    /// none is left; the command kinds received.
    async fn check_in(&self, c: &reqwest::Client, base: &str) -> Vec<String> {
        let url = format!("{base}/{TENANT}/apple/mdm");
        let mut body = plist(&format!(
            "<key>UDID</key><string>{}</string><key>Status</key><string>Idle</string>",
            self.udid
        ));
        let mut kinds = Vec::new();
        for _ in 0..50 {
            let (status, text) = self.put(c, &url, body).await;
            assert_eq!(status, 200, "{text}");
            if text.is_empty() {
                return kinds;
            }
            let uuid = between(&text, "<key>CommandUUID</key>", "</string>")
                .trim_start_matches(|ch: char| ch.is_whitespace())
                .trim_start_matches("<string>")
                .to_owned();
            let kind = between(&text, "<key>RequestType</key>", "</string>")
                .trim_start_matches(|ch: char| ch.is_whitespace())
                .trim_start_matches("<string>")
                .to_owned();
            kinds.push(kind);
            body = plist(&format!(
                "<key>UDID</key><string>{}</string><key>Status</key><string>Acknowledged</string>\
                 <key>CommandUUID</key><string>{uuid}</string>",
                self.udid
            ));
        }
        panic!("no end to the commands");
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let i = s.find(start).map_or(0, |i| i + start.len());
    let rest = &s[i..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
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

fn base_tree() -> Tenant {
    let mut tree = Tenant::new(TenantId::new(TENANT).unwrap());
    tree.add_node(n("school-1"), &n(TENANT), None, None)
        .unwrap();
    tree.add_node(n("school-2"), &n(TENANT), None, None)
        .unwrap();
    tree.set_policy(
        Policy::from_toml("[policy]\nid = \"floor\"\n[passcode]\nmin_length = 6\n").unwrap(),
    );
    tree.assign(&n(TENANT), "floor".parse().unwrap()).unwrap();
    tree
}

struct Fixture {
    base: String,
    app: AppState,
    emu: ApnsEmulator,
    tree: Arc<Mutex<Tenant>>,
    state: Arc<dyn StateStore>,
    ipads: Vec<Ipad>,
    client: reqwest::Client,
    /// Bearer tokens at the root: author, operate, read; and an author at
    /// school-1.
    author: String,
    operate: String,
    read: String,
    school_author: String,
    cert: TestCertificate,
}

impl Fixture {
    /// A server whose tenant pushes through a fresh emulator with `config`
    /// (its APNs replaced by the emulator's), the certificate of `TOPIC`
    /// uploaded, and three iPads enrolled (two at school-1, one at
    /// school-2) that fetched their first commands.
    async fn start(config: PushConfig) -> Fixture {
        let emu = ApnsEmulator::start().await.unwrap();
        let queue: Arc<dyn QueueStore> = Arc::new(MemoryStore::new());
        let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
        let tree = Arc::new(Mutex::new(base_tree()));
        let ca = CaBuilder::new(TenantId::new(TENANT).unwrap())
            .algorithm(KeyAlgorithm::P256)
            .build()
            .unwrap();
        let reconciler: Arc<DynReconciler> =
            Arc::new(Reconciler::new(queue.clone(), state.clone()));
        let loader = tree.clone();
        let ctx = TenantContext::new(base_tree(), ca.verifier(), reconciler)
            .with_loader(move || Ok(loader.lock().unwrap().clone()))
            .with_push(PushService::new(config.with_apns(emu.config())));
        let bearer = |node: &str, role: Role| {
            let issued = access::issue(
                TenantId::new(TENANT).unwrap(),
                n(node),
                role,
                None,
                Timestamp::from_millis(0),
            );
            (issued.token, issued.bearer)
        };
        let mut tokens = Vec::new();
        for (node, role) in [
            (TENANT, Role::Author),
            (TENANT, Role::Operate),
            (TENANT, Role::Read),
            ("school-1", Role::Author),
            (TENANT, Role::Enroll),
            ("school-1", Role::Enroll),
            ("school-2", Role::Enroll),
        ] {
            let (t, b) = bearer(node, role);
            state.put_token(&t).await.unwrap();
            tokens.push(b);
        }
        let mut tenants = Tenants::new();
        tenants.insert(ctx);
        let app = AppState::new(tenants, ServerConfig::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(mdmkit_server::serve::serve(
            listener,
            mdmkit_server::router(app.clone()),
            None,
            std::future::pending(),
        ));
        let cert = test_push_certificate(TOPIC, 365);
        mdmkit_server::push::set_certificate(
            state.as_ref(),
            &TenantId::new(TENANT).unwrap(),
            &cert.cert_pem,
            &cert.key_pem,
            false,
            "test",
        )
        .await
        .unwrap();
        let client = reqwest::Client::new();
        let mut ipads = Vec::new();
        for (i, node) in ["school-1", "school-1", "school-2"].iter().enumerate() {
            let udid = format!("ipad-{i}");
            ipads.push(Ipad {
                token: format!("00aa{i:02x}bb{i:02x}cc0{i}dd"),
                node: (*node).to_owned(),
                signer: issue(&ca, &udid),
                udid,
            });
        }
        let f = Fixture {
            base,
            app,
            emu,
            tree,
            state,
            client,
            author: tokens[0].clone(),
            operate: tokens[1].clone(),
            read: tokens[2].clone(),
            school_author: tokens[3].clone(),
            cert,
            ipads: Vec::new(),
        };
        let enroll = |node: &str| match node {
            "school-1" => tokens[5].clone(),
            _ => tokens[6].clone(),
        };
        for ipad in &ipads {
            let url = format!(
                "{}/{TENANT}/apple/checkin?enroll={}",
                f.base,
                enroll(&ipad.node)
            );
            assert_eq!(ipad.put(&f.client, &url, ipad.authenticate()).await.0, 200);
            assert_eq!(
                ipad.put(&f.client, &url, ipad.token_update(TOPIC)).await.0,
                200
            );
            let first = ipad.check_in(&f.client, &f.base).await;
            assert!(!first.is_empty(), "the floor policy was delivered");
        }
        Fixture { ipads, ..f }
    }

    fn ctx(&self) -> Arc<TenantContext> {
        self.app.tenants().get(TENANT).unwrap()
    }

    fn devices(&self, which: &[usize]) -> Vec<DeviceId> {
        which
            .iter()
            .map(|i| DeviceId::new(&self.ipads[*i].udid).unwrap())
            .collect()
    }

    async fn wake(&self, which: &[usize]) -> mdmkit_server::push::WakeReport {
        let ctx = self.ctx();
        ctx.push()
            .unwrap()
            .wake(&ctx, &self.devices(which))
            .await
            .unwrap()
    }

    async fn sweep(&self) -> mdmkit_server::push::WakeReport {
        let ctx = self.ctx();
        ctx.push().unwrap().sweep(&ctx).await.unwrap()
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        bearer: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, String) {
        let mut r = self
            .client
            .request(method, format!("{}/{TENANT}/admin/v1/{path}", self.base))
            .bearer_auth(bearer);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn push_status(&self) -> serde_json::Value {
        let (s, body) = self
            .admin(reqwest::Method::GET, &self.read, "push/certificate", None)
            .await;
        assert_eq!(s, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

fn quick() -> PushConfig {
    PushConfig::new()
        .with_min_interval(Duration::ZERO)
        .with_backoff(Duration::from_millis(200), Duration::from_secs(2))
}

#[tokio::test]
async fn a_policy_change_at_a_school_wakes_exactly_its_ipads_which_get_their_commands() {
    let f = Fixture::start(quick()).await;
    assert!(f.emu.pushes().is_empty(), "nothing was pushed yet");
    {
        let mut t = f.tree.lock().unwrap();
        t.set_policy(
            Policy::from_toml("[policy]\nid = \"s1\"\n[passcode]\nmin_length = 10\n").unwrap(),
        );
        t.assign(&n("school-1"), "s1".parse().unwrap()).unwrap();
    }
    let (s, body) = f
        .admin(
            reqwest::Method::POST,
            &f.operate,
            "reconcile",
            Some(serde_json::json!({"node": "school-1"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let pushes = f.emu.wait_for_pushes(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pushes_now = f.emu.pushes();
    assert_eq!(pushes_now.len(), 2, "{pushes:?}");
    let mut tokens: Vec<&str> = pushes_now.iter().map(|p| p.token.as_str()).collect();
    tokens.sort_unstable();
    let mut want = vec![f.ipads[0].token.as_str(), f.ipads[1].token.as_str()];
    want.sort_unstable();
    assert_eq!(tokens, want);
    for p in &pushes_now {
        assert_eq!(p.status, 200);
        assert_eq!(p.topic.as_deref(), Some(TOPIC));
        assert_eq!(p.push_type.as_deref(), Some("mdm"));
        assert_eq!(p.priority.as_deref(), Some("10"));
        let exp: u64 = p.expiration.as_deref().unwrap().parse().unwrap();
        assert!(exp > 1_700_000_000);
        assert!(p.push_magic.as_deref().unwrap().starts_with("magic-ipad-"));
    }
    // The woken iPads check in and receive the school's command; the
    // other school's iPad has nothing new.
    for i in [0, 1] {
        let got = f.ipads[i].check_in(&f.client, &f.base).await;
        assert!(got.iter().any(|k| k == "InstallProfile"), "{got:?}");
    }
    assert!(f.ipads[2].check_in(&f.client, &f.base).await.is_empty());
    let st = f.push_status().await;
    assert_eq!(st["pushed"], 2);
    assert_eq!(st["awaiting_check_in"], 0, "{st}");
    assert_eq!(st["certificate"]["topic"], TOPIC);
    assert!(!st.to_string().contains("PRIVATE KEY"));

    // An admin command wakes its device.
    let (s, body) = f
        .admin(
            reqwest::Method::POST,
            &f.operate,
            &format!("devices/{}/commands", f.ipads[2].udid),
            Some(serde_json::json!({"kind": "DeviceInformation"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let pushes = f.emu.wait_for_pushes(3, Duration::from_secs(10)).await;
    assert_eq!(pushes.last().unwrap().token, f.ipads[2].token);
    assert_eq!(
        f.ipads[2].check_in(&f.client, &f.base).await,
        ["DeviceInformation"]
    );
}

#[tokio::test]
async fn a_dead_token_stops_pushes_until_the_next_token_update() {
    let f = Fixture::start(quick()).await;
    f.emu.unregister(&f.ipads[0].token);
    f.emu.bad_token(&f.ipads[1].token);
    let r = f.wake(&[0, 1, 2]).await;
    assert_eq!(r.count("token-dead"), 2, "{r:?}");
    assert_eq!(r.count("delivered"), 1, "{r:?}");
    let before = f.emu.pushes().len();
    let r = f.wake(&[0, 1]).await;
    assert_eq!(r.skipped("token-dead"), 2, "{r:?}");
    assert_eq!(f.emu.pushes().len(), before, "no push to a dead token");
    assert_eq!(f.push_status().await["dead_tokens"], 2);

    // A TokenUpdate (here with the same token, which APNs took back)
    // makes the device pushable again.
    let url = format!("{}/{TENANT}/apple/checkin", f.base);
    assert_eq!(
        f.ipads[1]
            .put(&f.client, &url, f.ipads[1].token_update(TOPIC))
            .await
            .0,
        200
    );
    let r = f.wake(&[0, 1]).await;
    assert_eq!(r.skipped("token-dead"), 1, "{r:?}");
    assert_eq!(
        r.count("token-dead"),
        1,
        "the emulator still refuses it: {r:?}"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_by_the_sweep_after_a_backoff() {
    let f = Fixture::start(quick()).await;
    f.emu.fail_next(Reason::TooManyRequests, 1, None);
    f.emu.fail_next(Reason::ServiceUnavailable, 1, None);
    let r = f.wake(&[0, 1]).await;
    assert_eq!(r.count("retry"), 2, "{r:?}");
    assert_eq!(f.push_status().await["pending"], 2);
    // Not yet: the backoff has not passed.
    assert!(f.sweep().await.outcomes.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = f.sweep().await;
    assert_eq!(r.count("delivered"), 2, "{r:?}");
    assert_eq!(f.push_status().await["pending"], 0);
    assert!(f.sweep().await.outcomes.is_empty());
}

#[tokio::test]
async fn a_refused_certificate_alerts_and_a_new_one_is_used_by_the_next_push() {
    let f = Fixture::start(quick()).await;
    let old = mdmkit::apple::apns::certificate::PushCertificate::from_pem(
        f.cert.cert_pem.as_bytes(),
        f.cert.key_pem.as_bytes(),
    )
    .unwrap();
    f.emu.revoke(old.sha256());
    let r = f.wake(&[0]).await;
    assert_eq!(r.count("certificate"), 1, "{r:?}");
    let st = f.push_status().await;
    assert_eq!(st["certificate"]["alert"], "BadCertificate", "{st}");
    // Held: nothing goes out with a refused certificate.
    let before = f.emu.pushes().len();
    let r = f.wake(&[1]).await;
    assert_eq!(r.skipped("certificate"), 1, "{r:?}");
    assert_eq!(f.emu.pushes().len(), before);

    // A renewed certificate (same topic) through the admin API: the alert
    // goes, and the owed pushes go out with it, without a restart.
    let renewed = test_push_certificate(TOPIC, 365);
    let (s, body) = f
        .admin(
            reqwest::Method::PUT,
            &f.author,
            "push/certificate",
            Some(serde_json::json!({"certificate": renewed.cert_pem, "key": renewed.key_pem})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let up: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(up["replaced"], old.sha256());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = f.sweep().await;
    assert_eq!(r.count("delivered"), 2, "{r:?}");
    let last = f.emu.pushes();
    assert_eq!(
        last.last().unwrap().certificate_sha256.as_deref(),
        Some(up["sha256"].as_str().unwrap())
    );
    assert_eq!(
        f.push_status().await["certificate"]["alert"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn a_topic_change_is_refused_unless_forced_and_only_by_an_author_at_the_root() {
    let f = Fixture::start(quick()).await;
    let other = test_push_certificate("com.apple.mgmt.External.someone-else", 365);
    let body = serde_json::json!({"certificate": other.cert_pem, "key": other.key_pem});
    let put = |bearer: &str, body: serde_json::Value| {
        let bearer = bearer.to_owned();
        let f = &f;
        async move {
            f.admin(
                reqwest::Method::PUT,
                &bearer,
                "push/certificate",
                Some(body),
            )
            .await
        }
    };
    assert_eq!(put(&f.operate, body.clone()).await.0, 403);
    assert_eq!(put(&f.read, body.clone()).await.0, 403);
    assert_eq!(put(&f.school_author, body.clone()).await.0, 403);
    let (s, text) = put(&f.author, body.clone()).await;
    assert_eq!(s, 409, "{text}");
    assert!(text.contains("3 enrolled device"), "{text}");
    assert_eq!(f.push_status().await["certificate"]["topic"], TOPIC);
    // A key that is not the certificate's.
    let (s, text) = put(
        &f.author,
        serde_json::json!({"certificate": f.cert.cert_pem, "key": other.key_pem}),
    )
    .await;
    assert_eq!(s, 400, "{text}");
    assert!(text.contains("does not belong"), "{text}");
    // Forced: stored, and the stranded devices are not pushed.
    let mut forced = body.clone();
    forced["force"] = true.into();
    let (s, text) = put(&f.author, forced).await;
    assert_eq!(s, 200, "{text}");
    let up: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(up["stranded"], 3);
    let st = f.push_status().await;
    assert_eq!(st["stranded"], 3, "{st}");
    let r = f.wake(&[0, 1, 2]).await;
    assert_eq!(r.skipped("stranded"), 3, "{r:?}");
    assert!(f.emu.pushes().is_empty());
}

#[tokio::test]
async fn pushes_are_rate_limited_and_an_unanswering_device_is_flagged() {
    let f = Fixture::start(
        PushConfig::new()
            .with_min_interval(Duration::from_millis(300))
            .with_max_unanswered(2),
    )
    .await;
    // The device was last seen an hour ago.
    let tenant = TenantId::new(TENANT).unwrap();
    let dev = DeviceId::new(&f.ipads[0].udid).unwrap();
    let mut e = f.state.enrollment(&tenant, &dev).await.unwrap().unwrap();
    e.last_seen = SystemClock.now().minus(Duration::from_secs(3600));
    f.state.put_enrollment(&tenant, &e).await.unwrap();

    assert_eq!(f.wake(&[0]).await.count("delivered"), 1);
    // Within the rate limit: owed, not sent.
    let r = f.wake(&[0]).await;
    assert_eq!(r.skipped("not-yet"), 1, "{r:?}");
    assert_eq!(f.emu.pushes().len(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(f.sweep().await.count("delivered"), 1, "the owed push");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let r = f.wake(&[0]).await;
    assert_eq!(r.flagged, std::slice::from_ref(&dev), "{r:?}");
    assert_eq!(f.emu.pushes().len(), 2);
    assert_eq!(
        f.push_status().await["flagged"],
        serde_json::json!([dev.as_str()])
    );

    // It checks in (after the server's one-second enrollment cache
    // forgot the record this test rewrote behind its back): no longer
    // flagged, pushed again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    f.ipads[0].check_in(&f.client, &f.base).await;
    let r = f.wake(&[0]).await;
    assert_eq!(r.count("delivered"), 1, "{r:?}");
    assert_eq!(f.push_status().await["flagged"], serde_json::json!([]));
}

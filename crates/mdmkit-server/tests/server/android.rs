//! Android over real HTTP on loopback: the Google emulator plays AMAPI,
//! its OAuth endpoint and Pub/Sub (signed push tokens); the server
//! enrolls a tablet from its ENROLLMENT notification under the node of
//! its token, patches its policy through the client, and verifies it
//! from the STATUS_REPORT. Duplicates, late messages, a 429 storm, a
//! rejected policy and bad pushes are each checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use mdmkit::android::client::{
    AmapiClient, Credentials, PushVerifier, RetryPolicy, ServiceAccountKey,
};
use mdmkit::android::emulator::{Emulator, Fault};
use mdmkit::android::enrollment::EnrollmentTokenRequest;
use mdmkit::android::names::EnterpriseName;
use mdmkit::android::oidc::Expectation;
use mdmkit::android::pubsub::{EnrollmentBinding, envelope};
use mdmkit::identity::{CaBuilder, KeyAlgorithm};
use mdmkit::policy::{NodeId, Policy, Tenant};
use mdmkit::queue::MemoryStore;
use mdmkit::state::{ComplianceState, MemoryState};
use mdmkit::{DeviceId, Reconciler, TenantId};
use mdmkit_server::android::AndroidService;
use mdmkit_server::{AppState, DynReconciler, ServerConfig, TenantContext, Tenants};

const ENTERPRISE: &str = "enterprises/LC01";

struct Fixture {
    emu: Emulator,
    base: String,
    audience: String,
    reconciler: Arc<DynReconciler>,
    client: Arc<AmapiClient>,
    http: reqwest::Client,
}

fn n(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn tree(t: &str) -> Tenant {
    let mut tree = Tenant::new(TenantId::new(t).unwrap());
    tree.add_node(n("school-1"), &n(t), None, None).unwrap();
    tree.set_policy(
        Policy::from_toml(
            "[policy]\nid = \"pupils\"\n[passcode]\nmin_length = 6\n[restrictions]\ncamera = \"deny\"\n",
        )
        .unwrap(),
    );
    tree.assign(&n("school-1"), "pupils".parse().unwrap())
        .unwrap();
    tree
}

async fn fixture() -> Fixture {
    let emu = Emulator::start().await.unwrap();
    let key = ServiceAccountKey::parse(&emu.service_account_key()).unwrap();
    let client = Arc::new(
        AmapiClient::builder(Credentials::ServiceAccount(key))
            .base_url(emu.base_url())
            .retry(
                RetryPolicy::default()
                    .with_delays(Duration::from_millis(1), Duration::from_millis(5))
                    .with_max_retry_after(Duration::from_millis(5)),
            )
            .build()
            .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let audience = format!("{base}/town/android/pubsub");
    let verifier = PushVerifier::new(
        Expectation::google(audience.clone()).with_issuer(emu.issuer()),
        emu.jwks_url(),
    )
    .unwrap();
    let reconciler: Arc<DynReconciler> = Arc::new(Reconciler::new(
        Arc::new(MemoryStore::new()) as Arc<dyn mdmkit::queue::QueueStore>,
        Arc::new(MemoryState::new()) as Arc<dyn mdmkit::state::StateStore>,
    ));
    let mut tenants = Tenants::new();
    for t in ["town", "village"] {
        let ca = CaBuilder::new(TenantId::new(t).unwrap())
            .algorithm(KeyAlgorithm::P256)
            .build()
            .unwrap();
        let mut ctx = TenantContext::new(tree(t), ca.verifier(), reconciler.clone());
        if t == "town" {
            ctx = ctx.with_android(AndroidService::new(
                EnterpriseName::parse(ENTERPRISE).unwrap(),
                client.clone(),
                PushVerifier::new(
                    Expectation::google(audience.clone()).with_issuer(emu.issuer()),
                    emu.jwks_url(),
                )
                .unwrap(),
            ));
        }
        tenants.insert(ctx);
    }
    drop(verifier);
    let app = mdmkit_server::router(AppState::new(tenants, ServerConfig::new()));
    tokio::spawn(mdmkit_server::serve::serve(
        listener,
        app,
        None,
        std::future::pending(),
    ));
    Fixture {
        emu,
        base,
        audience,
        reconciler,
        client,
        http: reqwest::Client::new(),
    }
}

impl Fixture {
    /// A token for `node` of `tenant`, and a device enrolled with it.
    async fn enroll(&self, tenant: &str, node: &str, id: &str) -> serde_json::Value {
        let ent = EnterpriseName::parse(ENTERPRISE).unwrap();
        let binding = EnrollmentBinding::new(TenantId::new(tenant).unwrap(), n(node));
        let token = self
            .client
            .create_enrollment_token(
                &ent,
                &EnrollmentTokenRequest::new(ent.policy("default").unwrap())
                    .additional_data(binding.to_data()),
            )
            .await
            .unwrap();
        self.emu
            .enroll(&token.value.unwrap(), id, "R9SERIAL")
            .unwrap()
    }

    async fn push(
        &self,
        tenant: &str,
        kind: &str,
        data: &serde_json::Value,
        bearer: Option<String>,
    ) -> u16 {
        let body = envelope(
            kind,
            data.to_string().as_bytes(),
            "4711",
            "projects/p/subscriptions/s",
        );
        self.push_raw(tenant, body, bearer).await
    }

    async fn push_raw(&self, tenant: &str, body: Vec<u8>, bearer: Option<String>) -> u16 {
        let mut r = self
            .http
            .post(format!("{}/{tenant}/android/pubsub", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        r.send().await.unwrap().status().as_u16()
    }

    fn token(&self) -> Option<String> {
        Some(self.emu.push_token(&self.audience, now()))
    }

    async fn states(&self, device: &str) -> Vec<(ComplianceState, Option<String>)> {
        let d = DeviceId::new(device).unwrap();
        self.reconciler
            .state()
            .compliance(&TenantId::new("town").unwrap(), Some(&d))
            .await
            .unwrap()
            .into_iter()
            .map(|(_, s)| (s.state, s.error))
            .collect()
    }
}

#[tokio::test]
async fn an_enrolled_tablet_gets_its_schools_policy_and_is_verified_from_its_report() {
    let f = fixture().await;
    let dev = f.enroll("town", "school-1", "d1").await;
    let name = format!("{ENTERPRISE}/devices/d1");
    // A report before the enrollment notification (out of order) is harmless.
    assert_eq!(f.push("town", "STATUS_REPORT", &dev, f.token()).await, 204);
    // Google is busy when the enrollment arrives: the client waits it out.
    f.emu.inject([
        Fault::TooManyRequests { retry_after: 30 },
        Fault::ServerError(503),
        Fault::TooManyRequests { retry_after: 1 },
    ]);
    assert_eq!(f.push("town", "ENROLLMENT", &dev, f.token()).await, 204);

    let e = f
        .reconciler
        .state()
        .enrollment(
            &TenantId::new("town").unwrap(),
            &DeviceId::new(&name).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.node, n("school-1"));
    assert_eq!(e.serial.as_deref(), Some("R9SERIAL"));
    let policy = f
        .emu
        .policy(&format!("{ENTERPRISE}/policies/mdmkit-d1"))
        .unwrap();
    assert!(policy.get("passwordPolicies").is_some(), "{policy}");
    assert_eq!(
        f.emu.device(&name).unwrap()["policyName"],
        format!("{ENTERPRISE}/policies/mdmkit-d1")
    );
    let states = f.states(&name).await;
    assert!(
        !states.is_empty() && states.iter().all(|(s, _)| *s == ComplianceState::Sent),
        "{states:?}"
    );

    // Google had no policy for the device: created whole, without a mask.
    let first_patch = f
        .emu
        .served()
        .into_iter()
        .find(|s| s.method == "PATCH")
        .unwrap();
    assert!(!first_patch.path.contains("updateMask"), "{first_patch:?}");

    // The device still reports the token's policy: nothing verifies.
    assert_eq!(f.push("town", "STATUS_REPORT", &dev, f.token()).await, 204);
    assert!(
        f.states(&name)
            .await
            .iter()
            .all(|(s, _)| *s == ComplianceState::Sent)
    );

    // It applies its own policy and reports: verified.
    let report = f.emu.status_report(&name, &[]).unwrap();
    assert_eq!(
        f.push("town", "STATUS_REPORT", &report, f.token()).await,
        204
    );
    let states = f.states(&name).await;
    assert!(
        states.iter().all(|(s, _)| *s == ComplianceState::Verified),
        "{states:?}"
    );

    // Duplicates and the stale first report change nothing.
    let patches = f
        .emu
        .served()
        .iter()
        .filter(|s| s.method == "PATCH")
        .count();
    assert_eq!(f.push("town", "ENROLLMENT", &dev, f.token()).await, 204);
    assert_eq!(f.push("town", "STATUS_REPORT", &dev, f.token()).await, 204);
    assert_eq!(
        f.push("town", "STATUS_REPORT", &report, f.token()).await,
        204
    );
    assert!(
        f.states(&name)
            .await
            .iter()
            .all(|(s, _)| *s == ComplianceState::Verified)
    );
    assert_eq!(
        f.emu
            .served()
            .iter()
            .filter(|s| s.method == "PATCH")
            .count(),
        patches
    );
    let e2 = f
        .reconciler
        .state()
        .enrollment(
            &TenantId::new("town").unwrap(),
            &DeviceId::new(&name).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((e2.node, e2.enrolled_at), (e.node, e.enrolled_at));

    // The school's passcode gets longer: the next delivery (on the next
    // report) patches only that field of the device's policy.
    let mut stricter = tree("town");
    stricter.set_policy(
        Policy::from_toml(
            "[policy]\nid = \"pupils\"\n[passcode]\nmin_length = 8\n[restrictions]\ncamera = \"deny\"\n",
        )
        .unwrap(),
    );
    let plan = f
        .reconciler
        .reconcile(
            &stricter,
            &mdmkit::Scope::Devices(vec![DeviceId::new(&name).unwrap()]),
        )
        .await
        .unwrap();
    assert_eq!(plan.queued, 1);
    assert_eq!(
        f.push("town", "STATUS_REPORT", &report, f.token()).await,
        204
    );
    let last = f
        .emu
        .served()
        .into_iter()
        .rfind(|s| s.method == "PATCH")
        .unwrap();
    assert!(policy.get("cameraAccess").is_some(), "{policy}");
    let mask = last
        .path
        .split("updateMask=")
        .nth(1)
        .unwrap_or_else(|| panic!("{last:?}"));
    assert_eq!(mask, "passwordPolicies", "{last:?}");
    let held = f
        .emu
        .policy(&format!("{ENTERPRISE}/policies/mdmkit-d1"))
        .unwrap();
    assert_eq!(held["cameraAccess"], policy["cameraAccess"]);
    assert_eq!(
        f.states(&name)
            .await
            .iter()
            .filter(|(s, _)| *s == ComplianceState::Sent)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_rejected_policy_fails_with_googles_reason() {
    let f = fixture().await;
    f.emu.reject_policy_field(
        "passwordPolicies",
        "Invalid value at 'policy.password_policies[0]': not allowed for this enterprise",
    );
    let dev = f.enroll("town", "school-1", "d2").await;
    assert_eq!(f.push("town", "ENROLLMENT", &dev, f.token()).await, 204);
    let states = f.states(&format!("{ENTERPRISE}/devices/d2")).await;
    assert!(!states.is_empty());
    for (s, err) in states {
        assert_eq!(s, ComplianceState::Failed);
        let err = err.unwrap();
        assert!(
            err.contains("INVALID_ARGUMENT") && err.contains("not allowed for this enterprise"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn bad_pushes_are_refused_without_a_500() {
    let f = fixture().await;
    let dev = f.enroll("town", "school-1", "d3").await;
    // No token, a forged one, one for another audience.
    assert_eq!(f.push("town", "ENROLLMENT", &dev, None).await, 401);
    let forged = f.emu.forged_push_token(&f.audience, now());
    assert_eq!(f.push("town", "ENROLLMENT", &dev, Some(forged)).await, 401);
    let elsewhere = f.emu.push_token("https://elsewhere.example/", now());
    assert_eq!(
        f.push("town", "ENROLLMENT", &dev, Some(elsewhere)).await,
        401
    );
    let expired = f.emu.push_token(&f.audience, now() - 7200);
    assert_eq!(f.push("town", "ENROLLMENT", &dev, Some(expired)).await, 401);
    // Authenticated but malformed.
    for body in [&b"{"[..], b"[]", br#"{"message":{"messageId":"1","attributes":{"notificationType":"ENROLLMENT"},"data":"e30K"}}"#] {
        assert_eq!(f.push_raw("town", body.to_vec(), f.token()).await, 400);
    }
    // A token of another tenant, a node the tree lacks, another enterprise.
    let other = f.enroll("village", "school-1", "d4").await;
    assert_eq!(f.push("town", "ENROLLMENT", &other, f.token()).await, 400);
    let lost = f.enroll("town", "school-9", "d5").await;
    assert_eq!(f.push("town", "ENROLLMENT", &lost, f.token()).await, 400);
    let mut foreign = dev.clone();
    foreign["name"] = "enterprises/LC99/devices/d3".into();
    assert_eq!(
        f.push("town", "STATUS_REPORT", &foreign, f.token()).await,
        400
    );
    // A tenant without Android configuration, and no tenant at all.
    assert_eq!(f.push("village", "ENROLLMENT", &dev, f.token()).await, 404);
    assert_eq!(f.push("nowhere", "ENROLLMENT", &dev, f.token()).await, 404);
    // Test and unknown notifications are acknowledged.
    let test = br#"{"message":{"messageId":"9","attributes":{"notificationType":"test"}}}"#;
    assert_eq!(f.push_raw("town", test.to_vec(), f.token()).await, 204);
    assert!(
        f.states(&format!("{ENTERPRISE}/devices/d3"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_unreachable_key_set_is_a_503_so_that_pubsub_tries_again() {
    let emu = Emulator::start().await.unwrap();
    let key = ServiceAccountKey::parse(&emu.service_account_key()).unwrap();
    let client = Arc::new(
        AmapiClient::builder(Credentials::ServiceAccount(key))
            .base_url(emu.base_url())
            .build()
            .unwrap(),
    );
    // A port nothing listens on: bind one, then let it go.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let audience = "https://mdm.test/town/android/pubsub";
    let ca = CaBuilder::new(TenantId::new("town").unwrap())
        .algorithm(KeyAlgorithm::P256)
        .build()
        .unwrap();
    let reconciler: Arc<DynReconciler> = Arc::new(Reconciler::new(
        Arc::new(MemoryStore::new()) as Arc<dyn mdmkit::queue::QueueStore>,
        Arc::new(MemoryState::new()) as Arc<dyn mdmkit::state::StateStore>,
    ));
    let ctx = TenantContext::new(tree("town"), ca.verifier(), reconciler).with_android(
        AndroidService::new(
            EnterpriseName::parse(ENTERPRISE).unwrap(),
            client,
            PushVerifier::new(
                Expectation::google(audience).with_issuer(emu.issuer()),
                format!("http://{closed}/jwks"),
            )
            .unwrap(),
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = mdmkit_server::router(AppState::new(Tenants::new().with(ctx), ServerConfig::new()));
    tokio::spawn(mdmkit_server::serve::serve(
        listener,
        app,
        None,
        std::future::pending(),
    ));
    let status = reqwest::Client::new()
        .post(format!("{base}/town/android/pubsub"))
        .bearer_auth(emu.push_token(audience, now()))
        .body(envelope("test", b"", "1", "s"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 503);
}

#[tokio::test]
async fn drain_tenant_delivers_what_a_reconcile_queued_without_a_notification() {
    let f = fixture().await;
    // A tablet enrolled at Google whose notification never came: an
    // operator records it (as devices.toml would list it).
    let dev = f.enroll("town", "school-1", "d7").await;
    let name = dev["name"].as_str().unwrap().to_owned();
    let id = DeviceId::new(&name).unwrap();
    let town = TenantId::new("town").unwrap();
    let e = mdmkit::inventory::Enrollment::new(
        id.clone(),
        mdmkit::Platform::Android,
        n("school-1"),
        mdmkit::queue::Timestamp::from_millis(1),
    );
    f.reconciler
        .state()
        .put_enrollment(&town, &e)
        .await
        .unwrap();
    let ca = CaBuilder::new(town.clone())
        .algorithm(KeyAlgorithm::P256)
        .build()
        .unwrap();
    let ctx = TenantContext::new(tree("town"), ca.verifier(), f.reconciler.clone()).with_android(
        AndroidService::new(
            EnterpriseName::parse(ENTERPRISE).unwrap(),
            f.client.clone(),
            PushVerifier::new(Expectation::google(f.audience.clone()), f.emu.jwks_url()).unwrap(),
        ),
    );
    let plan = f
        .reconciler
        .reconcile(&ctx.tree(), &mdmkit::Scope::Devices(vec![id.clone()]))
        .await
        .unwrap();
    assert_eq!(plan.queued, 1);
    let done = mdmkit_server::android::drain_tenant(&ctx, ctx.android().unwrap())
        .await
        .unwrap();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(
        (&done[0].0, done[0].1.accepted, done[0].1.deferred),
        (&id, 1, false)
    );
    assert!(
        f.emu
            .policy(&format!("{ENTERPRISE}/policies/mdmkit-d7"))
            .is_some()
    );
    // Nothing left: a second drain does nothing.
    let again = mdmkit_server::android::drain_tenant(&ctx, ctx.android().unwrap())
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
}

/// The state of a device's command in its queue.
async fn command_state(
    f: &Fixture,
    device: &DeviceId,
    id: &str,
) -> Option<mdmkit::queue::CommandState> {
    f.reconciler
        .queue()
        .list(
            &TenantId::new("town").unwrap(),
            &mdmkit::queue::EnrollmentId::device(device.clone()),
        )
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.id.to_string() == id)
        .map(|e| e.state)
}

/// Waits (up to 10 s) until Google holds `n` operations for `device`.
async fn operations(f: &Fixture, device: &str, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..200 {
        let ops = f.emu.operations(device);
        if ops.len() >= n {
            return ops;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("Google never got operation {n} for {device}");
}

#[tokio::test]
async fn an_operators_lock_is_issued_through_google_and_answered_by_the_command_notification() {
    let f = fixture().await;
    let dev = f.enroll("town", "school-1", "d8").await;
    assert_eq!(f.push("town", "ENROLLMENT", &dev, f.token()).await, 204);
    let name = dev["name"].as_str().unwrap().to_owned();
    let id = DeviceId::new(&name).unwrap();
    let town = TenantId::new("town").unwrap();
    let issued = mdmkit::access::issue(
        town.clone(),
        n("town"),
        mdmkit::access::Role::Operate,
        None,
        mdmkit::queue::Timestamp::from_millis(0),
    );
    f.reconciler.state().put_token(&issued.token).await.unwrap();
    let command = |kind: &'static str| {
        let req = f
            .http
            .post(format!(
                "{}/town/admin/v1/devices/{}/commands",
                f.base,
                name.replace('/', "%2F")
            ))
            .bearer_auth(&issued.bearer)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "kind": kind }).to_string());
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_str(&r.text().await.unwrap()).unwrap_or_default();
            (status, body)
        }
    };

    // A kind Google has no command for is refused, not queued.
    let (status, body) = command("EraseDevice").await;
    assert_eq!(status, 400, "{body}");

    // The lock is issued at once; the device has not run it yet.
    let (status, body) = command("DeviceLock").await;
    assert_eq!(status, 200, "{body}");
    let lock = body["id"].as_str().unwrap().to_owned();
    let ops = operations(&f, &name, 1).await;
    assert_eq!(ops[0]["metadata"]["type"], "LOCK");
    assert_eq!(ops[0]["done"], false);
    assert_eq!(
        command_state(&f, &id, &lock).await,
        Some(mdmkit::queue::CommandState::Delivered)
    );

    // The device runs it; Pub/Sub brings the COMMAND notification.
    let done = f
        .emu
        .run_operation(ops[0]["name"].as_str().unwrap(), None)
        .unwrap();
    assert_eq!(f.push("town", "COMMAND", &done, f.token()).await, 204);
    assert_eq!(
        command_state(&f, &id, &lock).await,
        Some(mdmkit::queue::CommandState::Acknowledged)
    );
    // A duplicate delivery of it is harmless.
    assert_eq!(f.push("town", "COMMAND", &done, f.token()).await, 204);
    assert_eq!(
        command_state(&f, &id, &lock).await,
        Some(mdmkit::queue::CommandState::Acknowledged)
    );

    // A reboot the device cannot run fails with Google's reason.
    let (status, body) = command("RestartDevice").await;
    assert_eq!(status, 200, "{body}");
    let reboot = body["id"].as_str().unwrap().to_owned();
    let ops = operations(&f, &name, 2).await;
    assert_eq!(ops[1]["metadata"]["type"], "REBOOT");
    let failed = f
        .emu
        .run_operation(
            ops[1]["name"].as_str().unwrap(),
            Some("Reboot needs a fully managed device."),
        )
        .unwrap();
    assert_eq!(f.push("town", "COMMAND", &failed, f.token()).await, 204);
    assert_eq!(
        command_state(&f, &id, &reboot).await,
        Some(mdmkit::queue::CommandState::Error)
    );

    // An operation of another enterprise is refused without a 500.
    let mut foreign = failed.clone();
    foreign["name"] = serde_json::Value::from("enterprises/OTHER/devices/x/operations/1");
    assert_eq!(f.push("town", "COMMAND", &foreign, f.token()).await, 400);
}

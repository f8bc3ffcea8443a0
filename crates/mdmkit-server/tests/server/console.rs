//! The console over real HTTP on loopback ports, on SQLite and on
//! PostgreSQL: two servers (two "processes": their own routers and
//! caches) on one store and one console key, two tenants with the same
//! node names. A session opened at one server is good at the other; a
//! session is bound to its tenant and its token (revoking the token ends
//! it); a node outside the token's subtree is a 404; a form without its
//! CSRF token is refused and queues nothing; a lock with it is queued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mdmkit::access::{self, Role};
use mdmkit::identity::{CaBuilder, KeyAlgorithm};
use mdmkit::policy::{Device, NodeId, Tenant};
use mdmkit::queue::{EnrollmentId, QueueStore, Timestamp};
use mdmkit::state::StateStore;
use mdmkit::{DeviceId, Platform, Reconciler, TenantId};
use mdmkit_server::console::SessionKey;
use mdmkit_server::{AppState, DynReconciler, ServerConfig, TenantContext, Tenants};

type Stores = (Arc<dyn QueueStore>, Arc<dyn StateStore>);

fn n(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn tree(t: &str) -> Tenant {
    let mut tree = Tenant::new(TenantId::new(t).unwrap());
    tree.add_node(n("school-1"), &n(t), Some("School one".into()), None)
        .unwrap();
    tree.add_node(n("class-1a"), &n("school-1"), Some("Class 1A".into()), None)
        .unwrap();
    tree.add_node(n("school-2"), &n(t), Some("School two".into()), None)
        .unwrap();
    tree.add_device(Device::new(
        DeviceId::new("ipad-1").unwrap(),
        n("class-1a"),
        Platform::Apple,
    ))
    .unwrap();
    tree
}

/// One server over `stores` serving both tenants with their keys.
async fn serve(stores: &Stores, names: &[String], key: &SessionKey) -> String {
    let mut tenants = Tenants::new();
    for name in names {
        let t = tree(name);
        let ca = CaBuilder::new(t.id().clone())
            .algorithm(KeyAlgorithm::P256)
            .build()
            .unwrap();
        let r: Arc<DynReconciler> = Arc::new(Reconciler::new(stores.0.clone(), stores.1.clone()));
        tenants.insert(TenantContext::new(t, ca.verifier(), r).with_console_key(key.clone()));
    }
    let app = mdmkit_server::router(AppState::new(tenants, ServerConfig::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        mdmkit_server::serve::serve(l, app, None, std::future::pending())
            .await
            .unwrap();
    });
    base
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in; the session cookie (`name=value`).
async fn sign_in(base: &str, tenant: &str, bearer: &str) -> String {
    let c = client();
    let r = c.get(format!("{base}/console/")).send().await.unwrap();
    let login = set_cookie(&r, "mdmkit_console_login").unwrap();
    let r = c
        .post(format!("{base}/console/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", format!("mdmkit_console_login={login}"))
        .body(format!("csrf={login}&tenant={tenant}&token={bearer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    format!(
        "mdmkit_console={}",
        set_cookie(&r, "mdmkit_console").unwrap()
    )
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

async fn get(url: &str, cookie: &str) -> (u16, String) {
    let r = client()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post(url: &str, cookie: &str, body: &str) -> u16 {
    client()
        .post(url)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn scenario(stores: Stores, tag: &str) {
    let names: Vec<String> = ["town-a", "town-b"]
        .iter()
        .map(|t| format!("{t}{tag}"))
        .collect();
    let key = SessionKey::generate();
    let one = serve(&stores, &names, &key).await;
    let other = serve(&stores, &names, &key).await;
    let mut bearers = Vec::new();
    for name in &names {
        let tid = TenantId::new(name.clone()).unwrap();
        let issued = access::issue(
            tid,
            n("school-1"),
            Role::Operate,
            None,
            Timestamp::from_millis(0),
        );
        stores.1.put_token(&issued.token).await.unwrap();
        bearers.push(issued);
    }
    let (a, b) = (&names[0], &names[1]);
    let cookie = sign_in(&one, a, &bearers[0].bearer).await;

    // The school and its class, at both servers; nothing beside it.
    for base in [&one, &other] {
        let (s, page) = get(&format!("{base}/console/{a}/nodes/school-1"), &cookie).await;
        assert_eq!(s, 200);
        assert!(
            page.contains("Class 1A") && !page.contains("School two"),
            "{page}"
        );
        let (s, _) = get(&format!("{base}/console/{a}/nodes/school-2"), &cookie).await;
        assert_eq!(s, 404);
        let (s, _) = get(&format!("{base}/console/{a}/nodes/{a}"), &cookie).await;
        assert_eq!(s, 404);
    }
    // The same node names in the other tenant: the session is not theirs.
    let (s, _) = get(&format!("{other}/console/{b}/nodes/school-1"), &cookie).await;
    assert_eq!(s, 303);

    // A form without CSRF token queues nothing; with it, the lock is queued.
    let (_, page) = get(&format!("{one}/console/{a}/devices/ipad-1"), &cookie).await;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let action = format!("{other}/console/{a}/devices/ipad-1/actions");
    assert_eq!(post(&action, &cookie, "action=lock").await, 403);
    let ipad = EnrollmentId::device(DeviceId::new("ipad-1").unwrap());
    let tid = TenantId::new(a.clone()).unwrap();
    assert!(stores.0.list(&tid, &ipad).await.unwrap().is_empty());
    assert_eq!(
        post(&action, &cookie, &format!("action=lock&csrf={csrf}")).await,
        303
    );
    let queued = stores.0.list(&tid, &ipad).await.unwrap();
    assert_eq!(
        queued.iter().map(|q| q.kind.as_str()).collect::<Vec<_>>(),
        ["DeviceLock"]
    );
    let tid_b = TenantId::new(b.clone()).unwrap();
    assert!(stores.0.list(&tid_b, &ipad).await.unwrap().is_empty());

    // Revoking the token ends the session at every server.
    let mut revoked = bearers[0].token.clone();
    revoked.revoked = true;
    stores.1.put_token(&revoked).await.unwrap();
    for base in [&one, &other] {
        let (s, _) = get(&format!("{base}/console/{a}/nodes/school-1"), &cookie).await;
        assert_eq!(s, 303);
    }
}

#[tokio::test]
async fn console_sessions_hold_across_servers_and_stay_in_their_tenant_and_node_on_sqlite() {
    use mdmkit::queue::{SqliteOptions, SqliteStore};
    use mdmkit::state::SqliteState;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mdmkit.db");
    let stores: Stores = (
        Arc::new(SqliteStore::open(SqliteOptions::new(&db)).await.unwrap()),
        Arc::new(SqliteState::open(&db).await.unwrap()),
    );
    scenario(stores, "").await;
}

#[tokio::test]
async fn console_sessions_hold_across_servers_and_stay_in_their_tenant_and_node_on_postgres() {
    use mdmkit::queue::{PostgresOptions, PostgresStore};
    use mdmkit::state::PostgresState;
    let url = match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!("MDMKIT_TEST_POSTGRES_URL is unset: run `./scripts/test`"),
    };
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
    scenario(stores, &tag).await;
}

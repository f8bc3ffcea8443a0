//! A local stand-in for WNS (feature `wns-emulator`), for tests: the
//! OAuth token endpoint (client-credentials grant) and channels, over
//! plain HTTP on a loopback port.
//!
//! `POST /token` checks the grant, the client id and secret
//! ([`WnsEmulator::CLIENT_ID`], [`WnsEmulator::CLIENT_SECRET`]) and issues
//! an access token. `POST /channel/<id>` wants a token it issued (401
//! otherwise, or once [`WnsEmulator::revoke_tokens`] was called),
//! `X-WNS-Type: wns/raw` (400 otherwise), and answers 410 for a channel
//! [expired](WnsEmulator::expire), any status [scripted](WnsEmulator::fail_next),
//! else 200. Every notification is recorded.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::client::WnsConfig;

/// One notification the emulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notified {
    /// The channel id (the path after `/channel/`).
    pub channel: String,
    /// `X-WNS-Type`.
    pub wns_type: Option<String>,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct World {
    tokens: BTreeSet<String>,
    issued: u64,
    expired: BTreeSet<String>,
    faults: VecDeque<u16>,
    notified: Vec<Notified>,
}

struct Shared {
    world: Mutex<World>,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running emulator; it stops when dropped.
pub struct WnsEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WnsEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for WnsEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WnsEmulator")
            .field("addr", &self.addr)
            .finish()
    }
}

impl WnsEmulator {
    /// The client id the token endpoint accepts.
    pub const CLIENT_ID: &'static str = "wns-emulator-client";
    /// The client secret the token endpoint accepts.
    pub const CLIENT_SECRET: &'static str = "wns-emulator-secret";

    /// Starts an emulator on `127.0.0.1` (an ephemeral port).
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            world: Mutex::new(World::default()),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let s = s.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&s, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Ok(Self { shared, addr, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// The URI of channel `id`, as a PC would report it.
    pub fn channel_uri(&self, id: &str) -> String {
        format!("{}/channel/{id}", self.url())
    }

    /// A client configuration for this emulator.
    pub fn config(&self) -> WnsConfig {
        WnsConfig::new("emulator", Self::CLIENT_ID, Self::CLIENT_SECRET)
            .token_url(format!("{}/token", self.url()))
            .allow_host("127.0.0.1", true)
    }

    /// From now on channel `id` answers 410 (expired).
    pub fn expire(&self, id: &str) {
        self.shared.world().expired.insert(id.to_owned());
    }

    /// The tokens issued so far stop working (401).
    pub fn revoke_tokens(&self) {
        self.shared.world().tokens.clear();
    }

    /// The next `n` notifications answer `status`.
    pub fn fail_next(&self, status: u16, n: usize) {
        let mut w = self.shared.world();
        for _ in 0..n {
            w.faults.push_back(status);
        }
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.shared.world().issued
    }

    /// Every notification answered, in order.
    pub fn notified(&self) -> Vec<Notified> {
        self.shared.world().notified.clone()
    }
}

fn reply(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    r
}

async fn answer(s: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let auth = header("authorization");
    let wns_type = header("x-wns-type");
    let post = req.method() == hyper::Method::POST;
    let body = req
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    if !post {
        return reply(405, "");
    }
    if path == "/token" {
        let form = String::from_utf8_lossy(&body).into_owned();
        let field = |k: &str| {
            form.split('&')
                .filter_map(|p| p.split_once('='))
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_owned())
        };
        if field("grant_type").as_deref() != Some("client_credentials") {
            return reply(400, r#"{"error":"unsupported_grant_type"}"#);
        }
        if field("client_id").as_deref() != Some(WnsEmulator::CLIENT_ID)
            || field("client_secret").as_deref() != Some(WnsEmulator::CLIENT_SECRET)
        {
            return reply(401, r#"{"error":"invalid_client"}"#);
        }
        let mut w = s.world();
        w.issued += 1;
        let token = format!("wns-token-{}", w.issued);
        w.tokens.insert(token.clone());
        return reply(
            200,
            &format!(r#"{{"access_token":"{token}","token_type":"bearer","expires_in":86400}}"#),
        );
    }
    let Some(channel) = path.strip_prefix("/channel/") else {
        return reply(404, "");
    };
    let mut w = s.world();
    let status = if !auth
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| w.tokens.contains(t))
    {
        401
    } else if wns_type.as_deref() != Some("wns/raw") {
        400
    } else if w.expired.contains(channel) {
        410
    } else {
        w.faults.pop_front().unwrap_or(200)
    };
    w.notified.push(Notified {
        channel: channel.to_owned(),
        wns_type,
        status,
    });
    reply(status, "")
}

//! The HTTP layer of mdmkit: the endpoints devices reach, and a scoped
//! admin API, as axum services an integrator mounts in an app of their own
//! (or runs as is with `mdmkit serve`).
//!
//! Handlers decode, authenticate, call the [`mdmkit`] facade and encode;
//! every decision lives below them (the reconcile loop, the queue's state
//! machine, the certificate binding rule in [`identity::binding`]).
//!
//! ```
//! use std::sync::Arc;
//! use mdmkit::identity::{CaBuilder, KeyAlgorithm};
//! use mdmkit::policy::Tenant;
//! use mdmkit::queue::MemoryStore;
//! use mdmkit::state::MemoryState;
//! use mdmkit::{Reconciler, TenantId};
//! use mdmkit_server::{AppState, ServerConfig, TenantContext, Tenants};
//!
//! let tenant = Tenant::new(TenantId::new("town-7")?);
//! let ca = CaBuilder::new(tenant.id().clone()).algorithm(KeyAlgorithm::P256).build()?;
//! let reconciler = Arc::new(Reconciler::new(
//!     Arc::new(MemoryStore::new()) as Arc<dyn mdmkit::queue::QueueStore>,
//!     Arc::new(MemoryState::new()) as Arc<dyn mdmkit::state::StateStore>,
//! ));
//! let tenants = Tenants::new().with(TenantContext::new(tenant, ca.verifier(), reconciler));
//!
//! // Mount next to your own routes: /town-7/apple/checkin, /town-7/apple/mdm,
//! // /town-7/admin/v1/..., /healthz.
//! let app: axum::Router = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "my console" }))
//!     .merge(mdmkit_server::router(AppState::new(tenants, ServerConfig::new())));
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Serve it with [`serve::serve`] (TLS with client certificates through
//! [`tls::server_config`], graceful shutdown), or with `axum::serve` and
//! `into_make_service_with_connect_info::<SocketAddr>()` behind a
//! TLS-terminating proxy that forwards `Client-Cert`.
//!
//! | module | what |
//! |---|---|
//! | [`apple`] | the check-in and command endpoints |
//! | [`admin`] | the admin API (bearer tokens scoped to a node, with a role) |
//! | [`console`] | the web console under `/console/` (sessions from admin tokens) |
//! | [`android`] | the Pub/Sub push endpoint of AMAPI notifications, delivery through Google |
//! | [`scep`] | the SCEP endpoint: device identities for one-time challenges, renewals |
//! | [`windows`] | the Windows enrollment services (MS-MDE2) and the OMA-DM management endpoint |
//! | [`push`] | waking devices: APNs and WNS pushes after a reconcile, push certificates, outcomes |
//! | [`identity`] | where a request's certificate comes from, verification, binding |
//! | [`serve`], [`tls`] | the accept loop and the TLS settings |
//!
//! # Feature flags
//!
//! `sqlite` (default) and `postgres` turn on the facade's stores of that
//! name; the services themselves work over any store.
//!
//! `docs/server.md` explains the endpoints, the binding of certificates to
//! enrollments, the token model and running several processes on one
//! PostgreSQL database.
#![forbid(unsafe_code)]

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use tracing::Instrument as _;

pub mod admin;
pub mod android;
pub mod apple;
mod body;
mod config;
pub mod console;
mod error;
pub mod identity;
pub mod push;
pub mod scep;
pub mod serve;
mod state;
mod tenant;
pub mod tls;
pub mod windows;

pub use config::{DEFAULT_BODY_LIMIT, ServerConfig, parse_cidr};
pub use error::RequestError;
pub use state::AppState;
pub use tenant::{DynReconciler, TenantContext, Tenants, TreeLoader};

/// Every route (Apple, Windows, Android, SCEP, admin, console, `/healthz`), with a tracing span per request
/// and host-based tenant routing when configured.
pub fn router(state: AppState) -> Router {
    let hosts = state.config().host_tenants.clone();
    let inner = Router::new()
        .merge(apple::router())
        .merge(admin::router())
        .merge(scep::router())
        .merge(android::router())
        .merge(windows::router())
        .merge(console::router())
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(axum::middleware::from_fn(trace))
        .with_state(state);
    if hosts.is_empty() {
        return inner;
    }
    // Host routing rewrites the path before the inner router routes it.
    let svc = tower::util::MapRequest::new(inner, move |mut req: Request| {
        let host = req
            .headers()
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| {
                h.rsplit_once(':')
                    .map_or(h, |(name, _)| name)
                    .to_ascii_lowercase()
            });
        if let Some(t) = host.and_then(|h| hosts.get(&h)) {
            let path = req.uri().path();
            let console = path == console::PREFIX || path.starts_with("/console/");
            if path != "/healthz" && !console && !path.starts_with(&format!("/{t}/")) {
                let pq = req
                    .uri()
                    .path_and_query()
                    .map_or_else(|| path.to_owned(), |p| p.as_str().to_owned());
                if let Ok(uri) = format!("/{t}{pq}").parse() {
                    *req.uri_mut() = uri;
                }
            }
        }
        req
    });
    Router::new().fallback_service(svc)
}

/// One span per request: method, path, then tenant, device, message type
/// and status as they become known.
async fn trace(req: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        tenant = tracing::field::Empty,
        device = tracing::field::Empty,
        message = tracing::field::Empty,
        cert = tracing::field::Empty,
        endpoint = tracing::field::Empty,
        token = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    async move {
        let started = std::time::Instant::now();
        let r = next.run(req).await;
        let span = tracing::Span::current();
        span.record("status", r.status().as_u16());
        tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "answered"
        );
        r
    }
    .instrument(span)
    .await
}

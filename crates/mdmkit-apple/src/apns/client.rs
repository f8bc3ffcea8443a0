//! The APNs provider (feature `apns`): HTTP/2 over rustls with the push
//! certificate as the client certificate.
//!
//! One [`ApnsClient`] per push certificate (so per topic) owns its own
//! connection pool: hyper-util's pooled client over hyper-rustls, HTTP/2
//! only, with the aws-lc-rs provider the rest of the workspace uses. All
//! pushes to a gateway share one multiplexed connection; a semaphore
//! bounds the requests in flight.
//!
//! ```no_run
//! # async fn f(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use mdmkit_apple::apns::client::{ApnsClient, ApnsConfig};
//! use mdmkit_apple::apns::certificate::PushCertificate;
//! use mdmkit_apple::apns::{Gateway, OutcomeClass, PushRequest};
//!
//! let cert = PushCertificate::from_pem(cert_pem, key_pem)?;
//! let apns = ApnsClient::new(&cert, &ApnsConfig::new(Gateway::Production))?;
//! let push = PushRequest::from_hex(cert.topic(), "magic", "0aff")?;
//! match apns.push(&push).await.class() {
//!     OutcomeClass::Delivered => {}
//!     OutcomeClass::Retry => { /* later, with backoff */ }
//!     OutcomeClass::TokenDead => { /* until the next TokenUpdate */ }
//!     OutcomeClass::Certificate => { /* alert the operator */ }
//!     _ => {}
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use tokio::sync::Semaphore;

use super::certificate::PushCertificate;
use super::{Gateway, Outcome, PushRequest};

/// Why a client cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The TLS configuration was refused.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The base URL is not an `https://` URL.
    #[error("bad APNs URL {0:?}")]
    Url(String),
}

/// How to reach APNs.
#[derive(Debug, Clone)]
pub struct ApnsConfig {
    base: String,
    roots: Vec<CertificateDer<'static>>,
    native_roots: bool,
    max_in_flight: usize,
    timeout: Duration,
}

impl ApnsConfig {
    /// Apple's gateway, trusted through the operating system's roots, at
    /// most 1,000 requests in flight, 30 s per request.
    pub fn new(gateway: Gateway) -> Self {
        Self {
            base: format!("https://{}", gateway.host()),
            roots: Vec::new(),
            native_roots: true,
            max_in_flight: 1_000,
            timeout: Duration::from_secs(30),
        }
    }

    /// Another gateway (`https://127.0.0.1:4443`, an emulator), trusted
    /// only through the roots added with [`ApnsConfig::root`].
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base = url.into().trim_end_matches('/').to_owned();
        self.native_roots = false;
        self
    }

    /// Trusts this root certificate (DER) for the gateway.
    #[must_use]
    pub fn root(mut self, der: Vec<u8>) -> Self {
        self.roots.push(CertificateDer::from(der));
        self
    }

    /// Trusts the root certificates of this PEM text for the gateway.
    pub fn root_pem(mut self, pem: &[u8]) -> Result<Self, ClientError> {
        use mdmkit_identity::pem;
        let certs = pem::certificates(pem, &pem::Limits::DEFAULT)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        self.roots
            .extend(certs.into_iter().map(CertificateDer::from));
        Ok(self)
    }

    /// At most `n` requests in flight (at least 1).
    #[must_use]
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// The time allowed per request, connection included.
    #[must_use]
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The gateway's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }
}

#[derive(Debug)]
struct OneCert(Arc<CertifiedKey>);

impl ResolvesClientCert for OneCert {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A provider connection pool for one push certificate. Cheap to clone.
#[derive(Clone)]
pub struct ApnsClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: Arc<str>,
    topic: Arc<str>,
    sha256: Arc<str>,
    limit: Arc<Semaphore>,
    timeout: Duration,
}

impl std::fmt::Debug for ApnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsClient")
            .field("base", &self.base)
            .field("topic", &self.topic)
            .field("certificate", &self.sha256)
            .finish()
    }
}

/// The largest APNs answer read (its error bodies are a few dozen bytes).
const ANSWER_LIMIT: usize = 4096;

impl ApnsClient {
    /// A pool that authenticates with `cert`.
    pub fn new(cert: &PushCertificate, config: &ApnsConfig) -> Result<Self, ClientError> {
        if !config.base.starts_with("https://") {
            return Err(ClientError::Url(config.base.clone()));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        if config.native_roots {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
        for c in &config.roots {
            roots
                .add(c.clone())
                .map_err(|e| ClientError::Tls(e.to_string()))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(OneCert(cert.certified_key())));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http2()
            .build();
        let http = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .pool_idle_timeout(Duration::from_secs(600))
            .build(https);
        Ok(Self {
            http,
            base: config.base.as_str().into(),
            topic: cert.topic().into(),
            sha256: cert.sha256().into(),
            limit: Arc::new(Semaphore::new(config.max_in_flight)),
            timeout: config.timeout,
        })
    }

    /// The topic of its certificate.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// SHA-256 of its certificate (hex).
    pub fn certificate_sha256(&self) -> &str {
        &self.sha256
    }

    /// Sends one push and classifies the answer. Never fails: a transport
    /// failure is [`Outcome::Retry`] without a reason.
    pub async fn push(&self, req: &PushRequest) -> Outcome {
        let Ok(_permit) = self.limit.acquire().await else {
            return Outcome::transport("the client is closed");
        };
        self.send(req).await
    }

    /// Sends many pushes concurrently (at most the configured number in
    /// flight); the outcomes in the order of the requests.
    pub async fn push_all(&self, reqs: Vec<PushRequest>) -> Vec<Outcome> {
        let mut set = tokio::task::JoinSet::new();
        let n = reqs.len();
        for (i, req) in reqs.into_iter().enumerate() {
            let me = self.clone();
            let permit = self.limit.clone().acquire_owned().await;
            set.spawn(async move {
                let out = match permit {
                    Ok(_p) => me.send(&req).await,
                    Err(_) => Outcome::transport("the client is closed"),
                };
                (i, out)
            });
        }
        let mut out: Vec<Option<Outcome>> = vec![None; n];
        while let Some(r) = set.join_next().await {
            if let Ok((i, o)) = r
                && let Some(slot) = out.get_mut(i)
            {
                *slot = Some(o);
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::transport("the push task failed")))
            .collect()
    }

    async fn send(&self, req: &PushRequest) -> Outcome {
        let url = format!("{}{}", self.base, req.path());
        let mut b = hyper::Request::builder().method("POST").uri(url);
        for (k, v) in req.headers() {
            b = b.header(k, v);
        }
        let request = match b
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(req.body())))
        {
            Ok(r) => r,
            Err(e) => return Outcome::transport(format!("building the request: {e}")),
        };
        let work = async {
            let resp = self.http.request(request).await.map_err(|e| chain(&e))?;
            let status = resp.status().as_u16();
            let header = |n: &str| {
                resp.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let apns_id = header("apns-id");
            let retry_after = header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = Limited::new(resp.into_body(), ANSWER_LIMIT)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>(Outcome::from_answer(status, apns_id, retry_after, &body))
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => Outcome::transport(e),
            Err(_) => Outcome::transport(format!("no answer within {:?}", self.timeout)),
        }
    }
}

/// An error with its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

//! A local stand-in for APNs (feature `apns-emulator`), for tests and
//! benches: HTTP/2 over TLS on a loopback port, with a certificate of its
//! own that clients trust through [`ApnsEmulator::config`].
//!
//! It follows Apple's documented provider API ("Sending notification
//! requests to APNs", "Handling notification responses from APNs") and
//! checks what an MDM push must carry, more strictly than Apple:
//!
//! - a client certificate (403 `MissingProviderToken` without one; 403
//!   `BadCertificate` when it is expired or [revoked](ApnsEmulator::revoke));
//! - `POST /3/device/<hex token>` (405 `MethodNotAllowed`, 404 `BadPath`,
//!   400 `MissingDeviceToken`, 400 `BadDeviceToken` for a token that is
//!   not hex or was [marked bad](ApnsEmulator::bad_token));
//! - `apns-push-type: mdm` (400 `InvalidPushType`), `apns-topic` equal to
//!   the certificate's UID (400 `MissingTopic`, 400 `TopicDisallowed`),
//!   `apns-priority` 5 or 10 and `apns-expiration` an integer (required
//!   here: 400 `BadPriority`, 400 `BadExpirationDate`);
//! - the body `{"mdm":"<PushMagic>"}` and nothing else (400
//!   `PayloadEmpty` when empty, 413 `PayloadTooLarge` over 4 KiB, and
//!   400 `BadPayload` — the emulator's own reason — for anything else).
//!
//! A token [unregistered](ApnsEmulator::unregister) answers 410
//! `Unregistered` with a timestamp; [`ApnsEmulator::fail_next`] scripts any
//! reason (429 `TooManyRequests`, 503 `ServiceUnavailable`, ...) for the
//! next pushes. Every push is recorded ([`ApnsEmulator::pushes`]).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::DigitallySignedStruct;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use sha2::Digest as _;

use super::Reason;
use super::certificate::hex;
use super::client::ApnsConfig;

/// A push certificate and key made for tests (PEM).
#[derive(Clone)]
#[non_exhaustive]
pub struct TestCertificate {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for TestCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCertificate")
    }
}

/// A self-signed push certificate (P-256) whose subject is
/// `UID=<topic>, CN=APSP:<topic>`, valid from a day ago for `valid_days`
/// more days (negative: already expired).
pub fn test_push_certificate(topic: &str, valid_days: i64) -> TestCertificate {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
        rcgen::DnValue::Utf8String(topic.to_owned()),
    );
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("APSP:{topic}"));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(2);
    params.not_after = now + time::Duration::days(valid_days);
    let made = rcgen::KeyPair::generate().and_then(|key| {
        let cert = params.self_signed(&key)?;
        Ok(TestCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    });
    made.unwrap_or_else(|e| TestCertificate {
        cert_pem: format!("rcgen failed: {e}"),
        key_pem: String::new(),
    })
}

/// One push the emulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pushed {
    /// The token of the path (hex, as sent).
    pub token: String,
    /// `apns-topic`.
    pub topic: Option<String>,
    /// `apns-push-type`.
    pub push_type: Option<String>,
    /// `apns-priority`.
    pub priority: Option<String>,
    /// `apns-expiration`.
    pub expiration: Option<String>,
    /// The body's `mdm` value (the PushMagic), when the body was right.
    pub push_magic: Option<String>,
    /// SHA-256 (hex) of the client certificate.
    pub certificate_sha256: Option<String>,
    /// The status answered.
    pub status: u16,
    /// The reason answered (none for 200).
    pub reason: Option<String>,
}

#[derive(Default)]
struct World {
    unregistered: HashMap<String, i64>,
    bad_tokens: BTreeSet<String>,
    revoked: BTreeSet<String>,
    faults: VecDeque<(Reason, Option<u64>)>,
    pushes: Vec<Pushed>,
    delay: Option<Duration>,
    record: bool,
}

struct Shared {
    world: Mutex<World>,
    notify: tokio::sync::Notify,
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running emulator on a loopback port; it stops when dropped.
pub struct ApnsEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    root: Vec<u8>,
    root_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ApnsEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for ApnsEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsEmulator")
            .field("addr", &self.addr)
            .finish()
    }
}

/// The client certificate of a connection, as the emulator needs it.
#[derive(Clone, Default)]
struct Peer {
    sha256: Option<String>,
    topic: Option<String>,
    not_after: i64,
}

fn peer(certs: Option<&[CertificateDer<'_>]>) -> Peer {
    let Some(first) = certs.and_then(|c| c.first()) else {
        return Peer::default();
    };
    let sha256 = Some(hex(&sha2::Sha256::digest(first.as_ref())));
    use der::Decode as _;
    let parsed = x509_cert::Certificate::from_der(first.as_ref()).ok();
    let topic = parsed.as_ref().and_then(|c| {
        c.tbs_certificate()
            .subject()
            .by_oid::<x509_cert::ext::pkix::name::DirectoryString>(
                der::asn1::ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1"),
            )
            .ok()
            .flatten()
            .map(|d| d.value().into_owned())
    });
    let not_after = parsed.as_ref().map_or(0, |c| {
        i64::try_from(
            c.tbs_certificate()
                .validity()
                .not_after
                .to_unix_duration()
                .as_secs(),
        )
        .unwrap_or(i64::MAX)
    });
    Peer {
        sha256,
        topic,
        not_after,
    }
}

impl ApnsEmulator {
    /// Starts an emulator on `127.0.0.1` (an ephemeral port).
    pub async fn start() -> std::io::Result<Self> {
        let io = |e: String| std::io::Error::other(e);
        let key = rcgen::KeyPair::generate().map_err(|e| io(e.to_string()))?;
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .map_err(|e| io(e.to_string()))?;
        let cert = params.self_signed(&key).map_err(|e| io(e.to_string()))?;
        let root = cert.der().to_vec();
        let root_pem = cert.pem();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| io(e.to_string()))?
            .with_client_cert_verifier(Arc::new(AnyClientCert { provider }))
            .with_single_cert(
                vec![CertificateDer::from(root.clone())],
                PrivateKeyDer::from(rustls::pki_types::PrivatePkcs8KeyDer::from(
                    key.serialize_der(),
                )),
            )
            .map_err(|e| io(e.to_string()))?;
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            world: Mutex::new(World {
                record: true,
                ..World::default()
            }),
            notify: tokio::sync::Notify::new(),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            max_in_flight: std::sync::atomic::AtomicUsize::new(0),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let s = s.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let who = peer(tls.get_ref().1.peer_certificates());
                    let svc = hyper::service::service_fn(move |req| {
                        let (s, who) = (s.clone(), who.clone());
                        async move { Ok::<_, std::convert::Infallible>(answer(&s, &who, req).await) }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .max_concurrent_streams(1000)
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Ok(Self {
            shared,
            addr,
            root,
            root_pem,
            task,
        })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// The emulator's own certificate (DER), for a client to trust.
    pub fn root_der(&self) -> Vec<u8> {
        self.root.clone()
    }

    /// The emulator's own certificate (PEM), for `mdmkit serve --apns-ca`.
    pub fn root_pem(&self) -> String {
        self.root_pem.clone()
    }

    /// A client configuration that reaches this emulator.
    pub fn config(&self) -> ApnsConfig {
        ApnsConfig::new(super::Gateway::Production)
            .base_url(self.url())
            .root(self.root_der())
    }

    /// From now on the token (hex) answers 410 `Unregistered`.
    pub fn unregister(&self, token_hex: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.shared
            .world()
            .unregistered
            .insert(token_hex.to_ascii_lowercase(), now);
    }

    /// From now on the token (hex) answers 400 `BadDeviceToken`.
    pub fn bad_token(&self, token_hex: &str) {
        self.shared
            .world()
            .bad_tokens
            .insert(token_hex.to_ascii_lowercase());
    }

    /// From now on the certificate (SHA-256 of its DER, hex) answers 403
    /// `BadCertificate`.
    pub fn revoke(&self, certificate_sha256: &str) {
        self.shared
            .world()
            .revoked
            .insert(certificate_sha256.to_ascii_lowercase());
    }

    /// The next `n` well-formed pushes answer `reason` (with its status;
    /// `Retry-After: retry_after` when given).
    pub fn fail_next(&self, reason: Reason, n: usize, retry_after: Option<u64>) {
        let mut w = self.shared.world();
        for _ in 0..n {
            w.faults.push_back((reason.clone(), retry_after));
        }
    }

    /// Waits this long before answering each push (to test bounds on
    /// requests in flight).
    pub fn set_delay(&self, d: Option<Duration>) {
        self.shared.world().delay = d;
    }

    /// Whether pushes are recorded (on by default; benches turn it off).
    pub fn set_recording(&self, on: bool) {
        self.shared.world().record = on;
    }

    /// The most pushes it was answering at once so far.
    pub fn max_in_flight(&self) -> usize {
        self.shared
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every push answered so far, in order.
    pub fn pushes(&self) -> Vec<Pushed> {
        self.shared.world().pushes.clone()
    }

    /// How many pushes to this token were answered 200.
    pub fn delivered_to(&self, token_hex: &str) -> usize {
        let t = token_hex.to_ascii_lowercase();
        self.shared
            .world()
            .pushes
            .iter()
            .filter(|p| p.token == t && p.status == 200)
            .count()
    }

    /// Waits until at least `n` pushes were answered (or `timeout`
    /// passed); the pushes so far.
    pub async fn wait_for_pushes(&self, n: usize, timeout: Duration) -> Vec<Pushed> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.notify.notified();
            let now = self.pushes();
            if now.len() >= n {
                return now;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.pushes();
            }
        }
    }
}

fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn answer(s: &Shared, who: &Peer, req: Request<Incoming>) -> Response<Full<Bytes>> {
    use std::sync::atomic::Ordering;
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let r = answer_one(s, who, req).await;
    s.in_flight.fetch_sub(1, Ordering::SeqCst);
    r
}

async fn answer_one(s: &Shared, who: &Peer, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let delay = s.world().delay;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let token = req
        .uri()
        .path()
        .strip_prefix("/3/device/")
        .map(str::to_ascii_lowercase);
    let mut p = Pushed {
        token: token.clone().unwrap_or_default(),
        topic: header(&req, "apns-topic"),
        push_type: header(&req, "apns-push-type"),
        priority: header(&req, "apns-priority"),
        expiration: header(&req, "apns-expiration"),
        push_magic: None,
        certificate_sha256: who.sha256.clone(),
        status: 200,
        reason: None,
    };
    let method_ok = req.method() == hyper::Method::POST;
    let body = Limited::new(req.into_body(), 4096)
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes);
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let verdict: Result<(), (Reason, Option<i64>, Option<u64>)> = (|| {
        let fail = |r: Reason| Err((r, None, None));
        if !method_ok {
            return fail(Reason::MethodNotAllowed);
        }
        let Some(token) = token.as_deref() else {
            return fail(Reason::BadPath);
        };
        if token.is_empty() {
            return fail(Reason::MissingDeviceToken);
        }
        let Some(cert) = who.sha256.as_deref() else {
            return fail(Reason::MissingProviderToken);
        };
        let w = s.world();
        if w.revoked.contains(cert) || who.not_after < now_s {
            return fail(Reason::BadCertificate);
        }
        if p.push_type.as_deref() != Some("mdm") {
            return fail(Reason::InvalidPushType);
        }
        match (&p.topic, &who.topic) {
            (None, _) => return fail(Reason::MissingTopic),
            (Some(t), Some(c)) if t == c => {}
            _ => return fail(Reason::TopicDisallowed),
        }
        if !matches!(p.priority.as_deref(), Some("5" | "10")) {
            return fail(Reason::BadPriority);
        }
        if p.expiration
            .as_deref()
            .and_then(|e| e.parse::<u64>().ok())
            .is_none()
        {
            return fail(Reason::BadExpirationDate);
        }
        let bytes = match &body {
            Ok(b) => b.clone(),
            Err(_) => return fail(Reason::PayloadTooLarge),
        };
        if bytes.is_empty() {
            return fail(Reason::PayloadEmpty);
        }
        let magic = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
            .ok()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.get("mdm").and_then(|v| v.as_str()).map(str::to_owned));
        let Some(magic) = magic else {
            return fail(Reason::Other("BadPayload".into()));
        };
        p.push_magic = Some(magic);
        if !token.bytes().all(|b| b.is_ascii_hexdigit()) || w.bad_tokens.contains(token) {
            return fail(Reason::BadDeviceToken);
        }
        if let Some(at) = w.unregistered.get(token) {
            return Err((Reason::Unregistered, Some(*at), None));
        }
        Ok(())
    })();
    let verdict = verdict.and_then(|()| match s.world().faults.pop_front() {
        Some((r, after)) => Err((r, None, after)),
        None => Ok(()),
    });
    let apns_id = uuid::Uuid::new_v4()
        .hyphenated()
        .to_string()
        .to_ascii_uppercase();
    let mut resp = match &verdict {
        Ok(()) => Response::new(Full::new(Bytes::new())),
        Err((reason, at, _)) => {
            let body = match at {
                Some(t) => serde_json::json!({"reason": reason.as_str(), "timestamp": t}),
                None => serde_json::json!({"reason": reason.as_str()}),
            };
            let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
            *r.status_mut() =
                StatusCode::from_u16(status_of(reason)).unwrap_or(StatusCode::BAD_REQUEST);
            r
        }
    };
    if let Ok(v) = apns_id.parse() {
        resp.headers_mut().insert("apns-id", v);
    }
    if let Err((_, _, Some(after))) = &verdict
        && let Ok(v) = after.to_string().parse()
    {
        resp.headers_mut().insert("retry-after", v);
    }
    p.status = resp.status().as_u16();
    p.reason = verdict.err().map(|(r, _, _)| r.as_str().to_owned());
    let mut w = s.world();
    if w.record {
        w.pushes.push(p);
    }
    drop(w);
    s.notify.notify_waiters();
    resp
}

fn status_of(r: &Reason) -> u16 {
    match r.status() {
        0 => 400,
        s => s,
    }
}

/// Asks for a client certificate and proves possession of its key; the
/// handler judges the certificate.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

//! A local stand-in for Google (feature `emulator`), for tests where
//! Google is out of reach: the AMAPI resources mdmkit calls, the OAuth
//! token endpoint of the JWT bearer grant, and Cloud Pub/Sub pushing
//! notifications with a signed OIDC token.
//!
//! It follows Google's documented behaviour (the discovery document's
//! shapes, `google.rpc.Status` error bodies, `Retry-After` on 429) and
//! no more: it keeps resources in memory, checks the grant's RS256
//! signature and audience, refuses unknown access tokens with 401, and
//! lets a test inject 429s, 5xx and policy rejections. It is not Google:
//! it does not validate every Policy field the way Google does.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaPublicKeyComponents};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use serde_json::{Value, json};

/// A failure to answer the next AMAPI request with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// 429 RESOURCE_EXHAUSTED with `Retry-After: secs`.
    TooManyRequests {
        /// The `Retry-After` value.
        retry_after: u64,
    },
    /// This 5xx status with Google's error body.
    ServerError(u16),
}

/// One request the emulator served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Served {
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct World {
    policies: BTreeMap<String, Value>,
    devices: BTreeMap<String, Value>,
    tokens: BTreeMap<String, Value>,
    operations: BTreeMap<String, Value>,
    access_tokens: Vec<String>,
    grants: u32,
    faults: VecDeque<Fault>,
    rejections: Vec<(String, String)>,
    served: Vec<Served>,
    counter: u64,
}

struct Shared {
    world: Mutex<World>,
    base: String,
    sa: KeyPair,
    issuer: KeyPair,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running emulator on a loopback port; it stops when dropped.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish()
    }
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn sign_jwt(key: &KeyPair, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; key.public_modulus_len()];
    if key
        .sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .is_err()
    {
        sig.clear();
    }
    format!("{input}.{}", b64url(&sig))
}

fn google_error(status: StatusCode, rpc: &str, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "status": rpc}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok_json(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// The emulator's two private keys (PKCS#8 DER): the service account's,
/// whose grants its token endpoint accepts, and the push-token issuer's,
/// published at [`Emulator::jwks_url`]. An emulator started again with the
/// same keys on the same address is the same Google to a server configured
/// for it (its resources, kept in memory, are not).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmulatorKeys {
    /// The service account's key.
    pub service_account_pkcs8: Vec<u8>,
    /// The push-token issuer's key.
    pub issuer_pkcs8: Vec<u8>,
}

impl std::fmt::Debug for EmulatorKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmulatorKeys(<redacted>)")
    }
}

impl EmulatorKeys {
    /// Two new RSA-2048 keys.
    pub fn generate() -> std::io::Result<Self> {
        let der = || {
            KeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der().map(|d| d.as_ref().to_vec()))
                .map_err(std::io::Error::other)
        };
        Ok(Self {
            service_account_pkcs8: der()?,
            issuer_pkcs8: der()?,
        })
    }

    /// Keys saved earlier.
    pub fn new(service_account_pkcs8: Vec<u8>, issuer_pkcs8: Vec<u8>) -> Self {
        Self {
            service_account_pkcs8,
            issuer_pkcs8,
        }
    }
}

impl Emulator {
    /// Starts on `127.0.0.1` on a free port with new keys (needs a tokio
    /// runtime).
    pub async fn start() -> std::io::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(addr, &EmulatorKeys::generate()?).await
    }

    /// Starts on `listen` with `keys` (needs a tokio runtime).
    pub async fn start_on(listen: SocketAddr, keys: &EmulatorKeys) -> std::io::Result<Self> {
        let key = |der: &[u8]| {
            KeyPair::from_pkcs8(der)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        };
        let (sa, issuer) = (key(&keys.service_account_pkcs8)?, key(&keys.issuer_pkcs8)?);
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            world: Mutex::new(World::default()),
            base: format!("http://{addr}"),
            sa,
            issuer,
        });
        let app = Router::new()
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .route("/v1/{*rest}", any(amapi))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { shared, addr, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The AMAPI base URL (`http://127.0.0.1:PORT/`).
    pub fn base_url(&self) -> String {
        format!("{}/", self.shared.base)
    }

    /// The OAuth token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.shared.base)
    }

    /// The key set of the push-token issuer.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.shared.base)
    }

    /// The push-token issuer (`iss`).
    pub fn issuer(&self) -> String {
        self.shared.base.clone()
    }

    /// A service-account key file the emulator's token endpoint accepts
    /// (its `token_uri` is [`Emulator::token_url`]).
    pub fn service_account_key(&self) -> Vec<u8> {
        let der = self
            .shared
            .sa
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        json!({
            "type": "service_account",
            "project_id": "emulator",
            "private_key_id": "sa-1",
            "private_key": pem,
            "client_email": "mdmkit@emulator.iam.gserviceaccount.com",
            "token_uri": self.token_url(),
        })
        .to_string()
        .into_bytes()
    }

    /// Answers the next AMAPI requests with these faults, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.world().faults.extend(faults);
    }

    /// Refuses every `policies.patch` whose body has `field`, with 400
    /// INVALID_ARGUMENT and `message` (Google's reason).
    pub fn reject_policy_field(&self, field: &str, message: &str) {
        self.shared
            .world()
            .rejections
            .push((field.to_owned(), message.to_owned()));
    }

    /// Every request served, in order.
    pub fn served(&self) -> Vec<Served> {
        self.shared.world().served.clone()
    }

    /// How many grants the token endpoint issued.
    pub fn grants(&self) -> u32 {
        self.shared.world().grants
    }

    /// A stored policy.
    pub fn policy(&self, name: &str) -> Option<Value> {
        self.shared.world().policies.get(name).cloned()
    }

    /// A stored device.
    pub fn device(&self, name: &str) -> Option<Value> {
        self.shared.world().devices.get(name).cloned()
    }

    /// An enrollment token of `enterprise` (`enterprises/...`) carrying
    /// `additional_data`, as `enrollmentTokens.create` would make it for
    /// the enterprise's administrator: its value.
    pub fn create_enrollment_token(&self, enterprise: &str, additional_data: &str) -> String {
        let mut w = self.shared.world();
        w.counter += 1;
        let n = w.counter;
        let value = format!("SIMTOKEN{n:012}");
        let name = format!("{enterprise}/enrollmentTokens/t{n}");
        let t = json!({
            "name": name,
            "value": value,
            "additionalData": additional_data,
            "policyName": "",
        });
        w.tokens.insert(name, t);
        value
    }

    /// A device scans the QR code of the token with `token_value` and
    /// enrolls as `enterprise/devices/device_id`: the `Device` Google
    /// creates (and sends in the ENROLLMENT notification), or `None` when
    /// no such token exists.
    pub fn enroll(&self, token_value: &str, device_id: &str, serial: &str) -> Option<Value> {
        let mut w = self.shared.world();
        let token = w
            .tokens
            .values()
            .find(|t| t["value"] == token_value)?
            .clone();
        let tname = token["name"].as_str()?.to_owned();
        let enterprise = tname.split("/enrollmentTokens/").next()?.to_owned();
        let name = format!("{enterprise}/devices/{device_id}");
        let policy = token["policyName"].as_str().unwrap_or_default().to_owned();
        let version = w
            .policies
            .get(&policy)
            .and_then(|p| p["version"].as_str())
            .unwrap_or("1")
            .to_owned();
        let device = json!({
            "name": name,
            "managementMode": "DEVICE_OWNER",
            "state": "ACTIVE",
            "appliedState": "ACTIVE",
            "policyName": policy,
            "appliedPolicyName": policy,
            "appliedPolicyVersion": version,
            "enrollmentTokenName": tname,
            "enrollmentTokenData": token["additionalData"],
            "enrollmentTime": "2026-12-03T10:00:00Z",
            "hardwareInfo": {"serialNumber": serial, "model": "Galaxy Tab A9+", "manufacturer": "samsung"},
            "softwareInfo": {"androidVersion": "14"},
        });
        w.devices.insert(name, device.clone());
        Some(device)
    }

    /// The device applies its current policy and reports (the `Device` of a
    /// STATUS_REPORT), with these settings reported non-compliant.
    pub fn status_report(&self, device: &str, non_compliant: &[(&str, &str)]) -> Option<Value> {
        let mut w = self.shared.world();
        let policy = w.devices.get(device)?["policyName"].as_str()?.to_owned();
        let version = w
            .policies
            .get(&policy)
            .and_then(|p| p["version"].as_str())
            .unwrap_or("1")
            .to_owned();
        let d = w.devices.get_mut(device)?;
        d["appliedPolicyName"] = Value::from(policy);
        d["appliedPolicyVersion"] = Value::from(version);
        let details: Vec<Value> = non_compliant
            .iter()
            .map(|(s, r)| json!({"settingName": s, "nonComplianceReason": r}))
            .collect();
        if details.is_empty() {
            if let Some(o) = d.as_object_mut() {
                o.remove("nonComplianceDetails");
            }
            d["policyCompliant"] = Value::Bool(true);
        } else {
            d["nonComplianceDetails"] = Value::Array(details);
            d["policyCompliant"] = Value::Bool(false);
        }
        d["lastStatusReportTime"] = Value::from("2026-12-03T11:00:00Z");
        Some(d.clone())
    }

    /// The operations of `device` (`enterprises/E/devices/D`), oldest
    /// first: each `devices.issueCommand` made one.
    pub fn operations(&self, device: &str) -> Vec<Value> {
        let prefix = format!("{device}/operations/");
        let w = self.shared.world();
        let mut ops: Vec<&Value> = w
            .operations
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v)
            .collect();
        ops.sort_by_key(|o| {
            o["name"]
                .as_str()
                .and_then(|n| n.rsplit('/').next())
                .and_then(|n| n.parse::<u64>().ok())
        });
        ops.into_iter().cloned().collect()
    }

    /// The device runs the command of operation `name`: the operation is
    /// done, successfully, or failed with `failure` as Google's message
    /// (command error code `UNSUPPORTED`). The operation, as a COMMAND
    /// notification carries it.
    pub fn run_operation(&self, name: &str, failure: Option<&str>) -> Option<Value> {
        let mut w = self.shared.world();
        let op = w.operations.get_mut(name)?;
        op["done"] = Value::Bool(true);
        if let Some(message) = failure {
            op["error"] = json!({"code": 9, "message": message});
            op["metadata"]["errorCode"] = Value::from("UNSUPPORTED");
        }
        Some(op.clone())
    }

    /// A push token for `audience`, signed by the emulator's issuer, valid
    /// for an hour from `now` (seconds since the epoch).
    pub fn push_token(&self, audience: &str, now: i64) -> String {
        let claims = json!({
            "iss": self.issuer(),
            "aud": audience,
            "iat": now,
            "exp": now + 3600,
            "email": "pubsub-push@emulator.iam.gserviceaccount.com",
            "email_verified": true,
            "sub": "1234567890",
        });
        sign_jwt(&self.shared.issuer, "issuer-1", &claims)
    }

    /// A push token signed by a key the issuer never published.
    pub fn forged_push_token(&self, audience: &str, now: i64) -> String {
        let claims = json!({"iss": self.issuer(), "aud": audience, "iat": now, "exp": now + 3600});
        match KeyPair::generate(KeySize::Rsa2048) {
            Ok(k) => sign_jwt(&k, "issuer-1", &claims),
            Err(_) => String::new(),
        }
    }
}

/// n and e of a PKCS#1 `RSAPublicKey` (DER `SEQUENCE { INTEGER, INTEGER }`).
fn rsa_components(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    fn tlv(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        if *b.first()? != tag {
            return None;
        }
        let (len, hdr) = match *b.get(1)? {
            l if l < 0x80 => (usize::from(l), 2),
            0x81 => (usize::from(*b.get(2)?), 3),
            0x82 => ((usize::from(*b.get(2)?) << 8) | usize::from(*b.get(3)?), 4),
            _ => return None,
        };
        let body = b.get(hdr..hdr + len)?;
        Some((body, b.get(hdr + len..)?))
    }
    let (seq, _) = tlv(der, 0x30)?;
    let (n, rest) = tlv(seq, 0x02)?;
    let (e, _) = tlv(rest, 0x02)?;
    let strip = |x: &[u8]| {
        x.iter()
            .skip_while(|b| **b == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    Some((strip(n), strip(e)))
}

async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    let (n, e) = rsa_components(s.issuer.public_key().as_ref()).unwrap_or_default();
    ok_json(&json!({"keys": [{
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "issuer-1",
        "n": b64url(&n),
        "e": b64url(&e),
    }]}))
}

/// The JWT bearer grant: the assertion must be signed by the service
/// account's key, for this endpoint, with the AMAPI scope.
async fn token(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = String::from_utf8_lossy(&body).into_owned();
    let field = |k: &str| {
        form.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .map(str::to_owned)
    };
    let refuse = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": "invalid_grant", "error_description": why}).to_string(),
        )
            .into_response()
    };
    if field("grant_type").as_deref()
        != Some("urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
    {
        return refuse("grant_type");
    }
    let Some(assertion) = field("assertion") else {
        return refuse("no assertion");
    };
    let Ok(tok) = crate::oidc::IdToken::decode(&assertion) else {
        return refuse("malformed assertion");
    };
    let (n, e) = rsa_components(s.sa.public_key().as_ref()).unwrap_or_default();
    let mut parts = assertion.rsplitn(2, '.');
    let (Some(sig), Some(input)) = (parts.next(), parts.next()) else {
        return refuse("malformed assertion");
    };
    let Ok(sig) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig) else {
        return refuse("signature encoding");
    };
    if (RsaPublicKeyComponents { n: &n, e: &e })
        .verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
        .is_err()
    {
        return refuse("Invalid JWT Signature.");
    }
    if !tok
        .claims
        .audiences()
        .contains(&format!("{}/token", s.base).as_str())
    {
        return refuse("aud");
    }
    let mut w = s.world();
    w.grants += 1;
    let t = format!("ya29.emulator-{}", w.grants);
    w.access_tokens.push(t.clone());
    ok_json(&json!({"access_token": t, "expires_in": 3599, "token_type": "Bearer"}))
}

async fn amapi(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = amapi_inner(&s, &method, &uri, &q, &headers, &body);
    s.world().served.push(Served {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(String::new, |p| p.to_string()),
        status: r.status().as_u16(),
    });
    r
}

fn amapi_inner(
    s: &Shared,
    method: &Method,
    uri: &Uri,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let mut w = s.world();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|b| w.access_tokens.iter().any(|t| t == b)) {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    if let Some(f) = w.faults.pop_front() {
        return match f {
            Fault::TooManyRequests { retry_after } => {
                let mut r = google_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RESOURCE_EXHAUSTED",
                    "Quota exceeded for quota metric 'Requests'.",
                );
                if let Ok(v) = retry_after.to_string().parse() {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            Fault::ServerError(code) => google_error(
                StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                "UNAVAILABLE",
                "The service is currently unavailable.",
            ),
        };
    }
    let path = uri.path().trim_start_matches("/v1/");
    let segs: Vec<&str> = path.split('/').collect();
    let parsed: Result<Value, _> = if body.is_empty() {
        Ok(json!({}))
    } else {
        serde_json::from_slice(body)
    };
    let Ok(input) = parsed.and_then(|v: Value| {
        if v.is_object() {
            Ok(v)
        } else {
            serde_json::from_str("x")
        }
    }) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received.",
        );
    };
    w.counter += 1;
    let n = w.counter;
    match (method.as_str(), segs.as_slice()) {
        ("PATCH", ["enterprises", _, "policies", _]) => {
            if crate::parse::policy(body).is_err() {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "Invalid JSON payload received. Unknown name.",
                );
            }
            if let Some((_, msg)) = w
                .rejections
                .iter()
                .find(|(f, _)| input.get(f.as_str()).is_some())
            {
                let msg = msg.clone();
                return google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &msg);
            }
            let old = w.policies.get(path).cloned();
            let version = old
                .as_ref()
                .and_then(|p| p["version"].as_str())
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
                + 1;
            let mut p = match (q.get("updateMask"), old) {
                (Some(mask), Some(mut old)) => {
                    for f in mask.split(',') {
                        match input.get(f) {
                            Some(v) => old[f] = v.clone(),
                            None => {
                                if let Some(o) = old.as_object_mut() {
                                    o.remove(f);
                                }
                            }
                        }
                    }
                    old
                }
                _ => input,
            };
            p["name"] = Value::from(path);
            p["version"] = Value::from(version.to_string());
            w.policies.insert(path.to_owned(), p.clone());
            ok_json(&p)
        }
        ("GET", ["enterprises", _, "policies", _]) => match w.policies.get(path) {
            Some(p) => ok_json(p),
            None => google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Policy not found."),
        },
        ("GET", ["enterprises", _, "devices", _]) => match w.devices.get(path) {
            Some(d) => ok_json(d),
            None => google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Device not found."),
        },
        ("GET", ["enterprises", e, "devices"]) => {
            let prefix = format!("enterprises/{e}/devices/");
            let list: Vec<Value> = w
                .devices
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, v)| v.clone())
                .collect();
            ok_json(&json!({"devices": list}))
        }
        ("PATCH", ["enterprises", _, "devices", _]) => {
            let Some(d) = w.devices.get_mut(path) else {
                return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Device not found.");
            };
            for f in q
                .get("updateMask")
                .map(String::as_str)
                .unwrap_or("")
                .split(',')
            {
                if let Some(v) = input.get(f) {
                    d[f] = v.clone();
                }
            }
            ok_json(&d.clone())
        }
        ("POST", ["enterprises", _, "devices", d]) if d.ends_with(":issueCommand") => {
            let device = path.trim_end_matches(":issueCommand");
            if !w.devices.contains_key(device) {
                return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Device not found.");
            }
            let mut cmd = input;
            cmd["createTime"] = Value::from("2026-12-03T10:00:00Z");
            let name = format!("{device}/operations/{n}");
            let op = json!({
                "name": name,
                "done": false,
                "metadata": {"@type": crate::operation::COMMAND_METADATA_TYPE, "type": cmd["type"], "createTime": cmd["createTime"]},
            });
            w.operations.insert(name, op.clone());
            ok_json(&op)
        }
        ("GET", ["enterprises", _, "devices", _, "operations", _]) => {
            match w.operations.get(path) {
                Some(o) => ok_json(o),
                None => google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Operation not found."),
            }
        }
        ("POST", ["enterprises", e, "enrollmentTokens"]) => {
            let value: String = {
                let mut b = [0u8; 20];
                let _ = aws_lc_rs::rand::fill(&mut b);
                b.iter().map(|x| char::from(b'A' + x % 26)).collect()
            };
            let name = format!("enterprises/{e}/enrollmentTokens/t{n}");
            let qr = crate::enrollment::ProvisioningPayload::new(value.clone()).to_json();
            let mut t = input;
            t["name"] = Value::from(name.clone());
            t["value"] = Value::from(value);
            t["qrCode"] = Value::from(qr);
            t["expirationTimestamp"] = Value::from("2026-12-03T11:00:00Z");
            w.tokens.insert(name, t.clone());
            ok_json(&t)
        }
        ("DELETE", ["enterprises", _, "enrollmentTokens", _]) => {
            w.tokens.remove(path);
            ok_json(&json!({}))
        }
        _ => google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Method not found."),
    }
}

//! The SCEP endpoint (RFC 8894): `GET|POST /{tenant}/scep`, where devices
//! get their identity certificate from the tenant's CA.
//!
//! | request | answer |
//! |---|---|
//! | `GET ?operation=GetCACaps` | the capabilities, `text/plain` |
//! | `GET ?operation=GetCACert` | the tenant CA chain and the SCEP responder (RA) certificate, a certs-only PKCS#7 |
//! | `POST ?operation=PKIOperation` (body) or `GET ?operation=PKIOperation&message=BASE64` | a `CertRep` |
//!
//! A `PKCSReq` spends a one-time challenge ([`mdmkit::challenge`]) from
//! the request's `challengePassword`; the certificate issued for it is
//! recorded under the challenge's node, where the device lands when it
//! authenticates. A `RenewalReq` signed by the device's current
//! certificate (valid, unrevoked, of this tenant's CA) needs no challenge:
//! the new certificate keeps the device's identity, and the server's
//! binding follows it on the device's next request.
//!
//! Every refusal of a request that was read far enough (a bad signature,
//! an envelope that does not open, a refused challenge or CSR) is a
//! `CertRep` FAILURE with its `failInfo`, answered 200; only input that is
//! not a pkiMessage at all is an HTTP 400. Every decryption failure is
//! answered the same way.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use mdmkit::DeviceId;
use mdmkit::challenge::{self, IssuedCertificate};
use mdmkit::identity::scep::{
    self, FailInfo, Limits, MessageType, PkiMessage, RaIdentity, ScepError,
};
use mdmkit::identity::{DEFAULT_DEVICE_DAYS, IssueRequest, IssuedCertificate as Issued, TenantCa};
use mdmkit::queue::{Clock as _, SystemClock, Timestamp};

use crate::error::RequestError;
use crate::state::AppState;
use crate::tenant::TenantContext;

/// A tenant's SCEP responder: the CA that issues and the RA that reads
/// requests and signs replies.
pub struct ScepService {
    ca: TenantCa,
    ra: RaIdentity,
    limits: Limits,
    days: u32,
}

impl std::fmt::Debug for ScepService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScepService")
            .field("tenant", self.ca.tenant())
            .finish_non_exhaustive()
    }
}

impl ScepService {
    /// Issues with `ca`, reads and answers as `ra` (an RA certificate of
    /// that CA: [`RaIdentity::generate`]).
    pub fn new(ca: TenantCa, ra: RaIdentity) -> Self {
        Self {
            ca,
            ra,
            limits: Limits::default(),
            days: DEFAULT_DEVICE_DAYS,
        }
    }

    /// Sets how long issued certificates are valid, in days.
    pub fn with_days(mut self, days: u32) -> Self {
        self.days = days;
        self
    }

    /// The certificates GetCACert answers: the CA chain, root first, then
    /// the RA.
    fn ca_certs(&self) -> Vec<u8> {
        let mut chain: Vec<&[u8]> = vec![self.ca.root_der()];
        if let Some(i) = self.ca.intermediate_der() {
            chain.push(i);
        }
        scep::ca_certs(&chain, self.ra.certificate_der())
    }

    /// The chain sent with an issued certificate (issuing CA first).
    fn issued_chain(&self) -> Vec<&[u8]> {
        let mut chain: Vec<&[u8]> = Vec::new();
        if let Some(i) = self.ca.intermediate_der() {
            chain.push(i);
        }
        chain.push(self.ca.root_der());
        chain
    }
}

/// The SCEP routes, to merge into an app.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/scep", get(endpoint).post(endpoint))
        // Some clients append the CGI name of the first SCEP servers.
        .route("/{tenant}/scep/pkiclient.exe", get(endpoint).post(endpoint))
}

/// A query parameter, percent-decoded. A `+` stays a `+`: form encoding
/// would read it as a space, but a base64 message that a client did not
/// escape carries real `+` signs.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A base64 message in either alphabet, padded or not, whitespace ignored.
fn decode_message(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(compact.as_bytes()).ok())
}

fn answer(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn endpoint(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, RequestError> {
    let ctx = app.tenant(&tenant)?;
    let Some(service) = ctx.scep() else {
        return Err(RequestError::NotFound(format!(
            "SCEP is not served for tenant {tenant}"
        )));
    };
    let query = query.unwrap_or_default();
    let operation = param(&query, "operation").unwrap_or_default();
    tracing::Span::current().record("message", operation.as_str());
    match operation.as_str() {
        "GetCACaps" => Ok(answer(
            scep::CAPABILITIES_CONTENT_TYPE,
            scep::capabilities().as_bytes().to_vec(),
        )),
        "GetCACert" => Ok(answer(scep::CA_RA_CERT_CONTENT_TYPE, service.ca_certs())),
        "PKIOperation" => {
            let der = if method == Method::POST {
                body.to_vec()
            } else {
                let text = param(&query, "message").ok_or_else(|| {
                    RequestError::Invalid("PKIOperation by GET without a message".into())
                })?;
                decode_message(&text).ok_or_else(|| {
                    RequestError::Invalid("PKIOperation message is not base64".into())
                })?
            };
            pki_operation(&ctx, service, &der).await
        }
        other => Err(RequestError::Invalid(format!(
            "unknown SCEP operation {:?}",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// Whom a certificate is issued to.
enum Who {
    /// The identity of the certificate a renewal was signed with.
    Renewal(Box<mdmkit::identity::DeviceIdentity>),
    /// A new identity, for a first enrollment.
    Fresh(DeviceId),
    /// The identity of the certificate a renewal challenge renews, and
    /// when that certificate ends.
    Renewed(DeviceId, Timestamp),
}

/// The certificate identity (the device id of its `urn:mdmkit:` name) of
/// the certificate with this SHA-256, and when it ends: from its issuance
/// record, else from the enrollment bound to it. `None` when neither is
/// known (the renewal then enrolls a fresh identity, as a first enrollment
/// would).
async fn renewed_identity(
    ctx: &TenantContext,
    sha256: &str,
) -> Result<Option<(DeviceId, Timestamp)>, RequestError> {
    let state = ctx.reconciler().state();
    let id = match state.issued_certificate(ctx.id(), sha256).await? {
        Some(c) => Some((c.device_id, c.not_after)),
        None => state
            .enrollment_by_certificate(ctx.id(), sha256)
            .await?
            .and_then(|e| e.certificate)
            .map(|b| (b.cert_device.to_string(), b.not_after)),
    };
    Ok(id.and_then(|(d, ends)| DeviceId::new(d).ok().map(|d| (d, ends))))
}

/// A store timestamp as a time (the epoch for one out of range).
fn timestamp_time(t: Timestamp) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_millis()) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Reads a pkiMessage and answers it.
async fn pki_operation(
    ctx: &Arc<TenantContext>,
    s: &ScepService,
    der: &[u8],
) -> Result<Response, RequestError> {
    let reply = |r: Result<Vec<u8>, ScepError>| match r {
        Ok(bytes) => Ok(answer(scep::PKI_MESSAGE_CONTENT_TYPE, bytes)),
        // The RA could not write its answer: the server's failure.
        Err(e) => Err(RequestError::internal(e)),
    };
    let msg = match PkiMessage::parse(der, &s.limits) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "SCEP request refused");
            return match e.message() {
                Some(m) => reply(m.failure(&s.ra, e.fail_info())),
                None => Err(RequestError::Invalid(format!("not a SCEP pkiMessage: {e}"))),
            };
        }
    };
    let refuse = |why: &str, info: FailInfo| {
        tracing::warn!(
            transaction = msg.transaction_id(),
            fail_info = ?info,
            reason = why,
            "SCEP request refused"
        );
        reply(msg.failure(&s.ra, info))
    };
    let csr = match msg.message_type() {
        MessageType::PkcsReq | MessageType::RenewalReq => match msg.decrypt(&s.ra) {
            Ok(csr) => csr,
            // One answer for every decryption failure.
            Err(e) => return refuse(&e.to_string(), e.fail_info()),
        },
        other => {
            return refuse(
                &format!("{other:?} is not served (certificates are issued at once)"),
                FailInfo::BadRequest,
            );
        }
    };
    let now = SystemClock.now();
    let state = ctx.reconciler().state();
    let (node, challenge_id, renews, who) = if msg.message_type() == MessageType::RenewalReq {
        // Renewal: the current certificate vouches for the device.
        let current = msg.signer_certificate_der();
        let verifier = ctx.verifier()?;
        let identity = match verifier.verify_der(current, &[], time::OffsetDateTime::now_utc()) {
            Ok(id) => id,
            Err(e) => {
                return refuse(
                    &format!("renewal signed by a certificate that does not verify: {e}"),
                    FailInfo::BadCertId,
                );
            }
        };
        let old = identity.sha256.to_hex();
        let node = match state.issued_certificate(ctx.id(), &old).await? {
            Some(c) => Some(c.node),
            None => state
                .enrollment_by_certificate(ctx.id(), &old)
                .await?
                .map(|e| e.node),
        };
        (node, None, Some(old), Who::Renewal(Box::new(identity)))
    } else {
        let Some(secret) = csr.challenge_password() else {
            return refuse("PKCSReq without a challengePassword", FailInfo::BadRequest);
        };
        match state
            .spend_challenge(ctx.id(), &challenge::digest(secret), now)
            .await?
        {
            Ok(c) => {
                // A renewal challenge (queued by the reconcile loop inside a
                // fresh enrollment profile) keeps the renewed certificate's
                // identity, so the enrollment follows the new certificate
                // as a renewal, not a re-enrollment.
                let renewed = match &c.renews {
                    Some(old) => renewed_identity(ctx, old).await?,
                    None => None,
                };
                let who = match renewed {
                    Some((device, ends)) => Who::Renewed(device, ends),
                    None => Who::Fresh(
                        DeviceId::new(format!("scep-{}", uuid::Uuid::new_v4().simple()))
                            .map_err(RequestError::internal)?,
                    ),
                };
                (Some(c.node), Some(c.id), c.renews, who)
            }
            Err(refusal) => return refuse(refusal.as_str(), FailInfo::BadRequest),
        }
    };
    // A renewal through TenantCa::reissue (same identity, ends later); a
    // first enrollment gets a fresh identity.
    let result = match who {
        Who::Renewal(current) => s.ca.reissue(&current, &csr, s.days),
        Who::Fresh(device) => s.ca.issue(&csr, &IssueRequest::new(device).days(s.days)),
        // The binding only ever moves to a certificate that ends later.
        Who::Renewed(device, ends) => s.ca.issue(
            &csr,
            &IssueRequest::new(device)
                .days(s.days)
                .ends_after(timestamp_time(ends)),
        ),
    };
    let issued: Issued = match result {
        Ok(c) => c,
        Err(e) => return refuse(&format!("cannot issue: {e}"), FailInfo::BadRequest),
    };
    let tree = ctx.tree();
    let node = node
        .filter(|n| tree.node(n).is_some())
        .unwrap_or_else(|| tree.root().id().clone());
    let mut record = IssuedCertificate::new(
        ctx.id().clone(),
        issued.sha256.to_hex(),
        node.clone(),
        issued.serial.to_string(),
        issued.device_id.to_string(),
        now,
        Timestamp::from_millis(
            i64::try_from(issued.not_after.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
        ),
    );
    if let Some(c) = challenge_id {
        record = record.with_challenge(c);
    }
    if let Some(old) = renews {
        record = record.renewing(old);
    }
    state.put_issued_certificate(&record).await?;
    tracing::info!(
        transaction = msg.transaction_id(),
        certificate = %record.sha256,
        node = %node,
        renewal = record.renews.is_some(),
        "SCEP certificate issued"
    );
    reply(msg.success(&s.ra, &issued.der, &s.issued_chain()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_percent_decoded_and_base64_read_in_both_alphabets() {
        let q = "operation=PKIOperation&message=ab%2Bc%2F%3D%3D";
        assert_eq!(param(q, "operation").as_deref(), Some("PKIOperation"));
        assert_eq!(param(q, "message").as_deref(), Some("ab+c/=="));
        assert_eq!(param(q, "nothing"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        let bytes = vec![0xfb, 0xff, 0x00, 0x10];
        for text in ["+/8AEA==", "-_8AEA", "+/8A EA=="] {
            assert_eq!(decode_message(text), Some(bytes.clone()), "{text}");
        }
        assert_eq!(decode_message("not base64!"), None);
    }
}

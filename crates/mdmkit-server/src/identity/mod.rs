//! Who is speaking: the device certificate behind a request, checked
//! against the tenant's CA and bound to one enrollment.
//!
//! A device presents its identity certificate in one of three ways, read in
//! this order:
//!
//! 1. **TLS**: the client certificate of the connection. [`crate::serve`]
//!    puts it in the request's extensions as [`PeerCertificates`]; an
//!    integrator with a TLS stack of their own inserts the same extension.
//! 2. **`Mdm-Signature`**: a base64 detached CMS signature over the body,
//!    sent when the enrollment profile sets `SignMessage`. The signature
//!    must verify over the exact body bytes; its signer certificate is the
//!    identity. When a TLS certificate is also present, both must be the
//!    same certificate.
//! 3. **`Client-Cert`** (RFC 9440, or nginx's escaped PEM), set by a
//!    TLS-terminating proxy, and read only when the connection comes from
//!    an address the operator trusts ([`crate::ServerConfig::trust_proxy`]).
//!    From anyone else the header is ignored (and logged): a device cannot
//!    claim a certificate it does not hold.
//!
//! The certificate is then verified by the tenant's [`Verifier`] (path to
//! the tenant CA, validity, clientAuth, revocation, tenant URN), so a
//! certificate of another tenant's CA never passes. [`binding`] decides
//! whether it may speak for the enrollment named in the message.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::request::Parts;
use mdmkit::identity::{DeviceIdentity, Verifier};

use crate::config::ServerConfig;
use crate::error::RequestError;

pub mod binding;
mod client_cert;

pub use client_cert::{ClientCertError, MAX_CLIENT_CERT_HEADER, parse_client_cert};

/// The `Mdm-Signature` header.
pub const MDM_SIGNATURE: &str = "mdm-signature";
/// The RFC 9440 header a trusted proxy sets.
pub const CLIENT_CERT: &str = "client-cert";
/// The longest `Mdm-Signature` value read (a CMS signature with a chain of
/// a few certificates, in base64).
pub const MAX_SIGNATURE_HEADER: usize = 64 * 1024;

/// The TLS client certificates of a connection, leaf first, as DER: a
/// request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificates(pub Arc<[Vec<u8>]>);

/// Where a request's certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertSource {
    /// The TLS client certificate.
    Tls,
    /// The signer of the `Mdm-Signature` header.
    MdmSignature,
    /// The `Client-Cert` header of a trusted proxy.
    ProxyHeader,
}

impl CertSource {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::MdmSignature => "mdm-signature",
            Self::ProxyHeader => "client-cert-header",
        }
    }
}

/// A certificate a request presented, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// The leaf, DER.
    pub der: Vec<u8>,
    /// Intermediates sent with it, DER.
    pub chain: Vec<Vec<u8>>,
    /// Where it came from.
    pub source: CertSource,
}

/// Finds the certificate a request presents (see the module docs for the
/// order). `None`: none at all.
pub fn presented(
    parts: &Parts,
    body: &[u8],
    config: &ServerConfig,
) -> Result<Option<Presented>, RequestError> {
    let tls = parts.extensions.get::<PeerCertificates>();
    let signed = signature_cert(&parts.headers, body)?;
    if let Some(peer) = tls
        && let Some((leaf, rest)) = peer.0.split_first()
    {
        if let Some(s) = &signed
            && s.der != *leaf
        {
            return Err(RequestError::Invalid(
                "Mdm-Signature signer differs from the TLS client certificate".into(),
            ));
        }
        return Ok(Some(Presented {
            der: leaf.clone(),
            chain: rest.to_vec(),
            source: CertSource::Tls,
        }));
    }
    if signed.is_some() {
        return Ok(signed);
    }
    let Some(value) = parts.headers.get(CLIENT_CERT) else {
        return Ok(None);
    };
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if !peer.is_some_and(|ip| config.is_trusted_proxy(ip)) {
        tracing::warn!(peer = ?peer, "Client-Cert header from an untrusted address ignored");
        return Ok(None);
    }
    let der = parse_client_cert(value.as_bytes()).map_err(RequestError::ClientCertHeader)?;
    Ok(Some(Presented {
        der,
        chain: Vec::new(),
        source: CertSource::ProxyHeader,
    }))
}

fn signature_cert(headers: &HeaderMap, body: &[u8]) -> Result<Option<Presented>, RequestError> {
    let Some(v) = headers.get(MDM_SIGNATURE) else {
        return Ok(None);
    };
    if v.len() > MAX_SIGNATURE_HEADER {
        return Err(RequestError::Invalid(format!(
            "Mdm-Signature longer than {MAX_SIGNATURE_HEADER} bytes"
        )));
    }
    let text = v
        .to_str()
        .map_err(|_| RequestError::Invalid("Mdm-Signature is not ASCII".into()))?;
    let der = mdmkit::apple::verify_mdm_signature(text, body).map_err(RequestError::Signature)?;
    Ok(Some(Presented {
        der,
        chain: Vec::new(),
        source: CertSource::MdmSignature,
    }))
}

/// Verifies a presented certificate against the tenant's CA now.
pub fn verify(verifier: &Verifier, p: &Presented) -> Result<DeviceIdentity, RequestError> {
    let chain: Vec<&[u8]> = p.chain.iter().map(Vec::as_slice).collect();
    verifier
        .verify_der(&p.der, &chain, time::OffsetDateTime::now_utc())
        .map_err(RequestError::Certificate)
}

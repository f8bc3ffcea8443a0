//! Device identity for mdmkit: one certificate authority per tenant, strict
//! intake of the certificate signing requests devices send, device
//! certificates that real TLS stacks accept, verification of presented
//! client certificates, renewal, revocation, and Ed25519 signed envelopes.
//!
//! Every request a managed device makes is authenticated by the X.509 client
//! certificate it was issued at enrollment. A certificate binds one device
//! of one tenant through the subjectAltName URN
//! `urn:mdmkit:{tenant}:device:{device}` (see [`urn`]); tenant CAs carry
//! `urn:mdmkit:{tenant}:ca`, and the [`Verifier`] checks both, so a
//! certificate issued under tenant A never verifies as tenant B.
//!
//! ```
//! use mdmkit_core::{DeviceId, TenantId};
//! use mdmkit_identity::{CaBuilder, CertificateRequest, IssueRequest, KeyAlgorithm};
//!
//! // A tenant CA (keys stay in memory here; `CaDir` stores them).
//! let ca = CaBuilder::new(TenantId::new("town-7")?)
//!     .algorithm(KeyAlgorithm::P256)
//!     .build()?;
//!
//! // A CSR as a device would send it (made with rcgen for the example).
//! let device_key = rcgen::KeyPair::generate()?;
//! let csr_pem = rcgen::CertificateParams::new(Vec::<String>::new())?
//!     .serialize_request(&device_key)?
//!     .pem()?;
//!
//! let csr = CertificateRequest::parse(csr_pem.as_bytes())?;
//! let cert = ca.issue(&csr, &IssueRequest::new(DeviceId::new("ipad-0042")?))?;
//!
//! let identity = ca.verifier().verify(cert.pem.as_bytes(), time::OffsetDateTime::now_utc())?;
//! assert_eq!(identity.device_id.as_str(), "ipad-0042");
//! assert_eq!(identity.tenant.as_str(), "town-7");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crypto backend
//!
//! One backend, aws-lc-rs, serves rcgen (certificate and CRL signing, and
//! the only rcgen backend that generates RSA keys), rustls-webpki (path
//! validation, CRL checks) and x509-parser (CSR self-signatures). Envelopes
//! use ed25519-dalek.
//!
//! # Feature flags
//!
//! | feature | default | module |
//! | --- | --- | --- |
//! | `scep` | yes | [`scep`]: the message layer of a SCEP server (RFC 8894) |
//!
//! Everything else is always built.
//!
//! # Times
//!
//! Points in time are [`time::OffsetDateTime`] values; the [`time`] crate is
//! re-exported so callers need not depend on it themselves.
#![forbid(unsafe_code)]

mod alg;
mod ca;
mod crl;
mod csr;
mod decode;
pub mod envelope;
mod error;
mod issue;
pub mod pem;
#[cfg(feature = "scep")]
pub mod scep;
mod serial;
mod signer;
pub mod store;
pub mod urn;
mod verify;

pub use alg::{KeyAlgorithm, KeyAlgorithmParseError};
pub use ca::{CLOCK_SKEW, CaBuilder, CaPem, DEFAULT_CA_DAYS, MAX_CA_DAYS, TenantCa};
pub use crl::{Crl, Revocation, RevocationReason};
pub use csr::{CertificateRequest, KeyKind, MAX_RSA_BITS, MIN_RSA_BITS, SubjectAltName};
pub use envelope::{EnvelopeSigner, KeyId, Keyring, Payload, PublicKey, Signed};
pub use error::{CaError, CsrError, DecodeError, EnvelopeError, Error, StoreError, VerifyError};
pub use issue::{DEFAULT_DEVICE_DAYS, IssueRequest, IssuedCertificate, MAX_DEVICE_DAYS};
pub use serial::{Fingerprint, Serial, SerialParseError};
pub use signer::{IssuedSigner, SIGNER_DAYS};
pub use store::{CaDir, LedgerEntry, RevokeOutcome};
pub use verify::{DeviceIdentity, Verifier};

/// The date-time crate used in this API, re-exported.
pub use time;

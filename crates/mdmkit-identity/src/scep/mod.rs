//! The message layer of a SCEP server (RFC 8894): what the registration
//! authority (RA) of a tenant reads and answers. HTTP is not here: a server
//! maps its routes onto these calls.
//!
//! # The message flow
//!
//! 1. **GetCACaps**: the client asks what the server supports; answer
//!    [`capabilities`] as `text/plain`.
//! 2. **GetCACert**: the client fetches the certificates; answer
//!    [`ca_certs`] as [`CA_RA_CERT_CONTENT_TYPE`]: the tenant CA chain and
//!    the [`RaIdentity`] certificate in a certs-only PKCS#7. The client
//!    encrypts to the RA certificate and checks replies with it.
//! 3. **PKIOperation**: the client sends a pkiMessage
//!    ([`PKI_MESSAGE_CONTENT_TYPE`]): CMS SignedData signed by the client's
//!    key (with a self-signed certificate for a first PKCSReq, with its
//!    current certificate for a RenewalReq), whose signed attributes carry
//!    messageType, transactionID and senderNonce, and whose content is an
//!    EnvelopedData encrypted to the RA that holds the PKCS#10 request.
//!    - [`PkiMessage::parse`] reads the outer message and verifies its
//!      signature, decrypting nothing;
//!    - [`PkiMessage::decrypt`] opens the envelope with the RA key and
//!      returns the checked [`CertificateRequest`](crate::CertificateRequest)
//!      with its challengePassword;
//!    - the caller decides (a one-time challenge for PKCSReq, the current
//!      certificate for RenewalReq) and issues with
//!      [`TenantCa::issue`](crate::TenantCa::issue);
//!    - [`PkiMessage::success`] or [`PkiMessage::failure`] writes the
//!      CertRep, signed by the RA; on success the issued certificate travels
//!      in a certs-only PKCS#7 encrypted to the requester's certificate.
//!
//! Failures are answered with a CertRep FAILURE, not an HTTP error: every
//! [`ScepError`] has the [`FailInfo`] to answer with, and those raised after
//! the outer message was read far enough carry it ([`ScepError::message`]).
//!
//! ```
//! use mdmkit_identity::scep::{self, Limits, PkiMessage, RaIdentity, ScepError};
//! use mdmkit_identity::{CaBuilder, IssueRequest, TenantCa};
//!
//! /// POST /scep?operation=PKIOperation
//! fn pki_operation(ca: &TenantCa, ra: &RaIdentity, body: &[u8]) -> Result<Vec<u8>, ScepError> {
//!     let msg = match PkiMessage::parse(body, &Limits::default()) {
//!         Ok(msg) => msg,
//!         // Read far enough to answer: a CertRep FAILURE.
//!         Err(e) => match e.message() {
//!             Some(msg) => return msg.failure(ra, e.fail_info()),
//!             None => return Err(e), // not a pkiMessage: HTTP 400
//!         },
//!     };
//!     let csr = match msg.decrypt(ra) {
//!         Ok(csr) => csr,
//!         Err(e) => return msg.failure(ra, e.fail_info()),
//!     };
//!     if csr.challenge_password() != Some("one-time-secret") {
//!         return msg.failure(ra, scep::FailInfo::BadRequest);
//!     }
//!     let device = mdmkit_core::DeviceId::new("ipad-0042").expect("a valid id");
//!     match ca.issue(&csr, &IssueRequest::new(device)) {
//!         Ok(cert) => msg.success(ra, &cert.der, &[]),
//!         Err(_) => msg.failure(ra, scep::FailInfo::BadRequest),
//!     }
//! }
//!
//! let ca = CaBuilder::new("town-7".parse()?).build()?;
//! let ra = RaIdentity::generate(&ca)?;
//! let get_ca_cert = scep::ca_certs(&[ca.root_der()], ra.certificate_der());
//! assert!(scep::capabilities().lines().any(|l| l == "SCEPStandard"));
//!
//! let err = pki_operation(&ca, &ra, b"not a pkiMessage").unwrap_err();
//! assert_eq!(err.fail_info(), scep::FailInfo::BadRequest);
//! # let _ = get_ca_cert;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Algorithms
//!
//! Requests may be signed with RSA PKCS#1 v1.5 (SHA-1, SHA-256, SHA-384,
//! SHA-512; 2048 to 8192 bits) or ECDSA P-256, and encrypted with
//! AES-128/192/256-CBC, DES-EDE3-CBC or DES-CBC under RSA PKCS#1 v1.5 key
//! transport. Replies mirror the request's digest (SHA-1 requests get
//! SHA-256: see [`DigestAlgorithm::for_reply`]) and content cipher.
//!
//! Decryption never tells a wrong RSA block from bad padding or a garbage
//! plaintext: a random key stands in for one that does not unwrap, and
//! every failure after the key unwrap is [`ScepError::DecryptionFailed`].

mod alg;
mod envelope;
mod error;
mod message;
mod ra;
mod reply;
mod signed;
mod walk;

pub use alg::{ContentCipher, DigestAlgorithm};
pub use error::{FailInfo, ScepError};
pub use message::{MAX_TRANSACTION_ID_LEN, MessageType, PkiMessage, PkiStatus};
pub use ra::{DEFAULT_RA_DAYS, RaIdentity, RaPem};
pub use reply::ca_certs;

/// Content type of the GetCACert answer when an RA is used.
pub const CA_RA_CERT_CONTENT_TYPE: &str = "application/x-x509-ca-ra-cert";
/// Content type of pkiMessages, both ways.
pub const PKI_MESSAGE_CONTENT_TYPE: &str = "application/x-pki-message";
/// Content type of the GetCACaps answer.
pub const CAPABILITIES_CONTENT_TYPE: &str = "text/plain";

/// The GetCACaps answer: one capability per line.
///
/// POSTPKIOperation, SCEPStandard (which implies AES, POSTPKIOperation and
/// SHA-256), Renewal, the SHA-2 digests, AES, DES3 and SHA-1 for older
/// clients. Single DES is accepted without being advertised.
pub fn capabilities() -> &'static str {
    "POSTPKIOperation\nSCEPStandard\nRenewal\nSHA-256\nSHA-512\nAES\nDES3\nSHA-1\n"
}

/// Bounds on untrusted pkiMessages.
///
/// The defaults fit every real client with room to spare: a request is a
/// few KiB, carries one or two certificates and fewer than ten signed
/// attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest message (and envelope) accepted, in bytes.
    pub max_message_len: usize,
    /// Deepest nesting of constructed values (capped at 128).
    pub max_depth: usize,
    /// Most certificates in the SignedData.
    pub max_certificates: usize,
    /// Most signed attributes.
    pub max_attributes: usize,
    /// Most recipients in the envelope.
    pub max_recipients: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_len: 256 * 1024,
            max_depth: 32,
            max_certificates: 16,
            max_attributes: 32,
            max_recipients: 8,
        }
    }
}

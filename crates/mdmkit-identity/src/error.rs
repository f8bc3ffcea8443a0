//! The crate's error tree: one family per concern, all under [`Error`].

use std::path::PathBuf;

/// Any failure of this crate.
///
/// Functions return the family that fits them ([`CsrError`], [`CaError`],
/// [`VerifyError`], [`StoreError`], [`EnvelopeError`]); each converts into
/// this root with `?`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate signing request was refused.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// Creating, loading or using a certificate authority failed.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// A presented certificate did not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Reading or writing a CA directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A signed envelope could not be made or did not verify.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// Why PEM or DER input could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is larger than the parser accepts.
    #[error("input is {len} bytes, at most {max} are accepted")]
    TooLarge {
        /// The input's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input is empty.
    #[error("input is empty")]
    Empty,
    /// The input is not DER, and as PEM (read by [`crate::pem`]) it is
    /// broken or has no block with the expected label.
    #[error("not DER (starting with 0x30), and {0}")]
    Pem(#[from] crate::pem::PemError),
    /// The DER structure is malformed.
    #[error("malformed {what} DER: {reason}")]
    Der {
        /// What was being parsed (`certificate request`, `certificate`).
        what: &'static str,
        /// What the DER parser said.
        reason: String,
    },
    /// Bytes follow the DER structure.
    #[error("{count} trailing bytes after the {what} at byte offset {offset}")]
    TrailingData {
        /// What was parsed.
        what: &'static str,
        /// Where the trailing bytes start.
        offset: usize,
        /// How many trailing bytes there are.
        count: usize,
    },
}

/// Why a certificate signing request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// The request could not be decoded.
    #[error("certificate request: {0}")]
    Decode(#[from] DecodeError),
    /// The key algorithm is not one of RSA, EC P-256/P-384 or Ed25519.
    #[error(
        "certificate request key algorithm {algorithm} is not accepted; use RSA (2048 bits or more), EC P-256, EC P-384 or Ed25519"
    )]
    UnsupportedKeyAlgorithm {
        /// The key's algorithm OID or name.
        algorithm: String,
    },
    /// The EC key is on a curve outside the policy.
    #[error("certificate request EC key is on curve {curve}; only P-256 and P-384 are accepted")]
    UnsupportedCurve {
        /// The curve's OID or name.
        curve: String,
    },
    /// The RSA key is too short or too long.
    #[error("certificate request RSA key has {bits} bits; {min} to {max} are accepted")]
    RsaKeySize {
        /// The modulus length in bits.
        bits: usize,
        /// The smallest accepted size.
        min: usize,
        /// The largest accepted size.
        max: usize,
    },
    /// The public key bytes are malformed.
    #[error("certificate request public key is malformed: {reason}")]
    MalformedKey {
        /// What is wrong with it.
        reason: String,
    },
    /// The request is signed with an algorithm outside the policy (SHA-1, MD5, ...).
    #[error("certificate request is signed with {algorithm}, which is not accepted")]
    UnsupportedSignatureAlgorithm {
        /// The signature algorithm's OID or name.
        algorithm: String,
    },
    /// The self-signature does not verify: the request was altered or the
    /// requester does not hold the private key.
    #[error("certificate request signature does not verify (tampered request or wrong key)")]
    BadSignature,
    /// An attribute or a requested extension is malformed.
    #[error("certificate request {what} is malformed: {reason}")]
    MalformedAttribute {
        /// Which attribute or extension.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why a certificate authority could not be created, loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The CA certificate or key could not be decoded.
    #[error("CA {what}: {source}")]
    Decode {
        /// Which file content (`certificate`, `private key`).
        what: &'static str,
        /// The decoding failure.
        #[source]
        source: DecodeError,
    },
    /// The certificate is not an mdmkit CA: no tenant URN, not a CA, ...
    #[error("not an mdmkit tenant CA certificate: {reason}")]
    NotTenantCa {
        /// What is missing.
        reason: String,
    },
    /// The private key does not belong to the CA certificate.
    #[error("the CA private key does not match the CA certificate")]
    KeyMismatch,
    /// The private key could not be read.
    #[error("CA private key is unusable: {reason}")]
    BadKey {
        /// What the key loader said.
        reason: String,
    },
    /// An intermediate is bound to another tenant or not signed by its root.
    #[error("intermediate CA does not belong to this root: {reason}")]
    ChainMismatch {
        /// What does not match.
        reason: String,
    },
    /// A validity period in days is out of range.
    #[error("validity of {days} days is out of range (1 to {max})")]
    BadValidity {
        /// The requested days.
        days: u32,
        /// The maximum.
        max: u32,
    },
    /// An extra subject alternative name is not acceptable.
    #[error("subject alternative name {value:?} is not acceptable: {reason}")]
    BadSan {
        /// The name as given.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A device identity of another tenant was presented to this CA.
    #[error("identity belongs to tenant {found:?}, this CA serves {expected:?}")]
    WrongTenant {
        /// This CA's tenant.
        expected: String,
        /// The identity's tenant.
        found: String,
    },
    /// The certificate would outlive the CA that issues it.
    #[error("certificate would end at {not_after}, after its issuing CA ends at {ca_not_after}")]
    OutlivesCa {
        /// The requested notAfter, RFC 3339.
        not_after: String,
        /// The CA's notAfter, RFC 3339.
        ca_not_after: String,
    },
    /// The certificate to revoke was not issued by this CA.
    #[error("certificate was not issued by this CA: {reason}")]
    NotIssuedHere {
        /// Why it is foreign.
        reason: String,
    },
    /// The crypto backend failed (key generation, signing).
    #[error("crypto backend failed while {during}: {reason}")]
    Backend {
        /// What was being done.
        during: &'static str,
        /// What the backend said.
        reason: String,
    },
}

/// Why a presented client certificate was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The certificate could not be decoded.
    #[error("certificate: {0}")]
    Decode(#[from] DecodeError),
    /// The certificate has expired.
    #[error("certificate expired at {not_after}")]
    Expired {
        /// Its notAfter, RFC 3339.
        not_after: String,
    },
    /// The certificate is not valid yet.
    #[error("certificate is not valid before {not_before}")]
    NotYetValid {
        /// Its notBefore, RFC 3339.
        not_before: String,
    },
    /// No path leads to this tenant's trust anchors (foreign CA, or a
    /// missing intermediate).
    #[error("certificate was not issued by this tenant's CA (unknown issuer)")]
    UnknownIssuer,
    /// A signature on the path does not verify although the certificate
    /// names one of this tenant's CA keys: it was altered.
    #[error("certificate signature does not verify against its issuer (tampered certificate)")]
    BadSignature,
    /// The certificate is revoked.
    #[error("certificate serial {serial} is revoked")]
    Revoked {
        /// Its serial, lower-case hex.
        serial: String,
    },
    /// The certificate lacks the clientAuth extended key usage.
    #[error(
        "certificate is not valid for TLS client authentication (no clientAuth extended key usage)"
    )]
    NotForClientAuth,
    /// The certificate is bound to another tenant.
    #[error("certificate belongs to tenant {found:?}, not {expected:?}")]
    WrongTenant {
        /// The tenant being verified for.
        expected: String,
        /// The tenant in the certificate's URN.
        found: String,
    },
    /// The certificate carries no (or a malformed) mdmkit device URN.
    #[error("certificate carries no valid mdmkit device URN: {reason}")]
    NoDeviceUrn {
        /// What was missing or wrong.
        reason: String,
    },
    /// Path validation failed for another reason.
    #[error("certificate path is invalid: {reason}")]
    Invalid {
        /// The validator's reason.
        reason: String,
    },
}

/// Why a CA directory could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A file exists where a new CA would be written.
    #[error("{} already exists; refusing to overwrite a CA", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A file's content is not what the CA directory expects.
    #[error("{}: {source}", path.display())]
    Ca {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: CaError,
    },
    /// The revocation ledger is malformed.
    #[error("{}: revocation ledger is malformed at line {line}, column {column}: {reason}", path.display())]
    Ledger {
        /// The ledger file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON parser said.
        reason: String,
    },
}

/// Why a signed envelope could not be made or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// A key id is empty, too long or has characters outside its alphabet.
    #[error("key id {0:?} is invalid: 1 to 64 ASCII letters, digits, '-', '_' and '.' are allowed")]
    BadKeyId(String),
    /// The payload could not be encoded canonically.
    #[error("payload cannot be encoded canonically: {reason}")]
    Encode {
        /// Why.
        reason: String,
    },
    /// The key id is not in the keyring.
    #[error("no key {key_id:?} in the keyring")]
    UnknownKey {
        /// The key id.
        key_id: String,
    },
    /// The envelope holds another kind of payload.
    #[error("envelope holds a {found:?} payload, expected {expected:?}")]
    WrongKind {
        /// The expected kind.
        expected: String,
        /// The kind in the envelope.
        found: String,
    },
    /// The signature does not verify.
    #[error("envelope signature does not verify")]
    BadSignature,
    /// The signature is not 64 bytes of lower-case hex.
    #[error("envelope signature is malformed: {reason}")]
    MalformedSignature {
        /// Why.
        reason: String,
    },
    /// A public key is not a valid Ed25519 point.
    #[error("public key is not a valid Ed25519 key")]
    BadPublicKey,
    /// The payload is not in canonical form.
    #[error("envelope payload is not canonical JSON")]
    NotCanonical,
    /// The payload does not decode into the expected type.
    #[error("envelope payload does not decode: {reason}")]
    Payload {
        /// What the decoder said.
        reason: String,
    },
    /// The payload is larger than accepted.
    #[error("envelope payload is {len} bytes, at most {max} are accepted")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

//! SCEP failures, each with the `failInfo` a CertRep answers it with.

use std::fmt;

use super::message::{MessageType, PkiMessage};
use super::walk::{WalkError, WalkErrorKind};
use crate::error::CsrError;

/// The `failInfo` of a failed CertRep (RFC 8894 section 3.2.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailInfo {
    /// `badAlg` (0): unrecognized or unsupported algorithm.
    BadAlg,
    /// `badMessageCheck` (1): integrity check (signature or decryption)
    /// failed.
    BadMessageCheck,
    /// `badRequest` (2): transaction not permitted or supported.
    BadRequest,
    /// `badTime` (3): the message time was not close enough to the system
    /// time.
    BadTime,
    /// `badCertId` (4): no certificate could be identified matching the
    /// provided criteria.
    BadCertId,
}

impl FailInfo {
    /// The number carried in the attribute.
    pub fn code(self) -> u8 {
        match self {
            FailInfo::BadAlg => 0,
            FailInfo::BadMessageCheck => 1,
            FailInfo::BadRequest => 2,
            FailInfo::BadTime => 3,
            FailInfo::BadCertId => 4,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => FailInfo::BadAlg,
            1 => FailInfo::BadMessageCheck,
            2 => FailInfo::BadRequest,
            3 => FailInfo::BadTime,
            4 => FailInfo::BadCertId,
            _ => return None,
        })
    }
}

impl fmt::Display for FailInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailInfo::BadAlg => "badAlg",
            FailInfo::BadMessageCheck => "badMessageCheck",
            FailInfo::BadRequest => "badRequest",
            FailInfo::BadTime => "badTime",
            FailInfo::BadCertId => "badCertId",
        })
    }
}

/// Why a SCEP message was refused or a reply could not be made.
///
/// [`fail_info`](Self::fail_info) is what to answer with. Errors raised
/// after the outer message was read far enough to answer it (a bad
/// signature, an unsupported digest) carry the message:
/// [`message`](Self::message) returns it, and
/// [`PkiMessage::failure`] writes the CertRep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScepError {
    /// The message is larger than [`Limits::max_message_len`](super::Limits).
    #[error("SCEP message is {len} bytes, at most {max} are accepted")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The DER (or BER) structure is broken.
    #[error("malformed {what}{}: {reason}", at(*offset))]
    Malformed {
        /// What was being read (`pkiMessage`, `pkcsPKIEnvelope`, `signer info`).
        what: &'static str,
        /// Byte offset of the fault from the start of the message (for an
        /// envelope, of the envelope), where known.
        offset: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// Constructed values nest deeper than [`Limits::max_depth`](super::Limits).
    #[error("{what} nests deeper than {max} levels at byte offset {offset}")]
    TooDeep {
        /// What was being read.
        what: &'static str,
        /// Where the limit was crossed.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// More elements of a kind than the limits allow.
    #[error("{count} {what}, at most {max} are accepted")]
    TooMany {
        /// Which elements (`certificates`, `signed attributes`, `signer infos`).
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A CMS content of another type than SCEP uses.
    #[error("{what} has content type {found}, expected {expected}")]
    ContentType {
        /// Which content.
        what: &'static str,
        /// The expected type.
        expected: &'static str,
        /// The OID found.
        found: String,
    },
    /// A signed attribute that SCEP requires is absent.
    #[error("the {name} signed attribute is missing")]
    MissingAttribute {
        /// The attribute.
        name: &'static str,
    },
    /// A signed attribute is malformed, repeated or out of range.
    #[error("the {name} signed attribute is invalid: {reason}")]
    BadAttribute {
        /// The attribute.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The messageType is not one of SCEP's.
    #[error("unknown SCEP messageType {value:?}")]
    UnknownMessageType {
        /// The value as sent.
        value: String,
    },
    /// No certificate in the SignedData matches the signer identifier.
    #[error("the signer's certificate is not among the SignedData certificates")]
    NoSignerCertificate,
    /// The signer used a digest algorithm outside SHA-1 and SHA-2.
    #[error("digest algorithm {algorithm} is not supported")]
    UnsupportedDigest {
        /// The algorithm's name or OID.
        algorithm: String,
        /// The message, to answer (its reply digest is SHA-256).
        message: Box<PkiMessage>,
    },
    /// The signer's key or signature algorithm is not supported (RSA under
    /// 2048 bits, an EC curve other than P-256, a mismatched algorithm).
    #[error("signature not supported: {algorithm}")]
    UnsupportedSignature {
        /// What is unsupported.
        algorithm: String,
        /// The message, to answer.
        message: Box<PkiMessage>,
    },
    /// The messageDigest attribute does not match the content.
    #[error("the messageDigest attribute does not match the content")]
    DigestMismatch {
        /// The message, to answer.
        message: Box<PkiMessage>,
    },
    /// The signature over the signed attributes does not verify with the
    /// signer's certificate.
    #[error("the signature does not verify with the signer's certificate")]
    BadSignature {
        /// The message, to answer.
        message: Box<PkiMessage>,
    },
    /// `decrypt` was called on a message that carries no certificate
    /// request (GetCertInitial, GetCert, GetCRL, CertRep).
    #[error("a {message_type} message carries no certificate request")]
    NotACertificateRequest {
        /// Its type.
        message_type: MessageType,
    },
    /// The envelope has no key-transport recipient matching the RA
    /// certificate (encrypted to the CA, or to another RA).
    #[error("the envelope is not encrypted to this RA certificate")]
    NotForThisRa,
    /// The content-encryption key is wrapped with something other than RSA
    /// PKCS#1 v1.5.
    #[error("key encryption algorithm {algorithm} is not supported")]
    UnsupportedKeyEncryption {
        /// The algorithm's name or OID.
        algorithm: String,
    },
    /// The content cipher is not AES-CBC, DES-EDE3-CBC or DES-CBC.
    #[error("content encryption algorithm {algorithm} is not supported")]
    UnsupportedContentCipher {
        /// The algorithm's name or OID.
        algorithm: String,
    },
    /// The envelope did not decrypt to a DER structure. Deliberately says
    /// no more: wrong key, bad padding and garbage plaintext must look the
    /// same to the sender (no padding oracle).
    #[error("the envelope does not decrypt")]
    DecryptionFailed,
    /// The decrypted PKCS#10 request was refused.
    #[error("the certificate request is refused: {0}")]
    Csr(#[source] CsrError),
    /// A success reply must be encrypted to the requester's certificate,
    /// whose key cannot receive RSA key transport.
    #[error("cannot encrypt the reply to the requester's {algorithm} key")]
    UnsupportedRecipientKey {
        /// The key's algorithm.
        algorithm: String,
    },
    /// The crypto backend failed (random numbers, signing, encryption).
    #[error("crypto backend failed while {during}")]
    Crypto {
        /// What was being done.
        during: &'static str,
    },
}

fn at(offset: Option<usize>) -> String {
    offset.map_or_else(String::new, |o| format!(" at byte offset {o}"))
}

impl ScepError {
    /// The `failInfo` to answer this error with.
    ///
    /// Crypto-backend failures have no failInfo of their own; they answer
    /// `badRequest`.
    pub fn fail_info(&self) -> FailInfo {
        match self {
            ScepError::UnsupportedDigest { .. }
            | ScepError::UnsupportedSignature { .. }
            | ScepError::UnsupportedKeyEncryption { .. }
            | ScepError::UnsupportedContentCipher { .. }
            | ScepError::UnsupportedRecipientKey { .. } => FailInfo::BadAlg,
            ScepError::DigestMismatch { .. }
            | ScepError::BadSignature { .. }
            | ScepError::NotForThisRa
            | ScepError::DecryptionFailed => FailInfo::BadMessageCheck,
            ScepError::NoSignerCertificate => FailInfo::BadCertId,
            ScepError::TooLarge { .. }
            | ScepError::Malformed { .. }
            | ScepError::TooDeep { .. }
            | ScepError::TooMany { .. }
            | ScepError::ContentType { .. }
            | ScepError::MissingAttribute { .. }
            | ScepError::BadAttribute { .. }
            | ScepError::UnknownMessageType { .. }
            | ScepError::NotACertificateRequest { .. }
            | ScepError::Csr(_)
            | ScepError::Crypto { .. } => FailInfo::BadRequest,
        }
    }

    /// The refused message, when it was read far enough to be answered
    /// with [`PkiMessage::failure`].
    pub fn message(&self) -> Option<&PkiMessage> {
        match self {
            ScepError::UnsupportedDigest { message, .. }
            | ScepError::UnsupportedSignature { message, .. }
            | ScepError::DigestMismatch { message }
            | ScepError::BadSignature { message } => Some(message),
            _ => None,
        }
    }

    /// A `der` decoding failure of an element that starts at byte `base`.
    pub(crate) fn der(what: &'static str, base: usize, e: der::Error) -> Self {
        ScepError::Malformed {
            what,
            offset: e
                .position()
                .and_then(|p| usize::try_from(u32::from(p)).ok())
                .map(|p| base + p),
            reason: e.kind().to_string(),
        }
    }

    pub(crate) fn walk(what: &'static str, e: WalkError) -> Self {
        match e.kind {
            WalkErrorKind::TooDeep { max } => ScepError::TooDeep {
                what,
                offset: e.offset,
                max,
            },
            WalkErrorKind::Broken(why) => ScepError::Malformed {
                what,
                offset: Some(e.offset),
                reason: why.into(),
            },
        }
    }

    pub(crate) fn crypto(during: &'static str) -> impl Fn(aws_lc_rs::error::Unspecified) -> Self {
        move |_| ScepError::Crypto { during }
    }

    pub(crate) fn encoding(e: der::Error) -> Self {
        ScepError::Malformed {
            what: "reply",
            offset: None,
            reason: format!("cannot encode: {e}"),
        }
    }
}

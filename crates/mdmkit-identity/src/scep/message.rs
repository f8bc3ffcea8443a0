//! The pkiMessage: its message types and statuses, reading one (its SCEP
//! attributes, signer and signature) and opening its envelope.

use std::fmt;

use cms::signed_data::{EncapsulatedContentInfo, SignerInfo};
use der::asn1::OctetString;
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use super::alg::{self, DigestAlgorithm, oid_name};
use super::error::{FailInfo, ScepError};
use super::signed::{
    Attributes, SignatureFault, WHAT, code, content_info, malformed, matches_sid, nonce, normalize,
    octets, raw_signed_data, text, verify_signature,
};
use super::{Limits, RaIdentity};
use crate::csr::CertificateRequest;

/// Longest transactionID accepted, in bytes. Clients use a hash of their
/// key in hex (40 or 64 characters) or base64 (28 or 44).
pub const MAX_TRANSACTION_ID_LEN: usize = 128;

/// The messageType of a pkiMessage (RFC 8894 section 3.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// `CertRep` (3): a reply. Parsed so that clients and tests can read
    /// replies; a server refuses to decrypt it.
    CertRep,
    /// `RenewalReq` (17): a request signed with the certificate it renews.
    RenewalReq,
    /// `PKCSReq` (19): a first request, signed with a self-signed
    /// certificate and usually carrying a challengePassword.
    PkcsReq,
    /// `CertPoll`, formerly `GetCertInitial` (20): polling for a pending
    /// request.
    GetCertInitial,
    /// `GetCert` (21): fetching a certificate by issuer and serial.
    GetCert,
    /// `GetCRL` (22): fetching a CRL.
    GetCrl,
}

impl MessageType {
    /// The number carried in the attribute.
    pub fn code(self) -> u8 {
        match self {
            MessageType::CertRep => 3,
            MessageType::RenewalReq => 17,
            MessageType::PkcsReq => 19,
            MessageType::GetCertInitial => 20,
            MessageType::GetCert => 21,
            MessageType::GetCrl => 22,
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "3" => MessageType::CertRep,
            "17" => MessageType::RenewalReq,
            "19" => MessageType::PkcsReq,
            "20" => MessageType::GetCertInitial,
            "21" => MessageType::GetCert,
            "22" => MessageType::GetCrl,
            _ => return None,
        })
    }

    /// Whether the envelope holds a PKCS#10 request (PKCSReq, RenewalReq).
    pub fn is_certificate_request(self) -> bool {
        matches!(self, MessageType::PkcsReq | MessageType::RenewalReq)
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageType::CertRep => "CertRep",
            MessageType::RenewalReq => "RenewalReq",
            MessageType::PkcsReq => "PKCSReq",
            MessageType::GetCertInitial => "GetCertInitial",
            MessageType::GetCert => "GetCert",
            MessageType::GetCrl => "GetCRL",
        })
    }
}

/// The pkiStatus of a CertRep (RFC 8894 section 3.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PkiStatus {
    /// `SUCCESS` (0): the certificate is in the reply.
    Success,
    /// `FAILURE` (2): refused; the failInfo says why.
    Failure,
    /// `PENDING` (3): waiting for manual approval; the client polls.
    Pending,
}

impl PkiStatus {
    /// The number carried in the attribute.
    pub fn code(self) -> u8 {
        match self {
            PkiStatus::Success => 0,
            PkiStatus::Failure => 2,
            PkiStatus::Pending => 3,
        }
    }
}

/// A pkiMessage whose outer signature verified (RFC 8894 section 3.2).
///
/// Made by [`PkiMessage::parse`]; the envelope inside stays encrypted until
/// [`decrypt`](Self::decrypt). Answer it with
/// [`success`](Self::success), [`failure`](Self::failure) or
/// [`pending`](Self::pending).
#[derive(Clone, PartialEq, Eq)]
pub struct PkiMessage {
    pub(crate) message_type: MessageType,
    pub(crate) transaction_id: String,
    /// The transactionID attribute value as sent, echoed verbatim.
    pub(crate) transaction_id_der: Vec<u8>,
    pub(crate) sender_nonce: Vec<u8>,
    pub(crate) recipient_nonce: Option<Vec<u8>>,
    pub(crate) pki_status: Option<PkiStatus>,
    pub(crate) fail_info: Option<FailInfo>,
    pub(crate) signer_certificate: Vec<u8>,
    pub(crate) digest: DigestAlgorithm,
    pub(crate) content: Vec<u8>,
    pub(crate) limits: Limits,
}

impl fmt::Debug for PkiMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PkiMessage")
            .field("message_type", &self.message_type)
            .field("transaction_id", &self.transaction_id)
            .field("sender_nonce", &crate::decode::hex(&self.sender_nonce))
            .field("pki_status", &self.pki_status)
            .field("fail_info", &self.fail_info)
            .field("digest", &self.digest)
            .field("signer_certificate_len", &self.signer_certificate.len())
            .field("content_len", &self.content.len())
            .finish_non_exhaustive()
    }
}

impl PkiMessage {
    /// Reads a pkiMessage (DER, or BER as some clients send) and verifies
    /// its signature over the signed attributes with the certificate it
    /// names among the SignedData certificates.
    ///
    /// Nothing is decrypted. Whether the signer may enroll (a challenge for
    /// PKCSReq, a valid current certificate for RenewalReq) is for the
    /// caller to decide.
    ///
    /// The transactionID must be 1 to [`MAX_TRANSACTION_ID_LEN`] printable
    /// characters and the senderNonce 8 to 64 bytes (RFC 8894 says 16).
    ///
    /// Errors that come after the SCEP attributes were read carry the
    /// message, so it can still be answered: see [`ScepError::message`].
    pub fn parse(der: &[u8], limits: &Limits) -> Result<PkiMessage, ScepError> {
        let input = normalize(WHAT, der, limits)?;
        let (content_type, sd) = content_info(WHAT, &input)?;
        if content_type != alg::ID_SIGNED_DATA {
            return Err(ScepError::ContentType {
                what: "pkiMessage",
                expected: "signedData",
                found: content_type.to_string(),
            });
        }
        let raw = raw_signed_data(sd, limits)?;
        let signer = SignerInfo::from_der(raw.signer_info.raw)
            .map_err(|e| ScepError::der("signer info", raw.signer_info.offset, e))?;
        let Some((signed_bytes, attr_tlvs)) = raw.signed_attrs else {
            return Err(ScepError::MissingAttribute {
                name: "signed attributes",
            });
        };
        let attrs = Attributes(
            attr_tlvs
                .iter()
                .map(|t| {
                    Attribute::from_der(t.raw)
                        .map_err(|e| ScepError::der("signed attribute", t.offset, e))
                })
                .collect::<Result<_, _>>()?,
        );

        let message_type = {
            let v = attrs.required(alg::SCEP_MESSAGE_TYPE, "messageType")?;
            let t = text(v, "messageType")?;
            MessageType::from_code(&t).ok_or(ScepError::UnknownMessageType { value: t })?
        };
        let tid = attrs.required(alg::SCEP_TRANSACTION_ID, "transactionID")?;
        let transaction_id = text(tid, "transactionID")?;
        if transaction_id.is_empty() || transaction_id.len() > MAX_TRANSACTION_ID_LEN {
            return Err(ScepError::BadAttribute {
                name: "transactionID",
                reason: format!(
                    "is {} characters, 1 to {MAX_TRANSACTION_ID_LEN} are accepted",
                    transaction_id.len()
                ),
            });
        }
        let transaction_id_der = tid.to_der().map_err(ScepError::encoding)?;
        let sender_nonce = nonce(
            attrs.required(alg::SCEP_SENDER_NONCE, "senderNonce")?,
            "senderNonce",
        )?;
        let recipient_nonce = attrs
            .get(alg::SCEP_RECIPIENT_NONCE, "recipientNonce")?
            .map(|v| nonce(v, "recipientNonce"))
            .transpose()?;
        let pki_status = match attrs.get(alg::SCEP_PKI_STATUS, "pkiStatus")? {
            None if message_type == MessageType::CertRep => {
                return Err(ScepError::MissingAttribute { name: "pkiStatus" });
            }
            None => None,
            Some(v) => Some(match code(v, "pkiStatus")? {
                0 => PkiStatus::Success,
                2 => PkiStatus::Failure,
                3 => PkiStatus::Pending,
                n => {
                    return Err(ScepError::BadAttribute {
                        name: "pkiStatus",
                        reason: format!("{n} is not SUCCESS, FAILURE or PENDING"),
                    });
                }
            }),
        };
        let fail_info = attrs
            .get(alg::SCEP_FAIL_INFO, "failInfo")?
            .map(|v| {
                let n = code(v, "failInfo")?;
                FailInfo::from_code(n).ok_or_else(|| ScepError::BadAttribute {
                    name: "failInfo",
                    reason: format!("{n} is not a known failInfo"),
                })
            })
            .transpose()?;
        let message_digest = octets(
            attrs.required(alg::ID_MESSAGE_DIGEST, "messageDigest")?,
            "messageDigest",
        )?;

        let encap = EncapsulatedContentInfo::from_der(raw.encap.raw)
            .map_err(|e| ScepError::der("encapsulated content", raw.encap.offset, e))?;
        if encap.econtent_type != alg::ID_DATA {
            return Err(ScepError::ContentType {
                what: "encapsulated content",
                expected: "data",
                found: encap.econtent_type.to_string(),
            });
        }
        if let Some(ct) = attrs.get(alg::ID_CONTENT_TYPE, "contentType")?
            && ct.decode_as::<ObjectIdentifier>().ok() != Some(encap.econtent_type)
        {
            return Err(ScepError::BadAttribute {
                name: "contentType",
                reason: "does not match the encapsulated content type".into(),
            });
        }
        let content = match &encap.econtent {
            Some(any) => any
                .decode_as::<OctetString>()
                .map_err(|e| ScepError::der("encapsulated content", raw.encap.offset, e))?
                .into_bytes()
                .into(),
            None if message_type == MessageType::CertRep => Vec::new(),
            None => {
                return Err(malformed(
                    "encapsulated content",
                    raw.encap.offset,
                    "a request must carry its pkcsPKIEnvelope",
                ));
            }
        };

        let mut signer_certificate = None;
        for t in &raw.certificates {
            if t.tag != 0x30 {
                continue; // other CertificateChoices: never the signer's
            }
            let cert = Certificate::from_der(t.raw)
                .map_err(|e| ScepError::der("certificate", t.offset, e))?;
            if matches_sid(&cert, &signer.sid) {
                signer_certificate = Some((cert, t.raw.to_vec()));
                break;
            }
        }
        let Some((cert, signer_der)) = signer_certificate else {
            return Err(ScepError::NoSignerCertificate);
        };

        let digest = DigestAlgorithm::from_oid(&signer.digest_alg.oid);
        let message = PkiMessage {
            message_type,
            transaction_id,
            transaction_id_der,
            sender_nonce,
            recipient_nonce,
            pki_status,
            fail_info,
            signer_certificate: signer_der,
            digest: digest.unwrap_or(DigestAlgorithm::Sha256),
            content,
            limits: *limits,
        };
        let Some(digest) = digest else {
            return Err(ScepError::UnsupportedDigest {
                algorithm: oid_name(&signer.digest_alg.oid),
                message: Box::new(message),
            });
        };
        if digest.digest(&message.content) != message_digest {
            return Err(ScepError::DigestMismatch {
                message: Box::new(message),
            });
        }
        match verify_signature(
            &cert,
            digest,
            &signer.signature_algorithm.oid,
            &signed_bytes,
            signer.signature.as_bytes(),
        ) {
            Ok(()) => Ok(message),
            Err(SignatureFault::Bad) => Err(ScepError::BadSignature {
                message: Box::new(message),
            }),
            Err(SignatureFault::Unsupported(algorithm)) => Err(ScepError::UnsupportedSignature {
                algorithm,
                message: Box::new(message),
            }),
        }
    }

    /// The kind of message.
    pub fn message_type(&self) -> MessageType {
        self.message_type
    }

    /// The transactionID the client chose; replies echo it.
    pub fn transaction_id(&self) -> &str {
        &self.transaction_id
    }

    /// The client's senderNonce; replies carry it as their recipientNonce.
    pub fn sender_nonce(&self) -> &[u8] {
        &self.sender_nonce
    }

    /// The recipientNonce, carried by replies only.
    pub fn recipient_nonce(&self) -> Option<&[u8]> {
        self.recipient_nonce.as_deref()
    }

    /// The pkiStatus, carried by replies only.
    pub fn pki_status(&self) -> Option<PkiStatus> {
        self.pki_status
    }

    /// The failInfo, carried by failed replies only.
    pub fn fail_info(&self) -> Option<FailInfo> {
        self.fail_info
    }

    /// The signer's certificate, DER, exactly as sent: self-signed for a
    /// PKCSReq, the certificate being renewed for a RenewalReq. Successful
    /// replies are encrypted to its key.
    pub fn signer_certificate_der(&self) -> &[u8] {
        &self.signer_certificate
    }

    /// The digest algorithm the signer used.
    ///
    /// For a message refused with [`ScepError::UnsupportedDigest`], this is
    /// SHA-256, the digest its failure reply is signed with.
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.digest
    }

    /// The signed content: the pkcsPKIEnvelope (DER ContentInfo of
    /// EnvelopedData), still encrypted; empty for a failed reply.
    pub fn envelope_der(&self) -> &[u8] {
        &self.content
    }

    /// Decrypts the envelope with the RA key and returns the PKCS#10
    /// request inside, checked by [`CertificateRequest::parse`] (key
    /// policy, self-signature); its
    /// [`challenge_password`](CertificateRequest::challenge_password) is the
    /// enrollment secret.
    ///
    /// Only PKCSReq and RenewalReq carry a request; other types are refused
    /// with [`ScepError::NotACertificateRequest`] (their content is
    /// available through [`decrypt_content`](Self::decrypt_content)).
    ///
    /// A wrong key, bad padding and a plaintext that is not DER all give
    /// [`ScepError::DecryptionFailed`], indistinguishable to the sender.
    pub fn decrypt(&self, ra: &RaIdentity) -> Result<CertificateRequest, ScepError> {
        if !self.message_type.is_certificate_request() {
            return Err(ScepError::NotACertificateRequest {
                message_type: self.message_type,
            });
        }
        let plain = self.decrypt_content(ra)?;
        CertificateRequest::parse(&plain).map_err(|e| match e {
            crate::CsrError::Decode(_) => ScepError::DecryptionFailed,
            other => ScepError::Csr(other),
        })
    }

    /// Decrypts the envelope with the RA key and returns its DER content
    /// (a PKCS#10 request, or the IssuerAndSubject / IssuerAndSerialNumber
    /// of the polling and fetching messages), checked to be one
    /// well-formed DER element.
    pub fn decrypt_content(&self, ra: &RaIdentity) -> Result<Vec<u8>, ScepError> {
        super::envelope::open(&self.content, ra, &self.limits)
    }

    /// The content cipher of the envelope (what a success reply is
    /// encrypted with), read without decrypting.
    pub fn content_cipher(&self) -> Result<alg::ContentCipher, ScepError> {
        super::envelope::content_cipher(&self.content, &self.limits)
    }
}

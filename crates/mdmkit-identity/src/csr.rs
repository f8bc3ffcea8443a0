//! PKCS#10 certificate signing requests: untrusted device input.
//!
//! Parsed with x509-parser rather than rcgen, because rcgen refuses
//! extensions it does not know and real Apple and Windows CSRs carry such
//! extensions. The checks run cheapest and most telling first: size, DER
//! shape, key policy (so an RSA-1024 request is reported as a weak key, not
//! as a bad signature), signature algorithm, then the self-signature.

use std::fmt;
use std::net::IpAddr;

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::error::X509Error;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_PKCS1_RSASSAPSS, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_PKCS9_CHALLENGE_PASSWORD, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384,
    OID_SIG_ECDSA_WITH_SHA512, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;

use crate::decode;
use crate::error::{CsrError, DecodeError};

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits (the verifiers' limit).
pub const MAX_RSA_BITS: usize = 8192;

/// The kind of public key a request (or certificate) carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// The modulus length.
        bits: usize,
    },
    /// ECDSA on P-256.
    EcP256,
    /// ECDSA on P-384.
    EcP384,
    /// Ed25519.
    Ed25519,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyKind::EcP256 => f.write_str("EC P-256"),
            KeyKind::EcP384 => f.write_str("EC P-384"),
            KeyKind::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// A subject alternative name, as requested in a CSR or added by the issuer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubjectAltName {
    /// A DNS name.
    Dns(String),
    /// A URI.
    Uri(String),
    /// An e-mail address (rfc822Name).
    Email(String),
    /// An IP address.
    Ip(IpAddr),
    /// A name of another type (otherName such as a Windows UPN, directory
    /// name, ...); reported, never copied into a certificate.
    Other {
        /// Which type, with its OID where it has one.
        kind: String,
    },
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(s) => write!(f, "dns:{s}"),
            SubjectAltName::Uri(s) => write!(f, "uri:{s}"),
            SubjectAltName::Email(s) => write!(f, "email:{s}"),
            SubjectAltName::Ip(ip) => write!(f, "ip:{ip}"),
            SubjectAltName::Other { kind } => write!(f, "other:{kind}"),
        }
    }
}

/// The public key of an accepted request, ready to be certified.
#[derive(Clone)]
pub(crate) struct RequestKey {
    pub(crate) alg: &'static rcgen::SignatureAlgorithm,
    /// The subjectPublicKey bits (an RSAPublicKey, an EC point, 32 Ed25519 bytes).
    pub(crate) raw: Vec<u8>,
}

impl rcgen::PublicKeyData for RequestKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

/// A PKCS#10 request whose self-signature verified and whose key passed the
/// key policy (RSA 2048 to 8192 bits, EC P-256/P-384, Ed25519).
#[derive(Clone)]
pub struct CertificateRequest {
    der: Vec<u8>,
    kind: KeyKind,
    pub(crate) key: RequestKey,
    subject: String,
    challenge_password: Option<String>,
    requested_sans: Vec<SubjectAltName>,
}

impl fmt::Debug for CertificateRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateRequest")
            .field("key", &self.kind)
            .field("subject", &self.subject)
            .field(
                "challenge_password",
                &self.challenge_password.as_ref().map(|_| "<redacted>"),
            )
            .field("requested_sans", &self.requested_sans)
            .finish()
    }
}

impl CertificateRequest {
    /// Parses and checks a request given as PEM (`CERTIFICATE REQUEST` or
    /// `NEW CERTIFICATE REQUEST`) or DER.
    pub fn parse(input: &[u8]) -> Result<Self, CsrError> {
        let der = decode::one(
            input,
            &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"],
            decode::MAX_CSR_LEN,
        )?;
        Self::from_der(der)
    }

    fn from_der(der: Vec<u8>) -> Result<Self, CsrError> {
        let (rest, csr) =
            X509CertificationRequest::from_der(&der).map_err(|e| DecodeError::Der {
                what: "certificate request",
                reason: e.to_string(),
            })?;
        if !rest.is_empty() {
            return Err(DecodeError::TrailingData {
                what: "certificate request",
                offset: der.len() - rest.len(),
                count: rest.len(),
            }
            .into());
        }
        let info = &csr.certification_request_info;
        let (kind, alg) = key_policy(&info.subject_pki)?;
        signature_policy(&csr)?;
        csr.verify_signature().map_err(|e| match e {
            X509Error::SignatureUnsupportedAlgorithm => CsrError::UnsupportedSignatureAlgorithm {
                algorithm: csr.signature_algorithm.algorithm.to_id_string(),
            },
            _ => CsrError::BadSignature,
        })?;

        let mut challenge_password = None;
        for attr in info.iter_attributes() {
            match attr.parsed_attribute() {
                ParsedCriAttribute::ChallengePassword(p) => challenge_password = Some(p.0.clone()),
                _ if attr.oid == OID_PKCS9_CHALLENGE_PASSWORD => {
                    return Err(CsrError::MalformedAttribute {
                        what: "challengePassword attribute",
                        reason: "not a directory string".into(),
                    });
                }
                _ => {}
            }
        }

        let mut requested_sans = Vec::new();
        if let Some(exts) = csr.requested_extensions() {
            for ext in exts {
                match ext {
                    ParsedExtension::SubjectAlternativeName(san) => {
                        for name in &san.general_names {
                            requested_sans.push(san_from(name)?);
                        }
                    }
                    ParsedExtension::ParseError { error } => {
                        return Err(CsrError::MalformedAttribute {
                            what: "requested extension",
                            reason: error.to_string(),
                        });
                    }
                    _ => {}
                }
            }
        }

        let subject = info.subject.to_string();
        let raw = info.subject_pki.subject_public_key.data.to_vec();
        Ok(Self {
            der,
            kind,
            key: RequestKey { alg, raw },
            subject,
            challenge_password,
            requested_sans,
        })
    }

    /// The request as DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The kind of key being certified.
    pub fn key_kind(&self) -> KeyKind {
        self.kind
    }

    /// The requested subject, in RFC 4514 form (informational: the issued
    /// certificate's subject is the device id).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The PKCS#9 challenge password (SCEP carries its one-time enrollment
    /// secret here).
    pub fn challenge_password(&self) -> Option<&str> {
        self.challenge_password.as_deref()
    }

    /// The subject alternative names the requester asked for. They are
    /// untrusted and never copied into a certificate by themselves.
    pub fn requested_sans(&self) -> &[SubjectAltName] {
        &self.requested_sans
    }
}

fn san_from(name: &GeneralName<'_>) -> Result<SubjectAltName, CsrError> {
    Ok(match name {
        GeneralName::DNSName(s) => SubjectAltName::Dns((*s).to_owned()),
        GeneralName::URI(s) => SubjectAltName::Uri((*s).to_owned()),
        GeneralName::RFC822Name(s) => SubjectAltName::Email((*s).to_owned()),
        GeneralName::IPAddress(b) => match b.len() {
            4 => {
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                SubjectAltName::Ip(IpAddr::from(a))
            }
            16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                SubjectAltName::Ip(IpAddr::from(a))
            }
            n => {
                return Err(CsrError::MalformedAttribute {
                    what: "requested subjectAltName",
                    reason: format!("IP address of {n} bytes"),
                });
            }
        },
        GeneralName::OtherName(oid, _) => SubjectAltName::Other {
            kind: format!("otherName {}", oid.to_id_string()),
        },
        GeneralName::DirectoryName(_) => SubjectAltName::Other {
            kind: "directoryName".into(),
        },
        GeneralName::RegisteredID(oid) => SubjectAltName::Other {
            kind: format!("registeredID {}", oid.to_id_string()),
        },
        GeneralName::Invalid(tag, _) => {
            return Err(CsrError::MalformedAttribute {
                what: "requested subjectAltName",
                reason: format!("invalid general name with tag {}", tag.0),
            });
        }
        _ => SubjectAltName::Other {
            kind: "x400Address or ediPartyName".into(),
        },
    })
}

/// Bit length of a big-endian unsigned integer.
fn bit_len(mut bytes: &[u8]) -> usize {
    while let [0, rest @ ..] = bytes {
        bytes = rest;
    }
    match bytes.first() {
        None => 0,
        Some(b) => (bytes.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
    }
}

/// Applies the key policy; returns the key kind and the rcgen algorithm that
/// writes its SubjectPublicKeyInfo.
pub(crate) fn key_policy(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<(KeyKind, &'static rcgen::SignatureAlgorithm), CsrError> {
    let oid = &spki.algorithm.algorithm;
    let raw: &[u8] = &spki.subject_public_key.data;
    if *oid == OID_PKCS1_RSAENCRYPTION {
        let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = spki.parsed() else {
            return Err(CsrError::MalformedKey {
                reason: "RSA public key is not an RSAPublicKey sequence".into(),
            });
        };
        let bits = bit_len(rsa.modulus);
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(CsrError::RsaKeySize {
                bits,
                min: MIN_RSA_BITS,
                max: MAX_RSA_BITS,
            });
        }
        match rsa.try_exponent() {
            Ok(e) if e >= 3 && !e.is_multiple_of(2) => {}
            _ => {
                return Err(CsrError::MalformedKey {
                    reason: "RSA public exponent must be odd and at least 3".into(),
                });
            }
        }
        Ok((KeyKind::Rsa { bits }, &rcgen::PKCS_RSA_SHA256))
    } else if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        let Some(curve) = curve else {
            return Err(CsrError::MalformedKey {
                reason: "EC key without a named curve".into(),
            });
        };
        let (kind, alg, len) = if curve == OID_EC_P256 {
            (KeyKind::EcP256, &rcgen::PKCS_ECDSA_P256_SHA256, 65)
        } else if curve == OID_NIST_EC_P384 {
            (KeyKind::EcP384, &rcgen::PKCS_ECDSA_P384_SHA384, 97)
        } else {
            return Err(CsrError::UnsupportedCurve {
                curve: curve_name(&curve.to_id_string()),
            });
        };
        if raw.len() != len || raw.first() != Some(&4) {
            return Err(CsrError::MalformedKey {
                reason: format!("{kind} point must be uncompressed ({len} bytes starting 0x04)"),
            });
        }
        Ok((kind, alg))
    } else if *oid == OID_SIG_ED25519 {
        if raw.len() != 32 {
            return Err(CsrError::MalformedKey {
                reason: format!("Ed25519 key is {} bytes, not 32", raw.len()),
            });
        }
        Ok((KeyKind::Ed25519, &rcgen::PKCS_ED25519))
    } else {
        Err(CsrError::UnsupportedKeyAlgorithm {
            algorithm: key_name(&oid.to_id_string()),
        })
    }
}

fn curve_name(oid: &str) -> String {
    match oid {
        "1.3.132.0.35" => "P-521 (1.3.132.0.35)".into(),
        "1.3.132.0.10" => "secp256k1 (1.3.132.0.10)".into(),
        "1.2.840.10045.3.1.1" => "P-192 (1.2.840.10045.3.1.1)".into(),
        "1.3.132.0.33" => "P-224 (1.3.132.0.33)".into(),
        _ => oid.into(),
    }
}

fn key_name(oid: &str) -> String {
    match oid {
        "1.2.840.10040.4.1" => "DSA (1.2.840.10040.4.1)".into(),
        "1.3.101.113" => "Ed448 (1.3.101.113)".into(),
        "1.3.101.110" => "X25519 (1.3.101.110)".into(),
        "1.3.101.111" => "X448 (1.3.101.111)".into(),
        "1.2.840.113549.1.1.10" => "RSASSA-PSS key (1.2.840.113549.1.1.10)".into(),
        _ => oid.into(),
    }
}

fn signature_policy(csr: &X509CertificationRequest<'_>) -> Result<(), CsrError> {
    let oid = &csr.signature_algorithm.algorithm;
    let ok = [
        OID_PKCS1_SHA256WITHRSA,
        OID_PKCS1_SHA384WITHRSA,
        OID_PKCS1_SHA512WITHRSA,
        OID_PKCS1_RSASSAPSS,
        OID_SIG_ECDSA_WITH_SHA256,
        OID_SIG_ECDSA_WITH_SHA384,
        OID_SIG_ECDSA_WITH_SHA512,
        OID_SIG_ED25519,
    ];
    if ok.contains(oid) {
        Ok(())
    } else {
        let id = oid.to_id_string();
        let algorithm = match id.as_str() {
            "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption (1.2.840.113549.1.1.5)".into(),
            "1.2.840.113549.1.1.4" => "md5WithRSAEncryption (1.2.840.113549.1.1.4)".into(),
            "1.2.840.10045.4.1" => "ecdsa-with-SHA1 (1.2.840.10045.4.1)".into(),
            _ => id,
        };
        Err(CsrError::UnsupportedSignatureAlgorithm { algorithm })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_length_ignores_leading_zero_bytes() {
        assert_eq!(bit_len(&[0, 0x80, 0]), 16);
        assert_eq!(bit_len(&[0x01, 0]), 9);
        assert_eq!(bit_len(&[0, 0]), 0);
    }

    #[test]
    fn csr_made_by_rcgen_is_accepted_with_its_sans() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["device.example".to_string()]).unwrap();
        let csr = params.serialize_request(&key).unwrap();
        let req = CertificateRequest::parse(csr.pem().unwrap().as_bytes()).unwrap();
        assert_eq!(req.key_kind(), KeyKind::EcP256);
        assert_eq!(
            req.requested_sans(),
            &[SubjectAltName::Dns("device.example".into())]
        );
        let again = CertificateRequest::parse(req.der()).unwrap();
        assert_eq!(again.der(), req.der());
    }

    #[test]
    fn flipped_byte_in_the_signed_part_is_a_bad_signature() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["aaaa.example".to_string()]).unwrap();
        let mut der = params.serialize_request(&key).unwrap().der().to_vec();
        let pos = der.windows(4).position(|w| w == b"aaaa").unwrap();
        der[pos] = b'b';
        assert_eq!(
            CertificateRequest::parse(&der).unwrap_err(),
            CsrError::BadSignature
        );
    }

    #[test]
    fn trailing_bytes_are_reported_with_their_offset() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![]).unwrap();
        let mut der = params.serialize_request(&key).unwrap().der().to_vec();
        let len = der.len();
        der.extend_from_slice(b"xx");
        assert_eq!(
            CertificateRequest::parse(&der).unwrap_err(),
            CsrError::Decode(DecodeError::TrailingData {
                what: "certificate request",
                offset: len,
                count: 2
            })
        );
    }
}

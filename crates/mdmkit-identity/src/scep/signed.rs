//! Reading the outer SignedData of a pkiMessage: bounds and BER
//! normalization, the raw parts (so signed attributes are verified over the
//! bytes sent), the attribute values, and the signature check.

use std::borrow::Cow;

use cms::signed_data::SignerIdentifier;
use der::asn1::OctetString;
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Tag, Tagged};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::Limits;
use super::alg::{self, DigestAlgorithm, oid_name};
use super::error::ScepError;
use super::walk::{self, Tlv};

/// Shortest and longest senderNonce accepted, in bytes (RFC 8894 says 16;
/// a little slack costs nothing).
pub(crate) const NONCE_LEN_RANGE: std::ops::RangeInclusive<usize> = 8..=64;

/// Internal ceiling on nesting, whatever the caller's limits say: the BER
/// re-encoder recurses once per level.
const HARD_MAX_DEPTH: usize = 128;

/// Bounds, scans and, for BER input, re-encodes with definite lengths.
pub(crate) fn normalize<'a>(
    what: &'static str,
    input: &'a [u8],
    limits: &Limits,
) -> Result<Cow<'a, [u8]>, ScepError> {
    if input.len() > limits.max_message_len {
        return Err(ScepError::TooLarge {
            len: input.len(),
            max: limits.max_message_len,
        });
    }
    let depth = limits.max_depth.min(HARD_MAX_DEPTH);
    let scan = walk::scan(input, depth).map_err(|e| ScepError::walk(what, e))?;
    if scan.indefinite {
        Ok(Cow::Owned(
            walk::definite(input).map_err(|e| ScepError::walk(what, e))?,
        ))
    } else {
        Ok(Cow::Borrowed(input))
    }
}

/// Reads `ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }`;
/// returns the type and the content element.
pub(crate) fn content_info<'a>(
    what: &'static str,
    der: &'a [u8],
) -> Result<(ObjectIdentifier, Tlv<'a>), ScepError> {
    let walk = |e| ScepError::walk(what, e);
    let outer = Tlv::whole(der, 0).map_err(walk)?;
    let parts = if outer.tag == 0x30 {
        outer.children().map_err(walk)?
    } else {
        Vec::new()
    };
    let [oid, explicit] = parts.as_slice() else {
        return Err(ScepError::Malformed {
            what,
            offset: Some(0),
            reason: "not a ContentInfo (SEQUENCE of a type and a [0] content)".into(),
        });
    };
    if oid.tag != 0x06 || explicit.tag != 0xa0 {
        return Err(ScepError::Malformed {
            what,
            offset: Some(oid.offset),
            reason: "not a ContentInfo (SEQUENCE of a type and a [0] content)".into(),
        });
    }
    let content_type =
        ObjectIdentifier::from_der(oid.raw).map_err(|e| ScepError::der(what, oid.offset, e))?;
    let content = Tlv::whole(explicit.value, explicit.value_offset).map_err(walk)?;
    Ok((content_type, content))
}

pub(super) fn malformed(what: &'static str, offset: usize, reason: &str) -> ScepError {
    ScepError::Malformed {
        what,
        offset: Some(offset),
        reason: reason.into(),
    }
}

/// The raw parts of a SignedData that the typed decoders get one by one.
pub(super) struct RawSignedData<'a> {
    pub(super) encap: Tlv<'a>,
    pub(super) certificates: Vec<Tlv<'a>>,
    pub(super) signer_info: Tlv<'a>,
    /// The signed attributes as one `SET OF` (tag 0x31), as signed.
    pub(super) signed_attrs: Option<(Vec<u8>, Vec<Tlv<'a>>)>,
}

pub(super) const WHAT: &str = "pkiMessage";

pub(super) fn raw_signed_data<'a>(
    sd: Tlv<'a>,
    limits: &Limits,
) -> Result<RawSignedData<'a>, ScepError> {
    let walk = |e| ScepError::walk(WHAT, e);
    if sd.tag != 0x30 {
        return Err(malformed(WHAT, sd.offset, "SignedData is not a SEQUENCE"));
    }
    let parts = sd.children().map_err(walk)?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates,
    // [1] crls, signerInfos
    let (Some(encap), Some(signer_infos)) = (parts.get(2), parts.last()) else {
        return Err(malformed(WHAT, sd.offset, "SignedData has too few fields"));
    };
    if parts.len() < 4 || signer_infos.tag != 0x31 || encap.tag != 0x30 {
        return Err(malformed(
            WHAT,
            sd.offset,
            "SignedData fields are out of shape",
        ));
    }
    let certificates = match parts.iter().find(|p| p.tag == 0xa0) {
        Some(set) => set.children().map_err(walk)?,
        None => Vec::new(),
    };
    if certificates.len() > limits.max_certificates {
        return Err(ScepError::TooMany {
            what: "certificates",
            count: certificates.len(),
            max: limits.max_certificates,
        });
    }
    let signers = signer_infos.children().map_err(walk)?;
    if signers.is_empty() {
        return Err(malformed(
            WHAT,
            signer_infos.offset,
            "SignedData has no signer info",
        ));
    }
    let [signer_info] = signers.as_slice() else {
        return Err(ScepError::TooMany {
            what: "signer infos",
            count: signers.len(),
            max: 1,
        });
    };
    let fields = signer_info.children().map_err(walk)?;
    let signed_attrs = match fields.get(3) {
        Some(attrs) if attrs.tag == 0xa0 => {
            let list = attrs.children().map_err(walk)?;
            if list.len() > limits.max_attributes {
                return Err(ScepError::TooMany {
                    what: "signed attributes",
                    count: list.len(),
                    max: limits.max_attributes,
                });
            }
            Some((walk::tlv(0x31, attrs.value), list))
        }
        _ => None,
    };
    Ok(RawSignedData {
        encap: *encap,
        certificates,
        signer_info: *signer_info,
        signed_attrs,
    })
}

/// The signed attributes, decoded in the order sent.
pub(super) struct Attributes(pub(super) Vec<Attribute>);

impl Attributes {
    /// The single value of the attribute `oid`, if present.
    pub(super) fn get(
        &self,
        oid: ObjectIdentifier,
        name: &'static str,
    ) -> Result<Option<&Any>, ScepError> {
        let mut found = self.0.iter().filter(|a| a.oid == oid);
        let Some(attr) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return Err(ScepError::BadAttribute {
                name,
                reason: "appears more than once".into(),
            });
        }
        let mut values = attr.values.iter();
        match (values.next(), values.next()) {
            (Some(v), None) => Ok(Some(v)),
            _ => Err(ScepError::BadAttribute {
                name,
                reason: "must have exactly one value".into(),
            }),
        }
    }

    pub(super) fn required(
        &self,
        oid: ObjectIdentifier,
        name: &'static str,
    ) -> Result<&Any, ScepError> {
        self.get(oid, name)?
            .ok_or(ScepError::MissingAttribute { name })
    }
}

/// A PrintableString (or, leniently, IA5String/UTF8String) of visible ASCII.
pub(super) fn text(value: &Any, name: &'static str) -> Result<String, ScepError> {
    let bad = |reason: &str| ScepError::BadAttribute {
        name,
        reason: reason.into(),
    };
    if !matches!(
        value.tag(),
        Tag::PrintableString | Tag::Ia5String | Tag::Utf8String
    ) {
        return Err(bad("is not a PrintableString"));
    }
    let bytes = value.value();
    if bytes.iter().any(|b| !(0x20..=0x7e).contains(b)) {
        return Err(bad("holds characters outside printable ASCII"));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

pub(super) fn octets(value: &Any, name: &'static str) -> Result<Vec<u8>, ScepError> {
    value
        .decode_as::<OctetString>()
        .map(OctetString::into_bytes)
        .map(Vec::from)
        .map_err(|_| ScepError::BadAttribute {
            name,
            reason: "is not an OCTET STRING".into(),
        })
}

pub(super) fn nonce(value: &Any, name: &'static str) -> Result<Vec<u8>, ScepError> {
    let n = octets(value, name)?;
    if !NONCE_LEN_RANGE.contains(&n.len()) {
        return Err(ScepError::BadAttribute {
            name,
            reason: format!(
                "is {} bytes, {} to {} are accepted",
                n.len(),
                NONCE_LEN_RANGE.start(),
                NONCE_LEN_RANGE.end()
            ),
        });
    }
    Ok(n)
}

pub(super) fn code(value: &Any, name: &'static str) -> Result<u8, ScepError> {
    let t = text(value, name)?;
    t.parse().map_err(|_| ScepError::BadAttribute {
        name,
        reason: format!("{t:?} is not a number"),
    })
}

pub(super) fn matches_sid(cert: &Certificate, sid: &SignerIdentifier) -> bool {
    let tbs = cert.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            tbs.issuer() == &isn.issuer && tbs.serial_number() == &isn.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => matches!(
            tbs.get_extension::<SubjectKeyIdentifier>(),
            Ok(Some((_, ref found))) if found == ski
        ),
    }
}

/// Why a signature was not accepted.
pub(super) enum SignatureFault {
    /// The algorithm or key is outside what is supported; says which.
    Unsupported(String),
    /// The signature does not verify.
    Bad,
}

/// Bit length of the modulus of an RSAPublicKey.
fn rsa_bits(rsa_public_key: &[u8]) -> Option<usize> {
    let key = Tlv::whole(rsa_public_key, 0).ok()?;
    let modulus = *key.children().ok()?.first()?;
    let digits: &[u8] = modulus.value;
    let skip = digits.iter().take_while(|b| **b == 0).count();
    let rest = digits.get(skip..)?;
    let first = rest.first()?;
    Some((rest.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}

pub(super) fn verify_signature(
    cert: &Certificate,
    digest: DigestAlgorithm,
    signature_algorithm: &ObjectIdentifier,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), SignatureFault> {
    use aws_lc_rs::signature::UnparsedPublicKey;
    let spki = cert.tbs_certificate().subject_public_key_info();
    let key = spki.subject_public_key.raw_bytes();
    if spki.algorithm.oid == alg::RSA_ENCRYPTION {
        if !digest.fits_rsa_signature(signature_algorithm) {
            return Err(SignatureFault::Unsupported(format!(
                "signature algorithm {} with digest {digest}",
                oid_name(signature_algorithm)
            )));
        }
        let bits = rsa_bits(key).unwrap_or(0);
        if !(crate::MIN_RSA_BITS..=crate::MAX_RSA_BITS).contains(&bits) {
            return Err(SignatureFault::Unsupported(format!(
                "RSA-{bits} signer key ({} to {} bits are accepted)",
                crate::MIN_RSA_BITS,
                crate::MAX_RSA_BITS
            )));
        }
        return UnparsedPublicKey::new(digest.rsa_verify(), key)
            .verify(signed, signature)
            .map_err(|_| SignatureFault::Bad);
    }
    if spki.algorithm.oid == alg::EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if curve != Some(alg::SECP256R1) {
            return Err(SignatureFault::Unsupported(
                "EC signer key on a curve other than P-256".into(),
            ));
        }
        if !digest.fits_ecdsa_signature(signature_algorithm) {
            return Err(SignatureFault::Unsupported(format!(
                "signature algorithm {} with digest {digest}",
                oid_name(signature_algorithm)
            )));
        }
        return UnparsedPublicKey::new(digest.ecdsa_p256_verify(), key)
            .verify(signed, signature)
            .map_err(|_| SignatureFault::Bad);
    }
    Err(SignatureFault::Unsupported(format!(
        "signer key algorithm {}",
        oid_name(&spki.algorithm.oid)
    )))
}

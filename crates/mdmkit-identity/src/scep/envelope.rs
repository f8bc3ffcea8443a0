//! The pkcsPKIEnvelope: CMS EnvelopedData with one RSA key-transport
//! recipient (RFC 8894 section 3.2.2).

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use super::alg::{self, ContentCipher, oid_name};
use super::error::ScepError;
use super::signed::{content_info, normalize};
use super::walk::{self, Tlv};
use super::{Limits, RaIdentity};

const WHAT: &str = "pkcsPKIEnvelope";

/// Reads the envelope's EnvelopedData, refusing more recipients than the
/// limits allow.
fn enveloped_data(envelope: &[u8], limits: &Limits) -> Result<EnvelopedData, ScepError> {
    if envelope.is_empty() {
        return Err(ScepError::Malformed {
            what: WHAT,
            offset: None,
            reason: "the message carries no envelope".into(),
        });
    }
    let input = normalize(WHAT, envelope, limits)?;
    let (content_type, ed) = content_info(WHAT, &input)?;
    if content_type != alg::ID_ENVELOPED_DATA {
        return Err(ScepError::ContentType {
            what: WHAT,
            expected: "envelopedData",
            found: content_type.to_string(),
        });
    }
    let walk = |e| ScepError::walk(WHAT, e);
    let parts = if ed.tag == 0x30 {
        ed.children().map_err(walk)?
    } else {
        Vec::new()
    };
    // version, [0] originatorInfo, recipientInfos, encryptedContentInfo,
    // [1] unprotectedAttrs
    let Some(at) = parts.iter().position(|p| p.tag == 0x31) else {
        return Err(ScepError::Malformed {
            what: WHAT,
            offset: Some(ed.offset),
            reason: "EnvelopedData has no recipientInfos".into(),
        });
    };
    let recipients = parts[at].children().map_err(walk)?;
    if recipients.len() > limits.max_recipients {
        return Err(ScepError::TooMany {
            what: "recipients",
            count: recipients.len(),
            max: limits.max_recipients,
        });
    }
    let Some(eci) = parts.get(at + 1) else {
        return Err(ScepError::Malformed {
            what: WHAT,
            offset: Some(ed.offset),
            reason: "EnvelopedData has no encryptedContentInfo".into(),
        });
    };
    // BER writers send encryptedContent [0] IMPLICIT OCTET STRING in the
    // constructed form; join its pieces into the primitive form first.
    let joined = join_encrypted_content(eci)?;
    let rebuilt;
    let der: &[u8] = match joined {
        None => ed.raw,
        Some(eci_der) => {
            let mut content = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                content.extend_from_slice(if i == at + 1 { &eci_der } else { p.raw });
            }
            rebuilt = walk::tlv(0x30, &content);
            &rebuilt
        }
    };
    EnvelopedData::from_der(der).map_err(|e| ScepError::der("EnvelopedData", ed.offset, e))
}

fn join_encrypted_content(eci: &Tlv<'_>) -> Result<Option<Vec<u8>>, ScepError> {
    let walk = |e| ScepError::walk(WHAT, e);
    let fields = eci.children().map_err(walk)?;
    let Some(content) = fields.get(2) else {
        return Ok(None);
    };
    if content.tag != 0xa0 {
        return Ok(None);
    }
    let mut joined = Vec::new();
    for piece in content.children().map_err(walk)? {
        if piece.tag != 0x04 {
            return Err(ScepError::Malformed {
                what: WHAT,
                offset: Some(piece.offset),
                reason: "encrypted content piece is not an OCTET STRING".into(),
            });
        }
        joined.extend_from_slice(piece.value);
    }
    let mut out = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if i == 2 {
            out.extend_from_slice(&walk::tlv(0x80, &joined));
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    Ok(Some(walk::tlv(0x30, &out)))
}

/// The content cipher and its IV.
fn cipher_of(eci: &EncryptedContentInfo) -> Result<(ContentCipher, Vec<u8>), ScepError> {
    let alg = &eci.content_enc_alg;
    let cipher =
        ContentCipher::from_oid(&alg.oid).ok_or_else(|| ScepError::UnsupportedContentCipher {
            algorithm: oid_name(&alg.oid),
        })?;
    let iv = alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<OctetString>().ok())
        .map(|o| o.into_bytes().to_vec())
        .filter(|iv| iv.len() == cipher.iv_len())
        .ok_or_else(|| ScepError::Malformed {
            what: WHAT,
            offset: None,
            reason: format!("{cipher} parameters are not a {}-byte IV", cipher.iv_len()),
        })?;
    Ok((cipher, iv))
}

pub(crate) fn content_cipher(envelope: &[u8], limits: &Limits) -> Result<ContentCipher, ScepError> {
    let ed = enveloped_data(envelope, limits)?;
    Ok(cipher_of(&ed.encrypted_content)?.0)
}

/// Decrypts the envelope with the RA's key.
pub(crate) fn open(
    envelope: &[u8],
    ra: &RaIdentity,
    limits: &Limits,
) -> Result<Vec<u8>, ScepError> {
    let ed = enveloped_data(envelope, limits)?;
    let ktri = ed
        .recip_infos
        .0
        .iter()
        .find_map(|ri| match ri {
            RecipientInfo::Ktri(k) if ra.is_recipient(&k.rid) => Some(k),
            _ => None,
        })
        .ok_or(ScepError::NotForThisRa)?;
    if ktri.key_enc_alg.oid != alg::RSA_ENCRYPTION {
        return Err(ScepError::UnsupportedKeyEncryption {
            algorithm: oid_name(&ktri.key_enc_alg.oid),
        });
    }
    let (cipher, iv) = cipher_of(&ed.encrypted_content)?;
    let ciphertext = ed
        .encrypted_content
        .encrypted_content
        .as_ref()
        .map(OctetString::as_bytes)
        .unwrap_or_default();
    // From here on every failure is the same DecryptionFailed: the key
    // unwrap never fails (a random key stands in), so a bad RSA block, bad
    // padding and a plaintext that is not DER cannot be told apart.
    let key = ra.unwrap_key(ktri.enc_key.as_bytes(), cipher.key_len())?;
    let plain = cipher
        .decrypt(&key, &iv, ciphertext)
        .map_err(|_| ScepError::DecryptionFailed)?;
    let well_formed = plain.first() == Some(&0x30)
        && walk::scan(&plain, limits.max_depth.min(128)).is_ok_and(|s| !s.indefinite);
    if !well_formed {
        return Err(ScepError::DecryptionFailed);
    }
    Ok(plain)
}

fn enc(e: der::Error) -> ScepError {
    ScepError::encoding(e)
}

/// Encrypts `plaintext` to the RSA key of `recipient` with `cipher`;
/// returns the DER ContentInfo of the EnvelopedData.
pub(crate) fn seal(
    plaintext: &[u8],
    recipient: &Certificate,
    cipher: ContentCipher,
) -> Result<Vec<u8>, ScepError> {
    use aws_lc_rs::rsa::{Pkcs1PublicEncryptingKey, PublicEncryptingKey};
    let tbs = recipient.tbs_certificate();
    let spki = tbs.subject_public_key_info();
    if spki.algorithm.oid != alg::RSA_ENCRYPTION {
        return Err(ScepError::UnsupportedRecipientKey {
            algorithm: oid_name(&spki.algorithm.oid),
        });
    }
    let unusable = |_| ScepError::UnsupportedRecipientKey {
        algorithm: "RSA (unusable key)".into(),
    };
    let public = PublicEncryptingKey::from_der(&spki.to_der().map_err(enc)?).map_err(unusable)?;
    let public =
        Pkcs1PublicEncryptingKey::new(public).map_err(|_| ScepError::UnsupportedRecipientKey {
            algorithm: "RSA (unusable key)".into(),
        })?;

    let mut key = vec![0u8; cipher.key_len()];
    aws_lc_rs::rand::fill(&mut key).map_err(ScepError::crypto("generating a content key"))?;
    let (iv, ciphertext) = cipher
        .encrypt(&key, plaintext)
        .map_err(|_| ScepError::Crypto {
            during: "encrypting the reply",
        })?;
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let wrapped_len = public
        .encrypt(&key, &mut wrapped)
        .map_err(ScepError::crypto("wrapping the content key"))?
        .len();
    wrapped.truncate(wrapped_len);

    let ktri = KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: alg::RSA_ENCRYPTION,
            parameters: Some(Any::from(der::asn1::Null)),
        },
        enc_key: OctetString::new(wrapped).map_err(enc)?,
    };
    let mut recipients = SetOfVec::new();
    recipients.insert(RecipientInfo::Ktri(ktri)).map_err(enc)?;
    let ed = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos(recipients),
        encrypted_content: EncryptedContentInfo {
            content_type: alg::ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: cipher.oid(),
                parameters: Some(
                    Any::encode_from(&OctetString::new(iv).map_err(enc)?).map_err(enc)?,
                ),
            },
            encrypted_content: Some(OctetString::new(ciphertext).map_err(enc)?),
        },
        unprotected_attrs: None,
    };
    ContentInfo {
        content_type: alg::ID_ENVELOPED_DATA,
        content: Any::encode_from(&ed).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

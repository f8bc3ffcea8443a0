//! Building requests: envelopes, signed pkiMessages, BER re-encoding.

use super::*;

/// How the envelope names its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rid {
    IssuerSerial,
    Ski,
}

/// What goes into an envelope; the defaults are those of a correct one.
pub(crate) struct EnvelopeSpec {
    pub(crate) cipher: Cipher,
    pub(crate) rid: Rid,
    /// Replaces the wrapped key (a bad RSA block).
    pub(crate) wrapped_key: Option<Vec<u8>>,
    /// Wraps a key of this length instead of the cipher's.
    pub(crate) wrapped_key_len: Option<usize>,
}

impl EnvelopeSpec {
    pub(crate) fn new(cipher: Cipher) -> Self {
        Self {
            cipher,
            rid: Rid::IssuerSerial,
            wrapped_key: None,
            wrapped_key_len: None,
        }
    }
}

/// An EnvelopedData (as a DER ContentInfo) of `content` for `recipient`.
pub(crate) fn envelope(content: &[u8], recipient_der: &[u8], spec: &EnvelopeSpec) -> Vec<u8> {
    let recipient = Certificate::from_der(recipient_der).unwrap();
    let cipher = spec.cipher;
    let key: Vec<u8> = random::<32>()[..cipher.key_len()].to_vec();
    let iv: Vec<u8> = random::<16>()[..cipher.iv_len()].to_vec();
    let ciphertext = cipher.encrypt(&key, &iv, content);
    let wrapped = match (&spec.wrapped_key, spec.wrapped_key_len) {
        (Some(w), _) => w.clone(),
        (None, Some(len)) => rsa_encrypt(&recipient, &random::<48>()[..len]),
        (None, None) => rsa_encrypt(&recipient, &key),
    };
    let tbs = recipient.tbs_certificate();
    let rid = match spec.rid {
        Rid::IssuerSerial => RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        Rid::Ski => RecipientIdentifier::SubjectKeyIdentifier(
            tbs.get_extension::<SubjectKeyIdentifier>()
                .unwrap()
                .expect("the recipient has a subjectKeyIdentifier")
                .1,
        ),
    };
    let ktri = KeyTransRecipientInfo {
        version: if spec.rid == Rid::Ski {
            CmsVersion::V2
        } else {
            CmsVersion::V0
        },
        rid,
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::from(der::asn1::Null)),
        },
        enc_key: OctetString::new(wrapped).unwrap(),
    };
    let ed = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos(SetOfVec::try_from(vec![RecipientInfo::Ktri(ktri)]).unwrap()),
        encrypted_content: EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: cipher.oid(),
                parameters: Some(Any::encode_from(&OctetString::new(iv).unwrap()).unwrap()),
            },
            encrypted_content: Some(OctetString::new(ciphertext).unwrap()),
        },
        unprotected_attrs: None,
    };
    ContentInfo {
        content_type: ID_ENVELOPED_DATA,
        content: Any::encode_from(&ed).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// An envelope made by `openssl cms -encrypt`.
pub(crate) fn openssl_envelope(content: &[u8], recipient_der: &[u8], cipher: Cipher) -> Vec<u8> {
    let o = OpenSsl::new();
    o.write("content.der", content);
    o.write("recipient.pem", pem_of("CERTIFICATE", recipient_der));
    let mut args = vec!["cms", "-encrypt", "-binary", "-outform", "DER"];
    args.extend(cipher.openssl_args());
    args.extend([
        "-in",
        "content.der",
        "-out",
        "envelope.der",
        "recipient.pem",
    ]);
    o.ok(&args);
    o.read("envelope.der")
}

/// The SCEP attributes of a request.
pub(crate) struct RequestSpec<'a> {
    pub(crate) message_type: &'a str,
    pub(crate) transaction_id: &'a str,
    pub(crate) sender_nonce: Vec<u8>,
    pub(crate) digest: Digest,
    /// Identify the signer by subjectKeyIdentifier instead of issuer and
    /// serial.
    pub(crate) signer_by_ski: bool,
    /// Leave the transactionID out.
    pub(crate) omit_transaction_id: bool,
}

impl<'a> RequestSpec<'a> {
    pub(crate) fn pkcs_req(transaction_id: &'a str, digest: Digest) -> Self {
        Self {
            message_type: "19",
            transaction_id,
            sender_nonce: random::<16>().to_vec(),
            digest,
            signer_by_ski: false,
            omit_transaction_id: false,
        }
    }
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Attribute {
    Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).unwrap(),
    }
}

fn printable(s: &str) -> Any {
    Any::encode_from(&PrintableStringRef::new(s).unwrap()).unwrap()
}

fn octets(b: &[u8]) -> Any {
    Any::encode_from(&OctetString::new(b).unwrap()).unwrap()
}

/// Signs `signed` with the device key, SHA-1 through openssl.
pub(crate) fn device_signature(device: &Device, digest: Digest, signed: &[u8]) -> Vec<u8> {
    match (&device.signer, digest) {
        (DeviceKey::Rsa(_), Digest::Sha1) => {
            let o = OpenSsl::new();
            o.write("key.pem", device.key_pem());
            o.write("attrs.der", signed);
            o.ok(&[
                "dgst",
                digest.openssl_name(),
                "-sign",
                "key.pem",
                "-out",
                "sig.bin",
                "attrs.der",
            ]);
            o.read("sig.bin")
        }
        (DeviceKey::Rsa(k), _) => {
            let enc: &'static dyn sig::RsaEncoding = if digest == Digest::Sha512 {
                &sig::RSA_PKCS1_SHA512
            } else {
                &sig::RSA_PKCS1_SHA256
            };
            let mut out = vec![0u8; k.public_modulus_len()];
            k.sign(enc, &aws_lc_rs::rand::SystemRandom::new(), signed, &mut out)
                .unwrap();
            out
        }
        (DeviceKey::P256(k), _) => k
            .sign(&aws_lc_rs::rand::SystemRandom::new(), signed)
            .unwrap()
            .as_ref()
            .to_vec(),
    }
}

/// A pkiMessage: SignedData over `envelope` with the SCEP attributes,
/// signed by the device.
pub(crate) fn request(device: &Device, envelope: &[u8], spec: &RequestSpec<'_>) -> Vec<u8> {
    let mut attrs = vec![
        attribute(CONTENT_TYPE, Any::encode_from(&ID_DATA).unwrap()),
        attribute(MESSAGE_DIGEST, octets(&spec.digest.hash(envelope))),
        attribute(MESSAGE_TYPE, printable(spec.message_type)),
        attribute(SENDER_NONCE, octets(&spec.sender_nonce)),
    ];
    if !spec.omit_transaction_id {
        attrs.push(attribute(TRANSACTION_ID, printable(spec.transaction_id)));
    }
    let attrs = SetOfVec::try_from(attrs).unwrap();
    let signature = device_signature(device, spec.digest, &attrs.to_der().unwrap());
    let cert = device.cert();
    let tbs = cert.tbs_certificate();
    let sid = if spec.signer_by_ski {
        SignerIdentifier::SubjectKeyIdentifier(
            tbs.get_extension::<SubjectKeyIdentifier>()
                .unwrap()
                .expect("the device certificate has a subjectKeyIdentifier")
                .1,
        )
    } else {
        SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        })
    };
    let (signature_algorithm, digest_params) = match (&device.signer, spec.digest) {
        // What Go's pkcs7 writes: rsaEncryption, and NULL SHA-1 parameters.
        (DeviceKey::Rsa(_), Digest::Sha1) => (RSA_ENCRYPTION, Some(Any::from(der::asn1::Null))),
        (DeviceKey::Rsa(_), Digest::Sha256) => (SHA256_WITH_RSA, None),
        (DeviceKey::Rsa(_), _) => (RSA_ENCRYPTION, None),
        (DeviceKey::P256(_), _) => (ECDSA_WITH_SHA256, None),
    };
    let digest_alg = AlgorithmIdentifierOwned {
        oid: spec.digest.oid(),
        parameters: digest_params,
    };
    let signer = SignerInfo {
        version: if spec.signer_by_ski {
            CmsVersion::V3
        } else {
            CmsVersion::V1
        },
        sid,
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(attrs),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: signature_algorithm,
            parameters: (signature_algorithm == RSA_ENCRYPTION
                || signature_algorithm == SHA256_WITH_RSA)
                .then(|| Any::from(der::asn1::Null)),
        },
        signature: OctetString::new(signature).unwrap(),
        unsigned_attrs: None,
    };
    let sd = SignedData {
        version: if spec.signer_by_ski {
            CmsVersion::V3
        } else {
            CmsVersion::V1
        },
        digest_algorithms: SetOfVec::try_from(vec![digest_alg]).unwrap(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: Some(octets(envelope)),
        },
        certificates: Some(
            CertificateSet::try_from(vec![CertificateChoices::Certificate(cert.clone())]).unwrap(),
        ),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer]).unwrap(),
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// Re-encodes DER as BER the way streaming encoders write it: every
/// constructed value with an indefinite length, and every OCTET STRING
/// (and, with `implicit_octets`, every [0] IMPLICIT OCTET STRING) in
/// constructed pieces.
pub(crate) fn to_ber(der: &[u8], implicit_octets: bool) -> Vec<u8> {
    fn one(der: &[u8], implicit_octets: bool) -> (Vec<u8>, usize) {
        let tag = der[0];
        let (len, hl) = match der[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (der[2] as usize, 3),
            0x82 => ((der[2] as usize) << 8 | der[3] as usize, 4),
            0x83 => (
                (der[2] as usize) << 16 | (der[3] as usize) << 8 | der[4] as usize,
                5,
            ),
            other => panic!("length form {other:#x}"),
        };
        let value = &der[hl..hl + len];
        let mut out = Vec::new();
        if tag & 0x20 != 0 {
            out.extend([tag, 0x80]);
            let mut rest = value;
            while !rest.is_empty() {
                let (child, used) = one(rest, implicit_octets);
                out.extend(child);
                rest = &rest[used..];
            }
            out.extend([0, 0]);
        } else if (tag == 0x04 || (implicit_octets && tag == 0x80)) && len > 1 {
            out.extend([tag | 0x20, 0x80]);
            for piece in value.chunks(len / 2 + 1) {
                out.extend(der_tlv(0x04, piece));
            }
            out.extend([0, 0]);
        } else {
            out.extend_from_slice(&der[..hl + len]);
        }
        (out, hl + len)
    }
    one(der, implicit_octets).0
}

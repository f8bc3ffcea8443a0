//! CMS SignedData (RFC 5652): signed profiles and the `Mdm-Signature`
//! header.
//!
//! Signing takes a PEM certificate and private key (RSA, PKCS#1 or PKCS#8,
//! signed with aws-lc-rs; or P-256, SEC1 or PKCS#8, signed with RustCrypto
//! `p256`) and writes DER SignedData with the content
//! encapsulated, SHA-256 digests and the `contentType` and `messageDigest`
//! signed attributes. No signing time is added, so RSA signatures (which are
//! deterministic) of unchanged content are byte for byte the same.
//!
//! Verification checks the signature with the certificate carried in the
//! SignedData and returns that certificate's DER. Whether the certificate is
//! trusted (its chain, its tenant, revocation) is for the caller to decide,
//! typically with `mdmkit-identity`.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{OctetString, SetOfVec};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode};
use sha2::Digest as _;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, AttributeValue};
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use mdmkit_identity::pem;

use crate::error::CmsError;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// The largest SignedData accepted for verification, in bytes.
pub const MAX_SIGNED_LEN: usize = 16 * 1024 * 1024;

enum Key {
    Rsa(Box<aws_lc_rs::signature::RsaKeyPair>),
    P256(Box<p256::ecdsa::SigningKey>),
}

/// A certificate and its private key, for signing.
pub struct SigningIdentity {
    cert: Certificate,
    chain: Vec<Certificate>,
    key: Key,
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningIdentity")
            .field(
                "subject",
                &self.cert.tbs_certificate().subject().to_string(),
            )
            .finish_non_exhaustive()
    }
}

/// Certificates and keys given as PEM (an administrator's signing
/// identity): read by mdmkit-identity's PEM decoder, the workspace's one.
const PEM_LIMITS: pem::Limits = pem::Limits::DEFAULT;

/// A signature given as PEM (`PKCS7`, `CMS`): as large as what it signs.
const SIGNATURE_PEM_LIMITS: pem::Limits = pem::Limits::new(64 * 1024 * 1024, 16);

fn parse_key(key_pem: &[u8]) -> Result<Key, CmsError> {
    use aws_lc_rs::signature::RsaKeyPair;
    use p256::pkcs8::DecodePrivateKey as _;
    let key = pem::private_key(key_pem, &PEM_LIMITS)
        .map_err(|e| CmsError::malformed("private key PEM", e))?;
    match key.format {
        pem::KeyFormat::Pkcs1 => {
            let k = RsaKeyPair::from_der(&key.der)
                .map_err(|e| CmsError::malformed("RSA private key", e))?;
            Ok(Key::Rsa(Box::new(k)))
        }
        pem::KeyFormat::Sec1 => {
            let k = p256::SecretKey::from_sec1_der(&key.der)
                .map_err(|e| CmsError::malformed("EC private key (P-256 expected)", e))?;
            Ok(Key::P256(Box::new(p256::ecdsa::SigningKey::from(k))))
        }
        pem::KeyFormat::Pkcs8 => {
            if let Ok(k) = RsaKeyPair::from_pkcs8(&key.der) {
                return Ok(Key::Rsa(Box::new(k)));
            }
            p256::ecdsa::SigningKey::from_pkcs8_der(&key.der)
                .map(|k| Key::P256(Box::new(k)))
                .map_err(|_| {
                    CmsError::Unsupported("private key type (RSA or P-256 expected)".into())
                })
        }
        other => Err(CmsError::Unsupported(format!(
            "private key format {other:?}"
        ))),
    }
}

/// The certificates of DER input (one) or of PEM input (every
/// `CERTIFICATE` block; none when the text has no PEM block).
fn parse_certs(pem_or_der: &[u8]) -> Result<Vec<Certificate>, CmsError> {
    if pem_or_der.first() == Some(&0x30) {
        return Ok(vec![
            Certificate::from_der(pem_or_der).map_err(|e| CmsError::malformed("certificate", e))?,
        ]);
    }
    let blocks = match pem::decode_all(pem_or_der, &PEM_LIMITS) {
        Ok(blocks) => blocks,
        Err(pem::PemError::NoBlock) => Vec::new(),
        Err(e) => return Err(CmsError::malformed("certificate PEM", e)),
    };
    blocks
        .iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| Certificate::from_der(&b.der).map_err(|e| CmsError::malformed("certificate", e)))
        .collect()
}

fn spki_der(cert: &Certificate) -> Result<Vec<u8>, CmsError> {
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| CmsError::malformed("certificate public key", e))
}

impl SigningIdentity {
    /// Reads a certificate (PEM; further certificates in the same file are
    /// kept as the chain) and its private key (PEM).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, CmsError> {
        let mut certs = parse_certs(cert_pem)?;
        if certs.is_empty() {
            return Err(CmsError::NoSigner);
        }
        let cert = certs.remove(0);
        let key = parse_key(key_pem)?;
        let matches = match &key {
            Key::Rsa(k) => {
                use aws_lc_rs::signature::KeyPair as _;
                let spki = cert.tbs_certificate().subject_public_key_info();
                k.public_key().as_ref() == spki.subject_public_key.raw_bytes()
            }
            Key::P256(k) => {
                use p256::pkcs8::EncodePublicKey as _;
                k.verifying_key()
                    .to_public_key_der()
                    .map_err(|e| CmsError::malformed("P-256 public key", e))?
                    .into_vec()
                    == spki_der(&cert)?
            }
        };
        if !matches {
            return Err(CmsError::KeyMismatch);
        }
        Ok(Self {
            cert,
            chain: certs,
            key,
        })
    }

    /// Adds intermediate certificates (PEM) to embed in signatures.
    pub fn with_chain_pem(mut self, pem: &[u8]) -> Result<Self, CmsError> {
        self.chain.extend(parse_certs(pem)?);
        Ok(self)
    }

    /// The signer certificate's DER.
    pub fn certificate_der(&self) -> Vec<u8> {
        self.cert.to_der().unwrap_or_default()
    }
}

fn alg(oid: ObjectIdentifier, null_params: bool) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: null_params.then(|| Any::from(der::asn1::Null)),
    }
}

fn attr(oid: ObjectIdentifier, value: AttributeValue) -> Result<Attribute, CmsError> {
    let mut values = SetOfVec::new();
    values
        .insert(value)
        .map_err(|e| CmsError::malformed("attribute", e))?;
    Ok(Attribute { oid, values })
}

fn enc(e: der::Error) -> CmsError {
    CmsError::malformed("CMS encoding", e)
}

/// Signs `content` and returns DER SignedData with the content inside.
pub fn sign(content: &[u8], id: &SigningIdentity) -> Result<Vec<u8>, CmsError> {
    sign_inner(content, id, true)
}

/// Signs `content` and returns DER SignedData without it: a detached
/// signature, as Apple devices send in the `Mdm-Signature` header (base64)
/// when their enrollment profile sets `SignMessage`.
pub fn sign_detached(content: &[u8], id: &SigningIdentity) -> Result<Vec<u8>, CmsError> {
    sign_inner(content, id, false)
}

fn sign_inner(content: &[u8], id: &SigningIdentity, attached: bool) -> Result<Vec<u8>, CmsError> {
    let digest = sha2::Sha256::digest(content);
    let mut attrs = SetOfVec::new();
    attrs
        .insert(attr(
            ID_CONTENT_TYPE,
            Any::encode_from(&ID_DATA).map_err(enc)?,
        )?)
        .map_err(enc)?;
    attrs
        .insert(attr(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(digest.to_vec()).map_err(enc)?).map_err(enc)?,
        )?)
        .map_err(enc)?;
    let signed_bytes = attrs.to_der().map_err(enc)?;
    let (signature, sig_alg) = match &id.key {
        Key::Rsa(k) => {
            let mut sig = vec![0u8; k.public_modulus_len()];
            k.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                &signed_bytes,
                &mut sig,
            )
            .map_err(|_| CmsError::Unsupported("RSA key for signing".into()))?;
            (sig, alg(SHA256_WITH_RSA, true))
        }
        Key::P256(k) => {
            use p256::ecdsa::signature::Signer as _;
            let s: p256::ecdsa::Signature = k.sign(&signed_bytes);
            (
                s.to_der().as_bytes().to_vec(),
                alg(ECDSA_WITH_SHA256, false),
            )
        }
    };
    let tbs = id.cert.tbs_certificate();
    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: alg(ID_SHA256, false),
        signed_attrs: Some(attrs),
        signature_algorithm: sig_alg,
        signature: OctetString::new(signature).map_err(enc)?,
        unsigned_attrs: None,
    };
    let mut certs = vec![CertificateChoices::Certificate(id.cert.clone())];
    certs.extend(
        id.chain
            .iter()
            .cloned()
            .map(CertificateChoices::Certificate),
    );
    let mut digests = SetOfVec::new();
    digests.insert(alg(ID_SHA256, false)).map_err(enc)?;
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: digests,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: if attached {
                Some(
                    Any::encode_from(&OctetString::new(content.to_vec()).map_err(enc)?)
                        .map_err(enc)?,
                )
            } else {
                None
            },
        },
        certificates: Some(CertificateSet::try_from(certs).map_err(enc)?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer]).map_err(enc)?,
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

/// What a verified SignedData holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The signed content.
    pub content: Vec<u8>,
    /// The DER of the certificate whose key made the signature.
    pub signer_certificate: Vec<u8>,
    /// The DER of every certificate carried (signer first).
    pub certificates: Vec<Vec<u8>>,
}

/// Whether bytes look like CMS SignedData (DER, or PEM `PKCS7`/`CMS`).
pub fn looks_signed(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(64)];
    if head.starts_with(b"-----BEGIN PKCS7-----") || head.starts_with(b"-----BEGIN CMS-----") {
        return true;
    }
    // SEQUENCE { OID 1.2.840.113549.1.7.2 ...
    let oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    head.first() == Some(&0x30) && head.windows(oid.len()).take(8).any(|w| w == oid)
}

fn to_der_input(bytes: &[u8]) -> Result<Vec<u8>, CmsError> {
    if bytes.starts_with(b"-----BEGIN") {
        let mut blocks = pem::decode_labelled(bytes, &["PKCS7", "CMS"], &SIGNATURE_PEM_LIMITS)
            .map_err(|e| CmsError::malformed("signature PEM", e))?;
        return Ok(blocks.swap_remove(0).der);
    }
    Ok(bytes.to_vec())
}

/// Verifies SignedData with encapsulated content (a signed profile).
pub fn verify(signed: &[u8]) -> Result<Verified, CmsError> {
    verify_inner(signed, None)
}

/// Verifies a detached signature over `content` (`Mdm-Signature`).
pub fn verify_detached(signature: &[u8], content: &[u8]) -> Result<Verified, CmsError> {
    verify_inner(signature, Some(content))
}

fn decode_signed_data(der_bytes: &[u8]) -> Result<SignedData, CmsError> {
    let ci = ContentInfo::from_der(der_bytes)
        .or_else(|_| ContentInfo::from_ber(der_bytes))
        .map_err(|e| CmsError::malformed("CMS ContentInfo", e))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(CmsError::Unsupported(format!(
            "CMS content type {}",
            ci.content_type
        )));
    }
    let inner = ci.content.to_der().map_err(enc)?;
    SignedData::from_der(&inner)
        .or_else(|_| SignedData::from_ber(&inner))
        .map_err(|e| CmsError::malformed("CMS SignedData", e))
}

fn digest(oid: ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>, CmsError> {
    Ok(match oid {
        ID_SHA1 => sha1::Sha1::digest(data).to_vec(),
        ID_SHA256 => sha2::Sha256::digest(data).to_vec(),
        ID_SHA384 => sha2::Sha384::digest(data).to_vec(),
        ID_SHA512 => sha2::Sha512::digest(data).to_vec(),
        other => return Err(CmsError::Unsupported(format!("digest algorithm {other}"))),
    })
}

fn matches_sid(cert: &Certificate, sid: &SignerIdentifier) -> bool {
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

fn verify_signature(
    cert: &Certificate,
    digest_oid: ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CmsError> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    if spki.algorithm.oid == RSA_ENCRYPTION {
        use aws_lc_rs::signature as sig;
        let params: &'static sig::RsaParameters = match digest_oid {
            ID_SHA1 => &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            ID_SHA256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            ID_SHA384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            ID_SHA512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            other => return Err(CmsError::Unsupported(format!("digest algorithm {other}"))),
        };
        return sig::UnparsedPublicKey::new(params, spki.subject_public_key.raw_bytes())
            .verify(message, signature)
            .map_err(|_| CmsError::BadSignature);
    }
    if spki.algorithm.oid == EC_PUBLIC_KEY {
        // Through aws-lc-rs, like RSA: about eight times faster than the
        // pure-Rust p256 verifier on every signed device message.
        use aws_lc_rs::signature as sig;
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if curve != Some(SECP256R1) {
            return Err(CmsError::Unsupported("EC curve (P-256 expected)".into()));
        }
        let alg: &'static sig::EcdsaVerificationAlgorithm = match digest_oid {
            ID_SHA1 => &sig::ECDSA_P256_SHA1_ASN1,
            ID_SHA256 => &sig::ECDSA_P256_SHA256_ASN1,
            ID_SHA384 => &sig::ECDSA_P256_SHA384_ASN1,
            ID_SHA512 => &sig::ECDSA_P256_SHA512_ASN1,
            other => return Err(CmsError::Unsupported(format!("digest algorithm {other}"))),
        };
        return sig::UnparsedPublicKey::new(alg, spki.subject_public_key.raw_bytes())
            .verify(message, signature)
            .map_err(|_| CmsError::BadSignature);
    }
    Err(CmsError::Unsupported(format!(
        "public key algorithm {}",
        spki.algorithm.oid
    )))
}

fn verify_inner(signed: &[u8], detached: Option<&[u8]>) -> Result<Verified, CmsError> {
    if signed.len() > MAX_SIGNED_LEN {
        return Err(CmsError::Unsupported(format!(
            "signed data of {} bytes (at most {MAX_SIGNED_LEN})",
            signed.len()
        )));
    }
    let der_bytes = to_der_input(signed)?;
    let sd = decode_signed_data(&der_bytes)?;
    let content = match (detached, &sd.encap_content_info.econtent) {
        (Some(c), _) => c.to_vec(),
        (None, Some(any)) => any
            .decode_as::<OctetString>()
            .map_err(|e| CmsError::malformed("encapsulated content", e))?
            .into_bytes()
            .into_vec(),
        (None, None) => return Err(CmsError::NoContent),
    };
    let certs: Vec<&Certificate> = sd
        .certificates
        .as_ref()
        .map(|s| {
            s.0.iter()
                .filter_map(|c| match c {
                    CertificateChoices::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let signer = sd.signer_infos.0.iter().next().ok_or(CmsError::NoSigner)?;
    let cert = certs
        .iter()
        .find(|c| matches_sid(c, &signer.sid))
        .ok_or(CmsError::NoSigner)?;
    let digest_oid = signer.digest_alg.oid;
    let content_digest = digest(digest_oid, &content)?;
    let message = match &signer.signed_attrs {
        None => content.clone(),
        Some(attrs) => {
            let md = attrs
                .iter()
                .find(|a| a.oid == ID_MESSAGE_DIGEST)
                .and_then(|a| a.values.iter().next())
                .and_then(|v| v.decode_as::<OctetString>().ok())
                .ok_or(CmsError::DigestMismatch)?;
            if md.as_bytes() != content_digest.as_slice() {
                return Err(CmsError::DigestMismatch);
            }
            attrs.to_der().map_err(enc)?
        }
    };
    verify_signature(cert, digest_oid, &message, signer.signature.as_bytes())?;
    let signer_der = cert.to_der().map_err(enc)?;
    let mut all = vec![signer_der.clone()];
    for c in &certs {
        let d = c.to_der().map_err(enc)?;
        if d != signer_der {
            all.push(d);
        }
    }
    Ok(Verified {
        content,
        signer_certificate: signer_der,
        certificates: all,
    })
}

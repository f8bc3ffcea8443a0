//! The SCEP responder's identity: an RSA key and a certificate from the
//! tenant CA.

use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use cms::cert::IssuerAndSerialNumber;
use cms::enveloped_data::RecipientIdentifier;
use der::Decode;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose, PublicKeyData,
};
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::alg::{self, DigestAlgorithm};
use super::error::ScepError;
use crate::ca::{CLOCK_SKEW, TenantCa, backend};
use crate::decode;
use crate::error::{CaError, DecodeError};
use crate::serial::Serial;

/// Default lifetime of an RA certificate, in days (cut to the issuing CA's
/// end).
pub const DEFAULT_RA_DAYS: u32 = 2 * 365;

/// The PEM files of an RA identity, as written to and read from disk
/// (`scep-ra.pem` and `scep-ra.key`).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RaPem {
    /// The RA certificate.
    pub cert: String,
    /// Its PKCS#8 private key.
    pub key: String,
}

impl RaPem {
    /// Pairs a certificate and a key read from their files.
    pub fn new(cert: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
        }
    }
}

impl std::fmt::Debug for RaPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaPem")
            .field("cert", &self.cert)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The SCEP responder (registration authority): an RSA-2048 key and a
/// certificate issued by the tenant CA with keyEncipherment and
/// digitalSignature, and no clientAuth.
///
/// Clients encrypt their requests to this certificate and verify replies
/// with it, so the tenant CA itself may use any key type (P-256 by default)
/// while SCEP keeps the RSA it requires.
pub struct RaIdentity {
    cert_der: Vec<u8>,
    cert: Certificate,
    pkcs8: Vec<u8>,
    signing: RsaKeyPair,
    decrypting: Pkcs1PrivateDecryptingKey,
}

impl std::fmt::Debug for RaIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaIdentity")
            .field(
                "subject",
                &self.cert.tbs_certificate().subject().to_string(),
            )
            .finish_non_exhaustive()
    }
}

impl TenantCa {
    /// Issues the RA certificate for `key`: subject O=tenant,
    /// CN="{tenant} SCEP RA", keyEncipherment and digitalSignature, no
    /// extended key usage, signed by the issuing CA.
    pub(crate) fn issue_ra_certificate(
        &self,
        key: &impl PublicKeyData,
        days: u32,
    ) -> Result<Vec<u8>, CaError> {
        let issuing = self.issuing();
        let now = OffsetDateTime::now_utc();
        let not_before = now - CLOCK_SKEW;
        let not_after = (now + Duration::days(i64::from(days))).min(issuing.not_after);
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, self.tenant.as_str());
        dn.push(DnType::CommonName, format!("{} SCEP RA", self.tenant));
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(Serial::random()?.to_rcgen());
        let cert = params
            .signed_by(key, &issuing.issuer)
            .map_err(backend("signing the SCEP RA certificate"))?;
        Ok(cert.der().to_vec())
    }
}

fn bad_key(reason: impl ToString) -> CaError {
    CaError::BadKey {
        reason: reason.to_string(),
    }
}

impl RaIdentity {
    /// Generates an RSA-2048 key and has `ca`'s issuing CA certify it for
    /// [`DEFAULT_RA_DAYS`] days (at most until the CA ends).
    pub fn generate(ca: &TenantCa) -> Result<Self, CaError> {
        let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            .map_err(backend("generating the SCEP RA key"))?;
        let cert_der = ca.issue_ra_certificate(&key, DEFAULT_RA_DAYS)?;
        Self::from_parts(cert_der, key.serialize_der())
    }

    /// Loads an identity saved with [`to_pem`](Self::to_pem), checking that
    /// the key is RSA and belongs to the certificate.
    pub fn from_pem(pem: &RaPem) -> Result<Self, CaError> {
        let cert = decode::one(pem.cert.as_bytes(), &["CERTIFICATE"], decode::MAX_CERT_LEN)
            .map_err(|source| CaError::Decode {
                what: "SCEP RA certificate",
                source,
            })?;
        let key = decode::one(pem.key.as_bytes(), &["PRIVATE KEY"], decode::MAX_CERT_LEN).map_err(
            |source| CaError::Decode {
                what: "SCEP RA private key",
                source,
            },
        )?;
        Self::from_parts(cert, key)
    }

    fn from_parts(cert_der: Vec<u8>, pkcs8: Vec<u8>) -> Result<Self, CaError> {
        let cert = Certificate::from_der(&cert_der).map_err(|e| CaError::Decode {
            what: "SCEP RA certificate",
            source: DecodeError::Der {
                what: "certificate",
                reason: e.to_string(),
            },
        })?;
        let spki = cert.tbs_certificate().subject_public_key_info();
        if spki.algorithm.oid != alg::RSA_ENCRYPTION {
            return Err(bad_key("the SCEP RA key must be RSA"));
        }
        let signing = RsaKeyPair::from_pkcs8(&pkcs8).map_err(bad_key)?;
        {
            use aws_lc_rs::signature::KeyPair as _;
            if signing.public_key().as_ref() != spki.subject_public_key.raw_bytes() {
                return Err(CaError::KeyMismatch);
            }
        }
        let decrypting = PrivateDecryptingKey::from_pkcs8(&pkcs8)
            .map_err(bad_key)
            .and_then(|k| Pkcs1PrivateDecryptingKey::new(k).map_err(bad_key))?;
        Ok(Self {
            cert_der,
            cert,
            pkcs8,
            signing,
            decrypting,
        })
    }

    /// The certificate and key as PEM, for saving.
    pub fn to_pem(&self) -> RaPem {
        RaPem {
            cert: decode::pem_lf("CERTIFICATE", &self.cert_der),
            key: decode::pem_lf("PRIVATE KEY", &self.pkcs8),
        }
    }

    /// The RA certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub(crate) fn issuer_and_serial(&self) -> IssuerAndSerialNumber {
        let tbs = self.cert.tbs_certificate();
        IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }
    }

    /// Whether a KeyTransRecipientInfo names this RA's certificate.
    pub(crate) fn is_recipient(&self, rid: &RecipientIdentifier) -> bool {
        let tbs = self.cert.tbs_certificate();
        match rid {
            RecipientIdentifier::IssuerAndSerialNumber(isn) => {
                tbs.issuer() == &isn.issuer && tbs.serial_number() == &isn.serial_number
            }
            RecipientIdentifier::SubjectKeyIdentifier(ski) => matches!(
                tbs.get_extension::<SubjectKeyIdentifier>(),
                Ok(Some((_, ref found))) if found == ski
            ),
        }
    }

    /// Signs with RSA PKCS#1 v1.5.
    pub(crate) fn sign(
        &self,
        digest: DigestAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, ScepError> {
        let mut signature = vec![0u8; self.signing.public_modulus_len()];
        self.signing
            .sign(
                digest.rsa_sign(),
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(ScepError::crypto("signing the reply"))?;
        Ok(signature)
    }

    /// Unwraps a content-encryption key of `key_len` bytes.
    ///
    /// Never reports failure (RFC 3218 section 2.3.2): if the RSA block does
    /// not decrypt or holds a key of the wrong length, a random key stands
    /// in, chosen without branching on which, and the content decryption
    /// that follows fails like any other. The sender learns nothing about
    /// the RSA padding.
    pub(crate) fn unwrap_key(&self, wrapped: &[u8], key_len: usize) -> Result<Vec<u8>, ScepError> {
        let mut key = vec![0u8; key_len];
        aws_lc_rs::rand::fill(&mut key).map_err(ScepError::crypto("generating a stand-in key"))?;
        let mut buf = vec![0u8; self.decrypting.min_output_size()];
        // The plaintext, if any, is a prefix of `buf`.
        let ok = match self.decrypting.decrypt(wrapped, &mut buf) {
            Ok(plain) => plain.len() == key_len,
            Err(_) => false,
        };
        let mask = 0u8.wrapping_sub(u8::from(ok));
        for (k, real) in key.iter_mut().zip(buf.iter()) {
            *k = (real & mask) | (*k & !mask);
        }
        buf.fill(0);
        Ok(key)
    }
}

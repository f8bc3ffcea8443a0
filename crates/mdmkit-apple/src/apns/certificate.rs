//! The MDM push certificate: a certificate Apple issues (through the
//! Push Certificates Portal) whose subject UID is the push topic, and its
//! private key.
//!
//! [`PushCertificate::from_pem`] checks that the key belongs to the
//! certificate (the public key of one is the public key of the other) and
//! reads the topic and validity; nothing else of it is trusted.

use std::fmt;
use std::sync::Arc;

use der::Decode as _;
use der::asn1::ObjectIdentifier;
use mdmkit_identity::pem;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use sha2::Digest as _;
use x509_cert::ext::pkix::name::DirectoryString;

/// `UID` (RFC 4519, `0.9.2342.19200300.100.1.1`): where Apple puts the
/// topic.
const UID: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1");

/// Why a push certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// No certificate in the PEM text, or one that does not parse.
    #[error("the certificate does not parse: {0}")]
    Certificate(String),
    /// No private key in the PEM text, or one rustls cannot use.
    #[error("the private key does not parse: {0}")]
    Key(String),
    /// The key is not the certificate's.
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    /// The subject has no UID, so no topic.
    #[error(
        "the certificate's subject has no UID (the push topic): is it an MDM push certificate?"
    )]
    NoTopic,
}

/// A parsed push certificate with its key, ready for TLS.
#[derive(Clone)]
pub struct PushCertificate {
    topic: String,
    subject: String,
    not_before: i64,
    not_after: i64,
    sha256: String,
    key: Arc<CertifiedKey>,
}

impl fmt::Debug for PushCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushCertificate")
            .field("topic", &self.topic)
            .field("subject", &self.subject)
            .field("not_after", &self.not_after)
            .field("sha256", &self.sha256)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl PushCertificate {
    /// Parses a certificate (PEM; the first one is the push certificate,
    /// the rest its chain) and its private key (PEM: PKCS#8, PKCS#1 or
    /// SEC1), checking that they belong together.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, CertificateError> {
        let chain: Vec<CertificateDer<'static>> =
            pem::certificates(cert_pem, &pem::Limits::DEFAULT)
                .map_err(|e| CertificateError::Certificate(e.to_string()))?
                .into_iter()
                .map(CertificateDer::from)
                .collect();
        let first = chain
            .first()
            .ok_or_else(|| CertificateError::Certificate("no CERTIFICATE block".into()))?;
        let cert = x509_cert::Certificate::from_der(first.as_ref())
            .map_err(|e| CertificateError::Certificate(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let subject = tbs.subject();
        let topic = subject
            .by_oid::<DirectoryString>(UID)
            .map_err(|e| CertificateError::Certificate(e.to_string()))?
            .map(|d| d.value().into_owned())
            .filter(|t| !t.is_empty())
            .ok_or(CertificateError::NoTopic)?;
        let validity = tbs.validity();
        let secs = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        let (not_before, not_after) = (secs(validity.not_before), secs(validity.not_after));
        let key: PrivateKeyDer<'static> = pem::private_key(key_pem, &pem::Limits::DEFAULT)
            .map_err(|e| CertificateError::Key(e.to_string()))?
            .into();
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let signer = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| CertificateError::Key(e.to_string()))?;
        let sha256 = hex(&sha2::Sha256::digest(first.as_ref()));
        let certified = CertifiedKey::new(chain, signer);
        certified
            .keys_match()
            .map_err(|_| CertificateError::KeyMismatch)?;
        Ok(Self {
            topic,
            subject: subject.to_string(),
            not_before,
            not_after,
            sha256,
            key: Arc::new(certified),
        })
    }

    /// The push topic: the subject's UID (`com.apple.mgmt.External.<uuid>`).
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The subject, as text.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Start of validity, Unix seconds.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// End of validity, Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// SHA-256 of the certificate's DER, lower-case hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The certificate chain and key for rustls.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        self.key.clone()
    }
}

/// Lower-case hex.
pub(crate) fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "com.apple.mgmt.External.3b1e4c1a-0000-4000-8000-000000000001";

    fn pair() -> (String, String) {
        emulator_free_cert(TOPIC)
    }

    /// A self-signed certificate with the topic as UID (rcgen is not a
    /// dependency of this crate: the DER is built from a template by
    /// the emulator module's helper when that feature is on, so the test
    /// uses the emulator only when built with it).
    fn emulator_free_cert(topic: &str) -> (String, String) {
        #[cfg(feature = "apns-emulator")]
        {
            let c = crate::apns::emulator::test_push_certificate(topic, 30);
            (c.cert_pem, c.key_pem)
        }
        #[cfg(not(feature = "apns-emulator"))]
        {
            let _ = topic;
            (String::new(), String::new())
        }
    }

    #[test]
    fn topic_validity_and_key_match() {
        let (cert, key) = pair();
        if cert.is_empty() {
            return;
        }
        let p = PushCertificate::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(p.topic(), TOPIC);
        assert!(p.not_after() > p.not_before());
        assert_eq!(p.sha256().len(), 64);
        assert!(!format!("{p:?}").contains("PRIVATE"));
        let (_, other_key) = emulator_free_cert(TOPIC);
        assert_eq!(
            PushCertificate::from_pem(cert.as_bytes(), other_key.as_bytes()).unwrap_err(),
            CertificateError::KeyMismatch
        );
        assert!(matches!(
            PushCertificate::from_pem(b"nope", key.as_bytes()),
            Err(CertificateError::Certificate(_))
        ));
    }
}

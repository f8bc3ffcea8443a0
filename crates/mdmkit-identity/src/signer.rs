//! Signing identities the tenant CA issues for the server itself: the key
//! and certificate that sign enrollment profiles.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::ca::{CLOCK_SKEW, TenantCa, backend};
use crate::error::CaError;
use crate::serial::Serial;

/// How long a profile signer is valid, in days.
pub const SIGNER_DAYS: u32 = 825;

/// A signing identity just issued: its certificate chain and its key.
#[non_exhaustive]
pub struct IssuedSigner {
    /// The signer's certificate, then the issuing CA's (and the root's,
    /// with an intermediate), PEM.
    pub chain_pem: String,
    /// The signer's private key (PKCS#8 PEM): keep it secret.
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSigner")
            .field("chain_pem", &self.chain_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl TenantCa {
    /// Issues a signing identity named `name` (a P-256 key; digitalSignature
    /// with the emailProtection and codeSigning purposes, so `openssl cms
    /// -verify` accepts its signatures, and never clientAuth, so it can
    /// never pass as a device), valid [`SIGNER_DAYS`] days or until the
    /// issuing CA expires.
    pub fn issue_signer(&self, name: &str) -> Result<IssuedSigner, CaError> {
        let issuing = self.issuing();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(backend("generating the signer key"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, self.tenant().as_str());
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::EmailProtection,
            ExtendedKeyUsagePurpose::CodeSigning,
        ];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        let not_before = now - CLOCK_SKEW;
        let not_after = (now + Duration::days(i64::from(SIGNER_DAYS))).min(issuing.not_after);
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(Serial::random()?.to_rcgen());
        let cert = params
            .signed_by(&key, &issuing.issuer)
            .map_err(backend("signing the signer certificate"))?;
        let mut chain_pem = cert.pem();
        if let Some(intermediate) = self.intermediate_pem() {
            chain_pem.push_str(intermediate);
        }
        chain_pem.push_str(self.root_pem());
        Ok(IssuedSigner {
            chain_pem,
            key_pem: key.serialize_pem(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CaBuilder, KeyAlgorithm};

    #[test]
    fn a_signer_chains_to_the_tenant_ca_and_is_no_device() {
        let ca = CaBuilder::new("t".parse().unwrap())
            .algorithm(KeyAlgorithm::P256)
            .intermediate(true)
            .build()
            .unwrap();
        let s = ca.issue_signer("t profile signer").unwrap();
        assert_eq!(s.chain_pem.matches("BEGIN CERTIFICATE").count(), 3);
        assert!(!format!("{s:?}").contains("PRIVATE KEY"));
        let der = pem::parse(&s.chain_pem).unwrap().into_contents();
        // Not a device identity: the tenant's verifier refuses it.
        assert!(
            ca.verifier()
                .verify_der(
                    &der,
                    &[ca.intermediate_der().unwrap()],
                    OffsetDateTime::now_utc()
                )
                .is_err()
        );
    }
}

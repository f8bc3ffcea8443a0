//! Tenant certificate authorities: a self-signed root and an optional
//! issuing intermediate, both bound to one tenant by the URN
//! `urn:mdmkit:{tenant}:ca` in their subjectAltName and by the tenant id as
//! their subject's organization.

use mdmkit_core::TenantId;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType,
};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::alg::KeyAlgorithm;
use crate::decode;
use crate::error::{CaError, DecodeError};
use crate::pem;
use crate::serial::Serial;
use crate::urn::{self, Urn};

/// How far back validity windows start, for devices whose clock runs late.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);
/// Default lifetime of a CA, in days (ten years).
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// Longest accepted CA lifetime, in days (thirty years).
pub const MAX_CA_DAYS: u32 = 30 * 365;

pub(crate) fn backend(during: &'static str) -> impl Fn(rcgen::Error) -> CaError {
    move |e| CaError::Backend {
        during,
        reason: e.to_string(),
    }
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// One CA certificate with its signing key.
pub(crate) struct Authority {
    pub(crate) der: Vec<u8>,
    pub(crate) pem: String,
    pub(crate) issuer: Issuer<'static, KeyPair>,
    pub(crate) not_after: OffsetDateTime,
}

impl Authority {
    fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }
}

/// What a CA certificate says about itself.
pub(crate) struct CaFacts {
    pub(crate) tenant: TenantId,
    pub(crate) not_after: OffsetDateTime,
    pub(crate) spki: Vec<u8>,
    pub(crate) alg: &'static rcgen::SignatureAlgorithm,
}

/// Reads the tenant binding and basics out of a CA certificate.
pub(crate) fn ca_facts(der: &[u8]) -> Result<CaFacts, CaError> {
    let cert = parse_cert(der).map_err(|source| CaError::Decode {
        what: "certificate",
        source,
    })?;
    if !cert.is_ca() {
        return Err(CaError::NotTenantCa {
            reason: "basicConstraints does not mark it as a CA".into(),
        });
    }
    let tenant = cert_urns(&cert)
        .into_iter()
        .find_map(|u| match u {
            Urn::Ca(t) => Some(t),
            _ => None,
        })
        .ok_or_else(|| CaError::NotTenantCa {
            reason: "no urn:mdmkit:{tenant}:ca subjectAltName".into(),
        })?;
    let (_, alg) = crate::csr::key_policy(cert.public_key()).map_err(|e| CaError::NotTenantCa {
        reason: e.to_string(),
    })?;
    Ok(CaFacts {
        tenant,
        not_after: cert.validity().not_after.to_datetime(),
        spki: cert.public_key().raw.to_vec(),
        alg,
    })
}

/// Parses one DER certificate, refusing trailing bytes.
pub(crate) fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, DecodeError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| DecodeError::Der {
        what: "certificate",
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingData {
            what: "certificate",
            offset: der.len() - rest.len(),
            count: rest.len(),
        });
    }
    Ok(cert)
}

/// Every mdmkit URN among a certificate's URI subjectAltNames.
pub(crate) fn cert_urns(cert: &X509Certificate<'_>) -> Vec<Urn> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::URI(u) => urn::parse_urn(u),
            _ => None,
        })
        .collect()
}

fn load_authority(cert_pem: &[u8], key_pem: &[u8]) -> Result<(Authority, TenantId), CaError> {
    let der = decode::one(cert_pem, &["CERTIFICATE"], decode::MAX_CERT_LEN).map_err(|source| {
        CaError::Decode {
            what: "certificate",
            source,
        }
    })?;
    let facts = ca_facts(&der)?;
    let key = pem::private_key(key_pem, &pem::Limits::DEFAULT).map_err(|e| CaError::Decode {
        what: "private key",
        source: e.into(),
    })?;
    let key =
        KeyPair::from_der_and_sign_algo(&key.into(), facts.alg).map_err(|e| CaError::BadKey {
            reason: e.to_string(),
        })?;
    if key.subject_public_key_info() != facts.spki {
        return Err(CaError::KeyMismatch);
    }
    let issuer = Issuer::from_ca_cert_der(&der.clone().into(), key)
        .map_err(backend("reading the CA certificate"))?;
    let pem = decode::pem_lf("CERTIFICATE", &der);
    Ok((
        Authority {
            der,
            pem,
            issuer,
            not_after: facts.not_after,
        },
        facts.tenant,
    ))
}

/// The PEM files of a tenant CA, as written to and read from disk.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaPem {
    /// The root certificate (the trust anchor).
    pub root_cert: String,
    /// The root's PKCS#8 private key.
    pub root_key: String,
    /// The issuing intermediate's certificate and PKCS#8 key, if any.
    pub intermediate: Option<(String, String)>,
}

impl std::fmt::Debug for CaPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaPem")
            .field("root_cert", &self.root_cert)
            .field("root_key", &"<redacted>")
            .field("intermediate", &self.intermediate.is_some())
            .finish()
    }
}

/// Options for a new tenant CA.
#[derive(Debug, Clone)]
pub struct CaBuilder {
    tenant: TenantId,
    algorithm: KeyAlgorithm,
    days: u32,
    intermediate: bool,
    now: Option<OffsetDateTime>,
}

impl CaBuilder {
    /// A P-256 root for `tenant`, valid for [`DEFAULT_CA_DAYS`], without an
    /// intermediate.
    pub fn new(tenant: TenantId) -> Self {
        Self {
            tenant,
            algorithm: KeyAlgorithm::default(),
            days: DEFAULT_CA_DAYS,
            intermediate: false,
            now: None,
        }
    }

    /// The key algorithm of the root (and of the intermediate).
    pub fn algorithm(mut self, algorithm: KeyAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The lifetime in days (the intermediate ends a day before the root).
    pub fn days(mut self, days: u32) -> Self {
        self.days = days;
        self
    }

    /// Also create an issuing intermediate, so the root key can stay offline.
    pub fn intermediate(mut self, yes: bool) -> Self {
        self.intermediate = yes;
        self
    }

    /// Pretends the current time is `now` (tests, reproducible fixtures).
    pub fn now(mut self, now: OffsetDateTime) -> Self {
        self.now = Some(now);
        self
    }

    /// Generates the keys and certificates.
    pub fn build(self) -> Result<TenantCa, CaError> {
        if self.days == 0 || self.days > MAX_CA_DAYS || (self.intermediate && self.days < 2) {
            return Err(CaError::BadValidity {
                days: self.days,
                max: MAX_CA_DAYS,
            });
        }
        let now = self.now.unwrap_or_else(OffsetDateTime::now_utc);
        let not_before = now - CLOCK_SKEW;
        let not_after = now + Duration::days(i64::from(self.days));
        let depth = if self.intermediate { 1 } else { 0 };
        let root_params = ca_params(&self.tenant, "mdmkit root CA", depth, not_before, not_after)?;
        let root_key = self
            .algorithm
            .generate()
            .map_err(backend("generating the root key"))?;
        let root_cert = root_params
            .self_signed(&root_key)
            .map_err(backend("signing the root certificate"))?;
        let root = Authority {
            der: root_cert.der().to_vec(),
            pem: root_cert.pem(),
            issuer: Issuer::new(root_params, root_key),
            not_after,
        };
        let intermediate = if self.intermediate {
            let int_after = not_after - Duration::days(1);
            let mut params =
                ca_params(&self.tenant, "mdmkit issuing CA", 0, not_before, int_after)?;
            params.use_authority_key_identifier_extension = true;
            let key = self
                .algorithm
                .generate()
                .map_err(backend("generating the intermediate key"))?;
            let cert = params
                .signed_by(&key, &root.issuer)
                .map_err(backend("signing the intermediate certificate"))?;
            Some(Authority {
                der: cert.der().to_vec(),
                pem: cert.pem(),
                issuer: Issuer::new(params, key),
                not_after: int_after,
            })
        } else {
            None
        };
        Ok(TenantCa {
            tenant: self.tenant,
            root,
            intermediate,
        })
    }
}

fn ca_params(
    tenant: &TenantId,
    cn: &str,
    path_len: u8,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, tenant.as_str());
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let uri = urn::ca_urn(tenant)
        .try_into()
        .map_err(backend("encoding the tenant URN"))?;
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(Serial::random()?.to_rcgen());
    Ok(params)
}

/// A tenant's certificate authority: the root and, optionally, the
/// intermediate that issues device certificates.
///
/// Every certificate it issues carries the tenant in its device URN, and
/// [`Verifier`](crate::Verifier) refuses a certificate whose URN, issuing CAs
/// or trust anchor name another tenant, so a certificate never crosses
/// tenants even if two tenants' CAs were (wrongly) trusted together.
pub struct TenantCa {
    pub(crate) tenant: TenantId,
    pub(crate) root: Authority,
    pub(crate) intermediate: Option<Authority>,
}

impl std::fmt::Debug for TenantCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantCa")
            .field("tenant", &self.tenant)
            .field("intermediate", &self.intermediate.is_some())
            .finish_non_exhaustive()
    }
}

impl TenantCa {
    /// The tenant this CA serves.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The root certificate, PEM.
    pub fn root_pem(&self) -> &str {
        &self.root.pem
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root.der
    }

    /// The intermediate certificate, PEM, if there is one.
    pub fn intermediate_pem(&self) -> Option<&str> {
        self.intermediate.as_ref().map(|a| a.pem.as_str())
    }

    /// The intermediate certificate, DER, if there is one.
    pub fn intermediate_der(&self) -> Option<&[u8]> {
        self.intermediate.as_ref().map(|a| a.der.as_slice())
    }

    /// The CA that signs device certificates and CRLs: the intermediate if
    /// there is one, else the root.
    pub(crate) fn issuing(&self) -> &Authority {
        self.intermediate.as_ref().unwrap_or(&self.root)
    }

    /// The issuing CA's certificate, DER.
    pub fn issuing_der(&self) -> &[u8] {
        &self.issuing().der
    }

    /// The certificates and keys as PEM, for saving.
    pub fn to_pem(&self) -> CaPem {
        CaPem {
            root_cert: self.root.pem.clone(),
            root_key: self.root.key_pem(),
            intermediate: self
                .intermediate
                .as_ref()
                .map(|a| (a.pem.clone(), a.key_pem())),
        }
    }

    /// Loads a CA saved with [`to_pem`](Self::to_pem), checking that each
    /// key matches its certificate, that both carry the same tenant URN and
    /// that the intermediate is signed by the root.
    pub fn from_pem(pem: &CaPem) -> Result<Self, CaError> {
        let (root, tenant) = load_authority(pem.root_cert.as_bytes(), pem.root_key.as_bytes())?;
        let intermediate = match &pem.intermediate {
            None => None,
            Some((cert, key)) => {
                let (int, int_tenant) = load_authority(cert.as_bytes(), key.as_bytes())?;
                if int_tenant != tenant {
                    return Err(CaError::ChainMismatch {
                        reason: format!(
                            "intermediate is bound to tenant {int_tenant}, root to {tenant}"
                        ),
                    });
                }
                check_signed_by(&int.der, &root.der)?;
                Some(int)
            }
        };
        Ok(Self {
            tenant,
            root,
            intermediate,
        })
    }
}

fn check_signed_by(child: &[u8], parent: &[u8]) -> Result<(), CaError> {
    let mismatch = |reason: String| CaError::ChainMismatch { reason };
    let child = parse_cert(child).map_err(|e| mismatch(e.to_string()))?;
    let parent = parse_cert(parent).map_err(|e| mismatch(e.to_string()))?;
    child
        .verify_signature(Some(parent.public_key()))
        .map_err(|_| mismatch("its signature does not verify with the root's key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_same_ca() {
        let ca = CaBuilder::new(TenantId::new("town-a").unwrap())
            .intermediate(true)
            .build()
            .unwrap();
        let pem = ca.to_pem();
        let back = TenantCa::from_pem(&pem).unwrap();
        assert_eq!(back.tenant().as_str(), "town-a");
        assert_eq!(back.to_pem(), pem);
    }

    #[test]
    fn key_of_another_ca_is_refused() {
        let t = TenantId::new("town-a").unwrap();
        let a = CaBuilder::new(t.clone()).build().unwrap().to_pem();
        let b = CaBuilder::new(t).build().unwrap().to_pem();
        let mixed = CaPem {
            root_cert: a.root_cert,
            root_key: b.root_key,
            intermediate: None,
        };
        assert_eq!(
            TenantCa::from_pem(&mixed).unwrap_err(),
            CaError::KeyMismatch
        );
    }

    #[test]
    fn intermediate_of_another_tenant_is_refused() {
        let a = CaBuilder::new(TenantId::new("town-a").unwrap())
            .build()
            .unwrap();
        let b = CaBuilder::new(TenantId::new("town-b").unwrap())
            .intermediate(true)
            .build()
            .unwrap()
            .to_pem();
        let mut mixed = a.to_pem();
        mixed.intermediate = b.intermediate;
        assert!(matches!(
            TenantCa::from_pem(&mixed),
            Err(CaError::ChainMismatch { .. })
        ));
    }
}

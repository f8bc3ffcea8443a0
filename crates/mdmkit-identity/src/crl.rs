//! Revocation: signed certificate revocation lists.

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::OffsetDateTime;

use crate::ca::{TenantCa, backend};
use crate::error::CaError;
use crate::serial::Serial;

/// Why a certificate was revoked (RFC 5280 CRLReason, the subset that
/// makes sense for device certificates).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RevocationReason {
    /// No reason given (written without a reason code, as RFC 5280 asks).
    #[default]
    Unspecified,
    /// The device key leaked.
    KeyCompromise,
    /// The device moved to another tenant or owner.
    AffiliationChanged,
    /// A renewed certificate replaced it.
    Superseded,
    /// The device was retired or unenrolled.
    CessationOfOperation,
}

impl RevocationReason {
    fn to_rcgen(self) -> Option<rcgen::RevocationReason> {
        match self {
            RevocationReason::Unspecified => None,
            RevocationReason::KeyCompromise => Some(rcgen::RevocationReason::KeyCompromise),
            RevocationReason::AffiliationChanged => {
                Some(rcgen::RevocationReason::AffiliationChanged)
            }
            RevocationReason::Superseded => Some(rcgen::RevocationReason::Superseded),
            RevocationReason::CessationOfOperation => {
                Some(rcgen::RevocationReason::CessationOfOperation)
            }
        }
    }
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revocation {
    /// The certificate's serial.
    pub serial: Serial,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: RevocationReason,
}

impl Revocation {
    /// A revocation of `serial` at `revoked_at`.
    pub fn new(serial: Serial, revoked_at: OffsetDateTime, reason: RevocationReason) -> Self {
        Self {
            serial,
            revoked_at,
            reason,
        }
    }
}

/// A signed CRL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Crl {
    /// DER.
    pub der: Vec<u8>,
    /// PEM (`X509 CRL`).
    pub pem: String,
    /// Its CRL number.
    pub number: u64,
    /// Its thisUpdate.
    pub this_update: OffsetDateTime,
    /// Its nextUpdate.
    pub next_update: OffsetDateTime,
}

impl TenantCa {
    /// Signs a CRL listing `revoked`, with the issuing CA (the one that signs
    /// device certificates, so verifiers find it for the device's issuer).
    pub fn crl(
        &self,
        revoked: &[Revocation],
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Crl, CaError> {
        let issuing = self.issuing();
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: r.serial.to_rcgen(),
                    revocation_time: r.revoked_at,
                    reason_code: r.reason.to_rcgen(),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::PreSpecified(ski_of(&issuing.der)),
        };
        let crl = params
            .signed_by(&issuing.issuer)
            .map_err(backend("signing the CRL"))?;
        Ok(Crl {
            der: crl.der().to_vec(),
            pem: crl.pem().map_err(backend("encoding the CRL"))?,
            number,
            this_update,
            next_update,
        })
    }
}

/// The subjectKeyIdentifier of a CA certificate, so the CRL's AKI matches.
fn ski_of(der: &[u8]) -> Vec<u8> {
    let Ok(cert) = crate::ca::parse_cert(der) else {
        return Vec::new();
    };
    cert.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .unwrap_or_default()
}

//! Issuing device certificates from checked requests.

use mdmkit_core::{DeviceId, TenantId};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    SanType,
};
use time::{Duration, OffsetDateTime};

use crate::ca::{CLOCK_SKEW, TenantCa, backend, rfc3339};
use crate::csr::{CertificateRequest, SubjectAltName};
use crate::error::CaError;
use crate::serial::{Fingerprint, Serial};
use crate::urn::{self, URN_PREFIX};
use crate::verify::DeviceIdentity;

/// Default lifetime of a device certificate, in days.
pub const DEFAULT_DEVICE_DAYS: u32 = 365;
/// Longest accepted device certificate lifetime, in days.
pub const MAX_DEVICE_DAYS: u32 = 3650;

/// What to put in a device certificate besides the request's key.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    device: DeviceId,
    days: u32,
    not_before: Option<OffsetDateTime>,
    ends_after: Option<OffsetDateTime>,
    extra_sans: Vec<SubjectAltName>,
}

impl IssueRequest {
    /// A certificate for `device`, valid [`DEFAULT_DEVICE_DAYS`] days from
    /// now (backdated by [`CLOCK_SKEW`]).
    pub fn new(device: DeviceId) -> Self {
        Self {
            device,
            days: DEFAULT_DEVICE_DAYS,
            not_before: None,
            ends_after: None,
            extra_sans: Vec::new(),
        }
    }

    /// The lifetime in days, counted from the start of validity plus the
    /// clock-skew allowance.
    pub fn days(mut self, days: u32) -> Self {
        self.days = days;
        self
    }

    /// Starts validity at `start` instead of now minus [`CLOCK_SKEW`]
    /// (back-dated fixtures, expired-certificate tests).
    pub fn not_before(mut self, start: OffsetDateTime) -> Self {
        self.not_before = Some(start);
        self
    }

    /// Makes the certificate end strictly after `t` (at X.509's whole
    /// seconds), starting it later if needed: a renewal issued within the
    /// second of the certificate it renews must still end later.
    pub fn ends_after(mut self, t: OffsetDateTime) -> Self {
        self.ends_after = Some(t);
        self
    }

    /// Adds a subjectAltName (DNS, URI, e-mail or IP) that the operator
    /// approved; the device URN is always added. URNs under `urn:mdmkit:`
    /// are reserved and refused.
    pub fn extra_san(mut self, san: SubjectAltName) -> Self {
        self.extra_sans.push(san);
        self
    }

    /// The device the certificate is for.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }
}

/// A freshly issued device certificate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuedCertificate {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The certificate, PEM.
    pub pem: String,
    /// Its serial number.
    pub serial: Serial,
    /// The tenant it is bound to.
    pub tenant: TenantId,
    /// The device it identifies.
    pub device_id: DeviceId,
    /// SHA-256 of the DER.
    pub sha256: Fingerprint,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

fn to_rcgen_san(san: &SubjectAltName) -> Result<SanType, CaError> {
    let bad = |reason: &'static str| CaError::BadSan {
        value: san.to_string(),
        reason,
    };
    let ia5 = |s: &str| -> Result<rcgen::string::Ia5String, CaError> {
        if s.is_empty() || s.len() > 1024 {
            return Err(bad("must be 1 to 1024 characters"));
        }
        s.try_into().map_err(|_| bad("must be printable ASCII"))
    };
    Ok(match san {
        SubjectAltName::Dns(s) => SanType::DnsName(ia5(s)?),
        SubjectAltName::Email(s) => SanType::Rfc822Name(ia5(s)?),
        SubjectAltName::Uri(s) => {
            if s.to_ascii_lowercase().starts_with(URN_PREFIX) {
                return Err(bad("urn:mdmkit: names are reserved for the device binding"));
            }
            SanType::URI(ia5(s)?)
        }
        SubjectAltName::Ip(ip) => SanType::IpAddress(*ip),
        SubjectAltName::Other { .. } => return Err(bad("only dns, uri, email and ip are issued")),
    })
}

impl TenantCa {
    /// Issues a device certificate for the key in `csr`: subject CN = the
    /// device id, the device URN (plus approved extra names) as
    /// subjectAltName, clientAuth EKU, digitalSignature key usage, AKI/SKI,
    /// a random 128-bit serial, signed by the issuing CA.
    pub fn issue(
        &self,
        csr: &CertificateRequest,
        request: &IssueRequest,
    ) -> Result<IssuedCertificate, CaError> {
        if request.days == 0 || request.days > MAX_DEVICE_DAYS {
            return Err(CaError::BadValidity {
                days: request.days,
                max: MAX_DEVICE_DAYS,
            });
        }
        let issuing = self.issuing();
        let not_before = request
            .not_before
            .unwrap_or_else(|| OffsetDateTime::now_utc() - CLOCK_SKEW);
        // X.509 times have whole seconds; report what the certificate says.
        let mut not_before = not_before.replace_nanosecond(0).unwrap_or(not_before);
        let mut not_after = not_before + CLOCK_SKEW + Duration::days(i64::from(request.days));
        if let Some(floor) = request.ends_after
            && not_after.unix_timestamp() <= floor.unix_timestamp()
        {
            let shift = Duration::seconds(floor.unix_timestamp() - not_after.unix_timestamp() + 1);
            not_before += shift;
            not_after += shift;
        }
        if not_after > issuing.not_after {
            return Err(CaError::OutlivesCa {
                not_after: rfc3339(not_after),
                ca_not_after: rfc3339(issuing.not_after),
            });
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, self.tenant.as_str());
        dn.push(DnType::CommonName, request.device.as_str());
        params.distinguished_name = dn;
        let device_uri = urn::device_urn(&self.tenant, &request.device)
            .try_into()
            .map_err(backend("encoding the device URN"))?;
        params.subject_alt_names = vec![SanType::URI(device_uri)];
        for san in &request.extra_sans {
            params.subject_alt_names.push(to_rcgen_san(san)?);
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before;
        params.not_after = not_after;
        let serial = Serial::random()?;
        params.serial_number = Some(serial.to_rcgen());
        let cert = params
            .signed_by(&csr.key, &issuing.issuer)
            .map_err(backend("signing the device certificate"))?;
        let der = cert.der().to_vec();
        Ok(IssuedCertificate {
            sha256: Fingerprint::of(&der),
            pem: cert.pem(),
            der,
            serial,
            tenant: self.tenant.clone(),
            device_id: request.device.clone(),
            not_before,
            not_after,
        })
    }

    /// Renews: issues a new certificate for the same device identity from a
    /// fresh request, valid `days` days. The new certificate starts at
    /// least a second after `current` does, so it always ends later (a
    /// binding that follows only later certificates of an identity, as
    /// mdmkit's server does, moves to it and never back).
    pub fn reissue(
        &self,
        current: &DeviceIdentity,
        csr: &CertificateRequest,
        days: u32,
    ) -> Result<IssuedCertificate, CaError> {
        if current.tenant != self.tenant {
            return Err(CaError::WrongTenant {
                expected: self.tenant.to_string(),
                found: current.tenant.to_string(),
            });
        }
        let start =
            (OffsetDateTime::now_utc() - CLOCK_SKEW).max(current.not_before + Duration::seconds(1));
        self.issue(
            csr,
            &IssueRequest::new(current.device_id.clone())
                .days(days)
                .not_before(start),
        )
    }
}

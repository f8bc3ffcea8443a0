//! Which certificate may speak for which enrollment.
//!
//! The rule, as a pure function of what is stored and what is presented
//! (the certificate has already been verified against the tenant's CA):
//!
//! | message | stored binding | presented certificate | decision |
//! |---|---|---|---|
//! | any | held by *another* enrollment | | refused |
//! | `Authenticate` | none (new device) | | bind |
//! | `Authenticate` | same certificate | | keep (a re-enrollment: the queue is reset) |
//! | any | other certificate of the same certificate identity, expiring later | | re-bind (a renewal: nothing reset) |
//! | `Authenticate` | other certificate, enrollment checked out, or the certificate names this device | | bind (a re-enrollment) |
//! | other | none, or checked out | | refused: authenticate first |
//! | other | other certificate, not a renewal | | refused |
//!
//! "Certificate identity" is the device id in the certificate's
//! `urn:mdmkit:` name, which the tenant CA sets at issuance and keeps on
//! renewal. A renewal must expire later than the bound certificate, so an
//! old certificate cannot take the binding back.

use mdmkit::DeviceId;
use mdmkit::identity::DeviceIdentity;
use mdmkit::inventory::{BoundCertificate, Enrollment, EnrollmentStatus};
use mdmkit::queue::Timestamp;

use crate::error::RequestError;

/// What to do with the binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// The bound certificate spoke: nothing changes.
    Keep,
    /// Bind this certificate to the enrollment (first enrollment or
    /// re-enrollment).
    Bind,
    /// A renewed certificate of the bound identity: re-bind, keep the rest.
    Rebind,
}

/// The binding record for a verified certificate.
pub fn bound(id: &DeviceIdentity) -> BoundCertificate {
    BoundCertificate::new(
        id.sha256.to_hex(),
        id.device_id.clone(),
        id.serial.to_hex(),
        timestamp(id.not_after),
    )
}

fn timestamp(t: time::OffsetDateTime) -> Timestamp {
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    Timestamp::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// Decides for an `Authenticate` of `device`. `holder` is the enrollment
/// the certificate is bound to now, if any.
pub fn on_authenticate(
    device: &DeviceId,
    existing: Option<&Enrollment>,
    holder: Option<&DeviceId>,
    id: &DeviceIdentity,
) -> Result<Decision, RequestError> {
    refuse_foreign_holder(device, holder)?;
    let Some(e) = existing else {
        return Ok(Decision::Bind);
    };
    let Some(b) = &e.certificate else {
        return Ok(Decision::Bind);
    };
    if let Some(d) = against_binding(b, id) {
        return Ok(d);
    }
    if e.status == EnrollmentStatus::CheckedOut || &id.device_id == device {
        return Ok(Decision::Bind);
    }
    Err(RequestError::NotBound {
        device: device.to_string(),
    })
}

/// Decides for any message other than `Authenticate`.
pub fn on_message(
    device: &DeviceId,
    existing: Option<&Enrollment>,
    holder: Option<&DeviceId>,
    id: &DeviceIdentity,
) -> Result<Decision, RequestError> {
    refuse_foreign_holder(device, holder)?;
    let e = existing
        .filter(|e| e.status != EnrollmentStatus::CheckedOut)
        .ok_or_else(|| RequestError::UnknownEnrollment(device.to_string()))?;
    let Some(b) = &e.certificate else {
        return Err(RequestError::NotBound {
            device: device.to_string(),
        });
    };
    against_binding(b, id).ok_or_else(|| RequestError::NotBound {
        device: device.to_string(),
    })
}

fn refuse_foreign_holder(device: &DeviceId, holder: Option<&DeviceId>) -> Result<(), RequestError> {
    match holder {
        Some(h) if h != device => Err(RequestError::CertificateInUse {
            device: device.to_string(),
            holder: h.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The bound certificate itself (keep), or a renewal of it: a certificate
/// of the same identity expiring later (re-bind); `None` otherwise.
fn against_binding(b: &BoundCertificate, id: &DeviceIdentity) -> Option<Decision> {
    if b.sha256 == id.sha256.to_hex() {
        Some(Decision::Keep)
    } else if b.cert_device == id.device_id && timestamp(id.not_after) > b.not_after {
        Some(Decision::Rebind)
    } else {
        None
    }
}

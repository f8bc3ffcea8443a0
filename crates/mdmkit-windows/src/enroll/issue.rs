//! Answering an enrollment request with a certificate from the tenant's CA.
//!
//! This is where MS-MDE2 meets `mdmkit-identity`: the PKCS#10 request a
//! Windows device sends is checked by the identity crate's CSR intake (self
//! signature, key policy), the device certificate is issued by the tenant
//! CA (device URN, clientAuth, validity), and the provisioning document
//! installs that certificate with the tenant's root (and intermediate).

use mdmkit_core::DeviceId;
use mdmkit_identity::{CertificateRequest, IssueRequest, IssuedCertificate, TenantCa};

use super::{ProvisioningDoc, RequestSecurityToken, RequestSecurityTokenResponse};
use crate::error::EnrollmentError;

/// A device enrolled by [`enroll`]: the certificate it was issued and the
/// answer to send it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Enrolled {
    /// The device certificate issued by the tenant CA (keep its serial and
    /// fingerprint to bind the device's later sessions).
    pub certificate: IssuedCertificate,
    /// The provisioning document inside the response.
    pub provisioning: ProvisioningDoc,
    /// The `RequestSecurityTokenResponse` to return to the device.
    pub response: RequestSecurityTokenResponse,
}

/// Issues the device certificate for `request` from `ca` and builds the
/// provisioning document for the management server at `server_url`,
/// registered as `provider_id`.
///
/// `device` is the id the certificate binds; most servers take it from
/// [`RequestSecurityToken::device_id`] once they have authenticated the
/// enrollment. Use [`ProvisioningDoc`]'s builder methods on
/// [`Enrolled::provisioning`] (poll schedule, certificate store) and rebuild
/// the response with [`RequestSecurityTokenResponse::new`] to change them.
pub fn enroll(
    ca: &TenantCa,
    request: &RequestSecurityToken,
    device: DeviceId,
    days: u32,
    provider_id: &str,
    server_url: &str,
) -> Result<Enrolled, EnrollmentError> {
    issue(
        ca,
        request,
        IssueRequest::new(device).days(days),
        provider_id,
        server_url,
    )
}

/// Renews the certificate of an enrolled device: issues a new one for
/// `request` (its PKCS#10, or the PKCS#7 that wraps it), for the same
/// `device`, ending after `current_not_after` (the certificate it replaces,
/// so that a server binding certificates by identity and expiry takes the
/// new one as a renewal), with the provisioning document that installs it.
///
/// Authenticate the renewal first (the request's TLS client certificate is
/// the device's current one, bound to its enrollment); keep the old
/// binding until the device presents the new certificate, so that a PC
/// that never received the answer still reaches the server.
pub fn renew(
    ca: &TenantCa,
    request: &RequestSecurityToken,
    device: DeviceId,
    days: u32,
    current_not_after: mdmkit_identity::time::OffsetDateTime,
    provider_id: &str,
    server_url: &str,
) -> Result<Enrolled, EnrollmentError> {
    issue(
        ca,
        request,
        IssueRequest::new(device)
            .days(days)
            .ends_after(current_not_after),
        provider_id,
        server_url,
    )
}

fn issue(
    ca: &TenantCa,
    request: &RequestSecurityToken,
    issue: IssueRequest,
    provider_id: &str,
    server_url: &str,
) -> Result<Enrolled, EnrollmentError> {
    let csr = CertificateRequest::parse(&request.certificate_request()?)?;
    let certificate = ca.issue(&csr, &issue)?;
    let mut provisioning = ProvisioningDoc::new(
        ca.root_der().to_vec(),
        certificate.der.clone(),
        provider_id,
        server_url,
    )?;
    if let Some(intermediate) = ca.intermediate_der() {
        provisioning = provisioning.with_intermediate(intermediate.to_vec());
    }
    let response = RequestSecurityTokenResponse::new(provisioning.to_xml());
    Ok(Enrolled {
        certificate,
        provisioning,
        response,
    })
}

//! Enrollment through mdmkit-identity: a Windows CSR is checked by the
//! identity crate, the certificate is issued by the tenant CA, and the
//! provisioning document the device receives installs a certificate that
//! verifies as that tenant's device.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mdmkit_core::{DeviceId, TenantId};
use mdmkit_identity::{CaBuilder, KeyAlgorithm, time::OffsetDateTime};
use mdmkit_windows::EnrollmentError;
use mdmkit_windows::enroll::{
    ProvisioningDoc, RequestSecurityToken, RequestSecurityTokenResponse, enroll,
};

const CSR: &[u8] = include_bytes!("../fixtures/enroll-csr.der");
const DM_URL: &str = "https://mdm.example.org/ManagementServer/MDM.svc";

#[test]
fn a_windows_csr_is_issued_by_the_tenant_ca_and_installed_by_the_provisioning_document() {
    let tenant = TenantId::new("town-merville").unwrap();
    let ca = CaBuilder::new(tenant.clone())
        .algorithm(KeyAlgorithm::P256)
        .intermediate(true)
        .build()
        .unwrap();
    let request = RequestSecurityToken::new(CSR.to_vec()).with_context("DeviceID", "PC-0042");
    let device = DeviceId::new(request.device_id().unwrap()).unwrap();

    let enrolled = enroll(&ca, &request, device.clone(), 365, "mdmkit", DM_URL).unwrap();

    // What the device receives, read back from the wire.
    let wire = enrolled.response.to_xml(Some("urn:uuid:0"));
    let response = RequestSecurityTokenResponse::read(wire.as_bytes()).unwrap();
    let doc = ProvisioningDoc::read(response.provisioning_xml.as_bytes()).unwrap();
    assert_eq!(doc.root_ca_der, ca.root_der());
    assert_eq!(doc.intermediate_der.as_deref(), ca.intermediate_der());
    assert_eq!(doc.client_cert_der, enrolled.certificate.der);

    // The installed certificate is this tenant's device, and no other's.
    let identity = ca
        .verifier()
        .verify_der(
            &doc.client_cert_der,
            &[doc.intermediate_der.as_deref().unwrap()],
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert_eq!(identity.tenant, tenant);
    assert_eq!(identity.device_id, device);
}

#[test]
fn a_tampered_windows_csr_is_refused_with_a_typed_error() {
    let ca = CaBuilder::new(TenantId::new("town-estaires").unwrap())
        .build()
        .unwrap();
    let mut csr = CSR.to_vec();
    let last = csr.len() - 1;
    csr[last] ^= 0x01;
    let request = RequestSecurityToken::new(csr);
    let err = enroll(
        &ca,
        &request,
        DeviceId::new("PC-1").unwrap(),
        365,
        "mdmkit",
        DM_URL,
    )
    .unwrap_err();
    assert!(matches!(err, EnrollmentError::Csr(_)), "{err:?}");
}

//! Fuzz target bodies for mdmkit-windows.

use mdmkit_windows::SyncMl;
use mdmkit_windows::enroll::{self, ProvisioningDoc};

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[
    Target {
        name: "windows_syncml",
        body: syncml,
    },
    Target {
        name: "windows_enrollment",
        body: enrollment,
    },
];

/// A SyncML message from a device: rejected with an error, or read, and
/// then written and read back to the same message.
pub fn syncml(data: &[u8]) {
    let _ = mdmkit_windows::artefact::detect(data);
    if let Ok(m) = SyncMl::read(data) {
        let xml = m.to_xml();
        match SyncMl::read(xml.as_bytes()) {
            Ok(back) => assert_eq!(back, m, "re-read differs for {xml}"),
            Err(e) => panic!("written message does not read back: {e}\n{xml}"),
        }
    }
}

/// An enrollment SOAP message (or a provisioning document, or a renewal's
/// PKCS#7 token): rejected with an error, or read; a provisioning document that reads is written
/// and read back to the same document.
pub fn enrollment(data: &[u8]) {
    let _ = enroll::is_soap_envelope(data);
    let _ = enroll::read_message(data);
    if let Ok(rst) = enroll::RequestSecurityToken::read(data) {
        let _ = rst.certificate_request();
    }
    // The same bytes as a renewal's PKCS#7 token (CMS SignedData).
    let mut renewal = enroll::RequestSecurityToken::new(data.to_vec());
    renewal.value_type = enroll::VALUE_TYPE_PKCS7.into();
    let _ = renewal.certificate_request();
    if let Ok(doc) = ProvisioningDoc::read(data) {
        let xml = doc.to_xml();
        match ProvisioningDoc::read(xml.as_bytes()) {
            Ok(back) => assert_eq!(back, doc),
            Err(e) => panic!("written document does not read back: {e}\n{xml}"),
        }
    }
}

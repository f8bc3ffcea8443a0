//! Recognising Windows artefacts by their root element, without reading
//! them: what `mdmkit inspect` uses to pick a decoder.

use serde::Serialize;

/// A kind of Windows artefact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Artefact {
    /// A SyncML message (root `SyncML`).
    SyncMl,
    /// An enrollment SOAP envelope (root `Envelope` in a SOAP namespace).
    Enrollment,
    /// A `wap-provisioningdoc`.
    ProvisioningDoc,
}

/// Which Windows artefact the bytes are, judged by the root element alone
/// (an Apple plist is XML too, but its root is `plist`); `None` for
/// anything else.
pub fn detect(input: &[u8]) -> Option<Artefact> {
    if crate::enroll::is_soap_envelope(input) {
        return Some(Artefact::Enrollment);
    }
    let (name, _) = crate::xml::root_element(input)?;
    match name.as_str() {
        "SyncML" => Some(Artefact::SyncMl),
        "wap-provisioningdoc" => Some(Artefact::ProvisioningDoc),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_goes_by_the_root_element() {
        assert_eq!(
            detect(b"<?xml version=\"1.0\"?>\n<SyncML xmlns=\"SYNCML:SYNCML1.2\"/>"),
            Some(Artefact::SyncMl)
        );
        assert_eq!(
            detect(b"<wap-provisioningdoc/>"),
            Some(Artefact::ProvisioningDoc)
        );
        assert_eq!(
            detect(b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"/>"),
            Some(Artefact::Enrollment)
        );
        assert_eq!(
            detect(b"<?xml version=\"1.0\"?><!DOCTYPE plist><plist/>"),
            None
        );
        assert_eq!(
            detect(b"<!DOCTYPE SyncML [<!ENTITY x \"y\">]><SyncML/>"),
            Some(Artefact::SyncMl)
        );
        assert_eq!(detect(b"<plist version=\"1.0\"><dict/></plist>"), None);
        assert_eq!(detect(b"{\"json\": true}"), None);
        assert_eq!(detect(b""), None);
    }
}

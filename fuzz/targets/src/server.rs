//! Fuzz target bodies for mdmkit-server.

use base64::Engine as _;
use mdmkit_server::identity::parse_client_cert;

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[Target {
    name: "server_client_cert",
    body: client_cert,
}];

/// A `Client-Cert` header value (RFC 9440 byte sequence, or nginx's
/// escaped PEM) is refused with an error or decoded to non-empty DER that
/// reads back the same from its RFC 9440 form.
pub fn client_cert(data: &[u8]) {
    if let Ok(der) = parse_client_cert(data) {
        assert!(!der.is_empty());
        let again = format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        if again.len() <= mdmkit_server::identity::MAX_CLIENT_CERT_HEADER {
            assert_eq!(parse_client_cert(again.as_bytes()).ok(), Some(der));
        }
    }
}

//! The certificate a TLS-terminating proxy forwards in a header.
//!
//! Two forms are read:
//! - RFC 9440 `Client-Cert`: a structured-field byte sequence, the DER
//!   in standard base64 between colons (`:MIIB...:`);
//! - the URL-escaped PEM that nginx puts in `$ssl_client_escaped_cert`
//!   (`-----BEGIN%20CERTIFICATE-----%0AMIIB...`), which many deployments
//!   forward under the same header name.
//!
//! The header is untrusted bytes until the proxy that set it is trusted
//! (see [`crate::ServerConfig::trust_proxy`]); its length is bounded.

use base64::Engine as _;
use mdmkit::identity::pem::{self, PemError};

/// The longest header value read: a certificate of a few KiB, escaped.
pub const MAX_CLIENT_CERT_HEADER: usize = 32 * 1024;

/// Why a `Client-Cert` header value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientCertError {
    /// The value is longer than [`MAX_CLIENT_CERT_HEADER`].
    #[error("value of {len} bytes is longer than {MAX_CLIENT_CERT_HEADER}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The value is neither `:base64:` nor an escaped PEM certificate.
    #[error("neither an RFC 9440 byte sequence nor an escaped PEM certificate")]
    Form,
    /// The base64 between the colons is invalid (at this byte offset of the
    /// value, when known).
    #[error("invalid base64{}", .0.map(|o| format!(" at byte {o}")).unwrap_or_default())]
    Base64(Option<usize>),
    /// A `%` escape is malformed at this byte offset.
    #[error("malformed %-escape at byte {0}")]
    Escape(usize),
    /// The escaped PEM has no CERTIFICATE block, or a broken one.
    #[error("escaped PEM: {0}")]
    Pem(#[source] PemError),
    /// The decoded value is empty.
    #[error("empty certificate")]
    Empty,
}

/// Decodes a `Client-Cert` header value into the certificate's DER.
pub fn parse_client_cert(value: &[u8]) -> Result<Vec<u8>, ClientCertError> {
    if value.len() > MAX_CLIENT_CERT_HEADER {
        return Err(ClientCertError::TooLong { len: value.len() });
    }
    let trimmed = value.trim_ascii();
    let der = if let Some(inner) = trimmed
        .strip_prefix(b":")
        .and_then(|v| v.strip_suffix(b":"))
    {
        base64::engine::general_purpose::STANDARD
            .decode(inner)
            .map_err(|e| {
                ClientCertError::Base64(match e {
                    base64::DecodeError::InvalidByte(o, _)
                    | base64::DecodeError::InvalidLastSymbol { offset: o, .. } => Some(o + 1),
                    _ => None,
                })
            })?
    } else if trimmed.starts_with(b"-----BEGIN") || trimmed.starts_with(b"-----BEGIN%20") {
        let pem_text = percent_decode(trimmed)?;
        pem_certificate(&pem_text)?
    } else {
        return Err(ClientCertError::Form);
    };
    if der.is_empty() {
        return Err(ClientCertError::Empty);
    }
    Ok(der)
}

fn percent_decode(v: &[u8]) -> Result<Vec<u8>, ClientCertError> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        if b == b'%' {
            let hex = v.get(i + 1..i + 3).ok_or(ClientCertError::Escape(i))?;
            let text = std::str::from_utf8(hex).map_err(|_| ClientCertError::Escape(i))?;
            out.push(u8::from_str_radix(text, 16).map_err(|_| ClientCertError::Escape(i))?);
            i += 3;
        } else {
            out.push(if b == b'+' { b' ' } else { b });
            i += 1;
        }
    }
    Ok(out)
}

/// The first CERTIFICATE block, read by the workspace's one PEM decoder.
fn pem_certificate(text: &[u8]) -> Result<Vec<u8>, ClientCertError> {
    pem::decode_one(
        text,
        "CERTIFICATE",
        &pem::Limits::new(MAX_CLIENT_CERT_HEADER, 4),
    )
    .map_err(ClientCertError::Pem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_rfc_9440_byte_sequence_decodes() {
        assert_eq!(parse_client_cert(b":AQID:"), Ok(vec![1, 2, 3]));
        assert_eq!(parse_client_cert(b"  :AQID:  "), Ok(vec![1, 2, 3]));
    }

    #[test]
    fn an_nginx_escaped_pem_decodes() {
        let v = b"-----BEGIN%20CERTIFICATE-----%0AAQID%0A-----END%20CERTIFICATE-----%0A";
        assert_eq!(parse_client_cert(v), Ok(vec![1, 2, 3]));
    }

    #[test]
    fn malformed_values_say_why() {
        assert_eq!(parse_client_cert(b"AQID"), Err(ClientCertError::Form));
        assert_eq!(parse_client_cert(b"::"), Err(ClientCertError::Empty));
        assert!(matches!(
            parse_client_cert(b":A*ID:"),
            Err(ClientCertError::Base64(Some(2)))
        ));
        assert_eq!(
            parse_client_cert(b"-----BEGIN%2"),
            Err(ClientCertError::Escape(10))
        );
        let long = vec![b'A'; MAX_CLIENT_CERT_HEADER + 1];
        assert!(matches!(
            parse_client_cert(&long),
            Err(ClientCertError::TooLong { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_der_round_trips_through_the_byte_sequence_form(der in proptest::collection::vec(any::<u8>(), 1..2048)) {
            let v = format!(":{}:", base64::engine::general_purpose::STANDARD.encode(&der));
            prop_assert_eq!(parse_client_cert(v.as_bytes()), Ok(der));
        }

        #[test]
        fn no_value_panics(v in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_client_cert(&v);
        }
    }
}

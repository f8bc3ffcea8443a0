//! The enrollment service (MS-WSTEP over WS-Trust): the device's
//! `RequestSecurityToken` with its PKCS#10 request and context, and the
//! `RequestSecurityTokenResponseCollection` carrying the provisioning
//! document.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use super::Credentials;
use super::soap::{self, esc, expect_body, missing, read_envelope};
use crate::error::{EnrollmentError, cut};

/// WS-Trust 1.3 namespace.
pub const NS_WSTRUST: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
/// The authorization namespace of `AdditionalContext`.
pub const NS_AUTHORIZATION: &str = "http://schemas.xmlsoap.org/ws/2006/12/authorization";
/// The MS-WSTEP enrollment namespace (`RequestID`, `DispositionMessage`).
pub const NS_ENROLLMENT: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment";
/// Action of `RequestSecurityToken`.
pub const ACTION_RST: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep";
/// Action of the response collection.
pub const ACTION_RSTRC: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep";
/// The token type Windows asks for.
pub const TOKEN_TYPE: &str =
    "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken";
/// The WS-Trust issue request type.
pub const REQUEST_TYPE_ISSUE: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue";
/// The renew request type.
pub const REQUEST_TYPE_RENEW: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/Renew";
/// Value type of a PKCS#10 request.
pub const VALUE_TYPE_PKCS10: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10";
/// Value type of a PKCS#7 renewal request.
pub const VALUE_TYPE_PKCS7: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS7";
/// Value type of the provisioning document token.
pub const VALUE_TYPE_PROVISION_DOC: &str = "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentProvisionDoc";
/// The base64 encoding type.
pub const ENCODING_BASE64: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary";

/// The device's `RequestSecurityToken`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RequestSecurityToken {
    /// WS-Addressing `MessageID`.
    pub message_id: Option<String>,
    /// The credentials in the WS-Security header.
    pub credentials: Credentials,
    /// `TokenType`.
    pub token_type: String,
    /// `RequestType` (issue or renew).
    pub request_type: String,
    /// The `ValueType` of the request token (PKCS#10, or PKCS#7 to renew).
    pub value_type: String,
    /// The DER request, base64-decoded.
    #[serde(serialize_with = "ser_len")]
    pub csr_der: Vec<u8>,
    /// `AdditionalContext` items, in order (names may repeat: `MAC`).
    pub context: Vec<ContextItem>,
}

fn ser_len<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{} bytes of DER", v.len()))
}

/// One `ac:ContextItem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextItem {
    /// `Name`.
    pub name: String,
    /// `ac:Value`.
    pub value: String,
}

impl RequestSecurityToken {
    /// A request for a new certificate (what the test device sends).
    pub fn new(csr_der: Vec<u8>) -> Self {
        Self {
            message_id: None,
            credentials: Credentials::None,
            token_type: TOKEN_TYPE.into(),
            request_type: REQUEST_TYPE_ISSUE.into(),
            value_type: VALUE_TYPE_PKCS10.into(),
            csr_der,
            context: Vec::new(),
        }
    }

    /// Adds a context item.
    pub fn with_context(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.push(ContextItem {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// Sets the credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// The first context value named `name` (case-insensitive).
    pub fn context_value(&self, name: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.value.as_str())
    }

    /// `DeviceID`.
    pub fn device_id(&self) -> Option<&str> {
        self.context_value("DeviceID")
    }

    /// `HWDevID`.
    pub fn hw_dev_id(&self) -> Option<&str> {
        self.context_value("HWDevID")
    }

    /// `EnrollmentType` (`Full`, `Device`).
    pub fn enrollment_type(&self) -> Option<&str> {
        self.context_value("EnrollmentType")
    }

    /// `OSEdition`.
    pub fn os_edition(&self) -> Option<&str> {
        self.context_value("OSEdition")
    }

    /// `DeviceType`.
    pub fn device_type(&self) -> Option<&str> {
        self.context_value("DeviceType")
    }

    /// Whether the device asks to renew rather than enroll.
    pub fn is_renewal(&self) -> bool {
        self.request_type == REQUEST_TYPE_RENEW || self.value_type == VALUE_TYPE_PKCS7
    }

    /// The PKCS#10 request the token carries: as sent, or taken out of the
    /// PKCS#7 (CMS `SignedData`) a renewing PC wraps it in.
    ///
    /// The PKCS#7's signature (by the PC's current certificate) is not
    /// checked here: a server authenticates a renewal by the TLS client
    /// certificate of the request, which is that same certificate.
    pub fn certificate_request(&self) -> Result<std::borrow::Cow<'_, [u8]>, EnrollmentError> {
        if self.value_type != VALUE_TYPE_PKCS7 {
            return Ok(std::borrow::Cow::Borrowed(&self.csr_der));
        }
        encapsulated(&self.csr_der)
            .map(std::borrow::Cow::Owned)
            .ok_or_else(|| EnrollmentError::BadValue {
                path: "Body/RequestSecurityToken/BinarySecurityToken".into(),
                value: format!("{} bytes", self.csr_der.len()),
                reason: "a PKCS#7 renewal request must be a CMS SignedData holding the PKCS#10 request",
            })
    }

    /// Reads a `RequestSecurityToken` envelope.
    pub fn read(input: &[u8]) -> Result<Self, EnrollmentError> {
        let env = read_envelope(input)?;
        expect_body(&env, "RequestSecurityToken")?;
        let b = &env.body;
        let base = "Body/RequestSecurityToken";
        let token = b
            .child("BinarySecurityToken")
            .ok_or_else(|| missing(&format!("{base}/BinarySecurityToken")))?;
        let value_type = token
            .attr("ValueType")
            .unwrap_or(VALUE_TYPE_PKCS10)
            .to_owned();
        if value_type != VALUE_TYPE_PKCS10 && value_type != VALUE_TYPE_PKCS7 {
            return Err(EnrollmentError::BadValue {
                path: format!("{base}/BinarySecurityToken/@ValueType"),
                value: cut(&value_type),
                reason: "expected the PKCS#10 or PKCS#7 value type",
            });
        }
        let csr_der = decode_b64(&token.text, &format!("{base}/BinarySecurityToken"))?;
        if csr_der.is_empty() {
            return Err(missing(&format!("{base}/BinarySecurityToken (empty)")));
        }
        let mut context = Vec::new();
        if let Some(ac) = b.child("AdditionalContext") {
            for item in ac.children_named("ContextItem") {
                let name = item.attr("Name").ok_or_else(|| {
                    missing(&format!("{base}/AdditionalContext/ContextItem/@Name"))
                })?;
                let value = item.text_at(&["Value"]).unwrap_or("");
                context.push(ContextItem {
                    name: name.to_owned(),
                    value: value.to_owned(),
                });
            }
        }
        Ok(Self {
            message_id: env.message_id(),
            credentials: Credentials::from_header(&env.header)?,
            token_type: b.text_at(&["TokenType"]).unwrap_or(TOKEN_TYPE).to_owned(),
            request_type: b
                .text_at(&["RequestType"])
                .unwrap_or(REQUEST_TYPE_ISSUE)
                .to_owned(),
            value_type,
            csr_der,
            context,
        })
    }

    /// The request envelope (what the test device sends).
    pub fn to_xml(&self, message_id: &str, to: &str) -> String {
        let mut body = format!(
            "<wst:RequestSecurityToken><wst:TokenType>{}</wst:TokenType><wst:RequestType>{}</wst:RequestType>\
             <wsse:BinarySecurityToken ValueType=\"{}\" EncodingType=\"{ENCODING_BASE64}\">{}</wsse:BinarySecurityToken>\
             <ac:AdditionalContext xmlns=\"{NS_AUTHORIZATION}\">",
            esc(&self.token_type),
            esc(&self.request_type),
            esc(&self.value_type),
            STANDARD.encode(&self.csr_der)
        );
        for c in &self.context {
            body.push_str(&format!(
                "<ac:ContextItem Name=\"{}\"><ac:Value>{}</ac:Value></ac:ContextItem>",
                esc(&c.name),
                esc(&c.value)
            ));
        }
        body.push_str("</ac:AdditionalContext></wst:RequestSecurityToken>");
        soap::request_envelope(
            ACTION_RST,
            message_id,
            to,
            &self.credentials.to_header(),
            &body,
        )
    }
}

/// The server's answer: the provisioning document, base64 in a
/// `BinarySecurityToken`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RequestSecurityTokenResponse {
    /// The `wap-provisioningdoc` XML.
    pub provisioning_xml: String,
    /// `RequestID` (`0` for an issued certificate).
    pub request_id: String,
}

impl RequestSecurityTokenResponse {
    /// A response carrying a provisioning document (see
    /// [`super::ProvisioningDoc::to_xml`]).
    pub fn new(provisioning_xml: impl Into<String>) -> Self {
        Self {
            provisioning_xml: provisioning_xml.into(),
            request_id: "0".into(),
        }
    }

    /// The response envelope, answering `relates_to`. The HTTP response
    /// must not use chunked transfer encoding: send it with a
    /// `Content-Length`.
    pub fn to_xml(&self, relates_to: Option<&str>) -> String {
        let body = format!(
            "<RequestSecurityTokenResponseCollection xmlns=\"{NS_WSTRUST}\"><RequestSecurityTokenResponse>\
             <TokenType>{TOKEN_TYPE}</TokenType><DispositionMessage xmlns=\"{NS_ENROLLMENT}\"/>\
             <RequestedSecurityToken><BinarySecurityToken ValueType=\"{VALUE_TYPE_PROVISION_DOC}\" \
             EncodingType=\"{ENCODING_BASE64}\" xmlns=\"{}\">{}</BinarySecurityToken></RequestedSecurityToken>\
             <RequestID xmlns=\"{NS_ENROLLMENT}\">{}</RequestID></RequestSecurityTokenResponse>\
             </RequestSecurityTokenResponseCollection>",
            soap::NS_WSSE,
            STANDARD.encode(self.provisioning_xml.as_bytes()),
            esc(&self.request_id)
        );
        soap::envelope(ACTION_RSTRC, relates_to, "", &body)
    }

    /// Reads a response envelope and decodes its provisioning document.
    pub fn read(input: &[u8]) -> Result<Self, EnrollmentError> {
        let env = read_envelope(input)?;
        expect_body(&env, "RequestSecurityTokenResponseCollection")?;
        let base = "Body/RequestSecurityTokenResponseCollection/RequestSecurityTokenResponse";
        let r = env
            .body
            .child("RequestSecurityTokenResponse")
            .ok_or_else(|| missing(base))?;
        let token = r
            .path(&["RequestedSecurityToken", "BinarySecurityToken"])
            .ok_or_else(|| {
                missing(&format!(
                    "{base}/RequestedSecurityToken/BinarySecurityToken"
                ))
            })?;
        let path = format!("{base}/RequestedSecurityToken/BinarySecurityToken");
        let bytes = decode_b64(&token.text, &path)?;
        let provisioning_xml = String::from_utf8(bytes).map_err(|_| EnrollmentError::BadValue {
            path,
            value: String::new(),
            reason: "the provisioning document is not utf-8",
        })?;
        Ok(Self {
            provisioning_xml,
            request_id: r.text_at(&["RequestID"]).unwrap_or("").to_owned(),
        })
    }
}

/// Decodes base64 that may be wrapped over lines.
pub(crate) fn decode_b64(text: &str, path: &str) -> Result<Vec<u8>, EnrollmentError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| EnrollmentError::BadBase64 {
            path: path.to_owned(),
        })
}

/// The content a CMS `SignedData` (DER or BER) encapsulates, if any.
fn encapsulated(der_bytes: &[u8]) -> Option<Vec<u8>> {
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    use der::asn1::OctetString;
    use der::{Decode, Encode};
    let ci = ContentInfo::from_der(der_bytes)
        .or_else(|_| ContentInfo::from_ber(der_bytes))
        .ok()?;
    // id-signedData (RFC 5652).
    const ID_SIGNED_DATA: der::oid::ObjectIdentifier =
        der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
    if ci.content_type != ID_SIGNED_DATA {
        return None;
    }
    let inner = ci.content.to_der().ok()?;
    let sd = SignedData::from_der(&inner)
        .or_else(|_| SignedData::from_ber(&inner))
        .ok()?;
    let content = sd.encap_content_info.econtent?;
    Some(
        content
            .decode_as::<OctetString>()
            .ok()?
            .into_bytes()
            .into_vec(),
    )
}

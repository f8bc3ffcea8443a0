//! MS-MDE2 enrollment messages: how a Windows device finds the server,
//! learns the certificate policy, sends its certificate request and
//! receives its provisioning document.
//!
//! | step | device sends | server answers |
//! |---|---|---|
//! | discovery | [`DiscoverRequest`] | [`DiscoverResponse`] |
//! | policy (MS-XCEP) | [`GetPoliciesRequest`] | [`GetPoliciesResponse`] |
//! | enrollment (MS-WSTEP) | [`RequestSecurityToken`] (PKCS#10, context) | [`RequestSecurityTokenResponse`] with a [`ProvisioningDoc`] |
//! | any step, declined | | [`EnrollmentFault`] |
//!
//! [`enroll`] answers a [`RequestSecurityToken`] with a certificate issued
//! by the tenant's CA from `mdmkit-identity`. The lower-level pieces take
//! certificates as DER bytes: the request's CSR comes out of
//! [`RequestSecurityToken::csr_der`], and the issued certificate and the CA
//! go into [`ProvisioningDoc::new`]. HTTP responses of these services must carry a
//! `Content-Length` (Windows refuses chunked encoding).

use serde::{Serialize, Serializer};

mod discovery;
mod fault;
mod issue;
mod policy;
mod provisioning;
mod soap;
mod wstep;

pub use discovery::{
    ACTION_DISCOVER, ACTION_DISCOVER_RESPONSE, DiscoverRequest, DiscoverResponse, NS_DISCOVERY,
};
pub use fault::{EnrollmentFault, FaultType};
pub use issue::{Enrolled, enroll, renew};
pub use policy::{
    ACTION_GET_POLICIES, ACTION_GET_POLICIES_RESPONSE, GetPoliciesRequest, GetPoliciesResponse,
    NS_POLICY,
};
pub use provisioning::{CertStore, PollSchedule, ProvisioningDoc, thumbprint};
pub use soap::{NS_ADDRESSING, NS_SOAP12, NS_WSSE, NS_WSU};
pub use wstep::{
    ACTION_RST, ACTION_RSTRC, ContextItem, ENCODING_BASE64, NS_AUTHORIZATION, NS_ENROLLMENT,
    NS_WSTRUST, REQUEST_TYPE_ISSUE, REQUEST_TYPE_RENEW, RequestSecurityToken,
    RequestSecurityTokenResponse, TOKEN_TYPE, VALUE_TYPE_PKCS7, VALUE_TYPE_PKCS10,
    VALUE_TYPE_PROVISION_DOC,
};

use crate::error::EnrollmentError;

/// The content type of the enrollment SOAP services.
pub const CONTENT_TYPE: &str = "application/soap+xml; charset=utf-8";

/// An enrollment protocol version (`RequestVersion`, `EnrollmentVersion`),
/// compared numerically so that a newer Windows (9.0) is never refused by
/// an exact-match list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion {
    /// Major number.
    pub major: u16,
    /// Minor number.
    pub minor: u16,
}

impl ProtocolVersion {
    /// A version.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// Reads `4.0`, `9.0`, `5` (minor 0); `None` when not a version.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (major, minor) = match s.split_once('.') {
            Some((a, b)) => (a, b),
            None => (s, "0"),
        };
        let num = |t: &str| {
            if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                t.parse::<u16>().ok()
            }
        };
        Some(Self::new(num(major)?, num(minor)?))
    }

    /// Whether this is at least `major.minor`.
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self >= Self::new(major, minor)
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for ProtocolVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How the device authenticates to the enrollment services.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthPolicy {
    /// User name and password in a WS-Security `UsernameToken`.
    OnPremise,
    /// A token from a web sign-in page (`AuthenticationServiceUrl`).
    Federated,
    /// A client certificate.
    Certificate,
    /// Any other policy, kept as sent.
    Other(String),
}

impl AuthPolicy {
    /// Reads a policy name.
    pub fn parse(s: &str) -> Self {
        match s.trim() {
            x if x.eq_ignore_ascii_case("OnPremise") => Self::OnPremise,
            x if x.eq_ignore_ascii_case("Federated") => Self::Federated,
            x if x.eq_ignore_ascii_case("Certificate") => Self::Certificate,
            x => Self::Other(x.to_owned()),
        }
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::OnPremise => "OnPremise",
            Self::Federated => "Federated",
            Self::Certificate => "Certificate",
            Self::Other(s) => s,
        }
    }
}

impl Serialize for AuthPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The credentials in a request's WS-Security header. Secrets are never
/// serialised (inspect output shows only what kind they are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Credentials {
    /// No security header.
    None,
    /// `wsse:UsernameToken` (OnPremise).
    UsernameToken {
        /// `Username`.
        username: String,
        /// `Password`.
        #[serde(skip)]
        password: String,
    },
    /// `wsse:BinarySecurityToken` (Federated; or a certificate to renew).
    BinarySecurityToken {
        /// `ValueType`.
        value_type: String,
        /// The token text as sent (base64).
        #[serde(skip)]
        token: String,
    },
}

impl Credentials {
    fn from_header(header: &soap::Node) -> Result<Self, EnrollmentError> {
        let Some(sec) = header.child("Security") else {
            return Ok(Self::None);
        };
        if let Some(u) = sec.child("UsernameToken") {
            return Ok(Self::UsernameToken {
                username: u
                    .text_at(&["Username"])
                    .ok_or_else(|| soap::missing("Header/Security/UsernameToken/Username"))?
                    .to_owned(),
                password: u.text_at(&["Password"]).unwrap_or("").to_owned(),
            });
        }
        if let Some(t) = sec.child("BinarySecurityToken") {
            return Ok(Self::BinarySecurityToken {
                value_type: t.attr("ValueType").unwrap_or("").to_owned(),
                token: t.trimmed().to_owned(),
            });
        }
        Ok(Self::None)
    }

    fn to_header(&self) -> String {
        match self {
            Self::None => String::new(),
            Self::UsernameToken { username, password } => format!(
                "<wsse:Security s:mustUnderstand=\"1\"><wsse:UsernameToken u:Id=\"uuid-1\">\
                 <wsse:Username>{}</wsse:Username><wsse:Password wsse:Type=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText\">{}</wsse:Password>\
                 </wsse:UsernameToken></wsse:Security>",
                soap::esc(username),
                soap::esc(password)
            ),
            Self::BinarySecurityToken { value_type, token } => format!(
                "<wsse:Security s:mustUnderstand=\"1\"><wsse:BinarySecurityToken ValueType=\"{}\" EncodingType=\"{ENCODING_BASE64}\">{}</wsse:BinarySecurityToken></wsse:Security>",
                soap::esc(value_type),
                soap::esc(token)
            ),
        }
    }
}

/// Any enrollment message, as `mdmkit inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "message", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EnrollmentMessage {
    /// A discovery request.
    DiscoverRequest(DiscoverRequest),
    /// A discovery response.
    DiscoverResponse(DiscoverResponse),
    /// A policy request.
    GetPoliciesRequest(GetPoliciesRequest),
    /// A policy response.
    GetPoliciesResponse(GetPoliciesResponse),
    /// A certificate request.
    RequestSecurityToken(RequestSecurityToken),
    /// A certificate response, with its provisioning document decoded.
    RequestSecurityTokenResponse {
        /// The response.
        response: RequestSecurityTokenResponse,
        /// The decoded document, when it reads.
        provisioning: Option<ProvisioningDoc>,
    },
    /// A fault.
    Fault(EnrollmentFault),
}

/// Whether the bytes are a SOAP envelope (the root element is `Envelope`
/// in the SOAP 1.1 or 1.2 namespace), without reading further.
pub fn is_soap_envelope(input: &[u8]) -> bool {
    crate::xml::root_element(input).is_some_and(|(name, ns)| {
        name.eq_ignore_ascii_case("Envelope")
            && ns
                .is_some_and(|n| n == NS_SOAP12 || n == "http://schemas.xmlsoap.org/soap/envelope/")
    })
}

/// Reads any enrollment message, choosing the reader by the body's first
/// element.
pub fn read_message(input: &[u8]) -> Result<EnrollmentMessage, EnrollmentError> {
    let env = soap::read_envelope(input)?;
    Ok(match env.body.name.as_str() {
        "Discover" => EnrollmentMessage::DiscoverRequest(DiscoverRequest::read(input)?),
        "DiscoverResponse" => EnrollmentMessage::DiscoverResponse(DiscoverResponse::read(input)?),
        "GetPolicies" => EnrollmentMessage::GetPoliciesRequest(GetPoliciesRequest::read(input)?),
        "GetPoliciesResponse" => {
            EnrollmentMessage::GetPoliciesResponse(GetPoliciesResponse::read(input)?)
        }
        "RequestSecurityToken" => {
            EnrollmentMessage::RequestSecurityToken(RequestSecurityToken::read(input)?)
        }
        "RequestSecurityTokenResponseCollection" => {
            let response = RequestSecurityTokenResponse::read(input)?;
            let provisioning = ProvisioningDoc::read(response.provisioning_xml.as_bytes()).ok();
            EnrollmentMessage::RequestSecurityTokenResponse {
                response,
                provisioning,
            }
        }
        n if n.eq_ignore_ascii_case("Fault") => {
            EnrollmentMessage::Fault(EnrollmentFault::from_node(&env.body))
        }
        other => {
            return Err(EnrollmentError::WrongMessage {
                found: crate::error::cut(other),
                expected: "an enrollment message",
            });
        }
    })
}

//! SOAP faults with the error types MS-MDE2 documents: how an enrollment
//! server declines a request so that the device shows the right message.

use serde::{Serialize, Serializer};

use super::soap::{self, esc, read_envelope};
use super::wstep::NS_ENROLLMENT;
use crate::error::{EnrollmentError, cut};

/// The documented enrollment error types.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultType {
    /// The message format is bad (`0x80180001`).
    MessageFormat,
    /// The user is not recognised (`0x80180002`).
    Authentication,
    /// The user may not enroll (`0x80180003`).
    Authorization,
    /// The certificate could not be issued (`0x80180004`).
    CertificateRequest,
    /// A generic server failure (`0x80180005`).
    EnrollmentServer,
    /// An unhandled server exception (`0x80180006`, `a:` namespace).
    InternalServiceFault,
    /// The account could not be validated (`0x80180007`, `a:` namespace).
    InvalidSecurity,
    /// Too many devices for this user (`0x80180013`).
    DeviceCapReached,
    /// This platform or version is not supported (`0x80180014`).
    DeviceNotSupported,
    /// MDM is not supported for this device (`0x80180015`).
    NotSupported,
    /// A renewal the server refuses (`0x80180016`).
    NotEligibleToRenew,
    /// The server is in maintenance (`0x80180017`).
    InMaintenance,
    /// A licence problem (`0x80180018`).
    UserLicense,
    /// The enrollment data was rejected (`0x80180019`).
    InvalidEnrollmentData,
    /// Any other type, kept as sent.
    Other(String),
}

impl FaultType {
    const ALL: [FaultType; 14] = [
        Self::MessageFormat,
        Self::Authentication,
        Self::Authorization,
        Self::CertificateRequest,
        Self::EnrollmentServer,
        Self::InternalServiceFault,
        Self::InvalidSecurity,
        Self::DeviceCapReached,
        Self::DeviceNotSupported,
        Self::NotSupported,
        Self::NotEligibleToRenew,
        Self::InMaintenance,
        Self::UserLicense,
        Self::InvalidEnrollmentData,
    ];

    /// The type's name as written in the fault.
    pub fn as_str(&self) -> &str {
        match self {
            Self::MessageFormat => "MessageFormat",
            Self::Authentication => "Authentication",
            Self::Authorization => "Authorization",
            Self::CertificateRequest => "CertificateRequest",
            Self::EnrollmentServer => "EnrollmentServer",
            Self::InternalServiceFault => "InternalServiceFault",
            Self::InvalidSecurity => "InvalidSecurity",
            Self::DeviceCapReached => "DeviceCapReached",
            Self::DeviceNotSupported => "DeviceNotSupported",
            Self::NotSupported => "NotSupported",
            Self::NotEligibleToRenew => "NotEligibleToRenew",
            Self::InMaintenance => "InMaintenance",
            Self::UserLicense => "UserLicense",
            Self::InvalidEnrollmentData => "InvalidEnrollmentData",
            Self::Other(s) => s,
        }
    }

    /// Reads a type name (case-insensitive: Microsoft's samples are
    /// lower-case).
    pub fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .unwrap_or_else(|| Self::Other(s.to_owned()))
    }

    /// The HRESULT the device reports for it.
    pub fn hresult(&self) -> Option<u32> {
        Some(match self {
            Self::MessageFormat => 0x8018_0001,
            Self::Authentication => 0x8018_0002,
            Self::Authorization => 0x8018_0003,
            Self::CertificateRequest => 0x8018_0004,
            Self::EnrollmentServer => 0x8018_0005,
            Self::InternalServiceFault => 0x8018_0006,
            Self::InvalidSecurity => 0x8018_0007,
            Self::DeviceCapReached => 0x8018_0013,
            Self::DeviceNotSupported => 0x8018_0014,
            Self::NotSupported => 0x8018_0015,
            Self::NotEligibleToRenew => 0x8018_0016,
            Self::InMaintenance => 0x8018_0017,
            Self::UserLicense => 0x8018_0018,
            Self::InvalidEnrollmentData => 0x8018_0019,
            Self::Other(_) => return None,
        })
    }

    /// Whether the type is a SOAP subcode (the first seven) rather than a
    /// `DeviceEnrollmentServiceError` detail.
    fn is_subcode(&self) -> bool {
        matches!(
            self,
            Self::MessageFormat
                | Self::Authentication
                | Self::Authorization
                | Self::CertificateRequest
                | Self::EnrollmentServer
                | Self::InternalServiceFault
                | Self::InvalidSecurity
        )
    }
}

impl Serialize for FaultType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An enrollment SOAP fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EnrollmentFault {
    /// The error type.
    pub fault_type: FaultType,
    /// The human-readable reason.
    pub reason: String,
    /// A trace id the server logs (shown to support staff).
    pub trace_id: Option<String>,
}

impl EnrollmentFault {
    /// A fault.
    pub fn new(fault_type: FaultType, reason: impl Into<String>) -> Self {
        Self {
            fault_type,
            reason: reason.into(),
            trace_id: None,
        }
    }

    /// Sets the trace id.
    pub fn with_trace_id(mut self, id: impl Into<String>) -> Self {
        self.trace_id = Some(id.into());
        self
    }

    /// The fault envelope answering a request of the given response
    /// `action` (for example [`super::ACTION_RSTRC`]).
    pub fn to_xml(&self, action: &str, relates_to: Option<&str>) -> String {
        let (prefix, sub) = if self.fault_type.is_subcode() {
            let p = match self.fault_type {
                FaultType::InternalServiceFault | FaultType::InvalidSecurity => "a",
                _ => "s",
            };
            (p, self.fault_type.as_str().to_owned())
        } else {
            ("s", "Authorization".to_owned())
        };
        let mut body = format!(
            "<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>{prefix}:{}</s:Value></s:Subcode></s:Code>\
             <s:Reason><s:Text xml:lang=\"en-US\">{}</s:Text></s:Reason>",
            esc(&sub),
            esc(&self.reason)
        );
        if !self.fault_type.is_subcode() || self.trace_id.is_some() {
            body.push_str(&format!(
                "<s:Detail><DeviceEnrollmentServiceError xmlns=\"{NS_ENROLLMENT}\"><ErrorType>{}</ErrorType>\
                 <Message>{}</Message><TraceId>{}</TraceId></DeviceEnrollmentServiceError></s:Detail>",
                esc(self.fault_type.as_str()),
                esc(&self.reason),
                esc(self.trace_id.as_deref().unwrap_or(""))
            ));
        }
        body.push_str("</s:Fault>");
        soap::envelope(action, relates_to, "", &body)
    }

    /// Reads a fault envelope.
    pub fn read(input: &[u8]) -> Result<Self, EnrollmentError> {
        let env = read_envelope(input)?;
        if !env.body.name.eq_ignore_ascii_case("Fault") {
            return Err(EnrollmentError::WrongMessage {
                found: cut(&env.body.name),
                expected: "Fault",
            });
        }
        Ok(Self::from_node(&env.body))
    }

    pub(crate) fn from_node(f: &super::soap::Node) -> Self {
        let find = |n: &super::soap::Node, name: &str| {
            n.children
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
                .cloned()
        };
        let sub = find(f, "Code")
            .and_then(|c| find(&c, "Subcode"))
            .and_then(|s| find(&s, "Value"))
            .map(|v| v.trimmed().rsplit(':').next().unwrap_or("").to_owned());
        let detail = find(f, "Detail").and_then(|d| find(&d, "DeviceEnrollmentServiceError"));
        let detail_type = detail
            .as_ref()
            .and_then(|d| find(d, "ErrorType"))
            .map(|e| e.trimmed().to_owned());
        let reason = find(f, "Reason")
            .and_then(|r| find(&r, "Text"))
            .map(|t| t.trimmed().to_owned())
            .unwrap_or_default();
        let trace_id = detail
            .as_ref()
            .and_then(|d| find(d, "TraceId"))
            .map(|t| t.trimmed().to_owned())
            .filter(|t| !t.is_empty());
        Self {
            fault_type: FaultType::parse(
                detail_type
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .or(sub.as_deref())
                    .unwrap_or(""),
            ),
            reason,
            trace_id,
        }
    }
}

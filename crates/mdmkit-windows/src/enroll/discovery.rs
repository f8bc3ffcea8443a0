//! Discovery (`IDiscoveryService/Discover`): where the device finds the
//! policy and enrollment services.

use serde::Serialize;

use super::soap::{self, esc, expect_body, missing, read_envelope};
use super::{AuthPolicy, ProtocolVersion};
use crate::error::{EnrollmentError, cut};

/// Namespace of the discovery messages.
pub const NS_DISCOVERY: &str = "http://schemas.microsoft.com/windows/management/2012/01/enrollment";
/// Action of the discovery request.
pub const ACTION_DISCOVER: &str =
    "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/Discover";
/// Action of the discovery response.
pub const ACTION_DISCOVER_RESPONSE: &str = "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/DiscoverResponse";

/// The device's discovery request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DiscoverRequest {
    /// WS-Addressing `MessageID`, echoed as `RelatesTo`.
    pub message_id: Option<String>,
    /// `EmailAddress` (the user's UPN).
    pub email: Option<String>,
    /// `RequestVersion`: any well-formed version is accepted (Windows 11
    /// 25H2 sends 9.0).
    pub request_version: Option<ProtocolVersion>,
    /// `DeviceType` (`CIMClient_Windows`).
    pub device_type: Option<String>,
    /// `ApplicationVersion` (the OS build).
    pub application_version: Option<String>,
    /// `OSEdition` (a SKU number).
    pub os_edition: Option<String>,
    /// `AuthPolicies` the device supports.
    pub auth_policies: Vec<AuthPolicy>,
}

impl DiscoverRequest {
    /// A request as a device writes it.
    pub fn new(email: impl Into<String>, request_version: ProtocolVersion) -> Self {
        Self {
            message_id: None,
            email: Some(email.into()),
            request_version: Some(request_version),
            device_type: Some("CIMClient_Windows".into()),
            application_version: Some("10.0.26100.1".into()),
            os_edition: Some("72".into()),
            auth_policies: vec![AuthPolicy::OnPremise, AuthPolicy::Federated],
        }
    }

    /// Reads a discovery request envelope.
    pub fn read(input: &[u8]) -> Result<Self, EnrollmentError> {
        let env = read_envelope(input)?;
        expect_body(&env, "Discover")?;
        let req = env
            .body
            .child("request")
            .ok_or_else(|| missing("Body/Discover/request"))?;
        let text = |n: &str| {
            req.text_at(&[n])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let request_version = match req.text_at(&["RequestVersion"]) {
            Some(v) if !v.is_empty() => {
                Some(
                    ProtocolVersion::parse(v).ok_or_else(|| EnrollmentError::BadValue {
                        path: "Body/Discover/request/RequestVersion".into(),
                        value: cut(v),
                        reason: "not a version number",
                    })?,
                )
            }
            _ => None,
        };
        let auth_policies = req
            .child("AuthPolicies")
            .map(|a| {
                a.children_named("AuthPolicy")
                    .map(|p| AuthPolicy::parse(p.trimmed()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            message_id: env.message_id(),
            email: text("EmailAddress"),
            request_version,
            device_type: text("DeviceType"),
            application_version: text("ApplicationVersion"),
            os_edition: text("OSEdition"),
            auth_policies,
        })
    }

    /// The request envelope (what the test device sends).
    pub fn to_xml(&self, to: &str) -> String {
        let mut body = format!(
            "<Discover xmlns=\"{NS_DISCOVERY}\"><request xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">"
        );
        let mut leaf = |n: &str, v: Option<&str>| {
            if let Some(v) = v {
                body.push_str(&format!("<{n}>{}</{n}>", esc(v)));
            }
        };
        leaf("EmailAddress", self.email.as_deref());
        leaf(
            "RequestVersion",
            self.request_version.map(|v| v.to_string()).as_deref(),
        );
        leaf("DeviceType", self.device_type.as_deref());
        leaf("ApplicationVersion", self.application_version.as_deref());
        leaf("OSEdition", self.os_edition.as_deref());
        body.push_str("<AuthPolicies>");
        for p in &self.auth_policies {
            body.push_str(&format!("<AuthPolicy>{}</AuthPolicy>", esc(p.as_str())));
        }
        body.push_str("</AuthPolicies></request></Discover>");
        soap::request_envelope(
            ACTION_DISCOVER,
            self.message_id
                .as_deref()
                .unwrap_or("urn:uuid:00000000-0000-0000-0000-000000000001"),
            to,
            "",
            &body,
        )
    }
}

/// The server's discovery response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DiscoverResponse {
    /// `AuthPolicy`.
    pub auth_policy: AuthPolicy,
    /// `EnrollmentVersion`.
    pub enrollment_version: ProtocolVersion,
    /// `EnrollmentPolicyServiceUrl` (XCEP).
    pub policy_service_url: String,
    /// `EnrollmentServiceUrl` (WS-Trust).
    pub enrollment_service_url: String,
    /// `AuthenticationServiceUrl` (the federated sign-in page).
    pub authentication_service_url: Option<String>,
}

impl DiscoverResponse {
    /// A response. Both service URLs must be `https` and share a host
    /// name (Windows requires it); a federated policy needs an
    /// authentication URL, set with
    /// [`DiscoverResponse::with_authentication_service_url`].
    pub fn new(
        auth_policy: AuthPolicy,
        enrollment_version: ProtocolVersion,
        policy_service_url: impl Into<String>,
        enrollment_service_url: impl Into<String>,
    ) -> Result<Self, EnrollmentError> {
        let r = Self {
            auth_policy,
            enrollment_version,
            policy_service_url: policy_service_url.into(),
            enrollment_service_url: enrollment_service_url.into(),
            authentication_service_url: None,
        };
        r.check_hosts()?;
        Ok(r)
    }

    /// Sets the federated sign-in page (must be `https`).
    pub fn with_authentication_service_url(
        mut self,
        url: impl Into<String>,
    ) -> Result<Self, EnrollmentError> {
        let url = url.into();
        https_host("AuthenticationServiceUrl", &url)?;
        self.authentication_service_url = Some(url);
        Ok(self)
    }

    /// The version to answer a request with: the request's, capped at 5.0
    /// (the newest message set this crate writes); a request without a
    /// version gets 1.0. Newer requests (9.0) are accepted, never refused.
    pub fn negotiate(requested: Option<ProtocolVersion>) -> ProtocolVersion {
        let max = ProtocolVersion::new(5, 0);
        match requested {
            Some(v) if v > max => max,
            Some(v) => v,
            None => ProtocolVersion::new(1, 0),
        }
    }

    fn check_hosts(&self) -> Result<(), EnrollmentError> {
        let policy = https_host("EnrollmentPolicyServiceUrl", &self.policy_service_url)?;
        let enrollment = https_host("EnrollmentServiceUrl", &self.enrollment_service_url)?;
        if !policy.eq_ignore_ascii_case(&enrollment) {
            return Err(EnrollmentError::HostMismatch { policy, enrollment });
        }
        Ok(())
    }

    /// The response envelope, answering the request `relates_to`.
    pub fn to_xml(&self, relates_to: Option<&str>) -> String {
        let mut body = format!(
            "<DiscoverResponse xmlns=\"{NS_DISCOVERY}\"><DiscoverResult><AuthPolicy>{}</AuthPolicy>\
             <EnrollmentVersion>{}</EnrollmentVersion>\
             <EnrollmentPolicyServiceUrl>{}</EnrollmentPolicyServiceUrl>\
             <EnrollmentServiceUrl>{}</EnrollmentServiceUrl>",
            esc(self.auth_policy.as_str()),
            self.enrollment_version,
            esc(&self.policy_service_url),
            esc(&self.enrollment_service_url)
        );
        if let Some(a) = &self.authentication_service_url {
            body.push_str(&format!(
                "<AuthenticationServiceUrl>{}</AuthenticationServiceUrl>",
                esc(a)
            ));
        }
        body.push_str("</DiscoverResult></DiscoverResponse>");
        soap::envelope(ACTION_DISCOVER_RESPONSE, relates_to, "", &body)
    }

    /// Reads a discovery response envelope.
    pub fn read(input: &[u8]) -> Result<Self, EnrollmentError> {
        let env = read_envelope(input)?;
        expect_body(&env, "DiscoverResponse")?;
        let r = env
            .body
            .child("DiscoverResult")
            .ok_or_else(|| missing("Body/DiscoverResponse/DiscoverResult"))?;
        let req = |n: &str| {
            r.text_at(&[n])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| missing(&format!("Body/DiscoverResponse/DiscoverResult/{n}")))
        };
        let version = req("EnrollmentVersion")?;
        let resp = Self {
            auth_policy: AuthPolicy::parse(&req("AuthPolicy")?),
            enrollment_version: ProtocolVersion::parse(&version).ok_or_else(|| {
                EnrollmentError::BadValue {
                    path: "Body/DiscoverResponse/DiscoverResult/EnrollmentVersion".into(),
                    value: cut(&version),
                    reason: "not a version number",
                }
            })?,
            policy_service_url: req("EnrollmentPolicyServiceUrl")?,
            enrollment_service_url: req("EnrollmentServiceUrl")?,
            authentication_service_url: r
                .text_at(&["AuthenticationServiceUrl"])
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        };
        resp.check_hosts()?;
        Ok(resp)
    }
}

/// The host of an `https` URL, lower-cased, without user info or port.
pub(crate) fn https_host(what: &str, url: &str) -> Result<String, EnrollmentError> {
    let bad = |reason| EnrollmentError::BadValue {
        path: what.to_owned(),
        value: cut(url),
        reason,
    };
    let rest = url
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
        .ok_or_else(|| bad("not an https url"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(bad("the url has no host"));
    }
    Ok(host.to_ascii_lowercase())
}

//! The HTTP requests an integrator sends to Google, as plain data: method,
//! URL and JSON body. mdmkit never opens a connection; send these with the
//! HTTP client and OAuth token source of your choice (see
//! `docs/android.md`).

use std::time::Duration;

use crate::Error;
use crate::command::DeviceCommand;
use crate::enrollment::EnrollmentTokenRequest;
use crate::model::Policy;
use crate::names::{DeviceName, EnrollmentTokenName, EnterpriseName, OperationName, PolicyName};

/// Where AMAPI is served.
pub const BASE_URL: &str = "https://androidmanagement.googleapis.com/";

/// The OAuth 2.0 scope every AMAPI call needs.
pub const OAUTH_SCOPE: &str = "https://www.googleapis.com/auth/androidmanagement";

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One request to send, with `Authorization: Bearer <token>` for
/// [`OAUTH_SCOPE`] and `Content-Type: application/json` when it has a body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiRequest {
    /// The method.
    pub method: Method,
    /// The full URL, query included.
    pub url: String,
    /// The JSON body, if any.
    pub body: Option<Vec<u8>>,
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn url(path: &str, query: &[(&str, String)]) -> String {
    let mut u = format!("{BASE_URL}v1/{path}");
    for (i, (k, v)) in query.iter().enumerate() {
        u.push(if i == 0 { '?' } else { '&' });
        u.push_str(k);
        u.push('=');
        u.push_str(&encode(v));
    }
    u
}

/// `devices.issueCommand`: answers with an `Operation`
/// ([`crate::operation::CommandOutcome::parse`]).
pub fn issue_command(
    device: &DeviceName,
    command: &DeviceCommand,
    expires_after: Option<Duration>,
) -> Result<ApiRequest, Error> {
    Ok(ApiRequest {
        method: Method::Post,
        url: url(&format!("{device}:issueCommand"), &[]),
        body: Some(command.to_json(expires_after)?),
    })
}

/// `devices.get`: answers with a `Device` ([`crate::parse::device`]).
pub fn get_device(device: &DeviceName) -> ApiRequest {
    ApiRequest {
        method: Method::Get,
        url: url(device.as_str(), &[]),
        body: None,
    }
}

/// `devices.list`, one page: answers with a `ListDevicesResponse`.
pub fn list_devices(
    enterprise: &EnterpriseName,
    page_size: Option<u32>,
    page_token: Option<&str>,
) -> ApiRequest {
    let mut q = Vec::new();
    if let Some(n) = page_size {
        q.push(("pageSize", n.to_string()));
    }
    if let Some(t) = page_token {
        q.push(("pageToken", t.to_owned()));
    }
    ApiRequest {
        method: Method::Get,
        url: url(&format!("{enterprise}/devices"), &q),
        body: None,
    }
}

/// `operations.get`: answers with an `Operation`.
pub fn get_operation(operation: &OperationName) -> ApiRequest {
    ApiRequest {
        method: Method::Get,
        url: url(operation.as_str(), &[]),
        body: None,
    }
}

/// `enrollmentTokens.create`: answers with the `EnrollmentToken` (its
/// `value` goes into the QR code).
pub fn create_enrollment_token(
    enterprise: &EnterpriseName,
    request: &EnrollmentTokenRequest,
) -> Result<ApiRequest, Error> {
    Ok(ApiRequest {
        method: Method::Post,
        url: url(&format!("{enterprise}/enrollmentTokens"), &[]),
        body: Some(request.to_json()?),
    })
}

/// `devices.patch`: changes the fields of `update_mask` (`policyName` to
/// point the device at another policy). Answers with the `Device`.
pub fn patch_device(
    device: &DeviceName,
    body: &crate::model::Device,
    update_mask: &[&str],
) -> Result<ApiRequest, Error> {
    let fields = crate::schema::fields("Device").unwrap_or_default();
    if let Some(bad) = update_mask.iter().find(|f| !fields.contains(f)) {
        return Err(Error::InvalidRequest {
            what: "device update mask",
            why: format!("{bad:?} is not a Device field"),
        });
    }
    Ok(ApiRequest {
        method: Method::Patch,
        url: url(device.as_str(), &[("updateMask", update_mask.join(","))]),
        body: Some(crate::parse::to_vec(body)?),
    })
}

/// `policies.get`: answers with the `Policy` ([`crate::parse::policy`]).
pub fn get_policy(policy: &PolicyName) -> ApiRequest {
    ApiRequest {
        method: Method::Get,
        url: url(policy.as_str(), &[]),
        body: None,
    }
}

/// `enrollmentTokens.delete`: answers with an empty object.
pub fn delete_enrollment_token(token: &EnrollmentTokenName) -> ApiRequest {
    ApiRequest {
        method: Method::Delete,
        url: url(token.as_str(), &[]),
        body: None,
    }
}

/// `policies.patch`: creates or replaces the policy, or with an
/// `update_mask` (top-level field names such as `cameraAccess`) changes only
/// those fields. Answers with the `Policy`, whose `version` is the one
/// devices must reach ([`crate::state::DesiredPolicy`]).
pub fn patch_policy(
    policy: &PolicyName,
    body: &Policy,
    update_mask: Option<&[&str]>,
) -> Result<ApiRequest, Error> {
    let mut q = Vec::new();
    if let Some(mask) = update_mask {
        let fields = crate::schema::fields("Policy").unwrap_or_default();
        if let Some(bad) = mask.iter().find(|f| !fields.contains(f)) {
            return Err(Error::InvalidRequest {
                what: "policy update mask",
                why: format!("{bad:?} is not a Policy field"),
            });
        }
        q.push(("updateMask", mask.join(",")));
    }
    Ok(ApiRequest {
        method: Method::Patch,
        url: url(policy.as_str(), &q),
        body: Some(crate::parse::to_vec(body)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_googles_paths() {
        let d = DeviceName::parse("enterprises/LC01/devices/abc").unwrap();
        let r = issue_command(&d, &DeviceCommand::reboot(), None).unwrap();
        assert_eq!(r.method, Method::Post);
        assert_eq!(
            r.url,
            "https://androidmanagement.googleapis.com/v1/enterprises/LC01/devices/abc:issueCommand"
        );
        assert_eq!(r.body.unwrap(), br#"{"type":"REBOOT"}"#);
        let e = EnterpriseName::parse("enterprises/LC01").unwrap();
        assert_eq!(
            list_devices(&e, Some(100), Some("a b/c=")).url,
            "https://androidmanagement.googleapis.com/v1/enterprises/LC01/devices?pageSize=100&pageToken=a%20b%2Fc%3D"
        );
    }

    #[test]
    fn patch_masks_only_name_policy_fields() {
        let p = PolicyName::parse("enterprises/LC01/policies/pupils").unwrap();
        let r = patch_policy(
            &p,
            &Policy::default(),
            Some(&["cameraAccess", "applications"]),
        )
        .unwrap();
        assert!(
            r.url
                .ends_with("pupils?updateMask=cameraAccess%2Capplications"),
            "{}",
            r.url
        );
        assert!(patch_policy(&p, &Policy::default(), Some(&["camera"])).is_err());
    }
}

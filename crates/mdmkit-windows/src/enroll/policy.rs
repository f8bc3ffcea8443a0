//! The certificate enrollment policy service (MS-XCEP `GetPolicies`): the
//! key length, hash algorithm and validity the device's CSR must follow.

use serde::Serialize;

use super::Credentials;
use super::soap::{self, esc, expect_body, missing, read_envelope};
use crate::error::{EnrollmentError, cut};

/// Namespace of the XCEP messages.
pub const NS_POLICY: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy";
/// Action of `GetPolicies`.
pub const ACTION_GET_POLICIES: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies";
/// Action of the `GetPolicies` response.
pub const ACTION_GET_POLICIES_RESPONSE: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPoliciesResponse";

/// The device's `GetPolicies` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GetPoliciesRequest {
    /// WS-Addressing `MessageID`.
    pub message_id: Option<String>,
    /// The credentials in the WS-Security header.
    pub credentials: Credentials,
}

impl GetPoliciesRequest {
    /// Reads a `GetPolicies` envelope.
    pub fn read(input: &[u8]) -> Result<Self, EnrollmentError> {
        let env = read_envelope(input)?;
        expect_body(&env, "GetPolicies")?;
        Ok(Self {
            message_id: env.message_id(),
            credentials: Credentials::from_header(&env.header)?,
        })
    }

    /// The request envelope (what the test device sends).
    pub fn to_xml(message_id: &str, to: &str, credentials: &Credentials) -> String {
        let body = format!(
            "<GetPolicies xmlns=\"{NS_POLICY}\"><client>\
             <lastUpdate xsi:nil=\"true\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>\
             <preferredLanguage xsi:nil=\"true\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>\
             </client><requestFilter xsi:nil=\"true\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/></GetPolicies>"
        );
        soap::request_envelope(
            ACTION_GET_POLICIES,
            message_id,
            to,
            &credentials.to_header(),
            &body,
        )
    }
}

/// The policy the server answers: what the device's key and CSR must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GetPoliciesResponse {
    /// The template's common name.
    pub common_name: String,
    /// `minimalKeyLength` in bits (default 2048).
    pub min_key_length: u32,
    /// `validityPeriodSeconds` of the issued certificate.
    pub validity_seconds: u64,
    /// `renewalPeriodSeconds`.
    pub renewal_seconds: u64,
    /// The hash algorithm OID (default SHA-256, `2.16.840.1.101.3.4.2.1`).
    pub hash_algorithm_oid: String,
}

impl Default for GetPoliciesResponse {
    fn default() -> Self {
        Self {
            common_name: "mdmkit-device".into(),
            min_key_length: 2048,
            validity_seconds: 365 * 24 * 3600,
            renewal_seconds: 42 * 24 * 3600,
            hash_algorithm_oid: "2.16.840.1.101.3.4.2.1".into(),
        }
    }
}

const NIL: &str = " xsi:nil=\"true\"";

impl GetPoliciesResponse {
    /// The response envelope, answering `relates_to`.
    pub fn to_xml(&self, relates_to: Option<&str>) -> String {
        let body = format!(
            "<GetPoliciesResponse xmlns=\"{NS_POLICY}\"><response><policyID/>\
             <policyFriendlyName{NIL}/><nextUpdateHours{NIL}/><policiesNotChanged{NIL}/>\
             <policies><policy><policyOIDReference>0</policyOIDReference><cAs{NIL}/><attributes>\
             <commonName>{cn}</commonName><policySchema>3</policySchema>\
             <certificateValidity><validityPeriodSeconds>{validity}</validityPeriodSeconds>\
             <renewalPeriodSeconds>{renewal}</renewalPeriodSeconds></certificateValidity>\
             <permission><enroll>true</enroll><autoEnroll>false</autoEnroll></permission>\
             <privateKeyAttributes><minimalKeyLength>{keylen}</minimalKeyLength><keySpec{NIL}/>\
             <keyUsageProperty{NIL}/><permissions{NIL}/><algorithmOIDReference{NIL}/>\
             <cryptoProviders{NIL}/></privateKeyAttributes>\
             <revision><majorRevision>101</majorRevision><minorRevision>0</minorRevision></revision>\
             <supersededPolicies{NIL}/><privateKeyFlags{NIL}/><subjectNameFlags{NIL}/>\
             <enrollmentFlags{NIL}/><generalFlags{NIL}/>\
             <hashAlgorithmOIDReference>0</hashAlgorithmOIDReference><rARequirements{NIL}/>\
             <keyArchivalAttributes{NIL}/><extensions{NIL}/></attributes></policy></policies>\
             </response><cAs{NIL}/><oIDs><oID><value>{oid}</value><group>1</group>\
             <oIDReferenceID>0</oIDReferenceID><defaultName>{oid_name}</defaultName></oID></oIDs>\
             </GetPoliciesResponse>",
            cn = esc(&self.common_name),
            validity = self.validity_seconds,
            renewal = self.renewal_seconds,
            keylen = self.min_key_length,
            oid = esc(&self.hash_algorithm_oid),
            oid_name = oid_name(&self.hash_algorithm_oid),
        );
        soap::envelope(
            ACTION_GET_POLICIES_RESPONSE,
            relates_to,
            " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
            &body,
        )
    }

    /// Reads a `GetPoliciesResponse` envelope (the first policy).
    pub fn read(input: &[u8]) -> Result<Self, EnrollmentError> {
        let env = read_envelope(input)?;
        expect_body(&env, "GetPoliciesResponse")?;
        let base = "Body/GetPoliciesResponse/response/policies/policy/attributes";
        let attrs = env
            .body
            .path(&["response", "policies", "policy", "attributes"])
            .ok_or_else(|| missing(base))?;
        let num = |path: &[&str]| -> Result<u64, EnrollmentError> {
            let full = format!("{base}/{}", path.join("/"));
            let v = attrs.text_at(path).ok_or_else(|| missing(&full))?;
            v.parse::<u64>().map_err(|_| EnrollmentError::BadValue {
                path: full,
                value: cut(v),
                reason: "not a number",
            })
        };
        let min_key_length = num(&["privateKeyAttributes", "minimalKeyLength"])?;
        let oid_ref = attrs.text_at(&["hashAlgorithmOIDReference"]);
        let hash_algorithm_oid = env
            .body
            .child("oIDs")
            .and_then(|o| {
                o.children_named("oID")
                    .find(|x| x.text_at(&["oIDReferenceID"]) == oid_ref)
            })
            .and_then(|x| x.text_at(&["value"]))
            .unwrap_or("2.16.840.1.101.3.4.2.1")
            .to_owned();
        Ok(Self {
            common_name: attrs.text_at(&["commonName"]).unwrap_or("").to_owned(),
            min_key_length: u32::try_from(min_key_length).map_err(|_| {
                EnrollmentError::BadValue {
                    path: format!("{base}/privateKeyAttributes/minimalKeyLength"),
                    value: min_key_length.to_string(),
                    reason: "out of range",
                }
            })?,
            validity_seconds: num(&["certificateValidity", "validityPeriodSeconds"])?,
            renewal_seconds: num(&["certificateValidity", "renewalPeriodSeconds"])?,
            hash_algorithm_oid,
        })
    }
}

fn oid_name(oid: &str) -> &'static str {
    match oid {
        "2.16.840.1.101.3.4.2.1" => "szOID_NIST_sha256",
        "2.16.840.1.101.3.4.2.2" => "szOID_NIST_sha384",
        "2.16.840.1.101.3.4.2.3" => "szOID_NIST_sha512",
        "1.3.14.3.2.26" => "szOID_OIWSEC_sha1",
        "1.3.14.3.2.29" => "szOID_OIWSEC_sha1RSASign",
        _ => "",
    }
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! MS-MDE2 enrollment messages, checked with the openssl binary, and the
//! full exchange with the simulated device: enroll, first session, server
//! commands, results.

use std::path::Path;
use std::process::Command as Process;

use mdmkit_windows::device::TestDevice;
use mdmkit_windows::enroll::{
    self, AuthPolicy, CertStore, Credentials, DiscoverRequest, DiscoverResponse, EnrollmentFault,
    EnrollmentMessage, FaultType, GetPoliciesRequest, GetPoliciesResponse, PollSchedule,
    ProtocolVersion, ProvisioningDoc, RequestSecurityToken, RequestSecurityTokenResponse,
};
use mdmkit_windows::session::{QueuedCommand, ServerSession, SessionConfig};
use mdmkit_windows::syncml::{Command, Format, Item, ItemCommand, Meta, SyncMl};
use mdmkit_windows::{EnrollmentError, ReadErrorKind, StatusCode};

const DISCOVER: &str = include_str!("../fixtures/enroll-discover.xml");
const RST: &str = include_str!("../fixtures/enroll-rst.xml");
const FAULT: &str = include_str!("../fixtures/enroll-fault.xml");
const CSR: &[u8] = include_bytes!("../fixtures/enroll-csr.der");

const POLICY_URL: &str = "https://enroll.example.org/EnrollmentServer/Policy.svc";
const ENROLL_URL: &str = "https://enroll.example.org/EnrollmentServer/Enrollment.svc";
const DM_URL: &str = "https://mdm.example.org/ManagementServer/MDM.svc";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Process::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a device key pair, made by openssl.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        openssl(
            p,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "30",
                "-subj",
                "/CN=mdmkit test root",
            ],
        );
        openssl(
            p,
            &["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"],
        );
        openssl(
            p,
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "dev.key",
                "-subj",
                "/CN=dev-1",
                "-outform",
                "DER",
                "-out",
                "dev.csr",
            ],
        );
        Self { dir }
    }

    fn csr(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("dev.csr")).unwrap()
    }

    fn ca(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("ca.der")).unwrap()
    }

    /// Signs a CSR (DER) as the issuing CA would.
    fn sign(&self, csr_der: &[u8]) -> Vec<u8> {
        let p = self.dir.path();
        std::fs::write(p.join("in.csr"), csr_der).unwrap();
        openssl(
            p,
            &[
                "req", "-inform", "DER", "-in", "in.csr", "-verify", "-noout",
            ],
        );
        openssl(
            p,
            &[
                "x509",
                "-req",
                "-inform",
                "DER",
                "-in",
                "in.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "7",
                "-outform",
                "DER",
                "-out",
                "dev.der",
            ],
        );
        std::fs::read(p.join("dev.der")).unwrap()
    }

    fn check_cert(&self, der: &[u8]) {
        let p = self.dir.path();
        std::fs::write(p.join("check.der"), der).unwrap();
        openssl(p, &["x509", "-inform", "DER", "-in", "check.der", "-noout"]);
    }
}

#[test]
fn a_discovery_request_with_request_version_9_is_accepted_not_matched() {
    let r = DiscoverRequest::read(DISCOVER.as_bytes()).unwrap();
    assert_eq!(r.request_version, Some(ProtocolVersion::new(9, 0)));
    assert_eq!(r.email.as_deref(), Some("teacher@school.example.org"));
    assert_eq!(
        r.auth_policies,
        [AuthPolicy::OnPremise, AuthPolicy::Federated]
    );
    assert_eq!(
        r.message_id.as_deref(),
        Some("urn:uuid:2a7d5c4e-91b3-4f0e-8f6a-0c1d2e3f4a5b")
    );
    assert!(r.request_version.unwrap().at_least(4, 0));
    assert_eq!(
        DiscoverResponse::negotiate(r.request_version),
        ProtocolVersion::new(5, 0)
    );
    assert_eq!(
        DiscoverResponse::negotiate(Some(ProtocolVersion::new(4, 0))),
        ProtocolVersion::new(4, 0)
    );
    let bad = DISCOVER.replace("<RequestVersion>9.0", "<RequestVersion>nine");
    assert!(matches!(
        DiscoverRequest::read(bad.as_bytes()),
        Err(EnrollmentError::BadValue { .. })
    ));
}

#[test]
fn both_services_must_share_a_host_name_and_use_https() {
    let ok = DiscoverResponse::new(
        AuthPolicy::OnPremise,
        ProtocolVersion::new(4, 0),
        POLICY_URL,
        ENROLL_URL,
    )
    .unwrap();
    let back = DiscoverResponse::read(ok.to_xml(Some("urn:uuid:x")).as_bytes()).unwrap();
    assert_eq!(back, ok);
    let e = DiscoverResponse::new(
        AuthPolicy::OnPremise,
        ProtocolVersion::new(4, 0),
        "https://a.example/p",
        "https://b.example/e",
    )
    .unwrap_err();
    assert_eq!(
        e,
        EnrollmentError::HostMismatch {
            policy: "a.example".into(),
            enrollment: "b.example".into()
        }
    );
    // Case and port do not make a different host.
    assert!(
        DiscoverResponse::new(
            AuthPolicy::OnPremise,
            ProtocolVersion::new(4, 0),
            "https://A.example:443/p",
            "https://a.example/e"
        )
        .is_ok()
    );
    assert!(
        DiscoverResponse::new(
            AuthPolicy::OnPremise,
            ProtocolVersion::new(4, 0),
            "http://a.example/p",
            "http://a.example/e"
        )
        .is_err()
    );
    let fed = DiscoverResponse::new(
        AuthPolicy::Federated,
        ProtocolVersion::new(5, 0),
        POLICY_URL,
        ENROLL_URL,
    )
    .unwrap()
    .with_authentication_service_url("https://login.example.org/wab")
    .unwrap();
    let xml = fed.to_xml(None);
    assert!(xml.contains(
        "<AuthenticationServiceUrl>https://login.example.org/wab</AuthenticationServiceUrl>"
    ));
    assert!(xml.contains(enroll::ACTION_DISCOVER_RESPONSE));
}

#[test]
fn a_request_security_token_yields_its_csr_der_and_context() {
    let r = RequestSecurityToken::read(RST.as_bytes()).unwrap();
    assert_eq!(r.csr_der, CSR);
    assert_eq!(r.device_id(), Some("7BA748C8703E4DF2A74A92984117346A"));
    assert_eq!(r.hw_dev_id(), Some("F2E7C1B0A9D84E3F0A1B2C3D4E5F6071"));
    assert_eq!(r.enrollment_type(), Some("Full"));
    assert_eq!(r.os_edition(), Some("48"));
    assert_eq!(r.device_type(), Some("CIMClient_Windows"));
    assert_eq!(r.context.iter().filter(|c| c.name == "MAC").count(), 2);
    assert_eq!(r.token_type, enroll::TOKEN_TYPE);
    assert!(!r.is_renewal());
    match &r.credentials {
        Credentials::UsernameToken { username, password } => {
            assert_eq!(username, "teacher@school.example.org");
            assert_eq!(password, "secret&1");
        }
        other => panic!("{other:?}"),
    }
    // Secrets never reach the JSON shown by inspect.
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("secret"), "{json}");
    // The CSR is a real PKCS#10 request.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csr"), &r.csr_der).unwrap();
    openssl(
        dir.path(),
        &["req", "-inform", "DER", "-in", "r.csr", "-verify", "-noout"],
    );
}

#[test]
fn broken_enrollment_requests_get_typed_errors() {
    let bad = RST.replace("MIIC", "M!IC");
    assert!(matches!(
        RequestSecurityToken::read(bad.as_bytes()),
        Err(EnrollmentError::BadBase64 { .. })
    ));
    let wrong = RST.replace("#PKCS10", "#X509");
    assert!(matches!(
        RequestSecurityToken::read(wrong.as_bytes()),
        Err(EnrollmentError::BadValue { .. })
    ));
    let e = RequestSecurityToken::read(DISCOVER.as_bytes()).unwrap_err();
    assert!(matches!(
        e,
        EnrollmentError::WrongMessage {
            expected: "RequestSecurityToken",
            ..
        }
    ));
    let dtd = format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{RST}");
    let e = RequestSecurityToken::read(dtd.as_bytes()).unwrap_err();
    assert!(
        matches!(e, EnrollmentError::Read(ref r) if r.kind == ReadErrorKind::DocType),
        "{e:?}"
    );
    let no_token = RST.replace("wsse:BinarySecurityToken", "wsse:Other");
    assert!(matches!(
        RequestSecurityToken::read(no_token.as_bytes()),
        Err(EnrollmentError::Missing { .. })
    ));
}

#[test]
fn the_policy_response_round_trips_and_the_request_carries_credentials() {
    let creds = Credentials::UsernameToken {
        username: "u@example.org".into(),
        password: "p<w>".into(),
    };
    let xml = GetPoliciesRequest::to_xml("urn:uuid:1", POLICY_URL, &creds);
    let r = GetPoliciesRequest::read(xml.as_bytes()).unwrap();
    assert_eq!(r.credentials, creds);
    let resp = GetPoliciesResponse::default();
    let xml = resp.to_xml(Some("urn:uuid:1"));
    assert!(xml.contains("<minimalKeyLength>2048</minimalKeyLength>"));
    assert_eq!(GetPoliciesResponse::read(xml.as_bytes()).unwrap(), resp);
}

#[test]
fn every_documented_fault_type_round_trips() {
    for t in [
        FaultType::MessageFormat,
        FaultType::Authentication,
        FaultType::Authorization,
        FaultType::CertificateRequest,
        FaultType::EnrollmentServer,
        FaultType::InternalServiceFault,
        FaultType::InvalidSecurity,
        FaultType::DeviceCapReached,
        FaultType::DeviceNotSupported,
        FaultType::NotSupported,
        FaultType::NotEligibleToRenew,
        FaultType::InMaintenance,
        FaultType::UserLicense,
        FaultType::InvalidEnrollmentData,
    ] {
        let f = EnrollmentFault::new(t.clone(), "no & <never>").with_trace_id("t-1");
        let xml = f.to_xml(enroll::ACTION_RSTRC, Some("urn:uuid:1"));
        assert_eq!(EnrollmentFault::read(xml.as_bytes()).unwrap(), f, "{xml}");
        assert!(t.hresult().unwrap() >> 16 == 0x8018);
    }
    let f =
        EnrollmentFault::new(FaultType::InvalidSecurity, "x").to_xml(enroll::ACTION_RSTRC, None);
    assert!(f.contains("<s:Value>a:InvalidSecurity</s:Value>"));
    // Microsoft's lower-case sample with a detail element.
    let f = EnrollmentFault::read(FAULT.as_bytes()).unwrap();
    assert_eq!(f.fault_type, FaultType::DeviceCapReached);
    assert_eq!(f.reason, "device cap reached");
    assert_eq!(
        f.trace_id.as_deref(),
        Some("5e0b7a3c-1d2f-4e6a-8b9c-0d1e2f3a4b5c")
    );
    assert!(matches!(
        enroll::read_message(FAULT.as_bytes()).unwrap(),
        EnrollmentMessage::Fault(_)
    ));
}

#[test]
fn the_provisioning_document_carries_the_certificates_and_the_dm_client() {
    let pki = Pki::new();
    let cert = pki.sign(&pki.csr());
    let doc = ProvisioningDoc::new(pki.ca(), cert.clone(), "MDMKIT", DM_URL)
        .unwrap()
        .with_client_store(CertStore::System)
        .with_client_subject_cn("dev-1")
        .with_upn("teacher@school.example.org")
        .with_poll(PollSchedule::default());
    let xml = doc.to_xml();
    let root = enroll::thumbprint(&pki.ca());
    assert_eq!(root.len(), 40);
    assert!(xml.contains(&format!("<characteristic type=\"Root\"><characteristic type=\"System\"><characteristic type=\"{root}\">")));
    assert!(xml.contains("<characteristic type=\"My\"><characteristic type=\"System\">"));
    assert!(xml.contains("<parm name=\"APPID\" value=\"w7\"/>"));
    assert!(xml.contains(
        "<parm name=\"ADDR\" value=\"https://mdm.example.org/ManagementServer/MDM.svc\"/>"
    ));
    assert!(xml.contains("<characteristic type=\"DMClient\"><characteristic type=\"Provider\"><characteristic type=\"MDMKIT\">"));
    assert!(xml.contains("Subject=CN%3Ddev-1&amp;Stores=My%5CSystem"));
    let back = ProvisioningDoc::read(xml.as_bytes()).unwrap();
    assert_eq!(back, doc);
    pki.check_cert(&back.client_cert_der);
    pki.check_cert(&back.root_ca_der);
    // Two roots are refused.
    let two = xml.replacen("<characteristic type=\"CertificateStore\">", "<characteristic type=\"CertificateStore\"><characteristic type=\"Root\"><characteristic type=\"System\"><characteristic type=\"X\"><parm name=\"EncodedCertificate\" value=\"QUJD\"/></characteristic></characteristic></characteristic></characteristic><characteristic type=\"CertificateStore\">", 1);
    assert!(matches!(
        ProvisioningDoc::read(two.as_bytes()),
        Err(EnrollmentError::Provisioning { .. })
    ));
    assert!(ProvisioningDoc::new(pki.ca(), cert, "bad id", DM_URL).is_err());
}

/// The whole story: a device enrolls, opens its first session, receives
/// a policy and a query, applies them and reports back.
#[test]
fn a_device_enrolls_then_runs_its_first_session_end_to_end() {
    let pki = Pki::new();
    let mut device = TestDevice::new("7BA748C8703E4DF2A74A92984117346A");

    // 1. Discovery: Windows 25H2 sends RequestVersion 9.0.
    let req_xml = device.discovery_request(
        "teacher@school.example.org",
        ProtocolVersion::new(9, 0),
        "https://enterpriseenrollment.example.org/EnrollmentServer/Discovery.svc",
    );
    let EnrollmentMessage::DiscoverRequest(req) = enroll::read_message(req_xml.as_bytes()).unwrap()
    else {
        panic!()
    };
    let version = DiscoverResponse::negotiate(req.request_version);
    let resp =
        DiscoverResponse::new(AuthPolicy::OnPremise, version, POLICY_URL, ENROLL_URL).unwrap();
    let resp_xml = resp.to_xml(req.message_id.as_deref());
    assert!(
        resp_xml
            .contains("<a:RelatesTo>urn:uuid:7f1c9a2e-0000-4000-8000-000000000001</a:RelatesTo>")
    );

    // 2. Enrollment: the server takes the CSR out, the CA signs it.
    let (_, rst_xml) = device
        .enrollment_request(resp_xml.as_bytes(), pki.csr())
        .unwrap();
    let rst = RequestSecurityToken::read(rst_xml.as_bytes()).unwrap();
    assert_eq!(rst.device_id(), Some(device.device_id()));
    let cert = pki.sign(&rst.csr_der);
    let doc = ProvisioningDoc::new(pki.ca(), cert, "MDMKIT", DM_URL)
        .unwrap()
        .with_client_subject_cn("dev-1");
    let rstr = RequestSecurityTokenResponse::new(doc.to_xml()).to_xml(rst.message_id.as_deref());
    let EnrollmentMessage::RequestSecurityTokenResponse {
        provisioning: Some(seen),
        ..
    } = enroll::read_message(rstr.as_bytes()).unwrap()
    else {
        panic!()
    };
    assert_eq!(seen, doc);
    let installed = device.accept_enrollment(rstr.as_bytes()).unwrap();
    assert_eq!(installed.server_url, DM_URL);

    // 3. The first session: SessionID 0, the policy and a query queued.
    let queue = vec![
        QueuedCommand::new(
            "camera",
            Command::Replace(ItemCommand::new(
                "0",
                Item::target("./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera")
                    .with_meta(Meta::format(Format::Int))
                    .with_data("0"),
            )),
        ),
        QueuedCommand::new(
            "wifi",
            Command::Add(ItemCommand::new(
                "0",
                Item::target("./Vendor/MSFT/WiFi/Profile/School/WlanXml")
                    .with_meta(Meta::format(Format::Chr))
                    .with_data("<WLANProfile><name>School &amp; Town</name></WLANProfile>"),
            )),
        ),
        QueuedCommand::new(
            "query",
            Command::Get(ItemCommand::new("0", Item::target("./DevInfo/Mod"))),
        ),
    ];
    let mut server = ServerSession::new(SessionConfig::new(DM_URL));
    let hello = device.open_session("ignored: the enrolled server is used");
    let hello = SyncMl::read(hello.to_xml().as_bytes()).unwrap();
    assert_eq!(hello.header.session_id.as_str(), "0");
    assert_eq!(hello.header.target.loc_uri.as_str(), DM_URL);
    let reply = server.respond(&hello, &queue).unwrap();
    assert_eq!(reply.sent.len(), 3);
    let answer = device
        .handle(&SyncMl::read(reply.message.to_xml().as_bytes()).unwrap())
        .unwrap();
    let report = server
        .respond(&SyncMl::read(answer.to_xml().as_bytes()).unwrap(), &queue)
        .unwrap();
    assert_eq!(report.header_status, Some(StatusCode::OK));
    let codes: Vec<_> = report
        .statuses
        .iter()
        .map(|s| (s.queue_ref.as_str(), s.code))
        .collect();
    assert_eq!(
        codes,
        [
            ("camera", StatusCode::OK),
            ("wifi", StatusCode::OK),
            ("query", StatusCode::OK)
        ]
    );
    assert_eq!(report.results[0].queue_ref.as_str(), "query");
    assert_eq!(
        report.results[0].items[0].data.as_ref().unwrap().as_str(),
        "Surface Laptop"
    );
    assert!(report.session_complete);
    assert!(device.handle(&report.message).is_none());
    // The escaped profile arrived intact.
    assert_eq!(
        device.node("./Vendor/MSFT/WiFi/Profile/School/WlanXml"),
        Some("<WLANProfile><name>School &amp; Town</name></WLANProfile>")
    );
    assert_eq!(
        device.node("./Vendor/MSFT/Policy/Config/Camera/AllowCamera"),
        Some("0")
    );
}

#[test]
fn soap_detection_checks_the_root_element_and_namespace() {
    assert!(enroll::is_soap_envelope(DISCOVER.as_bytes()));
    assert!(enroll::is_soap_envelope(FAULT.as_bytes()));
    assert!(!enroll::is_soap_envelope(
        b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>"
    ));
    assert!(!enroll::is_soap_envelope(b"<Envelope><Body/></Envelope>"));
    assert!(!enroll::is_soap_envelope(b"\x00\x01binary"));
}

/// A renewal's PKCS#7 token (made by `openssl cms -sign -nodetach` with
/// the PC's current certificate over a new PKCS#10) gives back that
/// PKCS#10; a PKCS#10 token is taken as it is; anything else in a PKCS#7
/// token is a typed error naming the token.
#[test]
fn a_renewal_pkcs7_token_gives_its_certificate_request() {
    use mdmkit_windows::enroll::{REQUEST_TYPE_RENEW, RequestSecurityToken, VALUE_TYPE_PKCS7};
    let p7 = include_bytes!("../fixtures/renewal-pkcs7.der");
    let p10 = include_bytes!("../fixtures/renewal-pkcs10.der");
    let mut rst = RequestSecurityToken::new(p7.to_vec());
    rst.request_type = REQUEST_TYPE_RENEW.into();
    rst.value_type = VALUE_TYPE_PKCS7.into();
    assert!(rst.is_renewal());
    assert_eq!(&*rst.certificate_request().unwrap(), p10.as_slice());
    mdmkit_identity::CertificateRequest::parse(&rst.certificate_request().unwrap()).unwrap();

    let plain = RequestSecurityToken::new(p10.to_vec());
    assert_eq!(&*plain.certificate_request().unwrap(), p10.as_slice());

    for bad in [
        p10.to_vec(),
        b"not der".to_vec(),
        p7[..p7.len() / 2].to_vec(),
    ] {
        let mut rst = RequestSecurityToken::new(bad);
        rst.value_type = VALUE_TYPE_PKCS7.into();
        match rst.certificate_request() {
            Err(EnrollmentError::BadValue { path, .. }) => {
                assert!(path.ends_with("BinarySecurityToken"), "{path}");
            }
            other => panic!("expected a typed error, got {other:?}"),
        }
    }
}

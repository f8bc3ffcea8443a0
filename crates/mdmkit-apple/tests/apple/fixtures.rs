//! Every committed fixture (written from the schema and from what devices
//! send) decodes with the right reader and is recognised as its kind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mdmkit_apple::generated::commands::{AnyResponse, InstalledApplicationListCommand};
use mdmkit_apple::inspect::detect;
use mdmkit_apple::{
    Checkin, CheckinBody, Command, CommandReport, Limits, Profile, SignedProfile, Status,
};

fn files(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "plist" || e == "mobileconfig")
        })
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

fn kind_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let json = detect(&bytes)
        .unwrap_or_else(|| panic!("{} not recognised", path.display()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    json["kind"].as_str().unwrap().to_owned()
}

#[test]
fn every_checkin_message_type_is_covered_and_parses() {
    let mut seen = BTreeSet::new();
    for f in files("checkin") {
        let c = Checkin::from_bytes(&std::fs::read(&f).unwrap(), &Limits::DEFAULT)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(!c.ids.device().is_empty());
        if c.message_type != "ReturnToService" {
            assert!(matches!(c.body, CheckinBody::Known(_)));
        }
        seen.insert(c.message_type.clone());
        assert_eq!(kind_of(&f), "checkin");
    }
    let all: BTreeSet<String> = [
        "Authenticate",
        "TokenUpdate",
        "CheckOut",
        "UserAuthenticate",
        "SetBootstrapToken",
        "GetBootstrapToken",
        "DeclarativeManagement",
        "GetToken",
        "ReturnToService",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(seen, all);
}

#[test]
fn every_report_status_is_covered_and_results_are_typed() {
    let mut seen = BTreeSet::new();
    for f in files("response") {
        let r = CommandReport::from_bytes(&std::fs::read(&f).unwrap(), &Limits::DEFAULT)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        seen.insert(r.status.as_str());
        assert_eq!(kind_of(&f), "command-response");
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let request_type = match name.as_str() {
            "profile_list" => Some("ProfileList"),
            "device_information" => Some("DeviceInformation"),
            "installed_application_list" => Some("InstalledApplicationList"),
            "security_info_user_enrollment" => Some("SecurityInfo"),
            _ => None,
        };
        if let Some(t) = request_type {
            let typed = r.typed_result(t).unwrap().unwrap();
            assert_eq!(typed.request_type(), t);
        }
        if r.status == Status::Error {
            assert_eq!(r.error_chain.len(), 2);
            assert_eq!(
                r.error_chain[0].error_domain.as_deref(),
                Some("MCProfileErrorDomain")
            );
        }
    }
    for s in [
        "Idle",
        "Acknowledged",
        "Error",
        "CommandFormatError",
        "NotNow",
    ] {
        assert!(seen.contains(s), "no fixture with Status {s}");
    }
}

#[test]
fn an_installed_application_list_is_typed_item_by_item() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/response/installed_application_list.plist");
    let r = CommandReport::from_bytes(&std::fs::read(path).unwrap(), &Limits::DEFAULT).unwrap();
    let list = r.result::<InstalledApplicationListCommand>().unwrap();
    let apps = list.installed_application_list.unwrap();
    assert_eq!(apps[0].identifier.as_deref(), Some("com.apple.Keynote"));
    assert_eq!(apps[0].bundle_size, Some(123_456_789));
    assert!(matches!(
        r.typed_result("InstalledApplicationList").unwrap(),
        Some(AnyResponse::InstalledApplicationList(_))
    ));
}

#[test]
fn profile_fixtures_parse_and_validate() {
    for f in files("profile") {
        let p = Profile::from_bytes(&std::fs::read(&f).unwrap(), &Limits::DEFAULT)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let errors: Vec<_> = p.validate().into_iter().filter(|i| i.is_error()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
        assert_eq!(kind_of(&f), "profile");
    }
}

#[test]
fn command_fixtures_parse_and_type() {
    for f in files("command") {
        let c = Command::from_bytes(&std::fs::read(&f).unwrap(), &Limits::DEFAULT).unwrap();
        assert!(c.typed().unwrap().is_some(), "{}", f.display());
        assert_eq!(kind_of(&f), "command");
    }
}

#[test]
fn the_openssl_signed_fixture_verifies_and_names_its_signer() {
    for f in files("signed") {
        let s = SignedProfile::from_bytes(&std::fs::read(&f).unwrap(), &Limits::DEFAULT).unwrap();
        assert_eq!(s.profile.identifier, "org.example.school.wifi");
        assert_eq!(kind_of(&f), "signed-profile");
        let pem = std::fs::read(f.with_file_name("signer.pem")).unwrap();
        let id_cert = x509_der_from_pem(&pem);
        assert_eq!(s.signer_certificate, id_cert);
    }
}

fn x509_der_from_pem(pem: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

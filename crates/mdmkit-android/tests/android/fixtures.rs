//! Realistic AMAPI bodies (written from the schema) parse, verify and
//! round-trip unchanged, and use only keys and enum values that exist in
//! Google's description.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mdmkit_android::command::DeviceCommand;
use mdmkit_android::enrollment::ProvisioningPayload;
use mdmkit_android::model::{
    Device, EnrollmentToken, NonComplianceDetailNonComplianceReason, Operation, Policy, WireEnum,
};
use mdmkit_android::operation::{CommandOutcome, CommandState};
use mdmkit_android::parse;
use mdmkit_android::remedy::RpcCode;
use mdmkit_android::schema;
use mdmkit_android::state::{DesiredPolicy, PolicySync, SettingStatus, verify};
use mdmkit_android::{Remedy, serde_json::Value};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn assert_round_trip<T>(name: &str, schema_name: &str)
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let bytes = fixture(name);
    let typed: T = parse::from_slice(&bytes).unwrap();
    let original: Value = serde_json::from_slice(&bytes).unwrap();
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(back, original, "{name} changed in a round trip");
    let problems = schema::check(&original, schema_name).unwrap();
    let unknown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let allowed: &[&str] = if name == "device-behind.json" {
        &["someFieldAddedLater: unknown key"]
    } else {
        &[]
    };
    assert_eq!(unknown, allowed, "{name}");
}

#[test]
fn every_fixture_round_trips_unchanged_and_matches_googles_description() {
    assert_round_trip::<Policy>("policy-school.json", "Policy");
    assert_round_trip::<Device>("device-noncompliant.json", "Device");
    assert_round_trip::<Device>("device-behind.json", "Device");
    assert_round_trip::<Operation>("operation-pending.json", "Operation");
    assert_round_trip::<Operation>("operation-failed.json", "Operation");
    assert_round_trip::<Operation>("operation-clear-app-data.json", "Operation");
    assert_round_trip::<EnrollmentToken>("enrollment-token.json", "EnrollmentToken");
}

#[test]
fn fields_added_by_google_later_survive_a_read_modify_write() {
    let mut device = parse::device(&fixture("device-behind.json")).unwrap();
    device.policy_compliant = Some(false);
    let out: Value = serde_json::to_value(&device).unwrap();
    assert_eq!(out["someFieldAddedLater"]["kept"], true);
    assert_eq!(out["policyCompliant"], false);
}

#[test]
fn a_noncompliant_device_feeds_per_setting_verification() {
    let policy = parse::policy(&fixture("policy-school.json")).unwrap();
    let device = parse::device(&fixture("device-noncompliant.json")).unwrap();
    let report = verify(&device, &DesiredPolicy::from_policy(&policy));
    assert_eq!(report.sync, PolicySync::Current);
    let remedy_of = |key: &str| match &report
        .settings
        .iter()
        .find(|s| s.key.as_str() == key)
        .unwrap()
        .status
    {
        SettingStatus::NonCompliant { remedy, .. } => Some(*remedy),
        SettingStatus::Applied => None,
        other => panic!("{key}: {other:?}"),
    };
    assert_eq!(remedy_of("passwordPolicies"), Some(Remedy::UserAction));
    assert_eq!(
        remedy_of("applications/org.example.maths"),
        Some(Remedy::AdminAction)
    );
    assert_eq!(remedy_of("kioskCustomization"), Some(Remedy::Unsupported));
    assert_eq!(remedy_of("applications/org.example.reader"), None);
    assert_eq!(remedy_of("cameraAccess"), None);
    let details = device.non_compliance_details.as_ref().unwrap();
    assert_eq!(
        details[0].non_compliance_reason,
        Some(NonComplianceDetailNonComplianceReason::UserAction)
    );
}

#[test]
fn a_device_behind_the_policy_version_is_pending() {
    let policy = parse::policy(&fixture("policy-school.json")).unwrap();
    let device = parse::device(&fixture("device-behind.json")).unwrap();
    let report = verify(&device, &DesiredPolicy::from_policy(&policy));
    assert_eq!(
        report.sync,
        PolicySync::Behind {
            applied: 11,
            desired: 12
        }
    );
    assert!(
        report
            .settings
            .iter()
            .all(|s| s.status == SettingStatus::Pending)
    );
}

#[test]
fn operations_tell_pending_failed_and_partial_commands_apart() {
    let pending = CommandOutcome::parse(&fixture("operation-pending.json")).unwrap();
    assert_eq!(pending.state, CommandState::Pending);
    assert_eq!(
        pending.command_type().map(WireEnum::as_str),
        Some("START_LOST_MODE")
    );
    // The pending command reads back as the typed command it was built from.
    let cmd = DeviceCommand::from_command(pending.command.as_ref().unwrap()).unwrap();
    assert!(matches!(cmd, DeviceCommand::StartLostMode(_)));

    let failed = CommandOutcome::parse(&fixture("operation-failed.json")).unwrap();
    let CommandState::Failed(f) = failed.state else {
        panic!()
    };
    assert_eq!(f.code, Some(RpcCode::FailedPrecondition));
    assert_eq!(f.remedy, Remedy::Unsupported);

    let partial = CommandOutcome::parse(&fixture("operation-clear-app-data.json")).unwrap();
    let CommandState::Failed(f) = partial.state else {
        panic!()
    };
    assert_eq!(
        f.failed_packages.keys().collect::<Vec<_>>(),
        vec!["org.example.gone"]
    );
}

#[test]
fn googles_qr_code_parses_as_a_provisioning_payload() {
    let token = parse::enrollment_token(&fixture("enrollment-token.json")).unwrap();
    let qr = ProvisioningPayload::parse(token.qr_code.as_ref().unwrap().as_bytes()).unwrap();
    assert_eq!(qr.enrollment_token(), token.value.as_deref());
    let ours = ProvisioningPayload::for_token(&token).unwrap();
    assert_eq!(ours, qr, "our payload equals the one Google generates");
}

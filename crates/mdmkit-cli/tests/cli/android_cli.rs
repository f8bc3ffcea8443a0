//! The `mdmkit inspect` contract for Android Management API JSON, driven
//! from outside on realistic Policy, Device and Operation bodies (and on
//! JSON that python3 re-serialises, so key order and spacing differ).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::support::mdmkit;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mdmkit-android/tests/fixtures")
        .join(name)
}

fn inspect(path: &Path) -> Value {
    let out = mdmkit(&["inspect", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "inspect {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn fails(path: &Path) -> String {
    let out = mdmkit(&["inspect", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_policy_is_shown_as_amapi_policy_with_its_settings() {
    let v = inspect(&fixture("policy-school.json"));
    assert_eq!(v["kind"], "amapi-policy");
    assert_eq!(v["name"], "enterprises/LC02abc123/policies/pupils-grade-4");
    assert_eq!(v["version"], 12);
    let settings: Vec<&str> = v["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(settings.contains(&"applications/org.example.reader"));
    assert!(settings.contains(&"passwordPolicies"));
    assert_eq!(v["applications"][2]["installType"], "BLOCKED");
    assert_eq!(v["notInGoogleDescription"], Value::Array(vec![]));
    assert_eq!(v["policy"]["maximumTimeToLock"], "300000");
}

#[test]
fn a_device_is_shown_as_amapi_device_with_per_setting_non_compliance() {
    let v = inspect(&fixture("device-noncompliant.json"));
    assert_eq!(v["kind"], "amapi-device");
    assert_eq!(v["state"], "ACTIVE");
    assert_eq!(v["appliedPolicyVersion"], 12);
    let by_setting = |key: &str| {
        v["nonCompliance"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["setting"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} missing in {v}"))
    };
    assert_eq!(by_setting("passwordPolicies")["remedy"], "user-action");
    assert_eq!(
        by_setting("applications/org.example.maths")["remedy"],
        "admin-action"
    );
    assert_eq!(
        by_setting("applications/org.example.maths")["reasons"][0]["installationFailureReason"],
        "NOT_APPROVED"
    );
}

#[test]
fn operations_are_shown_as_amapi_operation_with_their_state() {
    let v = inspect(&fixture("operation-pending.json"));
    assert_eq!(v["kind"], "amapi-operation");
    assert_eq!(v["state"], "pending");
    assert_eq!(v["commandType"], "START_LOST_MODE");
    let v = inspect(&fixture("operation-failed.json"));
    assert_eq!(v["state"], "failed");
    assert_eq!(v["failure"]["code"], "FAILED_PRECONDITION");
    assert_eq!(v["failure"]["errorCode"], "MANAGEMENT_MODE");
}

#[test]
fn a_device_without_a_name_reformatted_by_python_is_still_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("device.json");
    let status = Command::new("python3")
        .args([
            "-c",
            "import json,sys; d=json.load(open(sys.argv[1])); d.pop('name'); json.dump(d, open(sys.argv[2],'w'), indent=4, sort_keys=False, ensure_ascii=True)",
            fixture("device-noncompliant.json").to_str().unwrap(),
            out.to_str().unwrap(),
        ])
        .status()
        .expect("python3 is needed (scripts/test installs it)");
    assert!(status.success());
    let v = inspect(&out);
    assert_eq!(v["kind"], "amapi-device");
    assert_eq!(v["device"]["hardwareInfo"]["model"], "Tab 10");
}

#[test]
fn a_recognised_but_broken_device_fails_with_the_json_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.json");
    std::fs::write(
        &path,
        r#"{"name": "enterprises/e1/devices/d1",
            "nonComplianceDetails": [{"settingName": "cameraDisabled", "nonComplianceReason": 3}]}"#,
    )
    .unwrap();
    let err = fails(&path);
    assert!(
        err.contains("nonComplianceDetails[0].nonComplianceReason"),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn json_that_is_not_amapi_is_not_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.json");
    std::fs::write(&path, r#"{"hello": "world", "items": [1, 2, 3]}"#).unwrap();
    let err = fails(&path);
    assert!(err.contains("not a supported MDM artefact"), "{err}");
}

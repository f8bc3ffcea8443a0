//! `mdmkit inspect` on Apple artefacts, run as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mdmkit-apple/tests/fixtures")
        .join(rel)
}

fn inspect(path: &Path) -> (bool, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mdmkit"))
        .arg("inspect")
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), json, stderr)
}

#[test]
fn inspect_names_the_kind_of_every_apple_artefact() {
    for (rel, kind) in [
        ("profile/wifi.mobileconfig", "profile"),
        ("profile/restrictions_binary.mobileconfig", "profile"),
        ("signed/wifi_signed.mobileconfig", "signed-profile"),
        ("command/device_lock.plist", "command"),
        ("checkin/token_update.plist", "checkin"),
        ("checkin/token_update_binary.plist", "checkin"),
        ("response/error_install_profile.plist", "command-response"),
    ] {
        let (ok, json, err) = inspect(&fixture(rel));
        assert!(ok, "{rel}: {err}");
        assert_eq!(json["kind"], kind, "{rel}");
    }
}

/// A declarative-management status report (JSON, what a device sends to
/// the `status` endpoint) is recognised as Apple's, not left unread.
#[test]
fn inspect_recognises_a_ddm_status_report() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/apple_ddm_status");
    let (ok, json, err) = inspect(&corpus.join("full_report.json"));
    assert!(ok, "{err}");
    assert_eq!(json["kind"], "ddm-status-report");
    assert!(json["StatusItems"].is_object(), "{json}");
}

#[test]
fn inspect_shows_apple_key_names_with_data_as_base64() {
    let (_, json, _) = inspect(&fixture("checkin/token_update.plist"));
    assert_eq!(json["MessageType"], "TokenUpdate");
    assert_eq!(
        json["Token"],
        "ihw/Dpt9KmTF6PGz16nC5PaosMHT5fepssTW6PChs8U="
    );
    let (_, json, _) = inspect(&fixture("signed/wifi_signed.mobileconfig"));
    assert_eq!(json["PayloadContent"][0]["SSID_STR"], "Staff");
    assert!(
        json["signer_certificate"]
            .as_str()
            .unwrap()
            .starts_with("MII")
    );
    let (_, json, _) = inspect(&fixture("response/error_install_profile.plist"));
    assert_eq!(json["ErrorChain"][0]["ErrorCode"], 4001);
}

#[test]
fn inspect_shows_dates_as_rfc3339() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.plist");
    std::fs::write(
        &path,
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Status</key><string>Acknowledged</string>\
         <key>CommandUUID</key><string>C</string><key>UDID</key><string>U</string>\
         <key>When</key><date>2026-11-28T15:00:00Z</date></dict></plist>",
    )
    .unwrap();
    let (ok, json, err) = inspect(&path);
    assert!(ok, "{err}");
    assert_eq!(json["When"], "2026-11-28T15:00:00Z");
}

#[test]
fn a_malformed_apple_artefact_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [
        (
            "unknown.plist",
            "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Hello</key><true/></dict></plist>",
        ),
        (
            "bad_type.plist",
            "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>U</string><key>Token</key><integer>3</integer></dict></plist>",
        ),
        (
            "entities.plist",
            "<?xml version=\"1.0\"?><!DOCTYPE plist [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><plist version=\"1.0\"><dict><key>MessageType</key><string>&x;</string></dict></plist>",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_mdmkit"))
            .arg("inspect")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_tampered_signed_profile_is_refused() {
    let mut bytes = std::fs::read(fixture("signed/wifi_signed.mobileconfig")).unwrap();
    let pos = bytes.windows(5).position(|w| w == b"Staff").unwrap();
    bytes[pos] = b'X';
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tampered.mobileconfig");
    std::fs::write(&path, bytes).unwrap();
    let (ok, _, err) = inspect(&path);
    assert!(!ok);
    assert!(err.contains("message digest"), "{err}");
}

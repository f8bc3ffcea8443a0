#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `mdmkit inspect` on Windows artefacts, run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mdmkit-windows/tests/fixtures")
        .join(name)
}

fn inspect(path: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdmkit"))
        .arg("inspect")
        .arg(path)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn inspect_decodes_a_syncml_message_into_one_json_object() {
    let v = json(&inspect(&fixture("server-commands.xml")));
    assert_eq!(v["kind"], "syncml");
    assert_eq!(v["header"]["session_id"], "0");
    assert_eq!(v["final"], true);
    let cmds = v["commands"].as_array().unwrap();
    assert_eq!(cmds[2]["cmd"], "Replace");
    assert_eq!(cmds[2]["cmd_id"], "a7f0");
    assert_eq!(
        cmds[2]["items"][0]["target"]["loc_uri"],
        "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera"
    );
    assert_eq!(cmds[2]["items"][0]["meta"]["format"], "int");
    // Escaped XML shows as its value; CDATA is marked.
    let atomic = &cmds[3]["commands"];
    assert!(
        atomic[0]["items"][0]["data"]
            .as_str()
            .unwrap()
            .starts_with("<WLANProfile")
    );
    assert!(
        atomic[1]["items"][0]["data"]["cdata"]
            .as_str()
            .unwrap()
            .starts_with("<enabled/>")
    );
}

/// A Status is named a Status, with the command it answers as a field of
/// its own (it once took the `cmd` key, so a Status answering an Alert
/// read as an Alert).
#[test]
fn inspect_names_a_status_for_what_it_is() {
    let v = json(&inspect(&fixture("client-results.xml")));
    let cmds = v["commands"].as_array().unwrap();
    let statuses: Vec<&serde_json::Value> = cmds.iter().filter(|c| c["cmd"] == "Status").collect();
    assert!(!statuses.is_empty(), "{v}");
    assert!(statuses.iter().all(|s| s["answers"].is_string()), "{v}");
    assert!(statuses.iter().any(|s| s["answers"] == "SyncHdr"), "{v}");
    assert!(cmds.iter().all(|c| c["cmd"] != "SyncHdr"), "{v}");
}

#[test]
fn inspect_decodes_enrollment_soap() {
    let v = json(&inspect(&fixture("enroll-discover.xml")));
    assert_eq!(v["kind"], "enrollment");
    assert_eq!(v["message"], "discover_request");
    assert_eq!(v["request_version"], "9.0");
    let v = json(&inspect(&fixture("enroll-rst.xml")));
    assert_eq!(v["kind"], "enrollment");
    assert_eq!(v["message"], "request_security_token");
    assert_eq!(v["credentials"]["kind"], "username_token");
    assert!(
        v["credentials"].get("password").is_none(),
        "secrets stay out"
    );
    let ctx = v["context"].as_array().unwrap();
    assert!(ctx.iter().any(|c| c["name"] == "DeviceID"));
    let v = json(&inspect(&fixture("enroll-fault.xml")));
    assert_eq!(v["message"], "fault");
    assert_eq!(v["fault_type"], "DeviceCapReached");
}

#[test]
fn a_broken_syncml_file_fails_with_its_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.xml");
    std::fs::write(
        &p,
        "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>&evil;</VerDTD></SyncHdr></SyncML>",
    )
    .unwrap();
    let out = inspect(&p);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at byte 50") && err.contains("evil"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn a_plist_is_not_taken_for_a_windows_artefact() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("profile.plist");
    std::fs::write(
        &p,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict><key>PayloadType</key><string>Configuration</string></dict></plist>",
    )
    .unwrap();
    let out = inspect(&p);
    if out.status.success() {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["kind"] != "syncml" && v["kind"] != "enrollment", "{v}");
    }
}

#[test]
fn a_syncml_file_with_a_doctype_is_recognised_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dtd.xml");
    std::fs::write(
        &p,
        "<?xml version=\"1.0\"?><!DOCTYPE SyncML [<!ENTITY a \"aaaa\">]><SyncML/>",
    )
    .unwrap();
    let out = inspect(&p);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("syncml") && err.contains("document type declaration"),
        "{err}"
    );
}

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
    assert_eq!(cmds[2]["element"], "Replace");
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

/// Every SyncBody element is labelled by its own name in `element`; a
/// Status names the command it answers in `answers` (it once took the
/// `cmd` key, so a Status answering an Alert read as an Alert).
#[test]
fn inspect_names_a_status_for_what_it_is() {
    // The server's message answers the device's header and its Alert.
    let v = json(&inspect(&fixture("server-commands.xml")));
    let cmds = v["commands"].as_array().unwrap();
    assert!(cmds.iter().all(|c| c.get("cmd").is_none()), "{v}");
    let alert_status = &cmds[1];
    assert_eq!(alert_status["element"], "Status", "{v}");
    assert_eq!(alert_status["answers"], "Alert");
    assert_eq!(alert_status["cmd_id"], "2");
    assert_eq!(alert_status["msg_ref"], "1");
    assert_eq!(alert_status["cmd_ref"], "1");
    assert_eq!(alert_status["code"], 200);
    assert_eq!(cmds[0]["element"], "Status");
    assert_eq!(cmds[0]["answers"], "SyncHdr");
    assert_eq!(cmds[0]["cmd_ref"], "0");
    assert!(cmds.iter().all(|c| c["element"] != "Alert"), "{v}");

    // The device's answers: statuses, results and an alert of its own,
    // each labelled for what it is, in message order.
    let v = json(&inspect(&fixture("client-results.xml")));
    let cmds = v["commands"].as_array().unwrap();
    let labels: Vec<&str> = cmds
        .iter()
        .map(|c| c["element"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "Status", "Status", "Status", "Status", "Status", "Status", "Results", "Status",
            "Results", "Alert"
        ]
    );
    let answers: Vec<&str> = cmds
        .iter()
        .filter(|c| c["element"] == "Status")
        .map(|c| c["answers"].as_str().unwrap())
        .collect();
    assert_eq!(
        answers,
        [
            "SyncHdr", "Replace", "Atomic", "Add", "Replace", "Get", "Delete"
        ]
    );
    // A Status answering a command without a CmdID has a null cmd_ref.
    assert!(cmds[7]["cmd_ref"].is_null(), "{v}");
    assert_eq!(cmds[7]["code"], 400);
    // Results carry the Get they answer as msg_ref / cmd_ref, and no
    // `answers` (the element has no Cmd).
    let results = &cmds[6];
    assert_eq!(results["cmd_ref"], "8");
    assert_eq!(results["msg_ref"], "1");
    assert!(results.get("answers").is_none());
    assert_eq!(results["items"][0]["source"]["loc_uri"], "./DevDetail/SwV");
    assert_eq!(results["items"][0]["data"], "10.0.26100.1742");
    assert_eq!(cmds[9]["code"], 1226);
}

/// Nested commands are labelled the same way.
#[test]
fn commands_inside_an_atomic_are_labelled_by_element() {
    let v = json(&inspect(&fixture("server-commands.xml")));
    let atomic = &v["commands"][3];
    assert_eq!(atomic["element"], "Atomic");
    let inner = atomic["commands"].as_array().unwrap();
    assert!(!inner.is_empty());
    assert!(inner.iter().all(|c| c["element"].is_string()), "{atomic}");
}

#[test]
fn inspect_decodes_enrollment_soap() {
    let v = json(&inspect(&fixture("enroll-discover.xml")));
    assert_eq!(v["kind"], "enrollment");
    assert_eq!(v["message"], "discover_request");
    assert_eq!(v["request_version"], "9.0");
    let v = json(&inspect(&fixture("enroll-get-policies.xml")));
    assert_eq!(v["kind"], "enrollment");
    assert_eq!(v["message"], "get_policies_request");
    assert_eq!(
        v["message_id"],
        "urn:uuid:72048B64-0F19-448F-8C2E-B4C661860AA0"
    );
    assert_eq!(v["credentials"]["kind"], "username_token");
    assert_eq!(v["credentials"]["username"], "teacher@school.example.org");
    assert!(v["credentials"].get("password").is_none());
    assert!(
        !String::from_utf8_lossy(&inspect(&fixture("enroll-get-policies.xml")).stdout)
            .contains("secret")
    );
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

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

/// Reads a plist with python3's plistlib (an independent reader): the
/// value at `key`.
fn plistlib_value(path: &Path, key: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import plistlib,sys\nd=plistlib.load(open(sys.argv[1],'rb'))\nprint(d[sys.argv[2]] if not isinstance(d[sys.argv[2]], dict) else d[sys.argv[2]]['RequestType'])")
        .arg(path)
        .arg(key)
        .output()
        .expect("python3 is needed by this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn fixtures_in(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{dir}");
    files
}

/// Every check-in message, command report and command fixture of the
/// library is recognised for what it is, and shows what plistlib reads.
#[test]
fn inspect_recognises_every_apple_message_type_the_library_reads() {
    let mut message_types = std::collections::BTreeSet::new();
    for path in fixtures_in("checkin") {
        let (ok, json, err) = inspect(&path);
        assert!(ok, "{}: {err}", path.display());
        assert_eq!(json["kind"], "checkin", "{}", path.display());
        let expected = plistlib_value(&path, "MessageType");
        assert_eq!(json["MessageType"], expected.as_str(), "{}", path.display());
        message_types.insert(expected);
    }
    let all = [
        "Authenticate",
        "CheckOut",
        "DeclarativeManagement",
        "GetBootstrapToken",
        "GetToken",
        "ReturnToService",
        "SetBootstrapToken",
        "TokenUpdate",
        "UserAuthenticate",
    ];
    assert_eq!(message_types, all.iter().map(|s| s.to_string()).collect());
    let mut statuses = std::collections::BTreeSet::new();
    for path in fixtures_in("response") {
        let (ok, json, err) = inspect(&path);
        assert!(ok, "{}: {err}", path.display());
        assert_eq!(json["kind"], "command-response", "{}", path.display());
        let expected = plistlib_value(&path, "Status");
        assert_eq!(json["Status"], expected.as_str(), "{}", path.display());
        statuses.insert(expected);
    }
    assert_eq!(statuses.len(), 5, "{statuses:?}");
    for path in fixtures_in("command") {
        let (ok, json, err) = inspect(&path);
        assert!(ok, "{}: {err}", path.display());
        assert_eq!(json["kind"], "command", "{}", path.display());
        let expected = plistlib_value(&path, "Command");
        assert_eq!(json["Command"]["RequestType"], expected.as_str());
    }
}

/// Writes a DeclarativeManagement check-in with python3's plistlib (an
/// independent producer): `Endpoint`, and `Data` from a file when given.
fn ddm_checkin(
    dir: &Path,
    name: &str,
    endpoint: &str,
    data: Option<&Path>,
    binary: bool,
) -> PathBuf {
    let path = dir.join(name);
    let script = "import plistlib,sys\n\
        d={'MessageType':'DeclarativeManagement','UDID':'00008101-7C003470918CA617','Endpoint':sys.argv[2]}\n\
        if sys.argv[3]: d['Data']=open(sys.argv[3],'rb').read()\n\
        fmt=plistlib.FMT_BINARY if sys.argv[4]=='1' else plistlib.FMT_XML\n\
        open(sys.argv[1],'wb').write(plistlib.dumps(d, fmt=fmt))";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .arg(endpoint)
        .arg(data.map(|p| p.to_str().unwrap()).unwrap_or(""))
        .arg(if binary { "1" } else { "0" })
        .output()
        .expect("python3 is needed by this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// A DDM status report sent over the check-in channel (a
/// DeclarativeManagement check-in to the `status` endpoint, the report as
/// its `Data`) is recognised and the report decoded.
#[test]
fn inspect_decodes_the_ddm_status_report_of_a_declarative_management_checkin() {
    let report = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus/apple_ddm_status/full_report.json");
    let dir = tempfile::tempdir().unwrap();
    for binary in [false, true] {
        let path = ddm_checkin(dir.path(), "status.plist", "status", Some(&report), binary);
        let (ok, json, err) = inspect(&path);
        assert!(ok, "{err}");
        assert_eq!(json["kind"], "checkin");
        assert_eq!(json["MessageType"], "DeclarativeManagement");
        let ddm = &json["ddm_request"];
        assert_eq!(ddm["endpoint"], "status", "{json}");
        let report = &ddm["status_report"];
        assert_eq!(report["kind"], "ddm-status-report");
        assert_eq!(report["FullReport"], true);
        assert_eq!(
            report["StatusItems"]["device"]["operating-system"]["version"],
            "18.1"
        );
        let configs = report["StatusItems"]["management"]["declarations"]["configurations"]
            .as_array()
            .unwrap();
        assert_eq!(configs.len(), 2, "{report}");
        assert_eq!(configs[0]["valid"], "valid");
    }

    // A declaration request names the declaration asked for.
    let path = ddm_checkin(
        dir.path(),
        "declaration.plist",
        "declaration/configuration/org.mdmkit.region.passcode",
        None,
        false,
    );
    let (ok, json, err) = inspect(&path);
    assert!(ok, "{err}");
    assert_eq!(json["ddm_request"]["declaration_kind"], "configuration");
    assert_eq!(
        json["ddm_request"]["identifier"],
        "org.mdmkit.region.passcode"
    );
    assert!(json["ddm_request"].get("status_report").is_none());

    // A status check-in whose Data is not a report, and an endpoint the
    // protocol does not have, are refused as a server would refuse them.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"StatusItems\": 5}").unwrap();
    for (endpoint, data) in [
        ("status", Some(junk.as_path())),
        ("status", None),
        ("nowhere", None),
    ] {
        let path = ddm_checkin(dir.path(), "bad.plist", endpoint, data, false);
        let (ok, _, err) = inspect(&path);
        assert!(!ok, "{endpoint}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains("bad.plist"), "{err}");
    }
}

/// The declarative-management documents a server answers with (`tokens`,
/// `declaration-items`, each declaration) are recognised too.
#[test]
fn inspect_recognises_ddm_tokens_declaration_items_and_declarations() {
    let dir = tempfile::tempdir().unwrap();
    // Written as Apple documents the `tokens` response.
    let tokens = dir.path().join("tokens.json");
    std::fs::write(
        &tokens,
        r#"{"SyncTokens": {"DeclarationsToken": "3c1b6ea85a4f0b1d", "Timestamp": "2026-11-28T15:00:00Z"}}"#,
    )
    .unwrap();
    let (ok, json, err) = inspect(&tokens);
    assert!(ok, "{err}");
    assert_eq!(json["kind"], "ddm-tokens");
    assert_eq!(json["SyncTokens"]["DeclarationsToken"], "3c1b6ea85a4f0b1d");

    // The manifest and declarations `mdmkit compile --target apple-ddm` makes.
    let policy = super::support::region().join("policies/securite-socle.toml");
    let out =
        super::support::mdmkit(&["compile", "--target", "apple-ddm", policy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let compiled: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = dir.path().join("manifest.json");
    std::fs::write(&manifest, compiled["manifest"].to_string()).unwrap();
    let (ok, json, err) = inspect(&manifest);
    assert!(ok, "{err}");
    assert_eq!(json["kind"], "ddm-declaration-items");
    assert_eq!(
        json["DeclarationsToken"],
        compiled["manifest"]["DeclarationsToken"]
    );
    assert_eq!(
        json["Declarations"]["Configurations"],
        compiled["manifest"]["Declarations"]["Configurations"]
    );
    let declaration = dir.path().join("declaration.json");
    std::fs::write(&declaration, compiled["declarations"][0].to_string()).unwrap();
    let (ok, json, err) = inspect(&declaration);
    assert!(ok, "{err}");
    assert_eq!(json["kind"], "ddm-declaration");
    assert_eq!(
        json["Identifier"],
        compiled["declarations"][0]["Identifier"]
    );
}

/// Input nobody recognises is refused with one line naming what was
/// tried; standard input works like a file.
#[test]
fn unrecognised_input_is_refused_naming_what_was_tried() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [
        ("empty", &b""[..]),
        ("text.txt", b"hello"),
        ("other.xml", b"<html><body/></html>"),
        ("other.json", b"{\"hello\": [1, 2]}"),
        ("array.json", b"[1, 2]"),
        ("binary", b"\x00\x01\xff\xfe"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let (ok, _, err) = inspect(&path);
        assert!(!ok, "{name}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
        assert!(err.contains("not a supported MDM artefact"), "{err}");
        for needle in ["Apple:", "Windows:", "Android:", "SyncML", "check-in"] {
            assert!(err.contains(needle), "{name}: {err}");
        }
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdmkit"))
        .args(["inspect", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(&std::fs::read(fixture("checkin/token_update.plist")).unwrap())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["MessageType"], "TokenUpdate");
}

/// A reader that went away (`mdmkit inspect F | head -0`) is not a panic.
#[test]
fn a_closed_output_pipe_is_not_a_panic() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_mdmkit"))
        .arg("inspect")
        .arg(fixture("checkin/token_update.plist"))
        .stdout(writer)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The size limit holds whatever the file's metadata says: a stream
/// longer than 16 MiB (here on standard input) is cut off and refused.
#[test]
fn input_over_the_limit_is_refused_without_reading_it_all() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdmkit"))
        .args(["inspect", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        let chunk = vec![b' '; 1 << 20];
        // Stops with a broken pipe once mdmkit has read enough.
        for _ in 0..64 {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("standard input: larger than the 16777216-byte limit"),
        "{err}"
    );
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

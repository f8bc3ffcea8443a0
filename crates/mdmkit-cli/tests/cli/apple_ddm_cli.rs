//! `mdmkit compile --target apple-ddm`, checked with python3's json and
//! plistlib modules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::support::{mdmkit, region};
use std::path::Path;
use std::process::{Command, Output};

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks the output with python3 alone: every configuration is activated,
/// the manifest lists exactly the declarations with their tokens, each
/// legacy declaration's profile is served at its ProfileURL and plistlib
/// reads it. Prints the configuration types, comma-separated.
fn python_check(json: &Path, base_url: &str) -> String {
    let script = r#"
import json, plistlib, sys
o = json.load(open(sys.argv[1]))
base = sys.argv[2]
decls = o["declarations"]
act = o["activation"]
assert act["Type"] == "com.apple.activation.simple", act
assert sorted(act["Payload"]["StandardConfigurations"]) == sorted(d["Identifier"] for d in decls)
m = o["manifest"]["Declarations"]
listed = {(i["Identifier"], i["ServerToken"]) for i in m["Configurations"]}
assert listed == {(d["Identifier"], d["ServerToken"]) for d in decls}, (listed, decls)
assert m["Activations"] == [{"Identifier": act["Identifier"], "ServerToken": act["ServerToken"]}]
assert m["Assets"] == [] and m["Management"] == []
assert len(o["manifest"]["DeclarationsToken"]) == 32
urls = {}
for p in o["profiles"]:
    prof = plistlib.loads(p["mobileconfig"].encode())
    assert prof["PayloadIdentifier"] == p["PayloadIdentifier"]
    assert p["ProfileURL"] == base + p["PayloadIdentifier"] + ".mobileconfig"
    urls[p["Identifier"]] = p["ProfileURL"]
for d in decls:
    assert len(d["ServerToken"]) == 32
    if d["Type"] == "com.apple.configuration.legacy":
        assert d["Payload"]["ProfileURL"] == urls[d["Identifier"]]
for u in o["unsupported"]:
    assert u["path"] and u["reason"]
print(",".join(d["Type"] for d in decls))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(json)
        .arg(base_url)
        .output()
        .unwrap();
    ok(&out);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_policy_file_compiles_to_declarations_python_agrees_with() {
    let dir = tempfile::tempdir().unwrap();
    let policy = region().join("policies/securite-socle.toml");
    let base = "https://mdm.example.org/ddm/";
    let out = mdmkit(&[
        "compile",
        "--target",
        "apple-ddm",
        policy.to_str().unwrap(),
        "--profile-base-url",
        base,
    ]);
    ok(&out);
    let file = dir.path().join("out.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let types = python_check(&file, base);
    assert!(
        types.contains("com.apple.configuration.passcode.settings"),
        "{types}"
    );
    assert!(types.contains("com.apple.configuration.legacy"), "{types}");
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        assert!(line.starts_with("warning: "), "{line}");
    }
    // --out writes the same bytes, and a second run gives the same tokens.
    let out_file = dir.path().join("written.json");
    ok(&mdmkit(&[
        "compile",
        "--target",
        "apple-ddm",
        policy.to_str().unwrap(),
        "--profile-base-url",
        base,
        "--out",
        out_file.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read(&out_file).unwrap(), out.stdout);
}

#[test]
fn a_devices_effective_policy_compiles_for_that_device() {
    let dir = tempfile::tempdir().unwrap();
    let out = mdmkit(&[
        "compile",
        "--target",
        "apple-ddm",
        region().to_str().unwrap(),
        "--device",
        "00008101-7C003470918CA617",
    ]);
    ok(&out);
    let file = dir.path().join("out.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let types = python_check(&file, "https://mdm.invalid/declarative/profiles/");
    assert!(
        types.contains("com.apple.configuration.passcode.settings"),
        "{types}"
    );
    // The device name (filled from the inventory) and time zone travel as
    // one Settings command, no longer as warnings.
    let json: String = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        json.contains(
            r#"{"RequestType":"Settings","Settings":[{"Item":"DeviceName","DeviceName":"#
        ),
        "{json}"
    );
    assert!(json.contains("DMP2E6C22755"), "{json}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("device.time_zone"), "{stderr}");
}

#[test]
fn a_device_too_old_for_declarations_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("region");
    copy_dir(&region(), &tree);
    let devices = tree.join("devices.toml");
    let text = std::fs::read_to_string(&devices).unwrap();
    let old = text.replacen("os_version = \"18.1\"", "os_version = \"14.8\"", 1);
    std::fs::write(&devices, old).unwrap();
    let out = mdmkit(&[
        "compile",
        "--target",
        "apple-ddm",
        tree.to_str().unwrap(),
        "--device",
        "00008101-7C003470918CA617",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("needs iOS 15.0"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn misused_options_are_refused() {
    let policy = region().join("policies/securite-socle.toml");
    let p = policy.to_str().unwrap();
    for args in [
        vec!["compile", "--target", "apple-ddm", p, "--sign", "a,b"],
        vec!["compile", "--target", "apple-ddm", p, "--device", "x"],
        vec![
            "compile",
            "--target",
            "apple-ddm",
            region().to_str().unwrap(),
        ],
        vec![
            "compile",
            "--target",
            "apple",
            p,
            "--profile-base-url",
            "https://x/",
        ],
    ] {
        let out = mdmkit(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{args:?}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

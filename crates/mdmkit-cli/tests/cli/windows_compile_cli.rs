#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `mdmkit compile --target windows`, run as a user would.

use super::support::{mdmkit, region};
use mdmkit::windows::SyncMl;

fn read_back(xml: &[u8]) -> SyncMl {
    let msg = SyncMl::read(xml).unwrap();
    assert_eq!(msg.to_xml().trim(), String::from_utf8_lossy(xml).trim());
    msg
}

#[test]
fn every_policy_file_compiles_to_a_syncml_message_on_stdout() {
    for entry in std::fs::read_dir(region().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        let out = mdmkit(&["compile", "--target", "windows", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {:?}", path.display(), out);
        let msg = read_back(&out.stdout);
        assert!(msg.final_);
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            assert!(
                line.starts_with("warning: ") || line.starts_with("note: "),
                "{line}"
            );
        }
    }
}

#[test]
fn a_passcode_policy_writes_devicelock_commands_to_the_out_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        "[policy]\nid = \"p\"\n[passcode]\nrequired = true\nmin_length = 8\n[restrictions]\nscreen_capture = \"deny\"\n",
    )
    .unwrap();
    let out_file = dir.path().join("out.xml");
    let out = mdmkit(&[
        "compile",
        "--target",
        "windows",
        file.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("restrictions.screen_capture"), "{stderr}");
    let xml = std::fs::read(&out_file).unwrap();
    let msg = read_back(&xml);
    let text = String::from_utf8_lossy(&xml);
    assert!(text.contains("./Device/Vendor/MSFT/Policy/Config/DeviceLock/DevicePasswordEnabled"));
    assert!(text.contains("<Data>8</Data>"));
    assert_eq!(msg.commands.len(), 2);
}

#[test]
fn a_windows_device_of_the_tree_compiles_its_effective_policy() {
    let out = mdmkit(&[
        "compile",
        "--target",
        "windows",
        region().to_str().unwrap(),
        "--device",
        "C155F0D5-8637-FB15-135E-7DED57B1D5F2",
    ]);
    assert!(out.status.success(), "{out:?}");
    let msg = read_back(&out.stdout);
    assert!(!msg.commands.is_empty());
    assert_eq!(
        msg.header.target.loc_uri.as_str(),
        "C155F0D5-8637-FB15-135E-7DED57B1D5F2"
    );
}

#[test]
fn an_unknown_or_non_windows_device_is_a_one_line_error() {
    for id in ["NOT-A-DEVICE", "00008101-7C003470918CA617"] {
        let out = mdmkit(&[
            "compile",
            "--target",
            "windows",
            region().to_str().unwrap(),
            "--device",
            id,
        ]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
}

#[test]
fn a_tree_without_device_is_a_one_line_error() {
    let out = mdmkit(&["compile", "--target", "windows", region().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

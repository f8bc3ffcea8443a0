#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `mdmkit compile --target android`, run as a user runs it on the committed
//! example tenant: Policy JSON on stdout or in a file, warnings on stderr,
//! one-line errors for devices that are unknown or not Android.

use super::support::{mdmkit, region, stderr};
use serde_json::Value;

/// The ids of the example's devices of one platform.
fn devices_of(platform: &str) -> Vec<String> {
    let text = std::fs::read_to_string(region().join("devices.toml")).unwrap();
    text.split("[[device]]")
        .filter(|d| d.contains(&format!("platform = \"{platform}\"")))
        .filter_map(|d| d.lines().find_map(|l| l.trim().strip_prefix("id = ")))
        .map(|s| s.trim_matches('"').to_owned())
        .collect()
}

#[test]
fn a_policy_file_compiles_to_pretty_policy_json_on_stdout() {
    let file = region().join("policies/kiosque-cdi.toml");
    let o = mdmkit(&["compile", "--target", "android", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(text.contains("\n  \""), "pretty-printed: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["applications"][0]["installType"], "KIOSK");
    assert_eq!(v["applications"][0]["packageName"], "fr.canope.esidoc");
    // voice_assistant = "deny" has no AMAPI field: one warning line.
    let err = stderr(&o);
    let warning = err
        .lines()
        .find(|l| l.contains("restrictions.voice_assistant"))
        .expect("a warning for voice_assistant");
    assert!(warning.starts_with("warning: "), "{warning}");
}

#[test]
fn out_writes_the_same_json_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("policy.json");
    let file = region().join("policies/securite-socle.toml");
    let o = mdmkit(&[
        "compile",
        "--target",
        "android",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let written: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let again = mdmkit(&["compile", "--target", "android", file.to_str().unwrap()]);
    let printed: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(written, printed);
    assert!(written.as_object().is_some_and(|m| !m.is_empty()));
}

#[test]
fn every_android_device_of_the_tree_compiles() {
    let devices = devices_of("android");
    assert!(!devices.is_empty());
    for id in devices {
        let o = mdmkit(&[
            "compile",
            "--target",
            "android",
            region().to_str().unwrap(),
            "--device",
            &id,
        ]);
        assert!(o.status.success(), "{id}: {}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v.is_object(), "{id}");
    }
}

#[test]
fn an_apple_device_is_refused_with_one_line() {
    let apple = devices_of("apple")
        .into_iter()
        .next()
        .expect("an apple device in the example");
    let o = mdmkit(&[
        "compile",
        "--target",
        "android",
        region().to_str().unwrap(),
        "--device",
        &apple,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not android"), "{err}");
}

#[test]
fn an_unknown_device_is_refused_with_one_line() {
    let o = mdmkit(&[
        "compile",
        "--target",
        "android",
        region().to_str().unwrap(),
        "--device",
        "enterprises/LC03hdl7/devices/0000000000000000",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not in the inventory"), "{err}");
}

#[test]
fn a_tree_without_device_is_refused() {
    let o = mdmkit(&["compile", "--target", "android", region().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--device"));
}

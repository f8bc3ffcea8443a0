#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Secrets out of the outputs: `policy effective` and `policy diff` print
//! references as they are and values written in clear as `***`, unless
//! `--show-secrets`; a missing secret is an error naming the setting;
//! compiled payloads carry the resolved key and are written owner-only.

use std::fs;
use std::path::Path;

use super::support::{copy_dir, mdmkit, region, stderr, stdout};

/// The id of the first device of `platform` at `node` in the example.
fn device_at(dir: &Path, node: &str, platform: &str) -> String {
    let text = fs::read_to_string(dir.join("devices.toml")).unwrap();
    for block in text.split("[[device]]") {
        let get = |k: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        if get("node").as_deref() == Some(node) && get("platform").as_deref() == Some(platform) {
            return get("id").unwrap();
        }
    }
    panic!("no {platform} device at {node}");
}

const KEY: &str = "Cartable-2025-Estaires";

/// A copy of the example where Sainte-Marie's guest key is written in
/// clear (as older trees do) and the Jules-Ferry key stays a reference.
fn with_a_clear_key() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    let p = dir.join("policies/lycee-sainte-marie.toml");
    let text = fs::read_to_string(&p).unwrap();
    fs::write(
        &p,
        text.replace(
            r#"password = { file = "secrets/sainte-marie-invites.key" }"#,
            r#"password = "Clear-Guest-Key-2025""#,
        ),
    )
    .unwrap();
    (tmp, dir)
}

#[test]
fn policy_effective_prints_references_and_redacts_clear_values_unless_asked() {
    let ipad = device_at(&region(), "jules-ferry-cm1", "apple");
    let o = mdmkit(&[
        "policy",
        "effective",
        region().to_str().unwrap(),
        "--device",
        &ipad,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains(KEY), "{out}");
    assert!(
        out.contains(r#""file": "secrets/jules-ferry-peda.key""#),
        "{out}"
    );

    let region = region();
    for explain in [false, true] {
        let mut args = vec![
            "policy",
            "effective",
            region.to_str().unwrap(),
            "--device",
            &ipad,
            "--show-secrets",
        ];
        if explain {
            args.push("--explain");
        }
        let o = mdmkit(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let settings = if explain { &v["settings"] } else { &v };
        assert_eq!(settings["wifi"]["JULES-FERRY-PEDA"]["password"], KEY);
    }

    // A value in clear is redacted everywhere: settings, provenance.
    let (_tmp, dir) = with_a_clear_key();
    let pupil = device_at(&dir, "sainte-marie-seconde-2", "windows");
    for extra in [&[][..], &["--explain"][..]] {
        let mut args = vec![
            "policy",
            "effective",
            dir.to_str().unwrap(),
            "--device",
            &pupil,
        ];
        args.extend_from_slice(extra);
        let o = mdmkit(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(!out.contains("Clear-Guest-Key-2025"), "{out}");
        assert!(out.contains(r#""password": "***""#), "{out}");
    }
}

#[test]
fn policy_diff_redacts_a_changed_clear_value_and_shows_it_when_asked() {
    let (_tmp, dir) = with_a_clear_key();
    let old = dir.join("policies/lycee-sainte-marie.toml");
    let new = dir.join("new.toml");
    let text = fs::read_to_string(&old).unwrap();
    fs::write(
        &new,
        text.replace("Clear-Guest-Key-2025", "Other-Guest-Key-2026"),
    )
    .unwrap();
    let o = mdmkit(&[
        "policy",
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("SAINTE-MARIE-INVITES"), "{out}");
    assert!(
        !out.contains("Clear-Guest-Key-2025") && !out.contains("Other-Guest-Key-2026"),
        "{out}"
    );
    let o = mdmkit(&[
        "policy",
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--show-secrets",
    ]);
    assert!(
        stdout(&o).contains("Other-Guest-Key-2026"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn check_warns_about_a_value_in_clear() {
    let (_tmp, dir) = with_a_clear_key();
    let o = mdmkit(&["policy", "check", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "lycee-sainte-marie.toml: wifi[\"SAINTE-MARIE-INVITES\"].password: a secret in clear"
        ),
        "{err}"
    );
    assert!(!err.contains("JULES-FERRY-PEDA"), "{err}");
}

#[test]
fn a_missing_secret_file_is_an_error_naming_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("region");
    copy_dir(&region(), &dir);
    fs::remove_file(dir.join("secrets/jules-ferry-peda.key")).unwrap();
    let ipad = device_at(&dir, "jules-ferry-cm1", "apple");
    for args in [
        vec![
            "compile",
            "--target",
            "apple",
            dir.to_str().unwrap(),
            "--device",
            &ipad,
        ],
        vec!["reconcile", dir.to_str().unwrap()],
    ] {
        let o = mdmkit(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stdout(&o));
        let err = stderr(&o);
        assert!(
            err.contains(
                "wifi[\"JULES-FERRY-PEDA\"].password: secret { file = \"secrets/jules-ferry-peda.key\" }: cannot read"
            ),
            "{args:?}: {err}"
        );
    }
}

#[cfg(unix)]
#[test]
fn compiled_payloads_carry_the_resolved_key_and_are_written_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let ipad = device_at(&region(), "jules-ferry-cm1", "apple");
    let out = tmp.path().join("ipad.mobileconfig");
    // An existing file readable by all is narrowed too.
    fs::write(&out, "").unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o644)).unwrap();
    let o = mdmkit(&[
        "compile",
        "--target",
        "apple",
        region().to_str().unwrap(),
        "--device",
        &ipad,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = fs::read(&out).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains(KEY));
    let mode = fs::metadata(&out).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");

    // A policy file alone resolves against its tenant directory.
    let android = tmp.path().join("policy.json");
    let o = mdmkit(&[
        "compile",
        "--target",
        "android",
        region()
            .join("policies/ecole-jules-ferry.toml")
            .to_str()
            .unwrap(),
        "--out",
        android.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(fs::read_to_string(&android).unwrap().contains(KEY));
    let mode = fs::metadata(&android).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}

//! `mdmkit compile --target apple`, checked with python3 plistlib and the
//! openssl binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::support::{mdmkit, region};
use std::path::Path;
use std::process::Command;

/// Reads a plist with python3 plistlib; prints `identifier|type,type,...`.
fn plistlib(path: &Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import plistlib,sys\n\
             d=plistlib.load(open(sys.argv[1],'rb'))\n\
             print(d['PayloadIdentifier']+'|'+','.join(p['PayloadType'] for p in d['PayloadContent']))",
        )
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_policy_file_compiles_to_one_profile_plistlib_reads() {
    let dir = tempfile::tempdir().unwrap();
    let policy = region().join("policies/securite-socle.toml");
    let out = mdmkit(&["compile", "--target", "apple", policy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.path().join("stdout.mobileconfig");
    std::fs::write(&file, &out.stdout).unwrap();
    let read = plistlib(&file);
    assert!(
        read.contains("com.apple.mobiledevice.passwordpolicy"),
        "{read}"
    );
    // Every warning is one line naming a setting path.
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        assert!(line.starts_with("warning: "), "{line}");
    }
    // --out writes the same bytes.
    let o = dir.path().join("o.mobileconfig");
    let out2 = mdmkit(&[
        "compile",
        "--target",
        "apple",
        policy.to_str().unwrap(),
        "--out",
        o.to_str().unwrap(),
    ]);
    assert!(out2.status.success());
    assert_eq!(std::fs::read(&o).unwrap(), out.stdout);
}

#[test]
fn a_device_of_a_tree_compiles_its_effective_policy() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("d.mobileconfig");
    let out = mdmkit(&[
        "compile",
        "--target",
        "apple",
        region().to_str().unwrap(),
        "--device",
        "00008101-7C003470918CA617",
        "--out",
        o.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = plistlib(&o);
    assert!(read.contains("com.apple.wifi.managed"), "{read}");
    assert!(read.contains("com.apple.applicationaccess"), "{read}");
}

#[test]
fn an_unknown_or_non_apple_device_fails_with_one_line() {
    for dev in ["NOPE-NOT-THERE", "C155F0D5-8637-FB15-135E-7DED57B1D5F2"] {
        let out = mdmkit(&[
            "compile",
            "--target",
            "apple",
            region().to_str().unwrap(),
            "--device",
            dev,
        ]);
        assert_eq!(out.status.code(), Some(1), "{dev}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_signed_profile_verifies_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let keygen = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=mdmkit test signer",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    let signed = dir.path().join("s.mobileconfig");
    let sign = format!("{},{}", cert.display(), key.display());
    let policy = region().join("policies/securite-socle.toml");
    let out = mdmkit(&[
        "compile",
        "--target",
        "apple",
        policy.to_str().unwrap(),
        "--sign",
        &sign,
        "--out",
        signed.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let content = dir.path().join("content.plist");
    let verify = Command::new("openssl")
        .args(["cms", "-verify", "-inform", "DER", "-CAfile"])
        .arg(&cert)
        .arg("-in")
        .arg(&signed)
        .arg("-out")
        .arg(&content)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(plistlib(&content).contains("com.apple.mobiledevice.passwordpolicy"));
    // The unsigned output is the signed content, byte for byte.
    let plain = mdmkit(&["compile", "--target", "apple", policy.to_str().unwrap()]);
    assert_eq!(std::fs::read(&content).unwrap(), plain.stdout);
}

#[test]
fn a_malformed_sign_argument_fails_with_one_line() {
    let policy = region().join("policies/securite-socle.toml");
    let out = mdmkit(&[
        "compile",
        "--target",
        "apple",
        policy.to_str().unwrap(),
        "--sign",
        "only-one",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
}

#[test]
fn a_policy_file_keeps_payloads_another_device_would_need_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("r.mobileconfig");
    let policy = region().join("policies/reglages-avances.toml");
    let out = mdmkit(&[
        "compile",
        "--target",
        "apple",
        policy.to_str().unwrap(),
        "--out",
        o.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(plistlib(&o).contains("com.apple.dock"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("warning: vendor.apple") && l.ends_with("(sent anyway)")),
        "{err}"
    );
}

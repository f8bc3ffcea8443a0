//! The `mdmkit ca` and `mdmkit cert` contract, driven from outside with
//! CSRs made by the real `openssl` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn mdmkit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdmkit"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = mdmkit(dir, args);
    assert!(
        out.status.success(),
        "mdmkit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts a failure with exit code 1 and exactly one line on stderr;
/// returns that line.
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = mdmkit(dir, args);
    assert_eq!(out.status.code(), Some(1), "mdmkit {args:?}: {out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(!err.contains("panicked"), "{err}");
    err.trim_end().to_owned()
}

fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed")
}

fn openssl_csr(dir: &Path, name: &str, newkey: &[&str]) {
    let mut args = vec!["req", "-new", "-nodes", "-subj", "/CN=whatever"];
    args.extend(newkey);
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    args.extend(["-keyout", &key, "-out", &csr]);
    let out = openssl(dir, &args);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn init_issue_verify_revoke_crl_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["ca", "init", "--tenant", "town-7", "--out", "ca"]);
    assert!(d.join("ca/ca.pem").is_file() && d.join("ca/ca.key").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(d.join("ca/ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    openssl_csr(d, "dev", &["-newkey", "rsa:2048"]);
    // Without --out the certificate goes to stdout.
    let pem = ok(
        d,
        &[
            "cert",
            "issue",
            "--ca",
            "ca",
            "--csr",
            "dev.csr",
            "--device",
            "ipad-0042",
        ],
    );
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    ok(
        d,
        &[
            "cert",
            "issue",
            "--ca",
            "ca",
            "--csr",
            "dev.csr",
            "--device",
            "ipad-0042",
            "--days",
            "30",
            "--out",
            "dev.pem",
        ],
    );
    let out = openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "ca/ca.pem",
            "-purpose",
            "sslclient",
            "dev.pem",
        ],
    );
    assert!(out.status.success(), "{out:?}");

    let json = ok(d, &["cert", "verify", "--ca", "ca", "dev.pem"]);
    assert_eq!(json.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let obj = v.as_object().unwrap();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{json}");
    assert_eq!(v["tenant"], "town-7");
    assert_eq!(v["device_id"], "ipad-0042");
    // sha256 is lower-case hex of the DER, as openssl computes it.
    let fp = openssl(
        d,
        &[
            "x509",
            "-in",
            "dev.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    let fp = String::from_utf8(fp.stdout).unwrap();
    let fp = fp
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase();
    assert_eq!(v["sha256"], fp.as_str());
    // not_after is RFC 3339 UTC, matching openssl's notAfter.
    let not_after = v["not_after"].as_str().unwrap();
    assert!(
        not_after.ends_with('Z') && not_after.len() == 20,
        "{not_after}"
    );
    let end = openssl(
        d,
        &["x509", "-in", "dev.pem", "-noout", "-checkend", "2505600"],
    );
    assert!(end.status.success(), "valid for more than 29 days");
    let end = openssl(
        d,
        &["x509", "-in", "dev.pem", "-noout", "-checkend", "2678400"],
    );
    assert!(!end.status.success(), "not valid for 31 days");

    ok(d, &["cert", "revoke", "--ca", "ca", "dev.pem"]);
    let err = fails(d, &["cert", "verify", "--ca", "ca", "dev.pem"]);
    assert!(err.contains("revoked"), "{err}");
    // Revoking twice is fine.
    ok(d, &["cert", "revoke", "--ca", "ca", "dev.pem"]);

    let crl = ok(d, &["ca", "crl", "--ca", "ca"]);
    assert!(crl.starts_with("-----BEGIN X509 CRL-----"));
    ok(d, &["ca", "crl", "--ca", "ca", "--out", "out.crl"]);
    let out = openssl(d, &["crl", "-in", "out.crl", "-noout", "-text"]);
    assert!(out.status.success(), "{out:?}");
    let out = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            "out.crl",
            "-CAfile",
            "ca/ca.pem",
            "dev.pem",
        ],
    );
    assert!(!out.status.success());
}

#[test]
fn every_algorithm_and_an_intermediate_work_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    openssl_csr(d, "dev", &["-newkey", "ed25519"]);
    for alg in ["p256", "p384", "rsa2048", "ed25519"] {
        let ca = format!("ca-{alg}");
        ok(
            d,
            &[
                "ca",
                "init",
                "--tenant",
                "school-3",
                "--out",
                &ca,
                "--alg",
                alg,
                "--days",
                "400",
                "--intermediate",
            ],
        );
        let leaf = format!("{alg}.pem");
        ok(
            d,
            &[
                "cert", "issue", "--ca", &ca, "--csr", "dev.csr", "--device", "pc-1", "--out",
                &leaf,
            ],
        );
        let out = openssl(
            d,
            &[
                "verify",
                "-CAfile",
                &format!("{ca}/ca.pem"),
                "-untrusted",
                &format!("{ca}/intermediate.pem"),
                "-purpose",
                "sslclient",
                &leaf,
            ],
        );
        assert!(out.status.success(), "{alg}: {out:?}");
        ok(d, &["cert", "verify", "--ca", &ca, &leaf]);
    }
}

#[test]
fn certificate_of_another_tenant_fails_verification_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["ca", "init", "--tenant", "town-a", "--out", "a"]);
    ok(d, &["ca", "init", "--tenant", "town-b", "--out", "b"]);
    openssl_csr(
        d,
        "dev",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    ok(
        d,
        &[
            "cert", "issue", "--ca", "b", "--csr", "dev.csr", "--device", "d1", "--out", "b.pem",
        ],
    );
    let err = fails(d, &["cert", "verify", "--ca", "a", "b.pem"]);
    assert!(err.starts_with("mdmkit: "), "{err}");
    let err = fails(d, &["cert", "revoke", "--ca", "a", "b.pem"]);
    assert!(err.contains("not issued by this CA"), "{err}");
}

#[test]
fn bad_input_fails_with_one_clear_line_and_no_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["ca", "init", "--tenant", "t1", "--out", "ca"]);
    fs::write(d.join("garbage.bin"), [0x30, 0x82, 0xff, 0xff, 1, 2, 3]).unwrap();
    fs::write(d.join("text.txt"), "hello\n").unwrap();
    openssl_csr(d, "weak", &["-newkey", "rsa:1024"]);
    openssl_csr(d, "good", &["-newkey", "ed25519"]);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["ca", "init", "--tenant", "no spaces", "--out", "x"],
            "tenant id",
        ),
        (
            vec!["ca", "init", "--tenant", "t", "--out", "y", "--alg", "dsa"],
            "unknown key algorithm",
        ),
        (
            vec!["ca", "init", "--tenant", "t", "--out", "z", "--days", "0"],
            "out of range",
        ),
        (
            vec!["ca", "init", "--tenant", "t1", "--out", "ca"],
            "already exists",
        ),
        (
            vec![
                "cert", "issue", "--ca", "ca", "--csr", "weak.csr", "--device", "d",
            ],
            "1024 bits",
        ),
        (
            vec![
                "cert",
                "issue",
                "--ca",
                "ca",
                "--csr",
                "garbage.bin",
                "--device",
                "d",
            ],
            "malformed",
        ),
        (
            vec![
                "cert",
                "issue",
                "--ca",
                "ca",
                "--csr",
                "missing.csr",
                "--device",
                "d",
            ],
            "missing.csr",
        ),
        (
            vec![
                "cert", "issue", "--ca", "ca", "--csr", "weak.csr", "--device", "a b",
            ],
            "device id",
        ),
        (
            vec![
                "cert", "issue", "--ca", "nowhere", "--csr", "good.csr", "--device", "d",
            ],
            "nowhere",
        ),
        (
            vec![
                "cert",
                "issue",
                "--ca",
                "ca",
                "--csr",
                "good.csr",
                "--device",
                "d",
                "--san",
                "uri:urn:mdmkit:t2:device:x",
            ],
            "reserved",
        ),
        (
            vec![
                "cert", "issue", "--ca", "ca", "--csr", "good.csr", "--device", "d", "--san",
                "bogus",
            ],
            "--san",
        ),
        (
            vec!["cert", "verify", "--ca", "ca", "text.txt"],
            "no PEM block",
        ),
        (
            vec!["cert", "verify", "--ca", "ca", "garbage.bin"],
            "malformed",
        ),
        (
            vec!["cert", "verify", "--ca", "ca", "ca/ca.pem"],
            "CA certificate was presented",
        ),
        (
            vec!["cert", "revoke", "--ca", "ca", "text.txt"],
            "no PEM block",
        ),
        (vec!["ca", "crl", "--ca", "nowhere"], "nowhere"),
    ];
    for (args, needle) in cases {
        let err = fails(d, &args);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// `mdmkit cert renew`: a new certificate for the same device identity
/// from a fresh key, ending after the current one, verified by openssl; a
/// revoked certificate is not renewed.
#[test]
fn renew_keeps_the_identity_and_refuses_a_revoked_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["ca", "init", "--tenant", "town-7", "--out", "ca"]);
    openssl_csr(d, "dev", &["-newkey", "rsa:2048"]);
    openssl_csr(
        d,
        "next",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    ok(
        d,
        &[
            "cert",
            "issue",
            "--ca",
            "ca",
            "--csr",
            "dev.csr",
            "--device",
            "ipad-0042",
            "--out",
            "dev.pem",
        ],
    );
    ok(
        d,
        &[
            "cert", "renew", "--ca", "ca", "--csr", "next.csr", "--out", "next.pem", "dev.pem",
        ],
    );
    let out = openssl(d, &["verify", "-CAfile", "ca/ca.pem", "next.pem"]);
    assert!(out.status.success(), "{out:?}");
    let old: serde_json::Value =
        serde_json::from_str(&ok(d, &["cert", "verify", "--ca", "ca", "dev.pem"])).unwrap();
    let new: serde_json::Value =
        serde_json::from_str(&ok(d, &["cert", "verify", "--ca", "ca", "next.pem"])).unwrap();
    assert_eq!(new["device_id"], "ipad-0042");
    assert_ne!(new["sha256"], old["sha256"]);
    assert!(
        new["not_after"].as_str().unwrap() > old["not_after"].as_str().unwrap(),
        "{old} {new}"
    );
    ok(d, &["cert", "revoke", "--ca", "ca", "dev.pem"]);
    let err = fails(
        d,
        &[
            "cert",
            "renew",
            "--ca",
            "ca",
            "--csr",
            "next.csr",
            "--out",
            "again.pem",
            "dev.pem",
        ],
    );
    assert!(err.contains("revoked"), "{err}");
    assert!(!d.join("again.pem").exists());
}

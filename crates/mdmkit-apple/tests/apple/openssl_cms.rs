//! Interop of signed profiles and Mdm-Signature with the openssl binary:
//! what mdmkit signs, `openssl cms -verify` accepts, and what
//! `openssl cms -sign` makes, mdmkit verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use mdmkit_apple::profile::{ProfileBuilder, ProfileId};
use mdmkit_apple::{CmsError, Error, Format, Limits, SignedProfile, SigningIdentity};
use mdmkit_core::TenantId;
use plist::{Dictionary, Value};

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl binary is needed for these tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Keys {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

fn keys(kind: &str) -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let newkey = match kind {
        "rsa" => "rsa:2048",
        _ => "ec",
    };
    let mut args = vec!["req", "-x509", "-newkey", newkey];
    let param = dir.path().join("ec.pem");
    if kind == "p256" {
        openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-out",
            param.to_str().unwrap(),
        ]);
        args.extend(["-pkeyopt", "ec_paramgen_curve:prime256v1"]);
    }
    args.extend([
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
        "-days",
        "30",
        "-subj",
        "/CN=mdmkit profile signer/O=Town A",
    ]);
    openssl(&args);
    Keys {
        _dir: dir,
        cert,
        key,
    }
}

fn identity(k: &Keys) -> SigningIdentity {
    SigningIdentity::from_pem(
        &std::fs::read(&k.cert).unwrap(),
        &std::fs::read(&k.key).unwrap(),
    )
    .unwrap()
}

fn profile() -> mdmkit_apple::Profile {
    let tenant = TenantId::new("town-a").unwrap();
    let mut wifi = Dictionary::new();
    wifi.insert("SSID_STR".into(), Value::String("Staff".into()));
    ProfileBuilder::new(ProfileId::new("com.example.mdm", &tenant, "wifi").unwrap())
        .display_name("Wi-Fi")
        .payload("com.apple.wifi.managed", "staff", wifi)
        .build()
        .unwrap()
}

fn cert_der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(path).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn openssl_verifies_what_mdmkit_signs(kind: &str) {
    let k = keys(kind);
    let p = profile();
    let signed = p.sign(&identity(&k)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("signed.mobileconfig");
    let out = dir.path().join("content.plist");
    std::fs::write(&input, &signed).unwrap();
    openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        input.to_str().unwrap(),
        "-CAfile",
        k.cert.to_str().unwrap(),
        "-purpose",
        "any",
        "-out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), p.to_bytes(Format::Xml));
}

#[test]
fn openssl_verifies_an_rsa_signed_profile() {
    openssl_verifies_what_mdmkit_signs("rsa");
}

#[test]
fn openssl_verifies_a_p256_signed_profile() {
    openssl_verifies_what_mdmkit_signs("p256");
}

fn mdmkit_verifies_what_openssl_signs(kind: &str, outform: &str) {
    let k = keys(kind);
    let p = profile();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("profile.mobileconfig");
    let out = dir.path().join("signed");
    std::fs::write(&input, p.to_bytes(Format::Xml)).unwrap();
    openssl(&[
        "cms",
        "-sign",
        "-nodetach",
        "-binary",
        "-in",
        input.to_str().unwrap(),
        "-signer",
        k.cert.to_str().unwrap(),
        "-inkey",
        k.key.to_str().unwrap(),
        "-outform",
        outform,
        "-out",
        out.to_str().unwrap(),
    ]);
    let signed =
        SignedProfile::from_bytes(&std::fs::read(&out).unwrap(), &Limits::DEFAULT).unwrap();
    assert_eq!(signed.profile, p);
    assert_eq!(signed.signer_certificate, cert_der(&k.cert));
}

#[test]
fn mdmkit_verifies_an_openssl_rsa_signed_profile() {
    mdmkit_verifies_what_openssl_signs("rsa", "DER");
}

#[test]
fn mdmkit_verifies_an_openssl_p256_signed_profile_in_pem() {
    mdmkit_verifies_what_openssl_signs("p256", "PEM");
}

#[test]
fn an_mdm_signature_from_openssl_yields_the_signer_certificate() {
    let k = keys("rsa");
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.plist");
    let sig = dir.path().join("sig.der");
    let report = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Status</key><string>Idle</string><key>UDID</key><string>X</string></dict></plist>";
    std::fs::write(&body, report).unwrap();
    openssl(&[
        "cms",
        "-sign",
        "-binary",
        "-in",
        body.to_str().unwrap(),
        "-signer",
        k.cert.to_str().unwrap(),
        "-inkey",
        k.key.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        sig.to_str().unwrap(),
    ]);
    let header = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&sig).unwrap());
    let signer = mdmkit_apple::verify_mdm_signature(&header, report).unwrap();
    assert_eq!(signer, cert_der(&k.cert));
    // One byte changed in the body: refused.
    let mut tampered = report.to_vec();
    tampered[60] ^= 1;
    assert!(matches!(
        mdmkit_apple::verify_mdm_signature(&header, &tampered),
        Err(CmsError::DigestMismatch)
    ));
    assert!(matches!(
        mdmkit_apple::verify_mdm_signature("not base64!", report),
        Err(CmsError::NotBase64)
    ));
}

#[test]
fn a_tampered_signed_profile_is_refused() {
    let k = keys("p256");
    let p = profile();
    let mut signed = p.sign(&identity(&k)).unwrap();
    // Flip a byte inside the encapsulated XML (the SSID).
    let pos = signed.windows(5).position(|w| w == b"Staff").unwrap();
    signed[pos] = b's';
    let err = SignedProfile::from_bytes(&signed, &Limits::DEFAULT).unwrap_err();
    assert!(
        matches!(err, Error::Cms(CmsError::DigestMismatch)),
        "{err:?}"
    );
}

#[test]
fn rsa_signing_of_unchanged_content_is_byte_for_byte_stable() {
    let k = keys("rsa");
    let id = identity(&k);
    assert_eq!(profile().sign(&id).unwrap(), profile().sign(&id).unwrap());
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let a = keys("rsa");
    let b = keys("rsa");
    let err = SigningIdentity::from_pem(
        &std::fs::read(&a.cert).unwrap(),
        &std::fs::read(&b.key).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, CmsError::KeyMismatch));
}

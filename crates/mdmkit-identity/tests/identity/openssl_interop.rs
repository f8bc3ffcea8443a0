//! Interop with the real `openssl` binary: CSRs made by `openssl req` are
//! accepted or refused with the right typed error, every issued certificate
//! passes `openssl verify -purpose sslclient`, and CRLs parse with
//! `openssl crl` and are honoured by `openssl verify -crl_check`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use mdmkit_core::{DeviceId, TenantId};
use mdmkit_identity::time::{Duration, OffsetDateTime};
use mdmkit_identity::{
    CaBuilder, CaDir, CertificateRequest, CsrError, IssueRequest, KeyAlgorithm, KeyKind,
    RevocationReason, SubjectAltName, TenantCa, VerifyError,
};

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    /// Runs openssl in this directory; returns (success, stdout + stderr).
    fn openssl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.0.path())
            .output()
            .expect("the openssl binary is installed (scripts/test installs it)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.openssl(args);
        assert!(ok, "openssl {args:?} failed: {text}");
        text
    }
    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, content).unwrap();
        p
    }
}

const REQ_CONFIG: &str = "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n\
[dn]\nCN = device-from-openssl\n[attrs]\nchallengePassword = s3cret-enroll-otp\n";

/// `openssl req` key options for each accepted key type.
fn key_args(kind: &str) -> Vec<&'static str> {
    match kind {
        "rsa2048" => vec!["-newkey", "rsa:2048"],
        "rsa1024" => vec!["-newkey", "rsa:1024"],
        "p256" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "p384" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "p521" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
        "secp256k1" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
        "ed25519" => vec!["-newkey", "ed25519"],
        "ed448" => vec!["-newkey", "ed448"],
        other => panic!("unknown key kind {other}"),
    }
}

/// Makes a CSR with openssl; returns its PEM bytes.
fn openssl_csr(dir: &Dir, kind: &str, extra: &[&str]) -> Vec<u8> {
    dir.write("req.cnf", REQ_CONFIG);
    let name = format!("{kind}.csr");
    let mut args = vec!["req", "-new", "-config", "req.cnf", "-nodes"];
    args.extend(key_args(kind));
    let key = format!("{kind}.key");
    args.extend(["-keyout", &key, "-out", &name]);
    args.extend(extra);
    dir.ok(&args);
    fs::read(dir.path(&name)).unwrap()
}

fn tenant(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

fn device(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

/// Saves the CA's certificates as ca.pem (and intermediate.pem).
fn save_certs(dir: &Dir, ca: &TenantCa) {
    dir.write("ca.pem", ca.root_pem());
    if let Some(int) = ca.intermediate_pem() {
        dir.write("intermediate.pem", int);
    }
}

fn openssl_verify(dir: &Dir, ca: &TenantCa, cert: &str) -> (bool, String) {
    let mut args = vec!["verify", "-CAfile", "ca.pem", "-purpose", "sslclient"];
    if ca.intermediate_pem().is_some() {
        args.extend(["-untrusted", "intermediate.pem"]);
    }
    args.push(cert);
    dir.openssl(&args)
}

#[test]
fn openssl_csrs_for_rsa2048_p256_p384_and_ed25519_are_issued_and_pass_openssl_verify() {
    let dir = Dir::new();
    let ca = CaBuilder::new(tenant("town-7")).build().unwrap();
    save_certs(&dir, &ca);
    for (kind, expected) in [
        ("rsa2048", KeyKind::Rsa { bits: 2048 }),
        ("p256", KeyKind::EcP256),
        ("p384", KeyKind::EcP384),
        ("ed25519", KeyKind::Ed25519),
    ] {
        let csr_pem = openssl_csr(
            &dir,
            kind,
            &["-addext", "subjectAltName=DNS:dev.example,IP:10.0.0.7"],
        );
        let csr = CertificateRequest::parse(&csr_pem).unwrap();
        assert_eq!(csr.key_kind(), expected, "{kind}");
        assert_eq!(
            csr.challenge_password(),
            Some("s3cret-enroll-otp"),
            "{kind}"
        );
        assert_eq!(
            csr.requested_sans(),
            &[
                SubjectAltName::Dns("dev.example".into()),
                SubjectAltName::Ip("10.0.0.7".parse().unwrap())
            ],
            "{kind}"
        );
        let issued = ca
            .issue(&csr, &IssueRequest::new(device(&format!("dev-{kind}"))))
            .unwrap();
        let name = format!("{kind}.pem");
        dir.write(&name, &issued.pem);
        let (ok, text) = openssl_verify(&dir, &ca, &name);
        assert!(ok, "{kind}: openssl verify failed: {text}");
        assert!(text.contains(": OK"), "{text}");
        let id = ca
            .verifier()
            .verify(issued.pem.as_bytes(), OffsetDateTime::now_utc())
            .unwrap();
        assert_eq!(id.device_id.as_str(), format!("dev-{kind}"));
    }
}

#[test]
fn der_csr_from_openssl_is_accepted() {
    let dir = Dir::new();
    openssl_csr(&dir, "p256", &["-outform", "DER"]);
    let der = fs::read(dir.path("p256.csr")).unwrap();
    assert_eq!(der[0], 0x30);
    let csr = CertificateRequest::parse(&der).unwrap();
    assert_eq!(csr.key_kind(), KeyKind::EcP256);
}

#[test]
fn csr_with_unknown_and_critical_vendor_extensions_is_accepted() {
    // Windows and Apple CSRs carry extensions no generic parser knows.
    let dir = Dir::new();
    let pem = openssl_csr(
        &dir,
        "p256",
        &[
            "-addext",
            "1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:Machine",
            "-addext",
            "1.2.840.113635.100.6.99=critical,ASN1:UTF8String:apple-ish",
        ],
    );
    assert!(CertificateRequest::parse(&pem).is_ok());
}

#[test]
fn issued_certificate_has_the_documented_profile_according_to_openssl() {
    let dir = Dir::new();
    let ca = CaBuilder::new(tenant("school-3")).build().unwrap();
    let csr = CertificateRequest::parse(&openssl_csr(&dir, "p256", &[])).unwrap();
    let issued = ca
        .issue(
            &csr,
            &IssueRequest::new(device("00008030-001A2B3C4D5E802E"))
                .days(30)
                .extra_san(SubjectAltName::Dns("ipad.school-3.example".into())),
        )
        .unwrap();
    dir.write("leaf.pem", &issued.pem);
    let text = dir.ok(&["x509", "-in", "leaf.pem", "-noout", "-text"]);
    assert!(text.contains("CN = 00008030-001A2B3C4D5E802E"), "{text}");
    assert!(
        text.contains("URI:urn:mdmkit:school-3:device:00008030-001A2B3C4D5E802E"),
        "{text}"
    );
    assert!(text.contains("DNS:ipad.school-3.example"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("Digital Signature"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    let serial = dir.ok(&["x509", "-in", "leaf.pem", "-noout", "-serial"]);
    let hex = serial
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase();
    assert_eq!(
        hex.trim_start_matches('0'),
        issued.serial.to_hex().trim_start_matches('0')
    );
    // Backdated for clock skew, 30 days plus the skew allowance long.
    assert_eq!(
        issued.not_after - issued.not_before,
        Duration::days(30) + Duration::minutes(5)
    );
    assert!(issued.not_before < OffsetDateTime::now_utc() - Duration::minutes(4));
}

#[test]
fn every_ca_algorithm_issues_certificates_openssl_accepts_with_and_without_intermediate() {
    let dir = Dir::new();
    let csr = CertificateRequest::parse(&openssl_csr(&dir, "p256", &[])).unwrap();
    for (alg, intermediate) in [
        (KeyAlgorithm::P256, true),
        (KeyAlgorithm::P384, false),
        (KeyAlgorithm::Rsa2048, true),
        (KeyAlgorithm::Rsa3072, false),
        (KeyAlgorithm::Ed25519, true),
    ] {
        let ca = CaBuilder::new(tenant("region-north"))
            .algorithm(alg)
            .intermediate(intermediate)
            .build()
            .unwrap();
        save_certs(&dir, &ca);
        if !intermediate {
            let _ = fs::remove_file(dir.path("intermediate.pem"));
        }
        let issued = ca.issue(&csr, &IssueRequest::new(device("pc-1"))).unwrap();
        dir.write("leaf.pem", &issued.pem);
        let (ok, text) = openssl_verify(&dir, &ca, "leaf.pem");
        assert!(ok, "{alg} (intermediate {intermediate}): {text}");
        // The CA certificates themselves are well-formed CAs for openssl.
        let ca_text = dir.ok(&["x509", "-in", "ca.pem", "-noout", "-text"]);
        assert!(ca_text.contains("CA:TRUE"), "{ca_text}");
        assert!(
            ca_text.contains("URI:urn:mdmkit:region-north:ca"),
            "{ca_text}"
        );
    }
}

#[test]
fn rsa4096_ca_issues_a_certificate_openssl_accepts() {
    let dir = Dir::new();
    let ca = CaBuilder::new(tenant("big-rsa"))
        .algorithm(KeyAlgorithm::Rsa4096)
        .build()
        .unwrap();
    save_certs(&dir, &ca);
    let csr = CertificateRequest::parse(&openssl_csr(&dir, "rsa2048", &[])).unwrap();
    let issued = ca.issue(&csr, &IssueRequest::new(device("mac-9"))).unwrap();
    dir.write("leaf.pem", &issued.pem);
    let (ok, text) = openssl_verify(&dir, &ca, "leaf.pem");
    assert!(ok, "{text}");
}

#[test]
fn tampered_openssl_csr_is_refused_as_bad_signature() {
    let dir = Dir::new();
    openssl_csr(&dir, "p256", &["-outform", "DER"]);
    let mut der = fs::read(dir.path("p256.csr")).unwrap();
    let at = der
        .windows(b"device-from-openssl".len())
        .position(|w| w == b"device-from-openssl")
        .unwrap();
    der[at] = b'D';
    assert_eq!(
        CertificateRequest::parse(&der).unwrap_err(),
        CsrError::BadSignature
    );
}

#[test]
fn rsa1024_csr_is_refused_as_a_weak_key() {
    let dir = Dir::new();
    let pem = openssl_csr(&dir, "rsa1024", &[]);
    assert_eq!(
        CertificateRequest::parse(&pem).unwrap_err(),
        CsrError::RsaKeySize {
            bits: 1024,
            min: 2048,
            max: 8192
        }
    );
}

#[test]
fn csrs_on_other_curves_or_algorithms_are_refused_by_name() {
    let dir = Dir::new();
    for kind in ["p521", "secp256k1"] {
        let pem = openssl_csr(&dir, kind, &[]);
        assert!(
            matches!(
                CertificateRequest::parse(&pem),
                Err(CsrError::UnsupportedCurve { .. })
            ),
            "{kind}"
        );
    }
    let pem = openssl_csr(&dir, "ed448", &[]);
    assert!(matches!(
        CertificateRequest::parse(&pem),
        Err(CsrError::UnsupportedKeyAlgorithm { algorithm }) if algorithm.starts_with("Ed448")
    ));
}

#[test]
fn sha1_signed_csr_is_refused() {
    let dir = Dir::new();
    let pem = openssl_csr(&dir, "rsa2048", &["-sha1"]);
    assert!(matches!(
        CertificateRequest::parse(&pem),
        Err(CsrError::UnsupportedSignatureAlgorithm { algorithm }) if algorithm.starts_with("sha1")
    ));
}

#[test]
fn expired_certificate_is_refused_by_us_and_by_openssl() {
    let dir = Dir::new();
    let ca = CaBuilder::new(tenant("town-7"))
        .now(OffsetDateTime::now_utc() - Duration::days(60))
        .build()
        .unwrap();
    save_certs(&dir, &ca);
    let csr = CertificateRequest::parse(&openssl_csr(&dir, "p256", &[])).unwrap();
    let issued = ca
        .issue(
            &csr,
            &IssueRequest::new(device("old-1"))
                .not_before(OffsetDateTime::now_utc() - Duration::days(30))
                .days(1),
        )
        .unwrap();
    dir.write("old.pem", &issued.pem);
    let err = ca
        .verifier()
        .verify(issued.pem.as_bytes(), OffsetDateTime::now_utc())
        .unwrap_err();
    assert!(matches!(err, VerifyError::Expired { .. }), "{err}");
    let (ok, text) = openssl_verify(&dir, &ca, "old.pem");
    assert!(!ok && text.contains("expired"), "{text}");
}

#[test]
fn certificate_of_a_foreign_ca_is_refused_by_us_and_by_openssl() {
    let dir = Dir::new();
    let ours = CaBuilder::new(tenant("town-a")).build().unwrap();
    let theirs = CaBuilder::new(tenant("town-a")).build().unwrap();
    save_certs(&dir, &ours);
    let csr = CertificateRequest::parse(&openssl_csr(&dir, "p256", &[])).unwrap();
    let foreign = theirs
        .issue(&csr, &IssueRequest::new(device("dev-1")))
        .unwrap();
    dir.write("foreign.pem", &foreign.pem);
    assert_eq!(
        ours.verifier()
            .verify(foreign.pem.as_bytes(), OffsetDateTime::now_utc())
            .unwrap_err(),
        VerifyError::UnknownIssuer
    );
    let (ok, _) = openssl_verify(&dir, &ours, "foreign.pem");
    assert!(!ok);
}

#[test]
fn certificate_of_tenant_b_never_verifies_as_tenant_a() {
    let dir = Dir::new();
    let a = CaBuilder::new(tenant("town-a")).build().unwrap();
    let b = CaBuilder::new(tenant("town-b")).build().unwrap();
    let csr = CertificateRequest::parse(&openssl_csr(&dir, "p256", &[])).unwrap();
    let cert_b = b.issue(&csr, &IssueRequest::new(device("dev-1"))).unwrap();
    assert_eq!(
        a.verifier()
            .verify(cert_b.pem.as_bytes(), OffsetDateTime::now_utc())
            .unwrap_err(),
        VerifyError::UnknownIssuer
    );
    // Tenant B's root cannot even be added to tenant A's verifier.
    let mut v = a.verifier();
    assert!(v.add_root(b.root_pem().as_bytes()).is_err());

    // A certificate naming tenant B but signed with tenant A's key (a
    // mis-issuance) is refused by the tenant check after the chain check.
    let pem = a.to_pem();
    let key = rcgen::KeyPair::from_pem(&pem.root_key).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&pem.root_cert, key).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = vec![rcgen::SanType::URI(
        "urn:mdmkit:town-b:device:dev-1".try_into().unwrap(),
    )];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let forged = params.signed_by(&leaf_key, &issuer).unwrap();
    assert_eq!(
        a.verifier()
            .verify(forged.pem().as_bytes(), OffsetDateTime::now_utc())
            .unwrap_err(),
        VerifyError::WrongTenant {
            expected: "town-a".into(),
            found: "town-b".into()
        }
    );
}

fn revoke_and_check(intermediate: bool) {
    let dir = Dir::new();
    let ca_dir = dir.path("ca");
    let ca = CaBuilder::new(tenant("town-7"))
        .intermediate(intermediate)
        .build()
        .unwrap();
    let store = CaDir::create(&ca_dir, &ca).unwrap();
    save_certs(&dir, &ca);
    let csr = CertificateRequest::parse(&openssl_csr(&dir, "p256", &[])).unwrap();
    let keep = ca.issue(&csr, &IssueRequest::new(device("keep"))).unwrap();
    let gone = ca.issue(&csr, &IssueRequest::new(device("gone"))).unwrap();
    dir.write("keep.pem", &keep.pem);
    dir.write("gone.pem", &gone.pem);
    store
        .revoke(
            gone.pem.as_bytes(),
            RevocationReason::KeyCompromise,
            OffsetDateTime::now_utc(),
        )
        .unwrap();

    let text = dir.ok(&["crl", "-in", "ca/crl.pem", "-noout", "-text"]);
    assert!(
        text.to_ascii_lowercase()
            .contains(&gone.serial.to_hex().to_ascii_lowercase()[..8]),
        "{text}"
    );
    assert!(text.contains("Key Compromise"), "{text}");

    let mut args = vec![
        "verify",
        "-crl_check",
        "-CRLfile",
        "ca/crl.pem",
        "-CAfile",
        "ca.pem",
        "-purpose",
        "sslclient",
    ];
    if intermediate {
        args.extend(["-untrusted", "intermediate.pem"]);
    }
    let (ok, out) = dir.openssl(&[args.clone(), vec!["gone.pem"]].concat());
    assert!(!ok && out.contains("revoked"), "{out}");
    let (ok, out) = dir.openssl(&[args, vec!["keep.pem"]].concat());
    assert!(ok, "{out}");

    let v = store.verifier().unwrap();
    let now = OffsetDateTime::now_utc();
    assert!(matches!(
        v.verify(gone.pem.as_bytes(), now),
        Err(VerifyError::Revoked { .. })
    ));
    assert_eq!(
        v.verify(keep.pem.as_bytes(), now)
            .unwrap()
            .device_id
            .as_str(),
        "keep"
    );
}

#[test]
fn revoked_certificate_is_listed_in_a_crl_openssl_parses_and_honours() {
    revoke_and_check(false);
}

#[test]
fn revocation_under_an_intermediate_is_honoured_by_openssl_and_by_us() {
    revoke_and_check(true);
}

#[test]
fn ca_key_files_are_written_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new();
    let ca = CaBuilder::new(tenant("town-7"))
        .intermediate(true)
        .build()
        .unwrap();
    let ca_dir = dir.path("ca");
    CaDir::create(&ca_dir, &ca).unwrap();
    for (name, mode) in [
        ("ca.key", 0o600),
        ("intermediate.key", 0o600),
        ("ca.pem", 0o644),
    ] {
        let m = fs::metadata(Path::new(&ca_dir).join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, mode, "{name}");
    }
    // openssl reads our PKCS#8 key and it matches the certificate.
    let key_pub = dir.ok(&["pkey", "-in", "ca/ca.key", "-pubout"]);
    let cert_pub = dir.ok(&["x509", "-in", "ca/ca.pem", "-noout", "-pubkey"]);
    assert_eq!(key_pub, cert_pub);
    // Creating again over it is refused.
    assert!(CaDir::create(&ca_dir, &ca).is_err());
}

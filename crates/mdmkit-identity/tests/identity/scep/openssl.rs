//! The replies and the GetCACert answer checked by the real `openssl`,
//! which fails the test when it is missing.

use mdmkit_core::DeviceId;
use mdmkit_identity::IssueRequest;
use mdmkit_identity::scep::{self, FailInfo, Limits, PkiMessage};

use super::client::{Cipher, Digest, OpenSsl, pem_of};
use super::{fixture, pkcs_req};

#[test]
fn openssl_verifies_decrypts_and_lists_the_certificate_of_a_success_reply() {
    let f = fixture();
    for (cipher, digest) in [
        (Cipher::Aes256, Digest::Sha256),
        (Cipher::Des3, Digest::Sha1),
        (Cipher::Des, Digest::Sha1),
        (Cipher::Aes128, Digest::Sha512),
    ] {
        let sent = pkcs_req(&f.device, cipher, digest, "openssl");
        let msg = PkiMessage::parse(&sent.der, &Limits::default()).unwrap();
        let csr = msg.decrypt(&f.ra).unwrap();
        let issued =
            f.ca.issue(
                &csr,
                &IssueRequest::new(DeviceId::new("ipad-0042").unwrap()),
            )
            .unwrap();
        let reply = msg.success(&f.ra, &issued.der, &[]).unwrap();

        let o = OpenSsl::new();
        o.write("reply.der", &reply);
        o.write("device.pem", f.device.cert_pem());
        o.write("device.key", f.device.key_pem());
        let text = o.ok(&[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            "reply.der",
            "-noverify",
            "-binary",
            "-out",
            "envelope.der",
        ]);
        assert!(text.contains("Verification successful"), "{text}");
        let mut args = vec![
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            "envelope.der",
            "-recip",
            "device.pem",
            "-inkey",
            "device.key",
            "-binary",
            "-out",
            "degenerate.der",
        ];
        if cipher == Cipher::Des {
            args.extend(["-provider", "legacy", "-provider", "default"]);
        }
        o.ok(&args);
        let certs = o.ok(&[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "degenerate.der",
            "-print_certs",
        ]);
        assert!(certs.contains("CN = ipad-0042"), "{cipher:?}: {certs}");
        let text = o.ok(&[
            "cms",
            "-cmsout",
            "-print",
            "-inform",
            "DER",
            "-in",
            "envelope.der",
        ]);
        let want = match cipher {
            Cipher::Aes256 => "aes-256-cbc",
            Cipher::Aes128 => "aes-128-cbc",
            Cipher::Des3 => "des-ede3-cbc",
            Cipher::Des => "des-cbc",
        };
        assert!(text.contains(want), "{cipher:?}: {text}");
    }
}

#[test]
fn openssl_verifies_a_failure_reply_and_sees_its_attributes() {
    let f = fixture();
    let sent = pkcs_req(&f.device, Cipher::Aes256, Digest::Sha256, "fail-openssl");
    let msg = PkiMessage::parse(&sent.der, &Limits::default()).unwrap();
    let reply = msg.failure(&f.ra, FailInfo::BadRequest).unwrap();
    let o = OpenSsl::new();
    o.write("reply.der", &reply);
    let text = o.ok(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        "reply.der",
        "-noverify",
        "-out",
        "content.bin",
    ]);
    assert!(text.contains("Verification successful"), "{text}");
    assert!(o.read("content.bin").is_empty());
    let dump = o.ok(&[
        "cms",
        "-cmsout",
        "-print",
        "-inform",
        "DER",
        "-in",
        "reply.der",
    ]);
    assert!(dump.contains("2.16.840.1.113733.1.9.4"), "failInfo: {dump}");
    assert!(dump.contains("fail-openssl"), "{dump}");
}

#[test]
fn openssl_reads_the_ca_certs_answer_and_the_ra_certificate_profile() {
    let f = fixture();
    let int = f.ca.intermediate_der().unwrap();
    let der = scep::ca_certs(&[f.ca.root_der(), int], f.ra.certificate_der());
    let o = OpenSsl::new();
    o.write("cacerts.der", &der);
    let text = o.ok(&[
        "pkcs7",
        "-inform",
        "DER",
        "-in",
        "cacerts.der",
        "-print_certs",
    ]);
    let subjects: Vec<&str> = text.lines().filter(|l| l.starts_with("subject=")).collect();
    assert_eq!(subjects.len(), 3, "{text}");
    assert!(subjects[0].contains("mdmkit root CA"), "{text}");
    assert!(subjects[1].contains("mdmkit issuing CA"), "{text}");
    assert!(subjects[2].contains("CN = scep-town SCEP RA"), "{text}");

    o.write("root.pem", f.ca.root_pem());
    o.write("int.pem", f.ca.intermediate_pem().unwrap());
    o.write("ra.pem", pem_of("CERTIFICATE", f.ra.certificate_der()));
    let verify = o.ok(&[
        "verify",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "int.pem",
        "ra.pem",
    ]);
    assert!(verify.contains("ra.pem: OK"), "{verify}");
    let profile = o.ok(&["x509", "-in", "ra.pem", "-noout", "-text"]);
    assert!(
        profile.contains("Digital Signature, Key Encipherment"),
        "{profile}"
    );
    assert!(
        !profile.contains("TLS Web Client Authentication"),
        "{profile}"
    );
    assert!(profile.contains("Public-Key: (2048 bit)"), "{profile}");

    let pem = f.ra.to_pem();
    o.write("scep-ra.key", &pem.key);
    let modulus_key = o.ok(&["rsa", "-in", "scep-ra.key", "-noout", "-modulus"]);
    let modulus_cert = o.ok(&["x509", "-in", "ra.pem", "-noout", "-modulus"]);
    assert_eq!(modulus_key, modulus_cert);
}

#[test]
fn capabilities_list_one_keyword_a_line() {
    let caps: Vec<&str> = scep::capabilities().lines().collect();
    assert_eq!(
        caps,
        [
            "POSTPKIOperation",
            "SCEPStandard",
            "Renewal",
            "SHA-256",
            "SHA-512",
            "AES",
            "DES3",
            "SHA-1"
        ]
    );
}

//! Refused messages: each gives its typed error with the failInfo to
//! answer, and answerable ones still get a CertRep FAILURE.

use mdmkit_identity::CsrError;
use mdmkit_identity::scep::{FailInfo, Limits, MessageType, PkiMessage, ScepError};

use super::client::{self, Cipher, Digest, EnvelopeSpec, OpenSsl, RequestSpec};
use super::{fixture, other_ra, pkcs_req};

fn parse(der: &[u8]) -> Result<PkiMessage, ScepError> {
    PkiMessage::parse(der, &Limits::default())
}

/// The offset of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

/// Answers a refused message as a server would and reads the answer.
fn answered_failure(err: &ScepError, tid: &str, nonce: &[u8]) -> String {
    let f = fixture();
    let msg = err
        .message()
        .expect("the refused message is kept to answer");
    let reply = msg.failure(&f.ra, err.fail_info()).unwrap();
    let r = client::read_reply(&reply, f.ra.certificate_der());
    assert_eq!(r.status, "2");
    assert_eq!(r.transaction_id, tid);
    assert_eq!(r.recipient_nonce, nonce);
    r.fail_info.unwrap()
}

#[test]
fn a_bad_signature_is_bad_message_check_and_still_answered() {
    let f = fixture();
    let sent = pkcs_req(&f.device, Cipher::Aes256, Digest::Sha256, "bad-sig");
    let mut der = sent.der.clone();
    // The signature is the last OCTET STRING: flip its last byte.
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let err = parse(&der).unwrap_err();
    assert!(matches!(err, ScepError::BadSignature { .. }), "{err}");
    assert_eq!(err.fail_info(), FailInfo::BadMessageCheck);
    assert_eq!(answered_failure(&err, "bad-sig", &sent.nonce), "1");
}

#[test]
fn a_sha1_signature_made_with_another_key_is_a_bad_signature() {
    let f = fixture();
    let other = client::Device::rsa("SCEP SIGNER");
    // Signed by `other` but carrying the fixture device's certificate.
    let csr = f.device.csr(None);
    let envelope = client::envelope(
        &csr,
        f.ra.certificate_der(),
        &EnvelopeSpec::new(Cipher::Des),
    );
    let spec = RequestSpec::pkcs_req("forged", Digest::Sha1);
    let forged = client::Device::with_cert(
        rcgen::KeyPair::from_pem(&other.key_pem()).unwrap(),
        f.device.cert_der.clone(),
    );
    let der = client::request(&forged, &envelope, &spec);
    let err = parse(&der).unwrap_err();
    assert!(matches!(err, ScepError::BadSignature { .. }), "{err}");
}

#[test]
fn content_changed_after_signing_is_a_digest_mismatch() {
    let f = fixture();
    let csr = f.device.csr(Some("otp"));
    let envelope = client::envelope(
        &csr,
        f.ra.certificate_der(),
        &EnvelopeSpec::new(Cipher::Aes256),
    );
    let spec = RequestSpec::pkcs_req("tampered", Digest::Sha256);
    let mut der = client::request(&f.device, &envelope, &spec);
    // Flip a byte of the encrypted content inside the signed envelope.
    let at = find(&der, &envelope[envelope.len() - 8..]);
    der[at] ^= 0x80;
    let err = parse(&der).unwrap_err();
    assert!(matches!(err, ScepError::DigestMismatch { .. }), "{err}");
    assert_eq!(answered_failure(&err, "tampered", &spec.sender_nonce), "1");
}

#[test]
fn an_md5_digest_is_bad_alg_and_answered_with_sha256() {
    let f = fixture();
    let csr = f.device.csr(Some("otp"));
    let envelope = client::envelope(
        &csr,
        f.ra.certificate_der(),
        &EnvelopeSpec::new(Cipher::Aes256),
    );
    let spec = RequestSpec::pkcs_req("md5", Digest::Md5Oid);
    let err = parse(&client::request(&f.device, &envelope, &spec)).unwrap_err();
    assert!(matches!(err, ScepError::UnsupportedDigest { .. }), "{err}");
    assert!(err.to_string().contains("MD5"), "{err}");
    assert_eq!(err.fail_info(), FailInfo::BadAlg);
    // read_reply accepts SHA-256 and SHA-512 replies only.
    assert_eq!(answered_failure(&err, "md5", &spec.sender_nonce), "0");
}

#[test]
fn an_envelope_for_another_ra_is_not_for_this_ra() {
    let f = fixture();
    let csr = f.device.csr(Some("otp"));
    let envelope = client::envelope(
        &csr,
        other_ra().certificate_der(),
        &EnvelopeSpec::new(Cipher::Aes256),
    );
    let der = client::request(
        &f.device,
        &envelope,
        &RequestSpec::pkcs_req("x", Digest::Sha256),
    );
    let msg = parse(&der).unwrap();
    let err = msg.decrypt(&f.ra).unwrap_err();
    assert_eq!(err, ScepError::NotForThisRa);
    assert_eq!(err.fail_info(), FailInfo::BadMessageCheck);
    // The RA it was meant for opens it.
    assert_eq!(msg.decrypt(other_ra()).unwrap().der(), csr.as_slice());
}

/// Every way an envelope addressed to this RA can fail to open gives the
/// same error: a garbage RSA block, a key of the wrong length (both replaced
/// by a random key), padding broken by a changed ciphertext, and a correct
/// decryption of something that is not DER.
#[test]
fn every_decryption_failure_looks_the_same() {
    let f = fixture();
    let csr = f.device.csr(Some("otp"));
    let ra = f.ra.certificate_der();
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();

    let mut spec = EnvelopeSpec::new(Cipher::Aes256);
    spec.wrapped_key = Some(vec![0x5a; 256]);
    cases.push(("garbage RSA block", client::envelope(&csr, ra, &spec)));

    let mut spec = EnvelopeSpec::new(Cipher::Aes256);
    spec.wrapped_key = Some(vec![0x01; 3]);
    cases.push(("short RSA block", client::envelope(&csr, ra, &spec)));

    for len in [16, 24, 8] {
        let mut spec = EnvelopeSpec::new(Cipher::Aes256);
        spec.wrapped_key_len = Some(len);
        cases.push(("wrong key length", client::envelope(&csr, ra, &spec)));
    }
    let mut spec = EnvelopeSpec::new(Cipher::Des);
    spec.wrapped_key_len = Some(24);
    cases.push(("3DES key for DES", client::envelope(&csr, ra, &spec)));

    let good = client::envelope(&csr, ra, &EnvelopeSpec::new(Cipher::Des3));
    let mut bad_padding = good.clone();
    let n = bad_padding.len();
    bad_padding[n - 1] ^= 0x01;
    cases.push(("broken padding", bad_padding));

    cases.push((
        "not DER inside",
        client::envelope(
            b"not a certificate request",
            ra,
            &EnvelopeSpec::new(Cipher::Aes128),
        ),
    ));
    cases.push((
        "truncated DER inside",
        client::envelope(
            &csr[..csr.len() / 2],
            ra,
            &EnvelopeSpec::new(Cipher::Aes128),
        ),
    ));

    for (what, envelope) in cases {
        let der = client::request(
            &f.device,
            &envelope,
            &RequestSpec::pkcs_req("d", Digest::Sha256),
        );
        let msg = parse(&der).unwrap();
        for _ in 0..2 {
            let err = msg.decrypt(&f.ra).unwrap_err();
            assert_eq!(err, ScepError::DecryptionFailed, "{what}");
            assert_eq!(err.fail_info(), FailInfo::BadMessageCheck, "{what}");
            assert_eq!(err.to_string(), "the envelope does not decrypt", "{what}");
        }
    }
}

#[test]
fn a_csr_signed_with_sha1_is_refused_as_a_bad_request() {
    let f = fixture();
    let o = OpenSsl::new();
    o.ok(&[
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-subj", "/CN=old",
        "-sha1", "-outform", "DER", "-out", "req.der",
    ]);
    let csr = o.read("req.der");
    let envelope = client::envelope(
        &csr,
        f.ra.certificate_der(),
        &EnvelopeSpec::new(Cipher::Des3),
    );
    let der = client::request(
        &f.device,
        &envelope,
        &RequestSpec::pkcs_req("sha1-csr", Digest::Sha1),
    );
    let err = parse(&der).unwrap().decrypt(&f.ra).unwrap_err();
    assert!(
        matches!(
            err,
            ScepError::Csr(CsrError::UnsupportedSignatureAlgorithm { .. })
        ),
        "{err}"
    );
    assert_eq!(err.fail_info(), FailInfo::BadRequest);
}

#[test]
fn messages_without_a_request_are_not_decrypted_as_one() {
    let f = fixture();
    let envelope = client::envelope(
        &[0x30, 0x00],
        f.ra.certificate_der(),
        &EnvelopeSpec::new(Cipher::Aes128),
    );
    for (code, ty) in [
        ("20", MessageType::GetCertInitial),
        ("21", MessageType::GetCert),
        ("22", MessageType::GetCrl),
    ] {
        let mut spec = RequestSpec::pkcs_req("poll", Digest::Sha256);
        spec.message_type = code;
        let msg = parse(&client::request(&f.device, &envelope, &spec)).unwrap();
        assert_eq!(msg.message_type(), ty);
        assert_eq!(
            msg.decrypt(&f.ra).unwrap_err(),
            ScepError::NotACertificateRequest { message_type: ty }
        );
        assert_eq!(msg.decrypt_content(&f.ra).unwrap(), [0x30, 0x00]);
    }
}

#[test]
fn missing_or_unknown_attributes_are_bad_requests() {
    let f = fixture();
    let envelope = client::envelope(
        &[0x30, 0x00],
        f.ra.certificate_der(),
        &EnvelopeSpec::new(Cipher::Aes128),
    );
    let mut spec = RequestSpec::pkcs_req("t", Digest::Sha256);
    spec.message_type = "99";
    let err = parse(&client::request(&f.device, &envelope, &spec)).unwrap_err();
    assert_eq!(err, ScepError::UnknownMessageType { value: "99".into() });
    assert_eq!(err.fail_info(), FailInfo::BadRequest);

    let mut spec = RequestSpec::pkcs_req("t", Digest::Sha256);
    spec.omit_transaction_id = true;
    let err = parse(&client::request(&f.device, &envelope, &spec)).unwrap_err();
    assert_eq!(
        err,
        ScepError::MissingAttribute {
            name: "transactionID"
        }
    );
    assert!(err.message().is_none());

    let mut spec = RequestSpec::pkcs_req("t", Digest::Sha256);
    spec.sender_nonce = vec![1, 2, 3];
    let err = parse(&client::request(&f.device, &envelope, &spec)).unwrap_err();
    assert!(
        matches!(
            err,
            ScepError::BadAttribute {
                name: "senderNonce",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn truncated_garbage_and_oversized_input_are_typed_errors() {
    let f = fixture();
    let sent = pkcs_req(&f.device, Cipher::Aes256, Digest::Sha256, "trunc");
    for cut in [0, 1, 2, 10, 100, sent.der.len() / 2, sent.der.len() - 1] {
        let err = parse(&sent.der[..cut]).unwrap_err();
        assert!(
            matches!(err, ScepError::Malformed { .. }),
            "cut at {cut}: {err}"
        );
        assert_eq!(err.fail_info(), FailInfo::BadRequest);
        assert!(err.message().is_none());
    }
    let err = parse(b"GET /scep?operation=GetCACaps HTTP/1.1").unwrap_err();
    assert!(
        matches!(
            err,
            ScepError::Malformed {
                offset: Some(_),
                ..
            }
        ),
        "{err}"
    );

    let mut trailing = sent.der.clone();
    trailing.push(0);
    let err = parse(&trailing).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");

    let big = vec![0x30; Limits::default().max_message_len + 1];
    assert_eq!(
        parse(&big).unwrap_err(),
        ScepError::TooLarge {
            len: big.len(),
            max: Limits::default().max_message_len
        }
    );
}

#[test]
fn the_limits_bound_depth_certificates_and_attributes() {
    let f = fixture();
    let sent = pkcs_req(&f.device, Cipher::Aes256, Digest::Sha256, "limits");
    let mut l = Limits::default();
    l.max_depth = 4;
    assert!(matches!(
        PkiMessage::parse(&sent.der, &l).unwrap_err(),
        ScepError::TooDeep { max: 4, .. }
    ));
    let mut l = Limits::default();
    l.max_certificates = 0;
    assert_eq!(
        PkiMessage::parse(&sent.der, &l).unwrap_err(),
        ScepError::TooMany {
            what: "certificates",
            count: 1,
            max: 0
        }
    );
    let mut l = Limits::default();
    l.max_attributes = 3;
    assert!(matches!(
        PkiMessage::parse(&sent.der, &l).unwrap_err(),
        ScepError::TooMany {
            what: "signed attributes",
            ..
        }
    ));
    let mut l = Limits::default();
    l.max_recipients = 0;
    let msg = PkiMessage::parse(&sent.der, &l).unwrap();
    assert!(matches!(
        msg.decrypt(&f.ra).unwrap_err(),
        ScepError::TooMany {
            what: "recipients",
            ..
        }
    ));
}

#[test]
fn a_certs_only_pkcs7_is_not_a_pki_message() {
    let f = fixture();
    let certs = mdmkit_identity::scep::ca_certs(&[f.ca.root_der()], f.ra.certificate_der());
    let err = parse(&certs).unwrap_err();
    assert!(
        matches!(&err, ScepError::Malformed { reason, .. } if reason.contains("no signer")),
        "{err}"
    );
}

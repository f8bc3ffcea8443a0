//! Requests as clients send them are parsed, decrypted and answered, and
//! the answers read back as the client reads them.

use mdmkit_core::DeviceId;
use mdmkit_identity::scep::{
    ContentCipher, DigestAlgorithm, FailInfo, Limits, MessageType, PkiMessage, PkiStatus,
    RaIdentity, RaPem, ScepError,
};
use mdmkit_identity::{IssueRequest, KeyKind};

use super::client::{self, Cipher, Device, Digest, EnvelopeSpec, RequestSpec, Rid};
use super::{fixture, pkcs_req};

fn limits() -> Limits {
    Limits::default()
}

/// Issues for the decrypted request and checks the reply as the client
/// reads it: the nonces, the transaction, the digest, the cipher and the
/// certificate inside.
fn answer_and_check(msg: &PkiMessage, device: &Device, sent_nonce: &[u8], cipher: Cipher) {
    let f = fixture();
    let csr = msg.decrypt(&f.ra).unwrap();
    let issued =
        f.ca.issue(&csr, &IssueRequest::new(DeviceId::new("dev-1").unwrap()))
            .unwrap();
    let chain = f.ca.issuing_der();
    let reply = msg.success(&f.ra, &issued.der, &[chain]).unwrap();

    let r = client::read_reply(&reply, f.ra.certificate_der());
    assert_eq!(r.message_type, "3");
    assert_eq!(r.status, "0");
    assert_eq!(r.fail_info, None);
    assert_eq!(r.transaction_id, msg.transaction_id());
    assert_eq!(r.recipient_nonce, sent_nonce);
    assert_eq!(r.sender_nonce.len(), 16);
    assert_ne!(r.sender_nonce, sent_nonce);
    assert_eq!(r.certificates, vec![f.ra.certificate_der().to_vec()]);
    let expected_digest = match msg.digest_algorithm() {
        DigestAlgorithm::Sha512 => client::Digest::Sha512.oid(),
        _ => client::Digest::Sha256.oid(),
    };
    assert_eq!(r.digest_oid, expected_digest);

    let (degenerate, used) = client::open_envelope(&r.content, device);
    assert_eq!(used, cipher, "the reply uses the request's cipher");
    assert_eq!(
        client::certs_of(&degenerate),
        vec![issued.der.clone(), chain.to_vec()],
        "the issued certificate comes first, then the chain"
    );

    // The library reads its own reply back too.
    let back = PkiMessage::parse(&reply, &limits()).unwrap();
    assert_eq!(back.message_type(), MessageType::CertRep);
    assert_eq!(back.pki_status(), Some(PkiStatus::Success));
    assert_eq!(back.recipient_nonce(), Some(sent_nonce));
    assert_eq!(back.transaction_id(), msg.transaction_id());
    assert_eq!(back.signer_certificate_der(), f.ra.certificate_der());
}

#[test]
fn pkcs_req_round_trips_with_every_cipher_and_digest() {
    let f = fixture();
    for (cipher, digest, expected) in [
        (Cipher::Aes256, Digest::Sha256, DigestAlgorithm::Sha256),
        (Cipher::Aes128, Digest::Sha512, DigestAlgorithm::Sha512),
        (Cipher::Des3, Digest::Sha1, DigestAlgorithm::Sha1),
        (Cipher::Des, Digest::Sha1, DigestAlgorithm::Sha1),
        (Cipher::Des3, Digest::Sha256, DigestAlgorithm::Sha256),
    ] {
        let tid = format!("tid-{cipher:?}-{digest:?}");
        let sent = pkcs_req(&f.device, cipher, digest, &tid);
        let msg = PkiMessage::parse(&sent.der, &limits()).unwrap();
        assert_eq!(msg.message_type(), MessageType::PkcsReq);
        assert_eq!(msg.transaction_id(), tid);
        assert_eq!(msg.sender_nonce(), sent.nonce.as_slice());
        assert_eq!(msg.digest_algorithm(), expected);
        assert_eq!(msg.signer_certificate_der(), f.device.cert_der.as_slice());
        assert_eq!(msg.pki_status(), None);
        let want = match cipher {
            Cipher::Aes128 => ContentCipher::Aes128Cbc,
            Cipher::Aes256 => ContentCipher::Aes256Cbc,
            Cipher::Des3 => ContentCipher::DesEde3Cbc,
            Cipher::Des => ContentCipher::DesCbc,
        };
        assert_eq!(msg.content_cipher().unwrap(), want);
        let csr = msg.decrypt(&f.ra).unwrap();
        assert_eq!(csr.der(), sent.csr.as_slice(), "{cipher:?}");
        assert_eq!(csr.challenge_password(), Some("otp-1234"));
        assert_eq!(csr.key_kind(), KeyKind::Rsa { bits: 2048 });
        answer_and_check(&msg, &f.device, &sent.nonce, cipher);
    }
}

#[test]
fn renewal_req_signed_with_the_current_certificate_is_answered_to_that_certificate() {
    let f = fixture();
    // The device enrolled earlier: its key now has a CA-issued certificate.
    let first = Device::rsa("SCEP SIGNER");
    let csr = mdmkit_identity::CertificateRequest::parse(&first.csr(None)).unwrap();
    let current =
        f.ca.issue(
            &csr,
            &IssueRequest::new(DeviceId::new("dev-renew").unwrap()),
        )
        .unwrap();
    let device = Device::with_cert(first.key, current.der.clone());

    let renewal_csr = device.csr(None);
    let envelope = client::envelope(
        &renewal_csr,
        f.ra.certificate_der(),
        &EnvelopeSpec::new(Cipher::Aes256),
    );
    let mut spec = RequestSpec::pkcs_req("renew-1", Digest::Sha256);
    spec.message_type = "17";
    let der = client::request(&device, &envelope, &spec);

    let msg = PkiMessage::parse(&der, &limits()).unwrap();
    assert_eq!(msg.message_type(), MessageType::RenewalReq);
    assert_eq!(msg.signer_certificate_der(), current.der.as_slice());
    let csr = msg.decrypt(&f.ra).unwrap();
    assert_eq!(
        csr.challenge_password(),
        None,
        "renewal carries no challenge"
    );
    answer_and_check(&msg, &device, &spec.sender_nonce, Cipher::Aes256);
}

#[test]
fn envelopes_made_by_openssl_decrypt() {
    let f = fixture();
    for cipher in [Cipher::Aes256, Cipher::Des3, Cipher::Des] {
        let csr = f.device.csr(Some("otp-openssl"));
        let envelope = client::openssl_envelope(&csr, f.ra.certificate_der(), cipher);
        let spec = RequestSpec::pkcs_req("openssl-envelope", Digest::Sha256);
        let der = client::request(&f.device, &envelope, &spec);
        let msg = PkiMessage::parse(&der, &limits()).unwrap();
        let got = msg.decrypt(&f.ra).unwrap();
        assert_eq!(got.der(), csr.as_slice(), "{cipher:?}");
        assert_eq!(got.challenge_password(), Some("otp-openssl"));
        answer_and_check(&msg, &f.device, &spec.sender_nonce, cipher);
    }
}

#[test]
fn signer_and_recipient_named_by_subject_key_identifier_are_found() {
    let f = fixture();
    // A CA-issued certificate, which has a subjectKeyIdentifier (rcgen's
    // self-signed ones do not).
    let first = Device::rsa("SCEP SIGNER");
    let current =
        f.ca.issue(
            &mdmkit_identity::CertificateRequest::parse(&first.csr(None)).unwrap(),
            &IssueRequest::new(DeviceId::new("dev-ski").unwrap()),
        )
        .unwrap();
    let device = Device::with_cert(first.key, current.der);
    let csr = device.csr(Some("otp-ski"));
    let mut env_spec = EnvelopeSpec::new(Cipher::Aes128);
    env_spec.rid = Rid::Ski;
    let envelope = client::envelope(&csr, f.ra.certificate_der(), &env_spec);
    let mut spec = RequestSpec::pkcs_req("ski", Digest::Sha256);
    spec.signer_by_ski = true;
    spec.message_type = "17";
    let der = client::request(&device, &envelope, &spec);
    let msg = PkiMessage::parse(&der, &limits()).unwrap();
    assert_eq!(msg.decrypt(&f.ra).unwrap().der(), csr.as_slice());
}

#[test]
fn ber_with_indefinite_lengths_and_pieced_octet_strings_is_read() {
    let f = fixture();
    let csr = f.device.csr(Some("otp-ber"));
    let envelope = client::to_ber(
        &client::envelope(
            &csr,
            f.ra.certificate_der(),
            &EnvelopeSpec::new(Cipher::Des3),
        ),
        true,
    );
    let spec = RequestSpec::pkcs_req("ber", Digest::Sha1);
    let der = client::request(&f.device, &envelope, &spec);
    let ber = client::to_ber(&der, false);
    assert_ne!(ber, der);
    let msg = PkiMessage::parse(&ber, &limits()).unwrap();
    assert_eq!(msg.transaction_id(), "ber");
    assert_eq!(msg.envelope_der(), envelope.as_slice());
    assert_eq!(msg.decrypt(&f.ra).unwrap().der(), csr.as_slice());
    answer_and_check(&msg, &f.device, &spec.sender_nonce, Cipher::Des3);
}

#[test]
fn ecdsa_p256_requester_is_read_but_cannot_receive_an_encrypted_certificate() {
    let f = fixture();
    let device = Device::p256("SCEP SIGNER");
    let sent = pkcs_req(&device, Cipher::Aes256, Digest::Sha256, "ec");
    let msg = PkiMessage::parse(&sent.der, &limits()).unwrap();
    let csr = msg.decrypt(&f.ra).unwrap();
    assert_eq!(csr.key_kind(), KeyKind::EcP256);
    let issued =
        f.ca.issue(&csr, &IssueRequest::new(DeviceId::new("dev-ec").unwrap()))
            .unwrap();
    let err = msg.success(&f.ra, &issued.der, &[]).unwrap_err();
    assert!(
        matches!(err, ScepError::UnsupportedRecipientKey { .. }),
        "{err}"
    );
    assert_eq!(err.fail_info(), FailInfo::BadAlg);
    let reply = msg.failure(&f.ra, err.fail_info()).unwrap();
    let r = client::read_reply(&reply, f.ra.certificate_der());
    assert_eq!(
        (r.status.as_str(), r.fail_info.as_deref()),
        ("2", Some("0"))
    );
}

#[test]
fn failure_and_pending_replies_echo_the_transaction_and_nonce() {
    let f = fixture();
    let sent = pkcs_req(&f.device, Cipher::Aes256, Digest::Sha512, "fail-1");
    let msg = PkiMessage::parse(&sent.der, &limits()).unwrap();
    for (fail_info, code) in [
        (FailInfo::BadAlg, "0"),
        (FailInfo::BadMessageCheck, "1"),
        (FailInfo::BadRequest, "2"),
        (FailInfo::BadTime, "3"),
        (FailInfo::BadCertId, "4"),
    ] {
        let reply = msg.failure(&f.ra, fail_info).unwrap();
        let r = client::read_reply(&reply, f.ra.certificate_der());
        assert_eq!(r.status, "2");
        assert_eq!(r.fail_info.as_deref(), Some(code));
        assert_eq!(r.transaction_id, "fail-1");
        assert_eq!(r.recipient_nonce, sent.nonce);
        assert!(r.content.is_empty());
        assert_eq!(r.digest_oid, Digest::Sha512.oid());
        let back = PkiMessage::parse(&reply, &limits()).unwrap();
        assert_eq!(back.pki_status(), Some(PkiStatus::Failure));
        assert_eq!(back.fail_info(), Some(fail_info));
    }
    let reply = msg.pending(&f.ra).unwrap();
    let r = client::read_reply(&reply, f.ra.certificate_der());
    assert_eq!((r.status.as_str(), r.fail_info), ("3", None));
    assert_eq!(
        PkiMessage::parse(&reply, &limits()).unwrap().pki_status(),
        Some(PkiStatus::Pending)
    );
}

#[test]
fn ra_identity_survives_a_pem_round_trip_and_refuses_a_foreign_key() {
    let f = fixture();
    let pem = f.ra.to_pem();
    assert!(pem.cert.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(pem.key.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(!format!("{pem:?}").contains("PRIVATE KEY"));
    let back = RaIdentity::from_pem(&RaPem::new(pem.cert.clone(), pem.key.clone())).unwrap();
    assert_eq!(back.certificate_der(), f.ra.certificate_der());

    // The loaded identity decrypts what was sent to the original.
    let sent = pkcs_req(&f.device, Cipher::Aes128, Digest::Sha256, "pem");
    let msg = PkiMessage::parse(&sent.der, &limits()).unwrap();
    assert!(msg.decrypt(&back).is_ok());

    let foreign = super::other_ra().to_pem();
    assert_eq!(
        RaIdentity::from_pem(&RaPem::new(pem.cert, foreign.key)).unwrap_err(),
        mdmkit_identity::CaError::KeyMismatch
    );
}

#[test]
fn signed_attributes_are_verified_in_the_order_sent() {
    use der::{Decode, Encode};
    let f = fixture();
    let sent = pkcs_req(&f.device, Cipher::Aes256, Digest::Sha256, "order");
    // Put the signed attributes out of DER order, as a careless encoder
    // would, and sign them that way.
    let ci = cms::content_info::ContentInfo::from_der(&sent.der).unwrap();
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    let signer = sd.signer_infos.0.iter().next().unwrap();
    let attrs = signer.signed_attrs.as_ref().unwrap();
    let mut sorted = attrs.to_der().unwrap();
    sorted[0] = 0xa0;
    let mut each: Vec<Vec<u8>> = attrs.iter().map(|a| a.to_der().unwrap()).collect();
    each.reverse();
    let reversed = each.concat();
    let header = sorted.len() - reversed.len();
    let mut unsorted = sorted[..header].to_vec();
    unsorted.extend_from_slice(&reversed);
    assert_ne!(unsorted, sorted);
    let mut signed = unsorted.clone();
    signed[0] = 0x31;
    let signature = client::device_signature(&f.device, Digest::Sha256, &signed);
    let old_signature = signer.signature.as_bytes();

    let mut der = sent.der.clone();
    let at = der.windows(sorted.len()).position(|w| w == sorted).unwrap();
    der[at..at + sorted.len()].copy_from_slice(&unsorted);
    let at = der
        .windows(old_signature.len())
        .position(|w| w == old_signature)
        .unwrap();
    der[at..at + signature.len()].copy_from_slice(&signature);

    let msg = PkiMessage::parse(&der, &limits()).unwrap();
    assert_eq!(msg.transaction_id(), "order");
    // The same bytes with the old (sorted-order) signature do not verify.
    let mut stale = der.clone();
    stale[at..at + signature.len()].copy_from_slice(old_signature);
    assert!(matches!(
        PkiMessage::parse(&stale, &limits()),
        Err(ScepError::BadSignature { .. })
    ));
}

#[test]
fn the_ra_messages_and_errors_can_be_shared_across_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<RaIdentity>();
    shared::<PkiMessage>();
    shared::<ScepError>();
}

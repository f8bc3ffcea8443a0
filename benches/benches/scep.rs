//! SCEP enrollments per second next to the raw public-key operations they
//! cost.
//!
//! One enrollment = one PKCSReq answered: parse the pkiMessage (including the
//! check of the requester's signature), decrypt it with the RA (RSA PKCS#1
//! v1.5 key unwrap, AES-256-CBC, CSR parse and self-signature check), issue
//! the device certificate with a P-256 tenant CA, and write the CertRep
//! SUCCESS (the certificate encrypted to the requester, signed by the RA).
//!
//! The `raw_baseline` measures, with aws-lc-rs (the backend mdmkit-identity
//! uses) on keys of the same kinds and sizes, in the same run: one RSA-2048
//! PKCS#1 v1.5 decryption with the RA key, one RSA-2048 PKCS#1 SHA-256
//! verification, one ECDSA P-256 signature (the CA), one RSA-2048 PKCS#1
//! SHA-256 signature with the RA key and one RSA-2048 PKCS#1 v1.5
//! encryption to the requester's key. The ratio of the two rates is
//! recorded in docs/performance.md (target: enrollment >= 70% of raw).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeySize, Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mdmkit::identity::scep::{Limits, MessageType, PkiMessage, PkiStatus, RaIdentity, RaPem};
use mdmkit::identity::{CaBuilder, IssueRequest, TenantCa};
use mdmkit::{DeviceId, TenantId};

/// The seed: a real PKCSReq (RSA-2048 requester, SHA-256, AES-256-CBC)
/// encrypted to the RA below.
const SEED: &str = "pkcsreq-aes256-sha256.der";
/// About the size of the data the requester signs (its signed attributes).
const SIGNED_LEN: usize = 100;
/// About the size of a device certificate's TBS part (what the CA signs).
const TBS_LEN: usize = 450;

// The RA of the committed `identity_scep` fuzz seeds, the fixture the fuzz
// target uses (fuzz/fixtures/scep-ra.{pem,key}). A fuzzing
// fixture, not a secret. Its issuing CA's key is not kept; issuing does not
// need it, so the bench issues with a fresh P-256 CA.
const SCEP_RA_CERT: &str = include_str!("../../fuzz/fixtures/scep-ra.pem");
const SCEP_RA_KEY: &str = include_str!("../../fuzz/fixtures/scep-ra.key");

fn seed() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/identity_scep/");
    std::fs::read(format!("{path}{SEED}")).unwrap()
}

/// One enrollment, end to end: the CertRep's DER.
fn enroll(ca: &TenantCa, ra: &RaIdentity, request: &IssueRequest, body: &[u8]) -> Vec<u8> {
    let msg = PkiMessage::parse(body, &Limits::default()).unwrap();
    let csr = msg.decrypt(ra).unwrap();
    let issued = ca.issue(&csr, request).unwrap();
    msg.success(ra, &issued.der, &[]).unwrap()
}

/// The raw public-key operations of one enrollment.
struct Raw {
    rng: SystemRandom,
    ra_decrypt: Pkcs1PrivateDecryptingKey,
    wrapped_key: Vec<u8>,
    requester_pub: UnparsedPublicKey<Vec<u8>>,
    requester_sig: Vec<u8>,
    ca: EcdsaKeyPair,
    ra_sign: RsaKeyPair,
    requester_encrypt: Pkcs1PublicEncryptingKey,
}

impl Raw {
    fn new(requester_cert_der: &[u8]) -> Self {
        let rng = SystemRandom::new();
        let ra_pkcs8 = rcgen::KeyPair::from_pem(SCEP_RA_KEY)
            .unwrap()
            .serialize_der();
        let ra_decrypt =
            Pkcs1PrivateDecryptingKey::new(PrivateDecryptingKey::from_pkcs8(&ra_pkcs8).unwrap())
                .unwrap();
        // A 32-byte content key wrapped to the RA's public key, as a client
        // does.
        let ra_encrypt = Pkcs1PublicEncryptingKey::new(
            PrivateDecryptingKey::from_pkcs8(&ra_pkcs8)
                .unwrap()
                .public_key(),
        )
        .unwrap();
        let mut wrapped_key = vec![0u8; ra_encrypt.ciphertext_size()];
        let len = ra_encrypt
            .encrypt(&[0x42; 32], &mut wrapped_key)
            .unwrap()
            .len();
        wrapped_key.truncate(len);

        // The requester's signature: a fresh RSA-2048 key (the seed's
        // requester key is RSA-2048 too; its private half is not kept).
        let requester = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let mut requester_sig = vec![0u8; requester.public_modulus_len()];
        requester
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &rng,
                &[0x5a; SIGNED_LEN],
                &mut requester_sig,
            )
            .unwrap();
        let requester_pub = UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            requester.public_key().as_ref().to_vec(),
        );

        let ca_pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let ca = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            ca_pkcs8.as_ref(),
        )
        .unwrap();
        let ra_sign = RsaKeyPair::from_pkcs8(&ra_pkcs8).unwrap();

        // The reply envelope goes to the key of the seed's signer
        // certificate.
        let (_, cert) = x509_parser::parse_x509_certificate(requester_cert_der).unwrap();
        let requester_encrypt = Pkcs1PublicEncryptingKey::new(
            PublicEncryptingKey::from_der(cert.public_key().raw).unwrap(),
        )
        .unwrap();
        assert_eq!(requester_encrypt.key_size_bits(), 2048);

        Self {
            rng,
            ra_decrypt,
            wrapped_key,
            requester_pub,
            requester_sig,
            ca,
            ra_sign,
            requester_encrypt,
        }
    }

    fn run(&self) {
        let mut key = vec![0u8; self.ra_decrypt.min_output_size()];
        let key = self
            .ra_decrypt
            .decrypt(black_box(&self.wrapped_key), &mut key)
            .unwrap();
        assert_eq!(key.len(), 32);
        self.requester_pub
            .verify(black_box(&[0x5a; SIGNED_LEN]), &self.requester_sig)
            .unwrap();
        black_box(
            self.ca
                .sign(&self.rng, black_box(&[0x5b; TBS_LEN]))
                .unwrap(),
        );
        let mut sig = vec![0u8; self.ra_sign.public_modulus_len()];
        self.ra_sign
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                black_box(&[0x5c; SIGNED_LEN]),
                &mut sig,
            )
            .unwrap();
        black_box(&sig);
        let mut wrapped = vec![0u8; self.requester_encrypt.ciphertext_size()];
        black_box(
            self.requester_encrypt
                .encrypt(black_box(&[0x42; 32]), &mut wrapped)
                .unwrap(),
        );
    }
}

fn scep(c: &mut Criterion) {
    let ra = RaIdentity::from_pem(&RaPem::new(SCEP_RA_CERT, SCEP_RA_KEY)).unwrap();
    let ca = CaBuilder::new(TenantId::new("bench-town").unwrap())
        .build()
        .unwrap();
    let request = IssueRequest::new(DeviceId::new("00008030-001A2B3C4D5E802E").unwrap());
    let body = seed();
    let limits = Limits::default();

    // Untimed: the request is what we think, and the reply is a CertRep
    // SUCCESS for its transaction.
    let msg = PkiMessage::parse(&body, &limits).unwrap();
    assert_eq!(msg.message_type(), MessageType::PkcsReq);
    let reply = enroll(&ca, &ra, &request, &body);
    let back = PkiMessage::parse(&reply, &limits).unwrap();
    assert_eq!(back.message_type(), MessageType::CertRep);
    assert_eq!(back.pki_status(), Some(PkiStatus::Success));
    assert_eq!(back.transaction_id(), msg.transaction_id());
    assert_eq!(back.recipient_nonce(), Some(msg.sender_nonce()));

    let raw = Raw::new(msg.signer_certificate_der());
    raw.run();

    let mut g = c.benchmark_group("scep");
    g.throughput(Throughput::Elements(1));
    g.bench_function("enroll", |b| {
        b.iter(|| black_box(enroll(&ca, &ra, &request, black_box(&body))))
    });
    g.bench_function("raw_baseline", |b| b.iter(|| raw.run()));
    // The machine is shared: load shifts between the two benches above. This
    // one alternates one enrollment and one raw baseline per iteration and
    // times each, so both see the same load; it reports the enrollment time
    // and prints the ratio of the two totals.
    let mut totals = (Duration::ZERO, Duration::ZERO);
    g.bench_function("interleaved_enroll", |b| {
        b.iter_custom(|iters| {
            let mut enroll_t = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                black_box(enroll(&ca, &ra, &request, black_box(&body)));
                let t1 = Instant::now();
                raw.run();
                let t2 = Instant::now();
                enroll_t += t1 - t0;
                totals.0 += t1 - t0;
                totals.1 += t2 - t1;
            }
            enroll_t
        })
    });
    g.finish();
    println!(
        "scep: interleaved enrollment rate = {:.1}% of the raw baseline rate",
        100.0 * totals.1.as_secs_f64() / totals.0.as_secs_f64()
    );

    // Where an enrollment's time goes, step by step.
    let csr = msg.decrypt(&ra).unwrap();
    let issued = ca.issue(&csr, &request).unwrap();
    let mut g = c.benchmark_group("scep_parts");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| {
        b.iter(|| black_box(PkiMessage::parse(black_box(&body), &limits).unwrap()))
    });
    g.bench_function("decrypt", |b| {
        b.iter(|| black_box(msg.decrypt(black_box(&ra)).unwrap()))
    });
    g.bench_function("issue", |b| {
        b.iter(|| black_box(ca.issue(black_box(&csr), &request).unwrap()))
    });
    g.bench_function("reply", |b| {
        b.iter(|| black_box(msg.success(&ra, black_box(&issued.der), &[]).unwrap()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = scep
}
criterion_main!(benches);

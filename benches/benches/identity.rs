//! Device certificate issuance throughput next to the raw crypto it costs.
//!
//! One issuance = parse a CSR (including its self-signature check) + sign a
//! certificate with the tenant CA. Its unavoidable cost is one signature
//! verification (the CSR's algorithm) and one signature (the CA's): the
//! `raw_verify_sign` baseline measures exactly that with aws-lc-rs, the
//! backend mdmkit-identity uses, in the same run. The ratio of the two
//! rates is recorded in docs/performance.md (target: issuance >= 85% of raw).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mdmkit::identity::{CaBuilder, CertificateRequest, IssueRequest, KeyAlgorithm};
use mdmkit::{DeviceId, TenantId};

/// CSRs in each fixed set.
const SET: usize = 16;
/// A message the size of a device certificate's TBS part.
const TBS_LEN: usize = 450;

fn csr_set(alg: &'static rcgen::SignatureAlgorithm) -> Vec<Vec<u8>> {
    (0..SET)
        .map(|i| {
            let key = if alg == &rcgen::PKCS_RSA_SHA256 {
                rcgen::KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048).unwrap()
            } else {
                rcgen::KeyPair::generate_for(alg).unwrap()
            };
            let mut params =
                rcgen::CertificateParams::new(vec![format!("dev-{i}.example")]).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, format!("dev-{i}"));
            params.serialize_request(&key).unwrap().der().to_vec()
        })
        .collect()
}

fn bench_set(
    c: &mut Criterion,
    name: &str,
    ca_alg: KeyAlgorithm,
    csr_alg: &'static rcgen::SignatureAlgorithm,
    raw: &dyn Fn(&[u8]),
) {
    let ca = CaBuilder::new(TenantId::new("bench-town").unwrap())
        .algorithm(ca_alg)
        .build()
        .unwrap();
    let csrs = csr_set(csr_alg);
    let request = IssueRequest::new(DeviceId::new("00008030-001A2B3C4D5E802E").unwrap());
    let msg = vec![0x5a; TBS_LEN];

    let mut g = c.benchmark_group(format!("identity/{name}"));
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("issue", |b| {
        b.iter(|| {
            i = (i + 1) % SET;
            let csr = CertificateRequest::parse(black_box(&csrs[i])).unwrap();
            black_box(ca.issue(&csr, &request).unwrap());
        })
    });
    g.bench_function("raw_verify_sign", |b| b.iter(|| raw(black_box(&msg))));
    // The machine is shared: load shifts between the two benches above. This
    // one alternates one issuance and one raw verify+sign per iteration and
    // times each, so both see the same load; it reports the issuance time
    // and prints the ratio of the two totals.
    let mut totals = (Duration::ZERO, Duration::ZERO);
    g.bench_function("interleaved_issue", |b| {
        b.iter_custom(|iters| {
            let mut issue_t = Duration::ZERO;
            for _ in 0..iters {
                i = (i + 1) % SET;
                let t0 = Instant::now();
                let csr = CertificateRequest::parse(black_box(&csrs[i])).unwrap();
                black_box(ca.issue(&csr, &request).unwrap());
                let t1 = Instant::now();
                raw(black_box(&msg));
                let t2 = Instant::now();
                issue_t += t1 - t0;
                totals.0 += t1 - t0;
                totals.1 += t2 - t1;
            }
            issue_t
        })
    });
    g.finish();
    println!(
        "identity/{name}: interleaved issuance rate = {:.1}% of the raw verify+sign rate",
        100.0 * totals.1.as_secs_f64() / totals.0.as_secs_f64()
    );
}

fn identity(c: &mut Criterion) {
    let rng = SystemRandom::new();

    // P-256: verify the CSR's ECDSA signature, sign with a P-256 CA.
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
        .unwrap();
    let ec_sig = ec.sign(&rng, &[0x5a; TBS_LEN]).unwrap();
    let ec_pub = UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        ec.public_key().as_ref().to_vec(),
    );
    let raw_p256 = |msg: &[u8]| {
        ec_pub.verify(msg, ec_sig.as_ref()).unwrap();
        black_box(ec.sign(&rng, msg).unwrap());
    };
    bench_set(
        c,
        "p256",
        KeyAlgorithm::P256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &raw_p256,
    );

    // RSA-2048: verify the CSR's RSA signature, sign with an RSA-2048 CA.
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let mut rsa_sig = vec![0u8; rsa.public_modulus_len()];
    rsa.sign(
        &signature::RSA_PKCS1_SHA256,
        &rng,
        &[0x5a; TBS_LEN],
        &mut rsa_sig,
    )
    .unwrap();
    let rsa_pub = UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        rsa.public_key().as_ref().to_vec(),
    );
    let raw_rsa = |msg: &[u8]| {
        rsa_pub.verify(msg, &rsa_sig).unwrap();
        let mut sig = vec![0u8; rsa.public_modulus_len()];
        rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
            .unwrap();
        black_box(sig);
    };
    bench_set(
        c,
        "rsa2048",
        KeyAlgorithm::Rsa2048,
        &rcgen::PKCS_RSA_SHA256,
        &raw_rsa,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = identity
}
criterion_main!(benches);

//! Property tests: round-trips (CA PEM save/load, CA directory, issue then
//! verify, envelopes), serial uniqueness, tampering always detected, and no
//! panic on mutated device input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;
use std::time::Duration as StdDuration;

use mdmkit_core::{DeviceId, TenantId};
use mdmkit_identity::time::{Duration, OffsetDateTime};
use mdmkit_identity::{
    CaBuilder, CaDir, CertificateRequest, EnvelopeSigner, IssueRequest, KeyAlgorithm, KeyId,
    Keyring, Payload, Signed, TenantCa, VerifyError,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

fn csr_pem() -> &'static str {
    static CSR: OnceLock<String> = OnceLock::new();
    CSR.get_or_init(|| {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec!["dev.example".to_string()])
            .unwrap()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap()
    })
}

fn ca() -> &'static TenantCa {
    static CA: OnceLock<TenantCa> = OnceLock::new();
    CA.get_or_init(|| {
        CaBuilder::new(TenantId::new("prop-tenant").unwrap())
            .intermediate(true)
            .build()
            .unwrap()
    })
}

fn cheap_alg() -> impl Strategy<Value = KeyAlgorithm> {
    prop_oneof![
        Just(KeyAlgorithm::P256),
        Just(KeyAlgorithm::P384),
        Just(KeyAlgorithm::Ed25519),
        Just(KeyAlgorithm::Rsa2048),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit_core::proptest_cases(12)))]

    #[test]
    fn ca_pem_save_then_load_gives_the_same_ca(
        alg in cheap_alg(),
        intermediate in any::<bool>(),
        tenant in "[A-Za-z0-9._-]{1,64}",
    ) {
        let ca = CaBuilder::new(TenantId::new(tenant.clone()).unwrap())
            .algorithm(alg)
            .intermediate(intermediate)
            .build()
            .unwrap();
        let pem = ca.to_pem();
        let back = TenantCa::from_pem(&pem).unwrap();
        prop_assert_eq!(back.tenant().as_str(), tenant.as_str());
        prop_assert_eq!(back.to_pem(), pem);
        // The loaded CA issues certificates the original's verifier accepts.
        let csr = CertificateRequest::parse(csr_pem().as_bytes()).unwrap();
        let cert = back.issue(&csr, &IssueRequest::new(DeviceId::new("d").unwrap())).unwrap();
        prop_assert!(ca.verifier().verify(cert.pem.as_bytes(), OffsetDateTime::now_utc()).is_ok());
    }

    #[test]
    fn ca_directory_round_trips(alg in cheap_alg(), intermediate in any::<bool>()) {
        let tmp = tempfile::tempdir().unwrap();
        let ca = CaBuilder::new(TenantId::new("dir-t").unwrap())
            .algorithm(alg)
            .intermediate(intermediate)
            .build()
            .unwrap();
        let dir = CaDir::create(tmp.path().join("ca"), &ca).unwrap();
        prop_assert_eq!(dir.load_ca().unwrap().to_pem(), ca.to_pem());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit_core::proptest_cases(64)))]

    #[test]
    fn issued_certificate_verifies_as_its_tenant_and_device(
        device in "[A-Za-z0-9._~:@/+=-]{1,255}",
        days in 1u32..=3000,
    ) {
        let csr = CertificateRequest::parse(csr_pem().as_bytes()).unwrap();
        let device = DeviceId::new(device).unwrap();
        let cert = ca().issue(&csr, &IssueRequest::new(device.clone()).days(days)).unwrap();
        let id = ca().verifier().verify(cert.pem.as_bytes(), OffsetDateTime::now_utc()).unwrap();
        prop_assert_eq!(&id.device_id, &device);
        prop_assert_eq!(id.tenant.as_str(), "prop-tenant");
        prop_assert_eq!(&id.serial, &cert.serial);
        prop_assert_eq!(id.sha256, cert.sha256);
        prop_assert_eq!(id.not_after, cert.not_after);
        // DER and PEM presentations verify the same.
        let again = ca().verifier().verify(&cert.der, OffsetDateTime::now_utc()).unwrap();
        prop_assert_eq!(again, id);
    }

    #[test]
    fn needs_renewal_iff_the_window_reaches_not_after(offset_h in -10_000i64..10_000, window_h in 0u64..5_000) {
        let csr = CertificateRequest::parse(csr_pem().as_bytes()).unwrap();
        let cert = ca().issue(&csr, &IssueRequest::new(DeviceId::new("r").unwrap())).unwrap();
        let id = ca().verifier().verify(&cert.der, OffsetDateTime::now_utc()).unwrap();
        let now = id.not_after + Duration::hours(offset_h);
        let window = StdDuration::from_secs(window_h * 3600);
        prop_assert_eq!(
            id.needs_renewal(now, window),
            now + Duration::hours(window_h as i64) >= id.not_after
        );
    }

    #[test]
    fn mutated_certificates_never_panic_and_never_verify_as_another_device(
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let csr = CertificateRequest::parse(csr_pem().as_bytes()).unwrap();
        let cert = ca().issue(&csr, &IssueRequest::new(DeviceId::new("m").unwrap())).unwrap();
        let mut der = cert.der.clone();
        let i = pos.index(der.len());
        let changed = der[i] != byte;
        der[i] = byte;
        match ca().verifier().verify(&der, OffsetDateTime::now_utc()) {
            Ok(id) => {
                // Only bytes outside the signed part may change harmlessly.
                prop_assert_eq!(id.device_id.as_str(), "m");
                prop_assert!(!changed || id.sha256 != cert.sha256);
            }
            Err(_) => prop_assert!(changed),
        }
    }

    #[test]
    fn mutated_csrs_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut der = CertificateRequest::parse(csr_pem().as_bytes()).unwrap().der().to_vec();
        let i = pos.index(der.len());
        der[i] = byte;
        let _ = CertificateRequest::parse(&der);
    }
}

#[test]
fn serials_of_many_issued_certificates_are_unique() {
    let csr = CertificateRequest::parse(csr_pem().as_bytes()).unwrap();
    let mut seen = HashSet::new();
    for i in 0..500 {
        let cert = ca()
            .issue(
                &csr,
                &IssueRequest::new(DeviceId::new(format!("d{i}")).unwrap()),
            )
            .unwrap();
        assert!(
            seen.insert(cert.serial.clone()),
            "duplicate serial {}",
            cert.serial
        );
        assert!(cert.serial.as_bytes().len() <= 16);
    }
}

#[test]
fn reissue_keeps_the_device_identity_with_a_new_serial() {
    let csr = CertificateRequest::parse(csr_pem().as_bytes()).unwrap();
    let first = ca()
        .issue(&csr, &IssueRequest::new(DeviceId::new("renew-me").unwrap()))
        .unwrap();
    let id = ca()
        .verifier()
        .verify(&first.der, OffsetDateTime::now_utc())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let fresh = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap();
    let fresh = CertificateRequest::parse(fresh.der()).unwrap();
    let second = ca().reissue(&id, &fresh, 90).unwrap();
    let id2 = ca()
        .verifier()
        .verify(&second.der, OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(id2.device_id, id.device_id);
    assert_ne!(id2.serial, id.serial);

    let other = CaBuilder::new(TenantId::new("other").unwrap())
        .build()
        .unwrap();
    assert!(other.reissue(&id, &fresh, 90).is_err());
}

#[test]
fn not_yet_valid_certificate_is_refused() {
    let csr = CertificateRequest::parse(csr_pem().as_bytes()).unwrap();
    let cert = ca()
        .issue(
            &csr,
            &IssueRequest::new(DeviceId::new("future").unwrap())
                .not_before(OffsetDateTime::now_utc() + Duration::days(2)),
        )
        .unwrap();
    assert!(matches!(
        ca().verifier().verify(&cert.der, OffsetDateTime::now_utc()),
        Err(VerifyError::NotYetValid { .. })
    ));
}

#[test]
fn certificate_outliving_its_ca_is_refused_at_issuance() {
    let short = CaBuilder::new(TenantId::new("short").unwrap())
        .days(10)
        .build()
        .unwrap();
    let csr = CertificateRequest::parse(csr_pem().as_bytes()).unwrap();
    assert!(
        short
            .issue(
                &csr,
                &IssueRequest::new(DeviceId::new("d").unwrap()).days(365)
            )
            .is_err()
    );
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    actor: String,
    seq: u64,
    fields: BTreeMap<String, String>,
    flags: Vec<bool>,
    delta: i64,
}

impl Payload for Entry {
    const KIND: &'static str = "audit-entry";
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        any::<String>(),
        any::<u64>(),
        prop::collection::btree_map(any::<String>(), any::<String>(), 0..6),
        prop::collection::vec(any::<bool>(), 0..4),
        any::<i64>(),
    )
        .prop_map(|(actor, seq, fields, flags, delta)| Entry {
            actor,
            seq,
            fields,
            flags,
            delta,
        })
}

proptest! {
    #[test]
    fn envelopes_verify_after_a_json_round_trip(e in entry(), seed in any::<[u8; 32]>()) {
        let signer = EnvelopeSigner::from_seed(KeyId::new("k1").unwrap(), seed);
        let mut ring = Keyring::new();
        ring.insert(signer.id().clone(), signer.public_key()).unwrap();
        let env = signer.sign(&e).unwrap();
        let wire = serde_json::to_string(&env).unwrap();
        let back: Signed<Entry> = serde_json::from_str(&wire).unwrap();
        prop_assert_eq!(back.verify(&ring).unwrap(), e.clone());
        // Signing is deterministic: same value, same envelope.
        prop_assert_eq!(signer.sign(&e).unwrap(), env);
    }

    #[test]
    fn any_flipped_bit_in_payload_or_signature_fails(
        e in entry(),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
        in_signature in any::<bool>(),
    ) {
        let signer = EnvelopeSigner::from_seed(KeyId::new("k1").unwrap(), [9; 32]);
        let mut ring = Keyring::new();
        ring.insert(signer.id().clone(), signer.public_key()).unwrap();
        let env = signer.sign(&e).unwrap();
        let mut wire: serde_json::Value = serde_json::to_value(&env).unwrap();
        if in_signature {
            let mut sig = env.signature().to_vec();
            let i = pos.index(sig.len());
            sig[i] ^= 1 << bit;
            wire["signature"] = sig.iter().map(|b| format!("{b:02x}")).collect::<String>().into();
        } else {
            let mut p = env.payload().as_bytes().to_vec();
            let i = pos.index(p.len());
            p[i] ^= 1 << bit;
            let Ok(p) = String::from_utf8(p) else { return Ok(()) };
            wire["payload"] = p.into();
        }
        let tampered: Signed<Entry> = serde_json::from_value(wire).unwrap();
        prop_assert!(tampered.verify(&ring).is_err());
    }
}

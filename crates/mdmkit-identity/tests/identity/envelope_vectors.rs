//! Committed test vectors that pin the signed-envelope encoding (see
//! `mdmkit_identity::envelope`). If one of these changes, every signature
//! stored by a deployment stops verifying: do not "fix" the expected values,
//! fix the code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use mdmkit_identity::envelope::{canonical_json, signed_message};
use mdmkit_identity::{EnvelopeError, EnvelopeSigner, KeyId, Keyring, Payload, PublicKey, Signed};
use serde::{Deserialize, Serialize};

/// RFC 8032 seed of the vector key: the bytes 0x00, 0x01, ..., 0x1f.
const SEED: [u8; 32] = {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        s[i] = i as u8;
        i += 1;
    }
    s
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Layer {
    tenant: String,
    version: u64,
    settings: BTreeMap<String, serde_json::Value>,
    note: String,
}

impl Payload for Layer {
    const KIND: &'static str = "policy-layer";
}

fn layer() -> Layer {
    let mut settings = BTreeMap::new();
    settings.insert("passcode.minLength".to_owned(), serde_json::json!(6));
    settings.insert("camera.allowed".to_owned(), serde_json::json!(false));
    settings.insert(
        "wifi".to_owned(),
        serde_json::json!({"ssid": "École", "hidden": true}),
    );
    Layer {
        tenant: "town-7".into(),
        version: 3,
        settings,
        note: "line1\nline2 \"quoted\"".into(),
    }
}

fn signer() -> EnvelopeSigner {
    EnvelopeSigner::from_seed(KeyId::new("town-7-policy-2026").unwrap(), SEED)
}

/// Checked independently: `openssl pkeyutl -sign -rawin` with the PKCS#8
/// key `302e020100300506032b657004220420 || SEED` gives the same signature.
const PUBLIC_KEY_HEX: &str = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
const CANONICAL_PAYLOAD: &str = r#"{"note":"line1\nline2 \"quoted\"","settings":{"camera.allowed":false,"passcode.minLength":6,"wifi":{"hidden":true,"ssid":"École"}},"tenant":"town-7","version":3}"#;
const SIGNED_MESSAGE_HEX: &str = "6d646d6b69742d7369676e65642d76310a706f6c6963792d6c617965720a746f776e2d372d706f6c6963792d323032360a7b226e6f7465223a226c696e65315c6e6c696e6532205c2271756f7465645c22222c2273657474696e6773223a7b2263616d6572612e616c6c6f776564223a66616c73652c2270617373636f64652e6d696e4c656e677468223a362c2277696669223a7b2268696464656e223a747275652c2273736964223a22c389636f6c65227d7d2c2274656e616e74223a22746f776e2d37222c2276657273696f6e223a337d";
const SIGNATURE_HEX: &str = "7116f9d43ebbf3f013f0108b0cd3f251b81ca427583665c61e1149a85a511d2211e7c10f1bcebe2d56b8270244f161be6eedfca44b7b9ab1fcaa463b90885c07";
const WIRE_JSON: &str = r#"{"kind":"policy-layer","key_id":"town-7-policy-2026","payload":"{\"note\":\"line1\\nline2 \\\"quoted\\\"\",\"settings\":{\"camera.allowed\":false,\"passcode.minLength\":6,\"wifi\":{\"hidden\":true,\"ssid\":\"École\"}},\"tenant\":\"town-7\",\"version\":3}","signature":"7116f9d43ebbf3f013f0108b0cd3f251b81ca427583665c61e1149a85a511d2211e7c10f1bcebe2d56b8270244f161be6eedfca44b7b9ab1fcaa463b90885c07"}"#;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn keyring() -> Keyring {
    let mut k = Keyring::new();
    k.insert(signer().id().clone(), signer().public_key())
        .unwrap();
    k
}

#[test]
fn fixed_seed_key_has_the_pinned_public_key() {
    assert_eq!(signer().public_key().to_hex(), PUBLIC_KEY_HEX);
    assert_eq!(
        PublicKey::from_hex(PUBLIC_KEY_HEX).unwrap(),
        signer().public_key()
    );
}

#[test]
fn canonical_payload_sorts_keys_and_has_no_whitespace() {
    let env = signer().sign(&layer()).unwrap();
    assert_eq!(env.payload(), CANONICAL_PAYLOAD);
    assert_eq!(
        canonical_json(&serde_json::from_str(CANONICAL_PAYLOAD).unwrap()),
        CANONICAL_PAYLOAD
    );
}

#[test]
fn signed_message_and_signature_match_the_vectors() {
    let s = signer();
    let env = s.sign(&layer()).unwrap();
    assert_eq!(
        hex(&signed_message("policy-layer", s.id(), env.payload())),
        SIGNED_MESSAGE_HEX
    );
    assert_eq!(hex(env.signature()), SIGNATURE_HEX);
}

#[test]
fn wire_form_is_pinned_and_verifies_after_a_round_trip() {
    let env = signer().sign(&layer()).unwrap();
    assert_eq!(serde_json::to_string(&env).unwrap(), WIRE_JSON);
    let back: Signed<Layer> = serde_json::from_str(WIRE_JSON).unwrap();
    assert_eq!(back, env);
    assert_eq!(back.verify(&keyring()).unwrap(), layer());
}

#[test]
fn any_changed_field_fails_verification() {
    let wire: serde_json::Value = serde_json::from_str(WIRE_JSON).unwrap();
    let tamper = |field: &str, value: &str| {
        let mut w = wire.clone();
        w[field] = serde_json::Value::String(value.to_owned());
        serde_json::from_value::<Signed<Layer>>(w).map(|e| e.verify(&keyring()))
    };
    let payload = CANONICAL_PAYLOAD.replace("\"version\":3", "\"version\":4");
    assert_eq!(
        tamper("payload", &payload).unwrap(),
        Err(EnvelopeError::BadSignature)
    );
    let mut sig = SIGNATURE_HEX.to_owned();
    sig.replace_range(0..2, "00");
    assert_eq!(
        tamper("signature", &sig).unwrap(),
        Err(EnvelopeError::BadSignature)
    );
    assert!(matches!(
        tamper("kind", "audit-entry").unwrap(),
        Err(EnvelopeError::WrongKind { .. })
    ));
    assert!(matches!(
        tamper("key_id", "someone-else").unwrap(),
        Err(EnvelopeError::UnknownKey { .. })
    ));
    assert!(tamper("signature", "abc").is_err());
    assert!(tamper("key_id", "bad id").is_err());
}

#[test]
fn validly_signed_but_non_canonical_payload_is_refused() {
    use ed25519_dalek::Signer as _;
    let key = ed25519_dalek::SigningKey::from_bytes(&SEED);
    let id = signer().id().clone();
    let payload = r#"{"version":3,"tenant":"town-7","settings":{},"note":""}"#;
    let sig = key
        .sign(&signed_message("policy-layer", &id, payload))
        .to_bytes();
    let wire = serde_json::json!({
        "kind": "policy-layer",
        "key_id": id.as_str(),
        "payload": payload,
        "signature": hex(&sig),
    });
    let env: Signed<Layer> = serde_json::from_value(wire).unwrap();
    assert_eq!(env.verify(&keyring()), Err(EnvelopeError::NotCanonical));
}

#[test]
fn removed_key_no_longer_verifies() {
    let env = signer().sign(&layer()).unwrap();
    let mut k = keyring();
    assert!(k.remove(signer().id()));
    assert!(matches!(
        env.verify(&k),
        Err(EnvelopeError::UnknownKey { .. })
    ));
}

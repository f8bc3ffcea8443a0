//! Ed25519 signed envelopes: a payload in canonical JSON, the id of the key
//! that signed it, and the signature.
//!
//! Later parts of mdmkit sign policy layers and audit journal entries with
//! them, so a value read back from storage is known to be what an
//! authorised writer wrote.
//!
//! # Canonical encoding
//!
//! The payload is the value serialised with serde into JSON, then written
//! canonically:
//!
//! - no insignificant whitespace;
//! - object members sorted by key, comparing the keys' UTF-8 bytes;
//! - strings escaped as serde_json does: `"` and `\` escaped, control
//!   characters as `\n`, `\t`, ... or `\u00XX`, everything else (including
//!   non-ASCII) as raw UTF-8;
//! - integers in decimal without a plus sign or leading zeros; floats in
//!   serde_json's shortest round-trip form (avoid floats in signed payloads).
//!
//! The signature is Ed25519 (RFC 8032, verified strictly) over
//!
//! ```text
//! "mdmkit-signed-v1\n" || kind || "\n" || key_id || "\n" || payload
//! ```
//!
//! where `kind` names the payload type ([`Payload::KIND`]) so that a signed
//! policy layer can never be replayed as, say, an audit entry. The committed
//! test vectors in `tests/identity/envelope_vectors.rs` pin all of this.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decode;
use crate::error::EnvelopeError;

/// The domain-separation prefix of every signed message.
pub const SIGNED_PREFIX: &[u8] = b"mdmkit-signed-v1\n";
/// The largest payload accepted, in bytes.
pub const MAX_PAYLOAD_LEN: usize = 4 * 1024 * 1024;

/// A value that can travel in a [`Signed`] envelope.
pub trait Payload: Serialize + DeserializeOwned {
    /// What the payload is (`policy-layer`, `audit-entry`, ...): signed
    /// along with it. 1 to 64 bytes, no newline.
    const KIND: &'static str;
}

fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The name of a signing key in a [`Keyring`]: 1 to 64 ASCII letters,
/// digits, `-`, `_` and `.`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// Validates a key id.
    pub fn new(s: impl Into<String>) -> Result<Self, EnvelopeError> {
        let s = s.into();
        if valid_label(&s) {
            Ok(Self(s))
        } else {
            Err(EnvelopeError::BadKeyId(s))
        }
    }

    /// The id derived from a public key: `ed25519-` and the first 8 bytes
    /// of the SHA-256 of the key, in hex.
    pub fn of(key: &PublicKey) -> Self {
        Self(format!(
            "ed25519-{}",
            decode::hex(&decode::sha256(&key.0)[..8])
        ))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:?})", self.0)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        KeyId::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 public key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        decode::hex(&self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Result<Self, EnvelopeError> {
        let bytes = decode::unhex(s).ok_or(EnvelopeError::BadPublicKey)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| EnvelopeError::BadPublicKey)?;
        Ok(Self(arr))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// A named Ed25519 signing key.
pub struct EnvelopeSigner {
    id: KeyId,
    key: SigningKey,
}

impl fmt::Debug for EnvelopeSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeSigner")
            .field("id", &self.id)
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl EnvelopeSigner {
    /// The key whose 32-byte RFC 8032 seed is `seed`.
    pub fn from_seed(id: KeyId, seed: [u8; 32]) -> Self {
        Self {
            id,
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// A fresh random key named after its public key ([`KeyId::of`]).
    pub fn generate() -> Result<Self, EnvelopeError> {
        let mut seed = [0u8; 32];
        aws_lc_rs::rand::fill(&mut seed).map_err(|_| EnvelopeError::Encode {
            reason: "the system random number generator failed".into(),
        })?;
        let key = SigningKey::from_bytes(&seed);
        let id = KeyId::of(&PublicKey(key.verifying_key().to_bytes()));
        Ok(Self { id, key })
    }

    /// The 32-byte seed, to store the key (keep it secret).
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key's id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The public half, for a [`Keyring`].
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key().to_bytes())
    }

    /// Signs `value`.
    pub fn sign<T: Payload>(&self, value: &T) -> Result<Signed<T>, EnvelopeError> {
        if !valid_label(T::KIND) {
            return Err(EnvelopeError::Encode {
                reason: format!("payload kind {:?} is not a valid label", T::KIND),
            });
        }
        let json = serde_json::to_value(value).map_err(|e| EnvelopeError::Encode {
            reason: e.to_string(),
        })?;
        let payload = canonical_json(&json);
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(EnvelopeError::TooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        let msg = signed_message(T::KIND, &self.id, &payload);
        let signature = self.key.sign(&msg).to_bytes();
        Ok(Signed {
            kind: T::KIND.to_owned(),
            key_id: self.id.clone(),
            payload,
            signature,
            _payload: PhantomData,
        })
    }
}

/// The exact bytes an envelope's signature covers.
pub fn signed_message(kind: &str, key_id: &KeyId, payload: &str) -> Vec<u8> {
    let mut m =
        Vec::with_capacity(SIGNED_PREFIX.len() + kind.len() + key_id.0.len() + payload.len() + 2);
    m.extend_from_slice(SIGNED_PREFIX);
    m.extend_from_slice(kind.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(key_id.0.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(payload.as_bytes());
    m
}

/// Writes `value` in the canonical encoding described in the module docs.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's string escaping is the documented one; it cannot fail
    // for a &str.
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

/// A signed value of type `T`.
///
/// Serialises as `{"kind":..,"key_id":..,"payload":..,"signature":..}` with
/// the payload as its canonical JSON text and the signature as 128 hex
/// digits.
pub struct Signed<T> {
    kind: String,
    key_id: KeyId,
    payload: String,
    signature: [u8; 64],
    _payload: PhantomData<fn() -> T>,
}

impl<T> Clone for Signed<T> {
    fn clone(&self) -> Self {
        Self {
            kind: self.kind.clone(),
            key_id: self.key_id.clone(),
            payload: self.payload.clone(),
            signature: self.signature,
            _payload: PhantomData,
        }
    }
}

impl<T> PartialEq for Signed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.key_id == other.key_id
            && self.payload == other.payload
            && self.signature == other.signature
    }
}

impl<T> Eq for Signed<T> {}

impl<T> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("kind", &self.kind)
            .field("key_id", &self.key_id)
            .field("payload", &self.payload)
            .field("signature", &decode::hex(&self.signature))
            .finish()
    }
}

impl<T> Signed<T> {
    /// The payload kind recorded in the envelope.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The signing key's id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The canonical payload bytes.
    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// The 64-byte Ed25519 signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
}

impl<T: Payload> Signed<T> {
    /// Checks the signature against `keyring` and decodes the payload.
    pub fn verify(&self, keyring: &Keyring) -> Result<T, EnvelopeError> {
        keyring.verify(self)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    kind: String,
    key_id: KeyId,
    payload: String,
    signature: String,
}

impl<T> Serialize for Signed<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            kind: self.kind.clone(),
            key_id: self.key_id.clone(),
            payload: self.payload.clone(),
            signature: decode::hex(&self.signature),
        }
        .serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Signed<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let signature = parse_signature(&w.signature).map_err(serde::de::Error::custom)?;
        Ok(Self {
            kind: w.kind,
            key_id: w.key_id,
            payload: w.payload,
            signature,
            _payload: PhantomData,
        })
    }
}

fn parse_signature(s: &str) -> Result<[u8; 64], EnvelopeError> {
    let bytes = decode::unhex(s).ok_or_else(|| EnvelopeError::MalformedSignature {
        reason: "not hex".into(),
    })?;
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| EnvelopeError::MalformedSignature {
            reason: format!("{len} bytes, expected 64"),
        })
}

/// The public keys trusted to sign envelopes, by id.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<KeyId, VerifyingKey>,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `key` under `id` (replacing any key of that id).
    pub fn insert(&mut self, id: KeyId, key: PublicKey) -> Result<&mut Self, EnvelopeError> {
        let vk = VerifyingKey::from_bytes(&key.0).map_err(|_| EnvelopeError::BadPublicKey)?;
        if vk.is_weak() {
            return Err(EnvelopeError::BadPublicKey);
        }
        self.keys.insert(id, vk);
        Ok(self)
    }

    /// Stops trusting `id`; true if it was trusted.
    pub fn remove(&mut self, id: &KeyId) -> bool {
        self.keys.remove(id).is_some()
    }

    /// Whether `id` is trusted.
    pub fn contains(&self, id: &KeyId) -> bool {
        self.keys.contains_key(id)
    }

    /// Checks `signed` and decodes its payload.
    pub fn verify<T: Payload>(&self, signed: &Signed<T>) -> Result<T, EnvelopeError> {
        if signed.payload.len() > MAX_PAYLOAD_LEN {
            return Err(EnvelopeError::TooLarge {
                len: signed.payload.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        if signed.kind != T::KIND {
            return Err(EnvelopeError::WrongKind {
                expected: T::KIND.to_owned(),
                found: signed.kind.clone(),
            });
        }
        let key = self
            .keys
            .get(&signed.key_id)
            .ok_or_else(|| EnvelopeError::UnknownKey {
                key_id: signed.key_id.to_string(),
            })?;
        let msg = signed_message(&signed.kind, &signed.key_id, &signed.payload);
        key.verify_strict(&msg, &Signature::from_bytes(&signed.signature))
            .map_err(|_| EnvelopeError::BadSignature)?;
        let value: Value =
            serde_json::from_str(&signed.payload).map_err(|e| EnvelopeError::Payload {
                reason: e.to_string(),
            })?;
        if canonical_json(&value) != signed.payload {
            return Err(EnvelopeError::NotCanonical);
        }
        serde_json::from_value(value).map_err(|e| EnvelopeError::Payload {
            reason: e.to_string(),
        })
    }
}

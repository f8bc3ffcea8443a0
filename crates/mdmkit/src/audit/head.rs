//! Journal heads kept outside the journal: what makes a journal cut short
//! evident.
//!
//! A hash chain shows any change to the entries it holds, but not entries
//! cut off its end together with their checkpoints. So each head the
//! writer reaches is also kept where the journal's writer cannot rewrite
//! it unnoticed:
//!
//! - [`JournalHead`]: the last entry's sequence number and hash, recorded
//!   by the reconciler in its state store in the same transaction as the
//!   state that follows from the entries (`StateBatch::journal_head`);
//! - [`SignedHead`]: a checkpoint's signature over a head, recorded in the
//!   store too and exportable (`mdmkit audit head`) for an operator to keep
//!   elsewhere.
//!
//! `verify_with` takes both as anchors: the journal must still hold the
//! entry each names, with that hash ([`super::Corruption::Truncated`]
//! otherwise).

use mdmkit_identity::{EnvelopeError, Keyring, Signed};
use serde::{Deserialize, Serialize};

use super::event::CheckpointPayload;
use super::verify::Anchor;
use super::{AuditError, Corruption};

/// The last entry of a journal as a writer left it: its sequence number
/// and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JournalHead {
    /// The entry's sequence number.
    pub seq: u64,
    /// Its hash (lower-case hex SHA-256).
    pub hash: String,
}

impl JournalHead {
    /// The head at entry `seq` of hash `hash`.
    pub fn new(seq: u64, hash: impl Into<String>) -> Self {
        Self {
            seq,
            hash: hash.into(),
        }
    }

    /// The anchor a verification checks for this head.
    pub fn anchor(&self) -> Anchor {
        Anchor::new(self.seq, self.hash.clone())
    }
}

/// A checkpoint's signed statement "the journal's entry `seq` has hash
/// `hash`", as kept outside the journal.
///
/// Its JSON form (what `mdmkit audit head` writes) is
/// `{"seq":..,"hash":..,"signed":<envelope>}`; `seq` and `hash` repeat the
/// signed payload for people and are checked against it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SignedHead {
    /// The signed entry's sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// The checkpoint's envelope.
    pub signed: Signed<CheckpointPayload>,
}

/// Two heads are equal when they sign the same entry with the same key.
impl PartialEq for SignedHead {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
            && self.hash == other.hash
            && self.signed.payload() == other.signed.payload()
            && self.signed.key_id() == other.signed.key_id()
    }
}

impl Eq for SignedHead {}

/// The largest exported head read, in bytes.
pub const MAX_SIGNED_HEAD_BYTES: usize = 16 * 1024;

impl SignedHead {
    /// The head a checkpoint envelope signs. Its payload is read without
    /// checking the signature ([`SignedHead::verify`] does).
    pub fn from_signed(signed: Signed<CheckpointPayload>) -> Result<Self, AuditError> {
        let payload: CheckpointPayload =
            serde_json::from_str(signed.payload()).map_err(|e| AuditError::BadHead {
                reason: format!("the checkpoint's payload does not parse: {e}"),
            })?;
        Ok(Self {
            seq: payload.seq,
            hash: payload.head,
            signed,
        })
    }

    /// Reads an exported head (its JSON form), at most
    /// [`MAX_SIGNED_HEAD_BYTES`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, AuditError> {
        if bytes.len() > MAX_SIGNED_HEAD_BYTES {
            return Err(AuditError::BadHead {
                reason: format!("larger than {MAX_SIGNED_HEAD_BYTES} bytes"),
            });
        }
        serde_json::from_slice(bytes).map_err(|e| AuditError::BadHead {
            reason: format!("not a signed head: {e}"),
        })
    }

    /// Its JSON form.
    pub fn to_json(&self) -> Result<String, AuditError> {
        serde_json::to_string(self).map_err(AuditError::Encode)
    }

    /// Checks the signature with `keyring` and that `seq` and `hash` are
    /// the signed ones; returns the anchor the journal must hold.
    pub fn verify(&self, keyring: &Keyring) -> Result<Anchor, Corruption> {
        let key = self.signed.key_id().to_string();
        let payload = keyring.verify(&self.signed).map_err(|err| match err {
            EnvelopeError::UnknownKey { key_id } => Corruption::UnknownKey { key: key_id },
            EnvelopeError::BadSignature => Corruption::BadSignature { key: key.clone() },
            other => Corruption::BadCheckpoint {
                reason: other.to_string(),
            },
        })?;
        if payload.seq != self.seq || payload.head != self.hash {
            return Err(Corruption::BadCheckpoint {
                reason: format!(
                    "the head says entry {} but its signature covers entry {}",
                    self.seq, payload.seq
                ),
            });
        }
        Ok(Anchor::new(payload.seq, payload.head))
    }
}

//! The writer's side of the hash chain, whatever holds the lines: the next
//! sequence number, the head, when the next checkpoint is due, and the
//! encoding of entries and signed checkpoints. The file journal
//! ([`super::Journal`]) and the PostgreSQL journal share it, so both write
//! the same lines.

use mdmkit_identity::EnvelopeSigner;

use super::AuditError;
use super::entry::{self, Entry, GENESIS};
use super::event::{CheckpointPayload, Event};
use super::head::{JournalHead, SignedHead};
use super::journal::JournalOptions;
use crate::signing::now_rfc3339;

/// The chain state and the key that signs it.
#[derive(Debug)]
pub(crate) struct Chain {
    signer: EnvelopeSigner,
    pub(crate) options: JournalOptions,
    next_seq: u64,
    head: String,
    since_checkpoint: u64,
    /// The last checkpoint written or found at the end.
    signed: Option<SignedHead>,
}

/// The chain state an encoding may have to undo.
pub(crate) struct Saved {
    next_seq: u64,
    head: String,
    since_checkpoint: u64,
    signed: Option<SignedHead>,
}

impl Chain {
    /// An empty chain.
    pub(crate) fn new(signer: EnvelopeSigner, options: JournalOptions) -> Self {
        Self {
            signer,
            options,
            next_seq: 1,
            head: GENESIS.to_owned(),
            since_checkpoint: 0,
            signed: None,
        }
    }

    /// The next entry's sequence number.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The last entry's sequence number and hash; `None` when empty.
    pub(crate) fn head(&self) -> Option<(u64, &str)> {
        (self.next_seq > 1).then(|| (self.next_seq - 1, self.head.as_str()))
    }

    /// The last entry as a [`JournalHead`].
    pub(crate) fn journal_head(&self) -> Option<JournalHead> {
        self.head().map(|(seq, hash)| JournalHead::new(seq, hash))
    }

    /// The last checkpoint.
    pub(crate) fn signed_head(&self) -> Option<&SignedHead> {
        self.signed.as_ref()
    }

    /// Whether entries were written since the last checkpoint.
    pub(crate) fn unsigned(&self) -> bool {
        self.next_seq > 1 && self.since_checkpoint > 0
    }

    pub(crate) fn save(&self) -> Saved {
        Saved {
            next_seq: self.next_seq,
            head: self.head.clone(),
            since_checkpoint: self.since_checkpoint,
            signed: self.signed.clone(),
        }
    }

    pub(crate) fn restore(&mut self, saved: Saved) {
        self.next_seq = saved.next_seq;
        self.head = saved.head;
        self.since_checkpoint = saved.since_checkpoint;
        self.signed = saved.signed;
    }

    /// Follows the storage's last entry (`None`: the storage is empty):
    /// when the chain was just opened (`fresh`), or another writer
    /// appended.
    pub(crate) fn follow(&mut self, last: Option<Entry>, fresh: bool) {
        let known_seq = self.next_seq - 1;
        match last {
            Some(e) => {
                self.next_seq = e.seq + 1;
                self.head = e.hash;
                self.since_checkpoint = match e.event {
                    Event::Checkpoint { signed } => {
                        // A checkpoint's payload is checked by `verify`;
                        // one that does not parse is simply not a head.
                        self.signed = SignedHead::from_signed(signed).ok();
                        0
                    }
                    // How long ago the last checkpoint was is not known
                    // without a scan: a journal opened on one that does not
                    // end with one gets one soon.
                    _ if fresh => self.options.checkpoint_every.saturating_sub(1).max(1),
                    // Another writer appended: count its entries as if none
                    // was a checkpoint (at worst, a checkpoint comes early).
                    _ => self
                        .since_checkpoint
                        .saturating_add(e.seq.saturating_sub(known_seq))
                        .max(1),
                };
            }
            None => {
                self.next_seq = 1;
                self.head = GENESIS.to_owned();
                self.since_checkpoint = 0;
            }
        }
    }

    /// Encodes one entry into `out` (a line with its newline); returns its
    /// sequence number.
    pub(crate) fn encode_one(
        &mut self,
        event: &Event,
        out: &mut String,
    ) -> Result<u64, AuditError> {
        let seq = self.next_seq;
        let time = now_rfc3339();
        let (hash, line) =
            entry::encode(seq, &time, &self.head, event).map_err(AuditError::Encode)?;
        if line.len() - 1 > self.options.max_line_bytes {
            return Err(AuditError::EntryTooLarge {
                len: line.len() - 1,
                max: self.options.max_line_bytes,
            });
        }
        out.push_str(&line);
        self.next_seq += 1;
        self.head = hash;
        if matches!(event, Event::Checkpoint { .. }) {
            self.since_checkpoint = 0;
        } else {
            self.since_checkpoint += 1;
        }
        Ok(seq)
    }

    /// Encodes a checkpoint signing the last entry.
    pub(crate) fn encode_checkpoint(&mut self, out: &mut String) -> Result<u64, AuditError> {
        let payload = CheckpointPayload::new(self.next_seq - 1, self.head.clone());
        let signed = self.signer.sign(&payload).map_err(AuditError::Sign)?;
        let head = SignedHead::from_signed(signed.clone())?;
        let seq = self.encode_one(&Event::Checkpoint { signed }, out)?;
        self.signed = Some(head);
        Ok(seq)
    }

    /// Encodes a checkpoint when one is due.
    pub(crate) fn encode_due_checkpoint(&mut self, out: &mut String) -> Result<(), AuditError> {
        let every = self.options.checkpoint_every;
        if every > 0 && self.since_checkpoint >= every {
            self.encode_checkpoint(out)?;
        }
        Ok(())
    }

    /// Encodes events in order (with the checkpoints that fall due);
    /// returns the last one's sequence number.
    pub(crate) fn encode_all<'e>(
        &mut self,
        events: impl IntoIterator<Item = &'e Event>,
        out: &mut String,
    ) -> Result<Option<u64>, AuditError> {
        let mut last = None;
        for event in events {
            last = Some(self.encode_one(event, out)?);
            self.encode_due_checkpoint(out)?;
        }
        Ok(last)
    }

    /// Encodes groups of events, each all or nothing: a group that cannot
    /// be encoded leaves neither lines nor chain state behind, and its
    /// error takes its place in the list.
    pub(crate) fn encode_groups(
        &mut self,
        groups: &[Vec<Event>],
        out: &mut String,
    ) -> Vec<Result<Option<u64>, AuditError>> {
        let mut results = Vec::with_capacity(groups.len());
        for group in groups {
            let saved = self.save();
            let written = out.len();
            let encoded = self.encode_all(group, out);
            if encoded.is_err() {
                self.restore(saved);
                out.truncate(written);
            }
            results.push(encoded);
        }
        results
    }
}

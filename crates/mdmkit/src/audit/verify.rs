//! Checking a journal: the chain, the sequence, the checkpoints' signatures.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use mdmkit_identity::{EnvelopeError, Keyring};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::entry::{self, GENESIS};
use super::event::Event;
use super::head::SignedHead;
use super::{AuditError, Corruption, MAX_FILE_BYTES, MAX_LINE_BYTES};

/// An entry known from elsewhere (a checkpoint copied off the machine, a
/// console's last view): the journal must still contain it, unchanged.
/// This is what catches a journal cut short or rewritten after its last
/// checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Anchor {
    /// The entry's sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

impl Anchor {
    /// An anchor at `seq` with `hash`.
    pub fn new(seq: u64, hash: impl Into<String>) -> Self {
        Self {
            seq,
            hash: hash.into(),
        }
    }
}

/// Limits and expectations of [`verify_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The longest line accepted, in bytes.
    pub max_line_bytes: usize,
    /// The largest journal accepted, in bytes.
    pub max_file_bytes: u64,
    /// Entries the journal must contain (a head kept in a store, noted by
    /// an operator).
    pub anchors: Vec<Anchor>,
    /// Signed heads the journal must contain: each signature is checked
    /// against the keyring first.
    pub signed_heads: Vec<SignedHead>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            max_line_bytes: MAX_LINE_BYTES,
            max_file_bytes: MAX_FILE_BYTES,
            anchors: Vec::new(),
            signed_heads: Vec::new(),
        }
    }
}

impl VerifyOptions {
    /// The same options with one more anchor.
    #[must_use]
    pub fn with_anchor(mut self, anchor: Anchor) -> Self {
        self.anchors.push(anchor);
        self
    }

    /// The same options with one more signed head.
    #[must_use]
    pub fn with_signed_head(mut self, head: SignedHead) -> Self {
        self.signed_heads.push(head);
        self
    }

    /// The anchors, the signed heads' included (their signatures checked).
    pub(crate) fn all_anchors(&self, keyring: &Keyring) -> Result<Vec<Anchor>, AuditError> {
        let mut out = self.anchors.clone();
        for h in &self.signed_heads {
            out.push(h.verify(keyring).map_err(|c| AuditError::BadHead {
                reason: format!("the head of entry {}: {c}", h.seq),
            })?);
        }
        Ok(out)
    }
}

/// The last entry of a journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Head {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

/// What a valid journal holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Entries, checkpoints included.
    pub entries: u64,
    /// Checkpoint entries.
    pub checkpoints: u64,
    /// The last sequence number a checkpoint signs, if any.
    pub last_signed_seq: Option<u64>,
    /// Non-checkpoint entries after the last signed one: chained but not
    /// yet signed.
    pub unsigned_tail: u64,
    /// The last entry.
    pub head: Option<Head>,
    /// Bytes after the last newline: a write cut short by a crash
    /// (`Journal::open` cuts them off and records a `recovered` event).
    pub torn_tail_bytes: u64,
    /// `recovered` events: crashes the writer recovered from.
    pub recoveries: u64,
    /// The key ids that signed checkpoints.
    pub keys: Vec<String>,
    /// The last checkpoint's signed head: what to export and keep
    /// elsewhere (`mdmkit audit head`).
    pub signed_head: Option<SignedHead>,
}

/// Checks entries one line at a time.
pub(crate) struct Checker<'a> {
    keyring: &'a Keyring,
    anchors: &'a [Anchor],
    report: VerifyReport,
    prev: String,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(keyring: &'a Keyring, anchors: &'a [Anchor]) -> Self {
        Self {
            keyring,
            anchors,
            report: VerifyReport::default(),
            prev: GENESIS.to_owned(),
        }
    }

    /// Checks the next line (without its newline).
    pub(crate) fn feed(&mut self, line: &[u8]) -> Result<(), Corruption> {
        let e = entry::decode(line)?;
        let expected = self.report.entries + 1;
        if e.seq != expected {
            return Err(Corruption::SeqGap {
                expected,
                found: e.seq,
            });
        }
        if e.prev != self.prev {
            return Err(Corruption::BrokenLink {
                expected: self.prev.clone(),
                found: e.prev,
            });
        }
        if OffsetDateTime::parse(&e.time, &Rfc3339).is_err() {
            return Err(Corruption::BadTime { value: e.time });
        }
        match &e.event {
            Event::Checkpoint { signed } => {
                let key = signed.key_id().to_string();
                let payload = self.keyring.verify(signed).map_err(|err| match err {
                    EnvelopeError::UnknownKey { key_id } => Corruption::UnknownKey { key: key_id },
                    EnvelopeError::BadSignature => Corruption::BadSignature { key: key.clone() },
                    other => Corruption::BadCheckpoint {
                        reason: other.to_string(),
                    },
                })?;
                if payload.seq != e.seq - 1 || payload.head != e.prev {
                    return Err(Corruption::CheckpointMismatch {
                        signed_seq: payload.seq,
                        previous_seq: e.seq - 1,
                    });
                }
                self.report.checkpoints += 1;
                self.report.last_signed_seq = Some(payload.seq);
                self.report.signed_head = Some(SignedHead {
                    seq: payload.seq,
                    hash: payload.head,
                    signed: signed.clone(),
                });
                self.report.unsigned_tail = 0;
                if !self.report.keys.contains(&key) {
                    self.report.keys.push(key);
                }
            }
            Event::Recovered { .. } => {
                self.report.recoveries += 1;
                self.report.unsigned_tail += 1;
            }
            _ => self.report.unsigned_tail += 1,
        }
        if let Some(a) = self
            .anchors
            .iter()
            .find(|a| a.seq == e.seq && a.hash != e.hash)
        {
            return Err(Corruption::AnchorMismatch { seq: a.seq });
        }
        self.report.entries = e.seq;
        self.prev = e.hash.clone();
        self.report.head = Some(Head {
            seq: e.seq,
            hash: e.hash,
        });
        Ok(())
    }

    /// Ends the check; `torn` is what followed the last newline.
    pub(crate) fn finish(mut self, torn: u64) -> Result<VerifyReport, Corruption> {
        if let Some(a) = self.anchors.iter().max_by_key(|a| a.seq)
            && a.seq > self.report.entries
        {
            return Err(Corruption::Truncated {
                anchor_seq: a.seq,
                last_seq: self.report.entries,
            });
        }
        self.report.torn_tail_bytes = torn;
        Ok(self.report)
    }
}

/// Checks a journal held in memory (`path`-less: errors carry no file).
pub fn verify_bytes(
    bytes: &[u8],
    keyring: &Keyring,
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    let corrupt = |line: u64, reason| AuditError::Corrupt {
        path: None,
        line,
        reason,
    };
    if bytes.len() as u64 > options.max_file_bytes {
        return Err(AuditError::TooLarge {
            path: None,
            max: options.max_file_bytes,
        });
    }
    let anchors = options.all_anchors(keyring)?;
    let mut checker = Checker::new(keyring, &anchors);
    let mut rest = bytes;
    let mut n = 0u64;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        n += 1;
        let line = &rest[..end];
        if line.len() > options.max_line_bytes {
            return Err(corrupt(
                n,
                Corruption::LineTooLong {
                    max: options.max_line_bytes,
                },
            ));
        }
        checker.feed(line).map_err(|r| corrupt(n, r))?;
        rest = &rest[end + 1..];
    }
    checker
        .finish(rest.len() as u64)
        .map_err(|r| corrupt(n + 1, r))
}

/// Checks the journal at `path` with the default limits: every line's hash
/// and link, the sequence, and every checkpoint's signature against
/// `keyring`. The first problem is returned with its line number.
pub fn verify(path: &Path, keyring: &Keyring) -> Result<VerifyReport, AuditError> {
    verify_with(path, keyring, &VerifyOptions::default())
}

/// [`verify`] with chosen limits and an optional [`Anchor`]. Reads the
/// file as a stream, one bounded line at a time.
pub fn verify_with(
    path: &Path,
    keyring: &Keyring,
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |line: u64, reason| AuditError::Corrupt {
        path: Some(path.to_path_buf()),
        line,
        reason,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > options.max_file_bytes {
        return Err(AuditError::TooLarge {
            path: Some(path.to_path_buf()),
            max: options.max_file_bytes,
        });
    }
    let anchors = options.all_anchors(keyring)?;
    let mut reader = BufReader::with_capacity(1 << 16, file.take(options.max_file_bytes));
    let mut checker = Checker::new(keyring, &anchors);
    let mut line = Vec::with_capacity(1024);
    let mut n = 0u64;
    loop {
        line.clear();
        let complete =
            read_line_limited(&mut reader, &mut line, options.max_line_bytes).map_err(io)?;
        match complete {
            LineRead::Eof => break,
            LineRead::TooLong => {
                return Err(corrupt(
                    n + 1,
                    Corruption::LineTooLong {
                        max: options.max_line_bytes,
                    },
                ));
            }
            LineRead::Torn => {
                return checker
                    .finish(line.len() as u64)
                    .map_err(|r| corrupt(n + 1, r));
            }
            LineRead::Line => {
                n += 1;
                checker.feed(&line).map_err(|r| corrupt(n, r))?;
            }
        }
    }
    checker.finish(0).map_err(|r| corrupt(n + 1, r))
}

pub(crate) enum LineRead {
    /// A full line (newline removed).
    Line,
    /// Bytes without a final newline.
    Torn,
    /// Nothing left.
    Eof,
    /// Longer than the limit.
    TooLong,
}

/// Reads up to and excluding the next newline, at most `max` bytes.
pub(crate) fn read_line_limited(
    r: &mut impl BufRead,
    out: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(if out.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Torn
            });
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                if out.len() + i > max {
                    return Ok(LineRead::TooLong);
                }
                out.extend_from_slice(&buf[..i]);
                r.consume(i + 1);
                return Ok(LineRead::Line);
            }
            None => {
                let n = buf.len();
                // The writer never writes a line longer than the limit, so
                // neither a line nor a torn one can be longer.
                if out.len() + n > max {
                    return Ok(LineRead::TooLong);
                }
                out.extend_from_slice(buf);
                r.consume(n);
            }
        }
    }
}

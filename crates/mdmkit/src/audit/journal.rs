//! The writer: an append-only JSON Lines file with a hash chain and signed
//! checkpoints.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use mdmkit_identity::EnvelopeSigner;

use super::chain::Chain;
use super::entry;
use super::event::Event;
use super::head::{JournalHead, SignedHead};
use super::{AuditError, Corruption, MAX_LINE_BYTES};
use crate::signing::sha256_hex;

/// How a [`Journal`] writes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JournalOptions {
    /// A checkpoint is written after this many entries (0: only on
    /// [`Journal::checkpoint`] and [`Journal::close`]).
    pub checkpoint_every: u64,
    /// Whether each append is flushed to disk (`fdatasync`) before it
    /// returns. Turn off only for tests and benchmarks.
    pub sync: bool,
    /// The longest line written, in bytes; a longer entry is refused.
    pub max_line_bytes: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            checkpoint_every: 1000,
            sync: true,
            max_line_bytes: MAX_LINE_BYTES,
        }
    }
}

impl JournalOptions {
    /// The same options with another checkpoint interval.
    #[must_use]
    pub fn with_checkpoint_every(mut self, n: u64) -> Self {
        self.checkpoint_every = n;
        self
    }

    /// The same options with syncing on or off.
    #[must_use]
    pub fn with_sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }
}

/// What [`Journal::open`] cut off the end of the file: a line whose write a
/// crash cut short. It is also recorded in the journal as an
/// [`Event::Recovered`] entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// Where the torn line started.
    pub offset: u64,
    /// How many bytes were cut off.
    pub dropped_bytes: u64,
    /// Their SHA-256.
    pub dropped_sha256: String,
    /// The sequence number of the `recovered` entry.
    pub seq: u64,
}

/// An open journal: appends events, chains them and signs checkpoints.
///
/// Several writers (threads or processes, each with its own `Journal`) may
/// share one file: each append, checkpoint and recovery takes an exclusive
/// lock on the file (`flock` on Unix, `LockFileEx` on Windows, through
/// [`File::lock`]) for the write and its `fdatasync` only, and first reads
/// the file's tail again when another writer has appended since, so the
/// entries of every writer form one chain. Call [`Journal::close`] at the
/// end to sign the tail; dropping the journal leaves the tail unsigned (it
/// is still chained).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// The file's length after this writer's last write or read of it.
    len: u64,
    chain: Chain,
    recovered: Option<Recovery>,
    poisoned: bool,
}

impl Journal {
    /// Opens (or creates, with its directory) the journal at `path`.
    ///
    /// The head is recovered from the last line, whose hash is checked. A
    /// last line without its newline is a write a crash cut short: it is
    /// cut off and the cut is recorded as an [`Event::Recovered`] entry
    /// (see [`Journal::recovered`]). Any other damage to the last line is
    /// refused with its line position; run `verify` for the whole file.
    ///
    /// Opening waits while another writer holds the file's lock (for one
    /// write: no writer holds it longer).
    pub fn open(
        path: impl AsRef<Path>,
        signer: EnvelopeSigner,
        options: JournalOptions,
    ) -> Result<Journal, AuditError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let mut journal = Journal {
            path,
            file,
            len: 0,
            chain: Chain::new(signer, options),
            recovered: None,
            poisoned: false,
        };
        journal.locked(|j| j.catch_up(true))?;
        Ok(journal)
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last entry's sequence number and hash as of this journal's last
    /// write (or read of the file's tail); `None` when empty.
    pub fn head(&self) -> Option<(u64, &str)> {
        self.chain.head()
    }

    /// The last entry's sequence number and hash, as a [`JournalHead`].
    pub fn journal_head(&self) -> Option<JournalHead> {
        self.chain.journal_head()
    }

    /// The last checkpoint this journal wrote (or found ending the file
    /// when it read the file's tail): the head to keep elsewhere.
    pub fn signed_head(&self) -> Option<&SignedHead> {
        self.chain.signed_head()
    }

    /// What this journal last cut off the end of the file (a torn line,
    /// found when opening or before a write), if anything.
    pub fn recovered(&self) -> Option<&Recovery> {
        self.recovered.as_ref()
    }

    /// Appends one event (and a checkpoint when one is due); returns its
    /// sequence number. One write and, with [`JournalOptions::sync`], one
    /// `fdatasync`.
    pub fn append(&mut self, event: Event) -> Result<u64, AuditError> {
        self.transact(|j, out| {
            let seq = j.chain.encode_one(&event, out)?;
            j.chain.encode_due_checkpoint(out)?;
            Ok(seq)
        })
    }

    /// Appends events in order with one write and one `fdatasync`;
    /// returns the sequence number of the last one (`None` for no event).
    /// The batch is contiguous in the file: no other writer's entry comes
    /// between its events.
    pub fn append_all(
        &mut self,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<Option<u64>, AuditError> {
        let events: Vec<Event> = events.into_iter().collect();
        self.transact(|j, out| j.chain.encode_all(&events, out))
    }

    /// Appends several groups of events with one write and one
    /// `fdatasync` (group commit: what [`super::JournalWriter`] does with
    /// the appends that queued while the previous write was syncing).
    ///
    /// Each group is all or nothing and contiguous in the file; a group
    /// that cannot be encoded (an event too large) fails alone, with its
    /// error in its place of the returned list, and the others are
    /// written. The outer error is a failed write: then nothing is.
    #[allow(clippy::type_complexity)]
    pub fn append_groups(
        &mut self,
        groups: Vec<Vec<Event>>,
    ) -> Result<Vec<Result<Option<u64>, AuditError>>, AuditError> {
        self.transact(|j, out| Ok(j.chain.encode_groups(&groups, out)))
    }

    /// Signs the chain up to the last entry now, unless the last entry is
    /// already a checkpoint or the journal is empty; returns the
    /// checkpoint's sequence number.
    pub fn checkpoint(&mut self) -> Result<Option<u64>, AuditError> {
        self.transact(|j, out| {
            if !j.chain.unsigned() {
                return Ok(None);
            }
            j.chain.encode_checkpoint(out).map(Some)
        })
    }

    /// Signs the tail ([`Journal::checkpoint`]) and closes the file.
    pub fn close(mut self) -> Result<(), AuditError> {
        self.checkpoint()?;
        self.file.sync_all().map_err(|source| AuditError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Runs `f` holding the file's exclusive lock.
    fn locked<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        self.file.lock().map_err(|source| AuditError::Io {
            path: self.path.clone(),
            source,
        })?;
        let out = f(self);
        // Unlocking fails only for a file that is not open; dropping the
        // journal closes the file, which releases the lock in any case.
        let _ = self.file.unlock();
        out
    }

    /// Under the lock: catches up with the file, lets `encode` add lines to
    /// one buffer, and writes it. On failure the chain state is what it
    /// was, and the file too (see [`Journal::write`]).
    fn transact<T>(
        &mut self,
        encode: impl FnOnce(&mut Self, &mut String) -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        if self.poisoned {
            return Err(AuditError::Poisoned {
                path: self.path.clone(),
            });
        }
        self.locked(|j| {
            j.catch_up(false)?;
            let saved = j.chain.save();
            let mut out = String::new();
            let result = encode(j, &mut out).and_then(|value| {
                if !out.is_empty() {
                    j.write(&out)?;
                }
                Ok(value)
            });
            if result.is_err() {
                j.chain.restore(saved);
            }
            result
        })
    }

    /// Under the lock: when the file is not as this writer left it (or on
    /// opening, `fresh`), takes the head from its last line, and cuts off a
    /// torn line (a crashed write: no writer is writing while the lock is
    /// held), recording the cut.
    fn catch_up(&mut self, fresh: bool) -> Result<(), AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let len = self.file.metadata().map_err(io)?.len();
        if !fresh && len == self.len {
            return Ok(());
        }
        let max_line = self.chain.options.max_line_bytes;
        let tail = read_tail(&mut self.file, len, max_line).map_err(io)?;
        let (complete_end, last_line) =
            split_tail(&tail, len, max_line).map_err(|reason| AuditError::DamagedTail {
                path: self.path.clone(),
                reason,
            })?;
        let last = match last_line {
            Some(line) => Some(
                entry::decode(line).map_err(|reason| AuditError::DamagedTail {
                    path: self.path.clone(),
                    reason,
                })?,
            ),
            None => None,
        };
        self.chain.follow(last, fresh);
        self.len = len;
        if complete_end < len {
            self.recover(&tail, complete_end)?;
        }
        Ok(())
    }

    /// Cuts the torn line starting at `complete_end` off the file (whose
    /// last bytes are `tail`) and appends a [`Event::Recovered`] entry.
    fn recover(&mut self, tail: &[u8], complete_end: u64) -> Result<(), AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        let len = self.len;
        let tail_start = len - tail.len() as u64;
        let torn_start = usize::try_from(complete_end - tail_start).unwrap_or(0);
        let dropped = tail.get(torn_start..).unwrap_or_default();
        let dropped_sha256 = sha256_hex(dropped);
        let dropped_bytes = len - complete_end;
        self.file.set_len(complete_end).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.len = complete_end;
        let saved = self.chain.save();
        let mut out = String::new();
        let event = Event::Recovered {
            offset: complete_end,
            dropped_bytes,
            dropped_sha256: dropped_sha256.clone(),
        };
        let written = self.chain.encode_one(&event, &mut out).and_then(|seq| {
            self.chain.encode_due_checkpoint(&mut out)?;
            self.write(&out)?;
            Ok(seq)
        });
        match written {
            Ok(seq) => {
                self.recovered = Some(Recovery {
                    offset: complete_end,
                    dropped_bytes,
                    dropped_sha256,
                    seq,
                });
                Ok(())
            }
            Err(e) => {
                self.chain.restore(saved);
                Err(e)
            }
        }
    }

    /// Writes `text` at the end of the file (under the lock) and syncs it;
    /// a failed write is cut back off.
    fn write(&mut self, text: &str) -> Result<(), AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        if self.poisoned {
            return Err(AuditError::Poisoned {
                path: self.path.clone(),
            });
        }
        let result = self.file.write_all(text.as_bytes()).and_then(|()| {
            if self.chain.options.sync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => {
                self.len += text.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Undo a partial write so that the next append does not
                // glue its line to a torn one.
                if self.file.set_len(self.len).is_err() {
                    self.poisoned = true;
                }
                Err(io(e))
            }
        }
    }
}

/// Reads the last bytes of the file: enough for a torn line and the last
/// complete line before it.
fn read_tail(file: &mut File, len: u64, max_line: usize) -> std::io::Result<Vec<u8>> {
    let want = (2 * (max_line as u64 + 1)).min(len);
    file.seek(SeekFrom::Start(len - want))?;
    let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    Read::by_ref(file).take(want).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Splits the tail of a file of `len` bytes into the end offset of its last
/// complete line and that line (without newline).
fn split_tail(tail: &[u8], len: u64, max_line: usize) -> Result<(u64, Option<&[u8]>), Corruption> {
    let start = len - tail.len() as u64;
    let Some(last_nl) = tail.iter().rposition(|&b| b == b'\n') else {
        // No complete line in view: either the whole file is one torn
        // line, or a line is longer than any written.
        if start == 0 {
            return Ok((0, None));
        }
        return Err(Corruption::LineTooLong { max: max_line });
    };
    let complete_end = start + last_nl as u64 + 1;
    if len - complete_end > max_line as u64 {
        return Err(Corruption::LineTooLong { max: max_line });
    }
    let before = &tail[..last_nl];
    let line_start = match before.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if start == 0 => 0,
        None => return Err(Corruption::LineTooLong { max: max_line }),
    };
    let line = &before[line_start..];
    if line.len() > max_line {
        return Err(Corruption::LineTooLong { max: max_line });
    }
    Ok((complete_end, Some(line)))
}

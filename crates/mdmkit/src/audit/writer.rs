//! The journal for servers: appends from async code that never block the
//! runtime, with group commit.
//!
//! A [`JournalWriter`] owns a [`Journal`] on a thread of its own. Appends
//! are sent to it and awaited; while the thread writes and syncs one
//! group, the appends that arrive queue up, and the next write takes them
//! all: one `write` and one `fdatasync` for as many answers as arrived
//! during the previous sync. Under load, a server of many devices pays one
//! sync per group instead of one per answer; alone, an append costs what
//! [`Journal::append_all`] costs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;

use super::AuditError;
use super::event::Event;
use super::head::{JournalHead, SignedHead};
use super::journal::Journal;

/// What the writer thread writes to: a file [`Journal`], or the
/// PostgreSQL journal driven by a runtime of the thread's own.
trait Backend {
    #[allow(clippy::type_complexity)]
    fn append_groups(
        &mut self,
        groups: Vec<Vec<Event>>,
    ) -> Result<Vec<Result<Option<u64>, AuditError>>, AuditError>;
    fn checkpoint(&mut self) -> Result<Option<u64>, AuditError>;
    fn close(self) -> Result<(), AuditError>;
    fn journal_head(&self) -> Option<JournalHead>;
    fn signed_head(&self) -> Option<&SignedHead>;
}

impl Backend for Journal {
    fn append_groups(
        &mut self,
        groups: Vec<Vec<Event>>,
    ) -> Result<Vec<Result<Option<u64>, AuditError>>, AuditError> {
        Journal::append_groups(self, groups)
    }
    fn checkpoint(&mut self) -> Result<Option<u64>, AuditError> {
        Journal::checkpoint(self)
    }
    fn close(self) -> Result<(), AuditError> {
        Journal::close(self)
    }
    fn journal_head(&self) -> Option<JournalHead> {
        Journal::journal_head(self)
    }
    fn signed_head(&self) -> Option<&SignedHead> {
        Journal::signed_head(self)
    }
}

#[cfg(feature = "postgres")]
struct PgBackend {
    rt: tokio::runtime::Runtime,
    journal: super::postgres::PgJournal,
}

#[cfg(feature = "postgres")]
impl Backend for PgBackend {
    fn append_groups(
        &mut self,
        groups: Vec<Vec<Event>>,
    ) -> Result<Vec<Result<Option<u64>, AuditError>>, AuditError> {
        self.rt.block_on(self.journal.append_groups(groups))
    }
    fn checkpoint(&mut self) -> Result<Option<u64>, AuditError> {
        self.rt.block_on(self.journal.checkpoint())
    }
    fn close(mut self) -> Result<(), AuditError> {
        self.rt.block_on(self.journal.checkpoint()).map(|_| ())
    }
    fn journal_head(&self) -> Option<JournalHead> {
        self.journal.journal_head()
    }
    fn signed_head(&self) -> Option<&SignedHead> {
        self.journal.signed_head()
    }
}

/// The most appends one group commit takes.
const MAX_GROUP: usize = 1024;

/// What an append (or a checkpoint) left in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Appended {
    /// The sequence number of the last event of this append (`None` when
    /// it had none, or for a checkpoint that was not due).
    pub last_seq: Option<u64>,
    /// The journal's head after the write (possibly another writer's entry
    /// or a checkpoint after this append's events).
    pub head: Option<JournalHead>,
    /// The journal's last signed head after the write.
    pub signed: Option<SignedHead>,
}

/// How much group commit saved, since the writer started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WriterStats {
    /// Appends received.
    pub appends: u64,
    /// Writes (each followed by one `fdatasync` when syncing).
    pub writes: u64,
}

enum Reply {
    Async(oneshot::Sender<Result<Appended, AuditError>>),
    Blocking(mpsc::SyncSender<Result<Appended, AuditError>>),
}

impl Reply {
    fn send(self, result: Result<Appended, AuditError>) {
        // A caller that stopped waiting (a dropped future) loses nothing:
        // the entries are written either way.
        match self {
            Reply::Async(tx) => {
                let _ = tx.send(result);
            }
            Reply::Blocking(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

enum Job {
    Append(Vec<Event>, Reply),
    Checkpoint(Reply),
    Close(Reply),
}

#[derive(Debug, Default)]
struct Counters {
    appends: AtomicU64,
    writes: AtomicU64,
}

/// A cloneable handle on a journal written by a thread of its own: appends
/// from async code never block the runtime, and the appends that queue
/// while the thread syncs one write share the next (group commit).
///
/// When the last handle is dropped, the thread signs the tail
/// ([`Journal::close`]) and ends; [`JournalWriter::close`] does it and
/// waits.
#[derive(Debug, Clone)]
pub struct JournalWriter {
    tx: mpsc::Sender<Job>,
    /// The file, or `postgres:TENANT`.
    path: Arc<PathBuf>,
    file: bool,
    reader: super::JournalReader,
    counters: Arc<Counters>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Append(..) => "Append",
            Job::Checkpoint(..) => "Checkpoint",
            Job::Close(..) => "Close",
        })
    }
}

impl JournalWriter {
    /// Starts the writer thread for `journal`.
    pub fn spawn(journal: Journal) -> Result<JournalWriter, AuditError> {
        let path = journal.path().to_path_buf();
        let reader = super::JournalReader::file(path.clone());
        Self::start(path, true, reader, move || Ok(journal))
    }

    /// Opens a tenant's journal in PostgreSQL ([`super::PgJournal`]) on a
    /// writer thread of its own, which drives it with a single-threaded
    /// runtime: the same group commit, one transaction per group.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub async fn spawn_postgres(
        url: &str,
        tenant: mdmkit_core::TenantId,
        signer: mdmkit_identity::EnvelopeSigner,
        options: super::JournalOptions,
    ) -> Result<JournalWriter, AuditError> {
        let path = PathBuf::from(format!("postgres:{tenant}"));
        let reader = super::JournalReader::postgres(url, tenant.clone())?;
        let url = url.to_owned();
        let (ready_tx, ready_rx) = oneshot::channel();
        let writer = Self::start(path.clone(), false, reader, move || {
            let opened = (|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| AuditError::Io {
                        path: path.clone(),
                        source,
                    })?;
                let journal = rt.block_on(super::postgres::PgJournal::open(
                    &url, tenant, signer, options,
                ))?;
                Ok(PgBackend { rt, journal })
            })();
            // The opener's answer: the error itself, or a copy of it for
            // the thread's own exit.
            match opened {
                Ok(b) => {
                    let _ = ready_tx.send(Ok(()));
                    Ok(b)
                }
                Err(e) => {
                    let copy = copy_error(&e, &path);
                    let _ = ready_tx.send(Err(e));
                    Err(copy)
                }
            }
        })?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(writer),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(writer.stopped()),
        }
    }

    fn start<B: Backend + 'static>(
        path: PathBuf,
        file: bool,
        reader: super::JournalReader,
        open: impl FnOnce() -> Result<B, AuditError> + Send + 'static,
    ) -> Result<JournalWriter, AuditError> {
        let path = Arc::new(path);
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel();
        let thread_counters = counters.clone();
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("mdmkit-journal".into())
            .spawn(move || {
                if let Ok(backend) = open() {
                    run(backend, &thread_path, &rx, &thread_counters);
                }
            })
            .map_err(|source| AuditError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(JournalWriter {
            tx,
            path,
            file,
            reader,
            counters,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// A reader of the same journal (for an admin API's pages of entries).
    pub fn reader(&self) -> &super::JournalReader {
        &self.reader
    }

    /// The journal's file; `None` for a journal in PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        self.file.then_some(self.path.as_path())
    }

    /// Appends events in order, contiguous in the file, and waits until
    /// they are written (and synced, with [`super::JournalOptions::sync`]).
    pub async fn append_all(&self, events: Vec<Event>) -> Result<Appended, AuditError> {
        self.call_async(|reply| Job::Append(events, reply)).await
    }

    /// [`JournalWriter::append_all`] for synchronous callers (not from
    /// inside an async task: it blocks the thread).
    pub fn append_all_blocking(&self, events: Vec<Event>) -> Result<Appended, AuditError> {
        self.call_blocking(|reply| Job::Append(events, reply))
    }

    /// Signs the chain up to the last entry now ([`Journal::checkpoint`]).
    pub async fn checkpoint(&self) -> Result<Appended, AuditError> {
        self.call_async(Job::Checkpoint).await
    }

    /// Signs the tail, syncs and stops the thread; the other handles'
    /// calls fail with [`AuditError::WriterStopped`] afterwards.
    pub async fn close(self) -> Result<Appended, AuditError> {
        let out = self.call_async(Job::Close).await;
        self.join();
        out
    }

    /// [`JournalWriter::close`] for synchronous callers.
    pub fn close_blocking(self) -> Result<Appended, AuditError> {
        let out = self.call_blocking(Job::Close);
        self.join();
        out
    }

    /// How many appends and writes so far.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            appends: self.counters.appends.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    fn stopped(&self) -> AuditError {
        AuditError::WriterStopped {
            path: self.path.to_path_buf(),
        }
    }

    async fn call_async(&self, job: impl FnOnce(Reply) -> Job) -> Result<Appended, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(job(Reply::Async(tx)))
            .map_err(|_| self.stopped())?;
        rx.await.map_err(|_| self.stopped())?
    }

    fn call_blocking(&self, job: impl FnOnce(Reply) -> Job) -> Result<Appended, AuditError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.tx
            .send(job(Reply::Blocking(tx)))
            .map_err(|_| self.stopped())?;
        rx.recv().map_err(|_| self.stopped())?
    }

    fn join(&self) {
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            // The thread's only panics would be bugs; its journal is closed
            // by the drop either way.
            let _ = h.join();
        }
    }
}

/// The state of the journal to report after a write.
fn appended(journal: &impl Backend, last_seq: Option<u64>) -> Appended {
    Appended {
        last_seq,
        head: journal.journal_head(),
        signed: journal.signed_head().cloned(),
    }
}

/// A copy of a write's error for each append of its group.
fn copy_error(e: &AuditError, path: &Path) -> AuditError {
    let kind = match e {
        AuditError::Io { source, .. } => source.kind(),
        _ => std::io::ErrorKind::Other,
    };
    AuditError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(kind, e.to_string()),
    }
}

/// The thread: takes the appends queued, writes them as one group, answers
/// each; a checkpoint or close after the group.
fn run(mut journal: impl Backend, location: &Path, rx: &mpsc::Receiver<Job>, counters: &Counters) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let mut groups = Vec::new();
        let mut replies = Vec::new();
        let mut after = Vec::new();
        let mut closing = None;
        for job in jobs {
            match job {
                Job::Append(events, reply) => {
                    groups.push(events);
                    replies.push(reply);
                }
                Job::Checkpoint(reply) => after.push(reply),
                Job::Close(reply) => closing = Some(reply),
            }
        }
        if !groups.is_empty() {
            counters
                .appends
                .fetch_add(groups.len() as u64, Ordering::Relaxed);
            counters.writes.fetch_add(1, Ordering::Relaxed);
            let size = groups.len();
            match journal.append_groups(groups) {
                Ok(results) => {
                    tracing::debug!(appends = size, "journal group written");
                    for (reply, result) in replies.into_iter().zip(results) {
                        reply.send(result.map(|last| appended(&journal, last)));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, appends = size, "journal write failed");
                    let path = location.to_path_buf();
                    let mut replies = replies.into_iter();
                    if let Some(first) = replies.next() {
                        for reply in replies {
                            reply.send(Err(copy_error(&e, &path)));
                        }
                        first.send(Err(e));
                    }
                }
            }
        }
        if !after.is_empty() || closing.is_some() {
            let signed = journal.checkpoint();
            let path = location.to_path_buf();
            for reply in after {
                reply.send(match &signed {
                    Ok(seq) => Ok(appended(&journal, *seq)),
                    Err(e) => Err(copy_error(e, &path)),
                });
            }
            if let Some(reply) = closing {
                let out = signed.map(|seq| appended(&journal, seq));
                let synced = journal.close();
                reply.send(out.and_then(|a| synced.map(|()| a)));
                return;
            }
        }
    }
    // Every handle is gone: sign the tail.
    if let Err(e) = journal.close() {
        tracing::error!(error = %e, "closing the journal failed");
    }
}

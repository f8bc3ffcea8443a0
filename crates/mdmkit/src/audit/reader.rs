//! Reading a journal's lines in order, wherever it lives: what an admin
//! API shows (the entries about a node), not a verification (see
//! [`super::verify_with`]).

use std::io::BufRead;
use std::path::PathBuf;

use super::AuditError;

/// Where to read a journal's lines: its file or a tenant's rows in
/// PostgreSQL. Get one from [`super::JournalWriter::reader`], or build it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum JournalReader {
    /// A journal file.
    File(PathBuf),
    /// A tenant's journal in PostgreSQL.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    Postgres(super::postgres::PgReader),
}

impl JournalReader {
    /// The reader of a journal file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        JournalReader::File(path.into())
    }

    /// The reader of a tenant's journal in PostgreSQL; connects on first
    /// use.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub fn postgres(url: &str, tenant: mdmkit_core::TenantId) -> Result<Self, AuditError> {
        super::postgres::PgReader::new(url, tenant).map(JournalReader::Postgres)
    }

    /// At most `limit` entries after sequence number `after`, in order
    /// (fewer at the end), each its sequence number and its line as
    /// written. A file's line without a sequence number is skipped
    /// (`verify` reports it).
    pub async fn page(&self, after: u64, limit: usize) -> Result<Vec<(u64, String)>, AuditError> {
        match self {
            JournalReader::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_file(&path, after, limit))
                    .await
                    .map_err(|e| AuditError::Io {
                        path: PathBuf::new(),
                        source: std::io::Error::other(e),
                    })?
            }
            #[cfg(feature = "postgres")]
            JournalReader::Postgres(r) => r.page(after, limit).await,
        }
    }
}

/// The lines of a file after entry `after`. The sequence number is read
/// from each line's `"seq":N` (written after `prev`, before `time`) without
/// parsing the whole line.
fn read_file(
    path: &std::path::Path,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, String)>, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(io)?;
        let Some(seq) = seq_of(&line) else { continue };
        if seq <= after {
            continue;
        }
        out.push((seq, line));
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// The `seq` of a canonical journal line.
fn seq_of(line: &str) -> Option<u64> {
    let i = line.rfind(",\"seq\":")? + 7;
    let digits: &str = &line[i..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::seq_of;

    #[test]
    fn seq_is_read_from_the_tail_of_a_line() {
        let l = r#"{"event":{"seq":"x","type":"y"},"hash":"h","prev":"p","seq":42,"time":"t"}"#;
        assert_eq!(seq_of(l), Some(42));
        assert_eq!(seq_of("junk"), None);
        assert_eq!(seq_of(r#"{"seq":}"#), None);
    }
}

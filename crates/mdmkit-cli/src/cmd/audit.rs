//! `mdmkit audit verify` checks the tamper-evident journal (against the
//! heads its state store recorded and those an operator exported);
//! `mdmkit audit head` exports the last signed head to keep elsewhere.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use mdmkit::TenantId;
use mdmkit::audit::{
    self, Anchor, AuditError, PUBLIC_KEY_FILE, SignedHead, VerifyOptions, keyring_from_hex,
    read_public_keys,
};
use mdmkit::identity::Keyring;
use mdmkit::queue::StoreLocation;
use mdmkit::state::{AuditHeads, PostgresState, SqliteState, StateStore};
use serde_json::json;

use crate::error::{CliError, Context};

/// `mdmkit audit` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify a journal's hash chain, sequence and checkpoint signatures.
    /// Prints a one-line summary (or JSON); exit 1 with the first bad line.
    Verify {
        /// A tenant directory (its `.mdmkit/audit.jsonl`) or a journal file.
        path: PathBuf,
        /// A trusted checkpoint public key (64 hex digits); repeatable.
        /// Without it, the keys listed in `.mdmkit/audit.pub` next to the
        /// journal are trusted, which an attacker who can rewrite the
        /// journal may have replaced: pass the key you noted elsewhere for
        /// the strong check.
        #[arg(long = "key", value_name = "HEX")]
        keys: Vec<String>,
        /// An entry noted elsewhere, as `SEQ:HASH`, that the journal must
        /// still hold: catches a journal cut short or rewritten after its
        /// last checkpoint.
        #[arg(long, value_name = "SEQ:HASH")]
        anchor: Option<String>,
        /// A signed head exported by `mdmkit audit head` (and kept
        /// elsewhere): its signature must verify and the journal must
        /// still hold the entry it signs. Repeatable.
        #[arg(long = "head", value_name = "FILE")]
        heads: Vec<PathBuf>,
        /// The state store whose recorded heads the journal must hold
        /// (`sqlite:PATH` or `postgres://...`); default: the tenant
        /// directory's embedded store, when it exists.
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// Do not check the state store's recorded heads.
        #[arg(long, conflicts_with = "store")]
        no_store: bool,
        /// Verify the tenant's journal in PostgreSQL (`postgres://...`,
        /// as written with `--journal` by `reconcile` and `serve`) instead
        /// of the directory's file.
        #[arg(long, value_name = "URL")]
        journal: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify a journal and print its last signed head (a checkpoint's
    /// signature over an entry) as JSON, to keep off the machine and pass
    /// back with `audit verify --head FILE`.
    Head {
        /// A tenant directory or a journal file.
        path: PathBuf,
        /// A trusted checkpoint public key (64 hex digits); repeatable.
        #[arg(long = "key", value_name = "HEX")]
        keys: Vec<String>,
        /// Write the head to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The tenant's journal in PostgreSQL instead of the file.
        #[arg(long, value_name = "URL")]
        journal: Option<String>,
    },
}

pub(crate) fn run(cmd: AuditCommand) -> Result<ExitCode, CliError> {
    match cmd {
        AuditCommand::Verify {
            path,
            keys,
            anchor,
            heads,
            store,
            no_store,
            journal,
            json,
        } => {
            let store = match (no_store, store) {
                (true, _) => StoreChoice::None,
                (false, Some(s)) => StoreChoice::Given(s),
                (false, None) => StoreChoice::Default,
            };
            let source = Source::of(&path, journal)?;
            verify(
                &path,
                &source,
                &keys,
                anchor.as_deref(),
                &heads,
                store,
                json,
            )
        }
        AuditCommand::Head {
            path,
            keys,
            out,
            journal,
        } => {
            let source = Source::of(&path, journal)?;
            head(&source, &keys, out.as_deref())
        }
    }
}

/// Where the journal to read is.
enum Source {
    /// A journal file, with the public key file next to it.
    File { journal: PathBuf, keys: PathBuf },
    /// A tenant's rows in PostgreSQL; the keys are the directory's.
    Postgres {
        url: String,
        tenant: TenantId,
        keys: PathBuf,
    },
}

impl Source {
    fn of(path: &Path, url: Option<String>) -> Result<Source, CliError> {
        let Some(url) = url else {
            let (journal, keys) = existing_journal(path)?;
            return Ok(Source::File { journal, keys });
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(CliError::with_code(
                2,
                format!("--journal {url:?}: use postgres://..."),
            ));
        }
        if !path.is_dir() {
            return Err(CliError::with_code(
                2,
                "--journal needs a tenant directory (its tree names the tenant)",
            ));
        }
        Ok(Source::Postgres {
            tenant: tenant_of(path)?,
            url,
            keys: path.join(PUBLIC_KEY_FILE),
        })
    }

    fn keys(&self) -> &Path {
        match self {
            Source::File { keys, .. } | Source::Postgres { keys, .. } => keys,
        }
    }

    /// What errors and reports name.
    fn label(&self) -> String {
        match self {
            Source::File { journal, .. } => journal.display().to_string(),
            Source::Postgres { tenant, .. } => format!("postgres journal of {tenant}"),
        }
    }

    /// An error of this journal as one line: a file's errors name it, the
    /// rows' are prefixed with the label.
    fn message(&self, e: &AuditError) -> String {
        match self {
            Source::File { .. } => crate::error::chain(e),
            Source::Postgres { .. } => format!("{}: {}", self.label(), crate::error::chain(e)),
        }
    }

    fn verify(
        &self,
        keyring: &Keyring,
        options: &VerifyOptions,
    ) -> Result<audit::VerifyReport, CliError> {
        self.verify_raw(keyring, options)?
            .map_err(|e| CliError::new(self.message(&e)))
    }

    fn verify_raw(
        &self,
        keyring: &Keyring,
        options: &VerifyOptions,
    ) -> Result<Result<audit::VerifyReport, AuditError>, CliError> {
        match self {
            Source::File { journal, .. } => Ok(audit::verify_with(journal, keyring, options)),
            Source::Postgres { url, tenant, .. } => {
                let rt = super::reconcile::runtime()?;
                Ok(rt.block_on(audit::verify_postgres(url, tenant, keyring, options)))
            }
        }
    }
}

/// Which state store's recorded heads `verify` checks.
enum StoreChoice {
    /// The tenant directory's embedded store, when there is one.
    Default,
    /// The one named.
    Given(String),
    /// None.
    None,
}

/// The journal file and the public key file that goes with it.
fn locate(path: &Path) -> (PathBuf, PathBuf) {
    if path.is_dir() {
        (audit::journal_path(path), path.join(PUBLIC_KEY_FILE))
    } else {
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        (path.to_path_buf(), dir.join("audit.pub"))
    }
}

fn parse_anchor(s: &str) -> Result<Anchor, CliError> {
    let (seq, hash) = s
        .split_once(':')
        .ok_or_else(|| CliError::with_code(2, format!("--anchor {s:?}: expected SEQ:HASH")))?;
    let seq: u64 = seq
        .parse()
        .map_err(|_| CliError::with_code(2, format!("--anchor {s:?}: {seq:?} is not a number")))?;
    let hash = hash.to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CliError::with_code(
            2,
            format!("--anchor {s:?}: the hash must be 64 hex digits"),
        ));
    }
    Ok(Anchor::new(seq, hash))
}

/// The tenant of a tenant directory: `[tenant] id` of its `tree.toml`,
/// read alone (the journal is checked even when the tree does not load).
fn tenant_of(dir: &Path) -> Result<TenantId, CliError> {
    #[derive(serde::Deserialize)]
    struct Tree {
        tenant: Root,
    }
    #[derive(serde::Deserialize)]
    struct Root {
        id: String,
    }
    let file = dir.join("tree.toml");
    let text =
        std::fs::read_to_string(&file).context(format_args!("cannot read {}", file.display()))?;
    let tree: Tree = toml::from_str(&text)
        .map_err(|e| CliError::new(format!("{}: no [tenant] id: {e}", file.display())))?;
    tree.tenant
        .id
        .parse()
        .map_err(|e| CliError::new(format!("{}: [tenant] id: {e}", file.display())))
}

/// The heads the state store recorded for the tenant of `dir`; `None`
/// when there is no store to ask.
fn store_heads(dir: &Path, choice: StoreChoice) -> Result<Option<AuditHeads>, CliError> {
    let location = match choice {
        StoreChoice::None => return Ok(None),
        StoreChoice::Given(s) => StoreLocation::parse(&s).context("--store")?,
        StoreChoice::Default => {
            let db = dir.join(".mdmkit").join("mdmkit.db");
            if !db.is_file() {
                return Ok(None);
            }
            StoreLocation::Sqlite(db)
        }
    };
    let tenant = tenant_of(dir)?;
    let rt = super::reconcile::runtime()?;
    rt.block_on(async {
        let state: Box<dyn StateStore> = match &location {
            StoreLocation::Sqlite(path) => Box::new(
                SqliteState::open(path)
                    .await
                    .context(format_args!("cannot open the state in {}", path.display()))?,
            ),
            StoreLocation::Postgres(url) => Box::new(
                PostgresState::open(url)
                    .await
                    .context("cannot open the PostgreSQL state")?,
            ),
            _ => return Err(CliError::new("--store: use sqlite:PATH or postgres://...")),
        };
        state
            .audit_heads(&tenant)
            .await
            .context("cannot read the journal heads of the state store")
    })
}

fn keyring(keys: &[String], pub_file: &Path) -> Result<Keyring, CliError> {
    if keys.is_empty() {
        if !pub_file.is_file() {
            return Err(CliError::new(format!(
                "{}: no public key file; pass the checkpoint key with --key HEX",
                pub_file.display()
            )));
        }
        read_public_keys(pub_file).context("cannot read the trusted keys")
    } else {
        keyring_from_hex(keys).context("invalid --key")
    }
}

fn existing_journal(path: &Path) -> Result<(PathBuf, PathBuf), CliError> {
    let (journal, pub_file) = locate(path);
    if !journal.is_file() {
        return Err(CliError::new(format!(
            "{}: no journal here (expected a journal file or a tenant directory with {})",
            path.display(),
            audit::JOURNAL_FILE
        )));
    }
    Ok((journal, pub_file))
}

fn head(source: &Source, keys: &[String], out: Option<&Path>) -> Result<ExitCode, CliError> {
    let keyring = keyring(keys, source.keys())?;
    let report = source.verify(&keyring, &VerifyOptions::default())?;
    let Some(head) = report.signed_head else {
        return Err(CliError::new(format!(
            "{}: no checkpoint yet (a `mdmkit reconcile` signs the head)",
            source.label()
        )));
    };
    let text = head.to_json().context("cannot write the head")?;
    match out {
        Some(file) => {
            std::fs::write(file, format!("{text}\n"))
                .context(format_args!("cannot write {}", file.display()))?;
            eprintln!(
                "mdmkit: signed head of entry {} written to {}",
                head.seq,
                file.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(
    path: &Path,
    source: &Source,
    keys: &[String],
    anchor: Option<&str>,
    heads: &[PathBuf],
    store: StoreChoice,
    json: bool,
) -> Result<ExitCode, CliError> {
    let keyring = keyring(keys, source.keys())?;
    let journal = source.label();
    let mut options = VerifyOptions::default();
    if let Some(a) = anchor {
        options = options.with_anchor(parse_anchor(a)?);
    }
    for file in heads {
        let bytes = read_limited(file)?;
        let head = SignedHead::from_json(&bytes)
            .map_err(|e| CliError::new(format!("{}: {e}", file.display())))?;
        options = options.with_signed_head(head);
    }
    let recorded = if path.is_dir() {
        store_heads(path, store)?
    } else {
        match store {
            StoreChoice::Given(_) => {
                return Err(CliError::with_code(
                    2,
                    "--store needs a tenant directory (its tree names the tenant)",
                ));
            }
            _ => None,
        }
    };
    if let Some(h) = &recorded {
        options = options.with_anchor(h.head.anchor());
        if let Some(s) = &h.signed {
            options = options.with_signed_head(s.clone());
        }
    }
    let report = match source.verify_raw(&keyring, &options)? {
        Ok(r) => r,
        Err(e @ AuditError::Corrupt { .. }) => {
            if json {
                let v = json!({
                    "ok": false,
                    "file": journal,
                    "line": e.line(),
                    "error": e.corruption(),
                    "message": e.to_string(),
                });
                println!("{v}");
            }
            let mut message = source.message(&e);
            if let (Some(h), Some(audit::Corruption::Truncated { anchor_seq, .. })) =
                (&recorded, e.corruption())
                && *anchor_seq == h.head.seq
            {
                message.push_str(&format!(
                    " (the state store recorded entry {anchor_seq}: the journal was cut short)"
                ));
            }
            return Err(CliError::new(message));
        }
        Err(e) => return Err(CliError::new(crate::error::chain(&e))),
    };
    if json {
        let mut v = serde_json::to_value(&report).context("cannot render JSON")?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("ok".into(), json!(true));
            m.insert("file".into(), json!(journal));
            m.insert(
                "store_head".into(),
                json!(recorded.as_ref().map(|h| h.head.seq)),
            );
        }
        println!("{v}");
    } else {
        let signed = match report.last_signed_seq {
            Some(s) => format!("signed up to entry {s}"),
            None => "no checkpoint".to_owned(),
        };
        let head = report
            .head
            .as_ref()
            .map(|h| format!(", head {} {}", h.seq, &h.hash))
            .unwrap_or_default();
        let torn = if report.torn_tail_bytes > 0 {
            format!(
                ", torn tail of {} bytes (a crash; the writer will cut it off)",
                report.torn_tail_bytes
            )
        } else {
            String::new()
        };
        let store = recorded
            .as_ref()
            .map(|h| format!(", holds the state store's head {}", h.head.seq))
            .unwrap_or_default();
        println!(
            "ok: {}: {} entries, {} checkpoints, {signed}, unsigned tail {}{head}{torn}{store}",
            journal, report.entries, report.checkpoints, report.unsigned_tail,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads an exported head, refusing a file larger than a head can be.
fn read_limited(file: &Path) -> Result<Vec<u8>, CliError> {
    use std::io::Read as _;
    let f = std::fs::File::open(file).context(format_args!("cannot read {}", file.display()))?;
    let mut bytes = Vec::new();
    f.take(audit::MAX_SIGNED_HEAD_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .context(format_args!("cannot read {}", file.display()))?;
    Ok(bytes)
}

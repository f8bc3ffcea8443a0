//! `mdmkit audit verify`: check the tamper-evident journal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use mdmkit::audit::{
    self, Anchor, AuditError, PUBLIC_KEY_FILE, VerifyOptions, keyring_from_hex, read_public_keys,
};
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
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(cmd: AuditCommand) -> Result<ExitCode, CliError> {
    match cmd {
        AuditCommand::Verify {
            path,
            keys,
            anchor,
            json,
        } => verify(&path, &keys, anchor.as_deref(), json),
    }
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

fn verify(
    path: &Path,
    keys: &[String],
    anchor: Option<&str>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let (journal, pub_file) = locate(path);
    if !journal.is_file() {
        return Err(CliError::new(format!(
            "{}: no journal here (expected a journal file or a tenant directory with {})",
            path.display(),
            audit::JOURNAL_FILE
        )));
    }
    let keyring = if keys.is_empty() {
        if !pub_file.is_file() {
            return Err(CliError::new(format!(
                "{}: no public key file; pass the checkpoint key with --key HEX",
                pub_file.display()
            )));
        }
        read_public_keys(&pub_file).context("cannot read the trusted keys")?
    } else {
        keyring_from_hex(keys).context("invalid --key")?
    };
    let mut options = VerifyOptions::default();
    if let Some(a) = anchor {
        options = options.with_anchor(parse_anchor(a)?);
    }
    let report = match audit::verify_with(&journal, &keyring, &options) {
        Ok(r) => r,
        Err(e @ AuditError::Corrupt { .. }) => {
            if json {
                let v = json!({
                    "ok": false,
                    "file": journal.display().to_string(),
                    "line": e.line(),
                    "error": e.corruption(),
                    "message": e.to_string(),
                });
                println!("{v}");
            }
            return Err(CliError::new(crate::error::chain(&e)));
        }
        Err(e) => return Err(CliError::new(crate::error::chain(&e))),
    };
    if json {
        let mut v = serde_json::to_value(&report).context("cannot render JSON")?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("ok".into(), json!(true));
            m.insert("file".into(), json!(journal.display().to_string()));
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
        println!(
            "ok: {}: {} entries, {} checkpoints, {signed}, unsigned tail {}{head}{torn}",
            journal.display(),
            report.entries,
            report.checkpoints,
            report.unsigned_tail,
        );
    }
    Ok(ExitCode::SUCCESS)
}

//! Where a tenant directory keeps its journal and the journal's key.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use mdmkit_identity::{EnvelopeSigner, KeyId, Keyring, PublicKey};

use super::AuditError;

/// The journal of a tenant directory, relative to it.
pub const JOURNAL_FILE: &str = ".mdmkit/audit.jsonl";
/// The journal's signing key (the Ed25519 seed in hex, mode 0600).
pub const KEY_FILE: &str = ".mdmkit/audit.key";
/// The public keys that may sign checkpoints, one hex key per line.
pub const PUBLIC_KEY_FILE: &str = ".mdmkit/audit.pub";

/// The journal file of a tenant directory.
pub fn journal_path(dir: &Path) -> PathBuf {
    dir.join(JOURNAL_FILE)
}

fn key_error(path: &Path, reason: impl Into<String>) -> AuditError {
    AuditError::Key {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    mdmkit_policy::parse_public_key_hex(s).ok()
}

/// The checkpoint signing key of a tenant directory: read from
/// `DIR/.mdmkit/audit.key`, or created there (mode 0600) with its public
/// half appended to `DIR/.mdmkit/audit.pub`. Its key id is derived from
/// the public key ([`KeyId::of`]).
pub fn load_or_create_key(dir: &Path) -> Result<EnvelopeSigner, AuditError> {
    let key_path = dir.join(KEY_FILE);
    let io = |path: &Path, source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let signer = if key_path.exists() {
        let text = std::fs::read_to_string(&key_path).map_err(|e| io(&key_path, e))?;
        let seed = parse_hex32(text.trim())
            .ok_or_else(|| key_error(&key_path, "expected a 32-byte seed as 64 hex digits"))?;
        signer_from_seed(seed)
    } else {
        if let Some(parent) = key_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let fresh = EnvelopeSigner::generate().map_err(AuditError::Sign)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&key_path).map_err(|e| io(&key_path, e))?;
        f.write_all(format!("{}\n", crate::signing::hex(&fresh.seed())).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| io(&key_path, e))?;
        fresh
    };
    let pub_path = dir.join(PUBLIC_KEY_FILE);
    let mine = signer.public_key().to_hex();
    let listed = match std::fs::read_to_string(&pub_path) {
        Ok(text) => text.lines().any(|l| l.trim() == mine),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io(&pub_path, e)),
    };
    if !listed {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&pub_path)
            .map_err(|e| io(&pub_path, e))?;
        f.write_all(format!("{mine}\n").as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| io(&pub_path, e))?;
    }
    Ok(signer)
}

fn signer_from_seed(seed: [u8; 32]) -> EnvelopeSigner {
    // The id depends on the public key, which depends on the seed.
    let probe = EnvelopeSigner::from_seed(KeyId::of(&PublicKey([0; 32])), seed);
    EnvelopeSigner::from_seed(KeyId::of(&probe.public_key()), seed)
}

/// A keyring of public keys given as 64 hex digits each, under the ids
/// derived from them ([`KeyId::of`]), as checkpoint signers use.
pub fn keyring_from_hex<S: AsRef<str>>(keys: &[S]) -> Result<Keyring, AuditError> {
    let mut ring = Keyring::new();
    for k in keys {
        let k = k.as_ref().trim();
        let bytes = parse_hex32(k).ok_or_else(|| AuditError::Key {
            path: PathBuf::new(),
            reason: format!("{k:?} is not a public key of 64 hex digits"),
        })?;
        let pk = PublicKey(bytes);
        ring.insert(KeyId::of(&pk), pk).map_err(AuditError::Sign)?;
    }
    Ok(ring)
}

/// Reads a public key file (one hex key per line; `#` comments and blank
/// lines skipped) into a keyring.
pub fn read_public_keys(path: &Path) -> Result<Keyring, AuditError> {
    let bytes = std::fs::read(path).map_err(|source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.len() > 64 * 1024 {
        return Err(key_error(path, "the public key file is larger than 64 KiB"));
    }
    let text = String::from_utf8(bytes).map_err(|_| key_error(path, "not UTF-8 text"))?;
    let keys: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    keyring_from_hex(&keys).map_err(|e| match e {
        AuditError::Key { reason, .. } => key_error(path, reason),
        other => other,
    })
}
